//! Talos nodes (part 2 of the sim): one simulated Talos node per running server booted from a
//! Talos snapshot, with apid on `<public IPv4>:50000` (see [`Ports`]).
//!
//! A reconcile loop follows the Hetzner world: when a server runs, its node boots (latency model
//! `talos_boot`), reads its `user_data` whenever its STATE holds no configuration (first boot, or
//! after a reset wiped it; maintenance mode without one), and serves apid; when the server stops
//! or is deleted the node goes down, and a node that halts (reset without reboot) powers its
//! server off. The loop also joins control planes to
//! etcd after bootstrap, rolls back TRY applies, finishes reboots, and keeps the load balancers'
//! forwarders ([`crate::lbproxy`]) in step.

pub mod apid;
pub mod checks;
pub mod config;
pub mod faulted;
pub mod join;
pub mod kubeconfig;
pub mod listeners;
pub mod pki;
pub mod proto;
pub mod resources;
pub mod state;
pub mod tls;
pub mod upgrade;
pub mod userdata;
pub mod volumes;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::latency::Latency;
use crate::world::World;
use state::{Fleet, Node, Phase};

/// Label of Talos snapshots carrying the version they boot.
pub const TALOS_VERSION_LABEL: &str = "hk8s.io/talos-version";

/// Nominal ports (what firewall rules and load balancer services name).
pub const APID_PORT: u16 = 50000;
/// Nominal Kubernetes API port.
pub const KUBE_PORT: u16 = 6443;

/// Where node services actually listen on their loopback address. Defaults are the real ports;
/// tests that run several sims at once, or hosts where those ports are taken, move them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ports {
    /// apid (nominally 50000).
    pub apid: u16,
    /// Kubernetes API (nominally 6443).
    pub kube: u16,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            apid: APID_PORT,
            kube: KUBE_PORT,
        }
    }
}

impl Ports {
    /// The port the sim binds for a nominal port (other ports are bound as they are).
    pub fn actual(&self, nominal: u16) -> u16 {
        match nominal {
            APID_PORT => self.apid,
            KUBE_PORT => self.kube,
            other => other,
        }
    }
}

/// This sim's hold on its public IPv4 block: a UDP socket bound to `<first address>:<apid port>`.
/// Nodes and load balancers listen on TCP only, so the socket collides with nothing of this sim,
/// but a second sim on the same block (and apid port) cannot bind it: without the claim both would
/// hand out the same node addresses and clients would reach the other sim's nodes.
#[derive(Debug)]
pub enum BlockClaim {
    /// Not tried yet (claimed when the first node listens).
    Unclaimed,
    /// Held for as long as the sim runs.
    Held(std::net::UdpSocket),
    /// Another process holds it: why, naming `--public-ipv4-base`.
    Taken(String),
}

/// Claims the block starting at `base` for a sim whose apid port is `ports.apid`.
///
/// # Errors
/// A message naming `--public-ipv4-base` when another process (another sim) holds the block.
pub fn claim_ipv4_block(base: Ipv4Addr, ports: Ports) -> Result<std::net::UdpSocket, String> {
    std::net::UdpSocket::bind((base, ports.apid)).map_err(|e| {
        let [a, b, _, _] = base.octets();
        let other = Ipv4Addr::new(a, b.wrapping_add(1).max(1), 0, 1);
        format!(
            "the public IPv4 block starting at {base} is already used by another hk8s-sim (apid \
             port {}: {e}); two sims on one block would answer for each other's nodes. Give each \
             sim its own --public-ipv4-base (e.g. --public-ipv4-base {other}) or its own --talos-port",
            ports.apid
        )
    })
}

/// What the loop needs of one server, copied out of the world.
#[derive(Debug, Clone)]
struct ServerView {
    id: i64,
    name: String,
    server_type: String,
    running: bool,
    ipv4: Option<Ipv4Addr>,
    private_net: Vec<(i64, Ipv4Addr)>,
    user_data: Option<String>,
    /// The Talos installation the server boots: its disk holds Talos for the server's
    /// architecture (else nothing listens on 50000).
    talos: Option<crate::world::TalosDisk>,
    /// Which write of the disk that installation is (a rewritten disk boots a new node).
    disk_writes: u64,
}

