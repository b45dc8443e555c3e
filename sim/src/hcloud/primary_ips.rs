//! `/primary_ips`: the public addresses servers' `public_net` refers to. Every server gets one
//! primary IP per enabled family at create (named `primary_ip-<id>`, `auto_delete` on, as Hetzner
//! does); users create more, keep them beyond their server, and move them between powered-off
//! servers of the same location (`primary_ip_actions`).

use std::net::Ipv4Addr;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::actions::action_json;
use super::catalog::{datacenter_json, location_json};
use super::error::{ApiError, FieldErrors};
use super::list::{ListQuery, named_key};
use super::request::{Body, Reply, created, no_content, ok, parse_id};
use crate::catalog::{self, LOCATIONS, Location};
use crate::labels::{Labels, validate_labels};
use crate::world::{Effect, PrimaryIp, Server, World};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/primary_ips", get(list).post(create))
        .route("/primary_ips/{id}", get(get_one).put(update).delete(delete))
}

/// Hetzner's default reverse DNS name of a public IPv4: the octets reversed.
pub fn default_ipv4_ptr(ip: Ipv4Addr) -> String {
    let [a, b, c, d] = ip.octets();
    format!("static.{d}.{c}.{b}.{a}.clients.your-server.de")
}

impl PrimaryIp {
    /// The reverse DNS entries in wire shape (`[{ip, dns_ptr}]`).
    pub fn dns_ptr_json(&self) -> Vec<Value> {
        let mut entries: Vec<Value> = self
            .dns_ptr
            .iter()
            .map(|(ip, ptr)| json!({"ip": ip, "dns_ptr": ptr}))
            .collect();
        if self.family == "ipv4"
            && !self.dns_ptr.contains_key(&self.ip)
            && let Ok(ip) = self.ip.parse()
        {
            entries.push(json!({"ip": self.ip, "dns_ptr": default_ipv4_ptr(ip)}));
        }
        entries
    }

    /// The reverse DNS name of an IPv4 primary IP (set or default).
    pub fn ipv4_ptr(&self) -> Option<String> {
        self.dns_ptr_json()
            .first()
            .and_then(|e| e["dns_ptr"].as_str().map(str::to_string))
    }
}

/// A primary IP in wire shape. `datacenter` is still sent next to `location` (Hetzner deprecated
/// it in favour of `location` and keeps it during the transition; older clients read it).
pub fn primary_ip_json(p: &PrimaryIp) -> Value {
    let location = catalog::location(&p.location).unwrap_or(&LOCATIONS[0]);
    json!({
        "id": p.id, "name": p.name, "type": p.family, "ip": p.ip, "labels": p.labels,
        "protection": {"delete": p.protect_delete}, "dns_ptr": p.dns_ptr_json(),
        "assignee_id": p.assignee, "assignee_type": "server", "auto_delete": p.auto_delete,
        "blocked": false, "created": p.created,
        "location": location_json(location), "datacenter": datacenter_json(location),
    })
}

/// The primary IP of `family` assigned to `server`, if any.
pub fn of_server<'a>(world: &'a World, server: i64, family: &str) -> Option<&'a PrimaryIp> {
    world
        .data
        .primary_ips
        .values()
        .find(|p| p.assignee == Some(server) && p.family == family)
}

/// Allocates a new primary IP of `family` in `location`, assigned to `server` when given.
pub fn allocate(
    world: &mut World,
    name: Option<String>,
    family: &str,
    location: &str,
    server: Option<i64>,
) -> i64 {
    let id = world.next_id();
    let ip = if family == "ipv4" {
        world.alloc_ipv4().to_string()
    } else {
        world.alloc_ipv6_net()
    };
    let record = PrimaryIp {
        id,
        name: name.unwrap_or_else(|| format!("primary_ip-{id}")),
        family: family.into(),
        ip,
        location: location.into(),
        assignee: server,
        auto_delete: server.is_some(),
        labels: Labels::default(),
        protect_delete: false,
        dns_ptr: Default::default(),
        created: world.clock.timestamp(),
    };
    world.data.primary_ips.insert(id, record);
    id
}

