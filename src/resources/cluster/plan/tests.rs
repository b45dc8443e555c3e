use serde_json::json;

use super::modify;
use crate::resources::cluster::schema::schema;
use crate::resources::test_support::{default_planned, value_of};
use crate::tfplugin::diag::AttributePath;
use crate::tfplugin::value::Value;

fn config_json() -> serde_json::Value {
    json!({
        "name": "prod",
        "location": "fsn1",
        "talos_version": "v1.13.9",
        "kubernetes_version": "1.35.0",
        "control_plane": { "server_type": "cax21", "count": 3 }
    })
}

/// A state as an apply of `config_json()` would have written it.
fn prior_json() -> serde_json::Value {
    let mut state = config_json();
    state["control_plane"] = json!({
        "server_type": "cax21", "count": 3, "locations": ["fsn1"], "allow_workloads": false
    });
    state["network"] = json!({
        "cidr": "10.0.0.0/16", "node_subnet": "10.0.1.0/24", "pod_cidr": "10.244.0.0/16", "service_cidr": "10.96.0.0/12"
    });
    state["api_load_balancer"] = json!({ "type": "lb11", "location": "fsn1" });
    state["cni"] = json!("flannel");
    state["delete_protection"] = json!(false);
    state["disk_encryption"] = json!(true);
    state["secrets"] = json!("cluster: {}");
    for (k, v) in [
        ("id", "prod"),
        ("endpoint", "https://127.1.0.1:6443"),
        ("host", "https://127.1.0.1:6443"),
        ("ca_certificate", "CA"),
        ("client_certificate", "CRT"),
        ("client_key", "KEY"),
        ("kubeconfig", "KC"),
        ("talosconfig", "TC"),
    ] {
        state[k] = json!(v);
    }
    state["network_id"] = json!(1);
    state["firewall_id"] = json!(2);
    state["load_balancer_id"] = json!(3);
    state["nodes"] = json!([
        { "name": "prod-cp-1" }, { "name": "prod-cp-2" }, { "name": "prod-cp-3" }
    ]);
    state["connection"] = json!({ "cluster_id": "prod", "talos_version": "v1.13.9" });
    state
}

fn plan(
    config: serde_json::Value,
    prior: Option<serde_json::Value>,
) -> crate::tfplugin::framework::PlannedChange {
    let s = schema();
    let config = value_of(&s, config);
    let prior = prior.map_or(Value::Null, |p| value_of(&s, p));
    modify(&config, &prior, default_planned(&s, &config, &prior)).expect("plan")
}

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    let p = path
        .split('.')
        .fold(AttributePath::empty(), |p, s| p.attr(s));
    v.at_path(&p).unwrap_or_else(|| panic!("no {path}"))
}

#[test]
fn create_plans_derived_values_as_known() {
    let change = plan(config_json(), None);
    let p = &change.planned;
    assert_eq!(at(p, "id"), &Value::from("prod"));
    assert_eq!(
        at(p, "control_plane.locations"),
        &Value::List(vec![Value::from("fsn1")])
    );
    assert_eq!(at(p, "network.node_subnet"), &Value::from("10.0.1.0/24"));
    assert_eq!(at(p, "network.service_cidr"), &Value::from("10.96.0.0/12"));
    assert_eq!(at(p, "api_load_balancer.location"), &Value::from("fsn1"));
    assert_eq!(at(p, "api_load_balancer.type"), &Value::from("lb11"));
    assert_eq!(at(p, "cni"), &Value::from("flannel"));
    assert_eq!(at(p, "control_plane.count"), &Value::from(3));
    assert!(!at(p, "endpoint").is_known());
    assert!(!at(p, "connection").is_known());
    assert!(change.diagnostics.is_empty());
    assert!(change.requires_replace.is_empty());
}

#[test]
fn custom_network_gets_a_derived_node_subnet() {
    let mut config = config_json();
    config["network"] = json!({ "cidr": "10.20.0.0/16" });
    let change = plan(config, None);
    assert_eq!(
        at(&change.planned, "network.node_subnet"),
        &Value::from("10.20.1.0/24")
    );
    assert_eq!(
        at(&change.planned, "network.pod_cidr"),
        &Value::from("10.244.0.0/16")
    );
}

