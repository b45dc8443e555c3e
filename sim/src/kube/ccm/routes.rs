//! The CCM's route controller (Kubernetes' route controller with `hcloud/routes.go`): every
//! initialised node with a pod CIDR gets a route in the CCM's network, destination = the pod
//! CIDR, gateway = the node's private IP; routes inside the cluster CIDR that match no node (or
//! point at the wrong gateway) are deleted. Changes go through the network's `add_route` /
//! `delete_route` actions, so they show in `GET /v1/networks/{id}` and its actions.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use ipnet::Ipv4Net;

use crate::hcloud::error::FieldErrors;
use crate::hcloud::networks::build_route;
use crate::stats::Component;
use crate::world::{Effect, World};

/// Where one node's pods are routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTarget {
    /// The node's pod CIDR.
    pub pod_cidr: Ipv4Net,
    /// The node's private IP in the network.
    pub gateway: Ipv4Addr,
}

/// Brings the network's routes in line with `targets` (only routes inside `cluster_cidr` are the
/// controller's to delete).
pub fn reconcile(world: &mut World, network: i64, cluster_cidr: Ipv4Net, targets: &[RouteTarget]) {
    let Some(net) = world.data.networks.get(&network) else {
        return;
    };
    let desired: BTreeMap<Ipv4Net, Ipv4Addr> =
        targets.iter().map(|t| (t.pod_cidr, t.gateway)).collect();
    let stale: Vec<_> = net
        .routes
        .iter()
        .filter(|r| cluster_cidr.contains(&r.destination))
        .filter(|r| desired.get(&r.destination) != Some(&r.gateway))
        .cloned()
        .collect();
    let missing: Vec<(Ipv4Net, Ipv4Addr)> = desired
        .iter()
        .filter(|(d, g)| {
            !net.routes
                .iter()
                .any(|r| r.destination == **d && r.gateway == **g)
        })
        .map(|(d, g)| (*d, *g))
        .collect();
    if stale.is_empty() && missing.is_empty() {
        return;
    }
    // The route controller lists the routes (the network and the servers) before it changes any.
    if !world.component_request(Component::Ccm, "GET /networks/{id}")
        || !world.component_request(Component::Ccm, "GET /servers")
    {
        return;
    }
    for route in stale {
        if world.has_running_action("network", network)
            || !world.component_request(Component::Ccm, "POST /networks/{id}/actions/delete_route")
        {
            return;
        }
        if let Some(n) = world.data.networks.get_mut(&network) {
            n.routes.retain(|r| *r != route);
        }
        world.create_action(
            "delete_route",
            &[(network, "network")],
            Effect::None,
            Duration::ZERO,
        );
    }
    for (destination, gateway) in missing {
        let Some(net) = world.data.networks.get(&network) else {
            return;
        };
        let mut fields = FieldErrors::default();
        let route = build_route(
            net,
            Some(&destination.to_string()),
            Some(&gateway.to_string()),
            &mut fields,
        );
        let (Some(route), Ok(())) = (route, fields.finish()) else {
            tracing::warn!(%destination, %gateway, "CCM stand-in: Hetzner refuses this route");
            continue;
        };
        if world.has_running_action("network", network)
            || !world.component_request(Component::Ccm, "POST /networks/{id}/actions/add_route")
        {
            return;
        }
        if let Some(n) = world.data.networks.get_mut(&network) {
            n.routes.push(route);
        }
        world.create_action(
            "add_route",
            &[(network, "network")],
            Effect::None,
            Duration::ZERO,
        );
    }
}
