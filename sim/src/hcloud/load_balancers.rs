//! `/load_balancers`: list, get, create (services, targets, network), update, delete, the wire shape
//! with per-service target health, and the service/target parsing shared with the actions.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::actions::{action_json, family_routes};
use super::catalog::{lb_type_json, location_json};
use super::error::{ApiError, FieldErrors};
use super::list::{ListQuery, named_key};
use super::networks::allocate_private_ip;
use super::rename::{self, NameAndLabels};
use super::request::{Body, Reply, created, ok, parse_id};
use super::servers::{IdOrName, servers_matching};
use crate::catalog::{self, LOCATIONS};
use crate::labels::{Labels, Selector, validate_labels};
use crate::world::{
    Effect, HealthCheck, LbService, LbTarget, LoadBalancer, Server, World, WorldEvent,
};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/load_balancers", get(list).post(create))
        .route(
            "/load_balancers/{id}",
            get(get_one).put(update).delete(delete),
        )
        .merge(family_routes("load_balancers", "load_balancer"))
}

/// Whether a load balancer routes to a server (as a server target or through a selector).
pub fn targets_server(world: &World, lb: &LoadBalancer, s: &Server) -> bool {
    let _ = world;
    lb.targets.iter().any(|t| match t {
        LbTarget::Server { id, .. } => *id == s.id,
        LbTarget::LabelSelector { selector, .. } => {
            Selector::parse(selector).is_ok_and(|sel| sel.matches(&s.labels))
        }
        LbTarget::Ip(_) => false,
    })
}

fn health(
    world: &World,
    lb: &LoadBalancer,
    server: Option<&Server>,
    use_private_ip: bool,
) -> Vec<Value> {
    lb.services
        .iter()
        .map(|svc| {
            let reachable = server.is_some_and(|s| {
                s.status == "running"
                    && u16::try_from(svc.destination_port).ok().and_then(|p| world.port_probe.check(s.id, p)).unwrap_or(true)
                    && (!use_private_ip || s.private_net.iter().any(|n| lb.private_net.iter().any(|(net, _)| *net == n.network)))
            });
            let _ = world;
            json!({"listen_port": svc.listen_port, "status": if reachable { "healthy" } else { "unhealthy" }})
        })
        .collect()
}

/// A load balancer in wire shape.
pub fn load_balancer_json(world: &World, lb: &LoadBalancer) -> Value {
    let location = catalog::location(&lb.location).unwrap_or(&LOCATIONS[0]);
    let lb_type = catalog::load_balancer_type(&lb.lb_type).map(lb_type_json);
    let targets: Vec<Value> = lb
        .targets
        .iter()
        .map(|t| match t {
            LbTarget::Server { id, use_private_ip } => json!({
                "type": "server", "server": {"id": id}, "use_private_ip": use_private_ip,
                "health_status": health(world, lb, world.data.servers.get(id), *use_private_ip),
            }),
            LbTarget::LabelSelector { selector, use_private_ip } => json!({
                "type": "label_selector", "label_selector": {"selector": selector}, "use_private_ip": use_private_ip,
                "targets": servers_matching(world, selector).into_iter().map(|s| json!({
                    "type": "server", "server": {"id": s.id}, "use_private_ip": use_private_ip,
                    "health_status": health(world, lb, Some(s), *use_private_ip),
                })).collect::<Vec<_>>(),
            }),
            LbTarget::Ip(ip) => json!({
                "type": "ip", "ip": {"ip": ip},
                "health_status": lb.services.iter().map(|s| json!({"listen_port": s.listen_port, "status": "healthy"})).collect::<Vec<_>>(),
            }),
        })
        .collect();
    json!({
        "id": lb.id, "name": lb.name, "created": lb.created, "labels": lb.labels,
        "public_net": {
            "enabled": lb.public_enabled,
            "ipv4": {"ip": lb.ipv4.to_string(), "dns_ptr": super::primary_ips::default_ipv4_ptr(lb.ipv4)},
            "ipv6": {"ip": lb.ipv6, "dns_ptr": format!("static.{}.clients.your-server.de", lb.id)},
        },
        "private_net": lb.private_net.iter().map(|(n, ip)| json!({"network": n, "ip": ip.to_string()})).collect::<Vec<_>>(),
        "location": location_json(location),
        "load_balancer_type": lb_type,
        "protection": {"delete": lb.protect_delete},
        "targets": targets,
        "services": lb.services.iter().map(service_json).collect::<Vec<_>>(),
        "algorithm": {"type": lb.algorithm},
        "outgoing_traffic": 0, "ingoing_traffic": 0, "included_traffic": 21_990_232_555_520i64,
    })
}

