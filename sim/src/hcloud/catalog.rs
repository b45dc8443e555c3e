//! Read-only catalog endpoints: `/server_types`, `/locations`, `/datacenters`,
//! `/load_balancer_types` (their prices come from [`super::pricing`]), and the wire shapes other
//! families nest (a server embeds its type, datacenter and location).

use std::sync::LazyLock;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::list::{ListQuery, named_key};
use super::pricing::prices;
use super::request::{Reply, ok, parse_id};
use crate::catalog::{
    LOAD_BALANCER_TYPES, LOCATIONS, LoadBalancerType, Location, SERVER_TYPES, ServerType,
};
use crate::world::World;

/// Catalog routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/server_types", get(list_server_types))
        .route("/server_types/{id}", get(get_server_type))
        .route("/locations", get(list_locations))
        .route("/locations/{id}", get(get_location))
        .route("/datacenters", get(list_datacenters))
        .route("/datacenters/{id}", get(get_datacenter))
        .route("/load_balancer_types", get(list_lb_types))
        .route("/load_balancer_types/{id}", get(get_lb_type))
}

/// A location in wire shape.
pub fn location_json(l: &Location) -> Value {
    json!({
        "id": l.id, "name": l.name, "description": l.description, "country": l.country, "city": l.city,
        "latitude": l.latitude, "longitude": l.longitude, "network_zone": l.network_zone,
    })
}

/// The catalog never changes, so its wire shapes are built once (listing 50 servers embeds 50
/// server types and datacenters).
static SERVER_TYPE_JSON: LazyLock<Vec<Value>> =
    LazyLock::new(|| SERVER_TYPES.iter().map(build_server_type_json).collect());
static DATACENTER_JSON: LazyLock<Vec<Value>> =
    LazyLock::new(|| LOCATIONS.iter().map(build_datacenter_json).collect());

/// A server type in wire shape, its `locations[]` as the project sees them now: `available`
/// (and `recommended`) are false where the location is out of capacity (`location_disabled`) or
/// the type's deprecation there has passed `unavailable_after`, and `deprecation` is the
/// per-location deprecation announced through `/_sim`. The top-level `deprecated`/`deprecation`
/// stay unset: Hetzner phases them out in favour of the per-location ones.
pub fn server_type_json(world: &World, t: &ServerType) -> Value {
    let mut value = SERVER_TYPES.iter().position(|x| x.id == t.id).map_or_else(
        || build_server_type_json(t),
        |i| SERVER_TYPE_JSON[i].clone(),
    );
    let pristine = world.server_type_deprecations.is_empty()
        && !LOCATIONS
            .iter()
            .any(|l| world.faults.location_disabled(l.name));
    if !pristine {
        value["locations"] = LOCATIONS
            .iter()
            .filter(|l| t.available_in(l))
            .map(|l| {
                let deprecation = world
                    .server_type_deprecations
                    .get(&(t.name.to_string(), l.name.to_string()));
                let available = orderable(world, t, l);
                json!({"id": l.id, "name": l.name,
                       "deprecation": deprecation.map(|d| json!({"announced": d.announced, "unavailable_after": d.unavailable_after})),
                       "available": available, "recommended": available && deprecation.is_none()})
            })
            .collect();
    }
    value
}

/// Whether a server of type `t` can be ordered in `l` now: sold there, the location has capacity
/// and no deprecation there has passed its `unavailable_after`.
pub fn orderable(world: &World, t: &ServerType, l: &Location) -> bool {
    let gone = world
        .server_type_deprecations
        .get(&(t.name.to_string(), l.name.to_string()))
        .is_some_and(|d| {
            time::OffsetDateTime::parse(
                &d.unavailable_after,
                &time::format_description::well_known::Rfc3339,
            )
            .is_ok_and(|after| world.clock.now_utc() > after)
        });
    t.available_in(l) && !world.faults.location_disabled(l.name) && !gone
}

fn build_server_type_json(t: &ServerType) -> Value {
    let locations = LOCATIONS.iter().filter(|l| t.available_in(l));
    json!({
        "id": t.id, "name": t.name, "description": t.name.to_uppercase(), "cores": t.cores,
        // Hetzner writes `disk` as an integer (hcloud-go's `int`; `40.0` fails its decoding) and
        // `memory` as a number.
        "memory": t.memory, "disk": t.disk as i64, "deprecated": false, "deprecation": null,
        "prices": prices(t.monthly_cents, locations.clone()),
        "storage_type": "local", "cpu_type": t.cpu_type, "category": t.category,
        "architecture": t.arch.as_str(),
        "locations": locations.map(|l| json!({"id": l.id, "name": l.name, "deprecation": null, "available": true, "recommended": true})).collect::<Vec<_>>(),
    })
}

