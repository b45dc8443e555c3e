//! `/firewalls`: CRUD, rules, and the actions apply_to_resources, remove_from_resources and
//! set_rules; `applied_to` expands label selectors into the servers they match.

use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::{get, post};
use ipnet::IpNet;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::actions::{action_json, family_routes};
use super::error::{ApiError, FieldErrors};
use super::list::{ListQuery, named_key};
use super::rename::{self, NameAndLabels};
use super::request::{Body, Reply, created, no_content, ok, parse_id};
use super::servers::servers_matching;
use crate::labels::{Labels, Selector, validate_labels};
use crate::world::{Effect, Firewall, FirewallRule, FirewallTarget, Server, World};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/firewalls", get(list).post(create))
        .route("/firewalls/{id}", get(get_one).put(update).delete(delete))
        .route("/firewalls/{id}/actions/apply_to_resources", post(apply))
        .route(
            "/firewalls/{id}/actions/remove_from_resources",
            post(remove),
        )
        .route("/firewalls/{id}/actions/set_rules", post(set_rules))
        .merge(family_routes("firewalls", "firewall"))
}

/// Ids of the firewalls that apply to a server, directly or by label selector.
pub fn firewalls_of_server(world: &World, s: &Server) -> Vec<i64> {
    world
        .data
        .firewalls
        .values()
        .filter(|f| {
            f.applied_to.iter().any(|t| match t {
                FirewallTarget::Server(id) => *id == s.id,
                FirewallTarget::LabelSelector(sel) => {
                    Selector::parse(sel).is_ok_and(|sel| sel.matches(&s.labels))
                }
            })
        })
        .map(|f| f.id)
        .collect()
}

/// A firewall in wire shape.
pub fn firewall_json(world: &World, f: &Firewall) -> Value {
    let applied_to: Vec<Value> = f
        .applied_to
        .iter()
        .map(|t| match t {
            FirewallTarget::Server(id) => json!({"type": "server", "server": {"id": id}}),
            FirewallTarget::LabelSelector(sel) => json!({
                "type": "label_selector", "label_selector": {"selector": sel},
                "applied_to_resources": servers_matching(world, sel).iter()
                    .map(|s| json!({"type": "server", "server": {"id": s.id}})).collect::<Vec<_>>(),
            }),
        })
        .collect();
    json!({
        "id": f.id, "name": f.name, "labels": f.labels, "created": f.created,
        "rules": f.rules.iter().map(|r| json!({
            "direction": r.direction, "protocol": r.protocol, "port": r.port,
            "source_ips": r.source_ips, "destination_ips": r.destination_ips, "description": r.description,
        })).collect::<Vec<_>>(),
        "applied_to": applied_to,
    })
}

#[derive(Debug, Clone, Deserialize)]
struct RuleRequest {
    direction: Option<String>,
    protocol: Option<String>,
    port: Option<String>,
    #[serde(default)]
    source_ips: Vec<String>,
    #[serde(default)]
    destination_ips: Vec<String>,
    description: Option<String>,
}

fn build_rules(rules: &[RuleRequest], fields: &mut FieldErrors) -> Vec<FirewallRule> {
    let mut out = Vec::new();
    for r in rules {
        let direction = r.direction.clone().unwrap_or_default();
        let protocol = r.protocol.clone().unwrap_or_default();
        if !["in", "out"].contains(&direction.as_str()) {
            fields.add("rules.direction", "Must be one of: in, out.");
        }
        if !["tcp", "udp", "icmp", "esp", "gre"].contains(&protocol.as_str()) {
            fields.add(
                "rules.protocol",
                "Must be one of: tcp, udp, icmp, esp, gre.",
            );
        }
        let needs_port = protocol == "tcp" || protocol == "udp";
        match (&r.port, needs_port) {
            (None, true) => fields.add("rules.port", "port is required for tcp and udp"),
            (Some(_), false) => fields.add("rules.port", "port is only allowed for tcp and udp"),
            (Some(p), true) if !valid_port(p) => {
                fields.add("rules.port", "invalid port or port range")
            }
            _ => {}
        }
        let ips = if direction == "in" {
            &r.source_ips
        } else {
            &r.destination_ips
        };
        if ips.is_empty() {
            fields.add(
                if direction == "in" {
                    "rules.source_ips"
                } else {
                    "rules.destination_ips"
                },
                "at least one IP range is required",
            );
        }
        if r.source_ips
            .iter()
            .chain(&r.destination_ips)
            .any(|ip| ip.parse::<IpNet>().is_err())
        {
            fields.add("rules.source_ips", "invalid CIDR");
        }
        out.push(FirewallRule {
            direction,
            protocol,
            port: r.port.clone(),
            source_ips: r.source_ips.clone(),
            destination_ips: r.destination_ips.clone(),
            description: r.description.clone(),
        });
    }
    out
}

