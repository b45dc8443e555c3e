use serde_json::json;

use super::check;
use crate::resources::cluster::schema::schema;
use crate::resources::test_support::{described, validate, value_of};
use crate::tfplugin::value::Value;

fn base() -> serde_json::Value {
    json!({
        "name": "prod",
        "location": "fsn1",
        "talos_version": "v1.13.9",
        "kubernetes_version": "1.35.0",
        "control_plane": { "server_type": "cax21", "count": 3, "locations": ["fsn1", "nbg1", "hel1"] }
    })
}

fn problems(json: serde_json::Value) -> Vec<(String, String, String)> {
    let s = schema();
    described(&validate(&s, &value_of(&s, json), check))
}

fn with(mut j: serde_json::Value, path: &[&str], value: serde_json::Value) -> serde_json::Value {
    let (last, parents) = path.split_last().unwrap();
    let mut at = &mut j;
    for p in parents {
        if at[*p].is_null() {
            at[*p] = json!({});
        }
        at = &mut at[*p];
    }
    at[*last] = value;
    j
}

#[test]
fn the_design_example_is_valid() {
    assert_eq!(problems(base()), vec![]);
}

#[test]
fn each_error_names_its_attribute() {
    let cases: Vec<(&[&str], serde_json::Value, &str, &str)> = vec![
        (&["name"], json!("Prod"), "name", "Invalid cluster name"),
        (&["location"], json!("fra1"), "location", "Invalid location"),
        (
            &["control_plane", "server_type"],
            json!("cx22"),
            "control_plane.server_type",
            "Invalid server type",
        ),
        (
            &["control_plane", "count"],
            json!(2),
            "control_plane.count",
            "Invalid control plane count",
        ),
        (
            &["control_plane", "locations"],
            json!(["fsn1", "ash"]),
            "control_plane.locations[1]",
            "Location in another network zone",
        ),
        (
            &["control_plane", "labels"],
            json!({"hk8s.io/pool": "x"}),
            "control_plane.labels[\"hk8s.io/pool\"]",
            "Invalid label key",
        ),
        (
            &["control_plane", "taints"],
            json!(["a=b:Never"]),
            "control_plane.taints[0]",
            "Invalid taint",
        ),
        (
            &["config_patches"],
            json!(["- op: add"]),
            "config_patches[0]",
            "Invalid config patch",
        ),
        (
            &["talos_version"],
            json!("v1.9.0"),
            "talos_version",
            "Invalid Talos version",
        ),
        (
            &["kubernetes_version"],
            json!("1.20.0"),
            "kubernetes_version",
            "Unsupported Kubernetes version",
        ),
        (
            &["network", "pod_cidr"],
            json!("10.0.0.0/16"),
            "network.pod_cidr",
            "Invalid address plan",
        ),
        (
            &["network", "node_subnet"],
            json!("10.9.0.0/24"),
            "network.node_subnet",
            "Invalid address plan",
        ),
        (
            &["network", "service_cidr"],
            json!("10.96.0.0/8"),
            "network.service_cidr",
            "Invalid CIDR",
        ),
        (
            &["api_load_balancer", "type"],
            json!("lb41"),
            "api_load_balancer.type",
            "Invalid load balancer type",
        ),
        (
            &["api_load_balancer", "location"],
            json!("sin"),
            "api_load_balancer.location",
            "Location in another network zone",
        ),
        (
            &["firewall", "kube_api_sources"],
            json!(["1.2.3.4"]),
            "firewall.kube_api_sources[0]",
            "Invalid source range",
        ),
        (
            &["timeouts", "create"],
            json!("2d"),
            "timeouts.create",
            "Invalid duration",
        ),
        (
            &["image", "snapshot_ids"],
            json!({"x86": 1}),
            "image.snapshot_ids[\"x86\"]",
            "Invalid architecture",
        ),
    ];
    for (path, value, at, summary) in cases {
        let found = problems(with(base(), path, value.clone()));
        assert!(
            found.iter().any(|(p, s, _)| p == at && s == summary),
            "{path:?} = {value}: expected {summary:?} at {at}, got {found:?}"
        );
    }
}

#[test]
fn patches_are_checked_against_the_talos_contract() {
    let j = with(base(), &["talos_version"], json!("v1.14.0-rc.1"));
    let j = with(
        j,
        &["config_patches"],
        json!(["machine: {}", "machine:\n  sysctls: {a: b}\n"]),
    );
    let found = problems(j);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "config_patches[1]");
    assert_eq!(found[0].1, "Config patch does not fit the Talos version");
    assert!(found[0].2.contains("SysctlConfig"), "{found:?}");
    let j = with(
        base(),
        &["config_patches"],
        json!(["machine:\n  sysctls: {a: b}\n"]),
    );
    assert_eq!(problems(j), vec![], "1.13 still has machine.sysctls");
    let j = with(
        base(),
        &["config_patches"],
        json!(["cluster:\n  clusterName: other\n"]),
    );
    let found = problems(j);
    assert_eq!(found[0].1, "Invalid config patch");
    assert!(found[0].2.contains("managed by the provider"), "{found:?}");
}

#[test]
fn control_plane_labels_may_use_node_role() {
    let j = with(
        base(),
        &["control_plane", "labels"],
        json!({"node-role.kubernetes.io/etcd": ""}),
    );
    assert_eq!(problems(j), vec![]);
}

#[test]
fn unknown_values_are_skipped() {
    let s = schema();
    let mut config = value_of(&s, base());
    for path in [
        crate::tfplugin::diag::AttributePath::root("location"),
        crate::tfplugin::diag::AttributePath::root("kubernetes_version"),
        crate::tfplugin::diag::AttributePath::root("control_plane").attr("locations"),
    ] {
        config.set_at_path(&path, Value::Unknown);
    }
    assert_eq!(described(&validate(&s, &config, check)), vec![]);
}

#[test]
fn existing_network_conflicts_with_cidr() {
    let j = with(base(), &["network", "existing_network_id"], json!(42));
    assert_eq!(problems(j.clone()), vec![]);
    let found = problems(with(j, &["network", "cidr"], json!("10.0.0.0/16")));
    assert_eq!(found[0].0, "network.cidr");
    assert_eq!(found[0].1, "Conflicting network settings");
}

#[test]
fn components_are_checked_where_they_are_written() {
    let cilium = with(
        base(),
        &["cilium"],
        json!({ "values": "hubble:\n  enabled: true\n" }),
    );
    let found = problems(cilium.clone());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "cilium");
    assert_eq!(found[0].1, "Cilium settings without Cilium");
    assert_eq!(problems(with(cilium, &["cni"], json!("cilium"))), vec![]);

    let old = with(
        base(),
        &["cloud_controller"],
        json!({ "version": "1.29.0" }),
    );
    let found = problems(old);
    assert!(
        found.iter().any(|(p, s, d)| p == "cloud_controller.version"
            && s == "Unsupported chart version"
            && d.contains("1.30.1")),
        "{found:?}"
    );
    let list = with(base(), &["cloud_controller"], json!({ "values": "- a\n" }));
    assert!(
        problems(list)
            .iter()
            .any(|(p, s, _)| p == "cloud_controller.values" && s == "Invalid values")
    );
    let fine = with(
        base(),
        &["cloud_controller"],
        json!({ "enabled": true, "version": "1.35.0", "values": "replicaCount: 2\n" }),
    );
    assert_eq!(problems(fine), vec![]);
}
