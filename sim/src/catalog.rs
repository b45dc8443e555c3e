//! The fixed catalog of the Hetzner project the sim pretends to be: locations, datacenters, server
//! types, load balancer types and system images, with the real names, sizes and network zones.

/// A Hetzner location.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Location {
    /// Catalog id.
    pub id: i64,
    /// Name, e.g. `fsn1`.
    pub name: &'static str,
    /// Human description.
    pub description: &'static str,
    /// ISO country code.
    pub country: &'static str,
    /// City.
    pub city: &'static str,
    /// Latitude.
    pub latitude: f64,
    /// Longitude.
    pub longitude: f64,
    /// Network zone, e.g. `eu-central`.
    pub network_zone: &'static str,
    /// The one datacenter of the location (id, name).
    pub datacenter: (i64, &'static str),
}

/// Every location the sim offers.
pub const LOCATIONS: &[Location] = &[
    Location {
        id: 1,
        name: "fsn1",
        description: "Falkenstein DC Park 1",
        country: "DE",
        city: "Falkenstein",
        latitude: 50.47612,
        longitude: 12.370071,
        network_zone: "eu-central",
        datacenter: (4, "fsn1-dc14"),
    },
    Location {
        id: 2,
        name: "nbg1",
        description: "Nuremberg DC Park 1",
        country: "DE",
        city: "Nuremberg",
        latitude: 49.452102,
        longitude: 11.076665,
        network_zone: "eu-central",
        datacenter: (2, "nbg1-dc3"),
    },
    Location {
        id: 3,
        name: "hel1",
        description: "Helsinki DC Park 1",
        country: "FI",
        city: "Helsinki",
        latitude: 60.169855,
        longitude: 24.938379,
        network_zone: "eu-central",
        datacenter: (3, "hel1-dc2"),
    },
    Location {
        id: 4,
        name: "ash",
        description: "Ashburn, VA",
        country: "US",
        city: "Ashburn, VA",
        latitude: 39.045821,
        longitude: -77.487073,
        network_zone: "us-east",
        datacenter: (5, "ash-dc1"),
    },
    Location {
        id: 5,
        name: "hil",
        description: "Hillsboro, OR",
        country: "US",
        city: "Hillsboro, OR",
        latitude: 45.54222,
        longitude: -122.951924,
        network_zone: "us-west",
        datacenter: (6, "hil-dc1"),
    },
    Location {
        id: 6,
        name: "sin",
        description: "Singapore",
        country: "SG",
        city: "Singapore",
        latitude: 1.283333,
        longitude: 103.833333,
        network_zone: "ap-southeast",
        datacenter: (7, "sin-dc1"),
    },
];

/// Every network zone.
pub const NETWORK_ZONES: &[&str] = &["eu-central", "us-east", "us-west", "ap-southeast"];

/// Looks a location up by name.
pub fn location(name: &str) -> Option<&'static Location> {
    LOCATIONS.iter().find(|l| l.name == name)
}

/// Looks a location up by the name of its datacenter.
pub fn location_of_datacenter(name: &str) -> Option<&'static Location> {
    LOCATIONS.iter().find(|l| l.datacenter.1 == name)
}

/// CPU architecture of a server type or image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// `x86`.
    X86,
    /// `arm`.
    Arm,
}

impl Arch {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86 => "x86",
            Arch::Arm => "arm",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Arch> {
        match s {
            "x86" => Some(Arch::X86),
            "arm" => Some(Arch::Arm),
            _ => None,
        }
    }
}

/// A server type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ServerType {
    /// Catalog id.
    pub id: i64,
    /// Name, e.g. `cax21`.
    pub name: &'static str,
    /// vCPUs.
    pub cores: i32,
    /// Memory in GB.
    pub memory: f64,
    /// Disk in GB.
    pub disk: f64,
    /// Architecture.
    pub arch: Arch,
    /// `shared` or `dedicated`.
    pub cpu_type: &'static str,
    /// Category as the API reports it.
    pub category: &'static str,
    /// Whether it is only sold in the EU locations.
    pub eu_only: bool,
    /// Monthly net price in euro cents in the EU locations (see [`monthly_price_cents`]).
    pub monthly_cents: i64,
}

