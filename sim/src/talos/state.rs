//! The state of every simulated Talos node and of the clusters they form: node phases (booting,
//! maintenance, running, rebooting, down), applied and staged configurations, and per cluster the
//! etcd membership and quorum. Clusters are identified by their OS CA certificate: nodes that
//! share it trust each other, as Talos nodes do.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::config::{NodeConfig, Role};

/// Where a node is in its life.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// The server is off (or not yet booted far enough): nothing listens.
    Down,
    /// Booting; apid answers from `until` on.
    Booting {
        /// Clock time when it is up.
        until: Duration,
    },
    /// apid is up (maintenance mode when there is no config).
    Up,
    /// Rebooting after an apply, upgrade or reset; up again at `until`.
    Rebooting {
        /// Clock time when it is up.
        until: Duration,
    },
    /// Shutting down after a reset without reboot (Talos's `Shutdown` phase): apid is closed and
    /// at `until` the server powers off (its Hetzner status becomes `off`).
    Halting {
        /// Clock time when the server is off.
        until: Duration,
    },
}

/// One simulated Talos node (one per running server booted from a Talos snapshot).
#[derive(Debug)]
pub struct Node {
    /// The server.
    pub server_id: i64,
    /// Server name (the default hostname).
    pub server_name: String,
    /// Its server's type (e.g. `cax21`): architecture, CPUs, memory and disk of the node.
    pub server_type: String,
    /// Public IPv4.
    pub ip: Ipv4Addr,
    /// Private IPs, each with the network it is in (networks of one project may overlap).
    pub private_net: Vec<(i64, Ipv4Addr)>,
    /// The Talos version it runs (`v1.13.9`).
    pub version: String,
    /// Version it runs after the pending reboot.
    pub pending_version: Option<String>,
    /// The Image Factory schematic it runs (from its disk; from the installer after an upgrade).
    pub schematic: String,
    /// Schematic it runs after the pending reboot (an upgrade's installer).
    pub pending_schematic: Option<String>,
    /// Which write of its server's disk it booted from.
    pub disk_writes: u64,
    /// Phase.
    pub phase: Phase,
    /// Applied configuration (`None` = maintenance mode).
    pub config: Option<NodeConfig>,
    /// Configuration applied at the next reboot (staged, or applied with a reboot).
    pub staged: Option<NodeConfig>,
    /// Why the user data was refused at the last boot that read it, if it was.
    pub user_data_error: Option<String>,
    /// Why the node's sockets could not be opened (its address is another process's, e.g. a
    /// second sim on the same `--public-ipv4-base`); such a node serves nothing.
    pub listen_error: Option<String>,
    /// Whether this node left etcd (LeaveCluster/RemoveMember) and must not rejoin until reset.
    pub etcd_left: bool,
    /// Whether its kubelet registered a Node object that still exists.
    pub kube_registered: bool,
    /// When it registered (the Node's `creationTimestamp`, RFC 3339).
    pub kube_registered_at: Option<String>,
    /// Why its kubelet cannot join the cluster (see [`super::join`]), while it cannot.
    pub kubelet_error: Option<String>,
    /// Boots so far (each boot starts the kubelet afresh).
    pub boots: u64,
    /// The boot during which its Node object was deleted through the API: the running kubelet
    /// does not register again until it restarts (the next boot).
    pub node_deleted_in_boot: Option<u64>,
    /// When its services (etcd waiting for bootstrap) are ready after the last boot.
    pub services_ready_at: Duration,
    /// The configuration to roll back to, and when, after a TRY apply.
    pub try_rollback: Option<(NodeConfig, Duration)>,
    /// When the `talos_reboot` fault reboots it (drawn at each boot).
    pub unexpected_reboot_at: Option<Duration>,
    /// Images pulled with ImageService.Pull (installer images for LifecycleService.Upgrade).
    pub pulled_images: Vec<String>,
    /// TLS for apid, rebuilt whenever the configuration changes.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// How STATE and EPHEMERAL were encrypted when they were formatted (the first boot with a
    /// configuration); `None` until then and after a reset wiped them.
    pub volumes: Option<super::volumes::SystemVolumes>,
}

impl Node {
    /// Private IPs, in the order of the server's `private_net`.
    pub fn private_ips(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.private_net.iter().map(|(_, ip)| *ip)
    }

    /// The node's hostname (config, else server name).
    pub fn hostname(&self) -> String {
        self.config
            .as_ref()
            .and_then(|c| c.hostname.clone())
            .unwrap_or_else(|| self.server_name.clone())
    }

    /// The cluster key (hash of the OS CA) of a configured node.
    pub fn cluster_key(&self) -> Option<String> {
        self.config.as_ref().map(|c| cluster_key(&c.os_ca_crt))
    }

    /// Whether apid answers.
    pub fn is_up(&self) -> bool {
        self.phase == Phase::Up
    }

    /// Whether the node is a configured control plane.
    pub fn is_control_plane(&self) -> bool {
        self.config
            .as_ref()
            .is_some_and(|c| c.role == Role::Controlplane)
    }

