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

use std::fmt::Write as _;

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
    config_patches     = []
    image_snapshot_ids = null
    image_selector     = null
    secrets            = "not used by plan-time checks"
  }
}
"#;

/// One invalid configuration and what the user must see.
struct Case {
    /// The resource block (its address identifies the case).
    hcl: String,
    /// `<type>.<name>` (or `data.<type>.<name>`).
    address: String,
    /// Expected summary.
    summary: &'static str,
    /// Substring of the expected detail.
    detail: &'static str,
    /// The source text Terraform underlines.
    highlight: &'static str,
}

/// Renders `resource "<kind>" "<name>"` with `defaults`, each replaced by `overrides` of the same
/// attribute name, plus overrides naming other attributes. Values are HCL expressions.
fn block(
    header: &str,
    address: String,
    defaults: &[(&str, &str)],
    overrides: &[(&str, &str)],
) -> (String, String) {
    let mut hcl = format!("{header} {{\n");
    for (name, value) in defaults {
        let value = overrides
            .iter()
            .find(|(n, _)| n == name)
            .map_or(*value, |(_, v)| v);
        let _ = writeln!(hcl, "  {name} = {value}");
    }
    for (name, value) in overrides
        .iter()
        .filter(|(n, _)| !defaults.iter().any(|(d, _)| d == n))
    {
        let _ = writeln!(hcl, "  {name} = {value}");
    }
    hcl.push_str("}\n");
    (hcl, address)
}

