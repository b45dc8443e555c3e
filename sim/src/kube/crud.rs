//! Reads and writes of stored objects of any group/version/resource: GET, LIST (with
//! `labelSelector` / `fieldSelector`), POST, PUT, PATCH (JSON merge, strategic merge and JSON
//! patch, see [`super::patching`]; server-side apply with field ownership, see [`super::apply`])
//! and DELETE
//! (objects with finalizers get `deletionTimestamp` and stay until their finalizers are removed).
//! The `status` subresource reads and writes the object itself; `pods/{name}/eviction` goes to
//! [`super::eviction`].

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::objects::{Target, patch_body, query_value};
use super::select::ListFilter;
use super::store::Store;
use super::{apply, eviction, ok_json, status};

/// Handles one request for a stored resource of one cluster.
pub fn handle(
    store: &mut Store,
    method: &Method,
    target: &Target,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
    timestamp: &str,
) -> Response {
    let ns = target.namespace.clone().unwrap_or_default();
    // Server-side dry run (`kubectl diff`, `--dry-run=server`): everything is checked and the
    // answer is what would be stored, but nothing is.
    let dry_run = query_value(query, "dryRun") == Some("All");
    // Bodies the sim cannot read (CBOR; protobuf was turned into JSON by `super::protobuf`) are
    // refused as an API server refuses a media type it does not accept.
    if matches!(*method, Method::POST | Method::PUT)
        && let Some(refusal) = unreadable_media_type(headers)
    {
        return refusal;
    }
    if !ns.is_empty() && !store.has_namespace(&ns) && *method != Method::GET {
        return super::not_found("v1", "namespaces", &ns);
    }
    let (gv, resource) = (target.group_version.as_str(), target.resource.as_str());
    let Some(name) = target.name.clone() else {
        return match *method {
            Method::GET => list(store, target, query),
            Method::POST => {
                let Some(mut obj) = object_body(body) else {
                    return bad_request("body is not a JSON object with an object metadata");
                };
                let Some(name) = obj["metadata"]["name"].as_str().map(str::to_string) else {
                    return status(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Invalid",
                        "metadata.name: Required value",
                    );
                };
                if store.get(gv, resource, &ns, &name).is_some() {
                    return status(
                        StatusCode::CONFLICT,
                        "AlreadyExists",
                        &format!("{resource} \"{name}\" already exists"),
                    );
                }
                set_namespace(&mut obj, &ns);
                match write(store, dry_run, gv, resource, obj, timestamp) {
                    Ok(stored) => ok_json(StatusCode::CREATED, &stored),
                    Err(refused) => refused,
                }
            }
            _ => status(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "unsupported method on a collection",
            ),
        };
    };
    match target.subresource.as_deref() {
        None | Some("status") => {}
        Some("log") if resource == "pods" && gv == "v1" && *method == Method::GET => {
            return pod_log(store, &ns, &name, query);
        }
        Some("eviction") if resource == "pods" && gv == "v1" && *method == Method::POST => {
            return eviction::evict(store, &ns, &name, body, dry_run, timestamp);
        }
        Some(other) => {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("the sim does not serve the {other} subresource of {resource}"),
            );
        }
    }
    let existing = store.get(gv, resource, &ns, &name).cloned();
    let not_found = || super::not_found(gv, resource, &name);
    match *method {
        Method::GET => existing.map_or_else(not_found, |o| ok_json(StatusCode::OK, &o)),
        Method::DELETE => {
            let Some(mut obj) = existing else {
                return not_found();
            };
            if gv == "v1"
                && resource == "namespaces"
                && PROTECTED_NAMESPACES.contains(&name.as_str())
            {
                return status(
                    StatusCode::FORBIDDEN,
                    "Forbidden",
                    &format!(
                        "namespaces \"{name}\" is forbidden: this namespace may not be deleted"
                    ),
                );
            }
            if dry_run {
                return ok_json(StatusCode::OK, &obj);
            }
            if gv == "v1" && resource == "namespaces" {
                // The namespace controller deletes what it holds, then the namespace goes.
                store.remove_namespace_contents(&name);
            }
            let has_finalizers = obj["metadata"]["finalizers"]
                .as_array()
                .is_some_and(|f| !f.is_empty());
            if has_finalizers {
                if !obj["metadata"]["deletionTimestamp"].is_string() {
                    obj["metadata"]["deletionTimestamp"] = json!(timestamp);
                }
                ok_json(StatusCode::OK, &store.put(gv, resource, obj, timestamp))
            } else {
                store.remove(gv, resource, &ns, &name);
                ok_json(StatusCode::OK, &obj)
            }
        }
        Method::PUT => {
            let Some(mut obj) = object_body(body) else {
                return bad_request("body is not a JSON object with an object metadata");
            };
            obj["metadata"]["name"] = json!(name);
            set_namespace(&mut obj, &ns);
            // Built-in kinds and custom resources are not created by an update.
            let Some(existing) = existing else {
                return not_found();
            };
            let expected = obj["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default();
            if !expected.is_empty()
                && Some(expected) != existing["metadata"]["resourceVersion"].as_str()
            {
                return conflict(gv, resource, &name);
            }
            match write(store, dry_run, gv, resource, obj, timestamp) {
                Ok(stored) => ok_json(StatusCode::OK, &stored),
                Err(refused) => refused,
            }
        }
        Method::PATCH => patch(
            store, target, &ns, &name, existing, query, headers, body, timestamp, dry_run,
        ),
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "unsupported method",
        ),
    }
}

