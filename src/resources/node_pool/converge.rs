//! Brings a pool to the desired state from whatever exists: nothing (create), a half-made pool
//! (a killed apply run again), or a pool whose size or configuration changed (update). Every
//! step looks at what is before acting, so a rerun continues where the last run stopped.
//!
//! The steps, in order:
//! 1. the cluster firewall covers the pool's servers (label selector of the cluster); an
//!    autoscaled pool publishes its node group to the cluster-autoscaler ([`super::autoscaling`]),
//!    so servers it makes from now on boot the current configuration;
//! 2. servers that are off are powered on, missing ones created together (smallest free
//!    numbers, spread round robin over `locations`, placement groups of at most 10); an
//!    autoscaled pool has no missing servers: the autoscaler makes them;
//! 3. every node's Talos API answers and its Kubernetes node is Ready with the pool's labels
//!    and taints;
//! 4. outdated nodes (server type, location, disk encryption) are replaced, surge first:
//!    `max_unavailable` new nodes are Ready before as many old ones drain and go (an autoscaled
//!    pool's go without a surge: the autoscaler replaces them when their pods ask for room);
//! 5. extra nodes (an autoscaled pool: above `max`) leave, highest numbers first,
//!    `max_unavailable` at a time: cordon, drain (eviction API), graceful Talos reset,
//!    Kubernetes node and server deleted;
//! 6. (updates) the Talos version, machine configuration and Kubernetes version of each node,
//!    `max_unavailable` at a time, each gated on readiness;
//! 7. placement groups left empty are deleted, and Hetzner's delete protection follows
//!    `delete_protection`.

use std::collections::BTreeMap;

use crate::hcloud::Action;
use crate::hcloud::firewalls::FirewallTarget;
use crate::hcloud::labels::Selector;
use crate::hcloud::names::pool_server_name;
use crate::hcloud::placement_groups::PlacementGroup;
use crate::hcloud::protection::Protectable;
use crate::hcloud::provision::Placement;
use crate::hcloud::servers::Server;
use crate::kube::{DrainOptions, retry_transient};
use crate::resources::fleet::clients::Kubelets;
use crate::resources::fleet::gates::{self, NodeAddress};
use crate::resources::fleet::image as images;
use crate::resources::fleet::removal::{self, Drain, LEAVING_LABEL};
use crate::resources::fleet::servers::{self, Batch, NewServer};
use crate::resources::fleet::{Clients, Operation, failed, failure};
use crate::talos::ops::{self, ChangeMode, RebootPolicy};
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};

use super::autoscaling;
use super::machine;
use super::members::{
    self, DISK_ENCRYPTION_LABEL, GroupChoice, LOCATION_LABEL, PoolNode, Wanted,
    disk_encryption_label, pool_labels, pool_selector,
};
use super::spec::PoolSpec;

/// Kubernetes node annotation of a node a roll drained for its Talos upgrade, until it is
/// uncordoned: a rerun after an interruption uncordons exactly the nodes a roll cordoned (one
/// cordoned by hand stays so). On the Kubernetes node, not the server, so that a roll spends
/// no Hetzner requests on it (it was two `PUT /servers/{id}` per node).
pub const UPGRADING: &str = "hk8s.io/upgrading";

/// What the apply found and left.
#[derive(Debug, Clone)]
pub struct Converged {
    /// The pool's servers, by number.
    pub nodes: Vec<PoolNode>,
    /// Talos version each node reported, by node name.
    pub talos_versions: BTreeMap<String, String>,
    /// What the user should know although the apply succeeded.
    pub warnings: Vec<Diagnostic>,
}

/// Whether the apply may change running nodes in place (an update) or only build (a create).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Create: build what is missing; nothing runs yet that could be rolled.
    Create,
    /// Update: also roll versions and configuration through the running nodes.
    Update,
}

fn wanted(spec: &PoolSpec) -> Wanted<'_> {
    Wanted {
        server_type: &spec.server_type,
        locations: &spec.locations,
        disk_encryption: spec.cluster.disk_encryption,
        image: &spec.cluster.image,
        autoscaled: spec.size.is_autoscaled(),
    }
}

