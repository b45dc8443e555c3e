//! Which servers a pool has, which it should have, where new ones go and which placement group
//! takes them.
//!
//! Servers are named `<cluster>-<pool>-<n>`; the number is the node's identity (hostname and
//! Kubernetes node name follow the server name). New nodes take the smallest free numbers, so
//! names stay stable across scaling; scale-down removes the highest numbers first. A node whose
//! server type, location or disk encryption the configuration no longer asks for is *outdated*
//! and is replaced, surge first.
//!
//! An autoscaled pool is the cluster-autoscaler's node group `<cluster>-<pool>`
//! ([`node_group_name`]): it names its servers `<cluster>-<pool>-<hex>` and labels them
//! [`NODE_GROUP_LABEL`]; they carry the pool's labels too, so they are members with number 0.
//!
//! Placement groups are spread groups per pool and location, named
//! `<cluster>-<pool>-<location>-<k>`, each holding at most [`MAX_SERVERS_PER_GROUP`] servers
//! (Hetzner's limit): 11 nodes in one location need two groups.

use std::collections::BTreeMap;

use crate::hcloud::labels::{self, Labels, Role, Selector};
use crate::hcloud::names::pool_server_name;
use crate::hcloud::placement_groups::{MAX_SERVERS_PER_GROUP, PlacementGroup};
use crate::hcloud::servers::{Server, ServerStatus};
use crate::resources::fleet::removal::LEAVING_LABEL;

/// Label recording how the server's STATE and EPHEMERAL partitions are encrypted (`luks2` or
/// `none`), set when the server is created; the same label as control planes carry.
pub const DISK_ENCRYPTION_LABEL: &str = "hk8s.io/disk-encryption";
/// Label the cluster-autoscaler's Hetzner provider puts on the servers of a node group.
pub const NODE_GROUP_LABEL: &str = "hcloud/node-group";

/// The cluster-autoscaler node group of an autoscaled pool (unique in the project, as cluster
/// names are).
pub fn node_group_name(cluster: &str, pool: &str) -> String {
    format!("{cluster}-{pool}")
}

/// Label naming the location a placement group serves.
pub const LOCATION_LABEL: &str = "hk8s.io/location";

/// The [`DISK_ENCRYPTION_LABEL`] value.
pub fn disk_encryption_label(encrypted: bool) -> &'static str {
    if encrypted { "luks2" } else { "none" }
}

/// Labels of every Hetzner object of a pool (servers, placement groups).
pub fn pool_labels(cluster: &str, pool: &str) -> Labels {
    let mut out = Labels::new();
    out.insert(labels::CLUSTER.to_owned(), cluster.to_owned());
    out.insert(labels::ROLE.to_owned(), Role::Worker.as_str().to_owned());
    out.insert(labels::POOL.to_owned(), pool.to_owned());
    out
}

/// Selector of every Hetzner object of a pool.
pub fn pool_selector(cluster: &str, pool: &str) -> Selector {
    Selector::cluster(cluster)
        .role(Role::Worker)
        .with(labels::POOL, pool)
}

/// A pool server with its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolNode {
    /// The `n` in `<cluster>-<pool>-<n>`; 0 for a server the cluster-autoscaler made.
    pub index: u32,
    /// The server.
    pub server: Server,
}

/// What the pool should look like, as far as single nodes go.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    /// Server type.
    pub server_type: &'a str,
    /// Allowed locations, in order.
    pub locations: &'a [String],
    /// Disk encryption.
    pub disk_encryption: bool,
    /// The image (its schematic).
    pub image: &'a crate::resources::fleet::image::ImageSpec,
    /// Whether the autoscaler owns the pool: numbered servers (from before) are handed over.
    pub autoscaled: bool,
}

impl PoolNode {
    /// Server name = hostname = Kubernetes node name.
    pub fn name(&self) -> &str {
        &self.server.name
    }

    /// Whether the configuration still wants this node as it is.
    pub fn is_current(&self, wanted: &Wanted<'_>) -> bool {
        self.server.server_type.name == wanted.server_type
            && wanted.locations.contains(&self.server.location.name)
            && self.disk_encrypted() == wanted.disk_encryption
            && wanted.image.is_current(&self.server.labels)
            && !(wanted.autoscaled && self.index > 0)
    }

    /// Whether the node's partitions are encrypted, as its server's label records.
    pub fn disk_encrypted(&self) -> bool {
        self.server
            .labels
            .get(DISK_ENCRYPTION_LABEL)
            .is_some_and(|v| v == disk_encryption_label(true))
    }

    /// Whether an earlier apply started taking this node out.
    pub fn is_leaving(&self) -> bool {
        self.server.labels.contains_key(LEAVING_LABEL)
    }

    /// Whether an earlier removal got as far as the node's graceful reset and was interrupted
    /// before deleting the server: labelled leaving and off (Talos powers a node off when its
    /// reset is done). Powering it on would let it join again from its user data; what is left
    /// is to delete its Kubernetes node and its server.
    pub fn is_half_removed(&self) -> bool {
        self.is_leaving() && self.is_off()
    }

    /// Whether the server is off (or on its way) and must be powered on.
    pub fn is_off(&self) -> bool {
        matches!(
            self.server.status,
            ServerStatus::Off | ServerStatus::Stopping
        )
    }
}

