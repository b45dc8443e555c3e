//! `/primary_ips/{id}/actions/*`: assign, unassign, change_dns_ptr and change_protection, and
//! `/servers/{id}/actions/change_dns_ptr`, which changes the server's primary IP the same way.

use std::net::Ipv6Addr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use ipnet::Ipv6Net;
use serde::Deserialize;

use super::AppState;
use super::actions::action_reply;
use super::error::{ApiError, FieldErrors};
use super::primary_ips::{
    assign as assign_ip, check_assignable, find, of_server, set_server_address,
};
use super::request::{Body, DeleteProtection, Reply, created};
use super::servers::find_server;
use crate::world::{Effect, PrimaryIp, World};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/primary_ips/{id}/actions/assign", post(assign))
        .route("/primary_ips/{id}/actions/unassign", post(unassign))
        .route(
            "/primary_ips/{id}/actions/change_dns_ptr",
            post(change_dns_ptr),
        )
        .route(
            "/primary_ips/{id}/actions/change_protection",
            post(change_protection),
        )
        .route(
            "/servers/{id}/actions/change_dns_ptr",
            post(change_server_dns_ptr),
        )
}

fn primary_ip_action(world: &mut World, id: i64, server: Option<i64>, command: &str) -> i64 {
    let mut resources = vec![(id, "primary_ip")];
    resources.extend(server.map(|s| (s, "server")));
    world.create_action(command, &resources, Effect::None, Duration::ZERO)
}

#[derive(Debug, Deserialize)]
struct AssignBody {
    assignee_id: Option<i64>,
    assignee_type: Option<String>,
}

async fn assign(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<AssignBody>,
) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    let mut fields = FieldErrors::default();
    fields.require("assignee_id", &req.assignee_id);
    fields.require("assignee_type", &req.assignee_type);
    if req.assignee_type.as_deref().is_some_and(|t| t != "server") {
        fields.add("assignee_type", "Must be one of: server.");
    }
    fields.finish()?;
    let server = req.assignee_id.unwrap_or_default();
    world.ensure_unlocked("primary_ip", id)?;
    check_assignable(&world, id, server)?;
    assign_ip(&mut world, id, server);
    let action = primary_ip_action(&mut world, id, Some(server), "assign_primary_ip");
    created(action_reply(&world, action))
}

/// Takes `p` off `server`, which must be powered off (its address goes with it).
pub fn unassign_from(world: &mut World, p: &PrimaryIp, server: i64) -> Result<(), ApiError> {
    if let Some(s) = world.data.servers.get_mut(&server) {
        if s.status != "off" {
            return Err(ApiError::Coded {
                code: "server_not_stopped",
                message: format!("server {server} must be powered off"),
            });
        }
        set_server_address(s, &p.family, None);
    }
    if let Some(record) = world.data.primary_ips.get_mut(&p.id) {
        record.assignee = None;
    }
    Ok(())
}

async fn unassign(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    world.ensure_unlocked("primary_ip", id)?;
    let p = world.data.primary_ips[&id].clone();
    let Some(server) = p.assignee else {
        return Err(ApiError::Coded {
            code: "primary_ip_not_assigned",
            message: format!("primary IP {id} is not assigned"),
        });
    };
    unassign_from(&mut world, &p, server)?;
    let action = primary_ip_action(&mut world, id, Some(server), "unassign_primary_ip");
    created(action_reply(&world, action))
}

/// `{ip, dns_ptr}`: `dns_ptr` null resets the entry to Hetzner's default.
#[derive(Debug, Deserialize)]
pub struct DnsPtrBody {
    /// The address whose entry changes.
    pub ip: Option<String>,
    /// The new name, or null to reset.
    #[serde(default)]
    pub dns_ptr: Option<String>,
}

/// Sets (or with `dns_ptr` null resets) the reverse DNS entry of `req.ip`, which must be the
/// primary IP's IPv4 address or an address of its IPv6 /64.
pub fn set_dns_ptr(world: &mut World, id: i64, req: DnsPtrBody) -> Result<(), ApiError> {
    let ip = req
        .ip
        .ok_or_else(|| ApiError::field("ip", "Missing data for required field."))?;
    let Some(p) = world.data.primary_ips.get_mut(&id) else {
        return Err(ApiError::not_found("primary_ip", id));
    };
    if !address_belongs(&p.family, &p.ip, &ip) {
        return Err(ApiError::field(
            "ip",
            format!("{ip} does not belong to primary IP {id}"),
        ));
    }
    apply_dns_ptr(&mut p.dns_ptr, ip, req.dns_ptr)
}

/// Whether `ip` is the IPv4 `owned` or an address of the IPv6 network `owned`.
pub fn address_belongs(family: &str, owned: &str, ip: &str) -> bool {
    if family == "ipv4" {
        ip == owned
    } else {
        let net: Option<Ipv6Net> = owned.parse().ok();
        let addr: Option<Ipv6Addr> = ip.parse().ok();
        net.zip(addr).is_some_and(|(n, a)| n.contains(&a))
    }
}

/// Sets (a hostname) or resets (`None`) the reverse DNS entry of `ip` in `entries`.
pub fn apply_dns_ptr(
    entries: &mut std::collections::BTreeMap<String, String>,
    ip: String,
    dns_ptr: Option<String>,
) -> Result<(), ApiError> {
    if dns_ptr
        .as_deref()
        .is_some_and(|d| d.is_empty() || d.len() > 255 || d.contains(char::is_whitespace))
    {
        return Err(ApiError::field("dns_ptr", "Not a valid hostname."));
    }
    match dns_ptr {
        Some(name) => entries.insert(ip, name),
        None => entries.remove(&ip),
    };
    Ok(())
}

async fn change_dns_ptr(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<DnsPtrBody>,
) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    world.ensure_unlocked("primary_ip", id)?;
    set_dns_ptr(&mut world, id, req)?;
    let action = primary_ip_action(&mut world, id, None, "change_dns_ptr");
    created(action_reply(&world, action))
}

/// A server's reverse DNS lives on its primary IPs: the one whose address (or /64) holds `ip`.
async fn change_server_dns_ptr(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<DnsPtrBody>,
) -> Reply {
    let mut world = app.write();
    let server = find_server(&world, &id)?.id;
    world.ensure_unlocked("server", server)?;
    let ip = req
        .ip
        .clone()
        .ok_or_else(|| ApiError::field("ip", "Missing data for required field."))?;
    let family = if ip.contains(':') { "ipv6" } else { "ipv4" };
    let primary = of_server(&world, server, family)
        .map(|p| p.id)
        .ok_or_else(|| {
            ApiError::field("ip", format!("{ip} is not an address of server {server}"))
        })?;
    set_dns_ptr(&mut world, primary, req).map_err(|e| match e {
        ApiError::InvalidInput { fields } if fields.iter().any(|(f, _)| f == "ip") => {
            ApiError::field("ip", format!("{ip} is not an address of server {server}"))
        }
        other => other,
    })?;
    let action = world.create_action(
        "change_dns_ptr",
        &[(server, "server")],
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
    let id = find(&world, &id)?;
    let delete = req.required()?;
    world.ensure_unlocked("primary_ip", id)?;
    if let Some(p) = world.data.primary_ips.get_mut(&id) {
        p.protect_delete = delete;
    }
    let action = primary_ip_action(&mut world, id, None, "change_protection");
    created(action_reply(&world, action))
}
