//! Node IPAM as kube-controller-manager's range allocator does it: each Node gets one block of
//! the cluster's pod subnet (`/24` by default, `--node-cidr-mask-size`), kept for as long as its
//! Node object exists and released when it goes. Like the `cidrset` allocator, the search for a
//! free block starts after the last block handed out and wraps around, so a released block is
//! not handed out again at once. A cluster whose subnet is used up leaves new nodes without a
//! `podCIDR` (kube-controller-manager reports `CIDRNotAvailable`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// kube-controller-manager's default `--node-cidr-mask-size-ipv4`.
pub const DEFAULT_NODE_MASK: u8 = 24;
/// The pod subnet Talos configures when the machine config names none.
pub const DEFAULT_POD_SUBNET: &str = "10.244.0.0/16";

/// The blocks of one cluster.
#[derive(Debug, Clone, Default)]
pub struct PodCidrs {
    by_node: BTreeMap<String, Ipv4Net>,
    next: u64,
}

impl PodCidrs {
    /// The block of a node, if it has one.
    pub fn get(&self, node: &str) -> Option<Ipv4Net> {
        self.by_node.get(node).copied()
    }

    /// Releases the block of a node whose Node object is gone.
    pub fn release(&mut self, node: &str) {
        self.by_node.remove(node);
    }

    /// Releases the blocks of nodes not in `registered` and gives a block to each registered
    /// node without one, in the order given.
    pub fn sync(&mut self, subnet: Ipv4Net, mask: u8, registered: &[String]) {
        self.by_node.retain(|n, _| registered.contains(n));
        for node in registered {
            if self.by_node.contains_key(node) {
                continue;
            }
            if let Some(block) = self.allocate(subnet, mask) {
                self.by_node.insert(node.clone(), block);
            }
        }
    }

    fn allocate(&mut self, subnet: Ipv4Net, mask: u8) -> Option<Ipv4Net> {
        if mask < subnet.prefix_len() || mask > 32 {
            return None;
        }
        let count = 1u64 << (mask - subnet.prefix_len());
        let size = 1u64 << (32 - mask);
        let base = u64::from(u32::from(subnet.network()));
        for step in 0..count {
            let index = (self.next + step) % count;
            let start = u32::try_from(base + index * size).ok()?;
            let block = Ipv4Net::new(Ipv4Addr::from(start), mask).ok()?;
            if !self.by_node.values().any(|b| *b == block) {
                self.next = (index + 1) % count;
                return Some(block);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn blocks_are_distinct_stable_and_not_reused_at_once() {
        let subnet: Ipv4Net = "10.244.0.0/16".parse().unwrap();
        let mut cidrs = PodCidrs::default();
        cidrs.sync(subnet, 24, &names(&["a", "b"]));
        assert_eq!(cidrs.get("a"), Some("10.244.0.0/24".parse().unwrap()));
        assert_eq!(cidrs.get("b"), Some("10.244.1.0/24".parse().unwrap()));
        cidrs.sync(subnet, 24, &names(&["b", "a", "c"]));
        assert_eq!(cidrs.get("a"), Some("10.244.0.0/24".parse().unwrap()));
        assert_eq!(cidrs.get("c"), Some("10.244.2.0/24".parse().unwrap()));
        cidrs.sync(subnet, 24, &names(&["b", "c", "d"]));
        assert_eq!(cidrs.get("a"), None);
        assert_eq!(cidrs.get("d"), Some("10.244.3.0/24".parse().unwrap()));
    }

    #[test]
    fn a_full_subnet_leaves_nodes_without_a_block_and_wraps_around() {
        let subnet: Ipv4Net = "10.244.0.0/23".parse().unwrap();
        let mut cidrs = PodCidrs::default();
        cidrs.sync(subnet, 24, &names(&["a", "b", "c"]));
        assert_eq!(cidrs.get("c"), None);
        cidrs.sync(subnet, 24, &names(&["b", "c"]));
        assert_eq!(cidrs.get("c"), Some("10.244.0.0/24".parse().unwrap()));
    }
}
