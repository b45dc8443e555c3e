//! Load balancer actions: services, targets, networks, type, algorithm, public interface,
//! protection.

use std::net::Ipv4Addr;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use serde::Deserialize;

use super::AppState;
use super::actions::action_reply;
use super::certificates::ensure_certificates_exist;
use super::error::ApiError;
use super::load_balancers::{ServiceRequest, TargetRequest, build_service, build_target, find_lb};
use super::networks::{allocate_private_ip, find_network};
use super::request::{Body, DeleteProtection, Reply, created};
use super::servers::IdOrName;
use crate::catalog;
use crate::world::{Effect, LoadBalancer, World, WorldEvent};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/load_balancers/{id}/actions/add_service",
            post(add_service),
        )
        .route(
            "/load_balancers/{id}/actions/update_service",
            post(update_service),
        )
        .route(
            "/load_balancers/{id}/actions/delete_service",
            post(delete_service),
        )
        .route("/load_balancers/{id}/actions/add_target", post(add_target))
        .route(
            "/load_balancers/{id}/actions/remove_target",
            post(remove_target),
        )
        .route(
            "/load_balancers/{id}/actions/attach_to_network",
            post(attach_to_network),
        )
        .route(
            "/load_balancers/{id}/actions/detach_from_network",
            post(detach_from_network),
        )
        .route(
            "/load_balancers/{id}/actions/change_type",
            post(change_type),
        )
        .route(
            "/load_balancers/{id}/actions/change_algorithm",
            post(change_algorithm),
        )
        .route(
            "/load_balancers/{id}/actions/change_protection",
            post(change_protection),
        )
        .route(
            "/load_balancers/{id}/actions/enable_public_interface",
            post(enable_public),
        )
        .route(
            "/load_balancers/{id}/actions/disable_public_interface",
            post(disable_public),
        )
}

fn begin(world: &mut World, raw: &str) -> Result<i64, ApiError> {
    let id = find_lb(world, raw)?;
    world.ensure_unlocked("load_balancer", id)?;
    Ok(id)
}

fn lb_mut(world: &mut World, id: i64) -> Result<&mut LoadBalancer, ApiError> {
    world
        .data
        .load_balancers
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("load_balancer", id))
}

fn finish(world: &mut World, id: i64, command: &str, extra: &[(i64, &str)]) -> Reply {
    let mut resources = vec![(id, "load_balancer")];
    resources.extend_from_slice(extra);
    if let Some(lb) = world.data.load_balancers.get(&id) {
        world.emit(WorldEvent::LoadBalancerChanged { id, ipv4: lb.ipv4 });
    }
    let action = world.create_action(command, &resources, Effect::None, Duration::ZERO);
    created(action_reply(world, action))
}

fn max_of(lb: &LoadBalancer) -> (i64, i64) {
    catalog::load_balancer_type(&lb.lb_type).map_or((5, 25), |t| (t.max_services, t.max_targets))
}

async fn add_service(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<ServiceRequest>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    ensure_certificates_exist(&world, req.http.as_ref())?;
    let service = build_service(&req, None)?;
    let lb = lb_mut(&mut world, id)?;
    if lb
        .services
        .iter()
        .any(|s| s.listen_port == service.listen_port)
    {
        return Err(ApiError::Coded {
            code: "source_port_already_used",
            message: format!("listen port {} is already used", service.listen_port),
        });
    }
    if lb.services.len() as i64 >= max_of(lb).0 {
        return Err(ApiError::ResourceLimit(format!(
            "{} allows {} services",
            lb.lb_type,
            max_of(lb).0
        )));
    }
    lb.services.push(service);
    finish(&mut world, id, "add_service", &[])
}

async fn update_service(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<ServiceRequest>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    let port = req
        .listen_port
        .ok_or_else(|| ApiError::field("listen_port", "Missing data for required field."))?;
    ensure_certificates_exist(&world, req.http.as_ref())?;
    let lb = lb_mut(&mut world, id)?;
    let index = lb
        .services
        .iter()
        .position(|s| s.listen_port == port)
        .ok_or_else(|| ApiError::NotFound(format!("service with listen port {port} not found")))?;
    lb.services[index] = build_service(&req, Some(&lb.services[index]))?;
    finish(&mut world, id, "update_service", &[])
}

#[derive(Debug, Deserialize)]
struct PortBody {
    listen_port: Option<i32>,
}

async fn delete_service(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<PortBody>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    let port = req
        .listen_port
        .ok_or_else(|| ApiError::field("listen_port", "Missing data for required field."))?;
    let lb = lb_mut(&mut world, id)?;
    let before = lb.services.len();
    lb.services.retain(|s| s.listen_port != port);
    if lb.services.len() == before {
        return Err(ApiError::NotFound(format!(
            "service with listen port {port} not found"
        )));
    }
    finish(&mut world, id, "delete_service", &[])
}

fn lb_networks(world: &World, id: i64) -> Vec<i64> {
    world
        .data
        .load_balancers
        .get(&id)
        .map(|lb| lb.private_net.iter().map(|(n, _)| *n).collect())
        .unwrap_or_default()
}

