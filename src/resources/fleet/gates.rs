//! Health gates, all through the load balancer and all on the `talos::ops` and `kube` waits:
//! every node's Talos API answers (forwarded with `node`), etcd is bootstrapped exactly once and
//! holds exactly the control-plane members, Kubernetes answers `/readyz` and the nodes are
//! Ready. Control planes and pool nodes pass the same gates; only etcd is the control plane's.

use std::net::IpAddr;

use crate::talos::config::Cni;
use crate::talos::ops::{self, Bootstrapped, ControlPlane, Membership};
use crate::tfplugin::diag::Diagnostics;

use super::clients::Clients;
use super::operation::{Operation, failed};

/// A node as the gates see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeAddress {
    /// Hostname (= server name = Kubernetes node name = etcd member name).
    pub name: String,
    /// Address the load balancer's apid forwards to (the private IP).
    pub ip: IpAddr,
}

impl NodeAddress {
    /// The node as an etcd member candidate.
    pub fn control_plane(&self) -> ControlPlane {
        ControlPlane::new(self.name.clone(), self.ip)
    }
}

fn ips(nodes: &[NodeAddress]) -> Vec<IpAddr> {
    nodes.iter().map(|n| n.ip).collect()
}

fn names(nodes: &[NodeAddress]) -> Vec<String> {
    nodes.iter().map(|n| n.name.clone()).collect()
}

/// Waits until every node's Talos API answers; returns each node's Talos version, in order.
///
/// # Errors
/// What did not answer (or answered as a node of another cluster), and for how long.
pub async fn wait_talos_api(
    op: &Operation,
    clients: &Clients,
    nodes: &[NodeAddress],
    failure_summary: &str,
) -> Result<Vec<String>, Diagnostics> {
    let versions = ops::wait_apid(&clients.talos, &ips(nodes), &op.deadline)
        .await
        .map_err(|e| failed(failure_summary, &e))?;
    Ok(versions.into_iter().map(|v| v.tag).collect())
}

/// Whether etcd answers with at least one member on any of `nodes` (an existing cluster): one
/// look, no waiting.
pub async fn etcd_exists(op: &Operation, clients: &Clients, nodes: &[NodeAddress]) -> bool {
    let answers = futures::future::join_all(nodes.iter().map(|node| {
        let call = clients
            .talos
            .node(node.ip)
            .with_deadline(op.deadline.check_deadline());
        async move { call.etcd_members().await }
    }))
    .await;
    answers
        .into_iter()
        .any(|answer| answer.is_ok_and(|members| !members.is_empty()))
}

/// Bootstraps etcd on exactly one of `nodes` (the first that answers, in order); an etcd that
/// exists already counts as done.
///
/// # Errors
/// When no node accepts before the deadline, or one refuses for good.
pub async fn bootstrap(
    op: &Operation,
    clients: &Clients,
    nodes: &[NodeAddress],
) -> Result<Bootstrapped, Diagnostics> {
    ops::bootstrap_once(&clients.talos, &ips(nodes), &op.deadline)
        .await
        .map_err(|e| failed("etcd could not be bootstrapped", &e))
}

/// Waits until etcd's members are exactly `nodes`, all voting. Members of servers that no
/// longer exist are removed first: they count towards quorum and can never vote.
///
/// # Errors
/// Which members are missing, extra or still learners when the deadline passed.
pub async fn wait_etcd_members(
    op: &Operation,
    clients: &Clients,
    nodes: &[NodeAddress],
) -> Result<(), Diagnostics> {
    let control_planes: Vec<ControlPlane> = nodes.iter().map(NodeAddress::control_plane).collect();
    match ops::remove_dead_members(&clients.talos, &control_planes, &op.deadline).await {
        Ok(dead) => {
            for member in &dead.removed {
                tracing::info!(member = %member.hostname, "removed the etcd member of a control plane that no longer exists");
            }
        }
        // No member is one of ours yet (they are still joining): nothing to compare against.
        Err(ops::Error::NoKnownMember { .. }) => {}
        Err(e) => return Err(failed("etcd membership could not be cleaned up", &e)),
    }
    ops::wait_etcd_members(
        &clients.talos,
        &control_planes,
        Membership::Exactly,
        &op.deadline,
    )
    .await
    .map(drop)
    .map_err(|e| failed("etcd did not settle on every control-plane member", &e))
}

/// Whether a cluster's nodes can become Ready: only when a CNI runs on them. Talos brings
/// flannel and the provider installs Cilium; with `cni = "none"` the user's CNI comes later, so
/// registration is all the provider can wait for.
pub fn nodes_become_ready(cni: Cni) -> bool {
    cni != Cni::None
}

