//! Typed multi-document configs that are not Kubernetes settings: hostname, private-network
//! link and DHCP, system volume encryption, and the 1.14 documents that replaced v1alpha1 sections
//! (discovery, resolver, ephemeral volume, trim, security profile).
//!
//! Each type names its `kind`; [`to_node`] adds the `apiVersion`/`kind` header.

use indexmap::IndexMap;
use serde::Serialize;

use super::Error;
use crate::talos::yaml::{self, Mapping, Node};

/// A typed multi-document config (`apiVersion: v1alpha1`, `kind: …`).
pub trait Document: Serialize {
    /// The document's `kind`.
    const KIND: &'static str;
}

/// Renders a document as a [`Node`] starting with `apiVersion: v1alpha1` and `kind`.
///
/// # Errors
/// [`Error::Internal`] if the typed value does not serialize to a mapping.
pub fn to_node<D: Document>(document: &D) -> Result<Node, Error> {
    let body = yaml::to_node(document).map_err(|source| Error::Internal {
        what: D::KIND,
        source,
    })?;
    let mut map = Mapping::new();
    map.insert("apiVersion".into(), Node::String("v1alpha1".into()));
    map.insert("kind".into(), Node::String(D::KIND.into()));
    if let Node::Map(fields) = body {
        map.extend(fields);
    }
    Ok(Node::Map(map))
}

/// `HostnameConfig`: a fixed hostname, or Talos's default `auto: stable`.
#[derive(Debug, Clone, Serialize)]
pub struct HostnameConfig {
    /// `stable` when no hostname is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto: Option<&'static str>,
    /// The node's hostname (the Hetzner server name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}
impl Document for HostnameConfig {
    const KIND: &'static str = "HostnameConfig";
}

/// `LinkConfig`: brings a physical link up (the Hetzner private-network interface).
#[derive(Debug, Clone, Serialize)]
pub struct LinkConfig {
    /// Interface name, e.g. `eth1`.
    pub name: String,
    /// Always `true`.
    pub up: bool,
}
impl Document for LinkConfig {
    const KIND: &'static str = "LinkConfig";
}

/// `DHCPv4Config`: runs DHCPv4 on a link (Hetzner assigns private IPs by DHCP).
#[derive(Debug, Clone, Serialize)]
pub struct Dhcpv4Config {
    /// Interface name, e.g. `eth1`.
    pub name: String,
}
impl Document for Dhcpv4Config {
    const KIND: &'static str = "DHCPv4Config";
}

/// `DiscoveryServiceConfig` (1.14): the public discovery service.
#[derive(Debug, Clone, Serialize)]
pub struct DiscoveryServiceConfig {
    /// `default`.
    pub name: &'static str,
    /// `https://discovery.talos.dev/`.
    pub endpoint: &'static str,
}
impl Document for DiscoveryServiceConfig {
    const KIND: &'static str = "DiscoveryServiceConfig";
}

/// `DiscoveryIdentityConfig` (1.14): the cluster id and secret.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoveryIdentityConfig {
    /// `cluster.id` of the secrets bundle.
    #[serde(rename = "clusterID")]
    pub cluster_id: String,
    /// `cluster.secret` of the secrets bundle.
    pub cluster_secret: String,
}
impl Document for DiscoveryIdentityConfig {
    const KIND: &'static str = "DiscoveryIdentityConfig";
}

/// `ResolverConfig` (1.14): host DNS.
#[derive(Debug, Clone, Serialize)]
pub struct ResolverConfig {
    /// Host DNS with forwarding of cluster DNS to the host.
    #[serde(rename = "hostDNS")]
    pub host_dns: super::v1alpha1::HostDns,
}
impl Document for ResolverConfig {
    const KIND: &'static str = "ResolverConfig";
}

/// `VolumeConfig` of a system volume: `STATE` or `EPHEMERAL`. The 1.14 generator writes one for
/// `EPHEMERAL` (`mount.secure`); hk8s adds `encryption` to both when disk encryption is on. Talos
/// refuses two documents with the same kind and name, so each volume has exactly one.
#[derive(Debug, Clone, Serialize)]
pub struct VolumeConfig {
    /// `STATE` or `EPHEMERAL`.
    pub name: &'static str,
    /// LUKS2 encryption of the partition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encryption: Option<EncryptionSpec>,
    /// `{secure: true}` (1.14 `EPHEMERAL`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mount: Option<IndexMap<&'static str, bool>>,
}
impl Document for VolumeConfig {
    const KIND: &'static str = "VolumeConfig";
}

/// `VolumeConfig.encryption` (Talos `block.EncryptionSpec`), in Talos's field order.
#[derive(Debug, Clone, Serialize)]
pub struct EncryptionSpec {
    /// `luks2`, the only provider Talos accepts.
    pub provider: &'static str,
    /// Key slots.
    pub keys: Vec<EncryptionKey>,
}

impl EncryptionSpec {
    /// LUKS2 with one key derived from the node's UUID and the partition label (Talos `nodeID`
    /// key): no secret in the configuration or the Hetzner user data, and a disk image copied to
    /// another server does not open.
    pub fn node_id() -> Self {
        EncryptionSpec {
            provider: "luks2",
            keys: vec![EncryptionKey {
                slot: 0,
                node_id: super::v1alpha1::Empty::default(),
            }],
        }
    }
}

/// One key slot of an [`EncryptionSpec`]: a node-ID key.
#[derive(Debug, Clone, Serialize)]
pub struct EncryptionKey {
    /// LUKS2 key slot.
    pub slot: u32,
    /// `nodeID: {}`.
    #[serde(rename = "nodeID")]
    pub node_id: super::v1alpha1::Empty,
}

/// `FilesystemTrimConfig` (1.14): weekly fstrim.
#[derive(Debug, Clone, Serialize)]
pub struct FilesystemTrimConfig {
    /// `168h0m0s`.
    pub interval: &'static str,
}
impl Document for FilesystemTrimConfig {
    const KIND: &'static str = "FilesystemTrimConfig";
}

/// `SecurityProfileConfig` (1.14): workload isolation on.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SecurityProfileConfig {
    /// Always `true`.
    pub workload_isolation: bool,
}
impl Document for SecurityProfileConfig {
    const KIND: &'static str = "SecurityProfileConfig";
}