fn valid_port(p: &str) -> bool {
    if p == "any" {
        return true;
    }
    let port = |s: &str| s.parse::<u16>().is_ok_and(|n| n >= 1);
    match p.split_once('-') {
        Some((a, b)) => port(a) && port(b) && a.parse::<u16>().ok() <= b.parse::<u16>().ok(),
        None => port(p),
    }
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
struct TargetRequest {
    #[serde(rename = "type")]
    kind: String,
    server: Option<IdRef>,
    label_selector: Option<SelectorRef>,
}

fn build_targets(
    world: &World,
    targets: &[TargetRequest],
) -> Result<Vec<FirewallTarget>, ApiError> {
    targets
        .iter()
        .map(|t| match (t.kind.as_str(), &t.server, &t.label_selector) {
            ("server", Some(s), _) => {
                if world.data.servers.contains_key(&s.id) {
                    Ok(FirewallTarget::Server(s.id))
                } else {
                    Err(ApiError::not_found("server", s.id))
                }
            }
            ("label_selector", _, Some(sel)) => Selector::parse(&sel.selector)
                .map(|_| FirewallTarget::LabelSelector(sel.selector.clone()))
                .map_err(|e| ApiError::field("label_selector", e.to_string())),
            _ => Err(ApiError::field(
                "type",
                "Must be one of: server, label_selector (with the matching object).",
            )),
        })
        .collect()
}

fn find(world: &World, raw: &str) -> Result<i64, ApiError> {
    let id = parse_id("firewall", raw)?;
    world
        .data
        .firewalls
        .contains_key(&id)
        .then_some(id)
        .ok_or_else(|| ApiError::not_found("firewall", id))
}

async fn list(State(app): State<AppState>, RawQuery(q): RawQuery) -> Reply {
    let query = ListQuery::parse(q.as_deref())?;
    let world = app.read();
    let mut items: Vec<&Firewall> = world
        .data
        .firewalls
        .values()
        .filter(|f| query.matches(Some(&f.name), &f.labels))
        .collect();
    query.sort(&mut items, |f, k| named_key(f.id, &f.name, &f.created, k))?;
    let (page, meta) = query.paginate(items);
    ok(
        json!({"firewalls": page.into_iter().map(|f| firewall_json(&world, f)).collect::<Vec<_>>(), "meta": meta}),
    )
}

async fn get_one(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let world = app.read();
    let id = find(&world, &id)?;
    ok(json!({"firewall": firewall_json(&world, &world.data.firewalls[&id])}))
}

#[derive(Debug, Deserialize)]
struct CreateFirewall {
    name: Option<String>,
    #[serde(default)]
    labels: Labels,
    #[serde(default)]
    rules: Vec<RuleRequest>,
    #[serde(default)]
    apply_to: Vec<TargetRequest>,
}

/// `apply_firewall` actions for targets: one per directly named server, one per selector.
fn apply_actions(
    world: &mut World,
    id: i64,
    targets: &[FirewallTarget],
    command: &str,
) -> Vec<i64> {
    targets
        .iter()
        .map(|t| {
            let mut resources = vec![(id, "firewall")];
            if let FirewallTarget::Server(sid) = t {
                resources.push((*sid, "server"));
            }
            world.create_action(command, &resources, Effect::None, Duration::ZERO)
        })
        .collect()
}

async fn create(State(app): State<AppState>, Body(req): Body<CreateFirewall>) -> Reply {
    let mut world = app.write();
    let mut fields = FieldErrors::default();
    fields.require("name", &req.name);
    if let Err(e) = validate_labels(&req.labels) {
        fields.add("labels", e.to_string());
    }
    let rules = build_rules(&req.rules, &mut fields);
    fields.finish()?;
    let targets = build_targets(&world, &req.apply_to)?;
    let name = req.name.unwrap_or_default();
    if world.data.firewalls.values().any(|f| f.name == name) {
        return Err(ApiError::Uniqueness {
            field: "name".into(),
        });
    }
    let id = world.next_id();
    let firewall = Firewall {
        id,
        name,
        labels: req.labels,
        created: world.clock.timestamp(),
        rules,
        applied_to: targets.clone(),
    };
    world.data.firewalls.insert(id, firewall);
    let mut actions = vec![world.create_action(
        "set_firewall_rules",
        &[(id, "firewall")],
        Effect::None,
        Duration::ZERO,
    )];
    actions.extend(apply_actions(&mut world, id, &targets, "apply_firewall"));
    let body = json!({
        "firewall": firewall_json(&world, &world.data.firewalls[&id]),
        "actions": actions.iter().map(|a| action_json(&world, *a)).collect::<Vec<_>>(),
    });
    created(body)
}

async fn update(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<NameAndLabels>,
) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    rename::apply(&mut world.data.firewalls, id, "firewall", req)?;
    ok(json!({"firewall": firewall_json(&world, &world.data.firewalls[&id])}))
}

