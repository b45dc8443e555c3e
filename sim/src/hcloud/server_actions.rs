//! Server actions: power, rescue, images, rebuild, type change, networks, placement groups,
//! protection. Each one refuses a locked server and answers `{"action": …}`.

use std::net::Ipv4Addr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::actions::{action_json, action_reply};
use super::error::ApiError;
use super::images::{find_image, image_json};
use super::networks::{allocate_private_ip, find_network};
use super::placement_groups::MAX_SERVERS_PER_GROUP;
use super::request::{Body, Reply, created};
use super::servers::{IdOrName, find_server};
use crate::catalog;
use crate::labels::{Labels, validate_labels};
use crate::world::{Effect, Image, RescueBoot, RescueSetup, ServerNet, World};

/// Routes.
pub fn routes() -> Router<AppState> {
    let power = |path: &str, command: &'static str, during: &'static str, after: &'static str| {
        Router::new().route(
            &format!("/servers/{{id}}/actions/{path}"),
            post(
                move |State(app): State<AppState>, Path(id): Path<String>| async move {
                    power_action(&app, &id, command, during, after)
                },
            ),
        )
    };
    Router::new()
        .merge(power("poweron", "start_server", "starting", "running"))
        .merge(power("poweroff", "stop_server", "stopping", "off"))
        .merge(power("shutdown", "shutdown_server", "stopping", "off"))
        .merge(power("reboot", "reboot_server", "running", "running"))
        .merge(power("reset", "reset_server", "running", "running"))
        .route("/servers/{id}/actions/enable_rescue", post(enable_rescue))
        .route("/servers/{id}/actions/disable_rescue", post(disable_rescue))
        .route("/servers/{id}/actions/create_image", post(create_image))
        .route("/servers/{id}/actions/rebuild", post(rebuild))
        .route("/servers/{id}/actions/change_type", post(change_type))
        .route(
            "/servers/{id}/actions/attach_to_network",
            post(attach_to_network),
        )
        .route(
            "/servers/{id}/actions/detach_from_network",
            post(detach_from_network),
        )
        .route(
            "/servers/{id}/actions/add_to_placement_group",
            post(add_to_placement_group),
        )
        .route(
            "/servers/{id}/actions/remove_from_placement_group",
            post(remove_from_placement_group),
        )
        .route(
            "/servers/{id}/actions/change_protection",
            post(change_protection),
        )
}

/// Looks the server up and refuses when it is locked.
fn begin(world: &mut World, raw: &str) -> Result<i64, ApiError> {
    let id = find_server(world, raw)?.id;
    world.ensure_unlocked("server", id)?;
    Ok(id)
}

fn server_action(world: &mut World, id: i64, command: &str, effect: Effect) -> i64 {
    world.create_action(command, &[(id, "server")], effect, Duration::ZERO)
}

fn power_action(app: &AppState, raw: &str, command: &str, during: &str, after: &str) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, raw)?;
    let before = {
        let server = world
            .data
            .servers
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found("server", id))?;
        let before = server.status.clone();
        server.status = during.into();
        boot_or_stop(server, command, &before);
        before
    };
    let rescue_booting = world
        .data
        .servers
        .get(&id)
        .and_then(|s| s.in_rescue.as_ref())
        .is_some_and(|r| r.boot == 0);
    if rescue_booting {
        // A fresh id per rescue boot: the SSH server of an earlier boot must not carry over.
        let boot = world.next_id();
        if let Some(r) = world
            .data
            .servers
            .get_mut(&id)
            .and_then(|s| s.in_rescue.as_mut())
        {
            r.boot = boot;
        }
    }
    let effect = Effect::ServerStatus {
        server: id,
        on_success: after.into(),
        on_error: before,
    };
    let action = server_action(&mut world, id, command, effect);
    created(action_reply(&world, action))
}

/// What a power action does to the rescue system: a boot (poweron from off, reboot, reset) starts
/// the rescue system when rescue is enabled, which consumes it (Hetzner: rescue mode is disabled
/// once booted into), and otherwise boots the disk; stopping ends the rescue system.
fn boot_or_stop(server: &mut crate::world::Server, command: &str, before: &str) {
    let boots = match command {
        "start_server" => before == "off",
        "reboot_server" | "reset_server" => true,
        _ => false,
    };
    if boots {
        server.in_rescue = server
            .rescue
            .take()
            .map(|setup| RescueBoot { setup, boot: 0 });
        server.rescue_enabled = false;
    } else if matches!(command, "stop_server" | "shutdown_server") {
        server.in_rescue = None;
    }
}

