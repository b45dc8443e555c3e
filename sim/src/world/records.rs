//! The objects of the simulated Hetzner project, as stored (ids instead of nested objects).
//! They serialize for `--state-file`; the API modules render them into Hetzner's wire shapes.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::labels::Labels;

pub use super::disk::{Disk, TalosDisk};

/// A server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Server {
    /// Id.
    pub id: i64,
    /// Unique name (a hostname).
    pub name: String,
    /// `initializing`, `starting`, `running`, `stopping`, `off`, `deleting`, `rebuilding`, `migrating`.
    pub status: String,
    /// Creation time.
    pub created: String,
    /// Server type name.
    pub server_type: String,
    /// Location name.
    pub location: String,
    /// Image id the server was created or rebuilt from.
    pub image: Option<i64>,
    /// Labels.
    pub labels: Labels,
    /// The `user_data` received at create (cloud-init or a Talos config).
    pub user_data: Option<String>,
    /// Public IPv4 (a loopback address the later parts of the sim listen on).
    pub ipv4: Option<Ipv4Addr>,
    /// Public IPv6 network (`2001:db8:…::/64`).
    pub ipv6: Option<String>,
    /// Private network attachments.
    pub private_net: Vec<ServerNet>,
    /// Placement group id.
    pub placement_group: Option<i64>,
    /// Firewalls applied directly to this server.
    pub firewalls: Vec<i64>,
    /// Whether rescue is enabled for the next boot.
    pub rescue_enabled: bool,
    /// Delete protection.
    pub protect_delete: bool,
    /// Rebuild protection.
    pub protect_rebuild: bool,
    /// SSH key ids injected at create.
    pub ssh_keys: Vec<i64>,
    /// Disk size in GB.
    pub primary_disk_size: i32,
    /// What the system disk holds (decides what boots).
    #[serde(default)]
    pub disk: Disk,
    /// How many times the disk was rewritten (create, rebuild, `dd`, `blkdiscard`): a Talos node
    /// booted from an older write is gone with it.
    #[serde(default)]
    pub disk_writes: u64,
    /// The rescue system armed for the next boot (`enable_rescue`), while `rescue_enabled`.
    #[serde(default)]
    pub rescue: Option<RescueSetup>,
    /// The rescue system this server runs now (booted with rescue enabled), until it stops.
    #[serde(default)]
    pub in_rescue: Option<RescueBoot>,
    /// The ISO attached to the server's virtual drive (`attach_iso`).
    #[serde(default)]
    pub iso: Option<i64>,
    /// The daily backup window (`22-02`) while backups are enabled.
    #[serde(default)]
    pub backup_window: Option<String>,
}

/// What `enable_rescue` set up: who may log in to the rescue system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RescueSetup {
    /// OpenSSH public keys of the SSH keys given (resolved when rescue was enabled).
    pub public_keys: Vec<String>,
    /// The root password `enable_rescue` returned.
    pub root_password: String,
}

/// One boot of the rescue system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RescueBoot {
    /// Who may log in.
    pub setup: RescueSetup,
    /// Distinguishes boots (a new id for every boot into rescue).
    pub boot: i64,
}

/// One server's attachment to a network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerNet {
    /// Network id.
    pub network: i64,
    /// Primary private IP.
    pub ip: Ipv4Addr,
    /// Additional private IPs.
    pub alias_ips: Vec<Ipv4Addr>,
    /// MAC address of the private interface.
    pub mac_address: String,
}

/// A network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Network {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// The network's range, e.g. `10.0.0.0/16`.
    pub ip_range: ipnet::Ipv4Net,
    /// Subnets.
    pub subnets: Vec<Subnet>,
    /// Routes.
    pub routes: Vec<Route>,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created: String,
    /// Delete protection.
    pub protect_delete: bool,
    /// Whether routes are exposed to vSwitches.
    pub expose_routes_to_vswitch: bool,
}

/// A subnet of a network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Subnet {
    /// `cloud`, `server` or `vswitch`.
    pub kind: String,
    /// Range inside the network.
    pub ip_range: ipnet::Ipv4Net,
    /// Network zone.
    pub network_zone: String,
    /// vSwitch id for `vswitch` subnets.
    pub vswitch_id: Option<i64>,
}

/// A static route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// Destination network.
    pub destination: ipnet::Ipv4Net,
    /// Gateway inside the network.
    pub gateway: Ipv4Addr,
}

/// A firewall.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Firewall {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created: String,
    /// Rules.
    pub rules: Vec<FirewallRule>,
    /// What the firewall is applied to.
    pub applied_to: Vec<FirewallTarget>,
}

/// A firewall rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirewallRule {
    /// `in` or `out`.
    pub direction: String,
    /// `tcp`, `udp`, `icmp`, `esp`, `gre`.
    pub protocol: String,
    /// Port or range for tcp/udp.
    pub port: Option<String>,
    /// Source CIDRs (inbound).
    pub source_ips: Vec<String>,
    /// Destination CIDRs (outbound).
    pub destination_ips: Vec<String>,
    /// Description.
    pub description: Option<String>,
}

/// A firewall attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FirewallTarget {
    /// One server.
    Server(i64),
    /// Every server matching the selector.
    LabelSelector(String),
}

/// A load balancer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadBalancer {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Type name.
    pub lb_type: String,
    /// Location name.
    pub location: String,
    /// `round_robin` or `least_connections`.
    pub algorithm: String,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created: String,
    /// Public IPv4 (loopback).
    pub ipv4: Ipv4Addr,
    /// Public IPv6 address.
    pub ipv6: String,
    /// Whether the public interface is enabled.
    pub public_enabled: bool,
    /// Network attachments (network id, private IP).
    pub private_net: Vec<(i64, Ipv4Addr)>,
    /// Services.
    pub services: Vec<LbService>,
    /// Targets.
    pub targets: Vec<LbTarget>,
    /// Delete protection.
    pub protect_delete: bool,
}

