//! Any object by `apiVersion` + `kind`: server-side apply, get, list with selectors, delete.
//! Objects are `serde_json::Value`s; the REST path comes from [`KubeClient::mapping`].

use std::collections::BTreeMap;

use http::Method;
use serde_json::Value;

use super::client::{Body, KubeClient};
use super::error::{Error, Result};

/// Which objects a LIST returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// `labelSelector`, e.g. `hk8s.io/cluster=prod,hk8s.io/role in (worker)`.
    pub label_selector: Option<String>,
    /// `fieldSelector`, e.g. `spec.nodeName=prod-worker-1`.
    pub field_selector: Option<String>,
}

impl ListOptions {
    /// Only objects matching this label selector.
    #[must_use]
    pub fn labels(mut self, selector: impl Into<String>) -> Self {
        self.label_selector = Some(selector.into());
        self
    }

    /// Only objects matching this field selector.
    #[must_use]
    pub fn fields(mut self, selector: impl Into<String>) -> Self {
        self.field_selector = Some(selector.into());
        self
    }

    fn query(&self) -> Vec<(&'static str, &str)> {
        let mut query = Vec::new();
        if let Some(labels) = self.label_selector.as_deref().filter(|s| !s.is_empty()) {
            query.push(("labelSelector", labels));
        }
        if let Some(fields) = self.field_selector.as_deref().filter(|s| !s.is_empty()) {
            query.push(("fieldSelector", fields));
        }
        query
    }
}

/// An equality selector `k1=v1,k2=v2` (keys sorted) matching objects that carry every label.
pub fn equality_selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// What a DELETE does to the object's dependents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Dependents are deleted first; the object goes once they are gone.
    Foreground,
    /// The object goes now; dependents are garbage-collected afterwards.
    Background,
    /// Dependents are left (their owner reference is removed).
    Orphan,
}

impl Propagation {
    fn as_str(self) -> &'static str {
        match self {
            Propagation::Foreground => "Foreground",
            Propagation::Background => "Background",
            Propagation::Orphan => "Orphan",
        }
    }
}

/// What a delete found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// The API accepted the deletion (finalizers may keep the object a while).
    Requested,
    /// There was no such object.
    AlreadyGone,
}

/// Reads `apiVersion`, `kind`, `metadata.namespace` and `metadata.name` of an object to apply.
fn identity(object: &Value) -> Result<(&str, &str, Option<&str>, &str)> {
    let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
    let name = text("/metadata/name").unwrap_or_default();
    let kind = text("/kind").unwrap_or_default();
    let api_version = text("/apiVersion").unwrap_or_default();
    let missing: Vec<&str> = [
        ("apiVersion", api_version),
        ("kind", kind),
        ("metadata.name", name),
    ]
    .iter()
    .filter(|(_, v)| v.is_empty())
    .map(|(field, _)| *field)
    .collect();
    if !missing.is_empty() {
        return Err(Error::InvalidObject {
            object: format!("{api_version} {kind} {name}").trim().to_owned(),
            reason: format!("missing {}", missing.join(", ")),
        });
    }
    let namespace = text("/metadata/namespace").filter(|ns| !ns.is_empty());
    Ok((api_version, kind, namespace, name))
}

impl KubeClient {
    /// Server-side apply: `PATCH` of the object's path with `application/apply-patch+yaml`
    /// (a JSON body, which is YAML) as `field_manager`. Creates the object or updates the fields
    /// the manager owns; with `force`, takes over fields other managers own instead of failing
    /// with a 409 conflict. Returns the object as stored.
    ///
    /// # Errors
    /// [`Error::InvalidObject`] for a missing `apiVersion`/`kind`/`metadata.name` or namespace,
    /// [`Error::UnknownKind`], and the API's refusal ([`Error::is_conflict`] for a field
    /// conflict without `force`).
    pub async fn apply(&self, object: &Value, field_manager: &str, force: bool) -> Result<Value> {
        let (api_version, kind, namespace, name) = identity(object)?;
        if field_manager.is_empty() {
            return Err(Error::InvalidObject {
                object: format!("{kind} {name}"),
                reason: "server-side apply needs a field manager".into(),
            });
        }
        let mapping = self.mapping(api_version, kind).await?;
        let path = mapping.object_path(namespace, name)?;
        let mut query = vec![("fieldManager", field_manager)];
        if force {
            query.push(("force", "true"));
        }
        let body = Body {
            content_type: "application/apply-patch+yaml",
            bytes: object.to_string().into_bytes(),
        };
        self.send(Method::PATCH, &path, &query, Some(body))
            .await?
            .into_json()
    }

