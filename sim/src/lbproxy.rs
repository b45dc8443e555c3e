//! Load balancer forwarding: each service of a sim load balancer listens on the balancer's public
//! IPv4 (`listen_port`, moved like node ports by [`crate::talos::Ports`]) and hands every
//! connection, round robin, to a healthy target's node service for `destination_port` (50000 →
//! apid, 6443 → Kubernetes API). On Hetzner the balancer reaches targets over their private IPs;
//! those are not bindable here, so the connection is passed to the node in-process, which also
//! means it is not filtered by the server's firewall — as on Hetzner, where firewalls do not apply
//! to load-balancer and private-network traffic. Other destination ports are not modelled (the
//! connection is closed).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::talos::{APID_PORT, KUBE_PORT, TalosSim};
use crate::world::{LbTarget, World};

/// What the forwarder needs of one load balancer.
#[derive(Debug, Clone, PartialEq)]
pub struct LbView {
    id: i64,
    ipv4: Ipv4Addr,
    services: Vec<(u16, u16)>,
    targets: Vec<i64>,
    /// The server every new connection goes to while it is a healthy target (a sim control).
    pinned: Option<i64>,
}

/// Where new connections may go: the targets, and the pinned one among them.
#[derive(Debug, Clone, Default)]
struct Routing {
    targets: Vec<i64>,
    pinned: Option<i64>,
}

/// The listeners of one load balancer.
#[derive(Debug)]
pub struct LbForwarders {
    view: LbView,
    routing: Arc<Mutex<Routing>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for LbForwarders {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Copies the load balancers out of the world (targets resolved to server ids).
pub fn views(world: &World) -> Vec<LbView> {
    world
        .data
        .load_balancers
        .values()
        .filter(|lb| lb.public_enabled)
        .map(|lb| {
            let mut targets = Vec::new();
            for t in &lb.targets {
                match t {
                    LbTarget::Server { id, .. } => targets.push(*id),
                    LbTarget::LabelSelector { selector, .. } => {
                        targets.extend(
                            crate::hcloud::servers::servers_matching(world, selector)
                                .iter()
                                .map(|s| s.id),
                        );
                    }
                    LbTarget::Ip(_) => {}
                }
            }
            LbView {
                id: lb.id,
                ipv4: lb.ipv4,
                pinned: world.lb_pins.get(&lb.id).copied(),
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
        .collect()
}

/// Opens, re-opens or closes forwarders so they match the load balancers; target changes are
/// picked up without re-binding.
pub fn reconcile(sim: &Arc<TalosSim>, lbs: Vec<LbView>) {
    let mut map = sim
        .lb_forwarders
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    map.retain(|id, fw| {
        lbs.iter()
            .any(|lb| lb.id == *id && lb.ipv4 == fw.view.ipv4 && lb.services == fw.view.services)
    });
    for lb in lbs {
        match map.get_mut(&lb.id) {
            Some(fw) => {
                *fw.routing.lock().unwrap_or_else(PoisonError::into_inner) = Routing {
                    targets: lb.targets.clone(),
                    pinned: lb.pinned,
                }
            }
            None => {
                let id = lb.id;
                map.insert(id, open(sim, lb));
            }
        }
    }
}

fn open(sim: &Arc<TalosSim>, view: LbView) -> LbForwarders {
    let mut tasks = Vec::new();
    let turn = Arc::new(AtomicUsize::new(0));
    let shared_routing = Arc::new(Mutex::new(Routing {
        targets: view.targets.clone(),
        pinned: view.pinned,
    }));
    for (listen, dest) in view.services.clone() {
        let addr = SocketAddr::new(IpAddr::V4(view.ipv4), sim.ports.actual(listen));
        let listener = match std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(TcpListener::from_std)
        {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(
                    %addr,
                    error = %e,
                    "load balancer cannot listen: another process (another hk8s-sim?) uses its \
                     address; give each sim its own --public-ipv4-base"
                );
                continue;
            }
        };
        let (sim, routing, turn) = (sim.clone(), shared_routing.clone(), turn.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let Routing { targets, pinned } = routing
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone();
                let healthy: Vec<i64> = targets
                    .into_iter()
                    .filter(|t| sim.port_open(*t, dest) == Some(true))
                    .collect();
                if healthy.is_empty() {
                    continue;
                }
                let target = match pinned {
                    Some(pinned) if healthy.contains(&pinned) => pinned,
                    _ => healthy[turn.fetch_add(1, Ordering::Relaxed) % healthy.len()],
                };
                match dest {
                    APID_PORT => drop(tokio::spawn(crate::talos::listeners::serve_apid(
                        sim.clone(),
                        target,
                        stream,
                    ))),
                    KUBE_PORT => drop(tokio::spawn(crate::talos::listeners::serve_kube(
                        sim.clone(),
                        target,
                        stream,
                    ))),
                    _ => {}
                }
            }
        }));
    }
    LbForwarders {
        view,
        routing: shared_routing,
        tasks,
    }
}
