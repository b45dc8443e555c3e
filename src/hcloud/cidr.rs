//! Address plan of a cluster: the Hetzner private network, the node subnet inside it, and the
//! Kubernetes pod and service ranges.
//!
//! Rules (all IPv4; hk8s runs the private network and the cluster single-stack IPv4):
//! - every range is written in canonical form (`10.0.0.0/16`, not `10.0.0.1/16`);
//! - the network is RFC 1918 private space (a Hetzner requirement) and `/8`–`/24` (Hetzner's
//!   smallest network is `/24`);
//! - the node subnet lies inside the network and holds at least 16 addresses (`/28` or wider);
//! - the pod range is `/24` or wider: the controller manager hands every node a `/24` from it;
//! - the service range is `/12` (kube-apiserver's largest) to `/24`;
//! - pod, service and network ranges do not overlap each other, and pod and service ranges stay
//!   out of special-purpose space (loopback, link-local, multicast, `0.0.0.0/8`).
//!
//! Defaults ([`DEFAULT_NETWORK`] …) are `10.0.0.0/16`, `10.0.1.0/24`, `10.244.0.0/16` and
//! `10.96.0.0/12` (`10.96.0.0`–`10.111.255.255`): pairwise disjoint, checked by a test.

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// Default private network range.
pub const DEFAULT_NETWORK: &str = "10.0.0.0/16";
/// Default node subnet (inside [`DEFAULT_NETWORK`]).
pub const DEFAULT_NODE_SUBNET: &str = "10.0.1.0/24";
/// Default pod range (Talos's and flannel's default).
pub const DEFAULT_POD_CIDR: &str = "10.244.0.0/16";
/// Default service range (Kubernetes' and Talos's default).
pub const DEFAULT_SERVICE_CIDR: &str = "10.96.0.0/12";

/// Prefix length of the per-node pod range the controller manager allocates.
pub const NODE_POD_PREFIX: u8 = 24;

/// Which range of the address plan a value or error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The Hetzner private network (`network.cidr`).
    Network,
    /// The subnet nodes and the API load balancer take addresses from (`network.node_subnet`).
    NodeSubnet,
    /// Pod addresses (`network.pod_cidr`).
    Pods,
    /// Service cluster IPs (`network.service_cidr`).
    Services,
}

impl Role {
    /// Inclusive range of prefix lengths accepted for this role.
    pub fn prefix_bounds(self) -> (u8, u8) {
        match self {
            Self::Network => (8, 24),
            Self::NodeSubnet => (8, 28),
            Self::Pods => (8, NODE_POD_PREFIX),
            Self::Services => (12, 24),
        }
    }

    fn why_bounds(self) -> &'static str {
        match self {
            Self::Network => "Hetzner networks are /24 or larger, inside RFC 1918 space",
            Self::NodeSubnet => "the node subnet needs room for nodes and the load balancer",
            Self::Pods => "every node gets a /24 of pod addresses",
            Self::Services => {
                "kube-apiserver accepts at most a /12 and hk8s wants at least 256 service IPs"
            }
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Network => "network range",
            Self::NodeSubnet => "node subnet",
            Self::Pods => "pod range",
            Self::Services => "service range",
        })
    }
}

