//! The CCM's service controller: every `Service` of type `LoadBalancer` gets a Hetzner load
//! balancer created through the sim's world (so it appears in `GET /v1/load_balancers`, as if
//! the CCM had called the API), as `internal/hcops/load_balancer.go` makes it:
//!
//! - name: annotation `load-balancer.hetzner.cloud/name`, else Kubernetes'
//!   `DefaultLoadBalancerName` (`a` + the Service uid without dashes, cut to 32 characters);
//! - label `hcloud-ccm/service-uid=<uid>`; type from `load-balancer.hetzner.cloud/type` (lb11);
//! - location from `load-balancer.hetzner.cloud/location` or `…/network-zone`, else
//!   `HCLOUD_LOAD_BALANCERS_LOCATION` / `…_NETWORK_ZONE`; with none of them the CCM refuses
//!   (`neither … nor … set`) and the Service stays pending;
//! - attached to the CCM's network (`HCLOUD_NETWORK`) when one is configured;
//! - one `tcp` service per Service port (`listen_port` = port, `destination_port` = the port's
//!   `nodePort`, which the API server allocated, see [`crate::kube::defaults`]);
//! - targets: one `server` target per initialised node not labelled
//!   `node.kubernetes.io/exclude-from-external-load-balancers` (Talos puts that label on control
//!   planes), on its private IP when `load-balancer.hetzner.cloud/use-private-ip` (or
//!   `HCLOUD_LOAD_BALANCERS_USE_PRIVATE_IP`) says so, which needs a network.
//!
//! The Service's `status.loadBalancer.ingress[0].ip` gets the balancer's public IPv4. Deleting the
//! Service deletes the balancer. While the CCM does not run nothing happens: balancers created
//! earlier stay, as they do on Hetzner.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde_json::{Value, json};

use super::super::store::Store;
use super::setup::LbDefaults;
use crate::hcloud::load_balancers::{ServiceRequest, build_service};
use crate::hcloud::networks::allocate_private_ip;
use crate::stats::Component;
use crate::world::{Effect, LbTarget, LoadBalancer, World, WorldEvent};

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

/// The balancer a Service should have.
#[derive(Debug, Clone)]
pub struct Ensure {
    /// Service namespace and name.
    pub service: (String, String),
    /// Service uid.
    pub uid: String,
    /// Balancer name.
    pub name: String,
    /// Balancer type.
    pub lb_type: String,
    /// Location from the annotation (an empty annotation resets the default).
    pub location: Option<String>,
    /// Network zone from the annotation.
    pub network_zone: Option<String>,
    /// `load-balancer.hetzner.cloud/use-private-ip`, when set.
    pub use_private_ip: Option<String>,
    /// `(port, nodePort)` per Service port.
    pub ports: Vec<(i32, i32)>,
    /// The servers of the nodes it targets.
    pub servers: Vec<i64>,
}

/// Something to do in the world for one Service.
#[derive(Debug, Clone)]
pub enum LbOp {
    /// Create or update the balancer of a Service.
    Ensure(Box<Ensure>),
    /// Delete the balancer of a Service that is gone.
    Delete {
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
        /// Service uid.
        uid: String,
        /// The balancer.
        lb: CcmLoadBalancer,
    },
    /// The balancer is gone.
    Deleted {
        /// Service uid.
        uid: String,
    },
    /// The CCM could not make the balancer (the service controller's `SyncLoadBalancerFailed`).
    Failed {
        /// The Service.
        service: (String, String),
        /// The CCM's error.
        message: String,
    },
}

/// The CCM's default balancer name: `a` + uid without dashes, at most 32 characters.
pub fn default_name(uid: &str) -> String {
    let mut name = format!("a{}", uid.replace('-', ""));
    name.truncate(32);
    name
}

