//! `/isos` (a few of Hetzner's public ISOs; private ISOs are uploaded through support, so the
//! sim has none) and the servers' virtual drive: `attach_iso`, `detach_iso`.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::actions::action_reply;
use super::error::ApiError;
use super::list::{ListQuery, SortKey};
use super::request::{Body, Reply, created, ok, parse_id};
use super::servers::{IdOrName, find_server};
use crate::catalog::{self, Arch};
use crate::world::Effect;

/// A public ISO: id, name, description, architecture.
struct Iso {
    id: i64,
    name: &'static str,
    description: &'static str,
    arch: Arch,
}

/// A small subset of Hetzner's public ISO catalog (names as Hetzner lists them; the ids are the
/// sim's).
const ISOS: &[Iso] = &[
    Iso {
        id: 1001,
        name: "virtio-win-0.1.262.iso",
        description: "virtio 0.1.262-2",
        arch: Arch::X86,
    },
    Iso {
        id: 1002,
        name: "FreeBSD-14.2-RELEASE-amd64-disc1.iso",
        description: "FreeBSD 14.2 x64",
        arch: Arch::X86,
    },
    Iso {
        id: 1003,
        name: "FreeBSD-14.2-RELEASE-arm64-aarch64-disc1.iso",
        description: "FreeBSD 14.2 arm64",
        arch: Arch::Arm,
    },
];

fn arch_name(arch: Arch) -> &'static str {
    match arch {
        Arch::X86 => "x86",
        Arch::Arm => "arm",
    }
}

fn to_json(iso: &Iso) -> Value {
    json!({
        "id": iso.id, "name": iso.name, "description": iso.description, "type": "public",
        "architecture": arch_name(iso.arch), "deprecated": null, "deprecation": null,
    })
}

/// The ISO with `id` in wire shape (what a server's `iso` shows), if it exists.
pub fn iso_json(id: i64) -> Option<Value> {
    ISOS.iter().find(|i| i.id == id).map(to_json)
}

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/isos", get(list))
        .route("/isos/{id}", get(get_one))
        .route("/servers/{id}/actions/attach_iso", post(attach))
        .route("/servers/{id}/actions/detach_iso", post(detach))
}

async fn list(RawQuery(q): RawQuery) -> Reply {
    let query = ListQuery::parse(q.as_deref())?;
    let wanted = query.all("architecture");
    let wildcard = query.get("include_architecture_wildcard") == Some("true");
    let mut items: Vec<&Iso> = ISOS
        .iter()
        .filter(|i| query.get("name").is_none_or(|n| n == i.name))
        .filter(|i| wanted.is_empty() || wanted.contains(&arch_name(i.arch)) || wildcard)
        .collect();
    query.sort(&mut items, |i, field| match field {
        "id" => Some(SortKey::Int(i.id)),
        "name" => Some(SortKey::Str(i.name)),
        _ => None,
    })?;
    let (page, meta) = query.paginate(items);
    ok(json!({"isos": page.into_iter().map(to_json).collect::<Vec<_>>(), "meta": meta}))
}

async fn get_one(Path(id): Path<String>) -> Reply {
    let id = parse_id("iso", &id)?;
    let iso = iso_json(id).ok_or_else(|| ApiError::not_found("iso", id))?;
    ok(json!({ "iso": iso }))
}

#[derive(Debug, Deserialize)]
struct AttachBody {
    iso: Option<IdOrName>,
}

async fn attach(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<AttachBody>,
) -> Reply {
    let mut world = app.write();
    let server = find_server(&world, &id)?;
    let (server_id, server_type) = (server.id, server.server_type.clone());
    let wanted = req
        .iso
        .ok_or_else(|| ApiError::field("iso", "Missing data for required field."))?
        .as_text();
    let iso = ISOS
        .iter()
        .find(|i| i.name == wanted || i.id.to_string() == wanted)
        .ok_or_else(|| ApiError::field("iso", format!("iso {wanted:?} not found")))?;
    if catalog::server_type(&server_type).is_some_and(|t| t.arch != iso.arch) {
        return Err(ApiError::InvalidInputMessage {
            message: "iso has incompatible architecture".into(),
            field: "iso".into(),
        });
    }
    world.ensure_unlocked("server", server_id)?;
    if let Some(s) = world.data.servers.get_mut(&server_id) {
        s.iso = Some(iso.id);
    }
    let action = world.create_action(
        "attach_iso",
        &[(server_id, "server")],
        Effect::None,
        Duration::ZERO,
    );
    created(action_reply(&world, action))
}

async fn detach(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let mut world = app.write();
    let server_id = find_server(&world, &id)?.id;
    world.ensure_unlocked("server", server_id)?;
    if let Some(s) = world.data.servers.get_mut(&server_id) {
        s.iso = None;
    }
    let action = world.create_action(
        "detach_iso",
        &[(server_id, "server")],
        Effect::None,
        Duration::ZERO,
    );
    created(action_reply(&world, action))
}
