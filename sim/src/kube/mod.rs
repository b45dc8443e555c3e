//! The Kubernetes API of a simulated cluster, served by every control plane on 6443 (and through
//! the load balancer) once etcd is bootstrapped, while etcd has quorum. Client-certificate
//! authentication: a certificate from the cluster's Kubernetes CA with O=system:masters has full
//! access, any other identity gets 403, no certificate 401. Serves `/version`, `/readyz`,
//! `/livez`, discovery, Nodes derived from the Talos nodes (Ready when a CNI runs: flannel built
//! in, or Cilium once installed), and any other object kept in a [`store::Store`].

pub mod accounting;
pub mod admission;
pub mod apply;
pub mod autoscaler;
pub mod capacity;
pub mod ccm;
pub mod changes;
pub mod components;
pub mod crds;
pub mod crud;
pub mod csi;
pub mod defaults;
pub mod discovery;
pub mod events;
pub mod eviction;
pub mod heartbeat;
pub mod helm;
pub mod jobs;
pub mod jsonpatch;
pub mod metrics;
pub mod nodes;
pub mod objects;
pub mod openapi;
pub mod patching;
pub mod podcidr;
pub mod protobuf;
pub mod quantity;
pub mod reconcile;
pub mod reviews;
pub mod scheduler;
pub mod select;
pub mod smp;
pub mod static_pods;
pub mod storage;
pub mod store;
pub mod tables;
pub mod unmodelled;
pub mod watch;
pub mod workloads;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::talos::TalosSim;
use crate::talos::state::Fleet;

/// An authenticated client.
#[derive(Debug, Clone)]
pub struct User {
    /// CN.
    pub name: String,
    /// O= entries.
    pub groups: Vec<String>,
}

/// What one connection's handlers know.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The sim.
    pub sim: Arc<TalosSim>,
    /// The cluster key.
    pub cluster: String,
    /// The client, if it presented a certificate.
    pub user: Option<User>,
}

/// The router for one connection.
pub fn router(ctx: Ctx) -> Router {
    Router::new().fallback(handle).with_state(ctx)
}

/// A Kubernetes `Status` reply.
pub fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code.as_u16()});
    (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The 404 of a missing object, as the API server words it: `deployments.apps "web" not found`,
/// with `details` naming it.
pub fn not_found(group_version: &str, resource: &str, name: &str) -> Response {
    let group = group_version
        .rsplit_once('/')
        .map(|(g, _)| g)
        .unwrap_or_default();
    let qualified = if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    };
    let mut details = json!({"name": name, "kind": resource});
    if !group.is_empty() {
        details["group"] = json!(group);
    }
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": format!("{qualified} \"{name}\" not found"), "reason": "NotFound",
        "details": details, "code": 404});
    ok_json(StatusCode::NOT_FOUND, &body)
}

