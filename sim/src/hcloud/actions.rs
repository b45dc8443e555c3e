//! `/actions` (list with batched `?id=`, get) and the per-resource action lists that every family
//! exposes (`/servers/actions`, `/servers/{id}/actions`, `/servers/{id}/actions/{action_id}`, …).

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::list::{ListQuery, SortKey};
use super::request::{Reply, ok, parse_id};
use crate::world::{Action, World};

/// `/actions` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/actions", get(list_all))
        .route("/actions/{id}", get(get_one))
}

/// Per-resource action routes for a family whose API path is `/{family}` and whose action
/// resources have type `kind` (e.g. `servers`/`server`).
pub fn family_routes(family: &'static str, kind: &'static str) -> Router<AppState> {
    Router::new()
        .route(
            &format!("/{family}/actions"),
            get(
                move |State(app): State<AppState>, RawQuery(q): RawQuery| async move {
                    list(&app, q.as_deref(), |a| {
                        a.resources.iter().any(|(_, k)| k == kind)
                    })
                },
            ),
        )
        .route(
            &format!("/{family}/actions/{{action_id}}"),
            get(
                move |State(app): State<AppState>, Path(action_id): Path<String>| async move {
                    get_action(&app, &action_id, |a| {
                        a.resources.iter().any(|(_, k)| k == kind)
                    })
                },
            ),
        )
        .route(
            &format!("/{family}/{{id}}/actions"),
            get(
                move |State(app): State<AppState>,
                      Path(id): Path<String>,
                      RawQuery(q): RawQuery| async move {
                    let id = parse_id(kind, &id)?;
                    ensure_exists(&app.read(), kind, id)?;
                    list(&app, q.as_deref(), |a| a.touches(kind, id))
                },
            ),
        )
        .route(
            &format!("/{family}/{{id}}/actions/{{action_id}}"),
            get(
                move |State(app): State<AppState>,
                      Path((id, action_id)): Path<(String, String)>| async move {
                    let id = parse_id(kind, &id)?;
                    get_action(&app, &action_id, |a| a.touches(kind, id))
                },
            ),
        )
}

fn ensure_exists(world: &World, kind: &str, id: i64) -> Result<(), ApiError> {
    let exists = match kind {
        "server" => world.data.servers.contains_key(&id),
        "network" => world.data.networks.contains_key(&id),
        "firewall" => world.data.firewalls.contains_key(&id),
        "load_balancer" => world.data.load_balancers.contains_key(&id),
        "image" => world.data.images.contains_key(&id),
        "volume" => world.data.volumes.contains_key(&id),
        "primary_ip" => world.data.primary_ips.contains_key(&id),
        "floating_ip" => world.data.floating_ips.contains_key(&id),
        _ => true,
    };
    if exists {
        Ok(())
    } else {
        Err(ApiError::not_found(kind, id))
    }
}

/// `GET /actions` needs `?id=` since Hetzner removed listing arbitrary actions on 2025-01-30;
/// without it the real API answers `deprecated_api_endpoint`.
async fn list_all(State(app): State<AppState>, RawQuery(q): RawQuery) -> Reply {
    if ListQuery::parse(q.as_deref())?.all("id").is_empty() {
        return Err(ApiError::Removed {
            message: "API functionality was removed".into(),
            announcement: "https://docs.hetzner.cloud/changelog#2025-01-30-listing-arbitrary-actions-in-the-actions-list-endpoint-is-removed",
        });
    }
    list(&app, q.as_deref(), |_| true)
}

/// Lists actions passing `keep`, narrowed by `?id=` (batched polling: `GET /actions?id=1&id=2`)
/// and `?status=`, sorted and paginated.
fn list(app: &AppState, raw_query: Option<&str>, keep: impl Fn(&Action) -> bool) -> Reply {
    let query = ListQuery::parse(raw_query)?;
    let mut ids = Vec::new();
    for raw in query.all("id") {
        ids.push(
            raw.parse::<i64>()
                .map_err(|_| ApiError::field("id", "Not a valid integer."))?,
        );
    }
    let world = app.read();
    let mut items: Vec<&Action> = world
        .data
        .actions
        .values()
        .filter(|a| keep(a) && query.status_matches(&a.status))
        .filter(|a| ids.is_empty() || ids.contains(&a.id))
        .collect();
    query.sort(&mut items, |a, field| sort_key(a, field))?;
    let (page, meta) = query.paginate(items);
    let now = world.clock.elapsed();
    ok(
        json!({"actions": page.iter().map(|a| a.to_json(now)).collect::<Vec<Value>>(), "meta": meta}),
    )
}

fn sort_key<'a>(a: &'a Action, field: &str) -> Option<SortKey<'a>> {
    match field {
        "id" => Some(SortKey::Int(a.id)),
        "command" => Some(SortKey::Str(&a.command)),
        "status" => Some(SortKey::Str(&a.status)),
        "progress" => Some(SortKey::Int(i64::from(a.progress))),
        "started" => Some(SortKey::Str(&a.started)),
        "finished" => Some(SortKey::Str(a.finished.as_deref().unwrap_or(""))),
        _ => None,
    }
}

async fn get_one(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    get_action(&app, &id, |_| true)
}

fn get_action(app: &AppState, raw_id: &str, belongs: impl Fn(&Action) -> bool) -> Reply {
    let id = parse_id("action", raw_id)?;
    let world = app.read();
    let action = world
        .data
        .actions
        .get(&id)
        .filter(|a| belongs(a))
        .ok_or_else(|| ApiError::not_found("action", id))?;
    ok(json!({"action": action.to_json(world.clock.elapsed())}))
}

/// The `{"action": …}` reply of an action endpoint.
pub fn action_reply(world: &World, id: i64) -> Value {
    json!({"action": action_json(world, id)})
}

/// One action in wire shape (`null` if unknown).
pub fn action_json(world: &World, id: i64) -> Value {
    world
        .data
        .actions
        .get(&id)
        .map_or(Value::Null, |a| a.to_json(world.clock.elapsed()))
}
