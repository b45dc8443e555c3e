//! Validation as users see it: invalid configurations driven through the real Terraform CLI
//! (`terraform validate -json`, and `plan -json` for checks that need the cluster's connection),
//! each asserting the diagnostic's summary, a detail substring, the resource address, and the
//! exact source text Terraform underlines (the narrowest attribute: a list element, a map value).
//!
//! Every case is its own resource in one configuration, so one Terraform run checks them all and
//! a diagnostic reported at the wrong resource or attribute fails its case. Plans that roll or
//! scale nodes are checked against a hand-written prior state (creating clusters is not available
//! yet in this version), which also proves unchanged configurations plan no change.

mod support;

use serde_json::Value;
use support::{Terraform, Workdir, diagnostics, plan_diagnostics, terraforms};

const HEADER: &str = r#"
terraform {
  required_providers {
    hk8s = { source = "hk8s/hk8s" }
  }
}

provider "hk8s" {}

locals {
  cluster = {
    cluster_id         = "prod"
    name               = "prod"
    location           = "fsn1"
    network_zone       = "eu-central"
    endpoint           = "https://127.0.0.1:6443"
    talos_endpoint     = "127.0.0.1:50000"
    network_id         = 1
    firewall_id        = 2
    talos_version      = "v1.13.9"
    kubernetes_version = "1.35.0"
    network_cidr       = "10.0.0.0/16"
    node_subnet        = "10.0.1.0/24"
    pod_cidr           = "10.244.0.0/16"
    service_cidr       = "10.96.0.0/12"
    cni                = "flannel"
    disk_encryption    = true
    config_patches     = []
    image_snapshot_ids = null
    image_selector     = null
    image_schematic    = null
    secrets            = "not used by plan-time checks"
  }
}
"#;

#[path = "validation/cases.rs"]
mod cases;

use cases::{Case, case, cluster, plan_cases, pool, validate_cases};

fn config(cases: &[Case]) -> String {
    let mut hcl = HEADER.to_owned();
    for case in cases {
        hcl.push('\n');
        hcl.push_str(&case.hcl);
    }
    hcl
}

/// The text Terraform underlines for a diagnostic.
fn highlighted(diagnostic: &Value) -> Option<String> {
    let snippet = diagnostic.get("snippet")?;
    let code = snippet["code"].as_str()?;
    let start = usize::try_from(snippet["highlight_start_offset"].as_u64()?).ok()?;
    let end = usize::try_from(snippet["highlight_end_offset"].as_u64()?).ok()?;
    code.get(start..end).map(str::to_owned)
}

