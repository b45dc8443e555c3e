//! The cluster's Hetzner objects around the servers: private network and node subnet, the
//! control-plane firewall, one spread placement group per control-plane location, the API load
//! balancer, and the Talos snapshot per architecture. Every object is found by name and labels
//! before it is created (see `hcloud::ensure`), so this step converges whenever it runs; what
//! drifted (firewall rules, missing load-balancer services or targets, the network attachment) is
//! put back. Independent objects are ensured concurrently and their actions returned for one
//! batched wait.

use std::collections::BTreeMap;

use crate::hcloud::error::ActionFailure;
use crate::hcloud::firewalls::{
    Direction, Firewall, FirewallRule, FirewallSpec, FirewallTarget, Protocol,
};
use crate::hcloud::labels::{Labels, Role, Selector};
use crate::hcloud::load_balancers::{
    KUBERNETES_API_PORT, LoadBalancer, LoadBalancerSpec, Service, TALOS_API_PORT, Target,
};
use crate::hcloud::networks::{Network, NetworkSpec as HcloudNetworkSpec, SubnetSpec};
use crate::hcloud::placement_groups::PlacementGroup;
use crate::hcloud::{Action, Client, Error, StepRetry};

use crate::resources::fleet::removal::LEAVING_LABEL;

use super::spec::ClusterSpec;

/// The cluster's objects once ensured.
#[derive(Debug, Clone)]
pub struct Infra {
    /// Private network.
    pub network: Network,
    /// Control-plane firewall.
    pub firewall: Firewall,
    /// Spread group per location.
    pub placement_groups: BTreeMap<String, PlacementGroup>,
    /// API load balancer.
    pub load_balancer: LoadBalancer,
}

impl Infra {
    /// The load balancer's public IPv4, where Kubernetes (6443) and Talos (50000) are served.
    pub fn public_ipv4(&self) -> Option<&str> {
        self.load_balancer.public_ipv4()
    }
}

/// Labels every object of the cluster carries, plus its role.
pub fn role_labels(cluster: &str, role: Role) -> Labels {
    Selector::cluster(cluster).role(role).labels()
}

/// Selector of the cluster's control-plane servers.
pub fn control_plane_selector(cluster: &str) -> Selector {
    Selector::cluster(cluster).role(Role::ControlPlane)
}

/// Name of the placement group of the control planes in `location`.
pub fn placement_group_name(cluster: &str, location: &str) -> String {
    format!("{cluster}-cp-{location}")
}

/// Name of the control-plane firewall.
pub fn firewall_name(cluster: &str) -> String {
    format!("{cluster}-control-plane")
}

/// What the cluster firewall applies to: every server of the cluster (control planes and pool
/// nodes), so that no node accepts public traffic the configuration does not allow.
pub fn firewall_target(cluster: &str) -> FirewallTarget {
    FirewallTarget::selector(&crate::hcloud::labels::Selector::cluster(cluster))
}

/// Name of the API load balancer.
pub fn load_balancer_name(cluster: &str) -> String {
    format!("{cluster}-api")
}

/// The firewall rules the configuration asks for: nothing inbound unless sources are given.
pub fn firewall_rules(spec: &ClusterSpec) -> Vec<FirewallRule> {
    let rule = |port: u16, sources: &[String], description: &str| FirewallRule {
        direction: Direction::In,
        protocol: Protocol::Tcp,
        port: Some(port.to_string()),
        source_ips: sources.to_vec(),
        destination_ips: Vec::new(),
        description: Some(description.to_owned()),
    };
    let mut rules = Vec::new();
    if !spec.talos_api_sources.is_empty() {
        rules.push(rule(TALOS_API_PORT, &spec.talos_api_sources, "Talos API"));
    }
    if !spec.kube_api_sources.is_empty() {
        rules.push(rule(
            KUBERNETES_API_PORT,
            &spec.kube_api_sources,
            "Kubernetes API",
        ));
    }
    rules
}

/// Whether two rule sets allow the same traffic (order and descriptions aside).
pub fn same_rules(live: &[FirewallRule], wanted: &[FirewallRule]) -> bool {
    let key = |r: &FirewallRule| {
        let mut sources = r.source_ips.clone();
        sources.sort();
        (r.direction, r.protocol, r.port.clone(), sources)
    };
    let mut a: Vec<_> = live.iter().map(key).collect();
    let mut b: Vec<_> = wanted.iter().map(key).collect();
    a.sort();
    b.sort();
    a == b
}