#[test]
fn unchanged_config_plans_no_change() {
    let s = schema();
    let change = plan(config_json(), Some(prior_json()));
    assert_eq!(
        change.planned,
        value_of(&s, prior_json()),
        "no perpetual diff"
    );
    assert!(change.diagnostics.is_empty(), "{:?}", change.diagnostics);
    assert!(change.requires_replace.is_empty());
}

#[test]
fn version_change_rolls_and_names_the_nodes() {
    let mut config = config_json();
    config["talos_version"] = json!("v1.13.10");
    let change = plan(config, Some(prior_json()));
    let warning = change.diagnostics.iter().next().expect("a warning");
    assert!(!warning.is_error());
    assert_eq!(warning.summary, "Rolling upgrade of the control plane");
    assert!(
        warning.detail.contains("v1.13.9 → v1.13.10"),
        "{}",
        warning.detail
    );
    assert!(
        warning.detail.contains("prod-cp-1, prod-cp-2, prod-cp-3"),
        "{}",
        warning.detail
    );
    assert!(!at(&change.planned, "nodes").is_known());
    assert_eq!(
        at(&change.planned, "connection.talos_version"),
        &Value::from("v1.13.10")
    );
    assert_eq!(
        at(&change.planned, "connection.cluster_id"),
        &Value::from("prod"),
        "identity kept"
    );
    assert_eq!(
        at(&change.planned, "kubeconfig"),
        &Value::from("KC"),
        "credentials stay"
    );
    assert!(change.requires_replace.is_empty());
}

/// Terraform killed halfway through an upgrade to v1.13.10: the refresh read prod-cp-1 on the new
/// version and recorded it as `talos_version`, so the configuration matches it, but the other
/// two still run v1.13.9. The plan resumes the roll and names them.
#[test]
fn nodes_left_behind_by_an_interrupted_upgrade_are_rolled_though_talos_version_matches() {
    let mut config = config_json();
    config["talos_version"] = json!("v1.13.10");
    let mut prior = prior_json();
    prior["talos_version"] = json!("v1.13.10");
    prior["connection"]["talos_version"] = json!("v1.13.10");
    prior["nodes"] = json!([
        { "name": "prod-cp-1", "talos_version": "v1.13.10" },
        { "name": "prod-cp-2", "talos_version": "v1.13.9" },
        { "name": "prod-cp-3", "talos_version": "v1.13.9" }
    ]);
    let change = plan(config.clone(), Some(prior.clone()));
    let warnings: Vec<_> = change.diagnostics.iter().collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].summary, "Talos upgrade not finished");
    assert!(
        warnings[0].detail.starts_with(
            "prod-cp-2 (v1.13.9), prod-cp-3 (v1.13.9) run another Talos version than \
             talos_version = v1.13.10"
        ),
        "{}",
        warnings[0].detail
    );
    assert!(!at(&change.planned, "nodes").is_known(), "the apply acts");

    // Once every node runs it, nothing is planned.
    prior["nodes"][1]["talos_version"] = json!("v1.13.10");
    prior["nodes"][2]["talos_version"] = json!("v1.13.10");
    let change = plan(config, Some(prior.clone()));
    assert!(change.diagnostics.is_empty(), "{:?}", change.diagnostics);
    assert_eq!(change.planned, value_of(&schema(), prior));
}

fn plan_error(
    config: serde_json::Value,
    prior: serde_json::Value,
) -> crate::tfplugin::diag::Diagnostic {
    let s = schema();
    let config = value_of(&s, config);
    let prior = value_of(&s, prior);
    let diags = modify(&config, &prior, default_planned(&s, &config, &prior))
        .map(|_| ())
        .expect_err("the plan is refused");
    let error = diags.iter().next().expect("a diagnostic").clone();
    assert!(error.is_error());
    error
}

#[test]
fn talos_change_skipping_a_minor_is_refused_naming_the_intermediate_release() {
    let mut prior = prior_json();
    prior["talos_version"] = json!("v1.12.11");
    let mut config = config_json();
    config["talos_version"] = json!("v1.14.0");
    let error = plan_error(config.clone(), prior.clone());
    assert_eq!(error.path.as_ref().unwrap().to_string(), "talos_version");
    assert!(
        error.detail.contains("v1.12.11")
            && error.detail.contains("one minor release at a time")
            && error.detail.contains("the latest v1.13.x release first"),
        "{}",
        error.detail
    );
    // One minor at a time is a rolling upgrade, as is a patch change either way.
    for next in ["v1.13.0", "v1.12.12", "v1.12.3"] {
        config["talos_version"] = json!(next);
        let change = plan(config.clone(), Some(prior.clone()));
        assert!(!change.diagnostics.has_error(), "{next}");
    }
}

