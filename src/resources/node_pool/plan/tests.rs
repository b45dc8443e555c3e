use serde_json::json;

use super::modify;
use crate::resources::node_pool::schema::schema;
use crate::resources::test_support::{default_planned, described, value_of};
use crate::tfplugin::diag::AttributePath;
use crate::tfplugin::framework::PlannedChange;
use crate::tfplugin::value::Value;

fn connection(talos: &str) -> serde_json::Value {
    json!({
        "cluster_id": "prod", "name": "prod", "location": "fsn1", "network_zone": "eu-central",
        "talos_version": talos, "kubernetes_version": "1.35.0",
        "network_cidr": "10.0.0.0/16", "node_subnet": "10.0.1.0/28", "pod_cidr": "10.244.0.0/16",
        "service_cidr": "10.96.0.0/12", "cni": "flannel", "secrets": "x", "config_patches": null
    })
}

fn config_json() -> serde_json::Value {
    json!({ "cluster": connection("v1.13.9"), "name": "general", "server_type": "cx33", "node_count": 3 })
}

fn prior_json() -> serde_json::Value {
    let mut state = config_json();
    state["locations"] = json!(["fsn1"]);
    state["update_strategy"] = json!({ "max_unavailable": 1, "drain_timeout": "5m" });
    state["delete_protection"] = json!(false);
    state["id"] = json!("prod/general");
    state["nodes"] = json!([{ "name": "prod-general-1" }, { "name": "prod-general-2" }, { "name": "prod-general-3" }]);
    state
}

fn plan(
    config: serde_json::Value,
    prior: Option<serde_json::Value>,
) -> Result<PlannedChange, Vec<(String, String, String)>> {
    let s = schema();
    let config = value_of(&s, config);
    let prior = prior.map_or(Value::Null, |p| value_of(&s, p));
    modify(&config, &prior, default_planned(&s, &config, &prior)).map_err(|d| described(&d))
}

fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    let p = path
        .split('.')
        .fold(AttributePath::empty(), |p, s| p.attr(s));
    v.at_path(&p).unwrap_or_else(|| panic!("no {path}"))
}

#[test]
fn create_plans_known_derived_values() {
    let change = plan(config_json(), None).unwrap();
    assert_eq!(at(&change.planned, "id"), &Value::from("prod/general"));
    assert_eq!(
        at(&change.planned, "locations"),
        &Value::List(vec![Value::from("fsn1")])
    );
    assert_eq!(
        at(&change.planned, "update_strategy.drain_timeout"),
        &Value::from("5m")
    );
    assert!(!at(&change.planned, "nodes").is_known());
}

#[test]
fn count_defaults_to_one_and_the_autoscaler_decides_an_autoscaled_size() {
    let mut config = config_json();
    config["node_count"] = json!(null);
    assert_eq!(
        at(&plan(config.clone(), None).unwrap().planned, "node_count"),
        &Value::from(1)
    );
    config["autoscaling"] = json!({ "min": 2, "max": 5 });
    assert!(!at(&plan(config.clone(), None).unwrap().planned, "node_count").is_known());
    // Refreshed with what the autoscaler made: no change planned.
    let mut prior = prior_json();
    prior["node_count"] = json!(3);
    prior["autoscaling"] = json!({ "min": 2, "max": 5 });
    let change = plan(config.clone(), Some(prior.clone())).unwrap();
    assert_eq!(change.planned, value_of(&schema(), prior.clone()));
    // Changing the bounds leaves the size to the apply.
    config["autoscaling"] = json!({ "min": 2, "max": 6 });
    let change = plan(config, Some(prior)).unwrap();
    assert!(!at(&change.planned, "node_count").is_known());
    assert!(!at(&change.planned, "nodes").is_known());
}

#[test]
fn cluster_checks_need_a_known_connection() {
    let mut config = config_json();
    config["locations"] = json!(["ash"]);
    let errors = plan(config.clone(), None).unwrap_err();
    assert_eq!(errors[0].0, "locations[0]");
    assert!(errors[0].2.contains("eu-central"), "{errors:?}");
    config["node_count"] = json!(20);
    config["locations"] = json!(["nbg1"]);
    let errors = plan(config.clone(), None).unwrap_err();
    assert_eq!(errors[0].0, "node_count");
    assert!(errors[0].2.contains("room for 12 nodes"), "{errors:?}");
    // With the connection unknown (cluster not created yet) nothing is checked.
    let s = schema();
    let mut v = value_of(&s, config);
    v.set_at_path(&AttributePath::root("cluster"), Value::Unknown);
    assert!(modify(&v, &Value::Null, default_planned(&s, &v, &Value::Null)).is_ok());
}

#[test]
fn unchanged_pool_plans_no_change() {
    let change = plan(config_json(), Some(prior_json())).unwrap();
    assert_eq!(change.planned, value_of(&schema(), prior_json()));
    assert!(change.diagnostics.is_empty());
    assert!(change.requires_replace.is_empty());
}

#[test]
fn cluster_upgrade_rolls_the_pool_without_replacing_it() {
    let mut config = config_json();
    config["cluster"] = connection("v1.14.0");
    let change = plan(config, Some(prior_json())).unwrap();
    assert!(
        change.requires_replace.is_empty(),
        "{:?}",
        change.requires_replace
    );
    let d = change.diagnostics.iter().next().unwrap();
    assert_eq!(d.summary, "Rolling update of the node pool");
    assert!(
        d.detail
            .contains("cluster.talos_version: v1.13.9 → v1.14.0"),
        "{}",
        d.detail
    );
    assert!(
        d.detail
            .contains("prod-general-1, prod-general-2, prod-general-3"),
        "{}",
        d.detail
    );
    assert!(!at(&change.planned, "nodes").is_known());
}