fn root_password(world: &mut World) -> String {
    format!("sim-{:x}", world.next_id())
}

#[derive(Debug, Deserialize)]
struct RescueBody {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    ssh_keys: Vec<i64>,
}

async fn enable_rescue(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<RescueBody>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    if req.kind.as_deref().is_some_and(|k| k != "linux64") {
        return Err(ApiError::field("type", "Must be one of: linux64."));
    }
    if let Some(missing) = req
        .ssh_keys
        .iter()
        .find(|k| !world.data.ssh_keys.contains_key(k))
    {
        return Err(ApiError::field(
            "ssh_keys",
            format!("SSH key {missing} not found"),
        ));
    }
    let public_keys = req
        .ssh_keys
        .iter()
        .filter_map(|k| world.data.ssh_keys.get(k))
        .map(|k| k.public_key.clone())
        .collect();
    let password = root_password(&mut world);
    if let Some(s) = world.data.servers.get_mut(&id) {
        s.rescue_enabled = true;
        s.rescue = Some(RescueSetup {
            public_keys,
            root_password: password.clone(),
        });
    }
    let action = server_action(&mut world, id, "enable_rescue", Effect::None);
    created(json!({"root_password": password, "action": action_json(&world, action)}))
}

async fn disable_rescue(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    if let Some(s) = world.data.servers.get_mut(&id) {
        s.rescue_enabled = false;
        s.rescue = None;
    }
    let action = server_action(&mut world, id, "disable_rescue", Effect::None);
    created(action_reply(&world, action))
}

#[derive(Debug, Deserialize)]
struct CreateImageBody {
    description: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    labels: Labels,
}

async fn create_image(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<CreateImageBody>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    let kind = req.kind.unwrap_or_else(|| "snapshot".into());
    if kind != "snapshot" && kind != "backup" {
        return Err(ApiError::field("type", "Must be one of: snapshot, backup."));
    }
    validate_labels(&req.labels).map_err(|e| ApiError::field("labels", e.to_string()))?;
    let server = world.data.servers[&id].clone();
    let arch = catalog::server_type(&server.server_type).map_or("x86", |t| t.arch.as_str());
    let source = server
        .image
        .and_then(|i| world.data.images.get(&i))
        .cloned();
    let image_id = world.next_id();
    let image = Image {
        id: image_id,
        kind,
        status: "creating".into(),
        name: None,
        description: req
            .description
            .unwrap_or_else(|| format!("{}-{}", server.name, world.clock.timestamp())),
        image_size: Some(f64::from(server.primary_disk_size) / 20.0),
        disk_size: f64::from(server.primary_disk_size),
        created: world.clock.timestamp(),
        created_from: Some((server.id, server.name.clone())),
        os_flavor: source
            .as_ref()
            .map_or("unknown".into(), |s| s.os_flavor.clone()),
        os_version: source.and_then(|s| s.os_version),
        architecture: arch.into(),
        labels: req.labels,
        protect_delete: false,
        // The snapshot holds what the disk holds; the labels the client sent decide nothing.
        disk: server.disk.clone(),
    };
    world.data.images.insert(image_id, image);
    let action = world.create_action(
        "create_image",
        &[(id, "server"), (image_id, "image")],
        Effect::ImageReady { image: image_id },
        Duration::ZERO,
    );
    if world.faults.fail_create_image()
        && let Some(a) = world.data.actions.get_mut(&action)
    {
        a.fails = true;
    }
    let body = json!({"image": image_json(&world, &world.data.images[&image_id]), "action": action_json(&world, action)});
    created(body)
}

#[derive(Debug, Deserialize)]
struct RebuildBody {
    image: Option<IdOrName>,
}

