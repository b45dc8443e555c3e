//! `/servers`: list, get, create, update, delete, and the server wire shape.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::actions::{action_json, family_routes};
use super::catalog::{datacenter_json, location_json, server_type_json};
use super::error::{ApiError, FieldErrors};
use super::firewalls::firewalls_of_server;
use super::images::{find_image, image_json};
use super::list::{ListQuery, named_key};
use super::networks::allocate_private_ip;
use super::placement_groups::{MAX_SERVERS_PER_GROUP, placement_group_json};
use super::primary_ips::{default_ipv4_ptr, of_server};
use super::request::{Body, Reply, created, ok, parse_id};
use crate::catalog::{self, LOCATIONS};
use crate::labels::{Labels, Selector, validate_labels};
use crate::world::{Effect, PrimaryIp, Server, ServerNet, World, WorldEvent};

/// What Hetzner answers when the image is built for the other architecture than the server
/// type (a `cax` type with an x86 snapshot, or the reverse).
pub fn incompatible_architecture() -> ApiError {
    ApiError::InvalidInputMessage {
        message: "image has incompatible architecture".into(),
        field: "image".into(),
    }
}

/// Hetzner's cap on `user_data`.
pub const MAX_USER_DATA_BYTES: usize = 32 * 1024;
/// Servers per project before `resource_limit_exceeded`.
pub const MAX_SERVERS: usize = 1000;

/// `/servers` routes (actions are in [`super::server_actions`]).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/servers", get(list).post(create))
        .route("/servers/{id}", get(get_one).put(update).delete(delete))
        .merge(family_routes("servers", "server"))
}

/// Whether `name` is a valid hostname label sequence (RFC 1123), as Hetzner requires.
pub fn valid_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// An existing primary IP named in `public_net` at create: it must exist, be unassigned, of the
/// right family and in the server's location (hcloud-go's codes for each).
fn given_primary_ip(
    world: &World,
    id: Option<i64>,
    family: &str,
    location: &str,
) -> Result<Option<i64>, ApiError> {
    let Some(id) = id else {
        return Ok(None);
    };
    let p = world
        .data
        .primary_ips
        .get(&id)
        .ok_or_else(|| ApiError::not_found("primary_ip", id))?;
    let refusal = |code, message: String| Err(ApiError::Coded { code, message });
    if p.family != family {
        return refusal(
            "primary_ip_version_mismatch",
            format!("primary IP {id} is an {} address", p.family),
        );
    }
    if p.assignee.is_some() {
        return refusal(
            "primary_ip_assigned",
            format!("primary IP {id} is already assigned to a server"),
        );
    }
    if p.location != location {
        return refusal(
            "primary_ip_datacenter_mismatch",
            format!("primary IP {id} is in {}, not {location}", p.location),
        );
    }
    Ok(Some(id))
}

