//! `/placement_groups`: spread groups of at most ten servers.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, FieldErrors};
use super::list::{ListQuery, named_key};
use super::rename::{self, NameAndLabels};
use super::request::{Body, Reply, created, no_content, ok, parse_id};
use crate::labels::{Labels, validate_labels};
use crate::world::{PlacementGroup, World};

/// Servers a spread placement group can hold.
pub const MAX_SERVERS_PER_GROUP: usize = 10;
/// Placement groups per project.
pub const MAX_GROUPS: usize = 50;

/// What Hetzner answers when a server would be the 11th of a spread group (as seen in 2025:
/// `placement group with ID 369587 contains already 10 servers
/// (placement_group_member_limit_reached)`).
pub fn group_full(pg: i64) -> ApiError {
    ApiError::Coded {
        code: "placement_group_member_limit_reached",
        message: format!(
            "placement group with ID {pg} contains already {MAX_SERVERS_PER_GROUP} servers"
        ),
    }
}

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/placement_groups", get(list).post(create))
        .route(
            "/placement_groups/{id}",
            get(get_one).put(update).delete(delete),
        )
}

/// A placement group in wire shape.
pub fn placement_group_json(world: &World, pg: &PlacementGroup) -> Value {
    let servers: Vec<i64> = world
        .data
        .servers
        .values()
        .filter(|s| s.placement_group == Some(pg.id))
        .map(|s| s.id)
        .collect();
    json!({"id": pg.id, "name": pg.name, "labels": pg.labels, "created": pg.created, "type": "spread", "servers": servers})
}

fn find(world: &World, raw: &str) -> Result<i64, ApiError> {
    let id = parse_id("placement_group", raw)?;
    world
        .data
        .placement_groups
        .contains_key(&id)
        .then_some(id)
        .ok_or_else(|| ApiError::not_found("placement_group", id))
}

async fn list(State(app): State<AppState>, RawQuery(q): RawQuery) -> Reply {
    let query = ListQuery::parse(q.as_deref())?;
    let world = app.read();
    let mut items: Vec<&PlacementGroup> = world
        .data
        .placement_groups
        .values()
        .filter(|pg| {
            query.matches(Some(&pg.name), &pg.labels)
                && query.get("type").is_none_or(|t| t == "spread")
        })
        .collect();
    query.sort(&mut items, |pg, f| {
        named_key(pg.id, &pg.name, &pg.created, f)
    })?;
    let (page, meta) = query.paginate(items);
    ok(
        json!({"placement_groups": page.into_iter().map(|pg| placement_group_json(&world, pg)).collect::<Vec<_>>(), "meta": meta}),
    )
}

async fn get_one(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let world = app.read();
    let id = find(&world, &id)?;
    ok(json!({"placement_group": placement_group_json(&world, &world.data.placement_groups[&id])}))
}

#[derive(Debug, Deserialize)]
struct CreateGroup {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    labels: Labels,
}

async fn create(State(app): State<AppState>, Body(req): Body<CreateGroup>) -> Reply {
    let mut world = app.write();
    let mut fields = FieldErrors::default();
    fields.require("name", &req.name);
    fields.require("type", &req.kind);
    if req.kind.as_deref().is_some_and(|k| k != "spread") {
        fields.add("type", "Must be one of: spread.");
    }
    if let Err(e) = validate_labels(&req.labels) {
        fields.add("labels", e.to_string());
    }
    fields.finish()?;
    let name = req.name.unwrap_or_default();
    if world
        .data
        .placement_groups
        .values()
        .any(|pg| pg.name == name)
    {
        return Err(ApiError::Uniqueness {
            field: "name".into(),
        });
    }
    if world.data.placement_groups.len() >= MAX_GROUPS {
        return Err(ApiError::ResourceLimit(format!(
            "placement group limit of {MAX_GROUPS} exceeded"
        )));
    }
    let id = world.next_id();
    let pg = PlacementGroup {
        id,
        name,
        labels: req.labels,
        created: world.clock.timestamp(),
    };
    world.data.placement_groups.insert(id, pg);
    let pg = &world.data.placement_groups[&id];
    created(json!({"placement_group": placement_group_json(&world, pg), "action": null}))
}

async fn update(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<NameAndLabels>,
) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    rename::apply(&mut world.data.placement_groups, id, "placement_group", req)?;
    ok(json!({"placement_group": placement_group_json(&world, &world.data.placement_groups[&id])}))
}

async fn delete(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    if world
        .data
        .servers
        .values()
        .any(|s| s.placement_group == Some(id))
    {
        // Not `conflict`: clients retry that code (hcloud-go for minutes); a group that holds
        // servers stays in use until they leave it, which retrying does not change.
        return Err(ApiError::Coded {
            code: "resource_in_use",
            message: format!("placement group {id} is in use by servers"),
        });
    }
    world.data.placement_groups.remove(&id);
    no_content()
}
