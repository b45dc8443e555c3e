//! A stand-in for the hcloud cloud controller manager's load balancers: while the
//! `hcloud-cloud-controller-manager` chart is deployed in a cluster, every `Service` of type
//! `LoadBalancer` gets a Hetzner load balancer created through the sim's world (so it appears in
//! `GET /v1/load_balancers`, as if the CCM had called the API):
//!
//! - name: annotation `load-balancer.hetzner.cloud/name`, else Kubernetes'
//!   `DefaultLoadBalancerName` that the CCM uses (`a` + the Service uid without dashes, cut to 32
//!   characters);
//! - label `hcloud-ccm/service-uid=<uid>`; type from `load-balancer.hetzner.cloud/type` (lb11);
//! - location from `load-balancer.hetzner.cloud/location`, else the cluster's first control
//!   plane's server location;
//! - attached to the cluster's private network (the first network its servers are attached to);
//! - one `tcp` service per Service port (`listen_port` = port, `destination_port` = the port's
//!   `nodePort`, allocated from 30000 when missing);
//! - targets: one `server` target per node of the cluster, on its private IP when the balancer
//!   is in a network.
//!
//! The Service's `status.loadBalancer.ingress[0].ip` gets the balancer's public IPv4. Deleting the
//! Service deletes the balancer. When the CCM is not deployed nothing happens: balancers created
//! earlier stay, as they do on Hetzner.
//!
//! The plan is made under the fleet lock ([`plan`]), carried out under the world lock
//! ([`carry_out`]) and recorded under the fleet lock again ([`record`]), because the two locks are
//! never held together.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde_json::{Value, json};

use super::store::Store;
use crate::hcloud::load_balancers::{ServiceRequest, build_service};
use crate::hcloud::networks::allocate_private_ip;
use crate::world::{Effect, LbTarget, LoadBalancer, World, WorldEvent};

/// The CCM chart's name.
pub const CCM_CHART: &str = "hcloud-cloud-controller-manager";
/// Label the CCM puts on its load balancers.
pub const SERVICE_UID_LABEL: &str = "hcloud-ccm/service-uid";

/// A load balancer the CCM stand-in created for a Service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CcmLoadBalancer {
    /// Hetzner id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// The Service `(namespace, name)`.
    pub service: (String, String),
    /// Public IPv4.
    pub ipv4: Ipv4Addr,
}

/// Something to do in the world for one cluster.
#[derive(Debug, Clone)]
pub enum LbOp {
    /// Create or update the balancer of a Service.
    Ensure {
        /// Cluster key.
        cluster: String,
        /// Service namespace and name.
        service: (String, String),
        /// Service uid.
        uid: String,
        /// Balancer name.
        name: String,
        /// Balancer type.
        lb_type: String,
        /// Location from the annotation, if any.
        location: Option<String>,
        /// `(port, nodePort)` per Service port.
        ports: Vec<(i32, i32)>,
        /// The cluster's servers (control planes first).
        servers: Vec<i64>,
    },
    /// Delete the balancer of a Service that is gone.
    Delete {
        /// Cluster key.
        cluster: String,
        /// The Service uid it was for.
        uid: String,
        /// The balancer.
        id: i64,
    },
}

/// What carrying out an op produced.
#[derive(Debug, Clone)]
pub enum LbOutcome {
    /// The balancer exists.
    Ensured {
        /// Cluster key.
        cluster: String,
        /// Service uid.
        uid: String,
        /// The balancer.
        lb: CcmLoadBalancer,
    },
    /// The balancer is gone.
    Deleted {
        /// Cluster key.
        cluster: String,
        /// Service uid.
        uid: String,
    },
}

/// The CCM's default balancer name: `a` + uid without dashes, at most 32 characters.
pub fn default_name(uid: &str) -> String {
    let mut name = format!("a{}", uid.replace('-', ""));
    name.truncate(32);
    name
}

