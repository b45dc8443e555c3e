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
