//! The sockets of each up node: apid and the Kubernetes API on the node's public IPv4. A
//! connection is checked against the server's firewalls ([`crate::netfilter`]), then TLS is
//! accepted with the node's current certificate and the connection is served over HTTP/2 (apid)
//! or HTTP/1.1 and HTTP/2 (Kubernetes). Load balancers hand their connections to
//! [`serve_apid`]/[`serve_kube`] directly, unfiltered.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, PoisonError};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulConnection;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

use super::apid::{Caller, NodeApi};
use super::proto::machine::machine_service_server::MachineServiceServer;
use super::{APID_PORT, KUBE_PORT, TalosSim};

/// The accept loops of one node; dropping them closes the sockets and open connections.
#[derive(Debug)]
pub struct NodeListeners {
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for NodeListeners {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Opens the sockets of nodes that are up and have none yet, and closes those of deleted servers.
/// Sockets stay open while a node reboots or its server is off (its connections end with its
/// boot, see [`until_boot_ends`]): re-binding the same address while the old socket is still being
/// torn down would fail.
///
/// A node whose address cannot be bound (another sim on the same block) does not serve at all:
/// the error is logged and shown as its `listen_error` in `/_sim/state`, naming
/// `--public-ipv4-base`, instead of half a node answering beside another sim's.
pub fn apply(sim: &Arc<TalosSim>, start: Vec<(i64, Ipv4Addr)>, stop: Vec<i64>) {
    let mut failed = Vec::new();
    {
        let mut map = sim.listeners.lock().unwrap_or_else(PoisonError::into_inner);
        for id in stop {
            map.remove(&id);
        }
        let pending: Vec<(i64, Ipv4Addr)> = start
            .into_iter()
            .filter(|(id, _)| !map.contains_key(id))
            .collect();
        if pending.is_empty() {
            return;
        }
        if let Err(message) = sim.claim_block() {
            failed.extend(pending.into_iter().map(|(id, _)| (id, message.clone())));
        } else {
            for (id, ip) in pending {
                match open(sim, id, ip) {
                    Ok(listeners) => {
                        map.insert(id, listeners);
                    }
                    Err(message) => failed.push((id, message)),
                }
            }
        }
    }
    let mut fleet = sim.lock();
    for (id, message) in failed {
        if let Some(node) = fleet.nodes.get_mut(&id)
            && node.listen_error.as_deref() != Some(message.as_str())
        {
            tracing::error!(server = id, ip = %node.ip, "talos node cannot serve: {message}");
            node.listen_error = Some(message);
        }
    }
}

/// Binds apid and the Kubernetes API of one node (both or neither).
fn open(sim: &Arc<TalosSim>, id: i64, ip: Ipv4Addr) -> Result<NodeListeners, String> {
    let mut listeners = Vec::new();
    for nominal in [APID_PORT, KUBE_PORT] {
        let addr = SocketAddr::new(IpAddr::V4(ip), sim.ports.actual(nominal));
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(TcpListener::from_std)
            .map_err(|e| {
                format!(
                    "cannot listen on {addr} ({e}): another process (another hk8s-sim?) uses this \
                     node's address; give each sim its own --public-ipv4-base"
                )
            })?;
        listeners.push((nominal, listener));
    }
    let tasks = listeners
        .into_iter()
        .map(|(nominal, listener)| tokio::spawn(accept_loop(sim.clone(), id, nominal, listener)))
        .collect();
    Ok(NodeListeners { tasks })
}

async fn accept_loop(sim: Arc<TalosSim>, server_id: i64, nominal: u16, listener: TcpListener) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let allowed = {
            let world = sim.world.read().unwrap_or_else(PoisonError::into_inner);
            crate::netfilter::allows(&world, server_id, nominal, peer.ip())
        };
        if !allowed {
            // Hetzner drops filtered packets; closing at once keeps tests fast and is as visible.
            drop(stream);
            continue;
        }
        let sim = sim.clone();
        if nominal == APID_PORT {
            connections.spawn(serve_apid(sim, server_id, stream));
        } else {
            connections.spawn(serve_kube(sim, server_id, stream));
        }
        while connections.try_join_next().is_some() {}
    }
}

