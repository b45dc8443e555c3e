//! `/floating_ips`: CRUD and the actions `assign`, `unassign`, `change_dns_ptr` and
//! `change_protection`. A floating IP moves between servers of its home location's network zone
//! without powering them off; deleting its server leaves it unassigned.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::actions::{action_json, action_reply, family_routes};
use super::catalog::location_json;
use super::error::{ApiError, FieldErrors};
use super::list::{ListQuery, named_key};
use super::primary_ip_actions::{DnsPtrBody, address_belongs, apply_dns_ptr};
use super::primary_ips::default_ipv4_ptr;
use super::request::{Body, DeleteProtection, Reply, created, no_content, ok, parse_id};
use crate::catalog::{self, LOCATIONS};
use crate::labels::{Labels, validate_labels};
use crate::world::{Effect, FloatingIp, World};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/floating_ips", get(list).post(create))
        .route(
            "/floating_ips/{id}",
            get(get_one).put(update).delete(delete),
        )
        .route("/floating_ips/{id}/actions/assign", post(assign))
        .route("/floating_ips/{id}/actions/unassign", post(unassign))
        .route(
            "/floating_ips/{id}/actions/change_dns_ptr",
            post(change_dns_ptr),
        )
        .route(
            "/floating_ips/{id}/actions/change_protection",
            post(change_protection),
        )
        .merge(family_routes("floating_ips", "floating_ip"))
}

/// A floating IP in wire shape.
pub fn floating_ip_json(f: &FloatingIp) -> Value {
    let location = catalog::location(&f.home_location).unwrap_or(&LOCATIONS[0]);
    let mut dns: Vec<Value> = f
        .dns_ptr
        .iter()
        .map(|(ip, ptr)| json!({"ip": ip, "dns_ptr": ptr}))
        .collect();
    if f.family == "ipv4"
        && !f.dns_ptr.contains_key(&f.ip)
        && let Ok(ip) = f.ip.parse()
    {
        dns.push(json!({"ip": f.ip, "dns_ptr": default_ipv4_ptr(ip)}));
    }
    json!({
        "id": f.id, "name": f.name, "description": f.description, "created": f.created,
        "ip": f.ip, "type": f.family, "server": f.server, "dns_ptr": dns,
        "home_location": location_json(location), "blocked": false,
        "protection": {"delete": f.protect_delete}, "labels": f.labels,
    })
}

/// The floating IPs assigned to `server` (its `public_net.floating_ips`).
pub fn of_server(world: &World, server: i64) -> Vec<i64> {
    world
        .data
        .floating_ips
        .values()
        .filter(|f| f.server == Some(server))
        .map(|f| f.id)
        .collect()
}

/// What deleting `server` does to its floating IPs: they stay, unassigned.
pub fn release_server(world: &mut World, server: i64) {
    for f in world.data.floating_ips.values_mut() {
        if f.server == Some(server) {
            f.server = None;
        }
    }
}

fn find(world: &World, raw: &str) -> Result<i64, ApiError> {
    let id = parse_id("floating_ip", raw)?;
    world
        .data
        .floating_ips
        .contains_key(&id)
        .then_some(id)
        .ok_or_else(|| ApiError::not_found("floating_ip", id))
}

/// A server of the floating IP's network zone.
fn check_server(world: &World, home: &str, server: i64) -> Result<(), ApiError> {
    let s = world
        .data
        .servers
        .get(&server)
        .ok_or_else(|| ApiError::field("server", format!("server {server} not found")))?;
    let zone = |name: &str| catalog::location(name).map(|l| l.network_zone);
    if zone(&s.location) != zone(home) {
        return Err(ApiError::field(
            "server",
            format!(
                "server {server} is not in the network zone of the floating IP's home location"
            ),
        ));
    }
    Ok(())
}

fn floating_ip_action(world: &mut World, id: i64, server: Option<i64>, command: &str) -> i64 {
    let mut resources = vec![(id, "floating_ip")];
    resources.extend(server.map(|s| (s, "server")));
    world.create_action(command, &resources, Effect::None, Duration::ZERO)
}

async fn list(State(app): State<AppState>, RawQuery(q): RawQuery) -> Reply {
    let query = ListQuery::parse(q.as_deref())?;
    let world = app.read();
    let mut items: Vec<&FloatingIp> = world
        .data
        .floating_ips
        .values()
        .filter(|f| query.matches(Some(&f.name), &f.labels))
        .collect();
    query.sort(&mut items, |f, field| {
        named_key(f.id, &f.name, &f.created, field)
    })?;
    let (page, meta) = query.paginate(items);
    ok(
        json!({"floating_ips": page.into_iter().map(floating_ip_json).collect::<Vec<_>>(), "meta": meta}),
    )
}

async fn get_one(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let world = app.read();
    let id = find(&world, &id)?;
    ok(json!({"floating_ip": floating_ip_json(&world.data.floating_ips[&id])}))
}

#[derive(Debug, Deserialize)]
struct CreateFloatingIp {
    #[serde(rename = "type")]
    family: Option<String>,
    home_location: Option<String>,
    server: Option<i64>,
    description: Option<String>,
    name: Option<String>,
    #[serde(default)]
    labels: Labels,
}

