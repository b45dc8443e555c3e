//! Plan-time diffing through real Terraform (`-refresh=false`: no cloud behind the state), from a
//! hand-written prior state (what an apply of
//! this configuration will record): unchanged configuration plans no change at all, and a
//! version bump plans in-place updates whose warnings name every node that will roll.

use serde_json::{Value, json};

use crate::support::{Terraform, Workdir, plan_diagnostics, terraforms};

fn main_tf(talos_version: &str, config_patches: &str) -> String {
    main_tf_protected(talos_version, config_patches, false)
}

fn main_tf_protected(talos_version: &str, config_patches: &str, protected: bool) -> String {
    format!(
        r#"
terraform {{
  required_providers {{
    hk8s = {{ source = "hk8s/hk8s" }}
  }}
}}

provider "hk8s" {{}}

resource "hk8s_cluster" "main" {{
  name               = "prod"
  location           = "fsn1"
  talos_version      = "{talos_version}"
  kubernetes_version = "1.35.0"
  config_patches     = {config_patches}
  delete_protection  = {protected}

  control_plane = {{
    server_type = "cax21"
    count       = 3
  }}
}}

resource "hk8s_node_pool" "general" {{
  cluster     = hk8s_cluster.main.connection
  name        = "general"
  server_type = "cx33"
  node_count  = 2
}}
"#
    )
}

fn node(name: &str, server_type: &str, n: u8) -> Value {
    json!({
        "name": name, "server_id": 100 + u32::from(n), "location": "fsn1", "server_type": server_type,
        "public_ipv4": format!("127.0.1.{n}"), "public_ipv6": null, "private_ipv4": format!("10.0.1.{n}"),
        "talos_version": "v1.13.9"
    })
}

fn connection() -> Value {
    json!({
        "cluster_id": "prod", "name": "prod", "location": "fsn1", "network_zone": "eu-central",
        "endpoint": "https://127.0.2.1:6443", "talos_endpoint": "127.0.2.1:50000",
        "network_id": 1, "firewall_id": 2, "talos_version": "v1.13.9", "kubernetes_version": "1.35.0",
        "network_cidr": "10.0.0.0/16", "node_subnet": "10.0.1.0/24", "pod_cidr": "10.244.0.0/16",
        "service_cidr": "10.96.0.0/12", "cni": "flannel", "disk_encryption": true, "config_patches": null,
        "image_snapshot_ids": null, "image_selector": null, "image_schematic": null, "secrets": "secrets.yaml"
    })
}

fn state() -> Value {
    let cluster = json!({
        "name": "prod", "location": "fsn1", "talos_version": "v1.13.9", "kubernetes_version": "1.35.0",
        "control_plane": {
            "server_type": "cax21", "count": 3, "locations": ["fsn1"], "labels": null, "taints": null,
            "config_patches": null, "allow_workloads": false
        },
        "network": {
            "cidr": "10.0.0.0/16", "node_subnet": "10.0.1.0/24", "pod_cidr": "10.244.0.0/16",
            "service_cidr": "10.96.0.0/12", "existing_network_id": null
        },
        "api_load_balancer": { "type": "lb11", "location": "fsn1" },
        "firewall": null, "cni": "flannel", "disk_encryption": true, "config_patches": null, "secrets": "secrets.yaml",
        "image": null, "delete_protection": false, "disk_encryption": true, "timeouts": null,
        "id": "prod", "endpoint": "https://127.0.2.1:6443", "host": "https://127.0.2.1:6443",
        "ca_certificate": "CA", "client_certificate": "CERT", "client_key": "KEY",
        "kubeconfig": "KUBECONFIG", "talosconfig": "TALOSCONFIG",
        "network_id": 1, "firewall_id": 2, "load_balancer_id": 3,
        "nodes": [node("prod-cp-1", "cax21", 1), node("prod-cp-2", "cax21", 2), node("prod-cp-3", "cax21", 3)],
        "connection": connection()
    });
    let pool = json!({
        "cluster": connection(), "name": "general", "server_type": "cx33", "node_count": 2,
        "autoscaling": null, "locations": ["fsn1"], "labels": null, "taints": null, "config_patches": null,
        "update_strategy": { "max_unavailable": 1, "drain_timeout": "5m" }, "delete_protection": false,
        "id": "prod/general",
        "nodes": [node("prod-general-1", "cx33", 4), node("prod-general-2", "cx33", 5)]
    });
    // The sensitive paths Terraform records after an apply (a plan without refresh compares them).
    let sensitive = |names: &[&str]| -> Value {
        names
            .iter()
            .map(|n| json!([{ "type": "get_attr", "value": n }]))
            .collect()
    };
    let resource = |kind: &str, name: &str, attributes: Value, marks: Value| {
        json!({
            "mode": "managed", "type": kind, "name": name,
            "provider": "provider[\"registry.terraform.io/hk8s/hk8s\"]",
            "instances": [{ "schema_version": 0, "attributes": attributes, "sensitive_attributes": marks }]
        })
    };
    json!({
        "version": 4, "terraform_version": "1.11.4", "serial": 1,
        "lineage": "6f1b3d1e-0000-4000-8000-000000000001", "outputs": {},
        "resources": [
            resource(
                "hk8s_cluster",
                "main",
                cluster,
                sensitive(&["client_key", "connection", "kubeconfig", "secrets", "talosconfig"]),
            ),
            resource("hk8s_node_pool", "general", pool, sensitive(&["cluster"])),
        ],
        "check_results": null
    })
}

