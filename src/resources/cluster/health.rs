//! Health gates of the control plane, all through the load balancer: every node's Talos API
//! answers (forwarded with `node`), etcd is bootstrapped exactly once and holds exactly the
//! control-plane members, and Kubernetes answers `/readyz` with every control-plane node Ready.

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::kube::KubeClient;
use crate::talos::apid::{BootstrapOutcome, EtcdMember};

use super::context::Operation;
use super::converge::Clients;
use super::poll::{self, Probe, WaitError};

/// A control-plane node as the health gates see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddress {
    /// Hostname (= server name = Kubernetes node name = etcd member name).
    pub name: String,
    /// Address the load balancer's apid forwards to (the private IP).
    pub ip: IpAddr,
}

/// Deadline of one probe call: three poll intervals, at least 2 s.
fn call_deadline(op: &Operation) -> std::time::Duration {
    (op.poll_interval * 3).max(std::time::Duration::from_secs(2))
}

/// Waits until every node's Talos API answers `Version`; returns each node's Talos version.
///
/// # Errors
/// [`WaitError`] naming the nodes that did not answer.
pub async fn wait_talos_api(
    op: &Operation,
    clients: &Clients,
    nodes: &[NodeAddress],
) -> Result<Vec<String>, WaitError> {
    poll::until(op, "the Talos API of every control-plane node", || async {
        let talos = clients.talos();
        // All nodes at once: a node still booting costs one call deadline, not one per node.
        let answers = futures::future::join_all(nodes.iter().map(|node| {
            let talos = talos.clone();
            async move {
                talos
                    .node(node.ip)
                    .with_deadline(call_deadline(op))
                    .version()
                    .await
            }
        }))
        .await;
        let mut versions = Vec::new();
        let mut silent = Vec::new();
        for (node, answer) in nodes.iter().zip(answers) {
            match answer {
                Ok(version) => versions.push(version.tag),
                Err(e) => silent.push(format!("{} ({}): {e}", node.name, node.ip)),
            }
        }
        if silent.is_empty() {
            Probe::Done(versions)
        } else {
            clients.reconnect().await;
            Probe::Pending(silent.join("; "))
        }
    })
    .await
}

/// Bootstraps etcd on `node` once: `AlreadyExists` counts as done, "not ready yet" is retried.
///
/// # Errors
/// [`WaitError`] when the node never accepts.
pub async fn bootstrap(
    op: &Operation,
    clients: &Clients,
    node: &NodeAddress,
) -> Result<BootstrapOutcome, WaitError> {
    poll::until(op, &format!("etcd bootstrap on {}", node.name), || async {
        match clients
            .talos()
            .node(node.ip)
            .with_deadline(call_deadline(op))
            .bootstrap()
            .await
        {
            Ok(outcome) => Probe::Done(outcome),
            Err(e) if e.grpc_code() == Some(tonic::Code::PermissionDenied) => {
                Probe::Fatal(format!("bootstrap on {}: {e}", node.name))
            }
            Err(e) => {
                clients.reconnect().await;
                Probe::Pending(format!("{}: {e}", node.name))
            }
        }
    })
    .await
}

/// The etcd members as any of `nodes` sees them (the first that answers).
async fn members(
    op: &Operation,
    clients: &Clients,
    nodes: &[NodeAddress],
) -> Result<Vec<EtcdMember>, String> {
    let talos = clients.talos();
    // Every node at once; the first list wins (they all see the same cluster).
    let answers = futures::future::join_all(nodes.iter().map(|node| {
        let talos = talos.clone();
        async move {
            talos
                .node(node.ip)
                .with_deadline(call_deadline(op))
                .etcd_members()
                .await
        }
    }))
    .await;
    let mut errors = Vec::new();
    for (node, answer) in nodes.iter().zip(answers) {
        match answer {
            Ok(members) => return Ok(members),
            Err(e) => errors.push(format!("{}: {e}", node.name)),
        }
    }
    clients.reconnect().await;
    Err(errors.join("; "))
}