/// The ops for one cluster; `targets` are the servers of the nodes balancers may target.
pub fn plan(store: &mut Store, targets: &[i64]) -> Vec<LbOp> {
    let mut ops = Vec::new();
    let mut wanted = BTreeSet::new();
    for svc in store.items("v1", "services") {
        if svc["spec"]["type"] != "LoadBalancer" || svc["metadata"]["deletionTimestamp"].is_string()
        {
            continue;
        }
        let meta = |k: &str| svc["metadata"][k].as_str().unwrap_or_default().to_string();
        let uid = meta("uid");
        let annotation = |k: &str| {
            svc["metadata"]["annotations"][format!("load-balancer.hetzner.cloud/{k}")]
                .as_str()
                .map(str::to_string)
        };
        wanted.insert(uid.clone());
        ops.push(LbOp::Ensure(Box::new(Ensure {
            service: (meta("namespace"), meta("name")),
            name: annotation("name").unwrap_or_else(|| default_name(&uid)),
            lb_type: annotation("type").unwrap_or_else(|| "lb11".into()),
            location: annotation("location"),
            network_zone: annotation("network-zone"),
            use_private_ip: annotation("use-private-ip"),
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
            servers: targets.to_vec(),
            uid,
        })));
    }
    for (uid, lb) in &store.ccm.load_balancers {
        if !wanted.contains(uid) {
            ops.push(LbOp::Delete {
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

/// Carries out the ops in the world (the CCM's API calls, counted as the CCM's requests).
pub fn carry_out(
    world: &mut World,
    defaults: &LbDefaults,
    network: Option<i64>,
    ops: Vec<LbOp>,
) -> Vec<LbOutcome> {
    let mut out = Vec::new();
    for op in ops {
        match op {
            LbOp::Delete { uid, id } => {
                if world.data.load_balancers.contains_key(&id) {
                    if !world.component_request(Component::Ccm, "DELETE /load_balancers/{id}") {
                        continue;
                    }
                    if let Some(lb) = world.data.load_balancers.remove(&id) {
                        world.emit(WorldEvent::LoadBalancerDeleted { id, ipv4: lb.ipv4 });
                    }
                }
                out.push(LbOutcome::Deleted { uid });
            }
            LbOp::Ensure(ensure) => {
                let Ensure {
                    service,
                    uid,
                    name,
                    lb_type,
                    location,
                    network_zone,
                    use_private_ip,
                    ports,
                    servers,
                } = *ensure;
                let private = match use_private_ip.as_deref() {
                    None => defaults.use_private_ip,
                    Some("true") => true,
                    Some("false") => false,
                    Some(other) => {
                        out.push(LbOutcome::Failed {
                            service,
                            message: format!(
                                "load-balancer.hetzner.cloud/use-private-ip: invalid boolean {other:?}"
                            ),
                        });
                        continue;
                    }
                };
                if private && network.is_none() {
                    out.push(LbOutcome::Failed {
                        service,
                        message: "hcops/LoadBalancerOps.ReconcileHCLBTargets: use private ip: missing network id".into(),
                    });
                    continue;
                }
                let targets: Vec<LbTarget> = servers
                    .iter()
                    .filter(|id| world.data.servers.contains_key(id))
                    .map(|id| LbTarget::Server {
                        id: *id,
                        use_private_ip: private,
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
                        let Some(lb) = world.data.load_balancers.get(&id) else {
                            continue;
                        };
                        let ports_now: Vec<(i32, i32)> = lb
                            .services
                            .iter()
                            .map(|s| (s.listen_port, s.destination_port))
                            .collect();
                        if lb.targets != targets || ports_now != ports {
                            if !world.component_request(
                                Component::Ccm,
                                "POST /load_balancers/{id}/actions/add_target",
                            ) {
                                continue;
                            }
                            if let Some(lb) = world.data.load_balancers.get_mut(&id) {
                                lb.targets = targets;
                                lb.services = services;
                                let ipv4 = lb.ipv4;
                                world.emit(WorldEvent::LoadBalancerChanged { id, ipv4 });
                            }
                        }
                        id
                    }
                    None => {
                        let placement = match place(defaults, location, network_zone) {
                            Ok(p) => p,
                            Err(message) => {
                                out.push(LbOutcome::Failed { service, message });
                                continue;
                            }
                        };
                        if !world.component_request(Component::Ccm, "POST /load_balancers") {
                            continue;
                        }
                        match create(
                            world, &name, &lb_type, &placement, network, services, targets, &uid,
                        ) {
                            Ok(id) => id,
                            Err(message) => {
                                out.push(LbOutcome::Failed { service, message });
                                continue;
                            }
                        }
                    }
                };
                let lb = &world.data.load_balancers[&id];
                out.push(LbOutcome::Ensured {
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

/// Where a new balancer goes: its location, as the CCM's `Create` chooses it.
fn place(
    defaults: &LbDefaults,
    location: Option<String>,
    network_zone: Option<String>,
) -> Result<String, String> {
    // An empty location annotation resets the default, so that a network zone can apply.
    let location = match location {
        Some(l) if l.is_empty() => None,
        Some(l) => Some(l),
        None => defaults.location.clone(),
    };
    let zone = network_zone.or_else(|| defaults.network_zone.clone());
    if let Some(location) = location {
        return Ok(location);
    }
    let Some(zone) = zone.filter(|z| !z.is_empty()) else {
        return Err("hcops/LoadBalancerOps.Create: neither load-balancer.hetzner.cloud/location nor load-balancer.hetzner.cloud/network-zone set".into());
    };
    crate::catalog::LOCATIONS
        .iter()
        .find(|l| l.network_zone == zone)
        .map(|l| l.name.to_string())
        .ok_or_else(|| {
            format!("hcops/LoadBalancerOps.Create: invalid input in field 'network_zone' (invalid_input): unknown network zone {zone:?}")
        })
}

#[allow(clippy::too_many_arguments)]
fn create(
    world: &mut World,
    name: &str,
    lb_type: &str,
    location: &str,
    network: Option<i64>,
    services: Vec<crate::world::LbService>,
    targets: Vec<LbTarget>,
    uid: &str,
) -> Result<i64, String> {
    let prefix = "hcops/LoadBalancerOps.Create";
    if world.data.load_balancers.values().any(|l| l.name == name) {
        return Err(format!("{prefix}: name is already used (uniqueness_error)"));
    }
    let Some(zone) = crate::catalog::location(location).map(|l| l.network_zone) else {
        return Err(format!(
            "{prefix}: invalid input in field 'location' (invalid_input)"
        ));
    };
    let private_net = match network {
        Some(n) => match allocate_private_ip(world, n, zone, None, &[]) {
            Ok(ip) => vec![(n, ip)],
            Err(e) => {
                return Err(format!(
                    "hcops/LoadBalancerOps.attachToNetwork: {e} ({})",
                    e.code()
                ));
            }
        },
        None => Vec::new(),
    };
    let id = world.next_id();
    let lb = LoadBalancer {
        id,
        name: name.to_string(),
        lb_type: lb_type.to_string(),
        location: location.to_string(),
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
    Ok(id)
}

/// Records outcomes: the balancers per Service, and the Services' `status.loadBalancer`.
pub fn record(store: &mut Store, outcomes: Vec<LbOutcome>, timestamp: &str) {
    for outcome in outcomes {
        match outcome {
            LbOutcome::Deleted { uid } => {
                store.ccm.load_balancers.remove(&uid);
            }
            LbOutcome::Failed { service, message } => {
                store
                    .ccm
                    .service_errors
                    .insert(format!("{}/{}", service.0, service.1), message);
            }
            LbOutcome::Ensured { uid, lb } => {
                let (ns, name) = lb.service.clone();
                store.ccm.service_errors.remove(&format!("{ns}/{name}"));
                if let Some(mut svc) = store.get("v1", "services", &ns, &name).cloned() {
                    let status = json!({"loadBalancer": {"ingress": [{"ip": lb.ipv4.to_string(), "ipMode": "VIP"}]}});
                    if svc["status"] != status {
                        svc["status"] = status;
                        store.put("v1", "services", svc, timestamp);
                    }
                }
                store.ccm.load_balancers.insert(uid, lb);
            }
        }
    }
}

/// `/_sim/state` shape of one cluster's CCM balancers.
pub fn state_json(store: &Store) -> Value {
    Value::Array(
        store
            .ccm
            .load_balancers
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

    #[test]
    fn a_balancer_needs_a_location_or_a_network_zone() {
        let none = LbDefaults::default();
        assert!(place(&none, None, None).unwrap_err().contains("neither"));
        assert_eq!(place(&none, Some("hel1".into()), None), Ok("hel1".into()));
        assert_eq!(place(&none, None, Some("us-east".into())), Ok("ash".into()));
        let fsn1 = LbDefaults {
            location: Some("fsn1".into()),
            ..LbDefaults::default()
        };
        assert_eq!(place(&fsn1, None, None), Ok("fsn1".into()));
        assert_eq!(
            place(&fsn1, Some(String::new()), Some("eu-central".into())),
            Ok("fsn1".into())
        );
    }
}