async fn delete(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    if !world.data.firewalls[&id].applied_to.is_empty() {
        return Err(ApiError::Coded {
            code: "resource_in_use",
            message: format!("firewall {id} is still applied to resources"),
        });
    }
    world.ensure_unlocked("firewall", id)?;
    world.data.firewalls.remove(&id);
    no_content()
}

#[derive(Debug, Deserialize)]
struct ApplyBody {
    #[serde(default)]
    apply_to: Vec<TargetRequest>,
    #[serde(default)]
    remove_from: Vec<TargetRequest>,
}

async fn apply(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<ApplyBody>,
) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    world.ensure_unlocked("firewall", id)?;
    let targets = build_targets(&world, &req.apply_to)?;
    let fw = world
        .data
        .firewalls
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("firewall", id))?;
    if targets.iter().any(|t| fw.applied_to.contains(t)) {
        return Err(ApiError::Coded {
            code: "firewall_already_applied",
            message: "firewall is already applied to this resource".into(),
        });
    }
    fw.applied_to.extend(targets.iter().cloned());
    let actions = apply_actions(&mut world, id, &targets, "apply_firewall");
    created(json!({"actions": actions.iter().map(|a| action_json(&world, *a)).collect::<Vec<_>>()}))
}

async fn remove(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<ApplyBody>,
) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    world.ensure_unlocked("firewall", id)?;
    let targets = build_targets(&world, &req.remove_from)?;
    let fw = world
        .data
        .firewalls
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found("firewall", id))?;
    if targets.iter().any(|t| !fw.applied_to.contains(t)) {
        return Err(ApiError::Coded {
            code: "firewall_already_removed",
            message: "firewall is not applied to this resource".into(),
        });
    }
    fw.applied_to.retain(|t| !targets.contains(t));
    for target in &targets {
        if let FirewallTarget::Server(sid) = target
            && let Some(s) = world.data.servers.get_mut(sid)
        {
            s.firewalls.retain(|f| *f != id);
        }
    }
    let actions = apply_actions(&mut world, id, &targets, "remove_firewall");
    created(json!({"actions": actions.iter().map(|a| action_json(&world, *a)).collect::<Vec<_>>()}))
}

#[derive(Debug, Deserialize)]
struct RulesBody {
    #[serde(default)]
    rules: Vec<RuleRequest>,
}

async fn set_rules(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<RulesBody>,
) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    world.ensure_unlocked("firewall", id)?;
    let mut fields = FieldErrors::default();
    let rules = build_rules(&req.rules, &mut fields);
    fields.finish()?;
    let targets = {
        let fw = world
            .data
            .firewalls
            .get_mut(&id)
            .ok_or_else(|| ApiError::not_found("firewall", id))?;
        fw.rules = rules;
        fw.applied_to.clone()
    };
    let mut actions = vec![world.create_action(
        "set_firewall_rules",
        &[(id, "firewall")],
        Effect::None,
        Duration::ZERO,
    )];
    let servers: Vec<FirewallTarget> = targets
        .into_iter()
        .filter(|t| matches!(t, FirewallTarget::Server(_)))
        .collect();
    actions.extend(apply_actions(&mut world, id, &servers, "apply_firewall"));
    created(json!({"actions": actions.iter().map(|a| action_json(&world, *a)).collect::<Vec<_>>()}))
}