/// One row of the server type table (one argument per column keeps the table readable).
#[allow(clippy::too_many_arguments)]
const fn st(
    id: i64,
    name: &'static str,
    cores: i32,
    memory: f64,
    disk: f64,
    arch: Arch,
    cpu_type: &'static str,
    category: &'static str,
    eu_only: bool,
    monthly_cents: i64,
) -> ServerType {
    ServerType {
        id,
        name,
        cores,
        memory,
        disk,
        arch,
        cpu_type,
        category,
        eu_only,
        monthly_cents,
    }
}

/// Every server type the sim sells.
pub const SERVER_TYPES: &[ServerType] = &[
    st(
        1,
        "cx23",
        2,
        4.0,
        40.0,
        Arch::X86,
        "shared",
        "cost_optimized",
        true,
        349,
    ),
    st(
        2,
        "cx33",
        4,
        8.0,
        80.0,
        Arch::X86,
        "shared",
        "cost_optimized",
        true,
        549,
    ),
    st(
        3,
        "cx43",
        8,
        16.0,
        160.0,
        Arch::X86,
        "shared",
        "cost_optimized",
        true,
        949,
    ),
    st(
        4,
        "cx53",
        16,
        32.0,
        320.0,
        Arch::X86,
        "shared",
        "cost_optimized",
        true,
        1749,
    ),
    st(
        11,
        "cpx11",
        2,
        2.0,
        40.0,
        Arch::X86,
        "shared",
        "regular_purpose",
        false,
        499,
    ),
    st(
        12,
        "cpx21",
        3,
        4.0,
        80.0,
        Arch::X86,
        "shared",
        "regular_purpose",
        false,
        899,
    ),
    st(
        13,
        "cpx31",
        4,
        8.0,
        160.0,
        Arch::X86,
        "shared",
        "regular_purpose",
        false,
        1599,
    ),
    st(
        14,
        "cpx41",
        8,
        16.0,
        240.0,
        Arch::X86,
        "shared",
        "regular_purpose",
        false,
        2999,
    ),
    st(
        15,
        "cpx51",
        16,
        32.0,
        360.0,
        Arch::X86,
        "shared",
        "regular_purpose",
        false,
        6499,
    ),
    st(
        21,
        "cax11",
        2,
        4.0,
        40.0,
        Arch::Arm,
        "shared",
        "cost_optimized",
        true,
        399,
    ),
    st(
        22,
        "cax21",
        4,
        8.0,
        80.0,
        Arch::Arm,
        "shared",
        "cost_optimized",
        true,
        699,
    ),
    st(
        23,
        "cax31",
        8,
        16.0,
        160.0,
        Arch::Arm,
        "shared",
        "cost_optimized",
        true,
        1299,
    ),
    st(
        24,
        "cax41",
        16,
        32.0,
        320.0,
        Arch::Arm,
        "shared",
        "cost_optimized",
        true,
        2449,
    ),
    st(
        31,
        "ccx13",
        2,
        8.0,
        80.0,
        Arch::X86,
        "dedicated",
        "general_purpose",
        false,
        1249,
    ),
    st(
        32,
        "ccx23",
        4,
        16.0,
        160.0,
        Arch::X86,
        "dedicated",
        "general_purpose",
        false,
        2449,
    ),
    st(
        33,
        "ccx33",
        8,
        32.0,
        240.0,
        Arch::X86,
        "dedicated",
        "general_purpose",
        false,
        4849,
    ),
    st(
        34,
        "ccx43",
        16,
        64.0,
        360.0,
        Arch::X86,
        "dedicated",
        "general_purpose",
        false,
        9649,
    ),
    st(
        35,
        "ccx53",
        32,
        128.0,
        600.0,
        Arch::X86,
        "dedicated",
        "general_purpose",
        false,
        19249,
    ),
    st(
        36,
        "ccx63",
        48,
        192.0,
        960.0,
        Arch::X86,
        "dedicated",
        "general_purpose",
        false,
        28849,
    ),
];

