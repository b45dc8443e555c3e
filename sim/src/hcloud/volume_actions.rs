//! `/volumes/{id}/actions/*`: attach (same location only, one server at a time), detach, resize
//! (grow only) and change_protection. [`attach_volume`] and [`detach_volume`] are also called by
//! the sim's CSI driver stand-in, so that it meets the same refusals as an API client.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use serde::Deserialize;

use super::AppState;
use super::actions::action_reply;
use super::error::{ApiError, FieldErrors};
use super::request::{Body, DeleteProtection, Reply, created};
use super::volumes::{check_size, find_volume, same_location};
use crate::world::{Effect, World};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/volumes/{id}/actions/attach", post(attach))
        .route("/volumes/{id}/actions/detach", post(detach))
        .route("/volumes/{id}/actions/resize", post(resize))
        .route(
            "/volumes/{id}/actions/change_protection",
            post(change_protection),
        )
}

/// Refuses while the volume has a running action, or its server is busy with another volume
/// action or an action of its own (Hetzner answers `locked` then, as terraform-provider-hcloud#53
/// shows for parallel attachments).
fn ensure_unlocked(world: &mut World, volume: i64, server: Option<i64>) -> Result<(), ApiError> {
    world.ensure_unlocked("volume", volume)?;
    let Some(server) = server else {
        return Ok(());
    };
    let busy = world.has_running_action("server", server)
        || world.running.iter().any(|id| {
            world.data.actions.get(id).is_some_and(|a| {
                a.touches("server", server)
                    && matches!(a.command.as_str(), "attach_volume" | "detach_volume")
            })
        });
    if busy {
        return Err(ApiError::Locked(
            "cannot perform operation because server is locked".into(),
        ));
    }
    Ok(())
}

/// Attaches a volume to a server as `POST /volumes/{id}/actions/attach` does; the action id.
pub fn attach_volume(world: &mut World, volume: i64, server: i64) -> Result<i64, ApiError> {
    let v = world
        .data
        .volumes
        .get(&volume)
        .ok_or_else(|| ApiError::not_found("volume", volume))?;
    let s = world
        .data
        .servers
        .get(&server)
        .ok_or_else(|| ApiError::not_found("server", server))?;
    if v.location != s.location {
        return Err(same_location());
    }
    if v.server.is_some() {
        return Err(ApiError::Coded {
            code: "volume_already_attached",
            message: format!("volume {volume} is already attached to a server, detach first"),
        });
    }
    ensure_unlocked(world, volume, Some(server))?;
    if let Some(v) = world.data.volumes.get_mut(&volume) {
        v.server = Some(server);
    }
    Ok(world.create_action(
        "attach_volume",
        &[(volume, "volume"), (server, "server")],
        Effect::None,
        Duration::ZERO,
    ))
}

/// Detaches a volume as `POST /volumes/{id}/actions/detach` does; the action id.
pub fn detach_volume(world: &mut World, volume: i64) -> Result<i64, ApiError> {
    let v = world
        .data
        .volumes
        .get(&volume)
        .ok_or_else(|| ApiError::not_found("volume", volume))?;
    // Worded like Hetzner's refusal to delete an attached volume (the one refusal of this
    // family on record); no client relies on it (the CSI driver checks `server` first).
    let Some(server) = v.server else {
        return Err(ApiError::Coded {
            code: "service_error",
            message: format!("volume with ID '{volume}' is not attached to a server"),
        });
    };
    ensure_unlocked(world, volume, Some(server))?;
    if let Some(v) = world.data.volumes.get_mut(&volume) {
        v.server = None;
    }
    Ok(world.create_action(
        "detach_volume",
        &[(volume, "volume"), (server, "server")],
        Effect::None,
        Duration::ZERO,
    ))
}

#[derive(Debug, Deserialize)]
struct AttachBody {
    server: Option<i64>,
    // Mounting happens inside the server's OS, which the sim does not run.
    #[allow(dead_code)]
    automount: Option<bool>,
}

async fn attach(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<AttachBody>,
) -> Reply {
    let mut world = app.write();
    let id = find_volume(&world, &id)?;
    let server = req
        .server
        .ok_or_else(|| ApiError::field("server", "Missing data for required field."))?;
    let action = attach_volume(&mut world, id, server)?;
    created(action_reply(&world, action))
}

async fn detach(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let mut world = app.write();
    let id = find_volume(&world, &id)?;
    let action = detach_volume(&mut world, id)?;
    created(action_reply(&world, action))
}

#[derive(Debug, Deserialize)]
struct ResizeBody {
    size: Option<f64>,
}

async fn resize(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<ResizeBody>,
) -> Reply {
    let mut world = app.write();
    let id = find_volume(&world, &id)?;
    let mut fields = FieldErrors::default();
    fields.require("size", &req.size);
    let size = req.size.and_then(|size| check_size(size, &mut fields));
    fields.finish()?;
    let size = size.unwrap_or_default();
    let current = world.data.volumes[&id].size;
    if size <= current {
        return Err(ApiError::field(
            "size",
            format!(
                "Must be greater than the current size of {current} GB (volumes cannot shrink)."
            ),
        ));
    }
    let server = world.data.volumes[&id].server;
    ensure_unlocked(&mut world, id, server)?;
    if let Some(v) = world.data.volumes.get_mut(&id) {
        v.size = size;
    }
    let action = world.create_action(
        "resize_volume",
        &[(id, "volume")],
        Effect::None,
        Duration::ZERO,
    );
    created(action_reply(&world, action))
}

async fn change_protection(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<DeleteProtection>,
) -> Reply {
    let mut world = app.write();
    let id = find_volume(&world, &id)?;
    world.ensure_unlocked("volume", id)?;
    if let (Some(delete), Some(v)) = (req.delete, world.data.volumes.get_mut(&id)) {
        v.protect_delete = delete;
    }
    let action = world.create_action(
        "change_protection",
        &[(id, "volume")],
        Effect::None,
        Duration::ZERO,
    );
    created(action_reply(&world, action))
}