/// The pause between two passes of the reconcile loop ([`TalosSim::tick`]).
const TICK_PAUSE: Duration = Duration::from_millis(25);

/// The Talos side of the sim, shared by the loop, the listeners and the Kubernetes API.
pub struct TalosSim {
    fleet: Mutex<Fleet>,
    /// The Hetzner world.
    pub world: Arc<RwLock<World>>,
    /// Where things listen.
    pub ports: Ports,
    clock: Clock,
    latency: Latency,
    listeners: Mutex<BTreeMap<i64, listeners::NodeListeners>>,
    block: Mutex<BlockClaim>,
    pub(crate) lb_forwarders: Mutex<BTreeMap<i64, crate::lbproxy::LbForwarders>>,
    /// Where the sim's HTTP server (Hetzner API, `/charts`) listens, once bound.
    http_addr: std::sync::OnceLock<std::net::SocketAddr>,
    /// The rescue systems of servers booted into rescue.
    pub rescue: crate::rescue::RescueSystems,
    /// The Talos and Kubernetes API faults (the world's injector, shared).
    pub api_faults: crate::faults::SharedApiFaults,
}

impl std::fmt::Debug for TalosSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TalosSim")
            .field("ports", &self.ports)
            .finish_non_exhaustive()
    }
}

impl TalosSim {
    /// Creates the Talos side and starts its reconcile loop; also installs the load-balancer
    /// health probe in the world. `block` is the claim on the public IPv4 block when the caller
    /// made it already ([`BlockClaim::Unclaimed`] claims it when the first node listens).
    pub fn start(
        world: Arc<RwLock<World>>,
        ports: Ports,
        seed: u64,
        block: BlockClaim,
    ) -> (Arc<Self>, JoinHandle<()>) {
        let (clock, latency, api_faults) = {
            let w = world.read().unwrap_or_else(PoisonError::into_inner);
            (w.clock.clone(), w.latency, w.api_faults.clone())
        };
        let sim = Arc::new(TalosSim {
            fleet: Mutex::new(Fleet::new(seed)),
            world: world.clone(),
            ports,
            clock,
            latency,
            listeners: Mutex::default(),
            block: Mutex::new(block),
            lb_forwarders: Mutex::default(),
            http_addr: std::sync::OnceLock::new(),
            rescue: crate::rescue::RescueSystems::new(22),
            api_faults,
        });
        let weak = Arc::downgrade(&sim);
        world
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .port_probe = crate::world::PortProbe::new(move |server, port| {
            weak.upgrade().and_then(|sim| sim.port_open(server, port))
        });
        let looping = sim.clone();
        let task = tokio::spawn(async move {
            // A fixed pause between passes, not a fixed rate: a pass that takes longer than the
            // period (many objects, a slow machine) must not turn the loop into a busy one that
            // starves the API requests waiting for the same lock.
            loop {
                tokio::time::sleep(TICK_PAUSE).await;
                looping.tick();
            }
        });
        (sim, task)
    }

    /// Closes every node and load balancer socket (on shutdown).
    pub fn close_all(&self) {
        self.listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.lb_forwarders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.rescue.close_all();
    }

