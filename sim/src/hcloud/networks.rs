//! `/networks`: list, get, create (with subnets and routes), update, delete (refused while servers or
//! load balancers are attached), and private IP allocation from subnets. Network actions live in
//! [`super::network_actions`].

use std::net::Ipv4Addr;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use ipnet::Ipv4Net;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::actions::family_routes;
use super::error::{ApiError, FieldErrors};
use super::list::{ListQuery, named_key};
use super::rename::{self, NameAndLabels};
use super::request::{Body, Reply, created, no_content, ok, parse_id};
use crate::catalog::NETWORK_ZONES;
use crate::labels::{Labels, validate_labels};
use crate::world::{Network, Route, ServerNet, Subnet, World};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/networks", get(list).post(create))
        .route("/networks/{id}", get(get_one).put(update).delete(delete))
        .merge(super::network_actions::routes())
        .merge(family_routes("networks", "network"))
}

/// The gateway Hetzner reports for every subnet: the first host of the network's range.
pub fn gateway(network: &Network) -> Ipv4Addr {
    network
        .ip_range
        .hosts()
        .next()
        .unwrap_or(network.ip_range.addr())
}

/// A network in wire shape.
pub fn network_json(world: &World, n: &Network) -> Value {
    let servers: Vec<i64> = world
        .data
        .servers
        .values()
        .filter(|s| s.private_net.iter().any(|p| p.network == n.id))
        .map(|s| s.id)
        .collect();
    let load_balancers: Vec<i64> = world
        .data
        .load_balancers
        .values()
        .filter(|lb| lb.private_net.iter().any(|(net, _)| *net == n.id))
        .map(|lb| lb.id)
        .collect();
    json!({
        "id": n.id, "name": n.name, "ip_range": n.ip_range.to_string(),
        "subnets": n.subnets.iter().map(|s| json!({
            "type": s.kind, "ip_range": s.ip_range.to_string(), "network_zone": s.network_zone,
            "gateway": gateway(n).to_string(), "vswitch_id": s.vswitch_id,
        })).collect::<Vec<_>>(),
        "routes": n.routes.iter().map(|r| json!({"destination": r.destination.to_string(), "gateway": r.gateway.to_string()})).collect::<Vec<_>>(),
        "servers": servers, "load_balancers": load_balancers,
        "protection": {"delete": n.protect_delete}, "labels": n.labels, "created": n.created,
        "expose_routes_to_vswitch": n.expose_routes_to_vswitch,
    })
}

/// Finds a network id or answers `not_found`.
pub fn find_network(world: &World, raw: &str) -> Result<i64, ApiError> {
    let id = parse_id("network", raw)?;
    world
        .data
        .networks
        .contains_key(&id)
        .then_some(id)
        .ok_or_else(|| ApiError::not_found("network", id))
}

/// Picks a free private IP for a server or load balancer in `zone`, or checks a requested one.
/// `pending` holds attachments made in the same request and not yet stored.
pub fn allocate_private_ip(
    world: &World,
    network_id: i64,
    zone: &str,
    requested: Option<Ipv4Addr>,
    pending: &[ServerNet],
) -> Result<Ipv4Addr, ApiError> {
    let network = world
        .data
        .networks
        .get(&network_id)
        .ok_or_else(|| ApiError::not_found("network", network_id))?;
    let mut used = world.used_private_ips(network_id);
    used.extend(
        pending
            .iter()
            .filter(|p| p.network == network_id)
            .map(|p| p.ip),
    );
    used.insert(gateway(network));
    let subnets: Vec<&Subnet> = network
        .subnets
        .iter()
        .filter(|s| s.network_zone == zone && s.kind != "vswitch")
        .collect();
    if subnets.is_empty() {
        return Err(ApiError::Coded {
            code: "no_subnet_available",
            message: format!("network {network_id} has no subnet in {zone}"),
        });
    }
    if let Some(ip) = requested {
        if !subnets.iter().any(|s| s.ip_range.contains(&ip)) || used.contains(&ip) {
            return Err(ApiError::Coded {
                code: "ip_not_available",
                message: format!("IP {ip} is not available"),
            });
        }
        return Ok(ip);
    }
    subnets
        .iter()
        .flat_map(|s| s.ip_range.hosts())
        .find(|ip| !used.contains(ip))
        .ok_or_else(|| ApiError::Coded {
            code: "ip_not_available",
            message: "no free IP left in the subnets".into(),
        })
}