/// Waits until etcd has exactly the members `nodes` (matched by hostname), removing members
/// that are not among `nodes` (their server no longer exists) so that a deleted
/// server does not keep counting against quorum.
///
/// # Errors
/// [`WaitError`] saying which members are missing or extra.
pub async fn wait_etcd_members(
    op: &Operation,
    clients: &Clients,
    nodes: &[NodeAddress],
) -> Result<Vec<EtcdMember>, WaitError> {
    let wanted: BTreeSet<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    poll::until(op, "etcd to have every control-plane member", || async {
        let members = match members(op, clients, nodes).await {
            Ok(members) => members,
            Err(e) => return Probe::Pending(format!("etcd member list: {e}")),
        };
        let have: BTreeSet<&str> = members.iter().map(|m| m.hostname.as_str()).collect();
        let stale: Vec<&EtcdMember> = members
            .iter()
            .filter(|m| !wanted.contains(m.hostname.as_str()))
            .collect();
        for member in &stale {
            tracing::info!(member = %member.hostname, id = member.id, "removing the etcd member of a control plane that no longer exists");
            if let Some(asker) = nodes.iter().find(|n| have.contains(n.name.as_str())) {
                let _ = clients
                    .talos()
                    .node(asker.ip)
                    .etcd_remove_member(member.id)
                    .await;
            }
        }
        let missing: Vec<&str> = wanted.difference(&have).copied().collect();
        let learners: Vec<&str> = members
            .iter()
            .filter(|m| m.is_learner)
            .map(|m| m.hostname.as_str())
            .collect();
        if missing.is_empty() && stale.is_empty() && learners.is_empty() {
            Probe::Done(members.clone())
        } else {
            let mut pending = Vec::new();
            if !missing.is_empty() {
                pending.push(format!("not yet members: {}", missing.join(", ")));
            }
            if !stale.is_empty() {
                let names: Vec<&str> = stale.iter().map(|m| m.hostname.as_str()).collect();
                pending.push(format!("leaving: {}", names.join(", ")));
            }
            if !learners.is_empty() {
                pending.push(format!("still learners: {}", learners.join(", ")));
            }
            Probe::Pending(format!(
                "{} (members now: {})",
                pending.join("; "),
                have.into_iter().collect::<Vec<_>>().join(", ")
            ))
        }
    })
    .await
}

/// Whether etcd answers with at least one member on any of `nodes` (an existing cluster).
pub async fn etcd_exists(op: &Operation, clients: &Clients, nodes: &[NodeAddress]) -> bool {
    members(op, clients, nodes)
        .await
        .is_ok_and(|m| !m.is_empty())
}

/// Waits until `/readyz` answers through the load balancer and every node in `names` is Ready.
///
/// # Errors
/// [`WaitError`] naming what is not ready.
pub async fn wait_kubernetes(
    op: &Operation,
    kube: &KubeClient,
    names: &[String],
) -> Result<(), WaitError> {
    poll::until(
        op,
        "the Kubernetes API and every control-plane node Ready",
        || async {
            match kube.readyz().await {
                Ok(true) => {}
                Ok(false) => return Probe::Pending("/readyz is not ok yet".to_owned()),
                Err(e) => return Probe::Pending(format!("/readyz: {e}")),
            }
            let nodes = match kube.list_nodes().await {
                Ok(nodes) => nodes,
                Err(e) => return Probe::Pending(format!("listing nodes: {e}")),
            };
            let not_ready: Vec<&str> = names
                .iter()
                .filter(|name| !nodes.iter().any(|n| &n.name == *name && n.ready))
                .map(String::as_str)
                .collect();
            if not_ready.is_empty() {
                Probe::Done(())
            } else {
                Probe::Pending(format!("nodes not Ready: {}", not_ready.join(", ")))
            }
        },
    )
    .await
}
