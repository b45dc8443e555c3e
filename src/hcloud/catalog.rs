//! The Hetzner Cloud catalog hk8s plans against: locations (and their network zones), server
//! types and load-balancer types.
//!
//! The catalog is static on purpose: `terraform validate` and `plan` must reject a typo before any
//! API call (and without a token), so the names and shapes users can pick are known here. Every
//! lookup error lists what is accepted.

use std::fmt;

/// A Hetzner network zone: the unit a private network subnet (and so a cluster's control plane)
/// lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetworkZone {
    /// `eu-central`: Falkenstein, Nuremberg, Helsinki.
    EuCentral,
    /// `us-east`: Ashburn, VA.
    UsEast,
    /// `us-west`: Hillsboro, OR.
    UsWest,
    /// `ap-southeast`: Singapore.
    ApSoutheast,
}

impl NetworkZone {
    /// The zone's name as the Hetzner API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EuCentral => "eu-central",
            Self::UsEast => "us-east",
            Self::UsWest => "us-west",
            Self::ApSoutheast => "ap-southeast",
        }
    }
}

impl fmt::Display for NetworkZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Hetzner location (a data-centre site).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// API name, e.g. `fsn1`.
    pub name: &'static str,
    /// Human name of the city.
    pub city: &'static str,
    /// Network zone the location belongs to.
    pub network_zone: NetworkZone,
}

/// Every location hk8s accepts.
pub const LOCATIONS: &[Location] = &[
    Location {
        name: "fsn1",
        city: "Falkenstein",
        network_zone: NetworkZone::EuCentral,
    },
    Location {
        name: "nbg1",
        city: "Nuremberg",
        network_zone: NetworkZone::EuCentral,
    },
    Location {
        name: "hel1",
        city: "Helsinki",
        network_zone: NetworkZone::EuCentral,
    },
    Location {
        name: "ash",
        city: "Ashburn, VA",
        network_zone: NetworkZone::UsEast,
    },
    Location {
        name: "hil",
        city: "Hillsboro, OR",
        network_zone: NetworkZone::UsWest,
    },
    Location {
        name: "sin",
        city: "Singapore",
        network_zone: NetworkZone::ApSoutheast,
    },
];

/// CPU architecture of a server type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Architecture {
    /// x86-64 (Hetzner `x86`, Talos/Kubernetes `amd64`).
    X86,
    /// 64-bit ARM (Hetzner `arm`, Talos/Kubernetes `arm64`).
    Arm,
}

impl Architecture {
    /// The name Hetzner's API uses (`x86`, `arm`).
    pub fn hcloud_name(self) -> &'static str {
        match self {
            Self::X86 => "x86",
            Self::Arm => "arm",
        }
    }

    /// The name Talos, container images and Kubernetes use (`amd64`, `arm64`).
    pub fn kubernetes_name(self) -> &'static str {
        match self {
            Self::X86 => "amd64",
            Self::Arm => "arm64",
        }
    }
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kubernetes_name())
    }
}

/// A family of server types sharing CPU kind and architecture (`cx`, `cpx`, `cax`, `ccx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerFamily {
    /// Name prefix shared by the family's types.
    pub prefix: &'static str,
    /// What the family is, for error messages.
    pub description: &'static str,
}

/// The server families hk8s knows, in the order they are listed to users.
pub const SERVER_FAMILIES: &[ServerFamily] = &[
    ServerFamily {
        prefix: "cx",
        description: "shared vCPU, Intel/AMD x86",
    },
    ServerFamily {
        prefix: "cpx",
        description: "shared vCPU, AMD x86",
    },
    ServerFamily {
        prefix: "cax",
        description: "shared vCPU, Ampere arm64",
    },
    ServerFamily {
        prefix: "ccx",
        description: "dedicated vCPU, AMD x86",
    },
];

/// A Hetzner server type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerType {
    /// API name, e.g. `cx23`.
    pub name: &'static str,
    /// Family prefix (one of [`SERVER_FAMILIES`]).
    pub family: &'static str,
    /// CPU architecture (decides the Talos image).
    pub architecture: Architecture,
    /// Number of vCPUs.
    pub cores: u32,
    /// Memory in GB.
    pub memory_gb: u32,
    /// Local disk in GB.
    pub disk_gb: u32,
}

const fn st(
    name: &'static str,
    family: &'static str,
    architecture: Architecture,
    cores: u32,
    memory_gb: u32,
    disk_gb: u32,
) -> ServerType {
    ServerType {
        name,
        family,
        architecture,
        cores,
        memory_gb,
        disk_gb,
    }
}

