//! The computed `nodes` attribute shared by `hk8s_cluster` and `hk8s_node_pool`, and reading
//! node names back out of prior state for plan warnings.

use crate::hcloud::servers::Server;
use crate::tfplugin::diag::{AttributePath, Diagnostic};
use crate::tfplugin::schema::Attribute;
use crate::tfplugin::value::{Type, Value};

/// The object type of one element of `nodes`.
pub fn node_type() -> Type {
    Type::object([
        ("name", Type::String),
        ("server_id", Type::Number),
        ("location", Type::String),
        ("server_type", Type::String),
        ("public_ipv4", Type::String),
        ("public_ipv6", Type::String),
        ("private_ipv4", Type::String),
        ("talos_version", Type::String),
        ("config_hash", Type::String),
    ])
}

/// The computed `nodes` attribute.
pub fn nodes_attribute(what: &str) -> Attribute {
    Attribute::typed("nodes", Type::list(node_type())).computed().description(format!(
        "The {what} servers as of the last apply or refresh: name (also the Kubernetes node name), \
         server_id, location, server_type, public_ipv4, public_ipv6, private_ipv4, talos_version, \
         and config_hash (SHA-256 of the machine configuration the node runs, as Talos holds it)."
    ))
}

/// Names of the nodes recorded in a prior state's `nodes` (empty when unknown or absent).
pub fn node_names(prior: &Value) -> Vec<String> {
    match prior.at_path(&AttributePath::root("nodes")) {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|n| n.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

/// A readable list of node names, or a fallback when the state records none.
pub fn describe(names: &[String]) -> String {
    if names.is_empty() {
        "every node (none recorded in state)".to_owned()
    } else {
        names.join(", ")
    }
}

/// One element of `nodes` for `server`, with its private address in `network` and the Talos
/// version and machine-configuration hash known for it.
pub fn node_value(
    server: &Server,
    network: i64,
    talos_version: Option<&String>,
    config_hash: Option<&String>,
) -> Value {
    let text = |s: Option<&str>| s.map_or(Value::Null, Value::from);
    Value::object([
        ("name", Value::from(server.name.as_str())),
        ("server_id", Value::from(server.id)),
        ("location", Value::from(server.location.name.as_str())),
        ("server_type", Value::from(server.server_type.name.as_str())),
        ("public_ipv4", text(server.public_ipv4())),
        (
            "public_ipv6",
            text(server.public_net.ipv6.as_ref().map(|a| a.ip.as_str())),
        ),
        ("private_ipv4", text(server.private_ip(network))),
        ("talos_version", text(talos_version.map(String::as_str))),
        ("config_hash", text(config_hash.map(String::as_str))),
    ])
}

/// `(name, version)` of the nodes recorded in a prior state's `nodes` that run another Talos
/// version than `target`: an upgrade interrupted halfway (Terraform killed, a node that failed
/// its health gate) or a node upgraded outside Terraform. The refresh reads each node's version,
/// so the plan can resume the roll even when `talos_version` itself is unchanged.
pub fn off_version(prior: &Value, target: &str) -> Vec<(String, String)> {
    match prior.at_path(&AttributePath::root("nodes")) {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|n| {
                let name = n.get("name")?.as_str()?;
                let version = n.get("talos_version")?.as_str()?;
                (version != target).then(|| (name.to_owned(), version.to_owned()))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The warning of a plan that resumes an unfinished Talos roll; `how` is what the apply does
/// to each node ("upgrades", "drains, upgrades and uncordons").
pub fn off_version_warning(how: &str, off: &[(String, String)], target: &str) -> Diagnostic {
    let names: Vec<&str> = off.iter().map(|(name, _)| name.as_str()).collect();
    Diagnostic::warning(
        "Talos upgrade not finished",
        format!(
            "{} {} another Talos version than talos_version = {target} (an earlier apply was \
             interrupted, or a node was changed outside Terraform). The apply {how} {} one at a \
             time, each checked healthy before the next.",
            off.iter()
                .map(|(name, version)| format!("{name} ({version})"))
                .collect::<Vec<_>>()
                .join(", "),
            if off.len() == 1 { "runs" } else { "run" },
            names.join(", "),
        ),
    )
}

/// The computed `leaving_nodes` attribute: what an interrupted removal left behind, so that the
/// plan after it is not empty while a half-removed node's server still exists.
pub fn leaving_nodes_attribute(what: &str) -> Attribute {
    Attribute::typed("leaving_nodes", Type::list(Type::String))
        .computed()
        .description(format!(
            "Names of {what} nodes an earlier apply started removing and did not finish (it was \
             interrupted: Terraform killed, a failed step). Their servers still exist, labelled \
             `hk8s.io/leaving`, and may be off (reset), and then no longer count in the node count. A \
             refresh that finds one makes the plan show this list going to `[]`: the apply \
             finishes removing the nodes the configuration no longer wants and puts back in \
             service the ones it keeps (a node that was already reset gets a new server). Empty \
             after every apply that succeeded."
        ))
}

/// Writes the `leaving_nodes` a refresh found (`names`) into `state`, unless both they and the
/// prior value are empty (a state written before the attribute existed keeps null, not a diff).
pub fn refresh_leaving_nodes(state: &mut Value, prior: &Value, names: Vec<String>) {
    let stated = prior.get("leaving_nodes").cloned().unwrap_or(Value::Null);
    if names.is_empty() && stated.is_null() {
        return;
    }
    let value = Value::List(names.into_iter().map(Value::from).collect());
    if state.get("leaving_nodes") != Some(&value) {
        state.set_at_path(&AttributePath::root("leaving_nodes"), value);
    }
}

/// Plans `leaving_nodes` to be empty after the apply when the refreshed prior state lists some,
/// and returns their names (empty when there are none).
pub fn plan_leaving_nodes(
    prior: &Value,
    change: &mut crate::tfplugin::framework::PlannedChange,
) -> Vec<String> {
    let path = AttributePath::root("leaving_nodes");
    let names: Vec<String> = match prior.at_path(&path) {
        Some(Value::List(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    if !names.is_empty() {
        change.set(&path, Value::List(Vec::new()));
    }
    names
}

/// The warning of a plan that finishes removals an earlier apply left unfinished.
pub fn leaving_nodes_warning(names: &[String]) -> Diagnostic {
    Diagnostic::warning(
        "Unfinished node removal",
        format!(
            "An earlier apply started removing {} and was interrupted. This apply finishes the \
             job: a node the configuration no longer wants leaves (a control plane's etcd member \
             first, then its Kubernetes node and its server); a node it keeps goes back into \
             service or, when it was already reset (its server is off), is deleted and replaced \
             by a new server.",
            names.join(", "),
        ),
    )
}
