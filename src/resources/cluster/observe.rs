//! What exists in Hetzner for a cluster, found with one label-selector list per object family
//! (servers, load balancers, firewalls, networks, placement groups) and one for the cloud
//! controller's load balancers: six requests however many nodes there are.

use crate::hcloud::firewalls::Firewall;
use crate::hcloud::labels::{Role, Selector};
use crate::hcloud::load_balancers::LoadBalancer;
use crate::hcloud::networks::Network;
use crate::hcloud::placement_groups::PlacementGroup;
use crate::hcloud::{Client, Error};

use super::infra;
use super::topology::{self, Member};

/// Label the hcloud cloud controller puts on load balancers it makes for Services.
pub const CCM_SERVICE_LABEL: &str = "hcloud-ccm/service-uid";

/// Everything labelled for the cluster (plus the cloud controller's load balancers on its network).
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Control-plane servers, by number.
    pub members: Vec<Member>,
    /// Ids of every server labelled for the cluster (control planes and pools).
    pub all_server_ids: Vec<i64>,
    /// The API load balancer.
    pub api_load_balancer: Option<LoadBalancer>,
    /// Other load balancers labelled for the cluster.
    pub other_load_balancers: Vec<LoadBalancer>,
    /// The cloud controller's load balancers attached to the cluster network.
    pub ccm_load_balancers: Vec<LoadBalancer>,
    /// Firewalls labelled for the cluster.
    pub firewalls: Vec<Firewall>,
    /// The network labelled for the cluster.
    pub network: Option<Network>,
    /// Placement groups labelled for the cluster.
    pub placement_groups: Vec<PlacementGroup>,
}

impl Observed {
    /// Whether nothing at all exists for the cluster.
    pub fn is_empty(&self) -> bool {
        self.all_server_ids.is_empty()
            && self.api_load_balancer.is_none()
            && self.other_load_balancers.is_empty()
            && self.firewalls.is_empty()
            && self.network.is_none()
            && self.placement_groups.is_empty()
    }

    /// The control-plane firewall.
    pub fn control_plane_firewall(&self, cluster: &str) -> Option<&Firewall> {
        let name = infra::firewall_name(cluster);
        self.firewalls.iter().find(|f| f.name == name)
    }
}

/// Lists the cluster's objects; `network_id` is the network to look for CCM load balancers on
/// when the cluster uses an existing network.
///
/// # Errors
/// The first Hetzner error.
pub async fn observe(
    client: &Client,
    cluster: &str,
    network_id: Option<i64>,
) -> Result<Observed, Error> {
    let everything = Selector::cluster(cluster);
    let (servers, load_balancers, ccm_load_balancers, firewalls, networks, groups) = tokio::try_join!(
        client.list_servers(&everything),
        client.list_load_balancers(&everything),
        client.list_load_balancers_matching(CCM_SERVICE_LABEL),
        client.list_firewalls(&everything),
        client.list_networks(&everything),
        client.list_placement_groups(&everything),
    )?;
    let all_server_ids = servers.iter().map(|s| s.id).collect();
    let control_planes = servers
        .into_iter()
        .filter(|s| {
            s.labels
                .get(crate::hcloud::labels::ROLE)
                .map(String::as_str)
                == Some(Role::ControlPlane.as_str())
        })
        .collect();
    let network = networks.into_iter().next();
    let network_for_ccm = network.as_ref().map(|n| n.id).or(network_id);
    let api_name = infra::load_balancer_name(cluster);
    let mut observed = Observed {
        members: topology::members(cluster, control_planes),
        all_server_ids,
        firewalls,
        network,
        placement_groups: groups,
        ..Observed::default()
    };
    for lb in load_balancers {
        if lb.name == api_name {
            observed.api_load_balancer = Some(lb);
        } else {
            observed.other_load_balancers.push(lb);
        }
    }
    observed.ccm_load_balancers = ccm_load_balancers
        .into_iter()
        .filter(|lb| !everything.matches(&lb.labels))
        .filter(|lb| network_for_ccm.is_some_and(|n| lb.private_ip(n).is_some()))
        .collect();
    Ok(observed)
}