/// Gives the LoadBalancer Service ports node ports (30000 upwards, skipping used ones).
fn assign_node_ports(store: &mut Store, timestamp: &str) {
    let services = store.items("v1", "services");
    let mut used: BTreeSet<i64> = services
        .iter()
        .flat_map(|s| s["spec"]["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["nodePort"].as_i64())
        .collect();
    for mut svc in services {
        if svc["spec"]["type"] != "LoadBalancer" {
            continue;
        }
        let mut changed = false;
        for port in svc["spec"]["ports"].as_array_mut().into_iter().flatten() {
            if port.is_object() && port["nodePort"].is_null() {
                let next = (30000..32768).find(|p| !used.contains(p)).unwrap_or(30000);
                used.insert(next);
                port["nodePort"] = json!(next);
                changed = true;
            }
        }
        if changed {
            store.put("v1", "services", svc, timestamp);
        }
    }
}

/// The ops for one cluster (`servers`: its nodes' server ids, control planes first).
pub fn plan(cluster: &str, store: &mut Store, servers: Vec<i64>, timestamp: &str) -> Vec<LbOp> {
    if !super::helm::deployed(store, CCM_CHART) {
        return Vec::new();
    }
    assign_node_ports(store, timestamp);
    let mut ops = Vec::new();
    let mut wanted = BTreeSet::new();
    for svc in store.items("v1", "services") {
        if svc["spec"]["type"] != "LoadBalancer" || svc["metadata"]["deletionTimestamp"].is_string()
        {
            continue;
        }
        let uid = svc["metadata"]["uid"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let annotation = |k: &str| {
            svc["metadata"]["annotations"][k]
                .as_str()
                .map(str::to_string)
        };
        wanted.insert(uid.clone());
        ops.push(LbOp::Ensure {
            cluster: cluster.to_string(),
            service: (
                svc["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                svc["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            ),
            name: annotation("load-balancer.hetzner.cloud/name")
                .unwrap_or_else(|| default_name(&uid)),
            lb_type: annotation("load-balancer.hetzner.cloud/type")
                .unwrap_or_else(|| "lb11".into()),
            location: annotation("load-balancer.hetzner.cloud/location"),
            ports: svc["spec"]["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| {
                    Some((
                        i32::try_from(p["port"].as_i64()?).ok()?,
                        i32::try_from(p["nodePort"].as_i64()?).ok()?,
                    ))
                })
                .collect(),
            servers: servers.clone(),
            uid,
        });
    }
    for (uid, lb) in &store.ccm_load_balancers {
        if !wanted.contains(uid) {
            ops.push(LbOp::Delete {
                cluster: cluster.to_string(),
                uid: uid.clone(),
                id: lb.id,
            });
        }
    }
    ops
}

fn lb_services(ports: &[(i32, i32)]) -> Vec<crate::world::LbService> {
    ports
        .iter()
        .filter_map(|(port, node_port)| {
            build_service(
                &ServiceRequest {
                    protocol: Some("tcp".into()),
                    listen_port: Some(*port),
                    destination_port: Some(*node_port),
                    ..ServiceRequest::default()
                },
                None,
            )
            .ok()
        })
        .collect()
}

/// Carries out the ops in the world (as the CCM's API calls would).
pub fn carry_out(world: &mut World, ops: Vec<LbOp>) -> Vec<LbOutcome> {
    let mut out = Vec::new();
    for op in ops {
        match op {
            LbOp::Delete { cluster, uid, id } => {
                if let Some(lb) = world.data.load_balancers.remove(&id) {
                    world.emit(WorldEvent::LoadBalancerDeleted { id, ipv4: lb.ipv4 });
                    world.create_action(
                        "delete_load_balancer",
                        &[(id, "load_balancer")],
                        Effect::None,
                        Duration::ZERO,
                    );
                }
                out.push(LbOutcome::Deleted { cluster, uid });
            }
            LbOp::Ensure {
                cluster,
                service,
                uid,
                name,
                lb_type,
                location,
                ports,
                servers,
            } => {
                let network = servers
                    .iter()
                    .filter_map(|id| world.data.servers.get(id))
                    .find_map(|s| s.private_net.first().map(|n| n.network));
                let targets: Vec<LbTarget> = servers
                    .iter()
                    .filter(|id| world.data.servers.contains_key(id))
                    .map(|id| LbTarget::Server {
                        id: *id,
                        use_private_ip: network.is_some(),
                    })
                    .collect();
                let services = lb_services(&ports);
                let existing = world
                    .data
                    .load_balancers
                    .values()
                    .find(|lb| lb.labels.get(SERVICE_UID_LABEL) == Some(&uid))
                    .map(|lb| lb.id);
                let id = match existing {
                    Some(id) => {
                        let Some(lb) = world.data.load_balancers.get_mut(&id) else {
                            continue;
                        };
                        let ports_now: Vec<(i32, i32)> = lb
                            .services
                            .iter()
                            .map(|s| (s.listen_port, s.destination_port))
                            .collect();
                        if lb.targets != targets || ports_now != ports {
                            lb.targets = targets;
                            lb.services = services;
                            let ipv4 = lb.ipv4;
                            world.emit(WorldEvent::LoadBalancerChanged { id, ipv4 });
                        }
                        id
                    }
                    None => match create(
                        world, &name, &lb_type, location, network, &servers, services, targets,
                        &uid,
                    ) {
                        Some(id) => id,
                        None => continue,
                    },
                };
                let lb = &world.data.load_balancers[&id];
                out.push(LbOutcome::Ensured {
                    cluster,
                    uid,
                    lb: CcmLoadBalancer {
                        id,
                        name: lb.name.clone(),
                        service,
                        ipv4: lb.ipv4,
                    },
                });
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn create(
    world: &mut World,
    name: &str,
    lb_type: &str,
    location: Option<String>,
    network: Option<i64>,
    servers: &[i64],
    services: Vec<crate::world::LbService>,
    targets: Vec<LbTarget>,
    uid: &str,
) -> Option<i64> {
    if world.data.load_balancers.values().any(|l| l.name == name) {
        tracing::warn!(
            name,
            "CCM stand-in: a load balancer with this name exists already"
        );
        return None;
    }
    let location = location
        .or_else(|| {
            servers
                .first()
                .and_then(|id| world.data.servers.get(id))
                .map(|s| s.location.clone())
        })
        .unwrap_or_else(|| "fsn1".into());
    let zone = crate::catalog::location(&location)
        .map(|l| l.network_zone)
        .unwrap_or("eu-central");
    let private_net = match network {
        Some(n) => match allocate_private_ip(world, n, zone, None, &[]) {
            Ok(ip) => vec![(n, ip)],
            Err(e) => {
                tracing::warn!(error = ?e, "CCM stand-in: cannot attach the load balancer to the network");
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let id = world.next_id();
    let lb = LoadBalancer {
        id,
        name: name.to_string(),
        lb_type: lb_type.to_string(),
        location,
        algorithm: "round_robin".into(),
        labels: [(SERVICE_UID_LABEL.to_string(), uid.to_string())].into(),
        created: world.clock.timestamp(),
        ipv4: world.alloc_ipv4(),
        ipv6: world.alloc_ipv6_net().replace("::/64", "::1"),
        public_enabled: true,
        private_net,
        services,
        targets,
        protect_delete: false,
    };
    let ipv4 = lb.ipv4;
    world.data.load_balancers.insert(id, lb);
    world.emit(WorldEvent::LoadBalancerChanged { id, ipv4 });
    world.create_action(
        "create_load_balancer",
        &[(id, "load_balancer")],
        Effect::None,
        Duration::ZERO,
    );
    Some(id)
}

/// Records outcomes: the balancers per Service, and the Services' `status.loadBalancer`.
pub fn record(store: &mut Store, outcomes: Vec<LbOutcome>, timestamp: &str) {
    for outcome in outcomes {
        match outcome {
            LbOutcome::Deleted { uid, .. } => {
                store.ccm_load_balancers.remove(&uid);
            }
            LbOutcome::Ensured { uid, lb, .. } => {
                let (ns, name) = lb.service.clone();
                if let Some(mut svc) = store.get("v1", "services", &ns, &name).cloned() {
                    let status = json!({"loadBalancer": {"ingress": [{"ip": lb.ipv4.to_string(), "ipMode": "VIP"}]}});
                    if svc["status"] != status {
                        svc["status"] = status;
                        store.put("v1", "services", svc, timestamp);
                    }
                }
                store.ccm_load_balancers.insert(uid, lb);
            }
        }
    }
}

/// `/_sim/state` shape of one cluster's CCM balancers.
pub fn state_json(store: &Store) -> Value {
    Value::Array(
        store
            .ccm_load_balancers
            .iter()
            .map(|(uid, lb)| {
                json!({"id": lb.id, "name": lb.name, "ipv4": lb.ipv4.to_string(),
                "service": format!("{}/{}", lb.service.0, lb.service.1), "service_uid": uid})
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_name_is_a_plus_uid_without_dashes_cut_to_32() {
        let name = default_name("0b1f6a52-8c3e-4d2a-9f1b-7c6d5e4f3a2b");
        assert_eq!(name, "a0b1f6a528c3e4d2a9f1b7c6d5e4f3a2");
        assert_eq!(name.len(), 32);
    }
}
