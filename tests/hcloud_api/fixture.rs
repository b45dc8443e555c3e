//! A control plane's worth of Hetzner objects, built the way the cluster resource will build them:
//! every object ensured first, then one batched wait for all their actions.

use hk8s::hcloud::catalog::{Architecture, NetworkZone};
use hk8s::hcloud::firewalls::{Direction, FirewallRule, FirewallSpec, FirewallTarget, Protocol};
use hk8s::hcloud::labels::{self, Role, Selector};
use hk8s::hcloud::load_balancers::{
    KUBERNETES_API_PORT, LoadBalancerSpec, Service, TALOS_API_PORT, Target,
};
use hk8s::hcloud::networks::{NetworkSpec, SubnetSpec};
use hk8s::hcloud::servers::ServerSpec;
use hk8s::hcloud::{Action, Client, Error};

use super::support::{TALOS_VERSION, cluster_labels, role_labels};

/// Ids of what [`ensure_control_plane`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPlane {
    pub network: i64,
    pub firewall: i64,
    pub placement_group: i64,
    pub load_balancer: i64,
    pub servers: Vec<i64>,
    /// Actions the ensure calls started (empty when everything already existed and settled).
    pub actions: Vec<Action>,
}

/// The network spec of `cluster`.
pub fn network_spec(cluster: &str) -> NetworkSpec {
    NetworkSpec {
        name: cluster.to_string(),
        ip_range: "10.0.0.0/16".parse().unwrap(),
        subnets: vec![SubnetSpec {
            ip_range: "10.0.1.0/24".parse().unwrap(),
            network_zone: NetworkZone::EuCentral,
        }],
        labels: cluster_labels(cluster),
    }
}

/// A rule letting the Talos API in from one range.
pub fn talos_rule(source: &str) -> FirewallRule {
    FirewallRule {
        direction: Direction::In,
        protocol: Protocol::Tcp,
        port: Some(TALOS_API_PORT.to_string()),
        source_ips: vec![source.to_string()],
        destination_ips: vec![],
        description: Some("talos api".into()),
    }
}

/// Ensures network, firewall, placement group, API load balancer and `count` control-plane
/// servers, without waiting.
pub async fn ensure_control_plane(
    client: &Client,
    cluster: &str,
    count: usize,
) -> Result<ControlPlane, Error> {
    let cp = Selector::cluster(cluster).role(Role::ControlPlane);
    let mut actions = Vec::new();

    let network = client.ensure_network(&network_spec(cluster)).await?;
    actions.extend(network.actions);
    let network = network.value;

    let firewall = client
        .ensure_firewall(&FirewallSpec {
            name: format!("{cluster}-control-plane"),
            labels: role_labels(cluster, Role::ControlPlane),
            rules: vec![talos_rule("203.0.113.0/24")],
            apply_to: vec![FirewallTarget::selector(&cp)],
        })
        .await?;
    actions.extend(firewall.actions);

    let group = client
        .ensure_placement_group(
            &format!("{cluster}-control-plane"),
            &role_labels(cluster, Role::ControlPlane),
        )
        .await?;
    actions.extend(group.actions);

    let lb = client
        .ensure_load_balancer(&LoadBalancerSpec {
            name: format!("{cluster}-api"),
            labels: role_labels(cluster, Role::ApiLoadBalancer),
            load_balancer_type: "lb11".into(),
            location: "fsn1".into(),
            network: Some(network.id),
            services: vec![
                Service::tcp(KUBERNETES_API_PORT),
                Service::tcp(TALOS_API_PORT),
            ],
            targets: vec![Target::private_selector(&cp)],
        })
        .await?;
    actions.extend(lb.actions);

    let snapshot_selector = Selector::default().with(labels::TALOS_VERSION, TALOS_VERSION);
    let snapshots = client
        .list_snapshots(&snapshot_selector, Architecture::Arm)
        .await?;
    let image = snapshots.first().expect("seeded Talos snapshot").id;

    let mut servers = Vec::new();
    for n in 1..=count {
        let server = client
            .ensure_server(&ServerSpec {
                name: format!("{cluster}-cp-{n}"),
                server_type: "cax21".into(),
                image: image.to_string(),
                location: "fsn1".into(),
                labels: role_labels(cluster, Role::ControlPlane),
                user_data: Some(format!("#talos machine config for node {n}")),
                networks: vec![network.id],
                firewalls: vec![],
                placement_group: Some(group.value.id),
                enable_ipv4: true,
                enable_ipv6: false,
            })
            .await?;
        actions.extend(server.actions);
        servers.push(server.value.id);
    }
    Ok(ControlPlane {
        network: network.id,
        firewall: firewall.value.id,
        placement_group: group.value.id,
        load_balancer: lb.value.id,
        servers,
        actions,
    })
}

/// Deletes everything in reverse order, waiting for detachments.
pub async fn delete_control_plane(client: &Client, cp: &ControlPlane) -> Result<(), Error> {
    client.delete_servers(&cp.servers).await?;
    client.delete_load_balancer(cp.load_balancer).await?;
    client.delete_firewall(cp.firewall).await?;
    client.delete_placement_group(cp.placement_group).await?;
    client.delete_network(cp.network).await
}
