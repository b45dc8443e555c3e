//! Request paths of stored objects ([`Target`]: group/version, resource, namespace, name,
//! subresource), the discovery documents for what is served, and reading PATCH bodies. The
//! reads and writes themselves are in [`super::crud`].

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::status;
use crate::talos::state::Fleet;

/// A parsed resource path.
#[derive(Debug, Clone)]
pub struct Target {
    /// `v1` or `group/version`.
    pub group_version: String,
    /// Plural resource name.
    pub resource: String,
    /// Namespace, for namespaced paths.
    pub namespace: Option<String>,
    /// Object name.
    pub name: Option<String>,
    /// Subresource (`status`, `eviction`, …).
    pub subresource: Option<String>,
}

impl Target {
    /// Parses `/api/v1/...` or `/apis/<group>/<version>/...`.
    pub fn parse(path: &str) -> Option<Target> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let (group_version, rest) = match segments.as_slice() {
            ["api", "v1", rest @ ..] => ("v1".to_string(), rest),
            ["apis", group, version, rest @ ..] => (format!("{group}/{version}"), rest),
            _ => return None,
        };
        let some = |s: &str| Some(s.to_string());
        let (resource, namespace, name, subresource) = match rest {
            ["namespaces", ns, resource] => (*resource, some(ns), None, None),
            ["namespaces", ns, resource, name] => (*resource, some(ns), some(name), None),
            ["namespaces", ns, resource, name, sub] => (*resource, some(ns), some(name), some(sub)),
            // `/api/v1/namespaces/{name}` itself is a cluster-scoped object.
            [resource] => (*resource, None, None, None),
            [resource, name] => (*resource, None, some(name), None),
            [resource, name, sub] => (*resource, None, some(name), some(sub)),
            _ => return None,
        };
        Some(Target {
            group_version,
            resource: resource.to_string(),
            namespace,
            name,
            subresource,
        })
    }
}

/// The kind of a resource the sim knows by name, e.g. `Deployment` for `("apps/v1", "deployments")`.
pub fn known_kind(group_version: &str, resource: &str) -> Option<&'static str> {
    KNOWN_RESOURCES
        .iter()
        .find(|(gv, plural, _, _)| *gv == group_version && *plural == resource)
        .map(|(_, _, kind, _)| *kind)
}

/// Resources the sim knows by name: `(group/version, plural, kind, namespaced)`.
const KNOWN_RESOURCES: &[(&str, &str, &str, bool)] = &[
    ("v1", "nodes", "Node", false),
    ("v1", "namespaces", "Namespace", false),
    ("v1", "secrets", "Secret", true),
    ("v1", "configmaps", "ConfigMap", true),
    ("v1", "serviceaccounts", "ServiceAccount", true),
    ("v1", "pods", "Pod", true),
    ("v1", "services", "Service", true),
    (
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
    ),
    ("v1", "persistentvolumes", "PersistentVolume", false),
    ("storage.k8s.io/v1", "storageclasses", "StorageClass", false),
    (
        "storage.k8s.io/v1",
        "volumeattachments",
        "VolumeAttachment",
        false,
    ),
    ("apps/v1", "deployments", "Deployment", true),
    ("apps/v1", "replicasets", "ReplicaSet", true),
    ("apps/v1", "statefulsets", "StatefulSet", true),
    ("apps/v1", "daemonsets", "DaemonSet", true),
    ("batch/v1", "jobs", "Job", true),
    (
        "policy/v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
    ),
    ("v1", "events", "Event", true),
    (
        "apiextensions.k8s.io/v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
    ),
    (
        "apiregistration.k8s.io/v1",
        "apiservices",
        "APIService",
        false,
    ),
    ("storage.k8s.io/v1", "csidrivers", "CSIDriver", false),
    ("rbac.authorization.k8s.io/v1", "roles", "Role", true),
    (
        "rbac.authorization.k8s.io/v1",
        "rolebindings",
        "RoleBinding",
        true,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "clusterroles",
        "ClusterRole",
        false,
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
    ),
];

fn resource_json(name: &str, kind: &str, namespaced: bool) -> Value {
    json!({"name": name, "singularName": kind.to_lowercase(), "namespaced": namespaced, "kind": kind,
           "verbs": ["create", "delete", "get", "list", "patch", "update"]})
}

