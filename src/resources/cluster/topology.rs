//! Which control-plane servers exist, which should, and where new ones go.
//!
//! Servers are named `<cluster>-cp-<n>`; the number is the node's identity (hostname, etcd member
//! and Kubernetes node name all follow the server name). New nodes take the smallest free numbers;
//! scale-down removes the highest numbers first. A node whose server type or location the
//! configuration no longer asks for is *outdated*: it is replaced by a new node (new number)
//! before it leaves, so etcd never loses a member it needs. So is a node whose disk encryption
//! differs from `disk_encryption` (recorded in [`DISK_ENCRYPTION_LABEL`] when the server is made):
//! Talos formats STATE and EPHEMERAL once and cannot re-encrypt them in place.

use std::collections::BTreeMap;

use crate::hcloud::names::control_plane_server_name;
use crate::hcloud::servers::{Server, ServerStatus};

use super::spec::ClusterSpec;

/// Label recording how the server's STATE and EPHEMERAL partitions are encrypted: `luks2`
/// (node-ID keys) or `none`. Set when the server is created, from the configuration in its user
/// data; servers made before the label existed carry none and were not encrypted.
pub const DISK_ENCRYPTION_LABEL: &str = "hk8s.io/disk-encryption";

/// The [`DISK_ENCRYPTION_LABEL`] value for a `disk_encryption` setting.
pub fn disk_encryption_label(encrypted: bool) -> &'static str {
    if encrypted { "luks2" } else { "none" }
}

/// A control-plane server with its number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The `n` in `<cluster>-cp-<n>`.
    pub index: u32,
    /// The server.
    pub server: Server,
}

impl Member {
    /// Server name = hostname = Kubernetes node name.
    pub fn name(&self) -> &str {
        &self.server.name
    }

    /// Whether the configuration still wants this node as it is.
    pub fn is_current(&self, spec: &ClusterSpec) -> bool {
        self.server.server_type.name == spec.control_plane.server_type
            && spec
                .control_plane
                .locations
                .contains(&self.server.location.name)
            && self.disk_encrypted() == spec.disk_encryption
            && spec.image.is_current(&self.server.labels)
    }

    /// Whether the node's STATE and EPHEMERAL are encrypted, as its server's label records.
    pub fn disk_encrypted(&self) -> bool {
        self.server
            .labels
            .get(DISK_ENCRYPTION_LABEL)
            .is_some_and(|v| v == disk_encryption_label(true))
    }

    /// Whether an earlier apply started taking this node out (it carries the label that takes
    /// it out of the load balancer).
    pub fn is_leaving(&self) -> bool {
        self.server
            .labels
            .contains_key(crate::resources::fleet::removal::LEAVING_LABEL)
    }

    /// Whether an earlier removal got as far as the node's graceful reset and was interrupted
    /// before deleting the server: it is labelled leaving and off (Talos powers a node off when
    /// its reset is done). Powering it on would let it join again from its user data; what is
    /// left is to finish the removal (its etcd member if still listed, its Kubernetes node, its
    /// server).
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

/// The number in a control-plane server name of `cluster`, if it is one.
pub fn index_of(cluster: &str, name: &str) -> Option<u32> {
    let rest = name.strip_prefix(cluster)?.strip_prefix("-cp-")?;
    let index: u32 = rest.parse().ok()?;
    (index > 0 && control_plane_server_name(cluster, index) == name).then_some(index)
}

/// The cluster's control-plane servers as members, by number; servers being deleted are left out.
pub fn members(cluster: &str, servers: Vec<Server>) -> Vec<Member> {
    let mut members: Vec<Member> = servers
        .into_iter()
        .filter(|s| s.status != ServerStatus::Deleting)
        .filter_map(|server| index_of(cluster, &server.name).map(|index| Member { index, server }))
        .collect();
    members.sort_by_key(|m| m.index);
    members
}

/// The smallest `n` numbers not used by `members`.
pub fn free_indices(members: &[Member], n: usize) -> Vec<u32> {
    (1..)
        .filter(|i| !members.iter().any(|m| m.index == *i))
        .take(n)
        .collect()
}

/// The location for the next new node: the configured location with the fewest current nodes
/// (earlier in the list on ties), so nodes spread evenly.
pub fn next_location(spec: &ClusterSpec, members: &[Member], planned: &[String]) -> String {
    let mut load: BTreeMap<&str, usize> = spec
        .control_plane
        .locations
        .iter()
        .map(|l| (l.as_str(), 0))
        .collect();
    for location in members
        .iter()
        .filter(|m| m.is_current(spec))
        .map(|m| m.server.location.name.as_str())
        .chain(planned.iter().map(String::as_str))
    {
        if let Some(count) = load.get_mut(location) {
            *count += 1;
        }
    }
    spec.control_plane
        .locations
        .iter()
        .min_by_key(|l| load.get(l.as_str()).copied().unwrap_or(0))
        .cloned()
        .unwrap_or_else(|| spec.location.clone())
}

/// The member to remove when there are too many: one an interrupted apply started removing
/// first, then an outdated one, else the highest number.
pub fn next_to_remove<'a>(spec: &ClusterSpec, members: &'a [Member]) -> Option<&'a Member> {
    members
        .iter()
        .rev()
        .find(|m| m.is_leaving())
        .or_else(|| members.iter().rev().find(|m| !m.is_current(spec)))
        .or_else(|| members.last())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_come_from_names() {
        assert_eq!(index_of("prod", "prod-cp-3"), Some(3));
        assert_eq!(index_of("prod", "prod-cp-03"), None);
        assert_eq!(index_of("prod", "prod-cp-0"), None);
        assert_eq!(index_of("prod", "prod-workers-1"), None);
        assert_eq!(index_of("prod", "prodx-cp-1"), None);
    }
}
