//! Generic objects of any group/version/resource: GET, LIST, POST, PUT, PATCH (JSON merge,
//! strategic merge treated as merge, and server-side apply with `fieldManager`), DELETE; plus
//! the discovery documents for what is stored.

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::store::{merge_patch, uid};
use super::{ok_json, status};
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
        let owned = |s: &&str| s.to_string();
        let (resource, namespace, name) = match rest {
            ["namespaces", ns, resource] => (resource.to_string(), Some(ns.to_string()), None),
            ["namespaces", ns, resource, name] => (
                resource.to_string(),
                Some(ns.to_string()),
                Some(name.to_string()),
            ),
            [resource] => (resource.to_string(), None, None),
            [resource, name] => (resource.to_string(), None, Some(name.to_string())),
            _ => return None,
        };
        let _ = owned;
        Some(Target {
            group_version,
            resource,
            namespace,
            name,
        })
    }
}

/// `/api/v1` discovery.
pub fn core_resources() -> Value {
    let r = |name: &str, kind: &str, namespaced: bool| {
        json!({"name": name, "singularName": kind.to_lowercase(), "namespaced": namespaced, "kind": kind,
               "verbs": ["create", "delete", "get", "list", "patch", "update"]})
    };
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": [
        r("nodes", "Node", false), r("namespaces", "Namespace", false), r("secrets", "Secret", true),
        r("configmaps", "ConfigMap", true), r("serviceaccounts", "ServiceAccount", true),
        r("pods", "Pod", true), r("services", "Service", true),
    ]})
}