/// Why a range or the plan as a whole is refused. [`Error::role`] says which field to blame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not `a.b.c.d/len` at all.
    #[error("{role} {text:?} is not an IPv4 CIDR such as \"10.0.0.0/16\": {source}")]
    Syntax {
        /// Field concerned.
        role: Role,
        /// The text given.
        text: String,
        /// The parser's complaint.
        #[source]
        source: ipnet::AddrParseError,
    },
    /// An IPv6 range (or a bare address).
    #[error("{role} {text:?} must be an IPv4 CIDR such as \"10.0.0.0/16\" (IPv6 is not supported)")]
    NotIpv4 {
        /// Field concerned.
        role: Role,
        /// The text given.
        text: String,
    },
    /// Host bits set, e.g. `10.0.0.1/16`.
    #[error("{role} {text:?} has host bits set; write it as {canonical:?}")]
    NotCanonical {
        /// Field concerned.
        role: Role,
        /// The text given.
        text: String,
        /// The same range in canonical form.
        canonical: String,
    },
    /// Prefix length outside [`Role::prefix_bounds`].
    #[error("{role} {cidr} is a /{prefix}; accepted: /{min} to /{max} ({why})", prefix = cidr.prefix_len())]
    BadSize {
        /// Field concerned.
        role: Role,
        /// The range.
        cidr: Ipv4Net,
        /// Widest accepted prefix.
        min: u8,
        /// Narrowest accepted prefix.
        max: u8,
        /// Why the bounds are what they are.
        why: &'static str,
    },
    /// The network is not RFC 1918 private space.
    #[error(
        "{role} {cidr} is not private address space; Hetzner networks must be inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16"
    )]
    NotPrivate {
        /// Field concerned.
        role: Role,
        /// The range.
        cidr: Ipv4Net,
    },
    /// Pod or service range in loopback, link-local, multicast or `0.0.0.0/8` space.
    #[error(
        "{role} {cidr} overlaps special-purpose space {reserved}; use private space such as 10.0.0.0/8 or 172.16.0.0/12"
    )]
    SpecialPurpose {
        /// Field concerned.
        role: Role,
        /// The range.
        cidr: Ipv4Net,
        /// The special-purpose block it touches.
        reserved: Ipv4Net,
    },
    /// The node subnet is not inside the network.
    #[error(
        "node subnet {subnet} is not inside the network range {network}; pick a subnet of {network}"
    )]
    SubnetOutsideNetwork {
        /// The node subnet.
        subnet: Ipv4Net,
        /// The network.
        network: Ipv4Net,
    },
    /// Two ranges that must be disjoint overlap.
    #[error(
        "{role} {cidr} overlaps the {other_role} {other}; the network, pod and service ranges must not overlap"
    )]
    Overlap {
        /// Field blamed (the later one in network, pods, services order).
        role: Role,
        /// Its range.
        cidr: Ipv4Net,
        /// The range it collides with.
        other_role: Role,
        /// That range.
        other: Ipv4Net,
    },
    /// More nodes requested than the plan has room for.
    #[error(
        "{requested} nodes do not fit: the node subnet {subnet} and pod range {pods} leave room for {capacity} nodes; widen them"
    )]
    TooManyNodes {
        /// Nodes asked for.
        requested: u64,
        /// Room available.
        capacity: u64,
        /// The node subnet.
        subnet: Ipv4Net,
        /// The pod range.
        pods: Ipv4Net,
    },
}

impl Error {
    /// The field the error is about, for reporting at the narrowest attribute.
    pub fn role(&self) -> Role {
        match self {
            Self::Syntax { role, .. }
            | Self::NotIpv4 { role, .. }
            | Self::NotCanonical { role, .. }
            | Self::BadSize { role, .. }
            | Self::NotPrivate { role, .. }
            | Self::SpecialPurpose { role, .. }
            | Self::Overlap { role, .. } => *role,
            Self::SubnetOutsideNetwork { .. } | Self::TooManyNodes { .. } => Role::NodeSubnet,
        }
    }
}

const PRIVATE: [(Ipv4Addr, u8); 3] = [
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    (Ipv4Addr::new(192, 168, 0, 0), 16),
];

const SPECIAL_PURPOSE: [(Ipv4Addr, u8); 4] = [
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    (Ipv4Addr::new(224, 0, 0, 0), 3),
];

fn net(addr: Ipv4Addr, prefix: u8) -> Ipv4Net {
    // The constants above are valid prefixes; fall back to the host route defensively.
    Ipv4Net::new(addr, prefix).unwrap_or_else(|_| Ipv4Net::from(addr))
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Parses one range for `role` and checks everything that needs only that range: IPv4,
/// canonical form, size, and private or non-special space.
pub fn parse(role: Role, text: &str) -> Result<Ipv4Net, Error> {
    let parsed: ipnet::IpNet = text.parse().map_err(|source| {
        if text.contains(':') {
            Error::NotIpv4 {
                role,
                text: text.to_owned(),
            }
        } else {
            Error::Syntax {
                role,
                text: text.to_owned(),
                source,
            }
        }
    })?;
    let ipnet::IpNet::V4(cidr) = parsed else {
        return Err(Error::NotIpv4 {
            role,
            text: text.to_owned(),
        });
    };
    if cidr.addr() != cidr.network() {
        return Err(Error::NotCanonical {
            role,
            text: text.to_owned(),
            canonical: cidr.trunc().to_string(),
        });
    }
    let (min, max) = role.prefix_bounds();
    if !(min..=max).contains(&cidr.prefix_len()) {
        return Err(Error::BadSize {
            role,
            cidr,
            min,
            max,
            why: role.why_bounds(),
        });
    }
    match role {
        Role::Network | Role::NodeSubnet => {
            if !PRIVATE.iter().any(|&(a, p)| net(a, p).contains(&cidr)) {
                return Err(Error::NotPrivate { role, cidr });
            }
        }
        Role::Pods | Role::Services => {
            if let Some(&(a, p)) = SPECIAL_PURPOSE
                .iter()
                .find(|&&(a, p)| overlaps(&net(a, p), &cidr))
            {
                return Err(Error::SpecialPurpose {
                    role,
                    cidr,
                    reserved: net(a, p),
                });
            }
        }
    }
    Ok(cidr)
}

/// A cluster's address plan. A `None` range is not known yet (a value from another resource, or
/// an existing network whose range is read at apply time): checks involving it are skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AddressPlan {
    /// Private network range (`None` with `existing_network_id`).
    pub network: Option<Ipv4Net>,
    /// Node subnet.
    pub node_subnet: Option<Ipv4Net>,
    /// Pod range.
    pub pods: Option<Ipv4Net>,
    /// Service range.
    pub services: Option<Ipv4Net>,
}