/// A JSON reply.
pub fn ok_json(code: StatusCode, body: &Value) -> Response {
    (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(State(ctx): State<Ctx>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query: Vec<(String, String)> = parts
        .uri
        .query()
        .map(|q| serde_urlencoded::from_str(q).unwrap_or_default())
        .unwrap_or_default();
    ctx.sim
        .world
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .stats
        .record_kube(accounting::key(&parts.method, &path, &query));
    if let Some(refusal) = injected_fault(&ctx, &parts.method, &path, &query) {
        return refusal;
    }
    // Controllers catch up first, so that whatever is due shows in this reply.
    reconcile::run(&ctx.sim);
    let response = dispatch(&ctx, &parts.method, &path, &query, &parts.headers, &body);
    let response = as_table(&ctx, &parts.method, &path, &query, &parts.headers, response).await;
    // Controllers react to a write at once (as they do within milliseconds in a real cluster),
    // so that what a write starts is timed from the write, not from the next pass of the loop.
    if parts.method != Method::GET {
        reconcile::run(&ctx.sim);
    }
    response
}

/// The `kube_5xx` / `kube_429` fault this request meets, as the API server would answer it
/// before handling the request (see [`crate::faults`]).
fn injected_fault(
    ctx: &Ctx,
    method: &Method,
    path: &str,
    query: &[(String, String)],
) -> Option<Response> {
    // A watch is long-running: the in-flight limits never refuse one.
    let watch = *method == Method::GET && watch::route(path, query).is_some();
    let fault = ctx.sim.api_faults.lock().kube_request(watch)?;
    tracing::debug!(%method, path, ?fault, "Kubernetes API fault");
    Some(match fault {
        crate::faults::KubeFault::TooManyRequests => (
            StatusCode::TOO_MANY_REQUESTS,
            [
                ("content-type", "text/plain; charset=utf-8"),
                ("x-content-type-options", "nosniff"),
                ("retry-after", "1"),
            ],
            "Too many requests, please try again later.\n",
        )
            .into_response(),
        crate::faults::KubeFault::ServerError(503) => status(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        crate::faults::KubeFault::ServerError(_) => {
            let cause = "etcdserver: leader changed";
            let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": format!("Internal error occurred: {cause}"), "reason": "InternalError",
                "details": {"causes": [{"message": cause}]}, "code": 500});
            ok_json(StatusCode::INTERNAL_SERVER_ERROR, &body)
        }
    })
}

/// A successful read turned into the Table the client asked for (`kubectl get`).
async fn as_table(
    ctx: &Ctx,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    response: Response,
) -> Response {
    let accept = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // A watch streams until it ends: its events are not turned into tables (kubectl prints
    // them with its default NAME/AGE columns).
    let watch = matches!(objects::query_value(query, "watch"), Some("true" | "1"))
        || watch::route(path, query).is_some();
    if *method != Method::GET
        || watch
        || response.status() != StatusCode::OK
        || !tables::wants_table(accept)
    {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let table = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|reply| {
            tables::table(
                &reply,
                objects::query_value(query, "includeObject"),
                &ctx.sim.kube_timestamp(),
            )
        });
    match table {
        Some(t) => ok_json(StatusCode::OK, &t),
        None => Response::from_parts(parts, axum::body::Body::from(bytes)),
    }
}

fn dispatch(
    ctx: &Ctx,
    method: &Method,
    path: &str,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let mut fleet = ctx.sim.lock();
    let serving = fleet.kube_serving(&ctx.cluster);
    if matches!(path, "/readyz" | "/livez" | "/healthz") {
        return if serving || path == "/livez" {
            (StatusCode::OK, "ok").into_response()
        } else {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "[-]etcd failed: etcd cluster has no quorum\nreadyz check failed",
            )
                .into_response()
        };
    }
    let Some(user) = &ctx.user else {
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    };
    if !user.groups.iter().any(|g| g == "system:masters") {
        return status(
            StatusCode::FORBIDDEN,
            "Forbidden",
            &format!(
                "User \"{}\" cannot {} resource at path {path}: only system:masters is authorized in the sim",
                user.name,
                method.as_str().to_lowercase()
            ),
        );
    }
    if !serving {
        return status(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "etcdserver: request timed out (etcd has no quorum)",
        );
    }
    // kubectl's protobuf bodies become JSON here, so that every handler below reads JSON only.
    if path != "/version"
        && let Some(refusal) = protobuf::not_acceptable(headers)
    {
        return refusal;
    }
    let converted = match protobuf::read_body(headers, body) {
        Ok(converted) => converted,
        Err(refusal) => return *refusal,
    };
    let (headers, body) = converted.as_ref().map_or((headers, body), |(h, b)| (h, b));
    let timestamp = ctx.sim.kube_timestamp();
    let ca = root_ca(&fleet, &ctx.cluster);
    if let Some(cluster) = fleet.clusters.get_mut(&ctx.cluster) {
        cluster.kube.ensure_defaults(&timestamp, ca.as_deref());
    }
    match path {
        "/version" => return ok_json(StatusCode::OK, &version_json(&fleet, &ctx.cluster)),
        "/api" => {
            return ok_json(
                StatusCode::OK,
                &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:6443"}]}),
            );
        }
        "/apis" => {
            return ok_json(StatusCode::OK, &objects::api_groups(&fleet, &ctx.cluster));
        }
        _ => {}
    }
    if path.starts_with("/openapi/") {
        let served = openapi_served(&fleet, &ctx.cluster);
        if let Some(reply) = openapi::handle(path, query, headers, &served) {
            return reply;
        }
    }
    if path.trim_matches('/').starts_with("apis/metrics.k8s.io") {
        let kubelets = kubelets(&fleet, &ctx.cluster);
        let served = fleet
            .clusters
            .get(&ctx.cluster)
            .and_then(|c| metrics::handle(&c.kube, &kubelets, path, query, &timestamp));
        return served.unwrap_or_else(|| {
            status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
            )
        });
    }
    let group_version = match path
        .trim_matches('/')
        .split('/')
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["api", "v1"] => Some("v1".to_string()),
        ["apis", group, version] => Some(format!("{group}/{version}")),
        _ => None,
    };
    if let Some(gv) = group_version {
        return match objects::group_resources(&fleet, &ctx.cluster, &gv) {
            Some(list) => ok_json(StatusCode::OK, &list),
            None => ok_json(StatusCode::NOT_FOUND, &crds::not_served()),
        };
    }
    // A watch is a GET of the collection (or object) it watches.
    let watched = (*method == Method::GET)
        .then(|| watch::route(path, query))
        .flatten();
    let path = watched.as_deref().unwrap_or(path);
    let Some(target) = objects::Target::parse(path) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("the server could not find the requested resource ({path})"),
        );
    };
    if let Some(refusal) = unmodelled::refusal(&target) {
        return refusal;
    }
    if watched.is_some() {
        return watch::start(ctx, &fleet, &target, query);
    }
    let review = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    if let Some(reply) = reviews::handle(&target, method, user, &review) {
        return reply;
    }
    let warnings =
        match field_validation(&fleet, &ctx.cluster, method, &target, query, headers, body) {
            Ok(w) => w,
            Err(refusal) => return refusal,
        };
    let mut response = serve_object(
        ctx, &mut fleet, method, &target, query, headers, body, &timestamp,
    );
    for warning in warnings {
        if let Ok(v) = warning.parse() {
            response.headers_mut().append("warning", v);
        }
    }
    response
}

