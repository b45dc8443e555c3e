//! REST mapping: from `apiVersion` + `kind` to the resource path, found with discovery
//! (`GET /api/v1` or `GET /apis/<group>/<version>`) and cached per client. Path building and
//! discovery parsing are pure; only [`KubeClient::mapping`] does I/O.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;

use super::client::KubeClient;
use super::error::{Error, Result};

/// Where objects of one kind live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceMapping {
    /// `v1` or `group/version`.
    pub api_version: String,
    /// The kind, e.g. `ConfigMap`.
    pub kind: String,
    /// The plural resource name in paths, e.g. `configmaps`.
    pub resource: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
}

/// Percent-encodes one path segment (names and namespaces are DNS labels in practice; anything
/// else is encoded rather than allowed to change the path).
pub(crate) fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b':') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `/api/v1` for the core group, `/apis/<group>/<version>` otherwise.
pub fn group_version_path(api_version: &str) -> String {
    if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    }
}

impl ResourceMapping {
    /// `kind namespace/name` for messages.
    pub(crate) fn describe(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) => format!("{} {ns}/{name}", self.kind),
            None => format!("{} {name}", self.kind),
        }
    }

    /// The collection path: one namespace's objects, or every object of the kind when
    /// `namespace` is `None` (all namespaces for a namespaced kind).
    ///
    /// # Errors
    /// [`Error::InvalidObject`] when a namespace is given for a cluster-scoped kind.
    pub fn collection_path(&self, namespace: Option<&str>) -> Result<String> {
        let base = group_version_path(&self.api_version);
        match (self.namespaced, namespace) {
            (true, Some(ns)) => Ok(format!(
                "{base}/namespaces/{}/{}",
                segment(ns),
                self.resource
            )),
            (_, None) => Ok(format!("{base}/{}", self.resource)),
            (false, Some(ns)) => Err(Error::InvalidObject {
                object: format!("{} in namespace {ns}", self.kind),
                reason: format!("{} is cluster-scoped; give no namespace", self.kind),
            }),
        }
    }

    /// The path of one object.
    ///
    /// # Errors
    /// [`Error::InvalidObject`] when the name is empty, or the namespace is missing for a
    /// namespaced kind or given for a cluster-scoped one.
    pub fn object_path(&self, namespace: Option<&str>, name: &str) -> Result<String> {
        if name.is_empty() {
            return Err(Error::InvalidObject {
                object: self.kind.clone(),
                reason: "the name is empty".into(),
            });
        }
        if self.namespaced && namespace.is_none_or(str::is_empty) {
            return Err(Error::InvalidObject {
                object: self.describe(None, name),
                reason: format!("{} is namespaced; a namespace is required", self.kind),
            });
        }
        Ok(format!(
            "{}/{}",
            self.collection_path(namespace)?,
            segment(name)
        ))
    }
}

/// One entry of an `APIResourceList`.
#[derive(Debug, Clone, Deserialize)]
struct DiscoveredResource {
    name: String,
    kind: String,
    #[serde(default)]
    namespaced: bool,
}

/// A discovery document (`APIResourceList`).
#[derive(Debug, Clone, Deserialize)]
struct ResourceList {
    #[serde(default)]
    resources: Vec<DiscoveredResource>,
}

impl ResourceList {
    /// The main resource (not a subresource like `pods/eviction`) serving `kind`.
    fn find(&self, api_version: &str, kind: &str) -> Option<ResourceMapping> {
        self.resources
            .iter()
            .find(|r| r.kind == kind && !r.name.contains('/'))
            .map(|r| ResourceMapping {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
                resource: r.name.clone(),
                namespaced: r.namespaced,
            })
    }
}

/// Discovery documents already fetched, by group/version.
#[derive(Debug, Default)]
pub(crate) struct DiscoveryCache {
    lists: Mutex<HashMap<String, Arc<ResourceList>>>,
}

impl DiscoveryCache {
    fn cached(&self, api_version: &str) -> Option<Arc<ResourceList>> {
        self.lists
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(api_version)
            .cloned()
    }

    fn store(&self, api_version: &str, list: Arc<ResourceList>) {
        self.lists
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(api_version.to_owned(), list);
    }
}

