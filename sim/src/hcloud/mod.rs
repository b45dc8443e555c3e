//! The Hetzner Cloud API under `/v1`: one module per API family, sharing the world, the error
//! envelope and the list query language. A middleware in front of every route does what the real
//! API does before a handler runs: bearer authentication, the rate limit and its headers, injected
//! faults, and settling the actions whose time has come.

pub mod actions;
pub mod backups;
pub mod catalog;
pub mod certificates;
pub mod error;
pub mod firewalls;
pub mod floating_ips;
pub mod images;
pub mod isos;
pub mod list;
pub mod load_balancer_actions;
pub mod load_balancers;
pub mod metrics;
pub mod network_actions;
pub mod networks;
pub mod placement_groups;
pub mod pricing;
pub mod primary_ip_actions;
pub mod primary_ips;
pub mod rename;
pub mod request;
pub mod server_actions;
pub mod servers;
pub mod ssh_keys;
pub mod volume_actions;
pub mod volumes;

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::faults::RequestFault;
use crate::world::World;
use error::ApiError;

/// What every handler gets: the world (which knows the token clients must present).
#[derive(Clone)]
pub struct AppState {
    /// The simulated project.
    pub world: Arc<RwLock<World>>,
    /// The response checker, when the sim runs with one (served at `/_sim/openapi`).
    pub openapi: Option<Arc<crate::openapi::Checker>>,
}

/// The `/v1` router with its middleware.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(actions::routes())
        .merge(catalog::routes())
        .merge(servers::routes())
        .merge(server_actions::routes())
        .merge(networks::routes())
        .merge(firewalls::routes())
        .merge(load_balancers::routes())
        .merge(load_balancer_actions::routes())
        .merge(placement_groups::routes())
        .merge(pricing::routes())
        .merge(primary_ips::routes())
        .merge(primary_ip_actions::routes())
        .merge(actions::family_routes("primary_ips", "primary_ip"))
        .merge(images::routes())
        .merge(ssh_keys::routes())
        .merge(volumes::routes())
        .merge(isos::routes())
        .merge(floating_ips::routes())
        .merge(certificates::routes())
        .merge(metrics::routes())
        .merge(backups::routes())
        .fallback(unmodelled)
        // Hetzner answers a method a path does not take with its JSON `not_found`, never an
        // empty 405 (clients then decode the error as they decode every other).
        .method_not_allowed_fallback(unmodelled)
        .layer(middleware::from_fn_with_state(state.clone(), gatekeeper))
        .with_state(state)
}

/// Families of the real Hetzner Cloud API that hk8s-sim does not model (or only partly): a
/// request under them is refused saying so, rather than as if the API had no such endpoint.
const UNMODELLED_FAMILIES: &[&str] = &["storage_boxes", "storage_box_types", "zones"];

/// Hetzner's `not_found` for a path or method the API does not have, or the sim does not model.
async fn unmodelled(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    let path = uri.path();
    let path = path.strip_prefix("/v1").unwrap_or(path);
    let family = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let is_metrics = path.ends_with("/metrics");
    let is_action = path.contains("/actions/");
    if UNMODELLED_FAMILIES.contains(&family) || is_metrics || is_action {
        ApiError::unmodelled(format!("{method} {path}"))
    } else {
        ApiError::NotFound(format!(
            "{method} {path}: no such endpoint (or one hk8s-sim does not model)"
        ))
    }
}

async fn gatekeeper(
    State(app): State<AppState>,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    // Routes are counted without the `/v1` prefix: `GET /servers/{id}`.
    let path = matched.as_ref().map_or(req.uri().path(), |m| m.as_str());
    let route = format!(
        "{} {}",
        req.method(),
        path.strip_prefix("/v1").unwrap_or(path)
    );
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let refusal = {
        let mut world = app.write();
        let authorized = bearer.is_some_and(|t| world.accepts_token(t));
        world.stats.record(route);
        let now = world.clock.elapsed();
        let refusal = if !authorized {
            Some(ApiError::Unauthorized)
        } else if !world.rate_limit.try_take(now) {
            Some(ApiError::RateLimited)
        } else {
            match world.faults.on_request() {
                Some(RequestFault::RateLimited) => Some(ApiError::RateLimited),
                Some(RequestFault::ServerError(status)) => Some(ApiError::Injected5xx {
                    status,
                    code: if status == 503 {
                        "unavailable"
                    } else {
                        "service_error"
                    },
                    message: "injected fault: the service is temporarily unavailable".into(),
                }),
                None => None,
            }
        };
        if matches!(refusal, Some(ApiError::RateLimited)) {
            world.stats.rate_limited += 1;
        }
        if refusal.is_none() {
            world.settle_actions();
        }
        refusal
    };
    let mut response = match refusal {
        Some(error) => error.into_response(),
        None => next.run(req).await,
    };
    let world = app.read();
    let reset =
        world.clock.now_utc().unix_timestamp() + world.rate_limit.seconds_until_full() as i64;
    let headers = response.headers_mut();
    headers.insert(
        "RateLimit-Limit",
        HeaderValue::from(world.rate_limit.limit()),
    );
    headers.insert(
        "RateLimit-Remaining",
        HeaderValue::from(world.rate_limit.remaining()),
    );
    headers.insert("RateLimit-Reset", HeaderValue::from(reset));
    response
}