/// The number in a server name of pool `pool` of `cluster`, if it is one.
pub fn index_of(cluster: &str, pool: &str, name: &str) -> Option<u32> {
    let rest = name
        .strip_prefix(cluster)?
        .strip_prefix('-')?
        .strip_prefix(pool)?
        .strip_prefix('-')?;
    let index: u32 = rest.parse().ok()?;
    (index > 0 && pool_server_name(cluster, pool, index) == name).then_some(index)
}

/// The pool's servers as nodes, by number, the autoscaler's after them by name; servers being
/// deleted are left out.
pub fn nodes(cluster: &str, pool: &str, servers: Vec<Server>) -> Vec<PoolNode> {
    let group = node_group_name(cluster, pool);
    let mut nodes: Vec<PoolNode> = servers
        .into_iter()
        .filter(|s| s.status != ServerStatus::Deleting)
        .filter_map(|server| {
            if server.labels.get(NODE_GROUP_LABEL) == Some(&group) {
                return Some(PoolNode { index: 0, server });
            }
            index_of(cluster, pool, &server.name).map(|index| PoolNode { index, server })
        })
        .collect();
    nodes.sort_by(|a, b| {
        (a.index == 0, a.index, &a.server.name).cmp(&(b.index == 0, b.index, &b.server.name))
    });
    nodes
}

/// The smallest `n` numbers not used by `nodes`.
pub fn free_indices(nodes: &[PoolNode], n: usize) -> Vec<u32> {
    (1..)
        .filter(|i| !nodes.iter().any(|m| m.index == *i))
        .take(n)
        .collect()
}

/// Locations for `n` new nodes: each goes where the fewest current nodes (and nodes planned
/// before it) are, earlier in `locations` on ties, so the pool spreads round robin.
pub fn next_locations(
    wanted: &Wanted<'_>,
    nodes: &[PoolNode],
    excluded: &[&str],
    n: usize,
) -> Vec<String> {
    let mut load: BTreeMap<&str, usize> =
        wanted.locations.iter().map(|l| (l.as_str(), 0)).collect();
    for node in nodes
        .iter()
        .filter(|m| m.is_current(wanted) && !excluded.contains(&m.name()))
    {
        if let Some(count) = load.get_mut(node.server.location.name.as_str()) {
            *count += 1;
        }
    }
    (0..n)
        .filter_map(|_| {
            let location = wanted
                .locations
                .iter()
                .min_by_key(|l| load.get(l.as_str()).copied().unwrap_or(0))?;
            *load.entry(location.as_str()).or_default() += 1;
            Some(location.clone())
        })
        .collect()
}

/// Which nodes leave when the pool is larger than `count`: ones an interrupted apply started
/// removing first, then outdated ones, then the highest numbers; in removal order.
pub fn to_remove<'a>(
    wanted: &Wanted<'_>,
    nodes: &'a [PoolNode],
    count: usize,
) -> Vec<&'a PoolNode> {
    let excess = nodes.len().saturating_sub(count);
    let mut order: Vec<&PoolNode> = nodes.iter().rev().filter(|n| n.is_leaving()).collect();
    order.extend(
        nodes
            .iter()
            .rev()
            .filter(|n| !n.is_leaving() && !n.is_current(wanted)),
    );
    order.extend(
        nodes
            .iter()
            .rev()
            .filter(|n| !n.is_leaving() && n.is_current(wanted)),
    );
    order.truncate(excess);
    order
}

/// Name of the `k`-th placement group of a pool in a location.
pub fn placement_group_name(cluster: &str, pool: &str, location: &str, k: u32) -> String {
    format!("{cluster}-{pool}-{location}-{k}")
}

/// The number `k` of a pool placement group, from its name.
pub fn group_number(cluster: &str, pool: &str, location: &str, name: &str) -> Option<u32> {
    let k: u32 = name
        .strip_prefix(&format!("{cluster}-{pool}-{location}-"))?
        .parse()
        .ok()?;
    (k > 0).then_some(k)
}

/// Where each new server goes: an existing group of its location with room (fewest members
/// first), else a group to create (by name). Groups count the servers assigned before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupChoice {
    /// An existing group.
    Existing(i64),
    /// A group to create, with this name.
    New(String),
}

/// Assigns each of `locations` (one per new server) a placement group of the pool.
pub fn assign_groups(
    cluster: &str,
    pool: &str,
    groups: &[PlacementGroup],
    locations: &[String],
) -> Vec<GroupChoice> {
    // (location, k) → (members, choice)
    let mut slots: BTreeMap<(String, u32), (usize, GroupChoice)> = BTreeMap::new();
    for group in groups {
        let Some(location) = group.labels.get(LOCATION_LABEL) else {
            continue;
        };
        if let Some(k) = group_number(cluster, pool, location, &group.name) {
            slots.insert(
                (location.clone(), k),
                (group.servers.len(), GroupChoice::Existing(group.id)),
            );
        }
    }
    locations
        .iter()
        .map(|location| {
            let best = slots
                .iter_mut()
                .filter(|((l, _), (members, _))| l == location && *members < MAX_SERVERS_PER_GROUP)
                .min_by_key(|((_, k), (members, _))| (*members, *k));
            if let Some((_, (members, choice))) = best {
                *members += 1;
                return choice.clone();
            }
            let k = (1..)
                .find(|k| !slots.contains_key(&(location.clone(), *k)))
                .unwrap_or(1);
            let choice = GroupChoice::New(placement_group_name(cluster, pool, location, k));
            slots.insert((location.clone(), k), (1, choice.clone()));
            choice
        })
        .collect()
}

#[cfg(test)]
mod tests;
