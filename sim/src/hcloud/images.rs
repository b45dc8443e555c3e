//! `/images`: system images and snapshots (made by a server's `create_image`): list with
//! `type`/`architecture`/`status`/`bound_to`/`include_deprecated` filters, get, update, delete,
//! change_protection.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::actions::{action_reply, family_routes};
use super::error::{ApiError, FieldErrors};
use super::list::{ListQuery, SortKey};
use super::request::{Body, DeleteProtection, Reply, created, no_content, ok, parse_id};
use crate::labels::{Labels, validate_labels};
use crate::world::{Effect, Image, World};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/images", get(list))
        .route("/images/{id}", get(get_one).put(update).delete(delete))
        .route(
            "/images/{id}/actions/change_protection",
            post(change_protection),
        )
        .merge(family_routes("images", "image"))
}

/// An image in wire shape.
pub fn image_json(world: &World, i: &Image) -> Value {
    let _ = world;
    json!({
        "id": i.id, "type": i.kind, "status": i.status, "name": i.name, "description": i.description,
        "image_size": i.image_size, "disk_size": i.disk_size, "created": i.created,
        "created_from": i.created_from.as_ref().map(|(id, name)| json!({"id": id, "name": name})),
        "bound_to": null, "os_flavor": i.os_flavor, "os_version": i.os_version, "rapid_deploy": i.kind == "system",
        "protection": {"delete": i.protect_delete}, "deprecated": null, "deleted": null, "labels": i.labels,
        "architecture": i.architecture,
    })
}

/// Finds an image by id, or by name for the given architecture (system images exist once per
/// architecture under the same name).
pub fn find_image<'a>(world: &'a World, id_or_name: &str, arch: Option<&str>) -> Option<&'a Image> {
    if let Ok(id) = id_or_name.parse::<i64>() {
        return world.data.images.get(&id);
    }
    let mut named = world
        .data
        .images
        .values()
        .filter(|i| i.name.as_deref() == Some(id_or_name));
    match arch {
        Some(a) => named.find(|i| i.architecture == a),
        None => named.next(),
    }
}

async fn list(State(app): State<AppState>, RawQuery(q): RawQuery) -> Reply {
    let query = ListQuery::parse(q.as_deref())?;
    let world = app.read();
    let types = query.all("type");
    let arch = query.get("architecture");
    let mut items: Vec<&Image> = world
        .data
        .images
        .values()
        .filter(|i| {
            query.matches(i.name.as_deref(), &i.labels)
                && query.status_matches(&i.status)
                && (types.is_empty() || types.contains(&i.kind.as_str()))
                && arch.is_none_or(|a| a == i.architecture)
                && query.get("bound_to").is_none()
        })
        .collect();
    query.sort(&mut items, |i, f| match f {
        "id" => Some(SortKey::Int(i.id)),
        "name" => Some(SortKey::Str(i.name.as_deref().unwrap_or(""))),
        "created" => Some(SortKey::Str(&i.created)),
        "description" => Some(SortKey::Str(&i.description)),
        "type" => Some(SortKey::Str(&i.kind)),
        _ => None,
    })?;
    let (page, meta) = query.paginate(items);
    ok(
        json!({"images": page.into_iter().map(|i| image_json(&world, i)).collect::<Vec<_>>(), "meta": meta}),
    )
}

fn find(world: &World, raw: &str) -> Result<i64, ApiError> {
    let id = parse_id("image", raw)?;
    world
        .data
        .images
        .contains_key(&id)
        .then_some(id)
        .ok_or_else(|| ApiError::not_found("image", id))
}

async fn get_one(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let world = app.read();
    let id = find(&world, &id)?;
    ok(json!({"image": image_json(&world, &world.data.images[&id])}))
}

#[derive(Debug, Deserialize)]
struct UpdateImage {
    description: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    labels: Option<Labels>,
}

async fn update(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<UpdateImage>,
) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    let mut fields = FieldErrors::default();
    if let Some(labels) = &req.labels
        && let Err(e) = validate_labels(labels)
    {
        fields.add("labels", e.to_string());
    }
    if req.kind.as_deref().is_some_and(|k| k != "snapshot") {
        fields.add("type", "Must be one of: snapshot.");
    }
    fields.finish()?;
    let image = world
        .data
        .images
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("image", id))?;
    if image.kind == "system" {
        return Err(ApiError::Coded {
            code: "forbidden",
            message: "system images cannot be changed".into(),
        });
    }
    if let Some(d) = req.description {
        image.description = d;
    }
    if let Some(k) = req.kind {
        image.kind = k;
    }
    if let Some(labels) = req.labels {
        image.labels = labels;
    }
    ok(json!({"image": image_json(&world, &world.data.images[&id])}))
}

async fn delete(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    let image = &world.data.images[&id];
    if image.kind == "system" {
        return Err(ApiError::Coded {
            code: "forbidden",
            message: "system images cannot be deleted".into(),
        });
    }
    if image.protect_delete {
        return Err(ApiError::Protected(format!(
            "image {id} is delete protected"
        )));
    }
    world.ensure_unlocked("image", id)?;
    world.data.images.remove(&id);
    no_content()
}

async fn change_protection(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<DeleteProtection>,
) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    world.ensure_unlocked("image", id)?;
    if let (Some(delete), Some(image)) = (req.delete, world.data.images.get_mut(&id)) {
        image.protect_delete = delete;
    }
    let action = world.create_action(
        "change_protection",
        &[(id, "image")],
        Effect::None,
        Default::default(),
    );
    created(action_reply(&world, action))
}