impl AddressPlan {
    /// The default plan (see the module docs).
    pub fn defaults() -> Self {
        let parse_default = |role, text| parse(role, text).ok();
        Self {
            network: parse_default(Role::Network, DEFAULT_NETWORK),
            node_subnet: parse_default(Role::NodeSubnet, DEFAULT_NODE_SUBNET),
            pods: parse_default(Role::Pods, DEFAULT_POD_CIDR),
            services: parse_default(Role::Services, DEFAULT_SERVICE_CIDR),
        }
    }

    /// Cross-range checks: node subnet inside the network, network/pods/services disjoint.
    /// Returns every violation found (empty = consistent).
    pub fn check(&self) -> Vec<Error> {
        let mut errors = Vec::new();
        if let (Some(subnet), Some(network)) = (self.node_subnet, self.network)
            && !network.contains(&subnet)
        {
            errors.push(Error::SubnetOutsideNetwork { subnet, network });
        }
        // Without a known network range the node subnet stands in for it.
        let network = self
            .network
            .map(|n| (Role::Network, n))
            .or(self.node_subnet.map(|n| (Role::NodeSubnet, n)));
        let ordered = [
            network,
            self.pods.map(|p| (Role::Pods, p)),
            self.services.map(|s| (Role::Services, s)),
        ];
        for (i, later) in ordered.iter().enumerate() {
            for earlier in &ordered[..i] {
                if let (Some((role, cidr)), Some((other_role, other))) = (later, earlier)
                    && overlaps(cidr, other)
                {
                    errors.push(Error::Overlap {
                        role: *role,
                        cidr: *cidr,
                        other_role: *other_role,
                        other: *other,
                    });
                }
            }
        }
        errors
    }

    /// How many nodes the plan has room for, if the node subnet and pod range are known: the
    /// subnet's usable addresses (minus network, gateway and broadcast address and one for the
    /// API load balancer), capped by the number of per-node `/24` pod ranges.
    pub fn node_capacity(&self) -> Option<u64> {
        let subnet = self.node_subnet?;
        let pods = self.pods?;
        let subnet_hosts = (1u64 << (32 - u32::from(subnet.prefix_len()))).saturating_sub(4);
        let pod_blocks =
            1u64 << (u32::from(NODE_POD_PREFIX).saturating_sub(u32::from(pods.prefix_len())));
        Some(subnet_hosts.min(pod_blocks))
    }