/// The datacenter of a location in wire shape.
pub fn datacenter_json(l: &Location) -> Value {
    LOCATIONS
        .iter()
        .position(|x| x.id == l.id)
        .map_or_else(|| build_datacenter_json(l), |i| DATACENTER_JSON[i].clone())
}

fn build_datacenter_json(l: &Location) -> Value {
    let available: Vec<i64> = SERVER_TYPES
        .iter()
        .filter(|t| t.available_in(l))
        .map(|t| t.id)
        .collect();
    json!({
        "id": l.datacenter.0, "name": l.datacenter.1,
        "description": format!("{} virtual DC", l.city),
        "location": location_json(l),
        "server_types": {"supported": available, "available": available, "available_for_migration": available},
    })
}

/// A load balancer type in wire shape.
pub fn lb_type_json(t: &LoadBalancerType) -> Value {
    json!({
        "id": t.id, "name": t.name, "description": format!("{}", t.name.to_uppercase()),
        "max_connections": t.max_connections, "max_services": t.max_services, "max_targets": t.max_targets,
        "max_assigned_certificates": t.max_assigned_certificates, "deprecated": null,
        "prices": prices(t.monthly_cents, LOCATIONS.iter()),
    })
}

fn list_of<T>(
    raw: Option<&str>,
    items: &'static [T],
    key: &str,
    render: impl Fn(&T) -> Value,
    name: fn(&T) -> (i64, &'static str),
) -> Reply {
    let query = ListQuery::parse(raw)?;
    let mut selected: Vec<&T> = items
        .iter()
        .filter(|t| query.get("name").is_none_or(|n| n == name(t).1))
        .collect();
    query.sort(&mut selected, |t, f| named_key(name(t).0, name(t).1, "", f))?;
    let (page, meta) = query.paginate(selected);
    ok(json!({key: page.into_iter().map(render).collect::<Vec<_>>(), "meta": meta}))
}

async fn list_server_types(RawQuery(q): RawQuery, State(app): State<AppState>) -> Reply {
    let world = app.read();
    list_of(
        q.as_deref(),
        SERVER_TYPES,
        "server_types",
        |t| server_type_json(&world, t),
        |t| (t.id, t.name),
    )
}

async fn get_server_type(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let id = parse_id("server_type", &id)?;
    let t = SERVER_TYPES
        .iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ApiError::not_found("server_type", id))?;
    ok(json!({"server_type": server_type_json(&app.read(), t)}))
}

async fn list_locations(RawQuery(q): RawQuery) -> Reply {
    list_of(q.as_deref(), LOCATIONS, "locations", location_json, |l| {
        (l.id, l.name)
    })
}

async fn get_location(Path(id): Path<String>) -> Reply {
    let id = parse_id("location", &id)?;
    let l = LOCATIONS
        .iter()
        .find(|l| l.id == id)
        .ok_or_else(|| ApiError::not_found("location", id))?;
    ok(json!({"location": location_json(l)}))
}

async fn list_datacenters(RawQuery(q): RawQuery) -> Reply {
    let query = ListQuery::parse(q.as_deref())?;
    let mut selected: Vec<&Location> = LOCATIONS
        .iter()
        .filter(|l| query.get("name").is_none_or(|n| n == l.datacenter.1))
        .collect();
    query.sort(&mut selected, |l, f| {
        named_key(l.datacenter.0, l.datacenter.1, "", f)
    })?;
    let (page, meta) = query.paginate(selected);
    // `recommendation` is the datacenter Hetzner suggests for new servers.
    ok(
        json!({"datacenters": page.into_iter().map(datacenter_json).collect::<Vec<_>>(), "recommendation": LOCATIONS[0].datacenter.0, "meta": meta}),
    )
}

async fn get_datacenter(Path(id): Path<String>) -> Reply {
    let id = parse_id("datacenter", &id)?;
    let l = LOCATIONS
        .iter()
        .find(|l| l.datacenter.0 == id)
        .ok_or_else(|| ApiError::not_found("datacenter", id))?;
    ok(json!({"datacenter": datacenter_json(l)}))
}

async fn list_lb_types(RawQuery(q): RawQuery) -> Reply {
    list_of(
        q.as_deref(),
        LOAD_BALANCER_TYPES,
        "load_balancer_types",
        lb_type_json,
        |t| (t.id, t.name),
    )
}

async fn get_lb_type(Path(id): Path<String>) -> Reply {
    let id = parse_id("load_balancer_type", &id)?;
    let t = LOAD_BALANCER_TYPES
        .iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ApiError::not_found("load_balancer_type", id))?;
    ok(json!({"load_balancer_type": lb_type_json(t)}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_is_an_integer_as_hcloud_go_decodes_it() {
        let cx23 = build_server_type_json(crate::catalog::server_type("cx23").expect("cx23"));
        assert!(cx23["disk"].is_i64(), "{}", cx23["disk"]);
        assert!(cx23["memory"].is_f64(), "{}", cx23["memory"]);
    }
}