#[test]
fn talos_minor_downgrade_is_refused() {
    let mut config = config_json();
    config["talos_version"] = json!("v1.12.11");
    let error = plan_error(config, prior_json());
    assert_eq!(error.path.as_ref().unwrap().to_string(), "talos_version");
    assert!(
        error.detail.contains("cannot be downgraded to v1.12.11"),
        "{}",
        error.detail
    );
}

#[test]
fn server_type_change_replaces_nodes_one_at_a_time() {
    let mut config = config_json();
    config["control_plane"]["server_type"] = json!("cax31");
    let change = plan(config, Some(prior_json()));
    let summaries: Vec<&str> = change
        .diagnostics
        .iter()
        .map(|d| d.summary.as_str())
        .collect();
    assert_eq!(summaries, ["Rolling replacement of control-plane nodes"]);
    assert!(
        at(&change.planned, "connection").is_known(),
        "versions did not change"
    );
}

#[test]
fn disk_encryption_change_reinstalls_the_named_nodes_one_at_a_time() {
    let mut config = config_json();
    config["disk_encryption"] = json!(false);
    let change = plan(config, Some(prior_json()));
    let warnings: Vec<_> = change.diagnostics.iter().collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(!warnings[0].is_error());
    assert_eq!(
        warnings[0].summary,
        "Rolling replacement of control-plane nodes"
    );
    for needle in [
        "disk_encryption: true → false",
        "prod-cp-1, prod-cp-2, prod-cp-3",
        "cannot change the encryption",
    ] {
        assert!(
            warnings[0].detail.contains(needle),
            "{needle:?} missing from {}",
            warnings[0].detail
        );
    }
    assert!(!at(&change.planned, "nodes").is_known());
    assert!(change.requires_replace.is_empty(), "not a new cluster");
}

#[test]
fn disk_encryption_defaults_to_true() {
    let change = plan(config_json(), None);
    assert_eq!(at(&change.planned, "disk_encryption"), &Value::Bool(true));
}

#[test]
fn scale_down_names_the_removed_nodes() {
    let mut config = config_json();
    config["control_plane"]["count"] = json!(1);
    let change = plan(config, Some(prior_json()));
    let d = change.diagnostics.iter().next().unwrap();
    assert_eq!(d.summary, "Control plane scale-down");
    assert!(d.detail.contains("prod-cp-3, prod-cp-2"), "{}", d.detail);
    assert!(!d.detail.contains("prod-cp-1"), "{}", d.detail);
}

#[test]
fn patch_change_is_in_place_with_a_reboot_note() {
    let mut config = config_json();
    config["config_patches"] = json!(["machine:\n  sysctls:\n    a: b\n"]);
    let change = plan(config, Some(prior_json()));
    let d = change.diagnostics.iter().next().unwrap();
    assert_eq!(d.summary, "Configuration change applied to running nodes");
    assert!(d.detail.contains("prod-cp-1"));
    assert!(change.requires_replace.is_empty());
    assert!(at(&change.planned, "nodes").is_known());
    assert_eq!(
        at(&change.planned, "connection.config_patches"),
        &Value::List(vec![Value::from("machine:\n  sysctls:\n    a: b\n")]),
        "pools see the cluster-wide patch"
    );
    assert_eq!(
        at(&change.planned, "connection.cluster_id"),
        &Value::from("prod")
    );
}