const CLUSTER: &[(&str, &str)] = &[
    ("name", r#""prod""#),
    ("location", r#""fsn1""#),
    ("talos_version", r#""v1.13.9""#),
    ("kubernetes_version", r#""1.35.0""#),
    ("control_plane", r#"{ server_type = "cax21", count = 3 }"#),
];
const POOL: &[(&str, &str)] = &[
    ("cluster", "local.cluster"),
    ("name", r#""general""#),
    ("server_type", r#""cx33""#),
    ("node_count", "3"),
];
const ADDON: &[(&str, &str)] = &[("cluster", "local.cluster"), ("name", r#""hcloud-csi""#)];

fn cluster(name: &str, overrides: &[(&str, &str)]) -> (String, String) {
    block(
        &format!("resource \"hk8s_cluster\" \"{name}\""),
        format!("hk8s_cluster.{name}"),
        CLUSTER,
        overrides,
    )
}

fn pool(name: &str, overrides: &[(&str, &str)]) -> (String, String) {
    block(
        &format!("resource \"hk8s_node_pool\" \"{name}\""),
        format!("hk8s_node_pool.{name}"),
        POOL,
        overrides,
    )
}

fn addon(name: &str, overrides: &[(&str, &str)]) -> (String, String) {
    block(
        &format!("resource \"hk8s_addon\" \"{name}\""),
        format!("hk8s_addon.{name}"),
        ADDON,
        overrides,
    )
}

fn kubeconfig(name: &str, overrides: &[(&str, &str)]) -> (String, String) {
    block(
        &format!("data \"hk8s_kubeconfig\" \"{name}\""),
        format!("data.hk8s_kubeconfig.{name}"),
        &[("cluster", "local.cluster")],
        overrides,
    )
}

fn case(
    (hcl, address): (String, String),
    summary: &'static str,
    detail: &'static str,
    highlight: &'static str,
) -> Case {
    Case {
        hcl,
        address,
        summary,
        detail,
        highlight,
    }
}

/// Configurations `terraform validate` must refuse.
fn validate_cases() -> Vec<Case> {
    vec![
        case(
            cluster("name_uppercase", &[("name", r#""Prod""#)]),
            "Invalid cluster name",
            "uppercase 'P' at position 1",
            r#""Prod""#,
        ),
        case(
            cluster(
                "name_too_long",
                &[("name", r#""a-very-long-cluster-name""#)],
            ),
            "Invalid cluster name",
            "the limit is 20",
            r#""a-very-long-cluster-name""#,
        ),
        case(
            cluster("location_unknown", &[("location", r#""fra1""#)]),
            "Invalid location",
            "accepted locations: fsn1",
            r#""fra1""#,
        ),
        case(
            cluster(
                "server_type_retired",
                &[("control_plane", r#"{ server_type = "cx22" }"#)],
            ),
            "Invalid server type",
            "the cx family (shared vCPU, Intel/AMD x86) has cx23, cx33, cx43, cx53",
            r#""cx22""#,
        ),
        case(
            cluster(
                "server_type_foreign",
                &[("control_plane", r#"{ server_type = "t3.micro" }"#)],
            ),
            "Invalid server type",
            "known families: cx",
            r#""t3.micro""#,
        ),
        case(
            cluster(
                "control_plane_even",
                &[("control_plane", r#"{ server_type = "cax21", count = 2 }"#)],
            ),
            "Invalid control plane count",
            "use 1 (no high availability), 3 or 5",
            "2",
        ),
        case(
            cluster(
                "control_plane_zones",
                &[(
                    "control_plane",
                    r#"{ server_type = "cax21", locations = ["fsn1", "ash"] }"#,
                )],
            ),
            "Location in another network zone",
            "\"ash\" is in network zone us-east",
            r#""ash""#,
        ),
        case(
            cluster(
                "label_reserved",
                &[(
                    "control_plane",
                    r#"{ server_type = "cax21", labels = { "hk8s.io/role" = "cp" } }"#,
                )],
            ),
            "Invalid label key",
            "hk8s manages the hk8s.io/ labels itself",
            r#""cp""#,
        ),
        case(
            pool(
                "pool_label_restricted",
                &[("labels", r#"{ "node-role.kubernetes.io/worker" = "" }"#)],
            ),
            "Invalid label key",
            "NodeRestriction",
            r#""""#,
        ),
        case(
            cluster(
                "label_value",
                &[(
                    "control_plane",
                    r#"{ server_type = "cax21", labels = { team = "platform team" } }"#,
                )],
            ),
            "Invalid label value",
            "\"platform team\"",
            r#""platform team""#,
        ),
        case(
            cluster(
                "taint_effect",
                &[(
                    "control_plane",
                    r#"{ server_type = "cax21", taints = ["ok:NoSchedule", "dedicated=gpu:NoSchedulee"] }"#,
                )],
            ),
            "Invalid taint",
            "accepted effects: NoSchedule, PreferNoSchedule, NoExecute",
            r#""dedicated=gpu:NoSchedulee""#,
        ),
        case(
            cluster(
                "taint_shape",
                &[(
                    "control_plane",
                    r#"{ server_type = "cax21", taints = ["dedicated"] }"#,
                )],
            ),
            "Invalid taint",
            "is not `key=value:Effect` or `key:Effect`",
            r#""dedicated""#,
        ),
        case(
            cluster(
                "patch_json6902",
                &[(
                    "config_patches",
                    r#"[yamlencode([{ op = "add", path = "/machine/x", value = 1 }])]"#,
                )],
            ),
            "Invalid config patch",
            "write a strategic-merge patch instead",
            r#"yamlencode([{ op = "add", path = "/machine/x", value = 1 }])"#,
        ),
        case(
            cluster(
                "patch_scalar",
                &[("config_patches", r#"["machine: {}", "hello"]"#)],
            ),
            "Invalid config patch",
            "config patch #1, document #0: expected a YAML mapping, found a string",
            r#""hello""#,
        ),
        case(
            cluster(
                "patch_owned",
                &[(
                    "config_patches",
                    r#"[yamlencode({ cluster = { clusterName = "other" } })]"#,
                )],
            ),
            "Invalid config patch",
            "is managed by the provider",
            r#"yamlencode({ cluster = { clusterName = "other" } })"#,
        ),
        case(
            cluster(
                "patch_contract",
                &[
                    ("talos_version", r#""v1.14.0-rc.1""#),
                    (
                        "config_patches",
                        r#"[yamlencode({ machine = { sysctls = { "vm.max_map_count" = "262144" } } })]"#,
                    ),
                ],
            ),
            "Config patch does not fit the Talos version",
            "patch the SysctlConfig document instead",
            r#"yamlencode({ machine = { sysctls = { "vm.max_map_count" = "262144" } } })"#,
        ),
        case(
            cluster("talos_unsupported", &[("talos_version", r#""v1.11.5""#)]),
            "Invalid Talos version",
            "v1.12.x, v1.13.x, v1.14.x",
            r#""v1.11.5""#,
        ),
        case(
            cluster("talos_without_v", &[("talos_version", r#""1.13.9""#)]),
            "Invalid Talos version",
            "\"v1.13.9\"",
            r#""1.13.9""#,
        ),
        case(
            cluster(
                "kubernetes_syntax",
                &[("kubernetes_version", r#""latest""#)],
            ),
            "Invalid Kubernetes version",
            "such as \"1.35.0\"",
            r#""latest""#,
        ),
        case(
            cluster(
                "kubernetes_too_new",
                &[
                    ("talos_version", r#""v1.12.6""#),
                    ("kubernetes_version", r#""1.36.0""#),
                ],
            ),
            "Unsupported Kubernetes version",
            "too new for Talos v1.12.6",
            r#""1.36.0""#,
        ),
        case(
            cluster(
                "network_public",
                &[("network", r#"{ cidr = "8.8.0.0/16" }"#)],
            ),
            "Invalid CIDR",
            "not private address space",
            r#""8.8.0.0/16""#,
        ),
        case(
            cluster(
                "network_host_bits",
                &[("network", r#"{ cidr = "10.0.0.1/16" }"#)],
            ),
            "Invalid CIDR",
            "write it as \"10.0.0.0/16\"",
            r#""10.0.0.1/16""#,
        ),
        case(
            cluster(
                "pods_overlap",
                &[("network", r#"{ pod_cidr = "10.0.128.0/17" }"#)],
            ),
            "Invalid address plan",
            "overlaps the network range 10.0.0.0/16",
            r#""10.0.128.0/17""#,
        ),
        case(
            cluster(
                "subnet_outside",
                &[(
                    "network",
                    r#"{ cidr = "10.0.0.0/16", node_subnet = "10.1.0.0/24" }"#,
                )],
            ),
            "Invalid address plan",
            "not inside the network range 10.0.0.0/16",
            r#""10.1.0.0/24""#,
        ),
        case(
            cluster(
                "services_ipv6",
                &[("network", r#"{ service_cidr = "fd00::/108" }"#)],
            ),
            "Invalid CIDR",
            "IPv6 is not supported",
            r#""fd00::/108""#,
        ),
        case(
            cluster(
                "network_conflict",
                &[(
                    "network",
                    r#"{ existing_network_id = 42, cidr = "10.0.0.0/16" }"#,
                )],
            ),
            "Conflicting network settings",
            "exclude each other",
            r#""10.0.0.0/16""#,
        ),
        case(
            cluster("lb_type", &[("api_load_balancer", r#"{ type = "lb41" }"#)]),
            "Invalid load balancer type",
            "lb11, lb21, lb31",
            r#""lb41""#,
        ),
        case(
            cluster(
                "lb_zone",
                &[("api_load_balancer", r#"{ location = "hil" }"#)],
            ),
            "Location in another network zone",
            "is in network zone us-west",
            r#""hil""#,
        ),
        case(
            cluster(
                "firewall_source",
                &[("firewall", r#"{ kube_api_sources = ["203.0.113.7"] }"#)],
            ),
            "Invalid source range",
            "is not a CIDR",
            r#""203.0.113.7""#,
        ),
        case(
            cluster("cni_unknown", &[("cni", r#""calico""#)]),
            "Invalid attribute value",
            "\"flannel\", \"cilium\", \"none\"",
            r#""calico""#,
        ),
        case(
            cluster("timeout_days", &[("timeouts", r#"{ create = "1d" }"#)]),
            "Invalid duration",
            "\"48h\"",
            r#""1d""#,
        ),
        case(
            cluster(
                "snapshot_arch",
                &[("image", r#"{ snapshot_ids = { x86 = 1 } }"#)],
            ),
            "Invalid architecture",
            "use \"amd64\" or \"arm64\"",
            "1",
        ),
        case(
            cluster("secrets_garbage", &[("secrets", r#""cluster: {}""#)]),
            "Invalid secrets bundle",
            "not a talosctl secrets.yaml",
            r#""cluster: {}""#,
        ),
        case(
            pool("pool_reserved", &[("name", r#""cp""#)]),
            "Invalid node pool name",
            "reserved",
            r#""cp""#,
        ),
        case(
            pool(
                "pool_both_sizes",
                &[("autoscaling", "{ min = 1, max = 3 }")],
            ),
            "Conflicting pool size",
            "exclude each other",
            "{ min = 1, max = 3 }",
        ),
        case(
            pool(
                "pool_range",
                &[
                    ("node_count", "null"),
                    ("autoscaling", "{ min = 5, max = 2 }"),
                ],
            ),
            "Invalid autoscaling range",
            "min (5) is greater than max (2)",
            "5",
        ),
        case(
            pool("pool_negative", &[("node_count", "-1")]),
            "Invalid node count",
            "from 0 to 999",
            "-1",
        ),
        case(
            pool(
                "pool_drain",
                &[("update_strategy", r#"{ drain_timeout = "soon" }"#)],
            ),
            "Invalid duration",
            "not a duration",
            r#""soon""#,
        ),
        case(
            pool(
                "pool_duplicate_taint",
                &[("taints", r#"["a=1:NoSchedule", "a=2:NoSchedule"]"#)],
            ),
            "Duplicate taint",
            "at most one taint per key and effect",
            r#""a=2:NoSchedule""#,
        ),
        case(
            addon("addon_unknown", &[("name", r#""nginx""#)]),
            "Unknown addon",
            "not in the catalog (hcloud-ccm",
            r#""nginx""#,
        ),
        case(
            addon(
                "addon_unpinned",
                &[
                    ("name", r#""ingress""#),
                    (
                        "chart",
                        r#"{ repository = "https://kubernetes.github.io/ingress-nginx", name = "ingress-nginx" }"#,
                    ),
                ],
            ),
            "Missing chart version",
            "need a pinned `version`",
            "{",
        ),
        case(
            addon(
                "addon_chart_for_catalog",
                &[(
                    "chart",
                    r#"{ repository = "https://charts.hetzner.cloud", name = "hcloud-csi" }"#,
                )],
            ),
            "Chart given for a catalog addon",
            "remove `chart`",
            r#"{ repository = "https://charts.hetzner.cloud", name = "hcloud-csi" }"#,
        ),
        case(
            addon("addon_values_list", &[("values", r#"yamlencode(["a"])"#)]),
            "Invalid values",
            "not a list",
            r#"yamlencode(["a"])"#,
        ),
        case(
            kubeconfig("kubeconfig_ttl", &[("ttl", r#""1m""#)]),
            "Invalid duration",
            "outside the accepted range 5m to 8760h",
            r#""1m""#,
        ),
    ]
}

/// Configurations that pass `validate` but that `plan` refuses once the cluster is known.
fn plan_cases() -> Vec<Case> {
    vec![
        case(
            pool("pool_zone", &[("locations", r#"["nbg1", "ash"]"#)]),
            "Location in another network zone",
            "cluster's network is in eu-central",
            r#""ash""#,
        ),
        case(
            pool("pool_too_big", &[("node_count", "400")]),
            "Pool does not fit the cluster's address plan",
            "room for 252 nodes",
            "400",
        ),
        case(
            addon("addon_cni", &[("name", r#""cilium""#)]),
            "Addon needs another CNI",
            "cni = \"cilium\"",
            r#""cilium""#,
        ),
    ]
}

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
fn import_ids_are_checked_and_import_says_it_is_not_available_yet() {
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
        let good = output("prod/general");
        assert!(
            good.contains("Importing a node pool is not available yet"),
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