fn locations_attribute() -> AttributePath {
    AttributePath::root("locations")
}

/// The address the gates use for a node: its private IP in the cluster network.
pub fn address(node: &PoolNode, network: i64) -> Option<NodeAddress> {
    let ip = node.server.private_ip(network)?.parse().ok()?;
    Some(NodeAddress {
        name: node.name().to_owned(),
        ip,
    })
}

fn addresses(nodes: &[&PoolNode], network: i64) -> Result<Vec<NodeAddress>, Diagnostics> {
    nodes
        .iter()
        .map(|n| {
            address(n, network).ok_or_else(|| {
                failure(
                    "A pool server is not on the cluster network",
                    format!(
                        "server {} ({}) has no private IP in network {network}",
                        n.name(),
                        n.server.id
                    ),
                )
            })
        })
        .collect()
}

/// The pool's servers (one list request).
///
/// # Errors
/// Hetzner's error.
pub async fn list_nodes(op: &Operation, spec: &PoolSpec) -> Result<Vec<PoolNode>, Diagnostics> {
    let servers = op
        .hcloud
        .list_servers(&pool_selector(&spec.cluster.name, &spec.name))
        .await
        .map_err(|e| failed("Cannot list the pool's servers", &e))?;
    Ok(members::nodes(&spec.cluster.name, &spec.name, servers))
}

/// The whole apply: see the module documentation.
///
/// # Errors
/// A diagnostic saying which step failed and what was pending; everything made so far stays and
/// the next apply continues from it.
pub async fn converge(
    op: &Operation,
    spec: &PoolSpec,
    mode: Mode,
) -> Result<Converged, Diagnostics> {
    let mut warnings = Vec::new();
    let clients = Clients::connect(
        &spec.cluster.secrets,
        &spec.cluster.endpoint_ip,
        &spec.cluster.name,
        op.poll_interval,
    )
    .await?;
    let firewall_actions = cover_with_firewall(op, spec).await?;
    if spec.size.is_autoscaled() {
        if let Some(warning) = autoscaling::publish(op, &clients.kube, spec).await? {
            warnings.push(warning);
        }
    } else {
        // A pool that was autoscaled: the autoscaler stops making its servers.
        autoscaling::withdraw(op, &clients.kube, &spec.cluster.name, &spec.name).await?;
    }
    let mut nodes = finish_half_removed(op, &clients, spec).await?;
    let missing = spec.size.missing(nodes.len());
    let power_on: Vec<Server> = nodes
        .iter()
        .filter(|n| n.is_off())
        .map(|n| {
            tracing::info!(node = n.name(), "powering on a pool server that is off");
            n.server.clone()
        })
        .collect();
    let mut created = Vec::new();
    if missing > 0 || !power_on.is_empty() || !firewall_actions.is_empty() {
        created = add_nodes(
            op,
            spec,
            &nodes,
            missing,
            power_on,
            firewall_actions,
            &mut warnings,
        )
        .await?;
        nodes = list_nodes(op, spec).await?;
    }
    // Nodes made by this apply boot the current configuration: they must show the pool's labels
    // and taints. Nodes from before get them when the roll applies the configuration.
    wait_ready(
        op,
        &clients,
        spec,
        &nodes.iter().collect::<Vec<_>>(),
        Labels::OnNew(&created),
    )
    .await?;
    replace_outdated(op, &clients, spec, &mut nodes, &mut warnings).await?;
    scale_down(op, &clients, spec, &mut nodes).await?;
    if mode == Mode::Update {
        roll(op, &clients, spec, &nodes).await?;
        if spec.size.is_autoscaled() {
            // The autoscaler may have added or removed nodes during the roll.
            nodes = list_nodes(op, spec).await?;
        }
        wait_ready(
            op,
            &clients,
            spec,
            &nodes.iter().collect::<Vec<_>>(),
            Labels::OnAll,
        )
        .await?;
    }
    remove_empty_groups(op, spec).await?;
    // The autoscaler's servers stay deletable: it removes them when they are unneeded.
    let servers: Vec<(Protectable, bool)> = nodes
        .iter()
        .filter(|n| n.index > 0)
        .map(|n| (Protectable::Server(n.server.id), n.server.protection.delete))
        .collect();
    op.hcloud
        .set_delete_protection(&servers, spec.delete_protection)
        .await
        .map_err(|e| {
            failed(
                "Cannot set Hetzner's delete protection of the pool's servers",
                &e,
            )
        })?;
    let talos_versions = if nodes.is_empty() {
        BTreeMap::new()
    } else {
        let all: Vec<&PoolNode> = nodes.iter().collect();
        let addresses = addresses(&all, spec.cluster.network_id)?;
        let versions = gates::wait_talos_api(
            op,
            &clients,
            &addresses,
            "The pool's Talos API stopped answering",
        )
        .await?;
        addresses
            .into_iter()
            .map(|a| a.name)
            .zip(versions)
            .collect()
    };
    Ok(Converged {
        nodes,
        talos_versions,
        warnings,
    })
}

