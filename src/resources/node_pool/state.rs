//! The pool's state: after an apply (the planned value with the computed attributes filled in),
//! after a refresh (what Hetzner and the nodes report, so the next plan repairs drift), and
//! after an import (rebuilt from the servers labelled for the pool).
//!
//! Refresh reads a fixed number of Hetzner lists whatever the pool's size (its servers, by label
//! selector) and, when the cluster's connection is known, each node's Talos version and running
//! configuration through the load balancer (Talos calls, all at once):
//! - servers deleted or powered off lower `node_count` to the number still running, so the plan
//!   shows it going back up (the update recreates or powers them on);
//! - a node on another server type shows as `server_type` (the update replaces it);
//! - nodes labelled `hk8s.io/leaving` (a removal an interrupted apply did not finish) show in
//!   `leaving_nodes`, which the plan sets to `[]` (the update finishes or undoes the removal);
//! - `nodes[*].config_hash` records what each node runs; the plan compares it with what the
//!   provider generates.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::hcloud::servers::{Server, ServerStatus};
use crate::resources::config_view as view;
use crate::resources::fleet::gates;
use crate::resources::fleet::{Clients, Operation, failed};
use crate::resources::nodes::node_value;
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::tfplugin::value::{Type, Value};

use super::converge::{Converged, address};
use super::machine;
use super::members::{self, PoolNode, pool_selector};
use super::spec::PoolSpec;
use crate::resources::cluster_ref::ClusterRef;

/// Deadline of a refresh or import.
pub const READ_BUDGET: Duration = Duration::from_secs(5 * 60);

fn attr(name: &str) -> AttributePath {
    AttributePath::root(name)
}

fn network_of(nodes: &[PoolNode], network: Option<i64>) -> Option<i64> {
    network.or_else(|| {
        nodes
            .iter()
            .find_map(|n| n.server.private_net.first().map(|p| p.network))
    })
}

/// The `nodes` attribute.
pub fn nodes_value(
    nodes: &[PoolNode],
    network: i64,
    versions: &BTreeMap<String, String>,
    hashes: &BTreeMap<String, String>,
) -> Value {
    Value::List(
        nodes
            .iter()
            .map(|n| {
                node_value(
                    &n.server,
                    network,
                    versions.get(n.name()),
                    hashes.get(n.name()),
                )
            })
            .collect(),
    )
}

/// The state after a successful create or update.
///
/// # Errors
/// When a configuration cannot be made.
pub fn after_apply(
    planned: &Value,
    spec: &PoolSpec,
    converged: &Converged,
) -> Result<Value, Diagnostics> {
    let mut state = planned.clone();
    if view::known(&state, &attr("id")).is_none_or(Value::is_null) {
        state.set_at_path(
            &attr("id"),
            Value::from(format!("{}/{}", spec.cluster.name, spec.name)),
        );
    }
    // Every node runs the generated configuration once the apply is done.
    let names: Vec<&str> = converged.nodes.iter().map(PoolNode::name).collect();
    let hashes = machine::config_hashes(spec, &names)
        .map_err(|e| failed("Cannot build a machine configuration", &e))?;
    if view::is_unknown(&state, &attr("nodes")) || state.get("nodes").is_none_or(Value::is_null) {
        state.set_at_path(
            &attr("nodes"),
            nodes_value(
                &converged.nodes,
                spec.cluster.network_id,
                &converged.talos_versions,
                &hashes,
            ),
        );
    }
    // Planned empty (or unknown on create): a converged pool has no node half-removed.
    if view::is_unknown(&state, &attr("leaving_nodes")) {
        let leaving: Vec<String> = converged
            .nodes
            .iter()
            .filter(|n| n.is_leaving())
            .map(|n| n.name().to_owned())
            .collect();
        state.set_at_path(
            &attr("leaving_nodes"),
            Value::List(leaving.into_iter().map(Value::from).collect()),
        );
    }
    if view::is_unknown(&state, &attr("node_count")) {
        state.set_at_path(
            &attr("node_count"),
            Value::from(converged.nodes.len() as i64),
        );
    }
    Ok(state)
}