/// The load balancer the configuration asks for.
pub fn load_balancer_spec(spec: &ClusterSpec, network: i64) -> LoadBalancerSpec {
    LoadBalancerSpec {
        name: load_balancer_name(&spec.name),
        labels: role_labels(&spec.name, Role::ApiLoadBalancer),
        load_balancer_type: spec.load_balancer_type.clone(),
        location: spec.load_balancer_location.clone(),
        network: Some(network),
        services: vec![
            Service::tcp(KUBERNETES_API_PORT),
            Service::tcp(TALOS_API_PORT),
        ],
        targets: vec![load_balancer_target(&spec.name)],
    }
}

/// The API load balancer's target: the control planes, except one that is leaving (labelled
/// [`LEAVING_LABEL`] before it leaves, so that no new connection reaches it).
pub fn load_balancer_target(cluster: &str) -> Target {
    Target::LabelSelector {
        selector: format!("{},!{LEAVING_LABEL}", control_plane_selector(cluster)),
        use_private_ip: true,
    }
}

/// The target clusters made before [`load_balancer_target`] excluded leaving nodes; replaced
/// by the next apply.
pub fn legacy_load_balancer_target(cluster: &str) -> Target {
    Target::private_selector(&control_plane_selector(cluster))
}

/// Why the objects around the servers could not be ensured.
#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    /// `network.existing_network_id` names no network.
    #[error(
        "network.existing_network_id: network {0} does not exist in this Hetzner project (or the token cannot see it)"
    )]
    NetworkMissing(i64),
    /// A Hetzner call failed.
    #[error(transparent)]
    Api(#[from] Error),
}

async fn ensure_network(
    client: &Client,
    spec: &ClusterSpec,
) -> Result<(Network, Vec<Action>), InfraError> {
    let subnet = SubnetSpec {
        ip_range: spec.network.node_subnet,
        network_zone: spec.network_zone,
    };
    if let Some(id) = spec.network.existing_network_id {
        let network = client
            .get_network(id)
            .await?
            .ok_or(InfraError::NetworkMissing(id))?;
        let mut actions = Vec::new();
        if !network
            .subnets
            .iter()
            .any(|s| s.ip_range == subnet.ip_range.to_string())
        {
            actions.push(client.add_subnet(id, &subnet).await?);
        }
        return Ok((network, actions));
    }
    let pending = client
        .ensure_network(&HcloudNetworkSpec {
            name: spec.name.clone(),
            ip_range: spec.network.cidr,
            subnets: vec![subnet],
            labels: Selector::cluster(&spec.name).labels(),
        })
        .await?;
    Ok((pending.value, pending.actions))
}

async fn ensure_firewall(
    client: &Client,
    spec: &ClusterSpec,
) -> Result<(Firewall, Vec<Action>), Error> {
    let wanted = firewall_rules(spec);
    let pending = client
        .ensure_firewall(&FirewallSpec {
            name: firewall_name(&spec.name),
            labels: role_labels(&spec.name, Role::ControlPlane),
            rules: wanted.clone(),
            apply_to: vec![firewall_target(&spec.name)],
        })
        .await?;
    let mut firewall = pending.value;
    let mut actions = pending.actions;
    // Clusters made before pools existed applied the firewall to the control planes only.
    let legacy = FirewallTarget::selector(&control_plane_selector(&spec.name));
    if firewall.applied_to.contains(&legacy) {
        actions.extend(
            client
                .remove_firewall(firewall.id, std::slice::from_ref(&legacy))
                .await?,
        );
        firewall.applied_to.retain(|t| *t != legacy);
    }
    if !same_rules(&firewall.rules, &wanted) {
        actions.extend(client.set_firewall_rules(firewall.id, &wanted).await?);
        firewall.rules = wanted;
    }
    Ok((firewall, actions))
}