/// Checks an IP range is private (RFC 1918) and parses it.
pub fn parse_private_range(field: &str, raw: &str, fields: &mut FieldErrors) -> Option<Ipv4Net> {
    let private: [Ipv4Net; 3] =
        ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"].map(|s| s.parse().unwrap_or_default());
    match raw.parse::<Ipv4Net>() {
        Ok(net) if net.trunc() == net && private.iter().any(|p| p.contains(&net)) => Some(net),
        Ok(_) => {
            fields.add(
                field,
                "IP range must be a private (RFC 1918) network address",
            );
            None
        }
        Err(_) => {
            fields.add(field, "invalid IP range");
            None
        }
    }
}

/// A subnet as sent by clients.
#[derive(Debug, Deserialize)]
pub struct SubnetRequest {
    #[serde(rename = "type")]
    kind: Option<String>,
    ip_range: Option<String>,
    network_zone: Option<String>,
    vswitch_id: Option<i64>,
}

/// Validates a subnet request against its network (range inside it, no overlap).
pub fn build_subnet(
    network: &Network,
    req: &SubnetRequest,
    fields: &mut FieldErrors,
) -> Option<Subnet> {
    fields.require("type", &req.kind);
    fields.require("network_zone", &req.network_zone);
    let kind = req.kind.clone().unwrap_or_default();
    if req.kind.is_some() && !["cloud", "server", "vswitch"].contains(&kind.as_str()) {
        fields.add("type", "Must be one of: cloud, server, vswitch.");
    }
    let zone = req.network_zone.clone().unwrap_or_default();
    if req.network_zone.is_some() && !NETWORK_ZONES.contains(&zone.as_str()) {
        fields.add("network_zone", "unknown network zone");
    }
    if kind == "vswitch" && req.vswitch_id.is_none() {
        fields.add("vswitch_id", "Missing data for required field.");
    }
    let range = match &req.ip_range {
        Some(raw) => parse_private_range("ip_range", raw, fields)?,
        None => next_free_subnet(network)?,
    };
    if !network.ip_range.contains(&range) {
        fields.add("ip_range", "subnet must be inside the network's IP range");
        return None;
    }
    Some(Subnet {
        kind,
        ip_range: range,
        network_zone: zone,
        vswitch_id: req.vswitch_id,
    })
}

fn next_free_subnet(network: &Network) -> Option<Ipv4Net> {
    let prefix = network.ip_range.prefix_len().max(24);
    network
        .ip_range
        .subnets(prefix)
        .ok()?
        .find(|c| !network.subnets.iter().any(|s| overlaps(&s.ip_range, c)))
}

/// Whether two ranges share an address.
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(b) || b.contains(a)
}

async fn list(State(app): State<AppState>, RawQuery(q): RawQuery) -> Reply {
    let query = ListQuery::parse(q.as_deref())?;
    let world = app.read();
    let mut items: Vec<&Network> = world
        .data
        .networks
        .values()
        .filter(|n| query.matches(Some(&n.name), &n.labels))
        .collect();
    query.sort(&mut items, |n, f| named_key(n.id, &n.name, &n.created, f))?;
    let (page, meta) = query.paginate(items);
    ok(
        json!({"networks": page.into_iter().map(|n| network_json(&world, n)).collect::<Vec<_>>(), "meta": meta}),
    )
}

async fn get_one(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let world = app.read();
    let id = find_network(&world, &id)?;
    ok(json!({"network": network_json(&world, &world.data.networks[&id])}))
}

#[derive(Debug, Deserialize)]
struct RouteRequest {
    destination: Option<String>,
    gateway: Option<String>,
}

