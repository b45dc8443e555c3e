//! The sim's own endpoints under `/_sim` (no auth, no rate limit, never faulted):
//! `GET /_sim/stats`, `GET /_sim/state`, `POST /_sim/reset`, `GET /_sim/openapi` (what the
//! response checker found: `{"enabled", "total", "violations": [{method, path, operation,
//! status, pointer, message}]}`), and
//! `POST /_sim/load_balancers/{id}/pin` (`{"server": <id>}` or `{"server": null}`), which sends
//! every new connection to that load balancer to one server while the server is a healthy
//! target: the worst case of round robin, so that tests can reproduce what a client meets when
//! its connection lands on a node that is leaving. `POST
//! /_sim/server_types/{name}/locations/{location}/deprecation` with `{"announced": T,
//! "unavailable_after": T}` (RFC 3339) announces a per-location deprecation of a server type, as
//! Hetzner does (`server_types[].locations[].deprecation`; past `unavailable_after` the type is not
//! `available` there and `POST /servers` cannot place it); `null` withdraws it.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::hcloud::AppState;
use crate::hcloud::firewalls::firewall_json;
use crate::hcloud::images::image_json;
use crate::hcloud::load_balancers::load_balancer_json;
use crate::hcloud::networks::network_json;
use crate::hcloud::placement_groups::placement_group_json;
use crate::hcloud::servers::server_json;
use crate::hcloud::ssh_keys::key_json;
use crate::world::World;

/// `/_sim` routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/_sim/stats", get(stats))
        .route("/_sim/state", get(state_dump))
        .route("/_sim/reset", post(reset))
        .route("/_sim/openapi", get(openapi_violations))
        .route("/_sim/load_balancers/{id}/pin", post(pin))
        .route(
            "/_sim/server_types/{name}/locations/{location}/deprecation",
            post(deprecate),
        )
        .with_state(state)
}

async fn stats(State(app): State<AppState>) -> Json<Value> {
    let world = app.read();
    let api_faults = world.api_faults.lock();
    Json(json!({
        "total": world.stats.total,
        "requests": world.stats.requests,
        "rate_limited": world.stats.rate_limited,
        "rate_limit_lowest_remaining": world.rate_limit.lowest_remaining(),
        "kube_requests": world.stats.kube_requests,
        "talos_requests": world.stats.talos_requests,
        "ccm_requests": world.stats.ccm_requests,
        "csi_requests": world.stats.csi_requests,
        "autoscaler_requests": world.stats.autoscaler_requests,
        "autoscaler_scale_ups": world.stats.autoscaler_scale_ups,
        "autoscaler_scale_downs": world.stats.autoscaler_scale_downs,
        "helm_jobs": world.stats.helm_jobs,
        "factory_downloads": world.stats.factory_downloads,
        "faults_injected": world.faults.injected + api_faults.total(),
        "api_faults": api_faults.by_kind(),
    }))
}

/// The whole world in wire shapes, servers with the `user_data` they received.
pub fn dump(world: &World) -> Value {
    let d = &world.data;
    let now = world.clock.elapsed();
    json!({
        "servers": d.servers.values().map(|s| {
            let mut v = server_json(world, s);
            v["user_data"] = json!(s.user_data);
            v
        }).collect::<Vec<_>>(),
        "networks": d.networks.values().map(|n| network_json(world, n)).collect::<Vec<_>>(),
        "firewalls": d.firewalls.values().map(|f| firewall_json(world, f)).collect::<Vec<_>>(),
        "load_balancers": d.load_balancers.values().map(|l| load_balancer_json(world, l)).collect::<Vec<_>>(),
        "placement_groups": d.placement_groups.values().map(|p| placement_group_json(world, p)).collect::<Vec<_>>(),
        "images": d.images.values().map(|i| image_json(world, i)).collect::<Vec<_>>(),
        "ssh_keys": d.ssh_keys.values().map(key_json).collect::<Vec<_>>(),
        "volumes": d.volumes.values().map(crate::hcloud::volumes::volume_json).collect::<Vec<_>>(),
        "actions": d.actions.values().map(|a| a.to_json(now)).collect::<Vec<_>>(),
    })
}

async fn state_dump(State(app): State<AppState>) -> Json<Value> {
    let (mut state, sections) = {
        let mut world = app.write();
        world.settle_actions();
        (dump(&world), world.state_sections.clone())
    };
    // Sections are read without the world lock (they lock the Talos fleet).
    for (name, value) in sections.get() {
        state[name] = value;
    }
    Json(state)
}

async fn openapi_violations(State(app): State<AppState>) -> Json<Value> {
    Json(match &app.openapi {
        Some(checker) => json!({
            "enabled": true,
            "total": checker.total(),
            "violations": checker.violations(),
        }),
        None => json!({"enabled": false, "total": 0, "violations": []}),
    })
}

async fn reset(State(app): State<AppState>) -> impl IntoResponse {
    app.write().reset();
    StatusCode::NO_CONTENT
}

async fn pin(
    State(app): State<AppState>,
    Path(id): Path<i64>,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    let mut world = app.write();
    if !world.data.load_balancers.contains_key(&id) {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": {"code": "not_found", "message": format!("load balancer {id} not found")}})),
        )
            .into_response();
    }
    match body.get("server") {
        Some(Value::Null) | None => {
            world.lb_pins.remove(&id);
        }
        Some(server) => match server.as_i64() {
            Some(server) => {
                world.lb_pins.insert(id, server);
            }
            None => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({"error": {"code": "invalid_input", "message": "server must be a server id or null"}})),
                )
                    .into_response();
            }
        },
    }
    StatusCode::NO_CONTENT.into_response()
}

fn control_error(status: StatusCode, code: &str, message: String) -> axum::response::Response {
    (
        status,
        Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

async fn deprecate(
    State(app): State<AppState>,
    Path((name, location)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    let Some(server_type) = crate::catalog::server_type(&name) else {
        return control_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("server type {name:?} not found"),
        );
    };
    let Some(place) = crate::catalog::location(&location) else {
        return control_error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("location {location:?} not found"),
        );
    };
    if !server_type.available_in(place) {
        return control_error(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            format!("{name} is not sold in {location}"),
        );
    }
    let key = (server_type.name.to_string(), place.name.to_string());
    let mut world = app.write();
    if body.is_null() {
        world.server_type_deprecations.remove(&key);
        return StatusCode::NO_CONTENT.into_response();
    }
    let time = |field: &str| {
        body[field].as_str().filter(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).is_ok()
        })
    };
    let (Some(announced), Some(unavailable_after)) = (time("announced"), time("unavailable_after"))
    else {
        return control_error(
            StatusCode::BAD_REQUEST,
            "invalid_input",
            "the body must be null or {\"announced\": T, \"unavailable_after\": T} with RFC 3339 times".into(),
        );
    };
    let deprecation = crate::world::Deprecation {
        announced: announced.to_string(),
        unavailable_after: unavailable_after.to_string(),
    };
    world.server_type_deprecations.insert(key, deprecation);
    StatusCode::NO_CONTENT.into_response()
}