    /// Claims this sim's public IPv4 block if not done yet (see [`BlockClaim`]).
    ///
    /// # Errors
    /// Why the block is not this sim's, naming `--public-ipv4-base`.
    pub fn claim_block(&self) -> Result<(), String> {
        let mut block = self.block.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*block, BlockClaim::Unclaimed) {
            let base = self
                .world
                .read()
                .unwrap_or_else(PoisonError::into_inner)
                .first_ipv4();
            *block = match claim_ipv4_block(base, self.ports) {
                Ok(socket) => BlockClaim::Held(socket),
                Err(message) => {
                    tracing::error!("{message}");
                    BlockClaim::Taken(message)
                }
            };
        }
        match &*block {
            BlockClaim::Taken(message) => Err(message.clone()),
            _ => Ok(()),
        }
    }

    /// The fleet, locked. Never take the world lock while holding it.
    pub fn lock(&self) -> MutexGuard<'_, Fleet> {
        self.fleet.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records where the sim's HTTP server listens (the address of its chart repository).
    pub fn set_http_addr(&self, addr: std::net::SocketAddr) {
        let _ = self.http_addr.set(addr);
    }

    /// Where the sim's HTTP server listens, once bound.
    pub fn http_addr(&self) -> Option<std::net::SocketAddr> {
        self.http_addr.get().copied()
    }

    /// Sim time.
    pub fn now(&self) -> Duration {
        self.clock.elapsed()
    }

    /// Wall time as the sim reports it (RFC 3339).
    pub fn world_timestamp(&self) -> String {
        self.clock.timestamp()
    }

    /// Wall time as the Kubernetes API writes it (RFC 3339 in UTC with `Z`, whole seconds:
    /// `metav1.Time`), where Hetzner writes `+00:00`.
    pub fn kube_timestamp(&self) -> String {
        kube_time(&self.world_timestamp())
    }

    /// How long a Talos operation takes under the latency model (`talos_boot`, `talos_reboot`,
    /// `talos_services`).
    pub fn duration(&self, what: &str) -> Duration {
        self.latency.action_duration(what)
    }

    /// How long a boot or reboot (`talos_boot`, `talos_reboot`) takes this time: the latency
    /// model's duration, times the `slow_boot` factor drawn for this boot.
    pub fn boot_duration(&self, what: &str) -> Duration {
        let factor = self.api_faults.lock().boot_factor();
        self.duration(what).mul_f64(factor)
    }

    /// A fault's duration (given before `--time-scale`) on the sim clock: scaled by the time
    /// scale in both latency modes, so that faults keep their meaning in instant mode.
    pub fn fault_duration(&self, d: Duration) -> Duration {
        d.mul_f64(self.time_scale())
    }

    /// Waits until the sim clock has moved `d` on (polling it, so that a manual clock works).
    pub async fn sleep(&self, d: Duration) {
        let until = self.now() + d;
        loop {
            let now = self.now();
            if now >= until {
                return;
            }
            tokio::time::sleep((until - now).min(Duration::from_millis(20))).await;
        }
    }

    /// The time scale (`--time-scale`).
    pub fn time_scale(&self) -> f64 {
        self.latency.time_scale.max(0.0)
    }

    /// A duration scaled by the time scale (zero in instant mode).
    pub fn scaled(&self, d: Duration) -> Duration {
        match self.latency.mode {
            crate::latency::LatencyMode::Instant => Duration::ZERO,
            crate::latency::LatencyMode::Realistic => d.mul_f64(self.latency.time_scale.max(0.0)),
        }
    }

    /// Whether a server's node serves a nominal port (`None` when the sim does not model it, e.g.
    /// a server that is not a Talos node).
    pub fn port_open(&self, server: i64, port: u16) -> Option<bool> {
        let fleet = self.lock();
        let node = fleet.nodes.get(&server)?;
        match port {
            APID_PORT => Some(node.is_up() && node.tls.is_some()),
            // kube-apiserver keeps accepting TCP without etcd quorum (requests then fail), so a
            // TCP health check still passes once the API server runs (after bootstrap).
            KUBE_PORT => Some(
                node.is_up()
                    && node.is_control_plane()
                    && node
                        .cluster_key()
                        .is_some_and(|k| fleet.clusters.get(&k).is_some_and(|c| c.bootstrapped)),
            ),
            _ => None,
        }
    }

    /// `/_sim/state` additions: `talos_nodes` and `kubernetes`.
    pub fn state_json(&self) -> (serde_json::Value, serde_json::Value) {
        let fleet = self.lock();
        (fleet.nodes_json(), crate::kube::state_json(&fleet))
    }

    /// What the loop needs of the world; `reach` only when a kubelet is waiting to join (copying
    /// it costs a pass over every server's firewalls).
    fn views(
        &self,
        reach: bool,
    ) -> (
        Vec<ServerView>,
        Vec<crate::lbproxy::LbView>,
        Option<join::Reach>,
    ) {
        let world = self.world.read().unwrap_or_else(PoisonError::into_inner);
        let servers = world
            .data
            .servers
            .values()
            .map(|s| ServerView {
                id: s.id,
                name: s.name.clone(),
                server_type: s.server_type.clone(),
                // A server in the rescue system runs, but not its disk.
                running: s.status == "running" && s.in_rescue.is_none(),
                ipv4: s.ipv4,
                private_net: s.private_net.iter().map(|n| (n.network, n.ip)).collect(),
                user_data: s.user_data.clone(),
                talos: match &s.disk {
                    crate::world::Disk::Talos(t)
                        if crate::catalog::server_type(&s.server_type)
                            .is_some_and(|st| st.arch.as_str() == t.hcloud_arch()) =>
                    {
                        Some(t.clone())
                    }
                    _ => None,
                },
                disk_writes: s.disk_writes,
            })
            .collect();
        (
            servers,
            crate::lbproxy::views(&world),
            reach.then(|| join::Reach::capture(&world)),
        )
    }

    /// One pass of the reconcile loop.
    pub fn tick(self: &Arc<Self>) {
        let joining = self
            .lock()
            .nodes
            .values()
            .any(|n| n.is_up() && n.config.is_some() && !n.kube_registered);
        let (servers, lbs, reach) = self.views(joining);
        let now = self.now();
        let mut start_listening = Vec::new();
        let mut stop_listening = Vec::new();
        let mut powered_off = Vec::new();
        let mut upgraded = Vec::new();
        {
            let mut fleet = self.lock();
            let present: std::collections::BTreeSet<i64> = servers.iter().map(|s| s.id).collect();
            let gone: Vec<i64> = fleet
                .nodes
                .keys()
                .copied()
                .filter(|id| !present.contains(id))
                .collect();
            for id in gone {
                fleet.nodes.remove(&id);
                stop_listening.push(id);
            }
            for view in &servers {
                let stale = fleet
                    .nodes
                    .get(&view.id)
                    .is_some_and(|n| view.talos.is_none() || n.disk_writes != view.disk_writes);
                if stale {
                    // The disk was rewritten (or holds no Talos any more): that node is gone.
                    fleet.nodes.remove(&view.id);
                    stop_listening.push(view.id);
                }
                let (Some(ip), Some(disk)) = (view.ipv4, view.talos.clone()) else {
                    continue;
                };
                let node = fleet
                    .nodes
                    .entry(view.id)
                    .or_insert_with(|| new_node(view, ip, disk));
                node.private_net = view.private_net.clone();
                node.server_name = view.name.clone();
                node.server_type = view.server_type.clone();
                let schematic = node.schematic.clone();
                let version = node.version.clone();
                if self.advance(node, view, now) {
                    powered_off.push(view.id);
                }
                if (node.version != version || node.schematic != schematic)
                    && let Some(mut disk) = view.talos.clone()
                {
                    // An upgrade installed another image on the disk.
                    disk.version = node.version.clone();
                    disk.schematic = node.schematic.clone();
                    upgraded.push((view.id, disk));
                }
                if node.is_up() {
                    start_listening.push((view.id, ip));
                }
            }
            // A cluster none of whose nodes remain (servers deleted, nodes reset) is gone with its
            // etcd data and Kubernetes objects: new servers with the same secrets start afresh.
            let live: std::collections::BTreeSet<String> =
                fleet.nodes.values().filter_map(Node::cluster_key).collect();
            fleet.clusters.retain(|key, _| live.contains(key));
            fleet.join_members(reach.as_ref(), &self.kube_timestamp());
            fleet.end_finished_boots();
            tls::refresh(self, &mut fleet);
        }
        // Taken after the fleet lock is released (never hold both).
        if !powered_off.is_empty() || !upgraded.is_empty() {
            let mut world = self.world.write().unwrap_or_else(PoisonError::into_inner);
            for (id, disk) in upgraded {
                if let Some(server) = world.data.servers.get_mut(&id) {
                    server.disk = crate::world::Disk::Talos(disk);
                }
            }
            for id in powered_off {
                // A halted guest turns its server off without a Hetzner action, as on the real
                // platform; an action already on the server (e.g. a delete) carries on.
                if let Some(server) = world.data.servers.get_mut(&id)
                    && server.status == "running"
                {
                    server.status = "off".into();
                }
            }
        }
        listeners::apply(self, start_listening, stop_listening);
        crate::lbproxy::reconcile(self, lbs);
        crate::kube::reconcile::run(self);
        crate::rescue::RescueSystems::reconcile(self);
    }

    /// Moves a node along its phases; `true` when it has just halted and its server must be
    /// powered off.
    fn advance(&self, node: &mut Node, view: &ServerView, now: Duration) -> bool {
        if !view.running {
            node.phase = Phase::Down;
            node.tls = None;
            return false;
        }
        match node.phase {
            Phase::Halting { until } if until <= now => {
                node.phase = Phase::Down;
                node.tls = None;
                return true;
            }
            Phase::Halting { .. } => return false,
            Phase::Down => {
                node.phase = Phase::Booting {
                    until: now + self.boot_duration("talos_boot"),
                }
            }
            Phase::Booting { until } | Phase::Rebooting { until } if until <= now => {
                self.boot(node, view, now)
            }
            Phase::Up if node.unexpected_reboot_at.is_some_and(|at| at <= now) => {
                self.reboot_unexpectedly(node, now);
                return false;
            }
            _ => {}
        }
        if let Some((_, at)) = &node.try_rollback
            && *at <= now
            && let Some((old, _)) = node.try_rollback.take()
        {
            node.config = Some(old);
            node.tls = None;
        }
        false
    }

    fn boot(&self, node: &mut Node, view: &ServerView, now: Duration) {
        if let Some(version) = node.pending_version.take() {
            node.version = version;
        }
        if let Some(schematic) = node.pending_schematic.take() {
            node.schematic = schematic;
        }
        if let Some(staged) = node.staged.take() {
            node.config = Some(staged);
        }
        node.try_rollback = None;
        // Talos on hcloud fetches the platform configuration (the server's user data) at every
        // boot whose STATE holds no machine configuration: the first boot, and any boot after a
        // reset wiped STATE. A configuration in STATE always wins over the user data.
        if node.config.is_none() {
            node.user_data_error = None;
            match view.user_data.as_deref().map(userdata::decode) {
                None | Some(Ok(None)) => {}
                Some(Ok(Some(text))) => match config::parse(&text, &node.version) {
                    Ok(cfg) => node.config = Some(cfg),
                    Err(e) => node.user_data_error = Some(e.to_string()),
                },
                Some(Err(e)) => node.user_data_error = Some(e.to_string()),
            }
        }
        // STATE and EPHEMERAL are formatted, with the encryption the configuration asks for,
        // on the first boot that has a configuration; later boots open what is there.
        if node.volumes.is_none()
            && let Some(cfg) = &node.config
        {
            node.volumes = Some(cfg.volumes.clone());
        }
        node.phase = Phase::Up;
        node.boots += 1;
        node.tls = None;
        node.services_ready_at = now + self.duration("talos_services");
        node.unexpected_reboot_at = self
            .api_faults
            .lock()
            .unexpected_reboot_after()
            .map(|after| now + self.fault_duration(after));
    }

    /// The `talos_reboot` fault: the node goes down as on any reboot (its connections end, its
    /// kubelet stops posting status), without anyone asking. A TRY configuration, held in
    /// memory only, is lost; a staged one is applied at the boot, as Talos does.
    fn reboot_unexpectedly(&self, node: &mut Node, now: Duration) {
        self.api_faults
            .lock()
            .record(crate::faults::ApiFaultKind::TalosReboot);
        tracing::info!(
            server = node.server_id,
            "talos_reboot fault: node reboots unexpectedly"
        );
        if let Some((old, _)) = node.try_rollback.take() {
            node.config = Some(old);
        }
        node.unexpected_reboot_at = None;
        node.phase = Phase::Rebooting {
            until: now + self.boot_duration("talos_reboot"),
        };
        node.tls = None;
    }
}