/// Parses and checks a route against its network.
pub fn build_route(
    network: &Network,
    destination: Option<&str>,
    gw: Option<&str>,
    fields: &mut FieldErrors,
) -> Option<Route> {
    let destination = destination.and_then(|d| d.parse::<Ipv4Net>().ok());
    let gw = gw.and_then(|g| g.parse::<Ipv4Addr>().ok());
    if destination.is_none() {
        fields.add("destination", "invalid destination");
    }
    match gw {
        Some(g) if network.ip_range.contains(&g) && g != gateway(network) => {}
        _ => fields.add(
            "gateway",
            "gateway must be an address inside the network other than its gateway",
        ),
    }
    Some(Route {
        destination: destination?,
        gateway: gw?,
    })
}

#[derive(Debug, Deserialize)]
struct CreateNetwork {
    name: Option<String>,
    ip_range: Option<String>,
    #[serde(default)]
    subnets: Vec<SubnetRequest>,
    #[serde(default)]
    routes: Vec<RouteRequest>,
    #[serde(default)]
    labels: Labels,
    #[serde(default)]
    expose_routes_to_vswitch: bool,
}

async fn create(State(app): State<AppState>, Body(req): Body<CreateNetwork>) -> Reply {
    let mut world = app.write();
    let mut fields = FieldErrors::default();
    fields.require("name", &req.name);
    fields.require("ip_range", &req.ip_range);
    let range = req
        .ip_range
        .as_deref()
        .and_then(|r| parse_private_range("ip_range", r, &mut fields));
    if let Err(e) = validate_labels(&req.labels) {
        fields.add("labels", e.to_string());
    }
    let name = req.name.clone().unwrap_or_default();
    let mut network = Network {
        id: 0,
        name,
        ip_range: range.unwrap_or_default(),
        subnets: vec![],
        routes: vec![],
        labels: req.labels,
        created: world.clock.timestamp(),
        protect_delete: false,
        expose_routes_to_vswitch: req.expose_routes_to_vswitch,
    };
    if range.is_some() {
        for s in &req.subnets {
            if let Some(subnet) = build_subnet(&network, s, &mut fields) {
                if network
                    .subnets
                    .iter()
                    .any(|o| overlaps(&o.ip_range, &subnet.ip_range))
                {
                    return Err(ApiError::Coded {
                        code: "networks_overlap",
                        message: "subnets overlap".into(),
                    });
                }
                network.subnets.push(subnet);
            }
        }
        for r in &req.routes {
            if let Some(route) = build_route(
                &network,
                r.destination.as_deref(),
                r.gateway.as_deref(),
                &mut fields,
            ) {
                network.routes.push(route);
            }
        }
    }
    fields.finish()?;
    if world.data.networks.values().any(|n| n.name == network.name) {
        return Err(ApiError::Uniqueness {
            field: "name".into(),
        });
    }
    network.id = world.next_id();
    let id = network.id;
    world.data.networks.insert(id, network);
    created(json!({"network": network_json(&world, &world.data.networks[&id])}))
}

#[derive(Debug, Deserialize)]
struct UpdateNetwork {
    #[serde(flatten)]
    common: NameAndLabels,
    expose_routes_to_vswitch: Option<bool>,
}

async fn update(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<UpdateNetwork>,
) -> Reply {
    let mut world = app.write();
    let id = find_network(&world, &id)?;
    rename::apply(&mut world.data.networks, id, "network", req.common)?;
    if let Some(expose) = req.expose_routes_to_vswitch
        && let Some(network) = world.data.networks.get_mut(&id)
    {
        network.expose_routes_to_vswitch = expose;
    }
    ok(json!({"network": network_json(&world, &world.data.networks[&id])}))
}

/// `DELETE /networks/{id}`: "Attached resources will be detached automatically" (Hetzner's
/// description of the operation): servers and load balancers lose their interface in it.
async fn delete(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let mut world = app.write();
    let id = find_network(&world, &id)?;
    if world.data.networks[&id].protect_delete {
        return Err(ApiError::Protected(format!(
            "network {id} is delete protected"
        )));
    }
    world.ensure_unlocked("network", id)?;
    for server in world.data.servers.values_mut() {
        server.private_net.retain(|p| p.network != id);
    }
    for lb in world.data.load_balancers.values_mut() {
        lb.private_net.retain(|(n, _)| *n != id);
    }
    world.data.networks.remove(&id);
    no_content()
}