/// `/api/v1` and `/apis/<group>/<version>` discovery: the known resources of that group/version,
/// the resources its CRDs define, plus any other resource of a built-in group holding objects
/// (kind and scope taken from a stored object). `None` for a group/version the server does not
/// serve (see [`super::crds`]) or has nothing of. The core group lists `pods/eviction` (policy/v1
/// `Eviction`) as kubectl drain looks for it.
pub fn group_resources(fleet: &Fleet, key: &str, group_version: &str) -> Option<Value> {
    let store = &fleet.clusters.get(key)?.kube;
    if !super::crds::group_version_served(store, group_version) {
        return None;
    }
    let mut resources: Vec<Value> = KNOWN_RESOURCES
        .iter()
        .filter(|(gv, ..)| *gv == group_version)
        .map(|(_, name, kind, namespaced)| resource_json(name, kind, *namespaced))
        .collect();
    resources.extend(super::crds::discovery_entries(store, group_version));
    let builtin = super::crds::BUILTIN_GROUPS.contains(&super::crds::group_of(group_version));
    if let Some(c) = fleet.clusters.get(key).filter(|_| builtin) {
        for ((gv, resource), objects) in &c.kube.objects {
            let known = KNOWN_RESOURCES
                .iter()
                .any(|(g, r, ..)| g == gv && r == resource);
            if gv != group_version || known {
                continue;
            }
            if let Some(((ns, _), obj)) = objects.iter().next() {
                let kind = obj["kind"].as_str().unwrap_or_default();
                resources.push(resource_json(resource, kind, !ns.is_empty()));
            }
        }
    }
    if resources.is_empty() {
        return None;
    }
    if group_version == "v1" {
        resources.push(json!({"name": "pods/eviction", "singularName": "", "namespaced": true, "group": "policy",
            "version": "v1", "kind": "Eviction", "verbs": ["create"]}));
        resources.push(json!({"name": "pods/status", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get", "patch", "update"]}));
    }
    super::discovery::decorate(group_version, &mut resources);
    Some(
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}),
    )
}

/// `/apis` discovery: well-known groups, the groups of CRDs and APIServices, plus every served
/// group holding objects.
pub fn api_groups(fleet: &Fleet, key: &str) -> Value {
    let mut gvs: std::collections::BTreeSet<String> = [
        "apps/v1",
        "batch/v1",
        "policy/v1",
        "storage.k8s.io/v1",
        "rbac.authorization.k8s.io/v1",
        "apiextensions.k8s.io/v1",
        "apiregistration.k8s.io/v1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(c) = fleet.clusters.get(key) {
        gvs.extend(
            super::crds::custom_resources(&c.kube)
                .into_iter()
                .map(|r| r.group_version),
        );
        gvs.extend(
            c.kube
                .items("apiregistration.k8s.io/v1", "apiservices")
                .iter()
                .filter_map(|a| {
                    Some(format!(
                        "{}/{}",
                        a["spec"]["group"].as_str()?,
                        a["spec"]["version"].as_str()?
                    ))
                }),
        );
        gvs.extend(
            c.kube
                .objects
                .keys()
                .map(|(gv, _)| gv.clone())
                .filter(|gv| gv.contains('/'))
                .filter(|gv| super::crds::group_version_served(&c.kube, gv)),
        );
    }
    let groups: Vec<Value> = gvs
        .iter()
        .filter_map(|gv| gv.split_once('/'))
        .map(|(g, v)| json!({"name": g, "versions": [{"groupVersion": format!("{g}/{v}"), "version": v}], "preferredVersion": {"groupVersion": format!("{g}/{v}"), "version": v}}))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// Reads a PATCH/apply body (JSON or YAML) into JSON.
pub fn patch_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, Box<Response>> {
    read_patch(headers, body).map_err(Box::new)
}

// The error is the finished HTTP reply; it is boxed by `patch_body` for callers.
#[allow(clippy::result_large_err)]
fn read_patch(headers: &HeaderMap, body: &Bytes) -> Result<Value, Response> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let text = std::str::from_utf8(body)
        .map_err(|_| status(StatusCode::BAD_REQUEST, "BadRequest", "body is not UTF-8"))?;
    if content_type.starts_with("application/json-patch+json") {
        return Err(status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "JSON patch (RFC 6902) is not modelled by the sim; use merge patch or server-side apply",
        ));
    }
    if content_type.starts_with("application/apply-patch+yaml") {
        return serde_saphyr::from_str::<Value>(text).map_err(|e| {
            status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("invalid YAML: {e}"),
            )
        });
    }
    serde_json::from_str(text).map_err(|e| {
        status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("invalid JSON: {e}"),
        )
    })
}

pub(crate) fn query_value<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_lists_each_known_resource_once() {
        let mut seen = std::collections::BTreeSet::new();
        for (gv, plural, kind, _) in KNOWN_RESOURCES {
            assert!(seen.insert((gv, plural)), "{gv} {plural} is listed twice");
            assert_eq!(known_kind(gv, plural), Some(*kind));
        }
    }
}