async fn rebuild(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<RebuildBody>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    let server = world.data.servers[&id].clone();
    if server.protect_rebuild {
        return Err(ApiError::Protected(format!(
            "server {id} is rebuild protected"
        )));
    }
    let image = req
        .image
        .ok_or_else(|| ApiError::field("image", "Missing data for required field."))?;
    let arch = catalog::server_type(&server.server_type).map_or("x86", |t| t.arch.as_str());
    if find_image(&world, &image.as_text(), Some(arch)).is_some_and(|i| i.architecture != arch) {
        return Err(super::servers::incompatible_architecture());
    }
    let image = find_image(&world, &image.as_text(), Some(arch))
        .filter(|i| i.architecture == arch && i.status == "available")
        .ok_or_else(|| {
            ApiError::field(
                "image",
                format!("image {:?} not found for {arch}", image.as_text()),
            )
        })?
        .id;
    let previous = server.status.clone();
    let disk = world.data.images[&image].disk.clone();
    if let Some(s) = world.data.servers.get_mut(&id) {
        s.image = Some(image);
        s.status = "rebuilding".into();
        s.disk = disk;
        s.disk_writes += 1;
        s.in_rescue = None;
    }
    let on_success = if previous == "off" { "off" } else { "running" };
    let effect = Effect::ServerStatus {
        server: id,
        on_success: on_success.into(),
        on_error: previous,
    };
    let action = server_action(&mut world, id, "rebuild_server", effect);
    let password = root_password(&mut world);
    created(json!({"action": action_json(&world, action), "root_password": password}))
}

#[derive(Debug, Deserialize)]
struct ChangeTypeBody {
    server_type: Option<IdOrName>,
    upgrade_disk: Option<bool>,
}

async fn change_type(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<ChangeTypeBody>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    let requested = req
        .server_type
        .ok_or_else(|| ApiError::field("server_type", "Missing data for required field."))?;
    let new_type = catalog::server_type(&requested.as_text()).ok_or_else(|| {
        ApiError::field(
            "server_type",
            format!("server type {:?} not found", requested.as_text()),
        )
    })?;
    let server = world.data.servers[&id].clone();
    if server.status != "off" {
        return Err(ApiError::Coded {
            code: "server_not_stopped",
            message: format!("server {id} must be powered off to change its type"),
        });
    }
    let old_type = catalog::server_type(&server.server_type);
    if old_type.is_some_and(|t| t.arch != new_type.arch) {
        return Err(ApiError::field(
            "server_type",
            "cannot change the architecture of a server",
        ));
    }
    let upgrade_disk = req
        .upgrade_disk
        .ok_or_else(|| ApiError::field("upgrade_disk", "Missing data for required field."))?;
    // A disk never shrinks: whether or not the disk is upgraded, a type whose disk is smaller
    // than the server's current disk does not fit (hcloud-go's `invalid_server_type`).
    if f64::from(server.primary_disk_size) > new_type.disk {
        return Err(ApiError::Coded {
            code: "invalid_server_type",
            message: format!(
                "server type {} does not fit: its disk ({} GB) is smaller than the server's disk ({} GB), which cannot shrink",
                new_type.name, new_type.disk, server.primary_disk_size
            ),
        });
    }
    let location = catalog::location(&server.location);
    if location.is_some_and(|l| !new_type.available_in(l)) {
        return Err(ApiError::field(
            "server_type",
            format!("{} is not available in {}", new_type.name, server.location),
        ));
    }
    if let Some(s) = world.data.servers.get_mut(&id) {
        s.server_type = new_type.name.into();
        if upgrade_disk {
            s.primary_disk_size = new_type.disk as i32;
        }
    }
    let effect = Effect::ServerStatus {
        server: id,
        on_success: "off".into(),
        on_error: "off".into(),
    };
    let action = server_action(&mut world, id, "change_server_type", effect);
    created(action_reply(&world, action))
}

#[derive(Debug, Deserialize)]
struct NetworkBody {
    network: Option<i64>,
    ip: Option<String>,
    #[serde(default)]
    alias_ips: Vec<String>,
}