/// A service in wire shape. `http` (of the service and of its health check) is absent, not
/// `null`, when the protocol has none: Hetzner's description makes both optional objects.
fn service_json(s: &LbService) -> Value {
    let mut health_check = json!({
        "protocol": s.health_check.protocol, "port": s.health_check.port, "interval": s.health_check.interval,
        "timeout": s.health_check.timeout, "retries": s.health_check.retries,
    });
    if let Some(http) = &s.health_check.http {
        health_check["http"] = json!(http);
    }
    let mut service = json!({
        "protocol": s.protocol, "listen_port": s.listen_port, "destination_port": s.destination_port,
        "proxyprotocol": s.proxyprotocol, "health_check": health_check,
    });
    if let Some(http) = &s.http {
        service["http"] = json!(http);
    }
    service
}

/// A service as sent by clients (all optional so that update_service can merge).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServiceRequest {
    /// `tcp`, `http`, `https`.
    pub protocol: Option<String>,
    /// Public port.
    pub listen_port: Option<i32>,
    /// Target port.
    pub destination_port: Option<i32>,
    /// PROXY protocol.
    pub proxyprotocol: Option<bool>,
    /// Health check.
    pub health_check: Option<HealthCheckRequest>,
    /// HTTP settings.
    pub http: Option<Value>,
}

/// A health check as sent by clients.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct HealthCheckRequest {
    protocol: Option<String>,
    port: Option<i32>,
    interval: Option<i32>,
    timeout: Option<i32>,
    retries: Option<i32>,
    http: Option<Value>,
}

/// Builds a service from a request, over `base` for updates.
pub fn build_service(
    req: &ServiceRequest,
    base: Option<&LbService>,
) -> Result<LbService, ApiError> {
    let mut fields = FieldErrors::default();
    let protocol = req
        .protocol
        .clone()
        .or_else(|| base.map(|b| b.protocol.clone()));
    let protocol = protocol.unwrap_or_default();
    if !["tcp", "http", "https"].contains(&protocol.as_str()) {
        fields.add("protocol", "Must be one of: tcp, http, https.");
    }
    let default_port = match protocol.as_str() {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    };
    let listen_port = req
        .listen_port
        .or(base.map(|b| b.listen_port))
        .or(default_port);
    let destination_port = req
        .destination_port
        .or(base.map(|b| b.destination_port))
        .or(if protocol == "tcp" { None } else { Some(80) });
    fields.require("listen_port", &listen_port);
    fields.require("destination_port", &destination_port);
    for (name, port) in [
        ("listen_port", listen_port),
        ("destination_port", destination_port),
    ] {
        if port.is_some_and(|p| !(1..=65535).contains(&p)) {
            fields.add(name, "Must be between 1 and 65535.");
        }
    }
    let destination = destination_port.unwrap_or_default();
    let hc = req.health_check.clone().unwrap_or_default();
    let base_hc = base.map(|b| b.health_check.clone());
    let health_check = HealthCheck {
        protocol: hc
            .protocol
            .or(base_hc.as_ref().map(|b| b.protocol.clone()))
            .unwrap_or_else(|| "tcp".into()),
        port: hc
            .port
            .or(base_hc.as_ref().map(|b| b.port))
            .unwrap_or(destination),
        interval: hc
            .interval
            .or(base_hc.as_ref().map(|b| b.interval))
            .unwrap_or(15),
        timeout: hc
            .timeout
            .or(base_hc.as_ref().map(|b| b.timeout))
            .unwrap_or(10),
        retries: hc
            .retries
            .or(base_hc.as_ref().map(|b| b.retries))
            .unwrap_or(3),
        http: hc
            .http
            .or(base_hc.and_then(|b| b.http))
            .map(health_check_http),
    };
    if !["tcp", "http"].contains(&health_check.protocol.as_str()) {
        fields.add("health_check.protocol", "Must be one of: tcp, http.");
    }
    fields.finish()?;
    let http = req.http.clone().or(base.and_then(|b| b.http.clone()));
    Ok(LbService {
        http: if protocol == "tcp" {
            None
        } else {
            Some(service_http(http.unwrap_or_else(|| json!({}))))
        },
        protocol,
        listen_port: listen_port.unwrap_or_default(),
        destination_port: destination,
        proxyprotocol: req
            .proxyprotocol
            .or(base.map(|b| b.proxyprotocol))
            .unwrap_or(false),
        health_check,
    })
}

