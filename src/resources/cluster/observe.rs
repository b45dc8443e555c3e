//! What exists in Hetzner for a cluster, found with one label-selector list per object family
//! (servers, load balancers, firewalls, networks, placement groups) and one for the cloud
//! controller's load balancers: six requests however many nodes there are. Refresh and import
//! list the control-plane servers only ([`Servers::ControlPlanes`]): the cluster's pools can hold
//! hundreds of servers, which Hetzner returns 50 per page.

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

/// Which servers [`observe`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Servers {
    /// The control planes: all that refresh and import read of the servers.
    ControlPlanes,
    /// Every server labelled for the cluster, its pools' too: what destroy deletes.
    All,
}

/// Everything labelled for the cluster (plus the cloud controller's load balancers on its network).
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// Control-plane servers, by number.
    pub members: Vec<Member>,
    /// Ids of the servers listed (see [`Servers`]).
    pub server_ids: Vec<i64>,
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
        self.server_ids.is_empty()
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

/// Lists the cluster's objects (of its servers, those `servers` says); `network_id` is the network
/// to look for CCM load balancers on when the cluster uses an existing network.
///
/// # Errors
/// The first Hetzner error.
pub async fn observe(
    client: &Client,
    cluster: &str,
    network_id: Option<i64>,
    servers: Servers,
) -> Result<Observed, Error> {
    let everything = Selector::cluster(cluster);
    let server_selector = match servers {
        Servers::ControlPlanes => infra::control_plane_selector(cluster),
        Servers::All => everything.clone(),
    };
    let (servers, load_balancers, ccm_load_balancers, firewalls, networks, groups) = tokio::try_join!(
        client.list_servers(&server_selector),
        client.list_load_balancers(&everything),
        client.list_load_balancers_matching(CCM_SERVICE_LABEL),
        client.list_firewalls(&everything),
        client.list_networks(&everything),
        client.list_placement_groups(&everything),
    )?;
    let server_ids = servers.iter().map(|s| s.id).collect();
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
        server_ids,
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

#[cfg(test)]
mod tests {
    use hk8s_sim::testing::{TOKEN, TestSim};
    use serde_json::json;

    use super::*;
    use crate::hcloud::labels::Role;
    use crate::hcloud::{ClientConfig, Token};

    async fn server(sim: &TestSim, name: &str, role: Role) {
        sim.hcloud(
            "POST",
            "/servers",
            Some(json!({
                "name": name, "server_type": "cx23", "image": "ubuntu-24.04",
                "location": "fsn1",
                "labels": Selector::cluster("c").role(role).labels(),
                "public_net": {"enable_ipv4": false, "enable_ipv6": false},
            })),
        )
        .await;
    }

    async fn server_lists(sim: &TestSim) -> u64 {
        sim.stats().await["requests"]["GET /servers"]
            .as_u64()
            .unwrap_or(0)
    }

    #[tokio::test]
    async fn refresh_lists_the_control_planes_in_one_request_however_large_the_pools() {
        let sim = TestSim::start(72, &[], |_| {}).await;
        let client =
            Client::new(ClientConfig::new(Token::new(TOKEN)).endpoint(sim.handle.endpoint()))
                .expect("client");
        server(&sim, "c-cp-1", Role::ControlPlane).await;
        // More pool servers than one page (50) holds.
        for n in 1..=60 {
            server(&sim, &format!("c-workers-{n}"), Role::Worker).await;
        }

        let before = server_lists(&sim).await;
        let observed = observe(&client, "c", None, Servers::ControlPlanes)
            .await
            .expect("observed");
        assert_eq!(server_lists(&sim).await - before, 1);
        assert_eq!(observed.members.len(), 1);
        assert_eq!(observed.server_ids.len(), 1);

        let before = server_lists(&sim).await;
        let observed = observe(&client, "c", None, Servers::All)
            .await
            .expect("observed");
        assert_eq!(server_lists(&sim).await - before, 2, "two pages");
        assert_eq!(observed.members.len(), 1);
        assert_eq!(
            observed.server_ids.len(),
            61,
            "destroy sees the pools' servers"
        );
    }
}