/// A server in wire shape.
pub fn server_json(world: &World, s: &Server) -> Value {
    let location = catalog::location(&s.location).unwrap_or(&LOCATIONS[0]);
    let server_type = catalog::server_type(&s.server_type).map(|t| server_type_json(world, t));
    let image = s
        .image
        .and_then(|id| world.data.images.get(&id))
        .map(|i| image_json(world, i));
    let load_balancers: Vec<i64> = world
        .data
        .load_balancers
        .values()
        .filter(|lb| super::load_balancers::targets_server(world, lb, s))
        .map(|lb| lb.id)
        .collect();
    let firewalls: Vec<Value> = firewalls_of_server(world, s)
        .into_iter()
        .map(|id| json!({"id": id, "status": "applied"}))
        .collect();
    json!({
        "id": s.id,
        "name": s.name,
        "status": s.status,
        "created": s.created,
        "public_net": {
            "ipv4": s.ipv4.map(|ip| {
                let primary = of_server(world, s.id, "ipv4");
                json!({"id": primary.map_or(s.id, |p| p.id), "ip": ip.to_string(), "blocked": false,
                    "dns_ptr": primary.and_then(PrimaryIp::ipv4_ptr).unwrap_or_else(|| default_ipv4_ptr(ip))})
            }),
            "ipv6": s.ipv6.as_ref().map(|net| {
                let primary = of_server(world, s.id, "ipv6");
                json!({"id": primary.map_or(s.id, |p| p.id), "ip": net, "blocked": false,
                    "dns_ptr": primary.map(PrimaryIp::dns_ptr_json).unwrap_or_default()})
            }),
            "floating_ips": super::floating_ips::of_server(world, s.id),
            "firewalls": firewalls,
        },
        "private_net": s.private_net.iter().map(|n| json!({
            "network": n.network, "ip": n.ip.to_string(),
            "alias_ips": n.alias_ips.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "mac_address": n.mac_address,
        })).collect::<Vec<_>>(),
        "server_type": server_type,
        "datacenter": datacenter_json(location),
        "location": location_json(location),
        "image": image,
        "iso": s.iso.and_then(super::isos::iso_json),
        "rescue_enabled": s.rescue_enabled,
        "locked": world.has_running_action("server", s.id),
        "backup_window": s.backup_window,
        "outgoing_traffic": 0,
        "ingoing_traffic": 0,
        "included_traffic": 21_990_232_555_520i64,
        "protection": {"delete": s.protect_delete, "rebuild": s.protect_rebuild},
        "labels": s.labels,
        "volumes": super::volumes::volumes_of_server(world, s.id),
        "load_balancers": load_balancers,
        "primary_disk_size": s.primary_disk_size,
        "placement_group": s.placement_group.and_then(|id| world.data.placement_groups.get(&id)).map(|pg| placement_group_json(world, pg)),
    })
}

async fn list(State(app): State<AppState>, RawQuery(q): RawQuery) -> Reply {
    let query = ListQuery::parse(q.as_deref())?;
    let world = app.read();
    let mut items: Vec<&Server> = world
        .data
        .servers
        .values()
        .filter(|s| query.matches(Some(&s.name), &s.labels) && query.status_matches(&s.status))
        .collect();
    query.sort(&mut items, |s, f| named_key(s.id, &s.name, &s.created, f))?;
    let (page, meta) = query.paginate(items);
    ok(
        json!({"servers": page.into_iter().map(|s| server_json(&world, s)).collect::<Vec<_>>(), "meta": meta}),
    )
}

/// Finds a server or answers `not_found`.
pub fn find_server<'a>(world: &'a World, raw_id: &str) -> Result<&'a Server, ApiError> {
    let id = parse_id("server", raw_id)?;
    world
        .data
        .servers
        .get(&id)
        .ok_or_else(|| ApiError::not_found("server", id))
}

async fn get_one(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let world = app.read();
    let server = find_server(&world, &id)?;
    ok(json!({"server": server_json(&world, server)}))
}

/// An id given either as a number or as a numeric/name string.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum IdOrName {
    /// Numeric id.
    Id(i64),
    /// Name (or id as text).
    Name(String),
}