/// A pool roll interrupted halfway: the cluster's version is unchanged since the last apply, but
/// one node still runs the old one. The plan drains and upgrades it.
#[test]
fn a_node_left_behind_by_an_interrupted_roll_is_upgraded() {
    let mut prior = prior_json();
    prior["nodes"] = json!([
        { "name": "prod-general-1", "talos_version": "v1.13.9" },
        { "name": "prod-general-2", "talos_version": "v1.13.8" },
        { "name": "prod-general-3", "talos_version": "v1.13.9" }
    ]);
    let change = plan(config_json(), Some(prior.clone())).unwrap();
    let warnings: Vec<_> = change.diagnostics.iter().collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].summary, "Talos upgrade not finished");
    assert!(
        warnings[0].detail.contains(
            "prod-general-2 (v1.13.8) runs another Talos version than talos_version = v1.13.9"
        ) && warnings[0]
            .detail
            .contains("drains, upgrades and uncordons prod-general-2 one at a time"),
        "{}",
        warnings[0].detail
    );
    assert!(!at(&change.planned, "nodes").is_known(), "the apply acts");

    prior["nodes"][1]["talos_version"] = json!("v1.13.9");
    let change = plan(config_json(), Some(prior.clone())).unwrap();
    assert!(change.diagnostics.is_empty(), "{:?}", change.diagnostics);
    assert_eq!(change.planned, value_of(&schema(), prior));
}

#[test]
fn another_cluster_or_name_replaces() {
    let mut config = config_json();
    config["cluster"]["cluster_id"] = json!("other");
    let change = plan(config, Some(prior_json())).unwrap();
    assert_eq!(
        change
            .requires_replace
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["cluster"]
    );
    let mut config = config_json();
    config["name"] = json!("general2");
    let change = plan(config, Some(prior_json())).unwrap();
    assert_eq!(
        change
            .requires_replace
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["name"]
    );
}

#[test]
fn scale_down_names_removed_nodes_and_labels_apply_in_place() {
    let mut config = config_json();
    config["node_count"] = json!(1);
    let change = plan(config, Some(prior_json())).unwrap();
    let d = change.diagnostics.iter().next().unwrap();
    assert_eq!(d.summary, "Node pool scale-down");
    assert!(
        d.detail.contains("prod-general-3, prod-general-2 will be"),
        "{}",
        d.detail
    );
    let mut config = config_json();
    config["labels"] = json!({ "team": "a" });
    let change = plan(config, Some(prior_json())).unwrap();
    let d = change.diagnostics.iter().next().unwrap();
    assert_eq!(d.summary, "Configuration change applied to running nodes");
    assert!(d.detail.starts_with("labels changed"), "{}", d.detail);
    assert!(
        !at(&change.planned, "nodes").is_known(),
        "the nodes' configuration hashes change"
    );
}

#[test]
fn cluster_wide_patches_reach_the_pool_nodes() {
    let mut config = config_json();
    config["cluster"]["config_patches"] = json!(["machine: {}"]);
    let change = plan(config, Some(prior_json())).unwrap();
    let d = change.diagnostics.iter().next().unwrap();
    assert_eq!(d.summary, "Configuration change applied to running nodes");
    assert!(
        d.detail.starts_with("cluster.config_patches changed"),
        "{}",
        d.detail
    );
    assert!(d.detail.contains("prod-general-1"), "{}", d.detail);
    assert!(!at(&change.planned, "nodes").is_known());
}

#[test]
fn a_location_change_replaces_only_the_nodes_it_moves() {
    let mut prior = prior_json();
    prior["locations"] = json!(["fsn1", "nbg1"]);
    prior["nodes"] = json!([
        { "name": "prod-general-1", "location": "fsn1", "server_type": "cx33" },
        { "name": "prod-general-2", "location": "nbg1", "server_type": "cx33" },
    ]);
    let mut config = config_json();
    config["locations"] = json!(["fsn1", "nbg1", "hel1"]);
    let change = plan(config, Some(prior.clone())).unwrap();
    assert!(
        change
            .diagnostics
            .iter()
            .all(|d| d.summary != "Rolling update of the node pool"),
        "adding a location moves no node"
    );
    let mut config = config_json();
    config["locations"] = json!(["fsn1"]);
    let change = plan(config, Some(prior)).unwrap();
    let d = change
        .diagnostics
        .iter()
        .find(|d| d.summary == "Rolling update of the node pool")
        .expect("a rolling warning");
    assert!(
        d.detail.contains("prod-general-2 will be replaced")
            && !d.detail.contains("prod-general-1,"),
        "{}",
        d.detail
    );
}

/// A pool scale-down killed after a node's reset: the plan finishes the removal although the
/// refreshed node count matches the configuration.
#[test]
fn a_node_an_interrupted_removal_left_behind_makes_the_plan_finish_it() {
    let mut prior = prior_json();
    prior["leaving_nodes"] = json!(["prod-general-4"]);
    let change = plan(config_json(), Some(prior)).unwrap();
    let warnings: Vec<_> = change.diagnostics.iter().collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].summary, "Unfinished node removal");
    assert!(
        warnings[0].detail.contains("prod-general-4"),
        "{}",
        warnings[0].detail
    );
    assert_eq!(at(&change.planned, "leaving_nodes"), &Value::List(vec![]));
    assert!(!at(&change.planned, "nodes").is_known(), "the apply acts");

    let mut prior = prior_json();
    prior["leaving_nodes"] = json!([]);
    let change = plan(config_json(), Some(prior.clone())).unwrap();
    assert!(change.diagnostics.is_empty(), "{:?}", change.diagnostics);
    assert_eq!(change.planned, value_of(&schema(), prior));
}
