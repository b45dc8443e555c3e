//! Refresh: what exists in Hetzner (six list requests whatever the node count) and what the nodes
//! report (Talos versions and running configurations, through the load balancer), written back so
//! that the next plan repairs drift:
//! - control-plane servers deleted or powered off lower `control_plane.count` to the number still
//!   running, so the plan shows the count going back up (the update recreates or powers them on);
//! - nodes labelled `hk8s.io/leaving` (a removal an interrupted apply did not finish) show in
//!   `leaving_nodes`, which the plan sets to `[]` (the update finishes or undoes the removal);
//! - a node on another server type shows as `control_plane.server_type` (the update replaces it);
//! - a node whose disks are encrypted otherwise shows as `disk_encryption` (replaced likewise);
//! - a node on an older Talos version shows as `talos_version` (the update upgrades it);
//! - each node's running machine configuration is read (COSI `MachineConfig`, every node at once
//!   through the load balancer) and recorded as `nodes[*].config_hash`; the plan compares it with
//!   the configuration the provider generates and shows a node changed out of band (see
//!   `plan::config_drift`);
//! - firewall rules changed outside Terraform show as `firewall`, a load balancer missing its
//!   services or targets as `api_load_balancer` = null (the update puts them back);
//! - a cluster of which nothing is left is removed from state (the plan creates it again).
//!
//! Nothing changes when nothing drifted, so the plan after an apply is empty.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::hcloud::load_balancers::{KUBERNETES_API_PORT, TALOS_API_PORT};
use crate::hcloud::servers::ServerStatus;
use crate::resources::config_view as view;
use crate::tfplugin::diag::{AttributePath, Diagnostics};
use crate::tfplugin::value::Value;

use crate::resources::fleet::gates;
use crate::resources::fleet::{Clients, Operation, failed};

use super::converge::address;
use super::infra;
use super::observe::{self, Observed};
use super::pki;
use super::state;

/// Deadline of a refresh.
pub const READ_BUDGET: Duration = Duration::from_secs(5 * 60);

fn sources(observed: &Observed, cluster: &str, port: u16) -> Vec<String> {
    observed
        .control_plane_firewall(cluster)
        .map(|f| {
            f.rules
                .iter()
                .filter(|r| r.port.as_deref() == Some(port.to_string().as_str()))
                .flat_map(|r| r.source_ips.iter().cloned())
                .collect()
        })
        .unwrap_or_default()
}

