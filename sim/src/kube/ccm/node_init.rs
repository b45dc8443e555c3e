//! The CCM's node controller: a node still carrying `node.cloudprovider.kubernetes.io/uninitialized`
//! is matched to the Hetzner server of the same name and initialised with the instance metadata
//! the hcloud CCM reports (`hcloud/instances.go`) and the cloud node controller writes: provider
//! id `hcloud://<server id>`, instance-type, region and zone labels (beta and GA), the label
//! `instance.hetzner.cloud/provided-by=cloud`, and the addresses Hostname (server name),
//! ExternalIP (public IPv4) and InternalIP (the private IP in the CCM's network, when it has one).
//! The taint goes. A node whose name matches no server stays uninitialised.

use std::net::Ipv4Addr;

use crate::stats::Component;
use crate::world::World;

/// What the node controller wrote on a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CcmNode {
    /// The server the node runs on.
    pub server_id: i64,
    /// Server type name (`node.kubernetes.io/instance-type`).
    pub instance_type: String,
    /// Location name (`topology.kubernetes.io/region`).
    pub region: String,
    /// Legacy datacenter name (`topology.kubernetes.io/zone`).
    pub zone: String,
    /// `(type, address)` in the order the CCM reports them.
    pub addresses: Vec<(String, String)>,
}

impl CcmNode {
    /// `spec.providerID`.
    pub fn provider_id(&self) -> String {
        format!("hcloud://{}", self.server_id)
    }

    /// The labels the cloud node controller sets.
    pub fn labels(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("beta.kubernetes.io/instance-type", &self.instance_type),
            ("node.kubernetes.io/instance-type", &self.instance_type),
            ("failure-domain.beta.kubernetes.io/region", &self.region),
            ("topology.kubernetes.io/region", &self.region),
            ("failure-domain.beta.kubernetes.io/zone", &self.zone),
            ("topology.kubernetes.io/zone", &self.zone),
            ("instance.hetzner.cloud/provided-by", "cloud"),
        ]
    }

    /// The InternalIP address, when the CCM has a network.
    pub fn internal_ip(&self) -> Option<Ipv4Addr> {
        self.addresses
            .iter()
            .find(|(kind, _)| kind == "InternalIP")
            .and_then(|(_, a)| a.parse().ok())
    }
}

/// The zone label of a location: the CCM keeps the (deprecated) datacenter names of the old
/// locations (`internal/legacydatacenter`), and the location name for newer ones.
pub fn zone_of(location: &str) -> String {
    match location {
        "nbg1" => "nbg1-dc3",
        "hel1" => "hel1-dc2",
        "fsn1" => "fsn1-dc14",
        "ash" => "ash-dc1",
        "hil" => "hil-dc1",
        "sin" => "sin-dc1",
        other => other,
    }
    .to_string()
}

/// Initialises the named nodes, for a CCM whose network is `network`: one `GET /servers` (the
/// CCM's server cache lists them all), then the metadata of each node's server.
pub fn initialize(
    world: &mut World,
    network: Option<i64>,
    names: &[String],
) -> Vec<(String, CcmNode)> {
    if names.is_empty() || !world.component_request(Component::Ccm, "GET /servers") {
        return Vec::new();
    }
    names
        .iter()
        .filter_map(|name| {
            let server = world.data.servers.values().find(|s| s.name == *name)?;
            let mut addresses = vec![("Hostname".to_string(), server.name.clone())];
            if let Some(ip) = server.ipv4 {
                addresses.push(("ExternalIP".into(), ip.to_string()));
            }
            if let Some(n) = network {
                addresses.extend(
                    server
                        .private_net
                        .iter()
                        .filter(|p| p.network == n)
                        .map(|p| ("InternalIP".to_string(), p.ip.to_string())),
                );
            }
            Some((
                name.clone(),
                CcmNode {
                    server_id: server.id,
                    instance_type: server.server_type.clone(),
                    region: server.location.clone(),
                    zone: zone_of(&server.location),
                    addresses,
                },
            ))
        })
        .collect()
}