impl IdOrName {
    /// The value as text.
    pub fn as_text(&self) -> String {
        match self {
            IdOrName::Id(id) => id.to_string(),
            IdOrName::Name(n) => n.clone(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct FirewallRef {
    firewall: i64,
}

#[derive(Debug, Default, Deserialize)]
struct PublicNet {
    enable_ipv4: Option<bool>,
    enable_ipv6: Option<bool>,
    /// An existing primary IP to use instead of a new one.
    ipv4: Option<i64>,
    ipv6: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct CreateServer {
    name: Option<String>,
    server_type: Option<IdOrName>,
    image: Option<IdOrName>,
    location: Option<IdOrName>,
    datacenter: Option<IdOrName>,
    start_after_create: Option<bool>,
    placement_group: Option<i64>,
    #[serde(default)]
    networks: Vec<i64>,
    #[serde(default)]
    firewalls: Vec<FirewallRef>,
    #[serde(default)]
    ssh_keys: Vec<IdOrName>,
    user_data: Option<String>,
    #[serde(default)]
    labels: Labels,
    public_net: Option<PublicNet>,
}

fn resolve_location(
    req: &CreateServer,
    fields: &mut FieldErrors,
) -> Option<&'static catalog::Location> {
    if let Some(loc) = &req.location {
        let text = loc.as_text();
        let found = LOCATIONS
            .iter()
            .find(|l| l.name == text || l.id.to_string() == text);
        if found.is_none() {
            fields.add("location", format!("location {text:?} not found"));
        }
        return found;
    }
    if let Some(dc) = &req.datacenter {
        let text = dc.as_text();
        let found = LOCATIONS
            .iter()
            .find(|l| l.datacenter.1 == text || l.datacenter.0.to_string() == text);
        if found.is_none() {
            fields.add("datacenter", format!("datacenter {text:?} not found"));
        }
        return found;
    }
    None
}

async fn create(State(app): State<AppState>, Body(req): Body<CreateServer>) -> Reply {
    let mut world = app.write();
    created(create_server(&mut world, req)?)
}

/// `POST /servers` for the in-cluster components that create servers (the cluster-autoscaler):
/// the request body as JSON, the 201 body, or the API's error.
pub fn create_server_json(world: &mut World, body: Value) -> Result<Value, ApiError> {
    let req: CreateServer =
        serde_json::from_value(body).map_err(|e| ApiError::InvalidInputMessage {
            message: e.to_string(),
            field: "body".into(),
        })?;
    create_server(world, req)
}

fn create_server(world: &mut World, req: CreateServer) -> Result<Value, ApiError> {
    let mut fields = FieldErrors::default();
    fields.require("name", &req.name);
    fields.require("server_type", &req.server_type);
    fields.require("image", &req.image);
    let name = req.name.clone().unwrap_or_default();
    if req.name.is_some() && !valid_hostname(&name) {
        fields.add("name", "Name must be a valid hostname.");
    }
    let server_type = req.server_type.as_ref().and_then(|t| {
        let found = catalog::server_type(&t.as_text());
        if found.is_none() {
            fields.add(
                "server_type",
                format!("server type {:?} not found", t.as_text()),
            );
        }
        found
    });
    let location = resolve_location(&req, &mut fields).or_else(|| {
        // Without a location Hetzner places the server where the type is sold and capacity
        // is left.
        server_type.and_then(|t| {
            LOCATIONS
                .iter()
                .find(|l| super::catalog::orderable(world, t, l))
        })
    });
    let image = match (&req.image, server_type) {
        (Some(i), Some(t)) => match find_image(world, &i.as_text(), Some(t.arch.as_str())) {
            Some(img) if img.architecture != t.arch.as_str() => {
                return Err(incompatible_architecture());
            }
            Some(img) if img.status != "available" => {
                fields.add("image", "image is not available yet");
                None
            }
            Some(img) => Some(img.id),
            None => {
                fields.add("image", format!("image {:?} not found", i.as_text()));
                None
            }
        },
        _ => None,
    };
    if let Some(user_data) = &req.user_data
        && user_data.len() > MAX_USER_DATA_BYTES
    {
        fields.add(
            "user_data",
            format!("user_data must not exceed {MAX_USER_DATA_BYTES} bytes"),
        );
    }
    if let Err(e) = validate_labels(&req.labels) {
        fields.add("labels", e.to_string());
    }
    let mut ssh_keys = Vec::new();
    for key in &req.ssh_keys {
        let text = key.as_text();
        match world
            .data
            .ssh_keys
            .values()
            .find(|k| k.name == text || k.id.to_string() == text)
        {
            Some(k) => ssh_keys.push(k.id),
            None => fields.add("ssh_keys", format!("SSH key {text:?} not found")),
        }
    }
    for fw in &req.firewalls {
        if !world.data.firewalls.contains_key(&fw.firewall) {
            fields.add("firewalls", format!("firewall {} not found", fw.firewall));
        }
    }
    for network in &req.networks {
        if !world.data.networks.contains_key(network) {
            fields.add("networks", format!("network {network} not found"));
        }
    }
    if let Some(pg) = req.placement_group
        && !world.data.placement_groups.contains_key(&pg)
    {
        fields.add("placement_group", format!("placement group {pg} not found"));
    }
    fields.finish()?;
    let (Some(server_type), Some(location)) = (server_type, location) else {
        return Err(ApiError::field(
            "location",
            "no location offers this server type",
        ));
    };
    // A type not sold in the location, or no longer orderable there after its deprecation:
    // Hetzner cannot place the server.
    let deprecated_away = !world.faults.location_disabled(location.name)
        && !super::catalog::orderable(world, server_type, location);
    if deprecated_away {
        return Err(ApiError::ResourceUnavailable(
            "error during placement".into(),
        ));
    }
    if world.data.servers.values().any(|s| s.name == name) {
        return Err(ApiError::Uniqueness {
            field: "name".into(),
        });
    }
    // Hetzner answers this while a location is out of capacity, whatever the server type.
    if world.faults.location_disabled(location.name) {
        return Err(ApiError::ResourceUnavailable(
            "server location disabled".into(),
        ));
    }
    if world.data.servers.len() >= MAX_SERVERS {
        return Err(ApiError::ResourceLimit(format!(
            "server limit of {MAX_SERVERS} exceeded"
        )));
    }
    if let Some(pg) = req.placement_group
        && world
            .data
            .servers
            .values()
            .filter(|s| s.placement_group == Some(pg))
            .count()
            >= MAX_SERVERS_PER_GROUP
    {
        return Err(super::placement_groups::group_full(pg));
    }
    let public = req.public_net.unwrap_or_default();
    let given_ipv4 = given_primary_ip(world, public.ipv4, "ipv4", location.name)?;
    let given_ipv6 = given_primary_ip(world, public.ipv6, "ipv6", location.name)?;
    let id = world.next_id();
    let mut private_net = Vec::new();
    for network in &req.networks {
        let ip = allocate_private_ip(world, *network, location.network_zone, None, &private_net)?;
        private_net.push(ServerNet {
            network: *network,
            ip,
            alias_ips: vec![],
            mac_address: world.alloc_mac(),
        });
    }
    let mut addresses = [None, None];
    for (slot, (family, enabled, given)) in [
        ("ipv4", public.enable_ipv4, given_ipv4),
        ("ipv6", public.enable_ipv6, given_ipv6),
    ]
    .into_iter()
    .enumerate()
    {
        let primary_ip = match given {
            Some(existing) => Some(existing),
            None if enabled.unwrap_or(true) => Some(super::primary_ips::allocate(
                world,
                None,
                family,
                location.name,
                Some(id),
            )),
            None => None,
        };
        if let Some(p) = primary_ip.and_then(|p| world.data.primary_ips.get_mut(&p)) {
            p.assignee = Some(id);
            addresses[slot] = Some(p.ip.clone());
        }
    }
    let [ipv4, ipv6] = addresses;
    let server = Server {
        id,
        name,
        status: "initializing".into(),
        created: world.clock.timestamp(),
        server_type: server_type.name.into(),
        location: location.name.into(),
        image,
        labels: req.labels,
        user_data: req.user_data,
        ipv4: ipv4.and_then(|ip| ip.parse().ok()),
        ipv6,
        private_net,
        placement_group: req.placement_group,
        firewalls: req.firewalls.iter().map(|f| f.firewall).collect(),
        rescue_enabled: false,
        protect_delete: false,
        protect_rebuild: false,
        ssh_keys: ssh_keys.clone(),
        primary_disk_size: server_type.disk as i32,
        disk: image
            .and_then(|i| world.data.images.get(&i))
            .map(|i| i.disk.clone())
            .unwrap_or_default(),
        disk_writes: 1,
        rescue: None,
        in_rescue: None,
        iso: None,
        backup_window: None,
    };
    for fw in &server.firewalls {
        if let Some(f) = world.data.firewalls.get_mut(fw) {
            f.applied_to.push(crate::world::FirewallTarget::Server(id));
        }
    }
    let start = req.start_after_create.unwrap_or(true);
    world.data.servers.insert(id, server);
    let after_create = if start { "starting" } else { "off" };
    let effect = Effect::ServerStatus {
        server: id,
        on_success: after_create.into(),
        on_error: "off".into(),
    };
    let create_action =
        world.create_action("create_server", &[(id, "server")], effect, Duration::ZERO);
    // Networks given at create are attached as part of `create_server`; like Hetzner, only
    // `start_server` follows in `next_actions`.
    let mut next_actions = Vec::new();
    if start {
        let after = world.action_remaining(create_action);
        let effect = Effect::ServerStatus {
            server: id,
            on_success: "running".into(),
            on_error: "off".into(),
        };
        next_actions.push(world.create_action("start_server", &[(id, "server")], effect, after));
    }
    let root_password = ssh_keys.is_empty().then(|| format!("sim-{id:x}-root"));
    let server_value = server_json(world, &world.data.servers[&id]);
    Ok(json!({
        "server": server_value,
        "action": action_json(world, create_action),
        "next_actions": next_actions.iter().map(|a| action_json(world, *a)).collect::<Vec<_>>(),
        "root_password": root_password,
    }))
}

#[derive(Debug, Deserialize)]
struct UpdateServer {
    name: Option<String>,
    labels: Option<Labels>,
}

async fn update(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<UpdateServer>,
) -> Reply {
    let mut world = app.write();
    let id = find_server(&world, &id)?.id;
    let mut fields = FieldErrors::default();
    if let Some(name) = &req.name {
        if !valid_hostname(name) {
            fields.add("name", "Name must be a valid hostname.");
        } else if world
            .data
            .servers
            .values()
            .any(|s| s.id != id && &s.name == name)
        {
            return Err(ApiError::Uniqueness {
                field: "name".into(),
            });
        }
    }
    if let Some(labels) = &req.labels
        && let Err(e) = validate_labels(labels)
    {
        fields.add("labels", e.to_string());
    }
    fields.finish()?;
    let server = world
        .data
        .servers
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("server", id))?;
    if let Some(name) = req.name {
        server.name = name;
    }
    if let Some(labels) = req.labels {
        server.labels = labels;
    }
    let server = &world.data.servers[&id];
    ok(json!({"server": server_json(&world, server)}))
}

async fn delete(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let mut world = app.write();
    let id = find_server(&world, &id)?.id;
    ok(delete_server(&mut world, id)?)
}

/// `DELETE /servers/{id}` (for in-cluster components): refused while protected or locked; the
/// answer's body.
pub fn delete_server(world: &mut World, id: i64) -> Result<Value, ApiError> {
    if !world.data.servers.contains_key(&id) {
        return Err(ApiError::not_found("server", id));
    }
    if world.data.servers[&id].protect_delete {
        return Err(ApiError::Protected(format!(
            "server {id} is delete protected"
        )));
    }
    world.ensure_unlocked("server", id)?;
    let Some(server) = world.data.servers.remove(&id) else {
        return Err(ApiError::not_found("server", id));
    };
    for fw in world.data.firewalls.values_mut() {
        fw.applied_to
            .retain(|t| *t != crate::world::FirewallTarget::Server(id));
    }
    for lb in world.data.load_balancers.values_mut() {
        lb.targets
            .retain(|t| !matches!(t, crate::world::LbTarget::Server { id: sid, .. } if *sid == id));
    }
    // Deleting a server detaches its volumes; they and their data stay.
    for volume in world.data.volumes.values_mut() {
        if volume.server == Some(id) {
            volume.server = None;
        }
    }
    super::primary_ips::release_server(world, id);
    super::floating_ips::release_server(world, id);
    world.emit(WorldEvent::ServerDeleted {
        id,
        ipv4: server.ipv4,
    });
    let action = world.create_action(
        "delete_server",
        &[(id, "server")],
        Effect::None,
        Duration::ZERO,
    );
    Ok(json!({"action": action_json(world, action)}))
}

/// Servers matching a label selector (for firewall and load balancer targets).
pub fn servers_matching<'a>(world: &'a World, selector: &str) -> Vec<&'a Server> {
    match Selector::parse(selector) {
        Ok(sel) => world
            .data
            .servers
            .values()
            .filter(|s| sel.matches(&s.labels))
            .collect(),
        Err(_) => Vec::new(),
    }
}
