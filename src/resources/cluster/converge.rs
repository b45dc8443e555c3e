//! Brings the cluster to the desired state, from whatever exists: nothing (create), a half-made
//! cluster (a killed apply run again), or a cluster that drifted or whose configuration changed
//! (update). Every step is idempotent: objects are found by name and labels before they are made,
//! and each wait checks what is, not what the last run did.
//!
//! The steps, in order (DESIGN.md §2), each a function below:
//! 1. [`ensure_infra`]: network, firewall, placement groups, load balancer and snapshot lookup
//!    concurrently; the network's actions settle before servers attach to it;
//! 2. [`clear_foreign`]: servers left by a create whose secrets were never recorded go;
//! 3. [`create_missing`]: servers that are off are powered on, missing ones created together;
//!    one batched wait with the load balancer and firewall actions. A node an interrupted
//!    removal already reset (labelled leaving, off) is not powered on: its removal is finished
//!    once Talos answers (step 4);
//! 4. every node's Talos API through the load balancer; [`bootstrap_etcd`] on exactly one node,
//!    only when no etcd exists yet; etcd holding exactly the control-plane members; `/readyz`
//!    and every control-plane node Ready (the gates of [`fleet::gates`]);
//! 5. one node at a time, each gated on health: [`replace_outdated`] (new node first, then the
//!    old one leaves), [`scale_down`], then (updates) Talos upgrades and configuration changes.

use std::collections::BTreeMap;

use crate::hcloud::Action;
use crate::hcloud::labels::Role;
use crate::hcloud::names::control_plane_server_name;
use crate::hcloud::provision::Placement;
use crate::hcloud::servers::Server;
use crate::resources::fleet::gates::{self, NodeAddress};
use crate::resources::fleet::image::{self as images};
use crate::resources::fleet::removal;
use crate::resources::fleet::servers::{self, Batch, NewServer};
use crate::resources::fleet::{Clients, Operation, failed, failure};
use crate::talos::secrets::SecretsBundle;
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};

use super::infra::{self, Infra};
use super::machine;
use super::pki;
use super::spec::ClusterSpec;
use super::topology::{self, Member};

/// What the apply found and left.
#[derive(Debug, Clone)]
pub struct Converged {
    /// The objects around the servers.
    pub infra: Infra,
    /// The control-plane servers, by number.
    pub members: Vec<Member>,
    /// Talos version each node reported, by node name.
    pub talos_versions: BTreeMap<String, String>,
    /// What the user should know although the apply succeeded (a node in another location).
    pub warnings: Vec<Diagnostic>,
}

/// Whether this apply may bootstrap etcd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bootstrap {
    /// A create: bootstrap the lowest-numbered node if no etcd exists yet.
    Allowed,
    /// An update of a running cluster: never bootstrap (a second etcd cluster would split the
    /// control plane); a cluster without etcd is an error saying so.
    Forbidden,
}

/// The snapshot, looked up (or built) when a server must be created: an update of running
/// nodes needs none.
type Image = images::SnapshotSource;

fn lb_ip(infra: &Infra) -> Result<String, Diagnostics> {
    infra.public_ipv4().map(str::to_owned).ok_or_else(|| {
        failure(
            "The API load balancer has no public IPv4",
            format!(
                "load balancer {} has no public IPv4 address",
                infra.load_balancer.id
            ),
        )
    })
}

/// The address health gates use for a member: its private IP in the cluster network.
pub fn address(member: &Member, network: i64) -> Option<NodeAddress> {
    let ip = member.server.private_ip(network)?.parse().ok()?;
    Some(NodeAddress {
        name: member.name().to_owned(),
        ip,
    })
}

fn addresses(members: &[Member], network: i64) -> Result<Vec<NodeAddress>, Diagnostics> {
    members
        .iter()
        .map(|m| {
            address(m, network).ok_or_else(|| {
                failure(
                    "A control-plane server is not on the cluster network",
                    format!(
                        "server {} ({}) has no private IP in network {network}",
                        m.name(),
                        m.server.id
                    ),
                )
            })
        })
        .collect()
}

async fn list_members(op: &Operation, spec: &ClusterSpec) -> Result<Vec<Member>, Diagnostics> {
    let servers = op
        .hcloud
        .list_servers(&infra::control_plane_selector(&spec.name))
        .await
        .map_err(|e| failed("Cannot list the control-plane servers", &e))?;
    Ok(topology::members(&spec.name, servers))
}