    /// One object, `None` when it does not exist. `namespace` is required for namespaced kinds
    /// and must be `None` for cluster-scoped ones.
    ///
    /// # Errors
    /// [`Error::InvalidObject`], [`Error::UnknownKind`], transport, API and decode errors;
    /// a 404 is `Ok(None)`.
    pub async fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<Option<Value>> {
        let path = self
            .mapping(api_version, kind)
            .await?
            .object_path(namespace, name)?;
        match self.get_json(&path, &[]).await {
            Ok(object) => Ok(Some(object)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The objects of a kind in one namespace (or every namespace with `None`) matching the
    /// selectors, in one LIST.
    ///
    /// # Errors
    /// [`Error::InvalidObject`], [`Error::UnknownKind`], transport, API and decode errors.
    pub async fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        options: &ListOptions,
    ) -> Result<Vec<Value>> {
        #[derive(serde::Deserialize)]
        struct List {
            #[serde(default)]
            items: Vec<Value>,
        }
        let path = self
            .mapping(api_version, kind)
            .await?
            .collection_path(namespace)?;
        let list: List = self.get_json(&path, &options.query()).await?;
        Ok(list.items)
    }

    /// Deletes an object, with `propagation` for its dependents (the server's default for the
    /// kind when `None`).
    ///
    /// # Errors
    /// [`Error::InvalidObject`], [`Error::UnknownKind`], transport and API errors; a 404 is
    /// `Ok(Deletion::AlreadyGone)`.
    pub async fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        propagation: Option<Propagation>,
    ) -> Result<Deletion> {
        let path = self
            .mapping(api_version, kind)
            .await?
            .object_path(namespace, name)?;
        let body = propagation.map(|p| {
            Body::json(&serde_json::json!({
                "apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": p.as_str()
            }))
        });
        match self.send(Method::DELETE, &path, &[], body).await?.success() {
            Ok(_) => Ok(Deletion::Requested),
            Err(e) if e.is_not_found() => Ok(Deletion::AlreadyGone),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_become_query_parameters() {
        let options = ListOptions::default()
            .labels("hk8s.io/cluster=prod")
            .fields("spec.nodeName=prod-worker-1");
        assert_eq!(
            options.query(),
            [
                ("labelSelector", "hk8s.io/cluster=prod"),
                ("fieldSelector", "spec.nodeName=prod-worker-1")
            ]
        );
        assert!(ListOptions::default().labels("").query().is_empty());
        let labels = BTreeMap::from([
            ("hk8s.io/role".to_string(), "worker".to_string()),
            ("hk8s.io/cluster".to_string(), "prod".to_string()),
        ]);
        assert_eq!(
            equality_selector(&labels),
            "hk8s.io/cluster=prod,hk8s.io/role=worker"
        );
    }

    #[test]
    fn objects_to_apply_need_their_identity() {
        let object = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "x", "namespace": "kube-system"}});
        assert_eq!(
            identity(&object).unwrap(),
            ("v1", "ConfigMap", Some("kube-system"), "x")
        );
        let err = identity(&serde_json::json!({"kind": "ConfigMap", "metadata": {}})).unwrap_err();
        assert!(
            err.to_string()
                .contains("missing apiVersion, metadata.name"),
            "{err}"
        );
    }
}
