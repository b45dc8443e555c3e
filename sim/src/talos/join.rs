//! Whether a worker's own machine configuration joins it to its cluster, as its kubelet finds
//! out when it bootstraps: it dials the cluster endpoint (`cluster.controlPlane.endpoint`, or
//! `KubeClusterConfig.endpoint`), checks the API server's certificate against the Kubernetes CA
//! of its configuration (`cluster.ca.crt`), and asks for its client certificate with the
//! bootstrap token (`cluster.token`), which only works when a control plane of the cluster runs
//! with the same token (each control plane publishes its own as a bootstrap token).
//!
//! The endpoint's host is reachable when it is:
//! - the public IPv4 of a load balancer (public interface enabled), or its private IP in a network
//!   the worker is attached to, with a `tcp` service listening on the endpoint's port that
//!   forwards to 6443 of a control plane whose API server runs (a target the balancer reaches:
//!   private-IP targets must share a network with it);
//! - a control plane's public IPv4 on 6443, when its firewalls let the worker's public IPv4 in;
//! - a control plane's private IP on 6443, from a worker in one of its networks (private
//!   networks are not firewalled).
//!
//! Anything else does not answer: hostnames do not resolve (the sim has no DNS), other addresses
//! time out. The first failure is what the kubelet reports (`talos_nodes[].kubelet_error` in
//! `/_sim/state`), in client-go's words.
//!
//! Control planes are not checked: their kubelet reaches the API server running on the node
//! itself, and their own token and CA are the cluster's.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use super::KUBE_PORT;
use super::config::Role;
use super::state::{Fleet, Node};
use crate::world::{FirewallRule, LbTarget, World};

/// What a load balancer offers a kubelet.
#[derive(Debug, Clone)]
struct LbReach {
    public: Option<Ipv4Addr>,
    private: Vec<(i64, Ipv4Addr)>,
    /// tcp services: `(listen port, destination port)`.
    services: Vec<(u16, u16)>,
    /// Servers it forwards to (those it can reach: private-IP targets share a network with it).
    targets: Vec<i64>,
}

/// The parts of the Hetzner world that decide whether a kubelet reaches an endpoint, copied out
/// of the world so that the check runs under the fleet lock alone.
#[derive(Debug, Clone, Default)]
pub struct Reach {
    lbs: Vec<LbReach>,
    /// Networks of each server.
    networks: BTreeMap<i64, Vec<i64>>,
    /// Inbound rules of the firewalls applied to each server (absent: no firewall).
    firewall_rules: BTreeMap<i64, Vec<FirewallRule>>,
}

impl Reach {
    /// Copies what it needs out of the world.
    pub fn capture(world: &World) -> Reach {
        let networks: BTreeMap<i64, Vec<i64>> = world
            .data
            .servers
            .values()
            .map(|s| (s.id, s.private_net.iter().map(|n| n.network).collect()))
            .collect();
        let mut firewall_rules = BTreeMap::new();
        for server in world.data.servers.values() {
            let applied = crate::hcloud::firewalls::firewalls_of_server(world, server);
            if applied.is_empty() {
                continue;
            }
            let rules: Vec<FirewallRule> = applied
                .iter()
                .filter_map(|id| world.data.firewalls.get(id))
                .flat_map(|f| f.rules.iter().cloned())
                .collect();
            firewall_rules.insert(server.id, rules);
        }
        let lbs = world
            .data
            .load_balancers
            .values()
            .map(|lb| {
                let lb_networks: Vec<i64> = lb.private_net.iter().map(|(n, _)| *n).collect();
                let shares_network = |server: i64| {
                    networks
                        .get(&server)
                        .is_some_and(|ns| ns.iter().any(|n| lb_networks.contains(n)))
                };
                let mut targets = Vec::new();
                for t in &lb.targets {
                    let (ids, private): (Vec<i64>, bool) = match t {
                        LbTarget::Server { id, use_private_ip } => (vec![*id], *use_private_ip),
                        LbTarget::LabelSelector {
                            selector,
                            use_private_ip,
                        } => (
                            crate::hcloud::servers::servers_matching(world, selector)
                                .iter()
                                .map(|s| s.id)
                                .collect(),
                            *use_private_ip,
                        ),
                        LbTarget::Ip(_) => (Vec::new(), false),
                    };
                    targets.extend(ids.into_iter().filter(|id| !private || shares_network(*id)));
                }
                LbReach {
                    public: lb.public_enabled.then_some(lb.ipv4),
                    private: lb.private_net.clone(),
                    services: lb
                        .services
                        .iter()
                        .filter(|s| s.protocol == "tcp")
                        .filter_map(|s| {
                            Some((
                                u16::try_from(s.listen_port).ok()?,
                                u16::try_from(s.destination_port).ok()?,
                            ))
                        })
                        .collect(),
                    targets,
                }
            })
            .collect();
        Reach {
            lbs,
            networks,
            firewall_rules,
        }
    }

    fn shares_network(&self, a: i64, b: i64) -> bool {
        let (Some(a), Some(b)) = (self.networks.get(&a), self.networks.get(&b)) else {
            return false;
        };
        a.iter().any(|n| b.contains(n))
    }

    fn in_network(&self, server: i64, network: i64) -> bool {
        self.networks
            .get(&server)
            .is_some_and(|ns| ns.contains(&network))
    }

    fn firewall_allows(&self, server: i64, port: u16, source: Ipv4Addr) -> bool {
        self.firewall_rules.get(&server).is_none_or(|rules| {
            rules
                .iter()
                .any(|r| crate::netfilter::rule_allows(r, port, IpAddr::V4(source)))
        })
    }
}

