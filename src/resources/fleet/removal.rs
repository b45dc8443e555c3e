//! Taking a node out of the cluster, in the order that keeps every client working:
//!
//! 1. out of the load balancer: a label that the target selector excludes
//!    ([`LEAVING_LABEL`]), then a wait until the balancer no longer routes to it. A node that
//!    leaves answers on :50000 until it is gone (after a graceful reset it serves maintenance
//!    mode with a certificate of no CA we know) and passes the balancer's TCP health check
//!    meanwhile; a connection the balancer pins to it would fail every call;
//! 2. out of the cluster: a control plane leaves etcd (Talos graceful reset, or removal by a
//!    peer when it cannot be reached), without losing quorum;
//! 3. gone: its Kubernetes node, then its server.
//!
//! Every step is idempotent, so a removal interrupted anywhere finishes on the next apply.

use crate::hcloud::servers::Server;
use crate::kube::retry_transient;
use crate::talos::ops::{self, ControlPlane};
use crate::tfplugin::diag::Diagnostics;

use super::clients::Clients;
use super::gates::NodeAddress;
use super::operation::{Operation, failed, failure};

/// Server label that takes a server out of the load balancer's targets: the target selector is
/// `…,!hk8s.io/leaving`. Set on a node before it leaves; the server is deleted afterwards.
pub const LEAVING_LABEL: &str = "hk8s.io/leaving";

/// Labels `server` as leaving and waits until the load balancer `load_balancer` no longer routes
/// new connections to it; then moves the Talos client to a new connection, since the current
/// one may be pinned to that very node.
///
/// # Errors
/// When the label cannot be set or the balancer keeps routing to the node until the deadline.
pub async fn exclude_from_load_balancer(
    op: &Operation,
    clients: &Clients,
    load_balancer: i64,
    server: &Server,
) -> Result<(), Diagnostics> {
    op.hcloud
        .set_server_label(server, LEAVING_LABEL, Some("true"))
        .await
        .map_err(|e| {
            failed(
                format!("Cannot label server {} as leaving", server.name),
                &e,
            )
        })?;
    op.hcloud
        .wait_load_balancer_stops_routing(load_balancer, server.id, &server.name)
        .await
        .map_err(|e| {
            failed(
                format!(
                    "The load balancer still routes to {}, which is leaving",
                    server.name
                ),
                &e,
            )
        })?;
    clients.talos.reconnect();
    Ok(())
}

/// Takes control plane `leaving` out: out of the load balancer, out of etcd (graceful Talos
/// reset, or removal by a peer when it cannot be reached) without losing quorum, then its
/// Kubernetes node and its server are deleted.
///
/// # Errors
/// When the removal would lose quorum or a step fails.
pub async fn remove_control_plane(
    op: &Operation,
    clients: &Clients,
    load_balancer: i64,
    leaving: &Server,
    leaving_address: Option<&NodeAddress>,
    remaining: &[NodeAddress],
) -> Result<(), Diagnostics> {
    if remaining.is_empty() {
        return Err(failure(
            "Cannot remove the last control-plane node",
            format!("{} is the only etcd member left", leaving.name),
        ));
    }
    exclude_from_load_balancer(op, clients, load_balancer, leaving).await?;
    tracing::info!(node = %leaving.name, "control-plane node leaving etcd");
    let remaining: Vec<ControlPlane> = remaining.iter().map(NodeAddress::control_plane).collect();
    // A node that has no private address any more is already gone: a peer removes its member.
    let node = leaving_address.map_or_else(
        || ControlPlane::new(leaving.name.clone(), std::net::IpAddr::from([0, 0, 0, 0])),
        NodeAddress::control_plane,
    );
    let removal = ops::remove_control_plane(&clients.talos, &node, &remaining, &op.deadline)
        .await
        .map_err(|e| failed(format!("{} could not leave etcd", leaving.name), &e))?;
    tracing::info!(node = %leaving.name, ?removal, "left etcd");
    forget(op, clients, leaving).await
}

/// Deletes the Kubernetes node of `server`, then the server: the last step of every removal.
///
/// # Errors
/// When either deletion fails.
pub async fn forget(op: &Operation, clients: &Clients, server: &Server) -> Result<(), Diagnostics> {
    // A delete is idempotent (a node already gone is fine): repeated through transient
    // failures within the deadline.
    retry_transient(
        &format!("delete the Kubernetes node {}", server.name),
        &op.deadline,
        || clients.kube.delete_node(&server.name),
    )
    .await
    .map_err(|e| {
        failed(
            format!("Cannot delete the Kubernetes node {}", server.name),
            &e,
        )
    })?;
    op.hcloud
        .delete_protected_servers(&[server])
        .await
        .map_err(|e| failed(format!("Cannot delete server {}", server.name), &e))?;
    clients.talos.reconnect();
    Ok(())
}

