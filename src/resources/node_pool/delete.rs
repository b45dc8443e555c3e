//! Destroying a pool: every node leaves (drained when other nodes can take its pods), then its
//! servers and placement groups go; nothing labelled for the pool is left.
//!
//! Terraform tells a provider nothing about the other resources of a destroy, so "the whole
//! cluster goes too" is recognised by what it looks like: every node of the pool is cordoned
//! first, and the drain is skipped when no other node could take the pods (no Ready,
//! schedulable worker outside the pool, nor a control plane that takes workloads). When the cluster's
//! pools are destroyed together they cordon each other out and none drains; a pool destroyed
//! alone drains onto the rest of the cluster.

use futures::StreamExt;

use crate::hcloud::servers::Server;
use crate::kube::{DrainOptions, NodeInfo, retry_transient};
use crate::resources::cluster_ref::ClusterRef;
use crate::resources::config_view as view;
use crate::resources::duration;
use crate::resources::fleet::removal::{self, Drain, LEAVING_LABEL};
use crate::resources::fleet::{Clients, Operation, failed};
use crate::tfplugin::diag::{AttributePath, Diagnostics};
use crate::tfplugin::value::Value;

use super::autoscaling;
use super::converge::address;
use super::members::{PoolNode, pool_selector};
use super::schema::{DEFAULT_DRAIN_TIMEOUT, DEFAULT_MAX_UNAVAILABLE};
use super::state;

/// Whether `node` could take the pool's pods: Ready, schedulable, outside the pool, and a worker
/// or a control plane that takes workloads. A worker's taints are not weighed: pods may tolerate
/// them (e.g. the uninitialized taint before the cloud controller runs).
fn can_take_pods(node: &NodeInfo, pool_prefix: &str) -> bool {
    let control_plane = node
        .labels
        .contains_key("node-role.kubernetes.io/control-plane");
    let takes_workloads = !node
        .taints
        .iter()
        .any(|t| t.starts_with("node-role.kubernetes.io/control-plane"));
    node.ready
        && !node.unschedulable
        && !node.name.starts_with(pool_prefix)
        && (!control_plane || takes_workloads)
}

/// Deletes everything of the pool in `prior`.
///
/// # Errors
/// A drain or deletion that failed (what was removed stays removed; applying again continues).
pub async fn delete(op: &Operation, prior: &Value) -> Result<(), Diagnostics> {
    let Some((cluster_name, pool)) = state::pool_names(prior) else {
        return Ok(());
    };
    let cluster = view::known(prior, &AttributePath::root("cluster"))
        .filter(|c| !c.is_null())
        .and_then(|c| ClusterRef::from_connection(c).ok());
    if let Some(cluster) = &cluster {
        // First, so the autoscaler makes no server while the pool's are deleted; the servers
        // are listed after it runs without the pool.
        let withdrawn = match Clients::connect(
            &cluster.secrets,
            &cluster.endpoint_ip,
            &cluster.name,
            op.poll_interval,
        )
        .await
        {
            Ok(clients) => autoscaling::withdraw(op, &clients.kube, &cluster_name, &pool).await,
            Err(e) => Err(e),
        };
        let autoscaled = prior
            .get("autoscaling")
            .is_some_and(|a| a.is_known() && !a.is_null());
        match withdrawn {
            Ok(()) => {}
            Err(e) if autoscaled => return Err(e),
            Err(e) => {
                tracing::info!(?e, "a fixed-size pool's autoscaler group not checked");
            }
        }
    }
    let nodes = state::pool_servers(op, &cluster_name, &pool).await?;
    match (&cluster, nodes.is_empty()) {
        (Some(cluster), false) => remove_all(op, cluster, prior, &nodes, &pool).await?,
        (None, false) => {
            let servers: Vec<_> = nodes.iter().map(|n| &n.server).collect();
            op.hcloud
                .delete_protected_servers(&servers)
                .await
                .map_err(|e| failed("Cannot delete the pool's servers", &e))?;
        }
        (_, true) => {}
    }
    for group in op
        .hcloud
        .list_placement_groups(&pool_selector(&cluster_name, &pool))
        .await
        .map_err(|e| failed("Cannot list the pool's placement groups", &e))?
    {
        op.hcloud
            .delete_placement_group(group.id)
            .await
            .map_err(|e| failed(format!("Cannot delete placement group {}", group.name), &e))?;
    }
    tracing::info!(cluster = %cluster_name, pool = %pool, "node pool deleted");
    Ok(())
}

