use serde_json::json;

use super::modify;
use crate::resources::addon::schema::schema;
use crate::resources::test_support::{default_planned, described, value_of};
use crate::tfplugin::diag::AttributePath;
use crate::tfplugin::framework::PlannedChange;
use crate::tfplugin::value::Value;

fn connection(cni: &str) -> serde_json::Value {
    json!({ "cluster_id": "prod", "name": "prod", "cni": cni, "talos_version": "v1.13.9" })
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

fn at<'a>(v: &'a Value, name: &str) -> &'a Value {
    v.at_path(&AttributePath::root(name)).unwrap()
}

#[test]
fn catalog_defaults_are_planned() {
    let change = plan(
        json!({ "cluster": connection("flannel"), "name": "cert-manager" }),
        None,
    )
    .unwrap();
    assert_eq!(at(&change.planned, "version"), &Value::from("v1.19.1"));
    assert_eq!(
        at(&change.planned, "namespace"),
        &Value::from("cert-manager")
    );
    assert_eq!(
        at(&change.planned, "id"),
        &Value::from("prod/cert-manager/cert-manager")
    );
    assert_eq!(at(&change.planned, "timeout"), &Value::from("10m"));
    assert!(!at(&change.planned, "revision").is_known());
}

#[test]
fn only_hcloud_csi_keeps_a_passphrase() {
    let change = plan(
        json!({ "cluster": connection("flannel"), "name": "metrics-server" }),
        None,
    )
    .unwrap();
    assert!(at(&change.planned, "encryption_passphrase").is_null());
    let change = plan(
        json!({ "cluster": connection("flannel"), "name": "hcloud-csi" }),
        None,
    )
    .unwrap();
    assert!(!at(&change.planned, "encryption_passphrase").is_known());
}

#[test]
fn unchanged_release_keeps_status_and_revision() {
    let config = json!({ "cluster": connection("flannel"), "name": "metrics-server" });
    let mut prior = config.clone();
    for (k, v) in [
        ("version", json!("3.13.0")),
        ("namespace", json!("kube-system")),
        ("wait", json!(true)),
        ("timeout", json!("10m")),
        ("id", json!("prod/kube-system/metrics-server")),
        ("status", json!("deployed")),
        ("revision", json!(1)),
    ] {
        prior[k] = v;
    }
    let change = plan(config.clone(), Some(prior.clone())).unwrap();
    assert_eq!(change.planned, value_of(&schema(), prior.clone()));
    let mut changed = config;
    changed["values"] = json!("args: [--kubelet-insecure-tls]");
    let change = plan(changed, Some(prior)).unwrap();
    assert!(!at(&change.planned, "revision").is_known());
    assert!(change.requires_replace.is_empty());
}