fn recorded(prior: &Value, field: &str) -> BTreeMap<String, String> {
    match prior.get("nodes") {
        Some(Value::List(nodes)) => nodes
            .iter()
            .filter_map(|n| {
                Some((
                    n.get("name")?.as_str()?.to_owned(),
                    n.get(field)?.as_str()?.to_owned(),
                ))
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Reads each running node's Talos version and configuration hash through the load balancer.
async fn read_nodes(
    op: &Operation,
    cluster: &ClusterRef,
    nodes: &[&PoolNode],
    versions: &mut BTreeMap<String, String>,
    hashes: &mut BTreeMap<String, String>,
) {
    if nodes.is_empty() {
        return;
    }
    let Ok(clients) = Clients::connect(
        &cluster.secrets,
        &cluster.endpoint_ip,
        &cluster.name,
        op.poll_interval,
    )
    .await
    else {
        return;
    };
    let addresses: Vec<_> = nodes
        .iter()
        .filter_map(|node| address(node, cluster.network_id))
        .collect();
    gates::read_running(&clients, &addresses, versions, hashes).await;
}

/// The pool's cluster and name from a state (`id` = `<cluster>/<pool>`).
fn names(prior: &Value) -> Option<(String, String)> {
    let (cluster, pool) = view::string(prior, &attr("id"))?.split_once('/')?;
    Some((cluster.to_owned(), pool.to_owned()))
}

/// Refresh: see the module documentation.
///
/// # Errors
/// Hetzner errors.
pub async fn refresh(op: &Operation, prior: &Value) -> Result<Value, Diagnostics> {
    let Some((cluster_name, pool)) = names(prior) else {
        return Ok(prior.clone());
    };
    let servers = op
        .hcloud
        .list_servers(&pool_selector(&cluster_name, &pool))
        .await
        .map_err(|e| failed("Cannot list the pool's servers", &e))?;
    let nodes = members::nodes(&cluster_name, &pool, servers);
    let mut state = prior.clone();
    let running: Vec<&PoolNode> = nodes
        .iter()
        .filter(|n| n.server.status == ServerStatus::Running)
        .collect();
    if view::integer(prior, &attr("node_count")) != Some(running.len() as i64) {
        state.set_at_path(&attr("node_count"), Value::from(running.len() as i64));
    }
    if let Some(stated) = view::string(prior, &attr("server_type")).map(str::to_owned)
        && let Some(other) = nodes.iter().find(|n| n.server.server_type.name != stated)
    {
        state.set_at_path(
            &attr("server_type"),
            Value::from(other.server.server_type.name.as_str()),
        );
    }
    let mut versions = recorded(prior, "talos_version");
    let mut hashes = recorded(prior, "config_hash");
    let cluster = view::known(prior, &attr("cluster"))
        .filter(|c| !c.is_null())
        .and_then(|c| ClusterRef::from_connection(c).ok());
    if let Some(cluster) = &cluster {
        read_nodes(op, cluster, &running, &mut versions, &mut hashes).await;
    }
    // A removal an apply left unfinished (the node may be off and so not counted above).
    let leaving: Vec<String> = nodes
        .iter()
        .filter(|n| n.is_leaving())
        .map(|n| n.name().to_owned())
        .collect();
    crate::resources::nodes::refresh_leaving_nodes(&mut state, prior, leaving);
    if let Some(network) = network_of(&nodes, cluster.as_ref().map(|c| c.network_id)) {
        let running: Vec<PoolNode> = running.into_iter().cloned().collect();
        let value = nodes_value(&running, network, &versions, &hashes);
        if state.get("nodes") != Some(&value) {
            state.set_at_path(&attr("nodes"), value);
        }
    }
    Ok(state)
}

/// The state of the existing pool `<cluster>/<pool>`.
///
/// # Errors
/// When no server is labelled for the pool, or Hetzner cannot be listed.
pub async fn import(
    op: &Operation,
    cluster: &str,
    pool: &str,
    value_type: &Type,
) -> Result<Value, Diagnostics> {
    let servers = op
        .hcloud
        .list_servers(&pool_selector(cluster, pool))
        .await
        .map_err(|e| failed("Cannot list the pool's servers", &e))?;
    let nodes = members::nodes(cluster, pool, servers);
    if nodes.is_empty() {
        return Err(Diagnostic::error(
            "No such node pool",
            format!(
                "No server labelled {} exists in this Hetzner project; check the cluster and \
                 pool names and the token's project. A pool with no nodes has nothing to import: \
                 let Terraform create it.",
                pool_selector(cluster, pool)
            ),
        )
        .into());
    }
    // The type most nodes run (a pool caught mid-replacement has two).
    let mut types: BTreeMap<&str, usize> = BTreeMap::new();
    for node in &nodes {
        *types
            .entry(node.server.server_type.name.as_str())
            .or_default() += 1;
    }
    let server_type = types
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(t, _)| (*t).to_owned())
        .unwrap_or_default();
    let mut locations: Vec<String> = Vec::new();
    for node in &nodes {
        if !locations.contains(&node.server.location.name) {
            locations.push(node.server.location.name.clone());
        }
    }
    let protected = nodes.iter().all(|n| n.server.protection.delete);
    let network = network_of(&nodes, None);
    let state = Value::object([
        ("id", Value::from(format!("{cluster}/{pool}"))),
        ("name", Value::from(pool)),
        ("server_type", Value::from(server_type)),
        ("node_count", Value::from(nodes.len() as i64)),
        (
            "locations",
            Value::List(locations.into_iter().map(Value::from).collect()),
        ),
        ("delete_protection", Value::Bool(protected)),
        (
            "nodes",
            network.map_or(Value::Null, |n| {
                nodes_value(&nodes, n, &BTreeMap::new(), &BTreeMap::new())
            }),
        ),
    ]);
    state
        .conform(value_type, &AttributePath::empty())
        .map_err(|e| failed("Cannot build the imported state", &e))
}

/// Servers of the pool in a prior state, for delete.
pub async fn pool_servers(
    op: &Operation,
    cluster: &str,
    pool: &str,
) -> Result<Vec<PoolNode>, Diagnostics> {
    let servers: Vec<Server> = op
        .hcloud
        .list_servers(&pool_selector(cluster, pool))
        .await
        .map_err(|e| failed("Cannot list the pool's servers", &e))?;
    Ok(members::nodes(cluster, pool, servers))
}

/// The cluster and pool names of a prior state.
pub fn pool_names(prior: &Value) -> Option<(String, String)> {
    names(prior)
}