/// Checks every case against the diagnostics of one run. Terraform 1.11 does not resolve
/// attribute paths inside nested attribute objects (`control_plane = { ... }`): it underlines the
/// resource block's `{` or a same-named top-level attribute instead, while 1.15 underlines the
/// element itself. So the underlined text is asserted on 1.15; summary, detail and resource
/// address on both.
fn check_cases(tf: &Terraform, cases: &[Case], found: &[Value]) {
    let precise_nested_paths = tf.label != "terraform-1.11";
    let errors: Vec<&Value> = found.iter().filter(|d| d["severity"] == "error").collect();
    let mut failures = Vec::new();
    for case in cases {
        let matching: Vec<&&Value> = errors
            .iter()
            .filter(|d| d["address"] == case.address.as_str())
            .collect();
        let hit = matching.iter().find(|d| {
            d["summary"] == case.summary
                && d["detail"]
                    .as_str()
                    .is_some_and(|detail| detail.contains(case.detail))
                && highlighted(d).is_some_and(|h| h == case.highlight || !precise_nested_paths)
        });
        if hit.is_none() {
            let seen: Vec<String> = matching
                .iter()
                .map(|d| {
                    format!(
                        "{} | {} | underlined {:?}",
                        d["summary"],
                        d["detail"],
                        highlighted(d)
                    )
                })
                .collect();
            failures.push(format!(
                "{} {}: expected {:?} / {:?} underlining {:?}; got {seen:#?}",
                tf.label, case.address, case.summary, case.detail, case.highlight
            ));
        }
    }
    let expected: std::collections::BTreeSet<&str> =
        cases.iter().map(|c| c.address.as_str()).collect();
    for d in &errors {
        let address = d["address"].as_str().unwrap_or("(none)");
        if !expected.contains(address) {
            failures.push(format!(
                "unexpected error at {address}: {} | {}",
                d["summary"], d["detail"]
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn validate_refuses_invalid_configurations_at_the_attribute() {
    let cases = validate_cases();
    assert!(cases.len() >= 30);
    for tf in terraforms() {
        let out = Workdir::new(&tf, &config(&cases)).validate_json();
        assert_eq!(out["valid"], false, "{}", tf.label);
        check_cases(&tf, &cases, &diagnostics(&out));
    }
}

#[test]
fn plan_refuses_pools_and_addons_that_do_not_fit_their_cluster() {
    let cases = plan_cases();
    for tf in terraforms() {
        let work = Workdir::new(&tf, &config(&cases));
        let validate = work.validate_json();
        assert_eq!(
            validate["valid"], true,
            "{}: plan-time cases must pass validate: {validate:#}",
            tf.label
        );
        let (ok, lines) = work.plan_json(&[]);
        assert!(!ok, "{}: plan must fail", tf.label);
        check_cases(&tf, &cases, &plan_diagnostics(&lines));
    }
}

#[test]
fn values_from_variables_are_not_judged_before_they_are_known() {
    let hcl = format!(
        "{HEADER}\nvariable \"location\" {{\n  type = string\n}}\n{}",
        cluster(
            "from_variables",
            &[
                ("location", "var.location"),
                (
                    "control_plane",
                    r#"{ server_type = "cax21", locations = [var.location, "ash"] }"#
                )
            ]
        )
        .0
    );
    for tf in terraforms() {
        let work = Workdir::new(&tf, &hcl);
        let out = work.validate_json();
        assert_eq!(out["valid"], true, "{}: {out:#}", tf.label);
        // Once known, the same configuration is refused at plan time.
        let (ok, lines) = work.plan_json(&["-var", "location=fsn1"]);
        assert!(!ok, "{}", tf.label);
        let diags = plan_diagnostics(&lines);
        assert!(
            diags
                .iter()
                .any(|d| d["summary"] == "Location in another network zone"
                    && (tf.label == "terraform-1.11"
                        || highlighted(d).as_deref() == Some(r#""ash""#))),
            "{}: {diags:#?}",
            tf.label
        );
    }
}

#[test]
fn every_example_passes_validate() {
    for tf in terraforms() {
        for example in ["quickstart", "ha", "arm64", "autoscaling", "addons"] {
            let out = Workdir::from_example(&tf, &format!("examples/{example}")).validate_json();
            let errors: Vec<Value> = diagnostics(&out)
                .into_iter()
                .filter(|d| d["severity"] == "error")
                .collect();
            assert_eq!(
                out["valid"], true,
                "{} examples/{example}: {errors:#?}",
                tf.label
            );
        }
    }
}

#[path = "validation/rolling.rs"]
mod rolling;

#[test]
fn import_ids_are_checked_before_anything_else() {
    for tf in terraforms() {
        let work = Workdir::new(&tf, &config(&[case(pool("p", &[]), "", "", "")]));
        let output = |id: &str| {
            let out = work.run(&[
                "import",
                "-no-color",
                "-input=false",
                "hk8s_node_pool.p",
                id,
            ]);
            assert!(!out.status.success(), "{}: import {id} must fail", tf.label);
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        };
        let bad = output("prod");
        assert!(bad.contains("Invalid import id"), "{}: {bad}", tf.label);
        assert!(bad.contains("<cluster>/<pool>"), "{}: {bad}", tf.label);
        // A well-formed id gets as far as Hetzner, which needs the token this test has not.
        let good = output("prod/general");
        assert!(!good.contains("Invalid import id"), "{}: {good}", tf.label);
        assert!(
            good.contains("Missing Hetzner Cloud API token"),
            "{}: {good}",
            tf.label
        );
        assert!(
            !work.path().join("terraform.tfstate").exists(),
            "{}: nothing imported",
            tf.label
        );
    }
}

/// A connection literal with a real secrets bundle, so the kubeconfig can be minted offline.
fn kubeconfig_config(body: &str) -> String {
    let bundle = include_str!("../src/talos/testdata/talosctl-secrets.yaml");
    format!(
        "{}\nlocals {{\n  real = merge(local.cluster, {{ secrets = <<-EOT\n{bundle}EOT\n  }})\n}}\n{body}",
        HEADER
    )
}

#[test]
fn kubeconfig_data_source_mints_credentials_offline() {
    for tf in terraforms() {
        let work = Workdir::new(
            &tf,
            &kubeconfig_config(
                r#"
data "hk8s_kubeconfig" "ci" {
  cluster  = local.real
  ttl      = "30m"
  username = "ci"
  groups   = ["ci-deployers"]
}

output "kubeconfig" {
  value     = data.hk8s_kubeconfig.ci.kubeconfig
  sensitive = true
}

output "expires_at" {
  value = data.hk8s_kubeconfig.ci.expires_at
}

output "client_certificate" {
  value = data.hk8s_kubeconfig.ci.client_certificate
}
"#,
            ),
        );
        work.run_ok(&["apply", "-auto-approve", "-no-color", "-input=false"]);
        let outputs: Value =
            serde_json::from_str(&work.run_ok(&["output", "-json"])).expect("output -json");
        let kubeconfig = outputs["kubeconfig"]["value"].as_str().expect("kubeconfig");
        assert_eq!(outputs["kubeconfig"]["sensitive"], true);
        assert!(
            kubeconfig.contains("current-context: ci@prod"),
            "{}: {kubeconfig}",
            tf.label
        );
        assert!(
            kubeconfig.contains("server: https://127.0.0.1:6443"),
            "{}: {kubeconfig}",
            tf.label
        );
        let certificate = outputs["client_certificate"]["value"]
            .as_str()
            .expect("certificate");
        assert!(
            certificate.starts_with("-----BEGIN CERTIFICATE-----"),
            "{}",
            tf.label
        );
        let expires = outputs["expires_at"]["value"].as_str().expect("expires_at");
        assert!(
            expires.len() == 20 && expires.ends_with('Z'),
            "{}: {expires}",
            tf.label
        );
    }
}

#[test]
fn kubeconfig_ephemeral_resource_opens_and_reports_broken_connections() {
    for tf in terraforms() {
        let good = Workdir::new(
            &tf,
            &kubeconfig_config(
                "ephemeral \"hk8s_kubeconfig\" \"ci\" {\n  cluster = local.real\n  ttl     = \"10m\"\n}\n",
            ),
        );
        let (ok, lines) = good.plan_json(&[]);
        assert!(ok, "{}: {lines:#?}", tf.label);
        assert!(
            lines.iter().any(|l| l["type"] == "ephemeral_op_complete"),
            "{}: the ephemeral kubeconfig was opened: {lines:#?}",
            tf.label
        );
        let broken = Workdir::new(
            &tf,
            &format!(
                "{HEADER}\nephemeral \"hk8s_kubeconfig\" \"ci\" {{\n  cluster = local.cluster\n}}\n"
            ),
        );
        let (ok, lines) = broken.plan_json(&[]);
        assert!(!ok, "{}", tf.label);
        let diags = plan_diagnostics(&lines);
        assert!(
            diags
                .iter()
                .any(|d| d["summary"] == "Invalid secrets in the cluster connection"),
            "{}: {diags:#?}",
            tf.label
        );
    }
}