async fn remove_all(
    op: &Operation,
    cluster: &ClusterRef,
    prior: &Value,
    nodes: &[PoolNode],
    pool: &str,
) -> Result<(), Diagnostics> {
    let clients = Clients::connect(
        &cluster.secrets,
        &cluster.endpoint_ip,
        &cluster.name,
        op.poll_interval,
    )
    .await?;
    // All at once (bounded): one by one, labelling and cordoning alone took seconds at 100 nodes.
    // The futures are made first: a stream over a mapping closure is not `Send` here.
    let labelling: Vec<_> = nodes
        .iter()
        .map(|node| {
            let clients = &clients;
            async move {
                let server = op
                    .hcloud
                    .set_server_label(&node.server, LEAVING_LABEL, Some("true"))
                    .await
                    .map_err(|e| {
                        failed(
                            format!("Cannot label server {} as leaving", node.name()),
                            &e,
                        )
                    })?;
                if let Err(e) = clients.kube.cordon(node.name()).await
                    && !e.is_not_found()
                {
                    tracing::info!(node = node.name(), error = %e, "cannot cordon; the drain decides");
                }
                Ok::<Server, Diagnostics>(server)
            }
        })
        .collect();
    let labelled: Vec<Result<Server, Diagnostics>> = futures::stream::iter(labelling)
        .buffered(removal::AT_ONCE)
        .collect()
        .await;
    let labelled = labelled
        .into_iter()
        .collect::<Result<Vec<Server>, Diagnostics>>()?;
    let prefix = format!("{}-{pool}-", cluster.name);
    // Repeated through transient failures: a failed read must not pass for "no room" and skip
    // the drain.
    let room = retry_transient("list the nodes", &op.deadline, || clients.kube.list_nodes())
        .await
        .map(|all| all.iter().any(|n| can_take_pods(n, &prefix)))
        .unwrap_or(false);
    let strategy = AttributePath::root("update_strategy");
    let at_once = if room {
        view::integer(prior, &strategy.attr("max_unavailable"))
            .and_then(|n| usize::try_from(n).ok())
            .unwrap_or(DEFAULT_MAX_UNAVAILABLE as usize)
            .max(1)
    } else {
        nodes.len().max(1)
    };
    let how = if room {
        let timeout = view::string(prior, &strategy.attr("drain_timeout"))
            .and_then(|t| duration::parse(t).ok())
            .or_else(|| duration::parse(DEFAULT_DRAIN_TIMEOUT).ok())
            .unwrap_or(std::time::Duration::from_secs(300));
        Drain::Evict(DrainOptions {
            timeout,
            grace_period: None,
            delete_emptydir_data: true,
            ignore_daemonsets: true,
        })
    } else {
        tracing::info!(pool, "no other node can take the pool's pods: not draining");
        Drain::Skip
    };
    if matches!(how, Drain::Skip) {
        // The whole cluster goes: nothing leaves gracefully, so every server goes in one batch.
        let servers: Vec<&Server> = labelled.iter().collect();
        return removal::forget_all(op, &clients, &servers).await;
    }
    let leaving: Vec<(&PoolNode, &Server)> = nodes.iter().zip(&labelled).collect();
    for chunk in leaving.chunks(at_once) {
        let results =
            futures::future::join_all(
                chunk.iter().map(|(node, server)| {
                    let address = address(node, cluster.network_id);
                    let how = &how;
                    let clients = &clients;
                    async move {
                        removal::remove_worker(op, clients, server, address.as_ref(), how).await
                    }
                }),
            )
            .await;
        let mut errors = Diagnostics::new();
        for result in results {
            if let Err(e) = result {
                errors.extend(e);
            }
        }
        if errors.has_error() {
            return Err(errors);
        }
    }
    Ok(())
}