/// `GET …/pods/{name}/log` (`container`, `previous`, `tailLines`): the output of the pod's
/// container as the helm job runner recorded it (other containers print nothing in the sim).
fn pod_log(store: &Store, ns: &str, name: &str, query: &[(String, String)]) -> Response {
    let Some(pod) = store.get("v1", "pods", ns, name) else {
        return super::not_found("v1", "pods", name);
    };
    let containers: Vec<&str> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let container = match query_value(query, "container") {
        Some(c) if containers.contains(&c) => c,
        Some(c) => {
            return bad_request(&format!("container {c} is not valid for pod {name}"));
        }
        None if containers.len() == 1 => containers[0],
        None => {
            return bad_request(&format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                containers.join(" ")
            ));
        }
    };
    let status = pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["name"] == container);
    let log = store.pod_logs.get(&(ns.to_string(), name.to_string()));
    let previous = query_value(query, "previous") == Some("true");
    let text = if previous {
        match log.and_then(|l| l.previous.clone()) {
            Some(t) => t,
            None => {
                return bad_request(&format!(
                    "previous terminated container {container:?} in pod {name:?} not found"
                ));
            }
        }
    } else {
        if let Some(reason) = status.and_then(|s| s["state"]["waiting"]["reason"].as_str())
            && log.is_none()
        {
            return bad_request(&format!(
                "container {container:?} in pod {name:?} is waiting to start: {reason}"
            ));
        }
        log.map(|l| l.current.clone()).unwrap_or_default()
    };
    let text = match query_value(query, "tailLines").and_then(|n| n.parse::<usize>().ok()) {
        Some(n) => {
            let lines: Vec<&str> = text.lines().collect();
            let mut tail = lines[lines.len().saturating_sub(n)..].join("\n");
            if !tail.is_empty() {
                tail.push('\n');
            }
            tail
        }
        None => text,
    };
    (StatusCode::OK, [("content-type", "text/plain")], text).into_response()
}

/// A request body that is a JSON object whose `metadata`, if any, is an object (with `metadata`
/// added when missing), so that later field writes cannot fail.
/// A 415 for request bodies in a format the sim does not read (protobuf, CBOR).
fn unreadable_media_type(headers: &HeaderMap) -> Option<Response> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let readable = content_type.is_empty()
        || content_type.starts_with("application/json")
        || content_type.starts_with("*/*");
    (!readable).then(|| {
        status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/vnd.kubernetes.protobuf (hk8s-sim does not read {content_type})"
            ),
        )
    })
}

/// Namespaces Kubernetes refuses to delete.
const PROTECTED_NAMESPACES: &[&str] = &["default", "kube-system", "kube-public"];

/// A failed `resourceVersion` precondition, in the API server's words.
/// Stores `obj` (or, for a dry run, answers what would be stored) unless the API server would
/// refuse it (typed decoding, Service allocation: see [`super::defaults`]).
// The error is the finished HTTP reply.
#[allow(clippy::result_large_err)]
fn write(
    store: &mut Store,
    dry_run: bool,
    gv: &str,
    resource: &str,
    obj: Value,
    timestamp: &str,
) -> Result<Value, Response> {
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or_default();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let previous = store.get(gv, resource, ns, name);
    if let Some((code, reason, message)) =
        super::defaults::refusal(store, gv, resource, &obj, previous)
    {
        let code = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
        return Err(status(code, reason, &message));
    }
    Ok(if dry_run {
        store.preview(gv, resource, obj, timestamp)
    } else {
        store.put(gv, resource, obj, timestamp)
    })
}