/// `https://host[:port]` → host and port (443 when none is given).
fn host_and_port(endpoint: &str) -> Option<(String, u16)> {
    let host = super::checks::endpoint_host(endpoint).ok()?;
    let authority = endpoint.strip_prefix("https://")?.split('/').next()?;
    let port = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => p.parse().ok()?,
        _ => 443,
    };
    Some((host, port))
}

/// Whether a control plane's Kubernetes API server runs (it serves once etcd is bootstrapped).
fn api_server_runs(fleet: &Fleet, node: &Node) -> bool {
    node.is_up()
        && node.is_control_plane()
        && node
            .cluster_key()
            .is_some_and(|k| fleet.clusters.get(&k).is_some_and(|c| c.bootstrapped))
}

/// Where a dial of `ip:port` from `worker` ends: the API server it reaches, or client-go's error.
fn dial<'a>(
    fleet: &'a Fleet,
    reach: &Reach,
    worker: &Node,
    ip: Ipv4Addr,
    port: u16,
) -> Result<&'a Node, String> {
    let address = format!("{ip}:{port}");
    for lb in &reach.lbs {
        let via_public = lb.public == Some(ip);
        let via_private = lb
            .private
            .iter()
            .any(|(net, lb_ip)| *lb_ip == ip && reach.in_network(worker.server_id, *net));
        if !via_public && !via_private {
            continue;
        }
        let Some((_, destination)) = lb.services.iter().find(|(listen, _)| *listen == port) else {
            return Err(format!("dial tcp {address}: connect: connection refused"));
        };
        if *destination != KUBE_PORT {
            return Err(format!(
                "read tcp {address}: read: connection reset by peer (the load balancer forwards to port {destination}, not to an API server)"
            ));
        }
        // A balancer without a healthy target accepts the connection and closes it.
        return lb
            .targets
            .iter()
            .filter_map(|id| fleet.nodes.get(id))
            .find(|n| api_server_runs(fleet, n))
            .ok_or_else(|| format!("read tcp {address}: read: connection reset by peer"));
    }
    let by_public = fleet.nodes.values().find(|n| n.ip == ip);
    let by_private = fleet.nodes.values().find(|n| {
        n.private_ips().any(|p| p == ip) && reach.shares_network(n.server_id, worker.server_id)
    });
    let target = match (by_public, by_private) {
        (Some(n), _) if n.server_id == worker.server_id => None,
        (Some(n), _) if !reach.firewall_allows(n.server_id, port, worker.ip) => {
            return Err(format!("dial tcp {address}: i/o timeout"));
        }
        (Some(n), _) | (None, Some(n)) => Some(n),
        (None, None) => {
            return Err(format!("dial tcp {address}: i/o timeout"));
        }
    };
    match target {
        Some(n) if port == KUBE_PORT && api_server_runs(fleet, n) => Ok(n),
        _ => Err(format!("dial tcp {address}: connect: connection refused")),
    }
}

/// Why the kubelet of a configured worker cannot join its cluster, if it cannot.
pub fn kubelet_error(fleet: &Fleet, reach: &Reach, node: &Node) -> Option<String> {
    let cfg = node.config.as_ref()?;
    if cfg.role != Role::Worker {
        return None;
    }
    let Some((host, port)) = host_and_port(&cfg.endpoint) else {
        return Some(format!("invalid cluster endpoint {:?}", cfg.endpoint));
    };
    let csr_url = format!(
        "{}/apis/certificates.k8s.io/v1/certificatesigningrequests",
        cfg.endpoint.trim_end_matches('/')
    );
    let fail = |why: String| {
        Some(format!(
            "unable to bootstrap the kubelet client certificate: Post \"{csr_url}\": {why}"
        ))
    };
    let ip = match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => ip,
        Ok(IpAddr::V6(_)) => {
            return fail(format!(
                "dial tcp [{host}]:{port}: connect: network is unreachable"
            ));
        }
        Err(_) => return fail(format!("dial tcp: lookup {host}: no such host")),
    };
    let server = match dial(fleet, reach, node, ip, port) {
        Ok(server) => server,
        Err(why) => return fail(why),
    };
    let server_cfg = server.config.as_ref()?;
    if server_cfg.kube_ca_crt.trim() != cfg.kube_ca_crt.trim() {
        return fail(
            "tls: failed to verify certificate: x509: certificate signed by unknown authority"
                .into(),
        );
    }
    let server_cluster = server.cluster_key();
    let token_known = server_cluster.as_deref().is_some_and(|key| {
        fleet
            .cluster_nodes(key)
            .filter(|n| n.is_control_plane())
            .filter_map(|n| n.config.as_ref())
            .any(|c| c.cluster_token == cfg.cluster_token)
    });
    if !token_known {
        return Some(
            "failed to run Kubelet: cannot create certificate signing request: Unauthorized".into(),
        );
    }
    if server_cluster != node.cluster_key() {
        return Some(
            "the endpoint's API server belongs to a cluster of another OS CA (machine.ca): the sim keeps every node in the cluster of its OS CA".into(),
        );
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_default_to_port_443() {
        assert_eq!(
            host_and_port("https://10.0.1.254:6443"),
            Some(("10.0.1.254".into(), 6443))
        );
        assert_eq!(
            host_and_port("https://api.example.com"),
            Some(("api.example.com".into(), 443))
        );
        assert_eq!(host_and_port("http://10.0.0.1"), None);
    }
}
