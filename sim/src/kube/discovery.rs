//! The short names and categories of built-in resources in discovery, as Kubernetes 1.36 lists
//! them (`kubectl get po`, `kubectl get all`, `kubectl api-resources`).

use serde_json::{Value, json};

/// `(group, resource, short names, categories)`.
const NAMES: &[(&str, &str, &[&str], &[&str])] = &[
    ("", "pods", &["po"], &["all"]),
    ("", "services", &["svc"], &["all"]),
    ("", "replicationcontrollers", &["rc"], &["all"]),
    ("", "configmaps", &["cm"], &[]),
    ("", "namespaces", &["ns"], &[]),
    ("", "nodes", &["no"], &[]),
    ("", "serviceaccounts", &["sa"], &[]),
    ("", "persistentvolumeclaims", &["pvc"], &[]),
    ("", "persistentvolumes", &["pv"], &[]),
    ("", "events", &["ev"], &[]),
    ("", "endpoints", &["ep"], &[]),
    ("", "limitranges", &["limits"], &[]),
    ("", "resourcequotas", &["quota"], &[]),
    ("", "componentstatuses", &["cs"], &[]),
    ("apps", "deployments", &["deploy"], &["all"]),
    ("apps", "replicasets", &["rs"], &["all"]),
    ("apps", "statefulsets", &["sts"], &["all"]),
    ("apps", "daemonsets", &["ds"], &["all"]),
    ("batch", "jobs", &[], &["all"]),
    ("batch", "cronjobs", &["cj"], &["all"]),
    (
        "autoscaling",
        "horizontalpodautoscalers",
        &["hpa"],
        &["all"],
    ),
    ("policy", "poddisruptionbudgets", &["pdb"], &[]),
    ("storage.k8s.io", "storageclasses", &["sc"], &[]),
    ("networking.k8s.io", "ingresses", &["ing"], &[]),
    ("networking.k8s.io", "networkpolicies", &["netpol"], &[]),
    ("events.k8s.io", "events", &["ev"], &[]),
    ("scheduling.k8s.io", "priorityclasses", &["pc"], &[]),
    (
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        &["crd", "crds"],
        &["api-extensions"],
    ),
    (
        "apiregistration.k8s.io",
        "apiservices",
        &[],
        &["api-extensions"],
    ),
    (
        "admissionregistration.k8s.io",
        "mutatingwebhookconfigurations",
        &[],
        &["api-extensions"],
    ),
    (
        "admissionregistration.k8s.io",
        "validatingwebhookconfigurations",
        &[],
        &["api-extensions"],
    ),
];

/// Adds `shortNames` and `categories` to the built-in entries of an `APIResourceList`.
pub fn decorate(group_version: &str, resources: &mut [Value]) {
    let group = super::crds::group_of(group_version);
    for entry in resources.iter_mut() {
        let Some(name) = entry["name"].as_str() else {
            continue;
        };
        let Some((_, _, short, categories)) =
            NAMES.iter().find(|(g, r, ..)| *g == group && *r == name)
        else {
            continue;
        };
        if !short.is_empty() {
            entry["shortNames"] = json!(short);
        }
        if !categories.is_empty() {
            entry["categories"] = json!(categories);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_resources_get_their_short_names_and_categories() {
        let mut list = vec![
            json!({"name": "deployments"}),
            json!({"name": "pods/status"}),
            json!({"name": "widgets"}),
        ];
        decorate("apps/v1", &mut list);
        assert_eq!(list[0]["shortNames"], json!(["deploy"]));
        assert_eq!(list[0]["categories"], json!(["all"]));
        assert!(list[1].get("shortNames").is_none() && list[2].get("shortNames").is_none());
        let mut core = vec![json!({"name": "pods"}), json!({"name": "deployments"})];
        decorate("v1", &mut core);
        assert_eq!(core[0]["shortNames"], json!(["po"]));
        assert!(core[1].get("shortNames").is_none());
    }
}
