//! Typed views of a cluster configuration or plan: the attribute paths the checks and the plan
//! use, and the values the provider derives when the configuration leaves them out.

use ipnet::Ipv4Net;

use crate::hcloud::catalog::{self, NetworkZone};
use crate::hcloud::cidr::{self, AddressPlan, Role};
use crate::resources::config_view as view;
use crate::tfplugin::diag::AttributePath;
use crate::tfplugin::value::Value;

/// Path of a top-level attribute.
pub fn attr(name: &str) -> AttributePath {
    AttributePath::root(name)
}

/// Path of an attribute of `control_plane`.
pub fn control_plane(name: &str) -> AttributePath {
    AttributePath::root("control_plane").attr(name)
}

/// Path of an attribute of `network`.
pub fn network(name: &str) -> AttributePath {
    AttributePath::root("network").attr(name)
}

/// The attribute of `network` holding a range of the address plan.
pub fn network_field(role: Role) -> &'static str {
    match role {
        Role::Network => "cidr",
        Role::NodeSubnet => "node_subnet",
        Role::Pods => "pod_cidr",
        Role::Services => "service_cidr",
    }
}

/// The network zone of the cluster's `location`, when known and valid.
pub fn network_zone(config: &Value) -> Option<NetworkZone> {
    view::string(config, &attr("location"))
        .and_then(|l| catalog::location(l).ok())
        .map(|l| l.network_zone)
}

/// The node subnet derived from a network range when none is given: the second /24 of a network
/// of /23 or wider (as `10.0.1.0/24` in `10.0.0.0/16`), else the whole network.
pub fn derived_node_subnet(network: Ipv4Net) -> Ipv4Net {
    if network.prefix_len() <= 23 {
        let second = u32::from(network.network()).saturating_add(256);
        Ipv4Net::new(second.into(), 24).unwrap_or(network)
    } else {
        network
    }
}

/// The effective address plan of a configuration: given ranges parsed, missing ones defaulted
/// (derived from the network range where it applies), unknown or invalid ones `None` (invalid
/// ones are reported by the attribute validators).
pub fn address_plan(config: &Value) -> AddressPlan {
    let defaults = AddressPlan::defaults();
    let network_unknown = view::is_unknown(config, &attr("network"));
    let existing_network = view::known(config, &network("existing_network_id")).is_some();
    let range = |role: Role, default: Option<Ipv4Net>| -> Option<Ipv4Net> {
        let path = network(network_field(role));
        if network_unknown || view::is_unknown(config, &path) {
            return None;
        }
        match view::string(config, &path) {
            Some(text) => cidr::parse(role, text).ok(),
            None => default,
        }
    };
    let network_range = if existing_network {
        range(Role::Network, None)
    } else {
        range(Role::Network, defaults.network)
    };
    let node_default = match (view::string(config, &network("cidr")), network_range) {
        (Some(_), Some(net)) => Some(derived_node_subnet(net)),
        (Some(_), None) => None,
        (None, _) => defaults.node_subnet,
    };
    AddressPlan {
        network: network_range,
        node_subnet: range(Role::NodeSubnet, node_default),
        pods: range(Role::Pods, defaults.pods),
        services: range(Role::Services, defaults.services),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_subnet_derivation() {
        let net = |s: &str| s.parse::<Ipv4Net>().unwrap();
        assert_eq!(derived_node_subnet(net("10.0.0.0/16")), net("10.0.1.0/24"));
        assert_eq!(
            derived_node_subnet(net("172.16.0.0/12")),
            net("172.16.1.0/24")
        );
        assert_eq!(
            derived_node_subnet(net("192.168.5.0/24")),
            net("192.168.5.0/24")
        );
    }

    #[test]
    fn address_plan_defaults_and_overrides() {
        let config = Value::object([("network", Value::Null)]);
        assert_eq!(address_plan(&config), AddressPlan::defaults());
        let config = Value::object([(
            "network",
            Value::object([
                ("cidr", Value::from("10.20.0.0/16")),
                ("node_subnet", Value::Null),
                ("pod_cidr", Value::Unknown),
                ("service_cidr", Value::Null),
                ("existing_network_id", Value::Null),
            ]),
        )]);
        let plan = address_plan(&config);
        assert_eq!(plan.node_subnet, Some("10.20.1.0/24".parse().unwrap()));
        assert_eq!(plan.pods, None);
        assert!(plan.check().is_empty());
    }
}
