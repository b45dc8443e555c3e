//! What the API server serves beyond its built-in groups: the resources of stored
//! `CustomResourceDefinition`s (`apiextensions.k8s.io/v1`; kind, plural and scope from the CRD,
//! every served version) and the group/versions an `APIService` (`apiregistration.k8s.io/v1`,
//! named `<version>.<group>`) aggregates. A group that is neither built in nor defined so is not
//! served at all: its discovery document and its paths answer the API server's 404 ("the server
//! could not find the requested resource"), which is what a client meets before the
//! helm-controller created the `helm.cattle.io` CRDs.

use serde_json::{Value, json};

use super::store::Store;

/// API groups the Kubernetes API server serves itself (the core group is `""`).
pub const BUILTIN_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
];

/// One resource a CRD defines, in one served version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomResource {
    /// `group/version`.
    pub group_version: String,
    /// Plural name (the path segment).
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names (`hc`).
    pub short_names: Vec<String>,
}

/// The group of a `group/version` (`""` for `v1`).
pub fn group_of(group_version: &str) -> &str {
    group_version
        .rsplit_once('/')
        .map(|(g, _)| g)
        .unwrap_or_default()
}

/// Every resource the stored CRDs define.
pub fn custom_resources(store: &Store) -> Vec<CustomResource> {
    let mut out = Vec::new();
    for crd in store.items("apiextensions.k8s.io/v1", "customresourcedefinitions") {
        if crd["metadata"]["deletionTimestamp"].is_string() {
            continue;
        }
        let spec = &crd["spec"];
        let (Some(group), Some(plural), Some(kind)) = (
            spec["group"].as_str(),
            spec["names"]["plural"].as_str(),
            spec["names"]["kind"].as_str(),
        ) else {
            continue;
        };
        for version in spec["versions"].as_array().into_iter().flatten() {
            let Some(name) = version["name"].as_str() else {
                continue;
            };
            if version["served"] == false {
                continue;
            }
            out.push(CustomResource {
                group_version: format!("{group}/{name}"),
                plural: plural.to_string(),
                singular: spec["names"]["singular"]
                    .as_str()
                    .map_or_else(|| kind.to_lowercase(), str::to_string),
                kind: kind.to_string(),
                namespaced: spec["scope"] != "Cluster",
                short_names: spec["names"]["shortNames"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect(),
            });
        }
    }
    out
}

/// Whether an `APIService` aggregates this group/version.
pub fn aggregated(store: &Store, group_version: &str) -> bool {
    let Some((group, version)) = group_version.split_once('/') else {
        return false;
    };
    store
        .get(
            "apiregistration.k8s.io/v1",
            "apiservices",
            "",
            &format!("{version}.{group}"),
        )
        .is_some()
}

/// Whether the API server serves this group/version at all.
pub fn group_version_served(store: &Store, group_version: &str) -> bool {
    BUILTIN_GROUPS.contains(&group_of(group_version))
        || aggregated(store, group_version)
        || custom_resources(store)
            .iter()
            .any(|r| r.group_version == group_version)
}

/// Whether the API server serves this resource (a built-in group, an aggregated group/version,
/// or a resource a CRD defines).
pub fn served(store: &Store, group_version: &str, resource: &str) -> bool {
    BUILTIN_GROUPS.contains(&group_of(group_version))
        || aggregated(store, group_version)
        || custom_resources(store)
            .iter()
            .any(|r| r.group_version == group_version && r.plural == resource)
}

/// The `APIResourceList` entries of the CRD resources of a group/version.
pub fn discovery_entries(store: &Store, group_version: &str) -> Vec<Value> {
    custom_resources(store)
        .into_iter()
        .filter(|r| r.group_version == group_version)
        .flat_map(|r| {
            let main = json!({"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                "kind": r.kind, "verbs": ["delete", "deletecollection", "get", "list", "patch", "create", "update", "watch"],
                "shortNames": r.short_names, "storageVersionHash": ""});
            let status = json!({"name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced,
                "kind": r.kind, "verbs": ["get", "patch", "update"]});
            [main, status]
        })
        .collect()
}

/// The API server's 404 for a path it does not serve.
pub fn not_served() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": "the server could not find the requested resource", "reason": "NotFound",
           "details": {}, "code": 404})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_groups_are_served_only_once_their_crd_exists() {
        let mut store = Store::default();
        assert!(served(&store, "apps/v1", "deployments"));
        assert!(!served(&store, "helm.cattle.io/v1", "helmcharts"));
        assert!(!group_version_served(&store, "helm.cattle.io/v1"));
        store.put("apiextensions.k8s.io/v1", "customresourcedefinitions", json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "helmcharts.helm.cattle.io"},
            "spec": {"group": "helm.cattle.io", "scope": "Namespaced",
                     "names": {"kind": "HelmChart", "plural": "helmcharts", "singular": "helmchart", "shortNames": ["hc"]},
                     "versions": [{"name": "v1", "served": true, "storage": true}]}}), "t");
        assert!(served(&store, "helm.cattle.io/v1", "helmcharts"));
        assert!(!served(&store, "helm.cattle.io/v1", "helmchartconfigs"));
        let entries = discovery_entries(&store, "helm.cattle.io/v1");
        assert_eq!(entries[0]["kind"], "HelmChart");
        assert_eq!(entries[1]["name"], "helmcharts/status");
        assert!(!served(&store, "metrics.k8s.io/v1beta1", "nodes"));
        store.put(
            "apiregistration.k8s.io/v1",
            "apiservices",
            json!({"apiVersion": "apiregistration.k8s.io/v1",
            "kind": "APIService", "metadata": {"name": "v1beta1.metrics.k8s.io"}}),
            "t",
        );
        assert!(served(&store, "metrics.k8s.io/v1beta1", "nodes"));
    }
}