/// The whole apply: see the module documentation.
///
/// # Errors
/// A diagnostic saying which step failed and what was pending; everything made so far stays and
/// the next apply continues from it.
pub async fn converge(
    op: &Operation,
    spec: &ClusterSpec,
    secrets: &SecretsBundle,
    bootstrap: Bootstrap,
) -> Result<(Converged, Clients), Diagnostics> {
    let mut warnings = Vec::new();
    let (mut infra, infra_actions, Images { image, others }) =
        ensure_infra(op, spec, bootstrap).await?;
    clear_foreign(op, spec, secrets, bootstrap).await?;
    let Provisioned {
        mut members,
        new_names,
        half_removed,
    } = create_missing(
        op,
        spec,
        secrets,
        &mut infra,
        &image,
        infra_actions,
        &mut warnings,
    )
    .await?;

    let clients = Clients::connect(secrets, &lb_ip(&infra)?, &spec.name, op.poll_interval).await?;
    let nodes = addresses(&members, infra.network.id)?;
    gates::wait_talos_api(
        op,
        &clients,
        &nodes,
        "The control plane's Talos API did not come up",
    )
    .await?;
    bootstrap_etcd(op, &clients, &members, &nodes, &new_names, bootstrap).await?;
    for leaving in &half_removed {
        remove_member(op, &clients, &members, leaving, &infra).await?;
    }
    gates::wait_etcd_members(op, &clients, &nodes).await?;
    gates::wait_kubernetes(op, &clients, &nodes, false).await?;
    warnings.extend(super::components::install(op, &clients, spec, &infra, &nodes).await?);

    warnings
        .extend(replace_outdated(op, &clients, spec, secrets, &infra, &image, &mut members).await?);
    scale_down(op, &clients, spec, &infra, &mut members).await?;
    if bootstrap == Bootstrap::Forbidden {
        super::roll::roll(op, &clients, spec, secrets, &infra, &members).await?;
    }
    for other in &others {
        other.id().await?;
    }
    mark_complete(op, &mut members).await?;
    let nodes = addresses(&members, infra.network.id)?;
    let versions = gates::wait_talos_api(
        op,
        &clients,
        &nodes,
        "The control plane's Talos API stopped answering",
    )
    .await?;
    let talos_versions = nodes.iter().map(|n| n.name.clone()).zip(versions).collect();
    Ok((
        Converged {
            infra,
            members,
            talos_versions,
            warnings,
        },
        clients,
    ))
}

/// Step 1: the objects around the servers and the snapshot, concurrently. Servers attach to the
/// network when they are created, so its actions settle here (failed ones retried); the load
/// balancer and firewall actions are returned to settle together with the servers'.
async fn ensure_infra(
    op: &Operation,
    spec: &ClusterSpec,
    bootstrap: Bootstrap,
) -> Result<(Infra, Vec<Action>, Images), Diagnostics> {
    let image = images::SnapshotSource::new(
        op,
        &spec.image,
        &spec.talos_version,
        spec.control_plane.architecture,
        &spec.location,
        "the control plane",
    );
    if bootstrap == Bootstrap::Allowed {
        // A create makes servers: the snapshot (perhaps a build of several minutes) comes
        // alongside the network and load balancer.
        image.prefetch();
    }
    let others = other_architectures(op, spec);
    let (mut infra, actions) = infra::ensure(&op.hcloud, spec)
        .await
        .map_err(infra_failed)?;
    let (network_actions, infra_actions): (Vec<Action>, Vec<Action>) = actions
        .into_iter()
        .partition(|a| !a.resources.is_empty() && a.resources.iter().all(|r| r.kind == "network"));
    infra::settle(
        &op.hcloud,
        spec,
        &mut infra,
        "the cluster network",
        network_actions,
    )
    .await
    .map_err(infra_failed)?;
    Ok((infra, infra_actions, Images { image, others }))
}

/// The snapshots of `image.architectures` besides the control plane's, started now (they are
/// for node pools of the cluster, and are awaited before the apply ends).
fn other_architectures(op: &Operation, spec: &ClusterSpec) -> Vec<images::SnapshotSource> {
    if spec.image.is_custom() {
        return Vec::new();
    }
    let mut others = spec.image.architectures.clone();
    others.sort();
    others.dedup();
    others
        .into_iter()
        .filter(|a| *a != spec.control_plane.architecture)
        .map(|architecture| {
            let source = images::SnapshotSource::new(
                op,
                &spec.image,
                &spec.talos_version,
                architecture,
                &spec.location,
                format!("{} node pools", architecture.kubernetes_name()),
            );
            source.prefetch();
            source
        })
        .collect()
}

