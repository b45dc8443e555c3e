//! `/volumes`: list, get, create (in a location, or attached to a server), update, delete (refused
//! while attached or protected), and the volume wire shape. Volume actions (attach, detach,
//! resize, change_protection) live in [`super::volume_actions`]. The operations are plain
//! functions on the world as well ([`create_volume`], [`delete_volume`]), so that the sim's CSI
//! driver stand-in goes through exactly the checks an API client meets.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::actions::{action_json, family_routes};
use super::catalog::location_json;
use super::error::{ApiError, FieldErrors};
use super::list::{ListQuery, SortKey, named_key};
use super::rename::{self, NameAndLabels};
use super::request::{Body, Reply, created, no_content, ok, parse_id};
use super::servers::IdOrName;
use crate::catalog::{self, LOCATIONS};
use crate::labels::{Labels, validate_labels};
use crate::world::{Effect, Volume, World};

/// Smallest volume Hetzner creates, in GB.
pub const MIN_SIZE_GB: i32 = 10;
/// Largest volume (10 TB), in GB.
pub const MAX_SIZE_GB: i32 = 10_240;
/// Formats Hetzner can put on a new volume.
pub const FORMATS: &[&str] = &["xfs", "ext4"];

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/volumes", get(list).post(create))
        .route("/volumes/{id}", get(get_one).put(update).delete(delete))
        .merge(super::volume_actions::routes())
        .merge(family_routes("volumes", "volume"))
}

/// The device path Hetzner reports (and the CSI driver mounts).
pub fn linux_device(id: i64) -> String {
    format!("/dev/disk/by-id/scsi-0HC_Volume_{id}")
}

/// A volume in wire shape (integers as integers: hcloud-go refuses `10.0` for `size`).
pub fn volume_json(v: &Volume) -> Value {
    let location = catalog::location(&v.location).unwrap_or(&LOCATIONS[0]);
    json!({
        "id": v.id, "name": v.name, "server": v.server, "status": v.status,
        "location": location_json(location), "size": v.size, "format": v.format,
        "protection": {"delete": v.protect_delete}, "labels": v.labels,
        "linux_device": linux_device(v.id), "created": v.created,
    })
}

/// Ids of the volumes attached to a server (its `volumes` field).
pub fn volumes_of_server(world: &World, server: i64) -> Vec<i64> {
    world
        .data
        .volumes
        .values()
        .filter(|v| v.server == Some(server))
        .map(|v| v.id)
        .collect()
}

/// Finds a volume id or answers `not_found`.
pub fn find_volume(world: &World, raw: &str) -> Result<i64, ApiError> {
    let id = parse_id("volume", raw)?;
    world
        .data
        .volumes
        .contains_key(&id)
        .then_some(id)
        .ok_or_else(|| ApiError::not_found("volume", id))
}

/// Hetzner's rule for volume names: alphanumerics, dashes, underscores and dots, starting and
/// ending with an alphanumeric, at most 64 characters.
pub fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Checks a size against Hetzner's bounds; the size in whole GB when it is valid.
pub fn check_size(size: f64, fields: &mut FieldErrors) -> Option<i32> {
    if size.fract() != 0.0 {
        fields.add("size", "Not a valid integer.");
        return None;
    }
    if size < f64::from(MIN_SIZE_GB) {
        fields.add(
            "size",
            format!("Must be greater than or equal to {MIN_SIZE_GB}."),
        );
    } else if size > f64::from(MAX_SIZE_GB) {
        fields.add(
            "size",
            format!("Must be less than or equal to {MAX_SIZE_GB}."),
        );
    } else {
        // In range, so the cast is exact.
        return Some(size as i32);
    }
    None
}

fn sort_key<'a>(v: &'a Volume, field: &str) -> Option<SortKey<'a>> {
    named_key(v.id, &v.name, &v.created, field)
}

async fn list(State(app): State<AppState>, RawQuery(q): RawQuery) -> Reply {
    let query = ListQuery::parse(q.as_deref())?;
    for status in query.all("status") {
        if !matches!(status, "creating" | "available") {
            return Err(ApiError::field(
                "status",
                "Must be one of: creating, available.",
            ));
        }
    }
    let world = app.read();
    let mut items: Vec<&Volume> = world
        .data
        .volumes
        .values()
        .filter(|v| query.matches(Some(&v.name), &v.labels) && query.status_matches(&v.status))
        .collect();
    query.sort(&mut items, |v, f| sort_key(v, f))?;
    let (page, meta) = query.paginate(items);
    ok(json!({"volumes": page.into_iter().map(volume_json).collect::<Vec<_>>(), "meta": meta}))
}

async fn get_one(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let world = app.read();
    let id = find_volume(&world, &id)?;
    ok(json!({"volume": volume_json(&world.data.volumes[&id])}))
}

/// `POST /volumes`.
#[derive(Debug, Default, Deserialize)]
pub struct CreateVolume {
    /// Unique name.
    pub name: Option<String>,
    /// Size in GB (a JSON number: OpenAPI-generated clients send `20.0`).
    pub size: Option<f64>,
    /// Location id or name (may be left out when `server` is given).
    pub location: Option<IdOrName>,
    /// Server to attach the new volume to.
    pub server: Option<i64>,
    /// `xfs` or `ext4`.
    pub format: Option<String>,
    /// Mount it on the server (only with `server`).
    pub automount: Option<bool>,
    /// Labels.
    #[serde(default)]
    pub labels: Labels,
}

/// What creating a volume started.
#[derive(Debug, Clone, Copy)]
pub struct Created {
    /// The new volume.
    pub volume: i64,
    /// Its `create_volume` action.
    pub action: i64,
    /// `attach_volume`, when it was created for a server.
    pub attach: Option<i64>,
}