fn string_list(value: &Value) -> Vec<String> {
    match value {
        Value::List(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn reflect_firewall(state: &mut Value, observed: &Observed, cluster: &str) {
    let path = AttributePath::root("firewall");
    let current = state.get("firewall").cloned().unwrap_or(Value::Null);
    let talos = sources(observed, cluster, TALOS_API_PORT);
    let kube = sources(observed, cluster, KUBERNETES_API_PORT);
    let stated = |name: &str| current.get(name).map(string_list).unwrap_or_default();
    let same = |mut a: Vec<String>, mut b: Vec<String>| {
        a.sort();
        b.sort();
        a == b
    };
    if same(stated("talos_api_sources"), talos.clone())
        && same(stated("kube_api_sources"), kube.clone())
    {
        return;
    }
    state.set_at_path(&path, firewall_value(talos, kube));
}

/// The `firewall` attribute for the sources the live rules allow (null when none are allowed).
pub(super) fn observed_firewall(observed: &Observed, cluster: &str) -> Value {
    let talos = sources(observed, cluster, TALOS_API_PORT);
    let kube = sources(observed, cluster, KUBERNETES_API_PORT);
    if talos.is_empty() && kube.is_empty() {
        Value::Null
    } else {
        firewall_value(talos, kube)
    }
}

fn firewall_value(talos: Vec<String>, kube: Vec<String>) -> Value {
    let list = |v: Vec<String>| {
        if v.is_empty() {
            Value::Null
        } else {
            Value::List(v.into_iter().map(Value::from).collect())
        }
    };
    Value::object([
        ("talos_api_sources", list(talos)),
        ("kube_api_sources", list(kube)),
    ])
}

/// Connection fields added after a state was written (`disk_encryption`) are read from the
/// attributes they mirror, so that pools built on an older cluster state see them.
fn backfill_connection(state: &mut Value) {
    for (field, path) in crate::resources::connection::in_place_fields() {
        let field_path = AttributePath::root("connection").attr(field);
        let missing = state
            .get("connection")
            .is_some_and(|c| c.is_known() && !c.is_null())
            && state.at_path(&field_path).is_none_or(Value::is_null);
        if missing && let Some(value) = state.at_path(&path).filter(|v| !v.is_null()).cloned() {
            state.set_at_path(&field_path, value);
        }
    }
}

fn load_balancer_intact(observed: &Observed, cluster: &str) -> bool {
    let Some(lb) = &observed.api_load_balancer else {
        return false;
    };
    let ports = [KUBERNETES_API_PORT, TALOS_API_PORT];
    let services = ports.iter().all(|p| {
        lb.services
            .iter()
            .any(|s| s.listen_port == *p && s.destination_port == *p)
    });
    let target = infra::load_balancer_target(cluster);
    let network = observed
        .network
        .as_ref()
        .is_none_or(|n| lb.private_ip(n.id).is_some());
    // A cluster made by an earlier release still has the legacy target; the next apply
    // replaces it (before any node leaves), so it is not drift to show.
    let legacy = infra::legacy_load_balancer_target(cluster);
    services && (lb.targets.contains(&target) || lb.targets.contains(&legacy)) && network
}

/// The refreshed state, or `Value::Null` when the cluster no longer exists.
///
/// # Errors
/// When Hetzner cannot be listed.
pub async fn refresh(op: &Operation, prior: &Value) -> Result<Value, Diagnostics> {
    let Some(cluster) = view::string(prior, &AttributePath::root("name")).map(str::to_owned) else {
        return Ok(prior.clone());
    };
    let existing_network = view::integer(
        prior,
        &AttributePath::root("network").attr("existing_network_id"),
    );
    let observed = observe::observe(
        &op.hcloud,
        &cluster,
        existing_network,
        observe::Servers::ControlPlanes,
    )
    .await
    .map_err(|e| failed("Cannot read the cluster's Hetzner objects", &e))?;
    if observed.is_empty() {
        tracing::warn!(
            cluster,
            "nothing of the cluster exists any more; removing it from state"
        );
        return Ok(Value::Null);
    }
    let mut state = prior.clone();
    let running: Vec<_> = observed
        .members
        .iter()
        .filter(|m| m.server.status == ServerStatus::Running)
        .collect();
    let count_path = AttributePath::root("control_plane").attr("count");
    if view::integer(prior, &count_path) != Some(running.len() as i64) {
        state.set_at_path(&count_path, Value::from(running.len() as i64));
    }
    let type_path = AttributePath::root("control_plane").attr("server_type");
    if let Some(stated) = view::string(prior, &type_path).map(str::to_owned)
        && let Some(other) = observed
            .members
            .iter()
            .find(|m| m.server.server_type.name != stated)
    {
        state.set_at_path(
            &type_path,
            Value::from(other.server.server_type.name.as_str()),
        );
    }
    // Encryption is fixed when a node's partitions are formatted: a node made with the other
    // setting (or before servers recorded it) shows as `disk_encryption` drift, and the update
    // replaces it.
    let encryption_path = AttributePath::root("disk_encryption");
    if let Some(stated) = view::boolean(prior, &encryption_path)
        && let Some(other) = observed
            .members
            .iter()
            .find(|m| m.disk_encrypted() != stated)
    {
        state.set_at_path(&encryption_path, Value::Bool(other.disk_encrypted()));
    }
    backfill_connection(&mut state);
    reflect_firewall(&mut state, &observed, &cluster);
    if !load_balancer_intact(&observed, &cluster) {
        state.set_at_path(&AttributePath::root("api_load_balancer"), Value::Null);
    } else if let Some(lb) = &observed.api_load_balancer {
        let type_path = AttributePath::root("api_load_balancer").attr("type");
        if view::string(&state, &type_path).is_some_and(|t| t != lb.load_balancer_type.name) {
            state.set_at_path(&type_path, Value::from(lb.load_balancer_type.name.as_str()));
        }
    }

    // Talos versions and running configurations, when the secrets are known and the nodes
    // answer; else the recorded ones.
    let recorded = |field: &str| -> BTreeMap<String, String> {
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
    };
    let mut versions = recorded("talos_version");
    let mut hashes = recorded("config_hash");
    let network_id = observed.network.as_ref().map(|n| n.id).or(existing_network);
    if let (Some(secrets_yaml), Some(lb), Some(network)) = (
        view::string(prior, &AttributePath::root("secrets")),
        observed
            .api_load_balancer
            .as_ref()
            .and_then(|lb| lb.public_ipv4()),
        network_id,
    ) && let Ok(secrets) = crate::talos::secrets::SecretsBundle::from_yaml(secrets_yaml)
        && running
            .iter()
            .all(|m| m.server.labels.get(pki::PKI_LABEL) == Some(&pki::fingerprint(&secrets)))
        && let Ok(clients) = Clients::connect(&secrets, lb, &cluster, op.poll_interval).await
    {
        let nodes: Vec<_> = running
            .iter()
            .filter_map(|member| address(member, network))
            .collect();
        gates::read_running(&clients, &nodes, &mut versions, &mut hashes).await;
        let talos_path = AttributePath::root("talos_version");
        if let Some(stated) = view::string(prior, &talos_path).map(str::to_owned)
            && let Some(older) = running
                .iter()
                .filter_map(|m| versions.get(m.name()))
                .find(|v| **v != stated)
        {
            state.set_at_path(&talos_path, Value::from(older.as_str()));
        }
    }
    // A removal an apply left unfinished (the node may be off and so not counted above).
    let leaving: Vec<String> = observed
        .members
        .iter()
        .filter(|m| m.is_leaving())
        .map(|m| m.name().to_owned())
        .collect();
    crate::resources::nodes::refresh_leaving_nodes(&mut state, prior, leaving);
    if let Some(network) = network_id {
        let members: Vec<_> = running.iter().map(|m| (*m).clone()).collect();
        let nodes = state::nodes_value(&members, network, &versions, &hashes);
        if state.get("nodes") != Some(&nodes) {
            state.set_at_path(&AttributePath::root("nodes"), nodes);
        }
    }
    Ok(state)
}