async fn ensure_placement_groups(
    client: &Client,
    spec: &ClusterSpec,
) -> Result<(BTreeMap<String, PlacementGroup>, Vec<Action>), Error> {
    let mut groups = BTreeMap::new();
    let mut actions = Vec::new();
    for location in &spec.control_plane.locations {
        let mut group_labels = role_labels(&spec.name, Role::ControlPlane);
        group_labels.insert(LOCATION_LABEL.to_owned(), location.clone());
        let pending = client
            .ensure_placement_group(&placement_group_name(&spec.name, location), &group_labels)
            .await?;
        actions.extend(pending.actions);
        groups.insert(location.clone(), pending.value);
    }
    Ok((groups, actions))
}

/// Label naming the location a placement group serves.
pub const LOCATION_LABEL: &str = "hk8s.io/location";

/// Ensures every object around the servers; returns them with the actions still to settle.
///
/// # Errors
/// The first Hetzner error (objects made so far stay and are adopted by the next run).
pub async fn ensure(
    client: &Client,
    spec: &ClusterSpec,
) -> Result<(Infra, Vec<Action>), InfraError> {
    let network_and_lb = async {
        let (network, mut actions) = ensure_network(client, spec).await?;
        let lb = client
            .ensure_load_balancer(&load_balancer_spec(spec, network.id))
            .await?;
        actions.extend(lb.actions);
        let mut load_balancer = lb.value;
        let legacy = legacy_load_balancer_target(&spec.name);
        if load_balancer.targets.contains(&legacy) {
            tracing::info!(
                load_balancer = load_balancer.id,
                "replacing the load balancer's target with one that excludes leaving nodes"
            );
            actions.push(client.remove_target(load_balancer.id, &legacy).await?);
            load_balancer.targets.retain(|t| *t != legacy);
        }
        if load_balancer.load_balancer_type.name != spec.load_balancer_type {
            actions.push(
                client
                    .change_load_balancer_type(load_balancer.id, &spec.load_balancer_type)
                    .await?,
            );
            load_balancer.load_balancer_type.name = spec.load_balancer_type.clone();
        }
        Ok::<_, InfraError>((network, load_balancer, actions))
    };
    let ((network, load_balancer, mut actions), (firewall, fw_actions), (groups, pg_actions)) = tokio::try_join!(
        network_and_lb,
        async { Ok::<_, InfraError>(ensure_firewall(client, spec).await?) },
        async { Ok::<_, InfraError>(ensure_placement_groups(client, spec).await?) }
    )?;
    actions.extend(fw_actions);
    actions.extend(pg_actions);
    Ok((
        Infra {
            network,
            firewall,
            placement_groups: groups,
            load_balancer,
        },
        actions,
    ))
}

/// Settles actions of the objects around the servers, retrying failed ones (see [`retry_failed`]).
///
/// # Errors
/// As [`retry_failed`], and the wait's own errors (deadline, cancellation).
pub async fn settle(
    client: &Client,
    spec: &ClusterSpec,
    infra: &mut Infra,
    what: &str,
    actions: Vec<Action>,
) -> Result<(), InfraError> {
    let settled = client.settle_actions(what, actions).await?;
    retry_failed(client, spec, infra, what, settled.failed).await
}

/// Retries the failed actions of the objects around the servers: the objects are ensured again,
/// which checks what is and puts back whatever a failed action did not do (a subnet, a load
/// balancer's service, target or network attachment, firewall rules), and what that starts is
/// settled; with backoff, at most [`StepRetry::attempts`] tries in all. `infra` becomes what the
/// last ensure found.
///
/// # Errors
/// [`Error::StepFailed`] naming `what` and the last failed action when every try failed.
pub async fn retry_failed(
    client: &Client,
    spec: &ClusterSpec,
    infra: &mut Infra,
    what: &str,
    mut failed: Vec<ActionFailure>,
) -> Result<(), InfraError> {
    let retry = StepRetry::for_poll_interval(client.poll_interval());
    let mut attempt = 1;
    while !failed.is_empty() {
        let last = Error::ActionsFailed {
            what: what.to_owned(),
            failures: failed,
        };
        retry
            .again(client.deadline(), what, attempt, last)
            .await
            .map_err(InfraError::Api)?;
        attempt += 1;
        let (fresh, actions) = ensure(client, spec).await?;
        *infra = fresh;
        failed = client.settle_actions(what, actions).await?.failed;
    }
    Ok(())
}
