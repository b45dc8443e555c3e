//! `/servers/{id}/actions/enable_backup` and `disable_backup`: the server's `backup_window`.
//! The sim takes no backups (no `backup` images appear); disabling drops none because none exist.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;

use super::AppState;
use super::actions::action_reply;
use super::request::{Reply, created};
use super::servers::find_server;
use crate::world::Effect;

/// The window Hetzner picks; the real API chooses one per server, the sim always this one.
const BACKUP_WINDOW: &str = "22-02";

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/servers/{id}/actions/enable_backup",
            post(|state, path| set(state, path, Some(BACKUP_WINDOW), "enable_backup")),
        )
        .route(
            "/servers/{id}/actions/disable_backup",
            post(|state, path| set(state, path, None, "disable_backup")),
        )
}

async fn set(
    State(app): State<AppState>,
    Path(id): Path<String>,
    window: Option<&'static str>,
    command: &'static str,
) -> Reply {
    let mut world = app.write();
    let id = find_server(&world, &id)?.id;
    world.ensure_unlocked("server", id)?;
    if let Some(s) = world.data.servers.get_mut(&id) {
        s.backup_window = window.map(str::to_string);
    }
    let action = world.create_action(command, &[(id, "server")], Effect::None, Duration::ZERO);
    created(action_reply(&world, action))
}
