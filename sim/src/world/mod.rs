//! The simulated Hetzner project: every object, the action queue, address allocation, the clock,
//! the fault injector and request statistics. Shared by all handlers as `Arc<RwLock<World>>`.
//!
//! Later parts of the sim (Talos nodes, the Kubernetes API) follow the world through
//! [`World::subscribe`]: every server status change, server deletion and load balancer
//! creation/deletion is broadcast as a [`WorldEvent`] carrying the object's loopback address.

pub mod actions;
pub mod disk;
pub mod hooks;
pub mod records;
mod seed;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::clock::Clock;
use crate::faults::{ApiFaults, FaultInjector, FaultSpec, SharedApiFaults};
use crate::latency::Latency;
use crate::ratelimit::TokenBucket;
use crate::stats::Stats;
pub use actions::{Action, Effect};
pub use hooks::{PortProbe, StateSections};
pub use records::*;

/// First public IPv4 handed out by default: 127.10.0.1 (127.0.0.1 itself is never used).
pub const DEFAULT_FIRST_IPV4: Ipv4Addr = Ipv4Addr::new(127, 10, 0, 1);

/// Something that later parts of the sim react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorldEvent {
    /// A server's status changed (e.g. to `running` after boot, `off` after shutdown).
    ServerStatus {
        /// Server id.
        id: i64,
        /// Its public IPv4, if it has one.
        ipv4: Option<Ipv4Addr>,
        /// The new status.
        status: String,
    },
    /// A server was deleted.
    ServerDeleted {
        /// Server id.
        id: i64,
        /// The address it had.
        ipv4: Option<Ipv4Addr>,
    },
    /// A load balancer was created or changed (services, targets).
    LoadBalancerChanged {
        /// Load balancer id.
        id: i64,
        /// Its public IPv4.
        ipv4: Ipv4Addr,
    },
    /// A load balancer was deleted.
    LoadBalancerDeleted {
        /// Load balancer id.
        id: i64,
        /// The address it had.
        ipv4: Ipv4Addr,
    },
}

/// Everything that is saved to `--state-file` and reset by `POST /_sim/reset`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Collections {
    /// Servers by id.
    pub servers: BTreeMap<i64, Server>,
    /// Networks by id.
    pub networks: BTreeMap<i64, Network>,
    /// Firewalls by id.
    pub firewalls: BTreeMap<i64, Firewall>,
    /// Load balancers by id.
    pub load_balancers: BTreeMap<i64, LoadBalancer>,
    /// Placement groups by id.
    pub placement_groups: BTreeMap<i64, PlacementGroup>,
    /// Images by id.
    pub images: BTreeMap<i64, Image>,
    /// SSH keys by id.
    pub ssh_keys: BTreeMap<i64, SshKey>,
    /// Volumes by id (absent from state files written before volumes existed).
    #[serde(default)]
    pub volumes: BTreeMap<i64, Volume>,
    /// Primary IPs by id.
    #[serde(default)]
    pub primary_ips: BTreeMap<i64, PrimaryIp>,
    /// Floating IPs by id.
    #[serde(default)]
    pub floating_ips: BTreeMap<i64, FloatingIp>,
    /// Uploaded certificates by id.
    #[serde(default)]
    pub certificates: BTreeMap<i64, Certificate>,
    /// Actions by id.
    pub actions: BTreeMap<i64, Action>,
    /// Next object id.
    pub next_id: i64,
    /// Next public IPv4 (as u32).
    pub next_ipv4: u32,
    /// Next IPv6 /64 index.
    pub next_ipv6: u32,
    /// Next MAC suffix.
    pub next_mac: u32,
    /// Whether images and servers record their disks (false in state files written before the
    /// disk model: [`World::restore`] derives them).
    #[serde(default)]
    pub disks_recorded: bool,
    /// Schematics posted to the Image Factory stand-in: id → canonical YAML.
    #[serde(default)]
    pub factory_schematics: BTreeMap<String, String>,
}