fn conflict(group_version: &str, resource: &str, name: &str) -> Response {
    let qualified = match group_version.split_once('/') {
        Some((group, _)) => format!("{resource}.{group}"),
        None => resource.to_string(),
    };
    status(
        StatusCode::CONFLICT,
        "Conflict",
        &format!(
            "Operation cannot be fulfilled on {qualified} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
        ),
    )
}

fn object_body(body: &Bytes) -> Option<Value> {
    let mut obj = serde_json::from_slice::<Value>(body).ok()?;
    well_formed(&mut obj).then_some(obj)
}

/// Whether an object is a JSON object with an object `metadata` (added when missing).
fn well_formed(obj: &mut Value) -> bool {
    let Value::Object(map) = obj else {
        return false;
    };
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()));
    meta.is_object()
}

fn bad_request(message: &str) -> Response {
    status(StatusCode::BAD_REQUEST, "BadRequest", message)
}

fn set_namespace(obj: &mut Value, ns: &str) {
    if !obj["metadata"].is_object() {
        obj["metadata"] = json!({});
    }
    if !ns.is_empty() {
        obj["metadata"]["namespace"] = json!(ns);
    }
}

fn list(store: &Store, target: &Target, query: &[(String, String)]) -> Response {
    let filter = match ListFilter::parse(
        query_value(query, "labelSelector"),
        query_value(query, "fieldSelector"),
    ) {
        Ok(f) => f,
        Err(e) => return bad_request(&e.to_string()),
    };
    let ns = target.namespace.as_deref();
    let items: Vec<Value> = store
        .items(&target.group_version, &target.resource)
        .into_iter()
        .filter(|o| {
            ns.is_none_or(|ns| o["metadata"]["namespace"].as_str().unwrap_or_default() == ns)
        })
        .filter(|o| filter.matches(o))
        .collect();
    // An empty list still names its kind (client-go decodes `DeploymentList`, not `List`).
    let kind = super::objects::known_kind(&target.group_version, &target.resource)
        .or_else(|| items.first().and_then(|i| i["kind"].as_str()))
        .map(|k| format!("{k}List"))
        .unwrap_or_else(|| "List".into());
    ok_json(
        StatusCode::OK,
        &json!({"apiVersion": target.group_version, "kind": kind, "metadata": {"resourceVersion": store.version()}, "items": items}),
    )
}

#[allow(clippy::too_many_arguments)]
fn patch(
    store: &mut Store,
    target: &Target,
    ns: &str,
    name: &str,
    existing: Option<Value>,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
    timestamp: &str,
    dry_run: bool,
) -> Response {
    let (gv, resource) = (target.group_version.as_str(), target.resource.as_str());
    let code = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let store_or_preview =
        |store: &mut Store, obj: Value| match write(store, dry_run, gv, resource, obj, timestamp) {
            Ok(stored) => ok_json(code, &stored),
            Err(refused) => refused,
        };
    let is_apply = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/apply-patch"));
    if !is_apply {
        let Some(existing) = existing else {
            return super::not_found(gv, resource, name);
        };
        let mut obj = match super::patching::patched(gv, resource, &existing, headers, body) {
            Ok(o) => o,
            Err(r) => return r,
        };
        if !well_formed(&mut obj) {
            return bad_request(
                "the patched object must stay a JSON object with an object metadata",
            );
        }
        obj["metadata"]["name"] = json!(name);
        set_namespace(&mut obj, ns);
        return store_or_preview(store, obj);
    }
    let patch = match patch_body(headers, body) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let Some(manager) = query_value(query, "fieldManager").filter(|m| !m.is_empty()) else {
        return bad_request("PATCH with server-side apply requires the fieldManager parameter");
    };
    if !patch.is_object() || !(patch["metadata"].is_object() || patch["metadata"].is_null()) {
        return bad_request("an apply configuration must be an object with an object metadata");
    }
    let force = query_value(query, "force") == Some("true");
    match apply::apply(existing.as_ref(), &patch, manager, force, gv, timestamp) {
        Ok(mut obj) => {
            if !well_formed(&mut obj) {
                return bad_request("metadata of an apply configuration must be an object");
            }
            obj["metadata"]["name"] = json!(name);
            set_namespace(&mut obj, ns);
            store_or_preview(store, obj)
        }
        Err(conflicts) => {
            let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": conflicts.message(), "reason": "Conflict",
                "details": {"causes": conflicts.causes()}, "code": 409});
            ok_json(StatusCode::CONFLICT, &body)
        }
    }
}