async fn attach_to_network(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<NetworkBody>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    let network = req
        .network
        .ok_or_else(|| ApiError::field("network", "Missing data for required field."))?;
    let network = find_network(&world, &network.to_string())?;
    let server = world.data.servers[&id].clone();
    if server.private_net.iter().any(|n| n.network == network) {
        return Err(ApiError::Coded {
            code: "server_already_attached",
            message: format!("server {id} is already attached to network {network}"),
        });
    }
    let parse = |raw: &str, field: &str| {
        raw.parse::<Ipv4Addr>()
            .map_err(|_| ApiError::field(field, "invalid IP address"))
    };
    let requested = req.ip.as_deref().map(|ip| parse(ip, "ip")).transpose()?;
    let zone = catalog::location(&server.location).map_or("eu-central", |l| l.network_zone);
    let ip = allocate_private_ip(&world, network, zone, requested, &[])?;
    let mut pending = vec![ServerNet {
        network,
        ip,
        alias_ips: vec![],
        mac_address: world.alloc_mac(),
    }];
    for raw in &req.alias_ips {
        let alias = allocate_private_ip(
            &world,
            network,
            zone,
            Some(parse(raw, "alias_ips")?),
            &pending,
        )?;
        pending[0].alias_ips.push(alias);
    }
    if let Some(s) = world.data.servers.get_mut(&id) {
        s.private_net.extend(pending);
    }
    let action = world.create_action(
        "attach_to_network",
        &[(id, "server"), (network, "network")],
        Effect::None,
        Duration::ZERO,
    );
    created(action_reply(&world, action))
}

async fn detach_from_network(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<NetworkBody>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    let network = req
        .network
        .ok_or_else(|| ApiError::field("network", "Missing data for required field."))?;
    let server = world
        .data
        .servers
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("server", id))?;
    if !server.private_net.iter().any(|n| n.network == network) {
        return Err(ApiError::Coded {
            code: "server_not_attached_to_network",
            message: format!("server {id} is not attached to network {network}"),
        });
    }
    server.private_net.retain(|n| n.network != network);
    let action = world.create_action(
        "detach_from_network",
        &[(id, "server"), (network, "network")],
        Effect::None,
        Duration::ZERO,
    );
    created(action_reply(&world, action))
}

#[derive(Debug, Deserialize)]
struct PlacementBody {
    placement_group: Option<i64>,
}

async fn add_to_placement_group(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<PlacementBody>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    let pg = req
        .placement_group
        .ok_or_else(|| ApiError::field("placement_group", "Missing data for required field."))?;
    if !world.data.placement_groups.contains_key(&pg) {
        return Err(ApiError::not_found("placement_group", pg));
    }
    let server = &world.data.servers[&id];
    if server.placement_group.is_some() {
        return Err(ApiError::Coded {
            code: "server_already_in_placement_group",
            message: format!("server {id} is already in a placement group"),
        });
    }
    if server.status != "off" {
        return Err(ApiError::Coded {
            code: "server_not_stopped",
            message: format!("server {id} must be powered off"),
        });
    }
    if world
        .data
        .servers
        .values()
        .filter(|s| s.placement_group == Some(pg))
        .count()
        >= MAX_SERVERS_PER_GROUP
    {
        return Err(super::placement_groups::group_full(pg));
    }
    if let Some(s) = world.data.servers.get_mut(&id) {
        s.placement_group = Some(pg);
    }
    let action = world.create_action(
        "add_to_placement_group",
        &[(id, "server"), (pg, "placement_group")],
        Effect::None,
        Duration::ZERO,
    );
    created(action_reply(&world, action))
}

async fn remove_from_placement_group(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    let server = world
        .data
        .servers
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("server", id))?;
    let Some(pg) = server.placement_group.take() else {
        return Err(ApiError::Coded {
            code: "server_not_in_placement_group",
            message: format!("server {id} is not in a placement group"),
        });
    };
    let action = world.create_action(
        "remove_from_placement_group",
        &[(id, "server"), (pg, "placement_group")],
        Effect::None,
        Duration::ZERO,
    );
    created(action_reply(&world, action))
}

#[derive(Debug, Deserialize)]
struct ProtectionBody {
    delete: Option<bool>,
    rebuild: Option<bool>,
}

async fn change_protection(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<ProtectionBody>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    if req.delete.is_some() && req.rebuild.is_some() && req.delete != req.rebuild {
        return Err(ApiError::field(
            "rebuild",
            "delete and rebuild protection must be set together",
        ));
    }
    if let Some(s) = world.data.servers.get_mut(&id) {
        if let Some(d) = req.delete {
            s.protect_delete = d;
        }
        if let Some(r) = req.rebuild {
            s.protect_rebuild = r;
        }
    }
    let action = server_action(&mut world, id, "change_protection", Effect::None);
    created(action_reply(&world, action))
}
