//! Firewall enforcement on servers' public addresses, as Hetzner does it: an inbound TCP
//! connection is accepted when the server has no firewall, or when a firewall applied to it
//! (directly or by label selector) has an `in` rule for `tcp` whose port (or range) holds the
//! nominal port and whose source CIDRs hold the client's address. The client's address is the
//! peer address of the TCP connection: a test picks its source by binding a loopback address
//! before connecting. Traffic through load balancers and over private networks is not filtered
//! (the forwarder hands connections to the node in-process, so it never reaches this check).

use std::net::IpAddr;

use crate::hcloud::firewalls::firewalls_of_server;
use crate::world::{FirewallRule, World};

/// Whether a connection from `source` to `nominal_port` of server `server_id` passes its firewalls.
pub fn allows(world: &World, server_id: i64, nominal_port: u16, source: IpAddr) -> bool {
    let Some(server) = world.data.servers.get(&server_id) else {
        return false;
    };
    let firewalls = firewalls_of_server(world, server);
    if firewalls.is_empty() {
        return true;
    }
    firewalls
        .iter()
        .filter_map(|id| world.data.firewalls.get(id))
        .flat_map(|f| f.rules.iter())
        .any(|rule| rule_allows(rule, nominal_port, source))
}

/// Whether one rule lets a TCP connection from `source` to `port` in.
pub(crate) fn rule_allows(rule: &FirewallRule, port: u16, source: IpAddr) -> bool {
    rule.direction == "in"
        && rule.protocol == "tcp"
        && port_matches(rule.port.as_deref(), port)
        && rule
            .source_ips
            .iter()
            .any(|cidr| cidr_contains(cidr, source))
}

fn port_matches(spec: Option<&str>, port: u16) -> bool {
    match spec.map(str::trim) {
        None | Some("any") => true,
        Some(spec) => match spec.split_once('-') {
            Some((lo, hi)) => {
                matches!((lo.parse::<u16>(), hi.parse::<u16>()), (Ok(lo), Ok(hi)) if lo <= port && port <= hi)
            }
            None => spec.parse::<u16>() == Ok(port),
        },
    }
}

fn cidr_contains(cidr: &str, ip: IpAddr) -> bool {
    match cidr.parse::<ipnet::IpNet>() {
        Ok(net) => net.contains(&ip),
        Err(_) => cidr.parse::<IpAddr>() == Ok(ip),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(port: &str, source: &str) -> FirewallRule {
        FirewallRule {
            direction: "in".into(),
            protocol: "tcp".into(),
            port: Some(port.into()),
            source_ips: vec![source.into()],
            destination_ips: vec![],
            description: None,
        }
    }

    #[test]
    fn port_and_source_must_both_match() {
        let client: IpAddr = "127.0.0.5".parse().unwrap();
        assert!(rule_allows(&rule("50000", "127.0.0.0/24"), 50000, client));
        assert!(rule_allows(
            &rule("6000-51000", "127.0.0.5/32"),
            50000,
            client
        ));
        assert!(!rule_allows(&rule("6443", "127.0.0.0/24"), 50000, client));
        assert!(!rule_allows(&rule("50000", "127.0.1.0/24"), 50000, client));
    }
}