/// The control plane's snapshot and those of `image.architectures`.
struct Images {
    image: Image,
    others: Vec<images::SnapshotSource>,
}

fn infra_failed(e: infra::InfraError) -> Diagnostics {
    failed(
        "Cannot set up the cluster network, firewall or load balancer",
        &e,
    )
}

/// Step 2: servers made with other secrets come from a create that Terraform never recorded:
/// they hold nothing yet and are deleted. During an update they would be a foreign control
/// plane, and a create over a running cluster of that name is refused.
async fn clear_foreign(
    op: &Operation,
    spec: &ClusterSpec,
    secrets: &SecretsBundle,
    bootstrap: Bootstrap,
) -> Result<(), Diagnostics> {
    let members = list_members(op, spec).await?;
    let ours = pki::fingerprint(secrets);
    let foreign: Vec<&Member> = members
        .iter()
        .filter(|m| m.server.labels.get(pki::PKI_LABEL) != Some(&ours))
        .collect();
    if foreign.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = foreign.iter().map(|m| m.name()).collect();
    let running: Vec<&str> = foreign
        .iter()
        .filter(|m| m.server.labels.contains_key(pki::COMPLETE_LABEL))
        .map(|m| m.name())
        .collect();
    if !running.is_empty() && bootstrap == Bootstrap::Allowed {
        return Err(failure(
            "A cluster with this name already runs",
            format!(
                "{} belong to a running cluster named {:?} whose secrets this configuration \
                 does not have. Import it (terraform import <address> {}) with its `secrets`, or \
                 choose another name.",
                running.join(", "),
                spec.name,
                spec.name
            ),
        ));
    }
    if bootstrap == Bootstrap::Forbidden {
        return Err(failure(
            "Control-plane servers with other Talos secrets",
            format!(
                "{} carry a {} label that does not match this cluster's secrets; the provider \
                 cannot manage them. Delete them or set `secrets` to the bundle they were made with.",
                names.join(", "),
                pki::PKI_LABEL
            ),
        ));
    }
    tracing::info!(servers = %names.join(", "), "replacing servers left by an earlier create whose secrets were never recorded");
    let servers: Vec<&Server> = foreign.iter().map(|m| &m.server).collect();
    op.hcloud
        .delete_protected_servers(&servers)
        .await
        .map_err(|e| failed("Cannot delete servers left by an earlier create", &e))
}

/// The configuration, labels and placements of new control-plane servers `new` (number,
/// preferred location): the preferred location first, then the other configured locations in
/// order after it, for when a location has no capacity.
fn new_servers(
    spec: &ClusterSpec,
    secrets: &SecretsBundle,
    infra: &Infra,
    new: &[(u32, String)],
) -> Result<Vec<NewServer>, Diagnostics> {
    let lb_ip = lb_ip(infra)?;
    new.iter()
        .map(|(index, location)| {
            let name = control_plane_server_name(&spec.name, *index);
            let config = machine::control_plane_config(spec, secrets, &lb_ip, &name)
                .map_err(|e| failed("Cannot build a machine configuration", &e))?;
            let mut labels = infra::role_labels(&spec.name, Role::ControlPlane);
            labels.insert(pki::PKI_LABEL.to_owned(), pki::fingerprint(secrets));
            labels.insert(
                topology::DISK_ENCRYPTION_LABEL.to_owned(),
                topology::disk_encryption_label(spec.disk_encryption).to_owned(),
            );
            if let Some(schematic) = spec.image.server_schematic() {
                labels.insert(
                    crate::hcloud::labels::SCHEMATIC.to_owned(),
                    crate::hcloud::labels::schematic_value(schematic),
                );
            }
            let locations = &spec.control_plane.locations;
            let first = locations.iter().position(|l| l == location).unwrap_or(0);
            let placements = std::iter::once(location)
                .chain(
                    locations
                        .iter()
                        .cycle()
                        .skip(first + 1)
                        .take(locations.len())
                        .filter(|l| *l != location),
                )
                .map(|l| Placement {
                    location: l.clone(),
                    placement_group: infra.placement_groups.get(l).map(|g| g.id),
                })
                .collect();
            Ok(NewServer {
                name,
                server_type: spec.control_plane.server_type.clone(),
                labels,
                config,
                placements,
            })
        })
        .collect()
}

/// The attribute naming where control-plane nodes may go.
fn locations_attribute() -> AttributePath {
    AttributePath::root("control_plane").attr("locations")
}