#[test]
fn replacing_attributes() {
    let paths = |change: &crate::tfplugin::framework::PlannedChange| {
        change
            .requires_replace
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    let mut config = config_json();
    config["name"] = json!("prod2");
    assert_eq!(paths(&plan(config, Some(prior_json()))), ["name"]);
    let mut config = config_json();
    config["network"] = json!({ "pod_cidr": "10.200.0.0/16" });
    assert_eq!(paths(&plan(config, Some(prior_json()))), ["network"]);
    let mut config = config_json();
    config["secrets"] = json!("cluster: {id: other}");
    assert_eq!(paths(&plan(config, Some(prior_json()))), ["secrets"]);
    let mut config = config_json();
    config["api_load_balancer"] = json!({ "type": "lb21" });
    let change = plan(config, Some(prior_json()));
    assert!(paths(&change).is_empty(), "LB type changes in place");
    assert_eq!(
        at(&change.planned, "api_load_balancer.location"),
        &Value::from("fsn1")
    );
}

/// A prior state with a real secrets bundle, whose nodes run (`config_hash`) what the provider
/// generates for it, except where `running` says otherwise.
fn prior_with_running(running: &[(&str, Option<&str>)]) -> serde_json::Value {
    let mut prior = prior_json();
    prior["secrets"] = json!(include_str!(
        "../../../talos/testdata/talosctl-secrets.yaml"
    ));
    let s = schema();
    let value = value_of(&s, prior.clone());
    let spec = crate::resources::cluster::spec::ClusterSpec::from_planned(&value).unwrap();
    let secrets =
        crate::talos::secrets::SecretsBundle::from_yaml(prior["secrets"].as_str().unwrap())
            .unwrap();
    let names = ["prod-cp-1", "prod-cp-2", "prod-cp-3"];
    let generated =
        crate::resources::cluster::machine::config_hashes(&spec, &secrets, "127.1.0.1", &names)
            .unwrap();
    prior["nodes"] = json!(
        names
            .iter()
            .map(|name| {
                let hash = running
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(Some(generated[*name].as_str()), |(_, h)| *h);
                json!({ "name": name, "config_hash": hash })
            })
            .collect::<Vec<_>>()
    );
    prior
}

#[test]
fn nodes_running_the_generated_configuration_plan_no_change() {
    let s = schema();
    let prior = prior_with_running(&[]);
    let change = plan(config_json(), Some(prior.clone()));
    assert_eq!(change.planned, value_of(&s, prior), "no perpetual diff");
    assert!(change.diagnostics.is_empty(), "{:?}", change.diagnostics);
}

#[test]
fn a_node_changed_out_of_band_is_named_and_its_configuration_put_back() {
    let prior = prior_with_running(&[("prod-cp-2", Some("0123abcd")), ("prod-cp-3", None)]);
    let change = plan(config_json(), Some(prior));
    let warnings: Vec<_> = change.diagnostics.iter().collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        warnings[0].summary,
        "Configuration drift on control-plane nodes"
    );
    // prod-cp-3's configuration was not read (null): not called drifted.
    assert!(
        warnings[0]
            .detail
            .starts_with("prod-cp-2 runs a machine configuration"),
        "{}",
        warnings[0].detail
    );
    assert!(!at(&change.planned, "nodes").is_known(), "the apply acts");
    assert!(change.requires_replace.is_empty());
}

#[test]
fn a_configuration_change_records_new_hashes_without_a_drift_warning() {
    let mut config = config_json();
    config["config_patches"] = json!(["machine:\n  features:\n    nodeAddressSortAlgorithm: v2\n"]);
    let change = plan(config, Some(prior_with_running(&[])));
    assert!(
        change
            .diagnostics
            .iter()
            .all(|d| d.summary != "Configuration drift on control-plane nodes"),
        "{:?}",
        change.diagnostics
    );
    assert!(!at(&change.planned, "nodes").is_known());
}

/// A scale-down killed after a node's reset (its server is off, so the refresh does not count
/// it): the count matches the configuration, yet the plan must finish the removal.
#[test]
fn a_node_an_interrupted_removal_left_behind_makes_the_plan_finish_it() {
    let s = schema();
    let mut prior = prior_json();
    prior["leaving_nodes"] = json!(["prod-cp-4"]);
    let change = plan(config_json(), Some(prior));
    let warnings: Vec<_> = change.diagnostics.iter().collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].summary, "Unfinished node removal");
    assert!(
        warnings[0]
            .detail
            .contains("An earlier apply started removing prod-cp-4"),
        "{}",
        warnings[0].detail
    );
    assert_eq!(at(&change.planned, "leaving_nodes"), &Value::List(vec![]));
    assert!(!at(&change.planned, "nodes").is_known(), "the apply acts");

    // Once finished (the refresh finds none), the plan is empty again, whether the state
    // records an empty list or (written before the attribute existed) none.
    for none in [json!([]), json!(null)] {
        let mut prior = prior_json();
        prior["leaving_nodes"] = none;
        let change = plan(config_json(), Some(prior.clone()));
        assert!(change.diagnostics.is_empty(), "{:?}", change.diagnostics);
        assert_eq!(change.planned, value_of(&s, prior));
    }
}