/// The taint a node keeps until a cloud controller initialised it.
pub const UNINITIALIZED_TAINT: &str = "node.cloudprovider.kubernetes.io/uninitialized";

/// What a node still lacks from the cloud controller, `None` once initialised.
pub fn uninitialised(node: &crate::kube::NodeInfo) -> Option<String> {
    if node.provider_id.is_none() {
        Some("no providerID yet (the hcloud cloud controller initialises it)".into())
    } else if node
        .taints
        .iter()
        .any(|t| t.starts_with(UNINITIALIZED_TAINT))
    {
        Some(format!("still tainted {UNINITIALIZED_TAINT}"))
    } else {
        None
    }
}

/// Whether the provider's hcloud cloud controller is installed in the cluster (then new nodes
/// are awaited until it initialised them). The read is repeated through transient failures
/// within the operation's deadline, so that a restarting API server does not pass for "not
/// installed".
pub async fn cloud_controller_installed(op: &Operation, clients: &Clients) -> bool {
    use crate::kube::components::{NAMESPACE, ccm};
    crate::kube::retry_transient(
        "read the hcloud cloud controller's release",
        &op.deadline,
        || clients.kube.release(NAMESPACE, ccm::RELEASE),
    )
    .await
    .ok()
    .flatten()
    .is_some_and(|r| r.status == "deployed")
}

/// Waits until `/readyz` answers through the load balancer and every node in `nodes` is
/// registered, and Ready when `ready` (see [`nodes_become_ready`]).
///
/// # Errors
/// What is not ready when the deadline passed.
pub async fn wait_kubernetes(
    op: &Operation,
    clients: &Clients,
    nodes: &[NodeAddress],
    ready: bool,
) -> Result<(), Diagnostics> {
    clients
        .kube
        .wait_ready(true, &op.deadline)
        .await
        .map_err(|e| failed("Kubernetes did not become ready", &e))?;
    if ready {
        clients
            .kube
            .wait_nodes_ready(&names(nodes), &op.deadline)
            .await
            .map(drop)
            .map_err(|e| failed("Kubernetes nodes did not become Ready", &e))
    } else {
        wait_registered(op, clients, nodes).await
    }
}

/// Waits until every node in `nodes` is registered with Kubernetes, Ready or not.
///
/// # Errors
/// Which nodes did not register.
pub async fn wait_registered(
    op: &Operation,
    clients: &Clients,
    nodes: &[NodeAddress],
) -> Result<(), Diagnostics> {
    clients
        .kube
        .wait_nodes_registered(&names(nodes), "registered", &op.deadline, |_| None)
        .await
        .map(drop)
        .map_err(|e| failed("Kubernetes nodes did not register", &e))
}

/// The control plane's gate after a change: every node's Talos API, etcd membership, Kubernetes
/// readiness.
///
/// # Errors
/// What was not healthy.
pub async fn control_plane(
    op: &Operation,
    clients: &Clients,
    nodes: &[NodeAddress],
    ready: bool,
) -> Result<(), Diagnostics> {
    wait_talos_api(
        op,
        clients,
        nodes,
        "A control-plane node's Talos API did not answer",
    )
    .await?;
    wait_etcd_members(op, clients, nodes).await?;
    wait_kubernetes(op, clients, nodes, ready).await
}

/// How long reading one node's Talos version and configuration may take during a refresh.
const NODE_READ_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// What refresh records of each of `nodes`, all at once through the load balancer (Talos calls,
/// no Hetzner request): its Talos version into `versions` and the hash of the machine
/// configuration it runs into `hashes`, by node name. A node that does not answer keeps what the
/// maps held (the values recorded before).
pub async fn read_running(
    clients: &Clients,
    nodes: &[NodeAddress],
    versions: &mut std::collections::BTreeMap<String, String>,
    hashes: &mut std::collections::BTreeMap<String, String>,
) {
    let reads = nodes.iter().map(|node| {
        let routed = clients
            .talos
            .node(node.ip)
            .with_deadline(NODE_READ_DEADLINE);
        async move {
            let (version, config) = tokio::join!(routed.version(), routed.machine_config());
            (node.name.clone(), version, config)
        }
    });
    for (name, version, config) in futures::future::join_all(reads).await {
        match version {
            Ok(version) => {
                versions.insert(name.clone(), version.tag);
            }
            Err(e) => tracing::info!(node = %name, error = %e, "Talos version not read"),
        }
        match config {
            Ok(bytes) => {
                hashes.insert(name, super::machine::config_hash(&bytes));
            }
            Err(e) => {
                tracing::info!(node = %name, error = %e, "running machine configuration not read");
            }
        }
    }
}