/// What deleting `server` does to its primary IPs: those with `auto_delete` go with it, the
/// others stay, unassigned.
pub fn release_server(world: &mut World, server: i64) {
    world
        .data
        .primary_ips
        .retain(|_, p| p.assignee != Some(server) || !p.auto_delete);
    for p in world.data.primary_ips.values_mut() {
        if p.assignee == Some(server) {
            p.assignee = None;
        }
    }
}

/// Points `server`'s public address of `family` at `ip` (or at none).
pub fn set_server_address(server: &mut Server, family: &str, ip: Option<&str>) {
    if family == "ipv4" {
        server.ipv4 = ip.and_then(|a| a.parse().ok());
    } else {
        server.ipv6 = ip.map(str::to_string);
    }
}

/// Looks a primary IP up by path id.
pub fn find(world: &World, raw: &str) -> Result<i64, ApiError> {
    let id = parse_id("primary_ip", raw)?;
    world
        .data
        .primary_ips
        .contains_key(&id)
        .then_some(id)
        .ok_or_else(|| ApiError::not_found("primary_ip", id))
}

/// Checks that `primary_ip` may be assigned to `server`: unassigned, same location, and the
/// server powered off without an address of that family (the codes hcloud-go knows).
pub fn check_assignable(world: &World, primary_ip: i64, server: i64) -> Result<(), ApiError> {
    let p = &world.data.primary_ips[&primary_ip];
    let s = world
        .data
        .servers
        .get(&server)
        .ok_or_else(|| ApiError::field("assignee_id", format!("server {server} not found")))?;
    if p.assignee.is_some() {
        return Err(ApiError::Coded {
            code: "primary_ip_already_assigned",
            message: format!("primary IP {primary_ip} is already assigned to a server"),
        });
    }
    if p.location != s.location {
        return Err(ApiError::Coded {
            code: "primary_ip_datacenter_mismatch",
            message: format!(
                "primary IP {primary_ip} is in {}, server {server} in {}",
                p.location, s.location
            ),
        });
    }
    if s.status != "off" {
        return Err(ApiError::Coded {
            code: "server_not_stopped",
            message: format!("server {server} must be powered off"),
        });
    }
    if of_server(world, server, &p.family).is_some() {
        let code = if p.family == "ipv4" {
            "server_has_ipv4"
        } else {
            "server_has_ipv6"
        };
        return Err(ApiError::Coded {
            code,
            message: format!("server {server} already has an {} address", p.family),
        });
    }
    Ok(())
}

/// Assigns (after [`check_assignable`]).
pub fn assign(world: &mut World, primary_ip: i64, server: i64) {
    let Some(p) = world.data.primary_ips.get_mut(&primary_ip) else {
        return;
    };
    p.assignee = Some(server);
    let (family, ip) = (p.family.clone(), p.ip.clone());
    if let Some(s) = world.data.servers.get_mut(&server) {
        set_server_address(s, &family, Some(&ip));
    }
}

async fn list(State(app): State<AppState>, RawQuery(q): RawQuery) -> Reply {
    let query = ListQuery::parse(q.as_deref())?;
    let world = app.read();
    let mut items: Vec<&PrimaryIp> = world
        .data
        .primary_ips
        .values()
        .filter(|p| query.matches(Some(&p.name), &p.labels))
        .filter(|p| query.get("ip").is_none_or(|ip| ip == p.ip))
        .collect();
    query.sort(&mut items, |p, f| named_key(p.id, &p.name, &p.created, f))?;
    let (page, meta) = query.paginate(items);
    ok(
        json!({"primary_ips": page.into_iter().map(primary_ip_json).collect::<Vec<_>>(), "meta": meta}),
    )
}

async fn get_one(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let world = app.read();
    let id = find(&world, &id)?;
    ok(json!({"primary_ip": primary_ip_json(&world.data.primary_ips[&id])}))
}

#[derive(Debug, Deserialize)]
struct CreatePrimaryIp {
    name: Option<String>,
    #[serde(rename = "type")]
    family: Option<String>,
    assignee_type: Option<String>,
    assignee_id: Option<i64>,
    location: Option<String>,
    datacenter: Option<String>,
    auto_delete: Option<bool>,
    #[serde(default)]
    labels: Labels,
}