/// Nodes labelled, cordoned or forgotten at once when many leave together: enough that a
/// 100-node pool goes in a few round trips, few enough not to open a connection per node.
pub const AT_ONCE: usize = 16;

/// [`forget`] for many servers at once, when the whole cluster goes: their Kubernetes nodes are
/// deleted, then the servers in one batch whose delete actions are polled together (one by one,
/// each server's action was polled on its own).
///
/// # Errors
/// When a deletion fails.
pub async fn forget_all(
    op: &Operation,
    clients: &Clients,
    servers: &[&Server],
) -> Result<(), Diagnostics> {
    use futures::StreamExt;
    // The futures are made first: a stream over a mapping closure is not `Send` here.
    let deleting: Vec<_> = servers
        .iter()
        .map(|server| async move {
            clients.kube.delete_node(&server.name).await.map_err(|e| {
                failed(
                    format!("Cannot delete the Kubernetes node {}", server.name),
                    &e,
                )
            })
        })
        .collect();
    let deleted: Vec<_> = futures::stream::iter(deleting)
        .buffered(AT_ONCE)
        .collect()
        .await;
    for result in deleted {
        result?;
    }
    op.hcloud
        .delete_protected_servers(servers)
        .await
        .map_err(|e| failed("Cannot delete the pool's servers", &e))?;
    clients.talos.reconnect();
    Ok(())
}

/// How a worker leaves.
#[derive(Debug, Clone)]
pub enum Drain {
    /// Cordon and drain through the eviction API first (PodDisruptionBudgets honoured,
    /// DaemonSet pods left), within `timeout`.
    Evict(crate::kube::DrainOptions),
    /// No drain: the whole cluster goes too.
    Skip,
}

/// Takes worker `leaving` out: labelled as leaving (so an interrupted apply finishes this node
/// first), drained, reset gracefully by Talos (it powers off), then its Kubernetes node and its
/// server are deleted. A drain that does not finish fails with the pods still there and why
/// (the PodDisruptionBudget that refused); nothing is deleted then, and the node stays cordoned.
///
/// # Errors
/// The drain's or a deletion's failure.
pub async fn remove_worker(
    op: &Operation,
    clients: &Clients,
    leaving: &Server,
    leaving_address: Option<&NodeAddress>,
    drain: &Drain,
) -> Result<(), Diagnostics> {
    let server = op
        .hcloud
        .set_server_label(leaving, LEAVING_LABEL, Some("true"))
        .await
        .map_err(|e| {
            failed(
                format!("Cannot label server {} as leaving", leaving.name),
                &e,
            )
        })?;
    if let Drain::Evict(options) = drain {
        let found = retry_transient(
            &format!("read the Kubernetes node {}", server.name),
            &op.deadline,
            || clients.kube.get_node(&server.name),
        )
        .await;
        match found {
            Ok(Some(_)) => {
                let outcome = clients
                    .kube
                    .drain(&server.name, options, &op.deadline)
                    .await
                    .map_err(|e| {
                        failure(
                            format!("Draining node {} did not finish", server.name),
                            format!(
                                "{}. Nothing was deleted for this node; it stays cordoned. Once the \
                                 pods can move (for example when the PodDisruptionBudget allows \
                                 it), run `terraform apply` again to finish removing it, or raise \
                                 update_strategy.drain_timeout.",
                                crate::resources::fleet::chain(&e)
                            ),
                        )
                    })?;
                tracing::info!(node = %server.name, evicted = outcome.evicted.len(), "node drained");
            }
            Ok(None) => {}
            Err(e) => {
                return Err(failed(
                    format!("Cannot read the Kubernetes node {}", server.name),
                    &e,
                ));
            }
        }
    }
    // A node that goes without a drain goes with its cluster: nothing to leave gracefully.
    if let (Drain::Evict(_), Some(address)) = (drain, leaving_address) {
        let reset = clients
            .talos
            .node(address.ip)
            .with_deadline(
                op.deadline
                    .call_deadline(std::time::Duration::from_secs(60)),
            )
            .reset(&crate::talos::apid::ResetOptions::default())
            .await;
        // A node that does not answer is gone or broken: deleting its server is what is left.
        if let Err(e) = reset {
            tracing::info!(node = %server.name, error = %e, "graceful reset not possible; deleting the server");
        }
    }
    forget(op, clients, &server).await
}