/// Fills the defaults Hetzner reports for an HTTP health check.
fn health_check_http(given: Value) -> Value {
    with_defaults(
        given,
        json!({"domain": null, "path": "/", "response": "", "status_codes": ["2??", "3??"], "tls": false}),
    )
}

/// Fills the defaults Hetzner reports for a service's HTTP settings.
fn service_http(given: Value) -> Value {
    with_defaults(
        given,
        json!({"cookie_name": "HCLBSTICKY", "cookie_lifetime": 300, "certificates": [], "redirect_http": false, "sticky_sessions": false}),
    )
}

fn with_defaults(given: Value, mut defaults: Value) -> Value {
    if let (Value::Object(given), Value::Object(out)) = (given, &mut defaults) {
        for (k, v) in given {
            if !v.is_null() || k == "domain" {
                out.insert(k, v);
            }
        }
    }
    defaults
}

/// A target as sent by clients.
#[derive(Debug, Clone, Deserialize)]
pub struct TargetRequest {
    #[serde(rename = "type")]
    kind: Option<String>,
    server: Option<IdRef>,
    label_selector: Option<SelectorRef>,
    ip: Option<IpRef>,
    /// Route to the servers' private IPs.
    pub use_private_ip: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
struct IdRef {
    id: i64,
}

#[derive(Debug, Clone, Deserialize)]
struct SelectorRef {
    selector: String,
}

#[derive(Debug, Clone, Deserialize)]
struct IpRef {
    ip: String,
}

/// Validates a target against the world and the load balancer's networks.
pub fn build_target(
    world: &World,
    lb_networks: &[i64],
    req: &TargetRequest,
) -> Result<LbTarget, ApiError> {
    let use_private_ip = req.use_private_ip.unwrap_or(false);
    if use_private_ip && lb_networks.is_empty() {
        return Err(ApiError::Coded {
            code: "load_balancer_not_attached_to_network",
            message: "use_private_ip needs the load balancer attached to a network".into(),
        });
    }
    match (
        req.kind.as_deref(),
        &req.server,
        &req.label_selector,
        &req.ip,
    ) {
        (Some("server"), Some(s), _, _) => {
            let server = world
                .data
                .servers
                .get(&s.id)
                .ok_or_else(|| ApiError::not_found("server", s.id))?;
            if use_private_ip
                && !server
                    .private_net
                    .iter()
                    .any(|n| lb_networks.contains(&n.network))
            {
                return Err(ApiError::Coded {
                    code: "target_server_not_attached_to_network",
                    message: format!("server {} is not in the load balancer's network", s.id),
                });
            }
            Ok(LbTarget::Server {
                id: s.id,
                use_private_ip,
            })
        }
        (Some("label_selector"), _, Some(sel), _) => {
            Selector::parse(&sel.selector)
                .map_err(|e| ApiError::field("label_selector", e.to_string()))?;
            Ok(LbTarget::LabelSelector {
                selector: sel.selector.clone(),
                use_private_ip,
            })
        }
        (Some("ip"), _, _, Some(ip)) => {
            ip.ip
                .parse::<std::net::IpAddr>()
                .map_err(|_| ApiError::field("ip", "invalid IP address"))?;
            Ok(LbTarget::Ip(ip.ip.clone()))
        }
        _ => Err(ApiError::field(
            "type",
            "Must be one of: server, label_selector, ip (with the matching object).",
        )),
    }
}

/// Finds a load balancer id or answers `not_found`.
pub fn find_lb(world: &World, raw: &str) -> Result<i64, ApiError> {
    let id = parse_id("load_balancer", raw)?;
    world
        .data
        .load_balancers
        .contains_key(&id)
        .then_some(id)
        .ok_or_else(|| ApiError::not_found("load_balancer", id))
}

async fn list(State(app): State<AppState>, RawQuery(q): RawQuery) -> Reply {
    let query = ListQuery::parse(q.as_deref())?;
    let world = app.read();
    let mut items: Vec<&LoadBalancer> = world
        .data
        .load_balancers
        .values()
        .filter(|l| query.matches(Some(&l.name), &l.labels))
        .collect();
    query.sort(&mut items, |l, f| named_key(l.id, &l.name, &l.created, f))?;
    let (page, meta) = query.paginate(items);
    ok(
        json!({"load_balancers": page.into_iter().map(|l| load_balancer_json(&world, l)).collect::<Vec<_>>(), "meta": meta}),
    )
}

async fn get_one(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let world = app.read();
    let id = find_lb(&world, &id)?;
    ok(json!({"load_balancer": load_balancer_json(&world, &world.data.load_balancers[&id])}))
}

#[derive(Debug, Deserialize)]
struct Algorithm {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Debug, Deserialize)]
struct CreateLb {
    name: Option<String>,
    load_balancer_type: Option<IdOrName>,
    algorithm: Option<Algorithm>,
    #[serde(default)]
    services: Vec<ServiceRequest>,
    #[serde(default)]
    targets: Vec<TargetRequest>,
    #[serde(default)]
    labels: Labels,
    public_interface: Option<bool>,
    network: Option<i64>,
    network_zone: Option<String>,
    location: Option<IdOrName>,
}