/// `/apis` discovery: well-known groups plus every group holding objects.
pub fn api_groups(fleet: &Fleet, key: &str) -> Value {
    let mut gvs: std::collections::BTreeSet<String> = [
        "apps/v1",
        "policy/v1",
        "helm.cattle.io/v1",
        "rbac.authorization.k8s.io/v1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(c) = fleet.clusters.get(key) {
        gvs.extend(
            c.kube
                .objects
                .keys()
                .map(|(gv, _)| gv.clone())
                .filter(|gv| gv.contains('/')),
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

fn query_value<'a>(query: &'a [(String, String)], key: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Handles one request for a stored resource.
#[allow(clippy::too_many_arguments)]
pub fn handle(
    fleet: &mut Fleet,
    key: &str,
    method: &Method,
    target: &Target,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
    timestamp: &str,
) -> Response {
    let Some(cluster) = fleet.clusters.get_mut(key) else {
        return status(StatusCode::NOT_FOUND, "NotFound", "no cluster");
    };
    let store = &mut cluster.kube;
    let ns = target.namespace.clone().unwrap_or_default();
    if !ns.is_empty() && !store.has_namespace(&ns) && *method != Method::GET {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("namespaces \"{ns}\" not found"),
        );
    }
    let rkey = (target.group_version.clone(), target.resource.clone());
    let Some(name) = target.name.clone() else {
        return match *method {
            Method::GET => {
                let items: Vec<Value> = store
                    .objects
                    .get(&rkey)
                    .map(|m| {
                        m.iter()
                            .filter(|((n, _), _)| target.namespace.is_none() || *n == ns)
                            .map(|(_, v)| v.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                let kind = items
                    .first()
                    .and_then(|i| i["kind"].as_str())
                    .map(|k| format!("{k}List"))
                    .unwrap_or_else(|| "List".into());
                ok_json(
                    StatusCode::OK,
                    &json!({"apiVersion": target.group_version, "kind": kind, "metadata": {"resourceVersion": "1"}, "items": items}),
                )
            }
            Method::POST => {
                let Ok(obj) = serde_json::from_slice::<Value>(body) else {
                    return status(
                        StatusCode::BAD_REQUEST,
                        "BadRequest",
                        "body is not a JSON object",
                    );
                };
                let Some(name) = obj["metadata"]["name"].as_str().map(str::to_string) else {
                    return status(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Invalid",
                        "metadata.name: Required value",
                    );
                };
                if store
                    .objects
                    .get(&rkey)
                    .is_some_and(|m| m.contains_key(&(ns.clone(), name.clone())))
                {
                    return status(
                        StatusCode::CONFLICT,
                        "AlreadyExists",
                        &format!("{} \"{name}\" already exists", target.resource),
                    );
                }
                let stored = finish(store, obj, &ns, &name, timestamp, None);
                store
                    .objects
                    .entry(rkey)
                    .or_default()
                    .insert((ns, name), stored.clone());
                ok_json(StatusCode::CREATED, &stored)
            }
            _ => status(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "unsupported method on a collection",
            ),
        };
    };
    let existing = store
        .objects
        .get(&rkey)
        .and_then(|m| m.get(&(ns.clone(), name.clone())))
        .cloned();
    let not_found = || {
        status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("{} \"{name}\" not found", target.resource),
        )
    };
    match *method {
        Method::GET => existing.map_or_else(not_found, |o| ok_json(StatusCode::OK, &o)),
        Method::DELETE => match store
            .objects
            .get_mut(&rkey)
            .and_then(|m| m.remove(&(ns, name.clone())))
        {
            Some(o) => ok_json(StatusCode::OK, &o),
            None => not_found(),
        },
        Method::PUT => {
            let Ok(obj) = serde_json::from_slice::<Value>(body) else {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "body is not a JSON object",
                );
            };
            let created = existing.is_none();
            let stored = finish(store, obj, &ns, &name, timestamp, existing.as_ref());
            store
                .objects
                .entry(rkey)
                .or_default()
                .insert((ns, name), stored.clone());
            ok_json(
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                &stored,
            )
        }
        Method::PATCH => {
            let apply = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.starts_with("application/apply-patch"));
            let patch = match patch_body(headers, body) {
                Ok(p) => p,
                Err(r) => return *r,
            };
            let manager = query_value(query, "fieldManager");
            if apply && manager.is_none_or(str::is_empty) {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "PATCH with server-side apply requires the fieldManager parameter",
                );
            }
            if !apply && existing.is_none() {
                return not_found();
            }
            let created = existing.is_none();
            let mut obj = existing.clone().unwrap_or_else(|| json!({}));
            merge_patch(&mut obj, &patch);
            let mut stored = finish(store, obj, &ns, &name, timestamp, existing.as_ref());
            if let Some(manager) = manager.filter(|_| apply) {
                let entry = json!({"manager": manager, "operation": "Apply", "apiVersion": target.group_version, "fieldsType": "FieldsV1", "time": timestamp});
                let managed = stored["metadata"]["managedFields"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut managed: Vec<Value> = managed
                    .into_iter()
                    .filter(|m| m["manager"] != manager)
                    .collect();
                managed.push(entry);
                stored["metadata"]["managedFields"] = Value::Array(managed);
            }
            store
                .objects
                .entry(rkey)
                .or_default()
                .insert((ns, name), stored.clone());
            ok_json(
                if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                },
                &stored,
            )
        }
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "unsupported method",
        ),
    }
}

/// Fills the server-managed metadata of an object being stored.
fn finish(
    store: &mut super::store::Store,
    mut obj: Value,
    ns: &str,
    name: &str,
    timestamp: &str,
    previous: Option<&Value>,
) -> Value {
    let rv = store.bump();
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    let meta = &mut obj["metadata"];
    meta["name"] = json!(name);
    if !ns.is_empty() {
        meta["namespace"] = json!(ns);
    }
    meta["resourceVersion"] = json!(rv);
    meta["uid"] = previous
        .map(|p| p["metadata"]["uid"].clone())
        .unwrap_or_else(|| json!(uid(name, &rv)));
    meta["creationTimestamp"] = previous
        .map(|p| p["metadata"]["creationTimestamp"].clone())
        .unwrap_or_else(|| json!(timestamp));
    obj
}