async fn add_target(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<TargetRequest>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    let target = build_target(&world, &lb_networks(&world, id), &req)?;
    let lb = lb_mut(&mut world, id)?;
    if lb.targets.contains(&target) {
        return Err(ApiError::Coded {
            code: "target_already_defined",
            message: "the target is already defined".into(),
        });
    }
    if lb.targets.len() as i64 >= max_of(lb).1 {
        return Err(ApiError::ResourceLimit(format!(
            "{} allows {} targets",
            lb.lb_type,
            max_of(lb).1
        )));
    }
    lb.targets.push(target);
    finish(&mut world, id, "add_target", &[])
}

async fn remove_target(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<TargetRequest>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    let mut wanted = req.clone();
    wanted.use_private_ip = None;
    let target = build_target(&world, &[], &wanted)
        .or_else(|_| build_target(&world, &lb_networks(&world, id), &req))?;
    let lb = lb_mut(&mut world, id)?;
    let same = |a: &crate::world::LbTarget, b: &crate::world::LbTarget| {
        use crate::world::LbTarget::*;
        match (a, b) {
            (Server { id: x, .. }, Server { id: y, .. }) => x == y,
            (LabelSelector { selector: x, .. }, LabelSelector { selector: y, .. }) => x == y,
            (Ip(x), Ip(y)) => x == y,
            _ => false,
        }
    };
    let before = lb.targets.len();
    lb.targets.retain(|t| !same(t, &target));
    if lb.targets.len() == before {
        return Err(ApiError::NotFound("target not found".into()));
    }
    finish(&mut world, id, "remove_target", &[])
}

#[derive(Debug, Deserialize)]
struct NetworkBody {
    network: Option<i64>,
    ip: Option<String>,
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
    let lb = &world.data.load_balancers[&id];
    if lb.private_net.iter().any(|(n, _)| *n == network) {
        return Err(ApiError::Coded {
            code: "load_balancer_already_attached",
            message: format!("load balancer {id} is already attached to network {network}"),
        });
    }
    let zone = catalog::location(&lb.location).map_or("eu-central", |l| l.network_zone);
    let requested = req
        .ip
        .as_deref()
        .map(|ip| {
            ip.parse::<Ipv4Addr>()
                .map_err(|_| ApiError::field("ip", "invalid IP address"))
        })
        .transpose()?;
    let ip = allocate_private_ip(&world, network, zone, requested, &[])?;
    lb_mut(&mut world, id)?.private_net.push((network, ip));
    finish(
        &mut world,
        id,
        "attach_load_balancer_to_network",
        &[(network, "network")],
    )
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
    let lb = lb_mut(&mut world, id)?;
    if !lb.private_net.iter().any(|(n, _)| *n == network) {
        return Err(ApiError::Coded {
            code: "load_balancer_not_attached_to_network",
            message: format!("load balancer {id} is not attached to network {network}"),
        });
    }
    lb.private_net.retain(|(n, _)| *n != network);
    finish(
        &mut world,
        id,
        "detach_load_balancer_from_network",
        &[(network, "network")],
    )
}

#[derive(Debug, Deserialize)]
struct TypeBody {
    load_balancer_type: Option<IdOrName>,
}

async fn change_type(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<TypeBody>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    let requested = req
        .load_balancer_type
        .ok_or_else(|| ApiError::field("load_balancer_type", "Missing data for required field."))?;
    let new_type = catalog::load_balancer_type(&requested.as_text())
        .ok_or_else(|| ApiError::field("load_balancer_type", "load balancer type not found"))?;
    let lb = lb_mut(&mut world, id)?;
    if lb.services.len() as i64 > new_type.max_services
        || lb.targets.len() as i64 > new_type.max_targets
    {
        return Err(ApiError::ResourceLimit(format!(
            "{} cannot hold the current services and targets",
            new_type.name
        )));
    }
    lb.lb_type = new_type.name.into();
    finish(&mut world, id, "change_load_balancer_type", &[])
}

#[derive(Debug, Deserialize)]
struct AlgorithmBody {
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn change_algorithm(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<AlgorithmBody>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    let kind = req
        .kind
        .filter(|k| k == "round_robin" || k == "least_connections")
        .ok_or_else(|| {
            ApiError::field("type", "Must be one of: round_robin, least_connections.")
        })?;
    lb_mut(&mut world, id)?.algorithm = kind;
    finish(&mut world, id, "change_algorithm", &[])
}

async fn change_protection(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<DeleteProtection>,
) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, &id)?;
    if let Some(delete) = req.delete {
        lb_mut(&mut world, id)?.protect_delete = delete;
    }
    finish(&mut world, id, "change_protection", &[])
}

async fn enable_public(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    set_public(&app, &id, true)
}

async fn disable_public(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    set_public(&app, &id, false)
}

fn set_public(app: &AppState, raw: &str, enabled: bool) -> Reply {
    let mut world = app.write();
    let id = begin(&mut world, raw)?;
    let lb = lb_mut(&mut world, id)?;
    if !enabled && lb.private_net.is_empty() {
        return Err(ApiError::Coded {
            code: "load_balancer_not_attached_to_network",
            message: "a load balancer without a network must keep its public interface".into(),
        });
    }
    lb.public_enabled = enabled;
    let command = if enabled {
        "enable_public_interface"
    } else {
        "disable_public_interface"
    };
    finish(&mut world, id, command, &[])
}