async fn create(State(app): State<AppState>, Body(req): Body<CreatePrimaryIp>) -> Reply {
    let mut world = app.write();
    let mut fields = FieldErrors::default();
    fields.require("name", &req.name);
    fields.require("type", &req.family);
    if req
        .family
        .as_deref()
        .is_some_and(|f| !["ipv4", "ipv6"].contains(&f))
    {
        fields.add("type", "Must be one of: ipv4, ipv6.");
    }
    if req.assignee_type.as_deref().is_some_and(|t| t != "server") {
        fields.add("assignee_type", "Must be one of: server.");
    }
    let place = req.location.is_some() || req.datacenter.is_some();
    if req.assignee_id.is_some() == place {
        let message = "exactly one of assignee_id, location (or datacenter) is required";
        fields.add("assignee_id", message);
    }
    if let Err(e) = validate_labels(&req.labels) {
        fields.add("labels", e.to_string());
    }
    fields.finish()?;
    let name = req.name.unwrap_or_default();
    let family = req.family.unwrap_or_default();
    if world.data.primary_ips.values().any(|p| p.name == name) {
        return Err(ApiError::Uniqueness {
            field: "name".into(),
        });
    }
    let location: &Location = match (&req.location, &req.datacenter, req.assignee_id) {
        (Some(l), _, _) => catalog::location(l)
            .ok_or_else(|| ApiError::field("location", format!("location {l:?} not found")))?,
        (None, Some(dc), _) => catalog::location_of_datacenter(dc)
            .ok_or_else(|| ApiError::field("datacenter", format!("datacenter {dc:?} not found")))?,
        (None, None, Some(server)) => world
            .data
            .servers
            .get(&server)
            .and_then(|s| catalog::location(&s.location))
            .ok_or_else(|| ApiError::field("assignee_id", format!("server {server} not found")))?,
        (None, None, None) => return Err(ApiError::field("location", "location required")),
    };
    let id = allocate(&mut world, Some(name), &family, location.name, None);
    if let Some(server) = req.assignee_id {
        if let Err(e) = check_assignable(&world, id, server) {
            world.data.primary_ips.remove(&id);
            return Err(e);
        }
        assign(&mut world, id, server);
    }
    if let Some(p) = world.data.primary_ips.get_mut(&id) {
        p.auto_delete = req.auto_delete.unwrap_or(false);
        p.labels = req.labels;
    }
    let action = req.assignee_id.map(|server| {
        world.create_action(
            "create_primary_ip",
            &[(id, "primary_ip"), (server, "server")],
            Effect::None,
            std::time::Duration::ZERO,
        )
    });
    // `action` is optional but not nullable in Hetzner's description: absent without an assignee.
    let mut body = json!({"primary_ip": primary_ip_json(&world.data.primary_ips[&id])});
    if let Some(action) = action {
        body["action"] = action_json(&world, action);
    }
    created(body)
}

#[derive(Debug, Deserialize)]
struct UpdatePrimaryIp {
    name: Option<String>,
    labels: Option<Labels>,
    auto_delete: Option<bool>,
}

async fn update(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<UpdatePrimaryIp>,
) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    if let Some(labels) = &req.labels {
        validate_labels(labels).map_err(|e| ApiError::field("labels", e.to_string()))?;
    }
    if let Some(name) = &req.name
        && world
            .data
            .primary_ips
            .values()
            .any(|p| p.id != id && &p.name == name)
    {
        return Err(ApiError::Uniqueness {
            field: "name".into(),
        });
    }
    let Some(p) = world.data.primary_ips.get_mut(&id) else {
        return Err(ApiError::not_found("primary_ip", id));
    };
    if let Some(name) = req.name {
        p.name = name;
    }
    if let Some(labels) = req.labels {
        p.labels = labels;
    }
    if let Some(auto_delete) = req.auto_delete {
        p.auto_delete = auto_delete;
    }
    ok(json!({"primary_ip": primary_ip_json(p)}))
}

/// Deleting an assigned primary IP unassigns it first, which needs its server powered off.
async fn delete(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    let p = world.data.primary_ips[&id].clone();
    if p.protect_delete {
        return Err(ApiError::Protected(format!(
            "primary IP {id} is delete protected"
        )));
    }
    world.ensure_unlocked("primary_ip", id)?;
    if let Some(server) = p.assignee {
        super::primary_ip_actions::unassign_from(&mut world, &p, server)?;
    }
    world.data.primary_ips.remove(&id);
    no_content()
}