/// Creates a volume as `POST /volumes` does: validation, uniqueness, the `create_volume` action
/// (status `creating` until it finishes) and, with a server, an `attach_volume` action after it.
pub fn create_volume(world: &mut World, req: CreateVolume) -> Result<Created, ApiError> {
    let mut fields = FieldErrors::default();
    fields.require("name", &req.name);
    fields.require("size", &req.size);
    let name = req.name.clone().unwrap_or_default();
    if req.name.is_some() && !valid_name(&name) {
        fields.add(
            "name",
            "Name must start and end with an alphanumeric character and may contain only alphanumeric characters, dashes, underscores and dots (at most 64 characters).",
        );
    }
    let size = req.size.and_then(|size| check_size(size, &mut fields));
    if let Some(format) = &req.format
        && !FORMATS.contains(&format.as_str())
    {
        fields.add("format", "Must be one of: xfs, ext4.");
    }
    if req.automount == Some(true) && req.server.is_none() {
        fields.add("automount", "automount requires server");
    }
    if let Err(e) = validate_labels(&req.labels) {
        fields.add("labels", e.to_string());
    }
    let server = match req.server {
        Some(id) => match world.data.servers.get(&id) {
            Some(s) => Some((s.id, s.location.clone())),
            None => {
                fields.add("server", format!("server {id} not found"));
                None
            }
        },
        None => None,
    };
    let location = match &req.location {
        Some(loc) => {
            let text = loc.as_text();
            let found = LOCATIONS
                .iter()
                .find(|l| l.name == text || l.id.to_string() == text);
            if found.is_none() {
                fields.add("location", format!("location {text:?} not found"));
            }
            found.map(|l| l.name.to_string())
        }
        None => server.as_ref().map(|(_, l)| l.clone()),
    };
    if req.location.is_none() && req.server.is_none() {
        fields.add("location", "location or server is required");
    }
    fields.finish()?;
    let location = location.unwrap_or_default();
    if let Some((_, server_location)) = &server
        && *server_location != location
    {
        return Err(same_location());
    }
    if world.data.volumes.values().any(|v| v.name == name) {
        return Err(ApiError::Uniqueness {
            field: "name".into(),
        });
    }
    let id = world.next_id();
    let volume = Volume {
        id,
        name,
        size: size.unwrap_or(MIN_SIZE_GB),
        location,
        status: "creating".into(),
        server: server.as_ref().map(|(id, _)| *id),
        format: req.format,
        labels: req.labels,
        created: world.clock.timestamp(),
        protect_delete: false,
    };
    world.data.volumes.insert(id, volume);
    let action = world.create_action(
        "create_volume",
        &[(id, "volume")],
        Effect::VolumeReady { volume: id },
        Duration::ZERO,
    );
    let attach = server.map(|(server, _)| {
        let after = world.action_remaining(action);
        world.create_action(
            "attach_volume",
            &[(id, "volume"), (server, "server")],
            Effect::None,
            after,
        )
    });
    Ok(Created {
        volume: id,
        action,
        attach,
    })
}

/// What Hetzner answers when a volume and a server are in different locations.
pub fn same_location() -> ApiError {
    ApiError::InvalidInputMessage {
        message: "server and volume must be in the same location".into(),
        field: "server".into(),
    }
}

async fn create(State(app): State<AppState>, Body(req): Body<CreateVolume>) -> Reply {
    let mut world = app.write();
    let done = create_volume(&mut world, req)?;
    created(json!({
        "volume": volume_json(&world.data.volumes[&done.volume]),
        "action": action_json(&world, done.action),
        "next_actions": done.attach.iter().map(|a| action_json(&world, *a)).collect::<Vec<_>>(),
    }))
}

async fn update(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<NameAndLabels>,
) -> Reply {
    let mut world = app.write();
    let id = find_volume(&world, &id)?;
    if let Some(name) = &req.name
        && !valid_name(name)
    {
        return Err(ApiError::field(
            "name",
            "Name must start and end with an alphanumeric character and may contain only alphanumeric characters, dashes, underscores and dots (at most 64 characters).",
        ));
    }
    rename::apply(&mut world.data.volumes, id, "volume", req)?;
    ok(json!({"volume": volume_json(&world.data.volumes[&id])}))
}

/// Deletes a volume as `DELETE /volumes/{id}` does: refused while protected, locked or attached.
pub fn delete_volume(world: &mut World, id: i64) -> Result<(), ApiError> {
    let volume = world
        .data
        .volumes
        .get(&id)
        .ok_or_else(|| ApiError::not_found("volume", id))?;
    if volume.protect_delete {
        return Err(ApiError::Protected(format!(
            "volume {id} is delete protected"
        )));
    }
    // Hetzner's own wording and code for this (seen by the CSI driver, csi-driver#12).
    if volume.server.is_some() {
        return Err(ApiError::Coded {
            code: "service_error",
            message: format!("volume with ID '{id}' is still attached to a server"),
        });
    }
    world.ensure_unlocked("volume", id)?;
    world.data.volumes.remove(&id);
    Ok(())
}

async fn delete(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let mut world = app.write();
    let id = find_volume(&world, &id)?;
    delete_volume(&mut world, id)?;
    no_content()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_hetzners_rule() {
        assert!(valid_name("pvc-0b1f6a52-8c3e-4d2a-9f1b-7c6d5e4f3a2b"));
        assert!(valid_name("data.v1_x"));
        assert!(!valid_name("-data"));
        assert!(!valid_name("data."));
        assert!(!valid_name("with space"));
        assert!(!valid_name(&"a".repeat(65)));
    }
}