/// Hetzner's deprecation of a catalog item (a server type in one location): when it was
/// announced and after when it can no longer be ordered (RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deprecation {
    /// When the deprecation was announced.
    pub announced: String,
    /// After this time the item cannot be ordered any more.
    pub unavailable_after: String,
}

/// The simulated project plus the machinery around it.
#[derive(Debug)]
pub struct World {
    /// The objects.
    pub data: Collections,
    /// Ids of running actions.
    pub running: BTreeSet<i64>,
    /// The clock.
    pub clock: Clock,
    /// The latency model.
    pub latency: Latency,
    /// The fault injector of the Hetzner API.
    pub faults: FaultInjector,
    /// The fault injector of the Talos and Kubernetes APIs (shared with the Talos side).
    pub api_faults: SharedApiFaults,
    /// API rate limit.
    pub rate_limit: TokenBucket,
    /// Request accounting.
    pub stats: Stats,
    /// Load balancer health from the Talos/Kubernetes part of the sim.
    pub port_probe: PortProbe,
    /// Extra `/_sim/state` sections from the Talos/Kubernetes part of the sim.
    pub state_sections: StateSections,
    /// Load balancers whose new connections all go to one server while it is a healthy target
    /// (`POST /_sim/load_balancers/{id}/pin`): round robin's worst case, made reproducible.
    pub lb_pins: BTreeMap<i64, i64>,
    /// Per-location deprecations of server types announced through
    /// `POST /_sim/server_types/{name}/locations/{location}/deprecation`, by `(type, location)`.
    pub server_type_deprecations: BTreeMap<(String, String), Deprecation>,
    talos_versions: Vec<String>,
    fault_spec: FaultSpec,
    seed: u64,
    first_ipv4: Ipv4Addr,
    token: String,
    events: broadcast::Sender<WorldEvent>,
}

/// How a world is set up.
#[derive(Debug, Clone)]
pub struct WorldOptions {
    /// Latency model.
    pub latency: Latency,
    /// Faults.
    pub faults: FaultSpec,
    /// Seed used when the fault spec has none.
    pub seed: u64,
    /// Requests per hour.
    pub rate_limit_per_hour: u32,
    /// How long the rate-limit bucket takes to refill completely (an hour at Hetzner).
    pub rate_limit_period: Duration,
    /// Talos versions to pre-create snapshots for.
    pub talos_versions: Vec<String>,
    /// First public IPv4 handed out; sims running side by side use different blocks so that their
    /// nodes and load balancers can listen on the nominal ports (50000, 6443).
    pub first_ipv4: Ipv4Addr,
    /// The API token of the project (what `Authorization: Bearer` must carry).
    pub token: String,
}

impl World {
    /// A fresh world with the catalog's system images and the requested Talos snapshots.
    pub fn new(options: WorldOptions, clock: Clock) -> Self {
        let (events, _) = broadcast::channel(1024);
        let mut world = World {
            data: Collections::default(),
            running: BTreeSet::new(),
            faults: FaultInjector::new(options.faults.clone(), options.seed),
            api_faults: SharedApiFaults::new(options.faults.clone(), options.seed),
            rate_limit: TokenBucket::new(options.rate_limit_per_hour, clock.elapsed())
                .with_period(options.rate_limit_period),
            stats: Stats::default(),
            clock,
            latency: options.latency,
            port_probe: PortProbe::default(),
            state_sections: StateSections::default(),
            lb_pins: BTreeMap::new(),
            server_type_deprecations: BTreeMap::new(),
            talos_versions: options.talos_versions,
            fault_spec: options.faults,
            seed: options.seed,
            first_ipv4: options.first_ipv4,
            token: options.token,
            events,
        };
        world.reset();
        world
    }

    /// Whether `token` is the project's API token: the one check of the API's bearer
    /// authentication, also used by the in-cluster components (CCM, CSI driver) that the sim
    /// runs on their users' behalf.
    pub fn accepts_token(&self, token: &str) -> bool {
        !token.is_empty() && token == self.token
    }