/// What [`create_missing`] found and made.
struct Provisioned {
    /// The members that stay in service, by number.
    members: Vec<Member>,
    /// Names of the servers this apply created.
    new_names: Vec<String>,
    /// Members an interrupted removal left reset and off ([`Member::is_half_removed`]): they are
    /// neither powered on nor counted, and their removal is finished once Talos answers.
    half_removed: Vec<Member>,
}

/// Splits the listed servers into the members in service and the half-removed ones.
fn in_service(listed: Vec<Member>) -> (Vec<Member>, Vec<Member>) {
    listed.into_iter().partition(|m| !m.is_half_removed())
}

/// Step 3: power on what is off, create what is missing (all at once), one wait together with
/// `pending` (the load balancer's and firewall's actions); failed server actions are retried
/// inside, failed load balancer and firewall actions after it. A half-removed node keeps its
/// number, so that no new node takes the name its etcd member may still hold.
async fn create_missing(
    op: &Operation,
    spec: &ClusterSpec,
    secrets: &SecretsBundle,
    infra: &mut Infra,
    image: &Image,
    pending: Vec<Action>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Provisioned, Diagnostics> {
    let listed = list_members(op, spec).await?;
    let numbered = listed.clone();
    let (mut members, half_removed) = in_service(listed);
    for member in &half_removed {
        tracing::info!(
            node = member.name(),
            "an earlier apply reset this node and was interrupted before deleting it: finishing its removal"
        );
    }
    let power_on: Vec<Server> = members
        .iter()
        .filter(|m| m.is_off())
        .map(|m| {
            tracing::info!(
                node = m.name(),
                "powering on a control-plane server that is off"
            );
            m.server.clone()
        })
        .collect();
    let missing = (spec.control_plane.count as usize).saturating_sub(members.len());
    let mut new = Vec::new();
    if missing > 0 {
        let mut planned_locations = Vec::new();
        let indices: Vec<(u32, String)> = topology::free_indices(&numbered, missing)
            .into_iter()
            .map(|index| {
                let location = topology::next_location(spec, &members, &planned_locations);
                planned_locations.push(location.clone());
                (index, location)
            })
            .collect();
        new = new_servers(spec, secrets, infra, &indices)?;
    }
    let any_servers = !new.is_empty() || !power_on.is_empty();
    let what = "the control-plane servers, firewall and load balancer";
    let image = if new.is_empty() {
        None
    } else {
        Some(image.id().await?)
    };
    let done = servers::provision(
        op,
        Batch {
            what,
            kind: "a control-plane server",
            network: infra.network.id,
            image,
            power_on,
            alongside: pending,
            locations_attribute: locations_attribute(),
        },
        new,
        warnings,
    )
    .await?;
    infra::retry_failed(&op.hcloud, spec, infra, what, done.alongside.failed)
        .await
        .map_err(infra_failed)?;
    let new_names: Vec<String> = done.created.iter().map(|s| s.name.clone()).collect();
    if any_servers {
        members = in_service(list_members(op, spec).await?).0;
    }
    Ok(Provisioned {
        members,
        new_names,
        half_removed,
    })
}

/// Step 4: etcd bootstrapped on exactly one node when none exists yet. An update never
/// bootstraps over nodes that existed before it (a second etcd cluster would split the control
/// plane), unless every node is new.
async fn bootstrap_etcd(
    op: &Operation,
    clients: &Clients,
    members: &[Member],
    nodes: &[NodeAddress],
    new_names: &[String],
    bootstrap: Bootstrap,
) -> Result<(), Diagnostics> {
    if gates::etcd_exists(op, clients, nodes).await {
        return Ok(());
    }
    let all_new = members.iter().all(|m| new_names.contains(&m.server.name));
    match bootstrap {
        Bootstrap::Allowed => {}
        Bootstrap::Forbidden if all_new => {
            tracing::warn!("no control-plane node survived: bootstrapping a new etcd cluster");
        }
        Bootstrap::Forbidden => {
            return Err(failure(
                "etcd has no quorum",
                format!(
                    "none of the control-plane nodes ({}) answers for etcd, and some of them \
                     existed before this apply, so the provider does not bootstrap a second etcd \
                     cluster over them. Restore the missing nodes or etcd from a snapshot.",
                    nodes
                        .iter()
                        .map(|n| n.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
    }
    let outcome = gates::bootstrap(op, clients, nodes).await?;
    tracing::info!(node = %outcome.node, outcome = ?outcome.outcome, "etcd bootstrap");
    Ok(())
}

/// Step 5a: each member whose server type, location or disk encryption the configuration no
/// longer wants is replaced, one at a time: the new node joins and the cluster is healthy before
/// the old one leaves. Returns warnings (a replacement placed in another location).
async fn replace_outdated(
    op: &Operation,
    clients: &Clients,
    spec: &ClusterSpec,
    secrets: &SecretsBundle,
    infra: &Infra,
    image: &Image,
    members: &mut Vec<Member>,
) -> Result<Vec<Diagnostic>, Diagnostics> {
    let mut warnings = Vec::new();
    while let Some(outdated) = members
        .iter()
        .find(|m| !m.is_current(spec) && !m.is_leaving())
        .cloned()
    {
        let location = topology::next_location(spec, members, &[]);
        let index = topology::free_indices(members, 1)
            .first()
            .copied()
            .unwrap_or(u32::MAX);
        tracing::info!(old = outdated.name(), new_index = index, %location, "replacing a control-plane node");
        servers::provision(
            op,
            Batch {
                what: "the replacement control-plane server",
                kind: "a control-plane server",
                network: infra.network.id,
                image: Some(image.id().await?),
                power_on: Vec::new(),
                alongside: Vec::new(),
                locations_attribute: locations_attribute(),
            },
            new_servers(spec, secrets, infra, &[(index, location)])?,
            &mut warnings,
        )
        .await?;
        *members = list_members(op, spec).await?;
        gate(op, clients, spec, members, infra).await?;
        remove_member(op, clients, members, &outdated, infra).await?;
        *members = list_members(op, spec).await?;
        gate(op, clients, spec, members, infra).await?;
    }
    Ok(warnings)
}

/// Step 5b: extra members leave one at a time (one an interrupted apply started removing
/// first, then outdated ones, then the highest numbers), each followed by the health gate. A
/// node an interrupted apply labelled as leaving but that the configuration keeps rejoins the
/// load balancer.
async fn scale_down(
    op: &Operation,
    clients: &Clients,
    spec: &ClusterSpec,
    infra: &Infra,
    members: &mut Vec<Member>,
) -> Result<(), Diagnostics> {
    while members.len() > spec.control_plane.count as usize {
        let Some(leaving) = topology::next_to_remove(spec, members).cloned() else {
            break;
        };
        remove_member(op, clients, members, &leaving, infra).await?;
        *members = list_members(op, spec).await?;
        gate(op, clients, spec, members, infra).await?;
    }
    for member in members.iter_mut().filter(|m| m.is_leaving()) {
        tracing::info!(
            node = member.name(),
            "a node an earlier apply started removing stays: it rejoins the load balancer"
        );
        member.server = op
            .hcloud
            .set_server_label(&member.server, removal::LEAVING_LABEL, None)
            .await
            .map_err(|e| failed(format!("Cannot label server {}", member.name()), &e))?;
    }
    Ok(())
}

/// Labels every member as part of a cluster an apply completed (see [`pki::COMPLETE_LABEL`]).
async fn mark_complete(op: &Operation, members: &mut [Member]) -> Result<(), Diagnostics> {
    for member in members.iter_mut() {
        member.server = op
            .hcloud
            .set_server_label(&member.server, pki::COMPLETE_LABEL, Some("true"))
            .await
            .map_err(|e| failed(format!("Cannot label server {}", member.name()), &e))?;
    }
    Ok(())
}

/// Health gate after a change: every node's Talos API, etcd membership, Kubernetes readiness.
///
/// # Errors
/// What was not healthy.
pub async fn gate(
    op: &Operation,
    clients: &Clients,
    spec: &ClusterSpec,
    members: &[Member],
    infra: &Infra,
) -> Result<(), Diagnostics> {
    let nodes = addresses(members, infra.network.id)?;
    gates::control_plane(op, clients, &nodes, gates::nodes_become_ready(spec.cni)).await
}

/// Takes one control-plane node out (see [`removal::remove_control_plane`]).
///
/// # Errors
/// When the removal would lose quorum or a step fails.
pub async fn remove_member(
    op: &Operation,
    clients: &Clients,
    members: &[Member],
    leaving: &Member,
    infra: &Infra,
) -> Result<(), Diagnostics> {
    let remaining: Vec<NodeAddress> = members
        .iter()
        .filter(|m| m.index != leaving.index)
        .filter_map(|m| address(m, infra.network.id))
        .collect();
    removal::remove_control_plane(
        op,
        clients,
        infra.load_balancer.id,
        &leaving.server,
        address(leaving, infra.network.id).as_ref(),
        &remaining,
    )
    .await
}