impl ServerType {
    /// Whether the type is sold in `location`.
    pub fn available_in(&self, location: &Location) -> bool {
        !self.eu_only || location.network_zone == "eu-central"
    }
}

/// Looks a server type up by name or numeric id.
pub fn server_type(name_or_id: &str) -> Option<&'static ServerType> {
    SERVER_TYPES
        .iter()
        .find(|t| t.name == name_or_id || t.id.to_string() == name_or_id)
}

/// A load balancer type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadBalancerType {
    /// Catalog id.
    pub id: i64,
    /// Name, e.g. `lb11`.
    pub name: &'static str,
    /// Max concurrent connections.
    pub max_connections: i64,
    /// Max services.
    pub max_services: i64,
    /// Max targets.
    pub max_targets: i64,
    /// Max certificates.
    pub max_assigned_certificates: i64,
    /// Monthly net price in euro cents in the EU locations (see [`monthly_price_cents`]).
    pub monthly_cents: i64,
}

/// Every load balancer type.
pub const LOAD_BALANCER_TYPES: &[LoadBalancerType] = &[
    LoadBalancerType {
        id: 1,
        name: "lb11",
        max_connections: 10000,
        max_services: 5,
        max_targets: 25,
        max_assigned_certificates: 10,
        monthly_cents: 539,
    },
    LoadBalancerType {
        id: 2,
        name: "lb21",
        max_connections: 20000,
        max_services: 15,
        max_targets: 75,
        max_assigned_certificates: 25,
        monthly_cents: 1640,
    },
    LoadBalancerType {
        id: 3,
        name: "lb31",
        max_connections: 40000,
        max_services: 30,
        max_targets: 150,
        max_assigned_certificates: 50,
        monthly_cents: 3290,
    },
];

/// Looks a load balancer type up by name or numeric id.
pub fn load_balancer_type(name_or_id: &str) -> Option<&'static LoadBalancerType> {
    LOAD_BALANCER_TYPES
        .iter()
        .find(|t| t.name == name_or_id || t.id.to_string() == name_or_id)
}

/// Monthly net price of a primary IPv4 address in the EU locations, in euro cents. Primary IPv6
/// addresses are free.
pub const PRIMARY_IPV4_MONTHLY_CENTS: i64 = 50;
/// Monthly net price of a floating IPv4 address in the EU locations, in euro cents.
pub const FLOATING_IPV4_MONTHLY_CENTS: i64 = 300;
/// Monthly net price of a floating IPv6 (/64) in the EU locations, in euro cents.
pub const FLOATING_IPV6_MONTHLY_CENTS: i64 = 100;

impl Location {
    /// Prices here relative to the EU locations, in percent: Hetzner charges more in the US and in
    /// Singapore than in Germany and Finland, so an estimate that ignores the location is wrong.
    pub fn price_percent(&self) -> i64 {
        match self.network_zone {
            "eu-central" => 100,
            "ap-southeast" => 130,
            _ => 117,
        }
    }

    /// Outgoing traffic included per month with a server or load balancer here, in TiB.
    pub fn included_traffic_tib(&self) -> i64 {
        if self.network_zone == "eu-central" {
            20
        } else {
            1
        }
    }
}

/// Monthly net price in cents at `location` of something that costs `eu_cents` in the EU,
/// rounded to the cent.
pub fn monthly_price_cents(eu_cents: i64, location: &Location) -> i64 {
    (eu_cents * location.price_percent() + 50) / 100
}

/// A system image offered for both architectures: (name, os_flavor, os_version).
pub const SYSTEM_IMAGES: &[(&str, &str, &str)] = &[
    ("debian-12", "debian", "12"),
    ("debian-13", "debian", "13"),
    ("ubuntu-22.04", "ubuntu", "22.04"),
    ("ubuntu-24.04", "ubuntu", "24.04"),
    ("rocky-9", "rocky", "9"),
    ("fedora-42", "fedora", "42"),
];

/// The Image Factory schematic hk8s uses by default (no extensions).
pub const DEFAULT_TALOS_SCHEMATIC: &str =
    "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba";