/// Step 1: the cluster firewall applies to every server of the cluster (clusters made before
/// pools existed applied it to control planes only). Returns the actions to settle with the
/// servers'.
async fn cover_with_firewall(op: &Operation, spec: &PoolSpec) -> Result<Vec<Action>, Diagnostics> {
    op.hcloud
        .apply_firewall(
            spec.cluster.firewall_id,
            &[FirewallTarget::selector(&Selector::cluster(
                &spec.cluster.name,
            ))],
        )
        .await
        .map_err(|e| {
            failed(
                "Cannot apply the cluster firewall to the pool's servers",
                &e,
            )
        })
}

/// The placement group a new server in `location` joins: an existing group (by id) or one
/// created now (by name, with the pool's labels).
async fn resolve_groups(
    op: &Operation,
    spec: &PoolSpec,
    choices: &[(String, GroupChoice)],
) -> Result<Vec<i64>, Diagnostics> {
    let mut made: BTreeMap<String, i64> = BTreeMap::new();
    let mut out = Vec::new();
    for (location, choice) in choices {
        let id = match choice {
            GroupChoice::Existing(id) => *id,
            GroupChoice::New(name) => {
                if let Some(id) = made.get(name) {
                    *id
                } else {
                    let mut labels = pool_labels(&spec.cluster.name, &spec.name);
                    labels.insert(LOCATION_LABEL.to_owned(), location.clone());
                    let group = op
                        .hcloud
                        .create_placement_group(name, &labels)
                        .await
                        .map_err(|e| failed(format!("Cannot create placement group {name}"), &e))?;
                    made.insert(name.clone(), group.value.id);
                    group.value.id
                }
            }
        };
        out.push(id);
    }
    Ok(out)
}

async fn pool_groups(op: &Operation, spec: &PoolSpec) -> Result<Vec<PlacementGroup>, Diagnostics> {
    op.hcloud
        .list_placement_groups(&pool_selector(&spec.cluster.name, &spec.name))
        .await
        .map_err(|e| failed("Cannot list the pool's placement groups", &e))
}

