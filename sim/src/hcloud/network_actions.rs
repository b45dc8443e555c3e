//! Network actions: add_subnet, delete_subnet, add_route, delete_route, change_ip_range,
//! change_protection.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use ipnet::Ipv4Net;
use serde::Deserialize;

use super::AppState;
use super::actions::action_reply;
use super::error::{ApiError, FieldErrors};
use super::networks::{
    SubnetRequest, build_route, build_subnet, find_network, overlaps, parse_private_range,
};
use super::request::{Body, DeleteProtection, Reply, created};
use crate::world::{Effect, World};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks/{id}/actions/add_subnet", post(add_subnet))
        .route("/networks/{id}/actions/delete_subnet", post(delete_subnet))
        .route("/networks/{id}/actions/add_route", post(add_route))
        .route("/networks/{id}/actions/delete_route", post(delete_route))
        .route(
            "/networks/{id}/actions/change_ip_range",
            post(change_ip_range),
        )
        .route(
            "/networks/{id}/actions/change_protection",
            post(change_protection),
        )
}

fn begin(world: &mut World, raw: &str) -> Result<i64, ApiError> {
    let id = find_network(world, raw)?;
    world.ensure_unlocked("network", id)?;
    Ok(id)
}

fn finish(world: &mut World, id: i64, command: &str) -> Reply {
    let action = world.create_action(command, &[(id, "network")], Effect::None, Duration::ZERO);
    created(action_reply(world, action))
}

async fn add_subnet(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<SubnetRequest>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    let mut fields = FieldErrors::default();
    let network = &world.data.networks[&id];
    let subnet = build_subnet(network, &req, &mut fields);
    fields.finish()?;
    let subnet =
        subnet.ok_or_else(|| ApiError::field("ip_range", "no free subnet left in the network"))?;
    if network
        .subnets
        .iter()
        .any(|s| overlaps(&s.ip_range, &subnet.ip_range))
    {
        return Err(ApiError::Coded {
            code: "networks_overlap",
            message: "subnet overlaps an existing subnet".into(),
        });
    }
    if let Some(n) = world.data.networks.get_mut(&id) {
        n.subnets.push(subnet);
    }
    finish(&mut world, id, "add_subnet")
}

#[derive(Debug, Deserialize)]
struct SubnetRange {
    ip_range: Option<String>,
}

async fn delete_subnet(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<SubnetRange>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    let range: Ipv4Net = req
        .ip_range
        .as_deref()
        .ok_or_else(|| ApiError::field("ip_range", "Missing data for required field."))?
        .parse()
        .map_err(|_| ApiError::field("ip_range", "invalid IP range"))?;
    if !world.data.networks[&id]
        .subnets
        .iter()
        .any(|s| s.ip_range == range)
    {
        return Err(ApiError::NotFound(format!(
            "subnet {range} not found in network {id}"
        )));
    }
    let in_use = world
        .data
        .servers
        .values()
        .flat_map(|s| &s.private_net)
        .any(|p| p.network == id && range.contains(&p.ip))
        || world
            .data
            .load_balancers
            .values()
            .flat_map(|lb| &lb.private_net)
            .any(|(n, ip)| *n == id && range.contains(ip));
    if in_use {
        return Err(ApiError::Coded {
            code: "resource_in_use",
            message: format!("subnet {range} still has attached resources"),
        });
    }
    if let Some(n) = world.data.networks.get_mut(&id) {
        n.subnets.retain(|s| s.ip_range != range);
    }
    finish(&mut world, id, "delete_subnet")
}

#[derive(Debug, Deserialize)]
struct RouteBody {
    destination: Option<String>,
    gateway: Option<String>,
}

async fn add_route(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<RouteBody>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    let mut fields = FieldErrors::default();
    let route = build_route(
        &world.data.networks[&id],
        req.destination.as_deref(),
        req.gateway.as_deref(),
        &mut fields,
    );
    fields.finish()?;
    let route = route.ok_or_else(|| ApiError::field("destination", "invalid route"))?;
    let network = world
        .data
        .networks
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("network", id))?;
    if network
        .routes
        .iter()
        .any(|r| r.destination == route.destination)
    {
        return Err(ApiError::Uniqueness {
            field: "destination".into(),
        });
    }
    network.routes.push(route);
    finish(&mut world, id, "add_route")
}

async fn delete_route(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<RouteBody>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    let network = world
        .data
        .networks
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("network", id))?;
    let before = network.routes.len();
    network.routes.retain(|r| {
        Some(r.destination.to_string()) != req.destination
            || Some(r.gateway.to_string()) != req.gateway
    });
    if network.routes.len() == before {
        return Err(ApiError::NotFound("route not found".into()));
    }
    finish(&mut world, id, "delete_route")
}

async fn change_ip_range(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<SubnetRange>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    let mut fields = FieldErrors::default();
    fields.require("ip_range", &req.ip_range);
    let range = req
        .ip_range
        .as_deref()
        .and_then(|r| parse_private_range("ip_range", r, &mut fields));
    fields.finish()?;
    let range = range.ok_or_else(|| ApiError::field("ip_range", "invalid IP range"))?;
    let network = world
        .data
        .networks
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("network", id))?;
    if !range.contains(&network.ip_range) {
        return Err(ApiError::field(
            "ip_range",
            "the IP range can only be extended",
        ));
    }
    network.ip_range = range;
    finish(&mut world, id, "change_ip_range")
}

async fn change_protection(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<DeleteProtection>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    if let (Some(delete), Some(n)) = (req.delete, world.data.networks.get_mut(&id)) {
        n.protect_delete = delete;
    }
    finish(&mut world, id, "change_protection")
}