async fn create(State(app): State<AppState>, Body(req): Body<CreateLb>) -> Reply {
    let mut world = app.write();
    let mut fields = FieldErrors::default();
    fields.require("name", &req.name);
    fields.require("load_balancer_type", &req.load_balancer_type);
    let lb_type = req
        .load_balancer_type
        .as_ref()
        .and_then(|t| catalog::load_balancer_type(&t.as_text()));
    if req.load_balancer_type.is_some() && lb_type.is_none() {
        fields.add("load_balancer_type", "load balancer type not found");
    }
    let location = match (&req.location, &req.network_zone) {
        (Some(l), _) => {
            let found = LOCATIONS
                .iter()
                .find(|x| x.name == l.as_text() || x.id.to_string() == l.as_text());
            if found.is_none() {
                fields.add("location", "location not found");
            }
            found
        }
        (None, Some(zone)) => {
            let found = LOCATIONS.iter().find(|x| x.network_zone == zone);
            if found.is_none() {
                fields.add("network_zone", "unknown network zone");
            }
            found
        }
        (None, None) => {
            fields.add("location", "either location or network_zone is required");
            None
        }
    };
    let algorithm = req
        .algorithm
        .map_or_else(|| "round_robin".to_string(), |a| a.kind);
    if !["round_robin", "least_connections"].contains(&algorithm.as_str()) {
        fields.add(
            "algorithm.type",
            "Must be one of: round_robin, least_connections.",
        );
    }
    if let Err(e) = validate_labels(&req.labels) {
        fields.add("labels", e.to_string());
    }
    if let Some(n) = req.network
        && !world.data.networks.contains_key(&n)
    {
        fields.add("network", format!("network {n} not found"));
    }
    fields.finish()?;
    let (Some(lb_type), Some(location)) = (lb_type, location) else {
        return Err(ApiError::field(
            "load_balancer_type",
            "invalid load balancer type or location",
        ));
    };
    let name = req.name.unwrap_or_default();
    if world.data.load_balancers.values().any(|l| l.name == name) {
        return Err(ApiError::Uniqueness {
            field: "name".into(),
        });
    }
    let mut services: Vec<LbService> = Vec::new();
    for s in &req.services {
        super::certificates::ensure_certificates_exist(&world, s.http.as_ref())?;
        let service = build_service(s, None)?;
        if services
            .iter()
            .any(|o| o.listen_port == service.listen_port)
        {
            return Err(ApiError::Coded {
                code: "source_port_already_used",
                message: format!("listen port {} is used twice", service.listen_port),
            });
        }
        services.push(service);
    }
    if services.len() as i64 > lb_type.max_services
        || req.targets.len() as i64 > lb_type.max_targets
    {
        return Err(ApiError::ResourceLimit(format!(
            "{} allows {} services and {} targets",
            lb_type.name, lb_type.max_services, lb_type.max_targets
        )));
    }
    let mut private_net = Vec::new();
    if let Some(network) = req.network {
        private_net.push((
            network,
            allocate_private_ip(&world, network, location.network_zone, None, &[])?,
        ));
    }
    let networks: Vec<i64> = private_net.iter().map(|(n, _)| *n).collect();
    let mut targets = Vec::new();
    for t in &req.targets {
        let target = build_target(&world, &networks, t)?;
        if targets.contains(&target) {
            return Err(ApiError::Coded {
                code: "target_already_defined",
                message: "target given twice".into(),
            });
        }
        targets.push(target);
    }
    let id = world.next_id();
    let lb = LoadBalancer {
        id,
        name,
        lb_type: lb_type.name.into(),
        location: location.name.into(),
        algorithm,
        labels: req.labels,
        created: world.clock.timestamp(),
        ipv4: world.alloc_ipv4(),
        ipv6: world.alloc_ipv6_net().replace("::/64", "::1"),
        public_enabled: req.public_interface.unwrap_or(true),
        private_net,
        services,
        targets,
        protect_delete: false,
    };
    let ipv4 = lb.ipv4;
    world.data.load_balancers.insert(id, lb);
    world.emit(WorldEvent::LoadBalancerChanged { id, ipv4 });
    let action = world.create_action(
        "create_load_balancer",
        &[(id, "load_balancer")],
        Effect::None,
        Duration::ZERO,
    );
    let body = json!({"load_balancer": load_balancer_json(&world, &world.data.load_balancers[&id]), "action": action_json(&world, action)});
    created(body)
}

async fn update(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<NameAndLabels>,
) -> Reply {
    let mut world = app.write();
    let id = find_lb(&world, &id)?;
    rename::apply(&mut world.data.load_balancers, id, "load_balancer", req)?;
    ok(json!({"load_balancer": load_balancer_json(&world, &world.data.load_balancers[&id])}))
}

async fn delete(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let mut world = app.write();
    let id = find_lb(&world, &id)?;
    if world.data.load_balancers[&id].protect_delete {
        return Err(ApiError::Protected(format!(
            "load balancer {id} is delete protected"
        )));
    }
    world.ensure_unlocked("load_balancer", id)?;
    if let Some(lb) = world.data.load_balancers.remove(&id) {
        world.emit(WorldEvent::LoadBalancerDeleted { id, ipv4: lb.ipv4 });
    }
    // The current API answers a load balancer delete with its action (the official Python client
    // requires it); older clients ignore the body.
    let action = world.create_action(
        "delete_load_balancer",
        &[(id, "load_balancer")],
        Effect::None,
        Duration::ZERO,
    );
    ok(json!({"action": action_json(&world, action)}))
}