/// A load balancer service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LbService {
    /// `tcp`, `http` or `https`.
    pub protocol: String,
    /// Public port.
    pub listen_port: i32,
    /// Target port.
    pub destination_port: i32,
    /// PROXY protocol.
    pub proxyprotocol: bool,
    /// Health check.
    pub health_check: HealthCheck,
    /// HTTP settings (http/https only).
    pub http: Option<serde_json::Value>,
}

/// A service's health check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HealthCheck {
    /// `tcp` or `http`.
    pub protocol: String,
    /// Port probed.
    pub port: i32,
    /// Seconds between probes.
    pub interval: i32,
    /// Probe timeout in seconds.
    pub timeout: i32,
    /// Failures before unhealthy.
    pub retries: i32,
    /// HTTP probe settings.
    pub http: Option<serde_json::Value>,
}

/// A load balancer target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum LbTarget {
    /// One server.
    Server {
        /// Server id.
        id: i64,
        /// Route to its private IP.
        use_private_ip: bool,
    },
    /// Servers matching a selector.
    LabelSelector {
        /// The selector.
        selector: String,
        /// Route to their private IPs.
        use_private_ip: bool,
    },
    /// A public IP.
    Ip(String),
}

/// A placement group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlacementGroup {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created: String,
}

/// An image (system image or snapshot).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Image {
    /// Id.
    pub id: i64,
    /// `system`, `snapshot`, `backup` or `app`.
    pub kind: String,
    /// `available` or `creating`.
    pub status: String,
    /// Name (system images only).
    pub name: Option<String>,
    /// Description.
    pub description: String,
    /// Size of the image in GB (snapshots).
    pub image_size: Option<f64>,
    /// Disk size in GB.
    pub disk_size: f64,
    /// Creation time.
    pub created: String,
    /// Server the snapshot was made from (id, name).
    pub created_from: Option<(i64, String)>,
    /// OS flavor.
    pub os_flavor: String,
    /// OS version.
    pub os_version: Option<String>,
    /// `x86` or `arm`.
    pub architecture: String,
    /// Labels.
    pub labels: Labels,
    /// Delete protection.
    pub protect_delete: bool,
    /// What the image holds (a server created from it gets this disk).
    #[serde(default)]
    pub disk: Disk,
}

/// A block storage volume.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Volume {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Size in GB (10 to 10240, only ever grows).
    pub size: i32,
    /// Location name (a volume attaches only to servers of its location).
    pub location: String,
    /// `creating` until its `create_volume` action finished, then `available`.
    pub status: String,
    /// The server it is attached to.
    pub server: Option<i64>,
    /// `xfs` or `ext4` when formatted at creation.
    pub format: Option<String>,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created: String,
    /// Delete protection.
    pub protect_delete: bool,
}

/// A primary IP: the public IPv4 address or IPv6 /64 a server's `public_net` refers to. Servers
/// get one per enabled family at create; it outlives its server when `auto_delete` is off.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrimaryIp {
    /// Id (what `public_net.ipv4.id`/`ipv6.id` of its server say).
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// `ipv4` or `ipv6`.
    pub family: String,
    /// The address (`127.x.y.z`) or network (`2001:db8:…::/64`).
    pub ip: String,
    /// Location name (assignable only to servers there).
    pub location: String,
    /// The server it is assigned to.
    pub assignee: Option<i64>,
    /// Deleted with its server.
    pub auto_delete: bool,
    /// Labels.
    pub labels: Labels,
    /// Delete protection.
    pub protect_delete: bool,
    /// Reverse DNS entries set with `change_dns_ptr` (address to name); an IPv4 without one
    /// has Hetzner's default `static.….clients.your-server.de`.
    #[serde(default)]
    pub dns_ptr: BTreeMap<String, String>,
    /// Creation time.
    pub created: String,
}

/// A floating IP: an address (IPv4) or /64 (IPv6) that moves between servers of its network
/// zone while they run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FloatingIp {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Free text, or none.
    pub description: Option<String>,
    /// `ipv4` or `ipv6`.
    pub family: String,
    /// The address or network.
    pub ip: String,
    /// Home location name.
    pub home_location: String,
    /// The server it is assigned to.
    pub server: Option<i64>,
    /// Labels.
    pub labels: Labels,
    /// Delete protection.
    pub protect_delete: bool,
    /// Reverse DNS entries (address to name).
    #[serde(default)]
    pub dns_ptr: BTreeMap<String, String>,
    /// Creation time.
    pub created: String,
}

/// An uploaded TLS certificate (what load balancer https services name).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Certificate {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// The PEM as uploaded.
    pub certificate: String,
    /// Creation time.
    pub created: String,
    /// Validity start (from the certificate).
    pub not_valid_before: String,
    /// Validity end.
    pub not_valid_after: String,
    /// DNS names of its subject alternative names (or common name).
    pub domain_names: Vec<String>,
    /// SHA-256 fingerprint of the DER, `aa:bb:…`.
    pub fingerprint: String,
}

/// An SSH key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SshKey {
    /// Id.
    pub id: i64,
    /// Unique name.
    pub name: String,
    /// MD5 fingerprint `aa:bb:…`.
    pub fingerprint: String,
    /// OpenSSH public key.
    pub public_key: String,
    /// Labels.
    pub labels: Labels,
    /// Creation time.
    pub created: String,
}