/// Serves one apid connection to a node.
pub async fn serve_apid(sim: Arc<TalosSim>, server_id: i64, stream: TcpStream) {
    let (tls, maintenance, life) = {
        let mut fleet = sim.lock();
        let Some(life) = fleet.boot_life(server_id) else {
            return;
        };
        match fleet.nodes.get(&server_id) {
            Some(n) => (n.tls.clone(), n.config.is_none(), life),
            None => return,
        }
    };
    let Some(tls) = tls else { return };
    let Ok(stream) = TlsAcceptor::from(tls).accept(stream).await else {
        return;
    };
    let roles = if maintenance {
        None
    } else {
        Some(
            stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first())
                .map(super::pki::organizations)
                .unwrap_or_default(),
        )
    };
    let api = NodeApi {
        sim: sim.clone(),
        server_id,
        caller: Caller { roles },
    };
    let routes = tonic::service::Routes::new(
        MachineServiceServer::new(api.clone()).max_decoding_message_size(32 << 20),
    )
    .add_service(super::proto::machine::image_service_server::ImageServiceServer::new(api.clone()))
    .add_service(
        super::proto::machine::lifecycle_service_server::LifecycleServiceServer::new(api.clone()),
    )
    .add_service(super::proto::cosi::resource::state_server::StateServer::new(api))
    .prepare();
    let counted = sim.clone();
    let routes = tower::ServiceBuilder::new()
        .map_request(move |request: axum::http::Request<_>| {
            counted
                .world
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .stats
                .record_talos(request.uri().path());
            request
        })
        .service(routes);
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http2().max_frame_size(1 << 20);
    let builder = builder.http2_only();
    let faulted = super::faulted::Faulted {
        inner: routes,
        sim: sim.clone(),
    };
    let serving = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(faulted));
    until_boot_ends(life, serving).await;
}

/// How long a connection of a node that shuts down (reboot, reset, upgrade) may take to finish
/// the calls in flight once told to close; watches are cut off after it.
const GRACEFUL_CLOSE: std::time::Duration = std::time::Duration::from_secs(1);

/// Serves a connection until the node's boot ends, then closes it: gracefully when Talos shuts
/// the node down (replies in flight are sent, then GOAWAY), at once when the server was deleted
/// or powered off. Without this, a connection a client or load balancer keeps open would go on
/// answering for a node that no longer exists.
async fn until_boot_ends<C: GracefulConnection>(
    mut life: tokio::sync::watch::Receiver<bool>,
    connection: C,
) {
    let mut connection = std::pin::pin!(connection);
    let graceful = tokio::select! {
        _ = connection.as_mut() => return,
        graceful = async {
            match life.changed().await {
                Ok(()) => *life.borrow(),
                Err(_) => false,
            }
        } => graceful,
    };
    if graceful {
        connection.as_mut().graceful_shutdown();
        let _ = tokio::time::timeout(GRACEFUL_CLOSE, connection).await;
    }
}

/// Serves one Kubernetes API connection to a control plane.
pub async fn serve_kube(sim: Arc<TalosSim>, server_id: i64, stream: TcpStream) {
    let (tls, key, life) = {
        let mut fleet = sim.lock();
        let Some(life) = fleet.boot_life(server_id) else {
            return;
        };
        let Some(node) = fleet
            .nodes
            .get(&server_id)
            .filter(|n| n.is_up() && n.is_control_plane())
        else {
            return;
        };
        let Some(key) = node.cluster_key() else {
            return;
        };
        if !fleet.clusters.get(&key).is_some_and(|c| c.bootstrapped) {
            return;
        }
        (super::tls::kube_tls(&mut fleet, &key), key, life)
    };
    let Some(tls) = tls else { return };
    let Ok(stream) = TlsAcceptor::from(tls).accept(stream).await else {
        return;
    };
    let user = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| crate::kube::User {
            name: super::pki::common_name(c).unwrap_or_default(),
            groups: super::pki::organizations(c),
        });
    let router = crate::kube::router(crate::kube::Ctx {
        sim: sim.clone(),
        cluster: key,
        user,
    });
    let builder = Builder::new(TokioExecutor::new());
    let serving = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(router));
    until_boot_ends(life, serving).await;
}