    /// `maintenance`, `configured`, `booting`, `rebooting`, `halting` or `down`.
    pub fn mode(&self) -> &'static str {
        match (&self.phase, &self.config) {
            (Phase::Down, _) => "down",
            (Phase::Halting { .. }, _) => "halting",
            (Phase::Booting { .. }, _) => "booting",
            (Phase::Rebooting { .. }, _) => "rebooting",
            (Phase::Up, None) => "maintenance",
            (Phase::Up, Some(_)) => "configured",
        }
    }
}

/// Hash identifying a cluster by its OS CA certificate.
pub fn cluster_key(os_ca_crt: &str) -> String {
    Sha256::digest(os_ca_crt.trim().as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One cluster's shared state.
#[derive(Debug, Default)]
pub struct Cluster {
    /// Whether etcd was bootstrapped.
    pub bootstrapped: bool,
    /// etcd members: server id → member id.
    pub members: BTreeMap<i64, u64>,
    /// TLS of the Kubernetes API: the SANs it was issued for and the config.
    pub kube_tls: Option<(Vec<String>, Arc<rustls::ServerConfig>)>,
    /// The Kubernetes API objects of this cluster.
    pub kube: crate::kube::store::Store,
}

/// One boot of a node, as its open connections see it. Sending `true` closes them gracefully
/// (Talos shutting the node down for a reboot, reset or upgrade); dropping the sender closes them
/// at once (server deleted or powered off: the machine just stops).
#[derive(Debug)]
struct BootLife {
    boots: u64,
    ended: tokio::sync::watch::Sender<bool>,
}

/// All nodes and clusters.
#[derive(Debug)]
pub struct Fleet {
    /// Nodes by server id.
    pub nodes: BTreeMap<i64, Node>,
    /// Clusters by key.
    pub clusters: BTreeMap<String, Cluster>,
    rng: ChaCha8Rng,
    /// The boots of nodes that have open connections, by server id.
    boot_lives: BTreeMap<i64, BootLife>,
}

impl Fleet {
    /// An empty fleet; etcd member ids come from `seed`.
    pub fn new(seed: u64) -> Self {
        Fleet {
            nodes: BTreeMap::new(),
            clusters: BTreeMap::new(),
            rng: ChaCha8Rng::seed_from_u64(seed ^ 0x7a105),
            boot_lives: BTreeMap::new(),
        }
    }

    /// What a connection to node `id` waits on to learn that the node's current boot ended
    /// (see [`BootLife`]); `None` when the node is not up.
    pub fn boot_life(&mut self, id: i64) -> Option<tokio::sync::watch::Receiver<bool>> {
        let boots = self.nodes.get(&id).filter(|n| n.is_up())?.boots;
        let fresh = || BootLife {
            boots,
            ended: tokio::sync::watch::Sender::new(false),
        };
        let life = self.boot_lives.entry(id).or_insert_with(fresh);
        if life.boots != boots {
            *life = fresh();
        }
        Some(life.ended.subscribe())
    }

    /// Closes the connections of boots that ended: gracefully for nodes Talos took down
    /// (rebooting, halting, or already booted again), at once for servers deleted or off.
    pub fn end_finished_boots(&mut self) {
        let nodes = &self.nodes;
        self.boot_lives.retain(|id, life| {
            let Some(node) = nodes.get(id) else {
                return false;
            };
            let shut_down = node.boots != life.boots
                || matches!(node.phase, Phase::Rebooting { .. } | Phase::Halting { .. });
            if shut_down {
                life.ended.send_replace(true);
                return false;
            }
            node.is_up()
        });
    }

    /// A new etcd member id.
    pub fn member_id(&mut self) -> u64 {
        self.rng.random::<u64>() | 1
    }

    /// Nodes of a cluster.
    pub fn cluster_nodes<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.nodes
            .values()
            .filter(move |n| n.cluster_key().as_deref() == Some(key))
    }

    /// Whether etcd of a cluster has quorum: more than half of its members are up.
    pub fn has_quorum(&self, key: &str) -> bool {
        let Some(cluster) = self.clusters.get(key) else {
            return false;
        };
        if !cluster.bootstrapped || cluster.members.is_empty() {
            return false;
        }
        let alive = cluster
            .members
            .keys()
            .filter(|id| self.nodes.get(id).is_some_and(Node::is_up))
            .count();
        alive * 2 > cluster.members.len()
    }

    /// Whether the Kubernetes API of a cluster serves: bootstrapped and etcd has quorum.
    pub fn kube_serving(&self, key: &str) -> bool {
        self.has_quorum(key)
    }

    /// The node `from` reaches at `ip`: the one with that public IP, or with that private IP in a
    /// network `from` is attached to. Two clusters' networks usually have the same range (each
    /// cluster's first worker is 10.0.1.3), and a private address means nothing outside its
    /// network.
    pub fn node_reached_from(&self, from: &Node, ip: Ipv4Addr) -> Option<&Node> {
        self.nodes.values().find(|n| n.ip == ip).or_else(|| {
            self.nodes.values().find(|n| {
                n.private_net
                    .iter()
                    .any(|(net, p)| *p == ip && from.private_net.iter().any(|(m, _)| m == net))
            })
        })
    }

    /// Adds control planes of bootstrapped clusters to etcd (they join once up and configured),
    /// and registers the Node of every up, configured node whose kubelet can join its cluster
    /// (`reach`: what the Hetzner world lets kubelets dial; without it, when nobody was waiting
    /// as the world was read, registration waits for the next pass).
    pub fn join_members(&mut self, reach: Option<&super::join::Reach>, timestamp: &str) {
        let joining: Vec<(String, i64)> = self
            .nodes
            .values()
            .filter(|n| n.is_up() && n.is_control_plane() && !n.etcd_left)
            .filter_map(|n| n.cluster_key().map(|k| (k, n.server_id)))
            .filter(|(k, id)| {
                self.clusters
                    .get(k)
                    .is_some_and(|c| c.bootstrapped && !c.members.contains_key(id))
            })
            .collect();
        for (key, id) in joining {
            let member = self.member_id();
            if let Some(c) = self.clusters.get_mut(&key) {
                c.members.insert(id, member);
            }
        }
        let up_in_cluster: Vec<(i64, Option<String>)> = self
            .nodes
            .values()
            .filter(|n| n.is_up() && n.config.is_some() && !n.kube_registered)
            .filter(|n| n.node_deleted_in_boot != Some(n.boots))
            .filter(|n| n.cluster_key().is_some_and(|k| self.kube_serving(&k)))
            .filter_map(|n| Some((n.server_id, super::join::kubelet_error(self, reach?, n))))
            .collect();
        for (id, error) in up_in_cluster {
            if let Some(n) = self.nodes.get_mut(&id) {
                n.kube_registered = error.is_none();
                if n.kube_registered {
                    n.kube_registered_at = Some(timestamp.to_string());
                }
                n.kubelet_error = error;
            }
        }
        self.sync_pod_cidrs();
    }

    /// The configuration of the first control plane of a cluster (what kube-controller-manager
    /// and the cluster-wide manifests are started from).
    pub fn control_plane_config<'a>(&'a self, key: &'a str) -> Option<&'a NodeConfig> {
        self.cluster_nodes(key)
            .filter(|n| n.is_control_plane())
            .find_map(|n| n.config.as_ref())
    }

    /// Gives every registered Node a pod CIDR block of its cluster's pod subnet, and takes the
    /// blocks of Nodes that are gone back.
    fn sync_pod_cidrs(&mut self) {
        let keys: Vec<String> = self.clusters.keys().cloned().collect();
        for key in keys {
            let cp = self.control_plane_config(&key);
            let subnet = cp
                .and_then(|c| {
                    c.pod_subnets
                        .iter()
                        .find_map(|s| s.parse::<ipnet::Ipv4Net>().ok())
                })
                .or_else(|| crate::kube::podcidr::DEFAULT_POD_SUBNET.parse().ok());
            let mask = cp
                .and_then(|c| c.node_cidr_mask_ipv4)
                .unwrap_or(crate::kube::podcidr::DEFAULT_NODE_MASK);
            let registered: Vec<String> = self
                .cluster_nodes(&key)
                .filter(|n| n.kube_registered)
                .map(Node::hostname)
                .collect();
            if let (Some(subnet), Some(cluster)) = (subnet, self.clusters.get_mut(&key)) {
                cluster
                    .kube
                    .pod_cidrs
                    .sync(subnet.trunc(), mask, &registered);
            }
        }
    }

    /// `/_sim/state` → `talos_nodes`.
    pub fn nodes_json(&self) -> Value {
        Value::Array(
            self.nodes
                .values()
                .map(|n| {
                    let member = n
                        .cluster_key()
                        .and_then(|k| self.clusters.get(&k))
                        .and_then(|c| c.members.get(&n.server_id));
                    json!({
                        "server_id": n.server_id,
                        "ip": n.ip.to_string(),
                        "hostname": n.hostname(),
                        "version": n.version,
                        "schematic": n.schematic,
                        "mode": n.mode(),
                        "role": n.config.as_ref().map(|c| c.role),
                        "config_hash": n.config.as_ref().map(|c| c.hash.clone()),
                        "staged_config_hash": n.staged.as_ref().map(|c| c.hash.clone()),
                        "user_data_error": n.user_data_error,
                        "kubelet_error": n.kubelet_error,
                        "listen_error": n.listen_error,
                        "etcd_member_id": member.map(|m| format!("{m:x}")),
                        "volumes": n.volumes.as_ref().map(super::volumes::SystemVolumes::to_json),
                    })
                })
                .collect(),
        )
    }

    /// Server ids of members whose node is gone, for diagnostics.
    pub fn dead_members(&self, key: &str) -> BTreeSet<i64> {
        self.clusters
            .get(key)
            .map(|c| {
                c.members
                    .keys()
                    .copied()
                    .filter(|id| !self.nodes.get(id).is_some_and(Node::is_up))
                    .collect()
            })
            .unwrap_or_default()
    }
}