/// Step 2 (and the surge of step 4): `count` new servers, plus the servers in `power_on`, in
/// one batch settled together with `alongside`. Returns the names created.
async fn add_nodes(
    op: &Operation,
    spec: &PoolSpec,
    nodes: &[PoolNode],
    count: usize,
    power_on: Vec<Server>,
    alongside: Vec<Action>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Vec<String>, Diagnostics> {
    let wanted = wanted(spec);
    let mut new = Vec::new();
    let mut image = None;
    if count > 0 {
        let indices = members::free_indices(nodes, count);
        let locations = members::next_locations(&wanted, nodes, &[], count);
        let groups = pool_groups(op, spec).await?;
        let choices = members::assign_groups(&spec.cluster.name, &spec.name, &groups, &locations);
        let resolved = resolve_groups(
            op,
            spec,
            &locations.iter().cloned().zip(choices).collect::<Vec<_>>(),
        )
        .await?;
        image = Some(
            images::find_snapshot(
                op,
                &spec.cluster.image,
                &spec.cluster.talos_version,
                spec.architecture,
                &spec.cluster.location,
            )
            .await
            .map_err(|e| {
                failed(
                    format!(
                        "No Talos image to boot the pool's {} servers from",
                        spec.architecture
                    ),
                    &e,
                )
            })?,
        );
        for ((index, location), group) in indices.into_iter().zip(locations).zip(resolved) {
            let name = pool_server_name(&spec.cluster.name, &spec.name, index);
            let config = machine::worker_config(spec, &name)
                .map_err(|e| failed("Cannot build a machine configuration", &e))?;
            let mut labels = pool_labels(&spec.cluster.name, &spec.name);
            labels.insert(
                DISK_ENCRYPTION_LABEL.to_owned(),
                disk_encryption_label(spec.cluster.disk_encryption).to_owned(),
            );
            if let Some(schematic) = spec.cluster.image.server_schematic() {
                labels.insert(
                    crate::hcloud::labels::SCHEMATIC.to_owned(),
                    crate::hcloud::labels::schematic_value(schematic),
                );
            }
            // Other locations are tried in order when Hetzner has no capacity in this one; the
            // server then joins a group of that location with room, if the pool has one.
            let fallback_group = |l: &str| {
                groups
                    .iter()
                    .find(|g| {
                        g.labels.get(LOCATION_LABEL).map(String::as_str) == Some(l)
                            && g.servers.len()
                                < crate::hcloud::placement_groups::MAX_SERVERS_PER_GROUP
                    })
                    .map(|g| g.id)
            };
            let placements = std::iter::once(Placement {
                location: location.clone(),
                placement_group: Some(group),
            })
            .chain(
                spec.locations
                    .iter()
                    .filter(|l| **l != location)
                    .map(|l| Placement {
                        location: l.clone(),
                        placement_group: fallback_group(l),
                    }),
            )
            .collect();
            new.push(NewServer {
                name,
                server_type: spec.server_type.clone(),
                labels,
                config,
                placements,
            });
        }
    }
    let done = servers::provision(
        op,
        Batch {
            what: "the pool's servers",
            kind: "a pool server",
            network: spec.cluster.network_id,
            image,
            power_on,
            alongside,
            locations_attribute: locations_attribute(),
        },
        new,
        warnings,
    )
    .await?;
    if let Some(failed_action) = done.alongside.failed.first() {
        return Err(failure(
            "Applying the cluster firewall to the pool's servers failed",
            format!("{failed_action:?}; run `terraform apply` again to retry"),
        ));
    }
    Ok(done.created.iter().map(|s| s.name.clone()).collect())
}

/// Which nodes must already show the pool's labels and taints.
#[derive(Debug, Clone, Copy)]
enum Labels<'a> {
    /// Those named (the ones this apply created).
    OnNew(&'a [String]),
    /// Every node (after the configuration was applied to all).
    OnAll,
}

/// Step 3: Talos API of every node, then each Kubernetes node Ready (with the pool's labels and
/// taints where `labels` says so).
async fn wait_ready(
    op: &Operation,
    clients: &Clients,
    spec: &PoolSpec,
    nodes: &[&PoolNode],
    labels: Labels<'_>,
) -> Result<(), Diagnostics> {
    let nodes: Vec<&PoolNode> = nodes.iter().copied().filter(|n| !n.is_leaving()).collect();
    if nodes.is_empty() {
        return Ok(());
    }
    let addresses = addresses(&nodes, spec.cluster.network_id)?;
    gates::wait_talos_api(
        op,
        clients,
        &addresses,
        "The pool's Talos API did not come up",
    )
    .await?;
    let names: Vec<String> = nodes.iter().map(|n| n.name().to_owned()).collect();
    let ready = gates::nodes_become_ready(spec.cluster.cni);
    let initialised = ready && gates::cloud_controller_installed(op, clients).await;
    let condition = |node: &crate::kube::NodeInfo| {
        if let Labels::OnNew(new) = labels
            && !new.contains(&node.name)
        {
            return None;
        }
        if initialised && let Some(missing) = gates::uninitialised(node) {
            return Some(missing);
        }
        let missing_labels: Vec<String> = spec
            .labels
            .iter()
            .filter(|(k, v)| node.labels.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let missing_taints: Vec<&String> = spec
            .taint_texts
            .iter()
            .filter(|t| !node.taints.contains(t))
            .collect();
        if missing_labels.is_empty() && missing_taints.is_empty() {
            None
        } else {
            Some(format!(
                "labels missing: [{}], taints missing: [{}]",
                missing_labels.join(", "),
                missing_taints
                    .iter()
                    .map(|t| t.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    };
    let state = "registered with the pool's labels and taints";
    if ready {
        clients
            .kube
            .wait_nodes(
                &names,
                "Ready with the pool's labels and taints",
                &op.deadline,
                condition,
            )
            .await
    } else {
        clients
            .kube
            .wait_nodes_registered(&names, state, &op.deadline, condition)
            .await
    }
    .map(drop)
    .map_err(|e| failed("The pool's Kubernetes nodes did not become Ready", &e))
}

fn drain(spec: &PoolSpec) -> Drain {
    Drain::Evict(DrainOptions {
        timeout: spec.drain_timeout,
        grace_period: None,
        // Nodes leave for good: pods' emptyDir data goes with them, as the cluster-autoscaler
        // does it; a refusal here would block every scale-down of such workloads.
        delete_emptydir_data: true,
        ignore_daemonsets: true,
    })
}

/// Removes `leaving` (at most `max_unavailable` nodes) concurrently.
async fn remove_nodes(
    op: &Operation,
    clients: &Clients,
    spec: &PoolSpec,
    leaving: &[PoolNode],
    how: &Drain,
) -> Result<(), Diagnostics> {
    let results = futures::future::join_all(leaving.iter().map(|node| {
        let address = address(node, spec.cluster.network_id);
        async move {
            tracing::info!(node = node.name(), "pool node leaving");
            removal::remove_worker(op, clients, &node.server, address.as_ref(), how).await
        }
    }))
    .await;
    let mut errors = Diagnostics::new();
    for result in results {
        if let Err(e) = result {
            errors.extend(e);
        }
    }
    if errors.has_error() {
        Err(errors)
    } else {
        Ok(())
    }
}

/// Step 4: outdated nodes are replaced `max_unavailable` at a time, surge first.
async fn replace_outdated(
    op: &Operation,
    clients: &Clients,
    spec: &PoolSpec,
    nodes: &mut Vec<PoolNode>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<(), Diagnostics> {
    let wanted = wanted(spec);
    loop {
        let outdated: Vec<PoolNode> = nodes
            .iter()
            .filter(|n| !n.is_current(&wanted) && !n.is_leaving())
            .take(spec.max_unavailable as usize)
            .cloned()
            .collect();
        if outdated.is_empty() {
            return Ok(());
        }
        let current = nodes.iter().filter(|n| n.is_current(&wanted)).count();
        // Only surge up to the configured size: a pool also shrinking needs fewer new nodes. An
        // autoscaled pool does not surge: the autoscaler brings new nodes when pods need them.
        let surge = outdated.len().min(spec.size.missing(current));
        tracing::info!(
            old = %outdated.iter().map(PoolNode::name).collect::<Vec<_>>().join(", "),
            surge,
            "replacing pool nodes"
        );
        if surge > 0 {
            let created =
                add_nodes(op, spec, nodes, surge, Vec::new(), Vec::new(), warnings).await?;
            *nodes = list_nodes(op, spec).await?;
            let new: Vec<&PoolNode> = nodes
                .iter()
                .filter(|n| created.iter().any(|c| c == n.name()))
                .collect();
            wait_ready(op, clients, spec, &new, Labels::OnAll).await?;
        }
        remove_nodes(op, clients, spec, &outdated, &drain(spec)).await?;
        *nodes = list_nodes(op, spec).await?;
    }
}

/// The pool's servers, after finishing the removal of those an interrupted apply left reset and
/// off ([`PoolNode::is_half_removed`]): their Kubernetes nodes and servers are deleted, and the
/// configuration's node count is made up with new servers, never by powering them on.
async fn finish_half_removed(
    op: &Operation,
    clients: &Clients,
    spec: &PoolSpec,
) -> Result<Vec<PoolNode>, Diagnostics> {
    let nodes = list_nodes(op, spec).await?;
    let half_removed: Vec<&PoolNode> = nodes.iter().filter(|n| n.is_half_removed()).collect();
    if half_removed.is_empty() {
        return Ok(nodes);
    }
    for node in half_removed {
        tracing::info!(
            node = node.name(),
            "an earlier apply reset this node and was interrupted before deleting it: finishing its removal"
        );
        removal::forget(op, clients, &node.server).await?;
    }
    list_nodes(op, spec).await
}

/// Step 5: extra nodes leave, `max_unavailable` at a time; a node an interrupted apply started
/// removing that the configuration keeps is uncordoned and stays.
async fn scale_down(
    op: &Operation,
    clients: &Clients,
    spec: &PoolSpec,
    nodes: &mut Vec<PoolNode>,
) -> Result<(), Diagnostics> {
    let wanted = wanted(spec);
    loop {
        let leaving: Vec<PoolNode> = members::to_remove(&wanted, nodes, spec.size.most())
            .into_iter()
            .take(spec.max_unavailable as usize)
            .cloned()
            .collect();
        if leaving.is_empty() {
            break;
        }
        remove_nodes(op, clients, spec, &leaving, &drain(spec)).await?;
        *nodes = list_nodes(op, spec).await?;
    }
    for node in nodes.iter_mut().filter(|n| n.is_leaving()) {
        tracing::info!(
            node = node.name(),
            "a node an earlier apply started removing stays: uncordoned"
        );
        uncordon(op, clients, node.name()).await?;
        node.server = op
            .hcloud
            .set_server_label(&node.server, LEAVING_LABEL, None)
            .await
            .map_err(|e| failed(format!("Cannot label server {}", node.name()), &e))?;
    }
    Ok(())
}

/// Step 6: each node to the cluster's Talos version (drained first, uncordoned after), the
/// pool's machine configuration (live when Talos can, else with a reboot), and the cluster's
/// Kubernetes version; `max_unavailable` nodes at a time, each gated on readiness. Every step
/// checks what the node runs first, so a rerun skips nodes already done.
async fn roll(
    op: &Operation,
    clients: &Clients,
    spec: &PoolSpec,
    nodes: &[PoolNode],
) -> Result<(), Diagnostics> {
    let image = images::installer(
        &spec.cluster.image,
        &op.factory,
        &spec.cluster.talos_version,
    );
    let current = already_current(clients, spec, nodes).await;
    let nodes: Vec<PoolNode> = nodes
        .iter()
        .filter(|n| !current.contains(n.name()))
        .cloned()
        .collect();
    if !current.is_empty() {
        tracing::info!(
            current = current.len(),
            to_roll = nodes.len(),
            "pool nodes that already run the target Talos, configuration and kubelet are left out of the roll"
        );
    }
    let total = nodes.len();
    for (round, chunk) in nodes.chunks(spec.max_unavailable as usize).enumerate() {
        let done = round * spec.max_unavailable as usize;
        // The autoscaler removes nodes it no longer needs, also while a roll runs.
        let present = if spec.size.is_autoscaled() {
            list_nodes(op, spec).await?
        } else {
            nodes.to_vec()
        };
        let chunk: Vec<&PoolNode> = chunk
            .iter()
            .filter(|n| present.iter().any(|p| p.server.id == n.server.id))
            .collect();
        let results = futures::future::join_all(
            chunk
                .iter()
                .map(|node| roll_node(op, clients, spec, node, &image)),
        )
        .await;
        for (node, result) in chunk.iter().zip(results) {
            result.map_err(|e| {
                let mut out = Diagnostics::new();
                for d in e.iter() {
                    let mut d = d.clone();
                    if d.is_error() {
                        d.detail = format!(
                            "{} ({} of {total} pool nodes done before this round; node {})",
                            d.detail,
                            done,
                            node.name()
                        );
                    }
                    out.push(d);
                }
                out
            })?;
        }
    }
    Ok(())
}

/// Names of the nodes the roll has nothing to do for: they report the target Talos version, run
/// exactly the configuration the pool generates for them (the hash the refresh compares), and
/// their kubelet reports the target Kubernetes version, Ready and not left cordoned by an
/// interrupted roll. Read for all nodes at once (two Talos reads each, one node list), so that
/// a scale-up of a large pool does not walk every existing node one round at a time. A node
/// whose reads fail is not current: the roll checks it as before.
async fn already_current(
    clients: &Clients,
    spec: &PoolSpec,
    nodes: &[PoolNode],
) -> std::collections::BTreeSet<String> {
    let addresses: Vec<NodeAddress> = nodes
        .iter()
        .filter(|n| !n.server.labels.contains_key(UPGRADING))
        .filter_map(|n| address(n, spec.cluster.network_id))
        .collect();
    let names: Vec<&str> = addresses.iter().map(|a| a.name.as_str()).collect();
    let Ok(generated) = machine::config_hashes(spec, &names) else {
        return Default::default();
    };
    let Ok(kube_nodes) = clients.kube.list_nodes().await else {
        return Default::default();
    };
    let mut versions = BTreeMap::new();
    let mut hashes = BTreeMap::new();
    gates::read_running(clients, &addresses, &mut versions, &mut hashes).await;
    let talos = spec.cluster.talos_version.to_string();
    addresses
        .iter()
        .map(|a| a.name.as_str())
        .filter(|name| versions.get(*name) == Some(&talos))
        .filter(|name| {
            hashes
                .get(*name)
                .is_some_and(|h| generated.get(*name) == Some(h))
        })
        .filter(|name| {
            kube_nodes.iter().any(|k| {
                k.name == *name
                    && k.ready
                    && !k.annotations.contains_key(UPGRADING)
                    && k.kubelet_version
                        .parse::<crate::talos::version::KubernetesVersion>()
                        .ok()
                        .as_ref()
                        == Some(&spec.cluster.kubernetes_version)
            })
        })
        .map(str::to_owned)
        .collect()
}

async fn roll_node(
    op: &Operation,
    clients: &Clients,
    spec: &PoolSpec,
    node: &PoolNode,
    image: &str,
) -> Result<(), Diagnostics> {
    let Some(address) = address(node, spec.cluster.network_id) else {
        return Err(failure(
            "A pool server is not on the cluster network",
            format!("server {} has no private IP", node.name()),
        ));
    };
    let target = spec.cluster.talos_version.to_string();
    let running = clients
        .talos
        .node(address.ip)
        .with_deadline(op.deadline.check_deadline())
        .version()
        .await
        .map(|v| v.tag)
        .ok();
    let upgrade = running.as_deref() != Some(target.as_str());
    // A node an interrupted roll drained: marked on its Kubernetes node, or (by an earlier
    // build of this provider) with a label of its server.
    let legacy_mark = node.server.labels.contains_key(UPGRADING);
    let kube_node = retry_transient(
        &format!("read the Kubernetes node {}", node.name()),
        &op.deadline,
        || clients.kube.get_node(node.name()),
    )
    .await
    .map_err(|e| {
        failed(
            format!("Cannot read the Kubernetes node {}", node.name()),
            &e,
        )
    })?;
    let mut marked = legacy_mark
        || kube_node
            .as_ref()
            .is_some_and(|k| k.annotations.contains_key(UPGRADING));
    // A node already cordoned that no roll marked was cordoned by hand: drained for the
    // upgrade all the same, but left cordoned afterwards.
    let cordoned_by_hand = !marked && kube_node.as_ref().is_some_and(|k| k.unschedulable);
    if upgrade && !marked && !cordoned_by_hand {
        let annotated = retry_transient(
            &format!("annotate the Kubernetes node {}", node.name()),
            &op.deadline,
            || {
                clients
                    .kube
                    .annotate_node(node.name(), UPGRADING, Some("true"))
            },
        )
        .await;
        match annotated {
            Ok(_) => marked = true,
            // Not registered: nothing to drain, nothing to uncordon later.
            Err(e) if e.is_not_found() => {}
            Err(e) => {
                return Err(failed(
                    format!("Cannot annotate the Kubernetes node {}", node.name()),
                    &e,
                ));
            }
        }
    }
    if upgrade {
        tracing::info!(node = node.name(), from = ?running, to = %target, "upgrading a pool node's Talos");
        if let Drain::Evict(options) = drain(spec) {
            clients
                .kube
                .drain(node.name(), &options, &op.deadline)
                .await
                .map_err(|e| {
                    failed(
                        format!(
                            "Draining node {} before its Talos upgrade did not finish",
                            node.name()
                        ),
                        &e,
                    )
                })?;
        }
        let report = ops::upgrade_node(
            &clients.talos,
            address.ip,
            &spec.cluster.talos_version,
            image,
            None,
            &op.deadline,
        )
        .await
        .map_err(|e| failed(format!("The Talos upgrade of {} failed", node.name()), &e))?;
        tracing::info!(node = node.name(), ?report, "Talos version checked");
    }
    let config = machine::worker_yaml(spec, node.name())
        .map_err(|e| failed("Cannot build a machine configuration", &e))?;
    let applied = ops::apply_config(
        &clients.talos,
        address.ip,
        config.as_bytes(),
        RebootPolicy::Reboot,
        &op.deadline,
    )
    .await
    .map_err(|e| {
        failed(
            format!(
                "Applying the machine configuration to {} failed",
                node.name()
            ),
            &e,
        )
    })?;
    if applied.mode == ChangeMode::Rebooted {
        tracing::info!(node = node.name(), "configuration applied with a reboot");
    }
    ops::upgrade_kubernetes_node(
        &clients.talos,
        address.ip,
        node.name(),
        config.as_bytes(),
        &spec.cluster.kubernetes_version,
        &Kubelets(&clients.kube),
        &op.deadline,
    )
    .await
    .map_err(|e| {
        failed(
            format!("The Kubernetes upgrade of {} failed", node.name()),
            &e,
        )
    })?;
    // Readiness only: the labels are checked for every node after the roll.
    wait_ready(op, clients, spec, &[node], Labels::OnNew(&[])).await?;
    // Only a node a roll drained is uncordoned: one cordoned by hand stays so.
    if marked {
        uncordon(op, clients, node.name()).await?;
        retry_transient(
            &format!("annotate the Kubernetes node {}", node.name()),
            &op.deadline,
            || clients.kube.annotate_node(node.name(), UPGRADING, None),
        )
        .await
        .map_err(|e| {
            failed(
                format!("Cannot annotate the Kubernetes node {}", node.name()),
                &e,
            )
        })?;
        if legacy_mark {
            op.hcloud
                .set_server_label(&node.server, UPGRADING, None)
                .await
                .map_err(|e| failed(format!("Cannot label server {}", node.name()), &e))?;
        }
    }
    Ok(())
}

/// Step 7: placement groups of the pool with no server left go (an autoscaled pool keeps the
/// one its node group names).
async fn remove_empty_groups(op: &Operation, spec: &PoolSpec) -> Result<(), Diagnostics> {
    let kept = spec.size.is_autoscaled().then(|| {
        members::placement_group_name(
            &spec.cluster.name,
            &spec.name,
            spec.locations.first().map_or("", String::as_str),
            1,
        )
    });
    for group in pool_groups(op, spec).await? {
        if group.servers.is_empty() && kept.as_ref() != Some(&group.name) {
            op.hcloud
                .delete_placement_group(group.id)
                .await
                .map_err(|e| {
                    failed(
                        format!("Cannot delete the empty placement group {}", group.name),
                        &e,
                    )
                })?;
        }
    }
    Ok(())
}

/// Uncordons `name`, repeated through transient API failures within the operation's deadline.
async fn uncordon(op: &Operation, clients: &Clients, name: &str) -> Result<(), Diagnostics> {
    retry_transient(&format!("uncordon node {name}"), &op.deadline, || {
        clients.kube.uncordon(name)
    })
    .await
    .map(|_| ())
    .map_err(|e| failed(format!("Cannot uncordon node {name}"), &e))
}