async fn create(State(app): State<AppState>, Body(req): Body<CreateFloatingIp>) -> Reply {
    let mut world = app.write();
    let mut fields = FieldErrors::default();
    fields.require("type", &req.family);
    if req
        .family
        .as_deref()
        .is_some_and(|f| !["ipv4", "ipv6"].contains(&f))
    {
        fields.add("type", "Must be one of: ipv4, ipv6.");
    }
    if req.home_location.is_none() && req.server.is_none() {
        fields.add("home_location", "home_location or server is required");
    }
    if let Err(e) = validate_labels(&req.labels) {
        fields.add("labels", e.to_string());
    }
    fields.finish()?;
    let home = match (&req.home_location, req.server) {
        (Some(l), _) => {
            catalog::location(l)
                .ok_or_else(|| {
                    ApiError::field("home_location", format!("location {l:?} not found"))
                })?
                .name
        }
        (None, Some(server)) => {
            world
                .data
                .servers
                .get(&server)
                .and_then(|s| catalog::location(&s.location))
                .ok_or_else(|| ApiError::field("server", format!("server {server} not found")))?
                .name
        }
        (None, None) => return Err(ApiError::field("home_location", "required")),
    };
    if let Some(server) = req.server {
        check_server(&world, home, server)?;
    }
    if let Some(name) = &req.name
        && world.data.floating_ips.values().any(|f| &f.name == name)
    {
        return Err(ApiError::Uniqueness {
            field: "name".into(),
        });
    }
    let id = world.next_id();
    let family = req.family.unwrap_or_default();
    let ip = if family == "ipv4" {
        world.alloc_ipv4().to_string()
    } else {
        world.alloc_ipv6_net()
    };
    let record = FloatingIp {
        id,
        name: req.name.unwrap_or_else(|| format!("floating_ip-{id}")),
        description: req.description,
        family,
        ip,
        home_location: home.into(),
        server: req.server,
        labels: req.labels,
        protect_delete: false,
        dns_ptr: Default::default(),
        created: world.clock.timestamp(),
    };
    world.data.floating_ips.insert(id, record);
    let action = req
        .server
        .map(|server| floating_ip_action(&mut world, id, Some(server), "assign_floating_ip"));
    // `action` is optional but not nullable in Hetzner's description: absent without a server.
    let mut body = json!({"floating_ip": floating_ip_json(&world.data.floating_ips[&id])});
    if let Some(action) = action {
        body["action"] = action_json(&world, action);
    }
    created(body)
}

#[derive(Debug, Deserialize)]
struct UpdateFloatingIp {
    name: Option<String>,
    description: Option<String>,
    labels: Option<Labels>,
}

async fn update(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<UpdateFloatingIp>,
) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    if let Some(labels) = &req.labels {
        validate_labels(labels).map_err(|e| ApiError::field("labels", e.to_string()))?;
    }
    if let Some(name) = &req.name
        && world
            .data
            .floating_ips
            .values()
            .any(|f| f.id != id && &f.name == name)
    {
        return Err(ApiError::Uniqueness {
            field: "name".into(),
        });
    }
    let Some(f) = world.data.floating_ips.get_mut(&id) else {
        return Err(ApiError::not_found("floating_ip", id));
    };
    if let Some(name) = req.name {
        f.name = name;
    }
    if let Some(description) = req.description {
        f.description = Some(description);
    }
    if let Some(labels) = req.labels {
        f.labels = labels;
    }
    ok(json!({"floating_ip": floating_ip_json(f)}))
}

async fn delete(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    if world.data.floating_ips[&id].protect_delete {
        return Err(ApiError::Protected(format!(
            "floating IP {id} is delete protected"
        )));
    }
    world.ensure_unlocked("floating_ip", id)?;
    world.data.floating_ips.remove(&id);
    no_content()
}

#[derive(Debug, Deserialize)]
struct AssignBody {
    server: Option<i64>,
}

async fn assign(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<AssignBody>,
) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    let server = req
        .server
        .ok_or_else(|| ApiError::field("server", "Missing data for required field."))?;
    world.ensure_unlocked("floating_ip", id)?;
    let home = world.data.floating_ips[&id].home_location.clone();
    check_server(&world, &home, server)?;
    if let Some(f) = world.data.floating_ips.get_mut(&id) {
        f.server = Some(server);
    }
    let action = floating_ip_action(&mut world, id, Some(server), "assign_floating_ip");
    created(action_reply(&world, action))
}

async fn unassign(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    world.ensure_unlocked("floating_ip", id)?;
    let server = world
        .data
        .floating_ips
        .get_mut(&id)
        .and_then(|f| f.server.take());
    let action = floating_ip_action(&mut world, id, server, "unassign_floating_ip");
    created(action_reply(&world, action))
}

async fn change_dns_ptr(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<DnsPtrBody>,
) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    world.ensure_unlocked("floating_ip", id)?;
    let ip = req
        .ip
        .ok_or_else(|| ApiError::field("ip", "Missing data for required field."))?;
    let Some(f) = world.data.floating_ips.get_mut(&id) else {
        return Err(ApiError::not_found("floating_ip", id));
    };
    if !address_belongs(&f.family, &f.ip, &ip) {
        return Err(ApiError::field(
            "ip",
            format!("{ip} does not belong to floating IP {id}"),
        ));
    }
    apply_dns_ptr(&mut f.dns_ptr, ip, req.dns_ptr)?;
    let action = floating_ip_action(&mut world, id, None, "change_dns_ptr");
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
    world.ensure_unlocked("floating_ip", id)?;
    if let Some(f) = world.data.floating_ips.get_mut(&id) {
        f.protect_delete = delete;
    }
    let action = floating_ip_action(&mut world, id, None, "change_protection");
    created(action_reply(&world, action))
}