use Architecture::{Arm, X86};

/// Every server type hk8s accepts (Hetzner's current catalog).
pub const SERVER_TYPES: &[ServerType] = &[
    st("cx23", "cx", X86, 2, 4, 40),
    st("cx33", "cx", X86, 4, 8, 80),
    st("cx43", "cx", X86, 8, 16, 160),
    st("cx53", "cx", X86, 16, 32, 320),
    st("cpx11", "cpx", X86, 2, 2, 40),
    st("cpx21", "cpx", X86, 3, 4, 80),
    st("cpx31", "cpx", X86, 4, 8, 160),
    st("cpx41", "cpx", X86, 8, 16, 240),
    st("cpx51", "cpx", X86, 16, 32, 360),
    st("cax11", "cax", Arm, 2, 4, 40),
    st("cax21", "cax", Arm, 4, 8, 80),
    st("cax31", "cax", Arm, 8, 16, 160),
    st("cax41", "cax", Arm, 16, 32, 320),
    st("ccx13", "ccx", X86, 2, 8, 80),
    st("ccx23", "ccx", X86, 4, 16, 160),
    st("ccx33", "ccx", X86, 8, 32, 240),
    st("ccx43", "ccx", X86, 16, 64, 360),
    st("ccx53", "ccx", X86, 32, 128, 600),
    st("ccx63", "ccx", X86, 48, 192, 960),
];

/// A Hetzner load-balancer type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadBalancerType {
    /// API name, e.g. `lb11`.
    pub name: &'static str,
    /// Maximum number of services (listening ports).
    pub max_services: u32,
    /// Maximum number of targets.
    pub max_targets: u32,
    /// Maximum concurrent connections.
    pub max_connections: u32,
}

/// Every load-balancer type hk8s accepts.
pub const LOAD_BALANCER_TYPES: &[LoadBalancerType] = &[
    LoadBalancerType {
        name: "lb11",
        max_services: 5,
        max_targets: 25,
        max_connections: 10_000,
    },
    LoadBalancerType {
        name: "lb21",
        max_services: 15,
        max_targets: 75,
        max_connections: 20_000,
    },
    LoadBalancerType {
        name: "lb31",
        max_services: 30,
        max_targets: 150,
        max_connections: 40_000,
    },
];

/// The load-balancer type used when none is configured.
pub const DEFAULT_LOAD_BALANCER_TYPE: &str = "lb11";

/// Why a catalog lookup failed. Every message says what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The location name is not one of [`LOCATIONS`].
    #[error("unknown location {name:?}; accepted locations: {}", location_list())]
    UnknownLocation {
        /// The name given.
        name: String,
    },
    /// The name looks like a server type of a known family but that size does not exist (or
    /// no longer does, like the retired `cx22`).
    #[error(
        "unknown server type {name:?}: the {family} family ({family_description}) has {}",
        family_members(family)
    )]
    UnknownServerTypeInFamily {
        /// The name given.
        name: String,
        /// The family its prefix matches.
        family: &'static str,
        /// The family's description.
        family_description: &'static str,
    },
    /// The name matches no server family.
    #[error("unknown server type {name:?}; known families: {}", family_list())]
    UnknownServerType {
        /// The name given.
        name: String,
    },
    /// The load-balancer type is not one of [`LOAD_BALANCER_TYPES`].
    #[error("unknown load balancer type {name:?}; accepted types: {}", lb_list())]
    UnknownLoadBalancerType {
        /// The name given.
        name: String,
    },
}

fn location_list() -> String {
    LOCATIONS
        .iter()
        .map(|l| format!("{} ({}, {})", l.name, l.city, l.network_zone))
        .collect::<Vec<_>>()
        .join(", ")
}