    /// One Hetzner API request of an in-cluster component (`route` as `/_sim/stats` names routes,
    /// e.g. `POST /volumes`): takes a request from the project's rate limit and counts it. False
    /// when the limit is used up: the request got 429 and the component tries again later.
    pub fn component_request(&mut self, component: crate::stats::Component, route: &str) -> bool {
        let allowed = self.rate_limit.try_take(self.clock.elapsed());
        self.stats.record_component(component, route, !allowed);
        allowed
    }

    /// The first public IPv4 of this sim's block (`--public-ipv4-base`).
    pub fn first_ipv4(&self) -> Ipv4Addr {
        self.first_ipv4
    }

    /// Empties the project (keeping system images and Talos snapshots) and zeroes the statistics,
    /// the fault stream and the rate limit.
    pub fn reset(&mut self) {
        self.data = Collections {
            next_id: 100_000,
            next_ipv4: u32::from(self.first_ipv4),
            disks_recorded: true,
            ..Collections::default()
        };
        self.running.clear();
        self.lb_pins.clear();
        self.server_type_deprecations.clear();
        self.stats = Stats::default();
        self.faults = FaultInjector::new(self.fault_spec.clone(), self.seed);
        *self.api_faults.lock() = ApiFaults::new(self.fault_spec.clone(), self.seed);
        self.rate_limit.refill_full(self.clock.elapsed());
        seed::seed_images(self);
    }

    /// Replaces the objects with a saved world; actions that were running finish on the next request.
    pub fn restore(&mut self, data: Collections) {
        self.running = data
            .actions
            .values()
            .filter(|a| a.is_running())
            .map(|a| a.id)
            .collect();
        self.data = data;
        if !self.data.disks_recorded {
            seed::derive_disks(&mut self.data);
        }
    }

    /// Talos versions given at start.
    pub fn talos_versions(&self) -> &[String] {
        &self.talos_versions
    }

    /// Receives every [`WorldEvent`] from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<WorldEvent> {
        self.events.subscribe()
    }

    /// Broadcasts an event (dropped when nobody listens).
    pub fn emit(&self, event: WorldEvent) {
        let _ = self.events.send(event);
    }

    /// A new object id.
    pub fn next_id(&mut self) -> i64 {
        self.data.next_id += 1;
        self.data.next_id
    }

    /// A new public IPv4 from the configured first address (127.10.0.1 by default) upwards, skipping `.0` and `.255` host parts.
    pub fn alloc_ipv4(&mut self) -> Ipv4Addr {
        loop {
            let candidate = self.data.next_ipv4;
            self.data.next_ipv4 += 1;
            let last = candidate & 0xff;
            if last != 0 && last != 255 {
                return Ipv4Addr::from(candidate);
            }
        }
    }

    /// A new IPv6 /64 from the documentation range, as `2001:db8:X:Y::/64`.
    pub fn alloc_ipv6_net(&mut self) -> String {
        self.data.next_ipv6 += 1;
        let n = self.data.next_ipv6;
        format!("2001:db8:{:x}:{:x}::/64", n >> 16, n & 0xffff)
    }

    /// A new locally administered MAC address.
    pub fn alloc_mac(&mut self) -> String {
        self.data.next_mac += 1;
        let [_, a, b, c] = self.data.next_mac.to_be_bytes();
        format!("86:00:00:{a:02x}:{b:02x}:{c:02x}")
    }

    /// Private IPs in use in a network (servers, aliases, load balancers).
    pub fn used_private_ips(&self, network: i64) -> BTreeSet<Ipv4Addr> {
        let mut used = BTreeSet::new();
        for s in self.data.servers.values() {
            for n in s.private_net.iter().filter(|n| n.network == network) {
                used.insert(n.ip);
                used.extend(n.alias_ips.iter().copied());
            }
        }
        for lb in self.data.load_balancers.values() {
            used.extend(
                lb.private_net
                    .iter()
                    .filter(|(n, _)| *n == network)
                    .map(|(_, ip)| *ip),
            );
        }
        used
    }
}