fn workdir(tf: &Terraform, talos_version: &str, config_patches: &str) -> Workdir {
    let work = Workdir::new(tf, &main_tf(talos_version, config_patches));
    std::fs::write(work.path().join("terraform.tfstate"), state().to_string())
        .expect("write state");
    work
}

fn actions(lines: &[Value]) -> Vec<(String, String)> {
    lines
        .iter()
        .filter(|l| l["type"] == "planned_change")
        .map(|l| {
            let change = &l["change"];
            (
                change["resource"]["addr"].as_str().unwrap_or("").to_owned(),
                change["action"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[test]
fn unchanged_configuration_plans_no_change() {
    for tf in terraforms() {
        let work = workdir(&tf, "v1.13.9", "null");
        let out = work.run(&[
            "plan",
            "-refresh=false",
            "-detailed-exitcode",
            "-no-color",
            "-input=false",
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: expected no changes:\n{stdout}\n{stderr}",
            tf.label
        );
        assert!(stdout.contains("No changes."), "{}: {stdout}", tf.label);
    }
}

#[test]
fn talos_upgrade_rolls_the_control_plane_and_the_pool_in_place() {
    for tf in terraforms() {
        check_upgrade_plan(&workdir(&tf, "v1.13.10", "null"));
    }
}

fn check_upgrade_plan(work: &Workdir) {
    let (ok, lines) = work.plan_json(&["-refresh=false"]);
    assert!(ok, "{lines:#?}");
    let mut found = actions(&lines);
    found.sort();
    assert_eq!(
        found,
        [
            ("hk8s_cluster.main".to_owned(), "update".to_owned()),
            ("hk8s_node_pool.general".to_owned(), "update".to_owned())
        ],
        "an upgrade updates in place, never replaces"
    );
    let warnings: Vec<Value> = plan_diagnostics(&lines)
        .into_iter()
        .filter(|d| d["severity"] == "warning")
        .collect();
    let find = |summary: &str| {
        warnings
            .iter()
            .find(|d| d["summary"] == summary)
            .unwrap_or_else(|| panic!("no {summary:?} warning in {warnings:#?}"))
    };
    let cluster = find("Rolling upgrade of the control plane");
    assert_eq!(cluster["address"], "hk8s_cluster.main");
    let detail = cluster["detail"].as_str().unwrap();
    assert!(
        detail.contains("talos_version: v1.13.9 → v1.13.10"),
        "{detail}"
    );
    assert!(
        detail.contains("prod-cp-1, prod-cp-2, prod-cp-3"),
        "{detail}"
    );
    let pool = find("Rolling update of the node pool");
    assert_eq!(pool["address"], "hk8s_node_pool.general");
    let detail = pool["detail"].as_str().unwrap();
    assert!(
        detail.contains("prod-general-1, prod-general-2"),
        "{detail}"
    );
    assert!(detail.contains("1 at a time"), "{detail}");
}

#[test]
fn cluster_wide_patch_reaches_every_node_in_place() {
    for tf in terraforms() {
        let work = workdir(
            &tf,
            "v1.13.9",
            r#"[yamlencode({ machine = { sysctls = { "vm.max_map_count" = "262144" } } })]"#,
        );
        let (ok, lines) = work.plan_json(&["-refresh=false"]);
        assert!(ok, "{}: {lines:#?}", tf.label);
        let mut found = actions(&lines);
        found.sort();
        assert_eq!(
            found,
            [
                ("hk8s_cluster.main".to_owned(), "update".to_owned()),
                ("hk8s_node_pool.general".to_owned(), "update".to_owned())
            ],
            "{}",
            tf.label
        );
        let warnings: Vec<Value> = plan_diagnostics(&lines)
            .into_iter()
            .filter(|d| d["summary"] == "Configuration change applied to running nodes")
            .collect();
        let detail = |address: &str| {
            warnings
                .iter()
                .find(|d| d["address"] == address)
                .and_then(|d| d["detail"].as_str())
                .unwrap_or_else(|| {
                    panic!(
                        "{}: no patch warning for {address}: {warnings:#?}",
                        tf.label
                    )
                })
                .to_owned()
        };
        let cluster = detail("hk8s_cluster.main");
        assert!(
            cluster.contains("prod-cp-1, prod-cp-2, prod-cp-3"),
            "{cluster}"
        );
        let pool = detail("hk8s_node_pool.general");
        assert!(pool.contains("cluster.config_patches changed"), "{pool}");
        assert!(pool.contains("prod-general-1, prod-general-2"), "{pool}");
        assert!(
            !plan_diagnostics(&lines).iter().any(|d| d["summary"]
                .as_str()
                .is_some_and(|s| s.starts_with("Rolling"))),
            "{}: a patch does not roll nodes",
            tf.label
        );
    }
}

#[test]
fn protected_cluster_refuses_a_destroy_plan() {
    for tf in terraforms() {
        let work = Workdir::new(&tf, &main_tf_protected("v1.13.9", "null", true));
        let mut state = state();
        state["resources"][0]["instances"][0]["attributes"]["delete_protection"] = json!(true);
        std::fs::write(work.path().join("terraform.tfstate"), state.to_string())
            .expect("write state");
        let (ok, lines) = work.plan_json(&["-refresh=false"]);
        assert!(
            ok,
            "{}: protection alone changes nothing: {lines:#?}",
            tf.label
        );
        let (ok, lines) = work.plan_json(&["-refresh=false", "-destroy"]);
        assert!(!ok, "{}: destroy must be refused", tf.label);
        let diags = plan_diagnostics(&lines);
        let refused = diags
            .iter()
            .find(|d| d["summary"] == "Delete protection is enabled")
            .unwrap_or_else(|| panic!("{}: {diags:#?}", tf.label));
        assert_eq!(refused["address"], "hk8s_cluster.main");
        assert!(
            refused["detail"]
                .as_str()
                .unwrap()
                .contains("set delete_protection = false")
        );
    }
}

/// A plan error of `hk8s_cluster.main` for `talos_version` moving from the state's `from` to `to`.
fn talos_change_error(tf: &Terraform, from: &str, to: &str) -> Value {
    let work = Workdir::new(tf, &main_tf(to, "null"));
    let state = state()
        .to_string()
        .replace("\"v1.13.9\"", &format!("{from:?}"));
    std::fs::write(work.path().join("terraform.tfstate"), state).expect("write state");
    let (ok, lines) = work.plan_json(&["-refresh=false"]);
    assert!(
        !ok,
        "{}: {from} → {to} must be refused: {lines:#?}",
        tf.label
    );
    plan_diagnostics(&lines)
        .into_iter()
        .find(|d| d["severity"] == "error" && d["address"] == "hk8s_cluster.main")
        .unwrap_or_else(|| panic!("{}: no error at hk8s_cluster.main: {lines:#?}", tf.label))
}

#[test]
fn talos_change_skipping_a_minor_is_refused_at_plan_naming_the_release_between() {
    for tf in terraforms() {
        let error = talos_change_error(&tf, "v1.12.11", "v1.14.0");
        assert_eq!(
            error["summary"], "Unsupported Talos version change",
            "{}",
            tf.label
        );
        let detail = error["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("one minor release at a time")
                && detail.contains("Apply the latest v1.13.x release first, then v1.14.0"),
            "{}: {detail}",
            tf.label
        );
        assert_eq!(
            error["snippet"]["code"]
                .as_str()
                .map(|c| c.contains("talos_version")),
            Some(true),
            "{}: underlines talos_version: {error:#}",
            tf.label
        );
        let error = talos_change_error(&tf, "v1.13.9", "v1.12.11");
        let detail = error["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("cannot be downgraded"),
            "{}: {detail}",
            tf.label
        );
    }
}