fn new_node(view: &ServerView, ip: Ipv4Addr, disk: crate::world::TalosDisk) -> Node {
    let version = if disk.version.starts_with('v') {
        disk.version
    } else {
        format!("v{}", disk.version)
    };
    Node {
        server_id: view.id,
        server_name: view.name.clone(),
        server_type: view.server_type.clone(),
        ip,
        private_net: view.private_net.clone(),
        version,
        pending_version: None,
        schematic: disk.schematic,
        pending_schematic: None,
        disk_writes: view.disk_writes,
        phase: Phase::Down,
        config: None,
        staged: None,
        user_data_error: None,
        listen_error: None,
        etcd_left: false,
        kube_registered: false,
        kube_registered_at: None,
        kubelet_error: None,
        boots: 0,
        node_deleted_in_boot: None,
        services_ready_at: Duration::ZERO,
        try_rollback: None,
        unexpected_reboot_at: None,
        pulled_images: Vec::new(),
        tls: None,
        volumes: None,
    }
}

/// A `+00:00` RFC 3339 time in the Kubernetes API's `Z` form.
pub fn kube_time(timestamp: &str) -> String {
    match timestamp.strip_suffix("+00:00") {
        Some(utc) => format!("{utc}Z"),
        None => timestamp.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: i64, public: [u8; 4], private_net: &[(i64, [u8; 4])]) -> Node {
        let view = ServerView {
            id,
            name: format!("server-{id}"),
            server_type: "cx23".into(),
            running: true,
            ipv4: Some(public.into()),
            private_net: private_net
                .iter()
                .map(|(net, ip)| (*net, Ipv4Addr::from(*ip)))
                .collect(),
            user_data: None,
            talos: None,
            disk_writes: 1,
        };
        let disk = crate::world::TalosDisk {
            version: "v1.13.9".into(),
            schematic: crate::catalog::DEFAULT_TALOS_SCHEMATIC.into(),
            arch: "amd64".into(),
        };
        new_node(&view, public.into(), disk)
    }

    #[test]
    fn a_private_ip_routes_within_the_callers_networks_only() {
        let mut fleet = Fleet::new(1);
        // Two clusters whose networks have the same range, as two hk8s clusters of one project.
        for n in [
            node(1, [127, 1, 0, 1], &[(10, [10, 0, 1, 2])]),
            node(2, [127, 1, 0, 2], &[(10, [10, 0, 1, 3])]),
            node(3, [127, 1, 0, 3], &[(20, [10, 0, 1, 2])]),
            node(4, [127, 1, 0, 4], &[(20, [10, 0, 1, 3])]),
            node(5, [127, 1, 0, 5], &[]),
        ] {
            fleet.nodes.insert(n.server_id, n);
        }
        let reached = |from: i64, ip: [u8; 4]| {
            fleet
                .node_reached_from(&fleet.nodes[&from], ip.into())
                .map(|n| n.server_id)
        };
        assert_eq!(reached(1, [10, 0, 1, 3]), Some(2));
        assert_eq!(reached(3, [10, 0, 1, 3]), Some(4));
        assert_eq!(reached(4, [10, 0, 1, 2]), Some(3));
        assert_eq!(
            reached(5, [10, 0, 1, 3]),
            None,
            "no network: no private route"
        );
        assert_eq!(
            reached(5, [127, 1, 0, 4]),
            Some(4),
            "public IPs route anywhere"
        );
        assert_eq!(reached(1, [10, 0, 1, 9]), None);
    }
}