fn family_members(family: &str) -> String {
    SERVER_TYPES
        .iter()
        .filter(|t| t.family == family)
        .map(|t| t.name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn family_list() -> String {
    SERVER_FAMILIES
        .iter()
        .map(|f| {
            format!(
                "{} ({}: {})",
                f.prefix,
                f.description,
                family_members(f.prefix)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn lb_list() -> String {
    LOAD_BALANCER_TYPES
        .iter()
        .map(|t| t.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Looks up a location by its API name (exact, lowercase).
pub fn location(name: &str) -> Result<&'static Location, Error> {
    LOCATIONS
        .iter()
        .find(|l| l.name == name)
        .ok_or_else(|| Error::UnknownLocation {
            name: name.to_owned(),
        })
}

/// Looks up a server type by its API name (exact, lowercase).
///
/// A name with a known family prefix but an unknown size (e.g. `cx22`, `cax51`) is refused with
/// that family's members; anything else with the list of families.
pub fn server_type(name: &str) -> Result<&'static ServerType, Error> {
    if let Some(found) = SERVER_TYPES.iter().find(|t| t.name == name) {
        return Ok(found);
    }
    // Longest prefix first so `cpx…` is not mistaken for `cx…`: match prefix + digits only.
    let family = SERVER_FAMILIES.iter().find(|f| {
        name.strip_prefix(f.prefix)
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
    });
    Err(match family {
        Some(f) => Error::UnknownServerTypeInFamily {
            name: name.to_owned(),
            family: f.prefix,
            family_description: f.description,
        },
        None => Error::UnknownServerType {
            name: name.to_owned(),
        },
    })
}

/// Looks up a load-balancer type by its API name.
pub fn load_balancer_type(name: &str) -> Result<&'static LoadBalancerType, Error> {
    LOAD_BALANCER_TYPES
        .iter()
        .find(|t| t.name == name)
        .ok_or_else(|| Error::UnknownLoadBalancerType {
            name: name.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_map_to_their_network_zones() {
        let zone = |n| location(n).unwrap().network_zone;
        assert_eq!(zone("fsn1"), NetworkZone::EuCentral);
        assert_eq!(zone("nbg1"), NetworkZone::EuCentral);
        assert_eq!(zone("hel1"), NetworkZone::EuCentral);
        assert_eq!(zone("ash"), NetworkZone::UsEast);
        assert_eq!(zone("hil"), NetworkZone::UsWest);
        assert_eq!(zone("sin"), NetworkZone::ApSoutheast);
        assert_eq!(NetworkZone::ApSoutheast.to_string(), "ap-southeast");
    }

    #[test]
    fn unknown_location_lists_the_accepted_ones() {
        let err = location("fra1").unwrap_err().to_string();
        assert!(err.contains("\"fra1\""), "{err}");
        for l in LOCATIONS {
            assert!(err.contains(l.name), "{err} lacks {}", l.name);
        }
        assert!(
            location("FSN1").is_err(),
            "names are exact, as the API spells them"
        );
    }

    #[test]
    fn server_types_carry_architecture_and_size() {
        let cax21 = server_type("cax21").unwrap();
        assert_eq!(cax21.architecture, Architecture::Arm);
        assert_eq!(cax21.architecture.kubernetes_name(), "arm64");
        assert_eq!((cax21.cores, cax21.memory_gb, cax21.disk_gb), (4, 8, 80));
        let cx33 = server_type("cx33").unwrap();
        assert_eq!(cx33.architecture.hcloud_name(), "x86");
        assert_eq!(server_type("ccx63").unwrap().cores, 48);
        assert_eq!(SERVER_TYPES.len(), 19);
        for t in SERVER_TYPES {
            assert!(t.name.starts_with(t.family));
            assert!(SERVER_FAMILIES.iter().any(|f| f.prefix == t.family));
        }
    }

    #[test]
    fn plausible_but_unknown_server_type_lists_its_family() {
        let err = server_type("cx22").unwrap_err();
        assert!(matches!(
            err,
            Error::UnknownServerTypeInFamily { family: "cx", .. }
        ));
        let msg = err.to_string();
        assert!(msg.contains("cx23, cx33, cx43, cx53"), "{msg}");
        assert!(!msg.contains("cpx11"), "{msg}");
        let msg = server_type("cpx62").unwrap_err().to_string();
        assert!(msg.contains("the cpx family"), "{msg}");
    }

    #[test]
    fn unrelated_server_type_lists_all_families() {
        let msg = server_type("t2.micro").unwrap_err().to_string();
        assert!(msg.contains("known families"), "{msg}");
        for f in SERVER_FAMILIES {
            assert!(msg.contains(f.prefix), "{msg}");
        }
        assert!(matches!(
            server_type("cx").unwrap_err(),
            Error::UnknownServerType { .. }
        ));
    }

    #[test]
    fn load_balancer_types() {
        assert_eq!(load_balancer_type("lb21").unwrap().max_targets, 75);
        assert!(load_balancer_type(DEFAULT_LOAD_BALANCER_TYPE).is_ok());
        let msg = load_balancer_type("lb41").unwrap_err().to_string();
        assert!(msg.contains("lb11, lb21, lb31"), "{msg}");
    }
}