impl KubeClient {
    /// Where objects of `kind` in `api_version` live. Uses the cached discovery document of the
    /// group/version; fetches it when absent, or again once when the kind is not in the cached
    /// copy (a CustomResourceDefinition may have been installed since).
    ///
    /// # Errors
    /// [`Error::UnknownKind`] when the group/version is not served (404) or does not list the
    /// kind; transport, API and decode errors of the discovery request.
    pub async fn mapping(&self, api_version: &str, kind: &str) -> Result<ResourceMapping> {
        if api_version.is_empty() || kind.is_empty() || api_version.split('/').count() > 2 {
            return Err(Error::InvalidObject {
                object: format!("{api_version} {kind}"),
                reason: "apiVersion must be `v1` or `group/version` and kind must not be empty"
                    .into(),
            });
        }
        if let Some(found) = self
            .discovery
            .cached(api_version)
            .and_then(|list| list.find(api_version, kind))
        {
            return Ok(found);
        }
        let unknown = || Error::UnknownKind {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
        };
        let list: ResourceList = match self.get_json(&group_version_path(api_version), &[]).await {
            Ok(list) => list,
            Err(e) if e.is_not_found() => return Err(unknown()),
            Err(e) => return Err(e),
        };
        let list = Arc::new(list);
        self.discovery.store(api_version, Arc::clone(&list));
        list.find(api_version, kind).ok_or_else(unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mapping(api_version: &str, kind: &str, resource: &str, namespaced: bool) -> ResourceMapping {
        ResourceMapping {
            api_version: api_version.into(),
            kind: kind.into(),
            resource: resource.into(),
            namespaced,
        }
    }

    #[test]
    fn core_and_group_paths() {
        let cm = mapping("v1", "ConfigMap", "configmaps", true);
        assert_eq!(
            cm.object_path(Some("kube-system"), "hk8s").unwrap(),
            "/api/v1/namespaces/kube-system/configmaps/hk8s"
        );
        assert_eq!(cm.collection_path(None).unwrap(), "/api/v1/configmaps");
        assert_eq!(
            cm.collection_path(Some("default")).unwrap(),
            "/api/v1/namespaces/default/configmaps"
        );
        let chart = mapping("helm.cattle.io/v1", "HelmChart", "helmcharts", true);
        assert_eq!(
            chart.object_path(Some("kube-system"), "cilium").unwrap(),
            "/apis/helm.cattle.io/v1/namespaces/kube-system/helmcharts/cilium"
        );
        let crb = mapping(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
        );
        assert_eq!(
            crb.object_path(None, "system:hk8s").unwrap(),
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/system:hk8s"
        );
    }

    #[test]
    fn scope_mismatches_are_refused() {
        let cm = mapping("v1", "ConfigMap", "configmaps", true);
        let err = cm.object_path(None, "x").unwrap_err();
        assert!(
            err.to_string()
                .contains("ConfigMap is namespaced; a namespace is required"),
            "{err}"
        );
        let ns = mapping("v1", "Namespace", "namespaces", false);
        let err = ns.object_path(Some("default"), "x").unwrap_err();
        assert!(
            err.to_string().contains("Namespace is cluster-scoped"),
            "{err}"
        );
        assert!(ns.object_path(None, "").is_err());
    }

    #[test]
    fn names_cannot_escape_their_segment() {
        assert_eq!(segment("web-0.a_b"), "web-0.a_b");
        assert_eq!(segment("../x?y"), "..%2Fx%3Fy");
    }

    #[test]
    fn discovery_finds_the_main_resource_of_a_kind() {
        let list: ResourceList = serde_json::from_value(serde_json::json!({
            "kind": "APIResourceList", "groupVersion": "v1",
            "resources": [
                {"name": "pods/eviction", "kind": "Eviction", "namespaced": true},
                {"name": "pods/status", "kind": "Pod", "namespaced": true},
                {"name": "pods", "kind": "Pod", "namespaced": true, "verbs": ["get"]},
                {"name": "nodes", "kind": "Node", "namespaced": false}
            ]
        }))
        .unwrap();
        assert_eq!(
            list.find("v1", "Pod"),
            Some(mapping("v1", "Pod", "pods", true))
        );
        assert_eq!(
            list.find("v1", "Node"),
            Some(mapping("v1", "Node", "nodes", false))
        );
        assert_eq!(list.find("v1", "Secret"), None);
    }
}