/// [`openapi::validate::request`] for a request on a stored object.
// The error is the finished HTTP reply.
#[allow(clippy::result_large_err)]
fn field_validation(
    fleet: &Fleet,
    key: &str,
    method: &Method,
    target: &objects::Target,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Vec<String>, Response> {
    let existing_kind = target.name.as_ref().and_then(|name| {
        if target.group_version == "v1" && target.resource == "nodes" {
            return Some("Node".to_string());
        }
        let ns = target.namespace.as_deref().unwrap_or_default();
        fleet
            .clusters
            .get(key)?
            .kube
            .get(&target.group_version, &target.resource, ns, name)?["kind"]
            .as_str()
            .map(str::to_string)
    });
    // Subresources (status, eviction) have bodies of other kinds.
    if target.subresource.is_some() {
        return Ok(Vec::new());
    }
    openapi::validate::request(
        method,
        &target.group_version,
        existing_kind.as_deref(),
        query,
        headers,
        body,
    )
}

#[allow(clippy::too_many_arguments)]
fn serve_object(
    ctx: &Ctx,
    fleet: &mut Fleet,
    method: &Method,
    target: &objects::Target,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
    timestamp: &str,
) -> Response {
    if target.group_version == "v1" && target.resource == "nodes" {
        return nodes::handle(fleet, &ctx.cluster, method, target, query, headers, body);
    }
    let Some(cluster) = fleet.clusters.get_mut(&ctx.cluster) else {
        return status(StatusCode::NOT_FOUND, "NotFound", "no cluster");
    };
    if !crds::served(&cluster.kube, &target.group_version, &target.resource) {
        return ok_json(StatusCode::NOT_FOUND, &crds::not_served());
    }
    crud::handle(
        &mut cluster.kube,
        method,
        target,
        query,
        headers,
        body,
        timestamp,
    )
}

/// The cluster's Kubernetes CA certificate (PEM), from its nodes' machine configurations.
pub fn root_ca(fleet: &Fleet, key: &str) -> Option<String> {
    fleet
        .cluster_nodes(key)
        .find_map(|n| n.config.as_ref().map(|c| c.kube_ca_crt.clone()))
        .filter(|ca| !ca.is_empty())
}

/// The group/versions `/apis` lists for the cluster, and the core `v1`.
fn openapi_served(fleet: &Fleet, key: &str) -> std::collections::BTreeSet<String> {
    let groups = objects::api_groups(fleet, key);
    let mut served: std::collections::BTreeSet<String> = groups["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["versions"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v["groupVersion"].as_str().map(str::to_string))
        .collect();
    served.insert("v1".into());
    served
}

/// The cluster's kubelets as metrics-server sees them.
fn kubelets(fleet: &Fleet, key: &str) -> Vec<metrics::Kubelet> {
    nodes::list(fleet, key)
        .into_iter()
        .map(|node| {
            let talos = fleet
                .cluster_nodes(key)
                .find(|n| node["metadata"]["name"] == n.hostname().as_str());
            metrics::Kubelet {
                up: talos.is_some_and(|n| n.is_up()),
                serving_certificates: talos
                    .and_then(|n| n.config.as_ref())
                    .is_some_and(|c| c.kubelet_serving_certificates),
                node,
            }
        })
        .collect()
}

fn version_json(fleet: &Fleet, key: &str) -> Value {
    let version = fleet
        .cluster_nodes(key)
        .filter(|n| n.is_control_plane())
        .filter_map(|n| n.config.as_ref().map(|c| c.kubelet_version.clone()))
        .next()
        .unwrap_or_default();
    let mut parts = version.trim_start_matches('v').split('.');
    json!({
        "major": parts.next().unwrap_or_default(),
        "minor": parts.next().unwrap_or_default(),
        "gitVersion": version,
        "gitCommit": "hk8s-sim",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.25",
        "compiler": "gc",
        "platform": "linux/amd64",
    })
}

/// `/_sim/state` → `kubernetes`: per cluster, its nodes and object counts by kind.
pub fn state_json(fleet: &Fleet) -> Value {
    Value::Array(
        fleet
            .clusters
            .iter()
            .map(|(key, c)| {
                let name = fleet
                    .cluster_nodes(key)
                    .find_map(|n| n.config.as_ref().map(|c| c.cluster_name.clone()))
                    .unwrap_or_default();
                json!({
                    "cluster": name,
                    "key": key,
                    "bootstrapped": c.bootstrapped,
                    "quorum": fleet.has_quorum(key),
                    "etcd_members": c.members.len(),
                    "nodes": nodes::list(fleet, key).into_iter().map(|n| json!({
                        "name": n["metadata"]["name"],
                        "ready": nodes::is_ready(&n),
                        "unschedulable": n["spec"]["unschedulable"].as_bool().unwrap_or(false),
                    })).collect::<Vec<_>>(),
                    "objects": c.kube.counts(),
                    "helm_releases": c.kube.releases.values().map(helm::Release::json).collect::<Vec<_>>(),
                    "ccm_load_balancers": ccm::load_balancers::state_json(&c.kube),
                    "ccm": ccm::state_json(&c.kube, components::running(&c.kube, ccm::CCM_CHART).is_some()),
                    "csi": csi::state_json(&c.kube),
                    "autoscaler": autoscaler::state_json(&c.kube),
                })
            })
            .collect(),
    )
}