    /// Refuses `requested` nodes when they cannot fit ([`Self::node_capacity`]).
    pub fn check_node_count(&self, requested: u64) -> Result<(), Error> {
        match (self.node_capacity(), self.node_subnet, self.pods) {
            (Some(capacity), Some(subnet), Some(pods)) if requested > capacity => {
                Err(Error::TooManyNodes {
                    requested,
                    capacity,
                    subnet,
                    pods,
                })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(role: Role, s: &str) -> Ipv4Net {
        parse(role, s).unwrap()
    }

    #[test]
    fn defaults_parse_and_do_not_overlap() {
        let plan = AddressPlan::defaults();
        assert!(plan.network.is_some() && plan.node_subnet.is_some());
        assert!(plan.pods.is_some() && plan.services.is_some());
        assert_eq!(plan.check(), vec![]);
        assert_eq!(plan.node_capacity(), Some(252));
    }

    #[test]
    fn syntax_ipv6_and_canonical_form() {
        assert!(matches!(
            parse(Role::Network, "10.0.0.0"),
            Err(Error::Syntax { .. })
        ));
        assert!(matches!(
            parse(Role::Network, "banana"),
            Err(Error::Syntax { .. })
        ));
        assert!(matches!(
            parse(Role::Pods, "fd00::/64"),
            Err(Error::NotIpv4 { .. })
        ));
        let err = parse(Role::Network, "10.0.0.1/16").unwrap_err();
        assert!(err.to_string().contains("\"10.0.0.0/16\""), "{err}");
    }

    #[test]
    fn sizes_per_role() {
        let err = parse(Role::Network, "10.0.0.0/25").unwrap_err().to_string();
        assert!(err.contains("/8 to /24"), "{err}");
        assert!(parse(Role::NodeSubnet, "10.0.1.0/29").is_err());
        assert!(parse(Role::NodeSubnet, "10.0.1.0/28").is_ok());
        assert!(parse(Role::Pods, "10.244.0.0/25").is_err());
        assert!(parse(Role::Services, "10.96.0.0/11").is_err());
        assert!(parse(Role::Services, "10.96.0.0/25").is_err());
        assert!(parse(Role::Services, "10.96.0.0/12").is_ok());
    }

    #[test]
    fn network_must_be_private_and_pods_not_special() {
        assert!(matches!(
            parse(Role::Network, "8.8.0.0/16"),
            Err(Error::NotPrivate { .. })
        ));
        assert!(matches!(
            parse(Role::Network, "172.32.0.0/16"),
            Err(Error::NotPrivate { .. })
        ));
        assert!(parse(Role::Network, "192.168.0.0/16").is_ok());
        assert!(matches!(
            parse(Role::Pods, "127.0.0.0/16"),
            Err(Error::SpecialPurpose { .. })
        ));
        assert!(matches!(
            parse(Role::Services, "169.254.0.0/16"),
            Err(Error::SpecialPurpose { .. })
        ));
        assert!(
            parse(Role::Pods, "100.64.0.0/16").is_ok(),
            "CGNAT space is a common pod range"
        );
    }

    #[test]
    fn subnet_outside_network() {
        let plan = AddressPlan {
            node_subnet: Some(p(Role::NodeSubnet, "10.1.0.0/24")),
            ..AddressPlan::defaults()
        };
        let errors = plan.check();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].role(), Role::NodeSubnet);
        assert!(
            errors[0]
                .to_string()
                .contains("not inside the network range 10.0.0.0/16")
        );
    }

    #[test]
    fn overlaps_blame_the_later_range() {
        let plan = AddressPlan {
            pods: Some(p(Role::Pods, "10.0.128.0/17")),
            ..AddressPlan::defaults()
        };
        let errors = plan.check();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].role(), Role::Pods);
        let plan = AddressPlan {
            services: Some(p(Role::Services, "10.244.0.0/16")),
            ..AddressPlan::defaults()
        };
        let errors = plan.check();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].role(), Role::Services);
        assert!(errors[0].to_string().contains("pod range 10.244.0.0/16"));
    }

    #[test]
    fn unknown_ranges_are_skipped() {
        let plan = AddressPlan {
            network: None,
            pods: None,
            ..AddressPlan::defaults()
        };
        assert_eq!(plan.check(), vec![]);
        assert_eq!(plan.node_capacity(), None);
        assert!(plan.check_node_count(10_000).is_ok());
        // Without a network range the node subnet still must not collide with services.
        let plan = AddressPlan {
            network: None,
            node_subnet: Some(p(Role::NodeSubnet, "10.96.0.0/24")),
            ..AddressPlan::defaults()
        };
        assert_eq!(plan.check()[0].role(), Role::Services);
    }

    #[test]
    fn node_capacity_limits_counts() {
        let plan = AddressPlan {
            node_subnet: Some(p(Role::NodeSubnet, "10.0.1.0/28")),
            ..AddressPlan::defaults()
        };
        assert_eq!(plan.node_capacity(), Some(12));
        assert!(plan.check_node_count(12).is_ok());
        let err = plan.check_node_count(13).unwrap_err().to_string();
        assert!(err.contains("room for 12 nodes"), "{err}");
        let plan = AddressPlan {
            pods: Some(p(Role::Pods, "10.244.0.0/22")),
            ..AddressPlan::defaults()
        };
        assert_eq!(plan.node_capacity(), Some(4));
    }
}
