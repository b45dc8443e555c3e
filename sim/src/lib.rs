//! `hk8s-sim`: an offline Hetzner Cloud API (part 1 of the sim) faithful enough that the official
//! clients cannot tell it from the real one, with Talos nodes and a Kubernetes API behind the
//! servers and load balancers (part 2: [`talos`], [`kube`], [`lbproxy`], [`netfilter`]).
//!
//! [`serve`] starts the API on a socket and returns a [`SimHandle`]; tests use it in-process on port
//! 0, the `hk8s-sim` binary wraps it with a CLI. The simulated project lives in a [`world::World`]
//! shared by every handler; later parts of the sim (Talos nodes, Kubernetes) follow it through
//! [`SimHandle::subscribe`].

pub mod catalog;
pub mod chartrepo;
pub mod clock;
pub mod control;
pub mod factory;
pub mod faults;
pub mod hcloud;
pub mod kube;
pub mod labels;
pub mod latency;
pub mod lbproxy;
pub mod netfilter;
pub mod openapi;
pub mod persist;
pub mod ratelimit;
pub mod rescue;
pub mod stats;
pub mod talos;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod world;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

use clock::Clock;
use faults::FaultSpec;
use latency::{Latency, LatencyMode};
use world::{World, WorldEvent, WorldOptions};

/// Hetzner's default rate limit: requests per hour per project.
pub const DEFAULT_RATE_LIMIT_PER_HOUR: u32 = 3600;

/// How to run the sim.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Address to listen on (port 0 = any free port).
    pub listen: SocketAddr,
    /// Bearer token clients must send.
    pub token: String,
    /// Latency profile.
    pub latency: LatencyMode,
    /// Factor applied to realistic durations.
    pub time_scale: f64,
    /// Fault injection.
    pub faults: FaultSpec,
    /// Seed for the fault stream (when the spec has none).
    pub seed: u64,
    /// Where to save the world on shutdown and restore it from on start.
    pub state_file: Option<PathBuf>,
    /// Talos versions to pre-create snapshots for.
    pub talos_versions: Vec<String>,
    /// Requests per hour before 429.
    pub rate_limit_per_hour: u32,
    /// How long the rate-limit bucket takes to refill completely: an hour, as at Hetzner; tests
    /// shorten it to watch a bucket empty and refill in seconds.
    pub rate_limit_period: std::time::Duration,
    /// The clock (tests may pass [`Clock::manual`]).
    pub clock: Clock,
    /// Where Talos nodes and load balancers listen (apid, Kubernetes API) on their loopback IPs.
    pub talos_ports: talos::Ports,
    /// First public IPv4 handed out to servers and load balancers (a loopback address).
    pub public_ipv4_base: std::net::Ipv4Addr,
    /// Claim the public IPv4 block at start and refuse to start when another sim holds it (the
    /// `hk8s-sim` binary does). When false the block is claimed when the first node listens, and
    /// nodes of a sim that cannot claim it fail loudly (`listen_error`) instead.
    pub claim_ipv4_block_at_start: bool,
    /// Where rescue systems' SSH servers listen on their server's public IPv4 (22, the real
    /// port; a test knob only).
    pub rescue_ssh_port: u16,
    /// Validate every Hetzner API response against the vendored OpenAPI description
    /// ([`openapi`]); `new` takes it from `HK8S_SIM_CHECK_OPENAPI`.
    pub check_openapi: bool,
}

impl SimConfig {
    /// Defaults for tests: loopback port 0, instant latency, no faults, 3600 requests/hour, the
    /// response checker as `HK8S_SIM_CHECK_OPENAPI` says.
    pub fn new(token: impl Into<String>) -> Self {
        SimConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: token.into(),
            latency: LatencyMode::Instant,
            time_scale: 1.0,
            faults: FaultSpec::default(),
            seed: 0,
            state_file: None,
            talos_versions: Vec::new(),
            rate_limit_per_hour: DEFAULT_RATE_LIMIT_PER_HOUR,
            rate_limit_period: std::time::Duration::from_secs(3600),
            clock: Clock::real(),
            talos_ports: talos::Ports::default(),
            public_ipv4_base: world::DEFAULT_FIRST_IPV4,
            claim_ipv4_block_at_start: false,
            rescue_ssh_port: 22,
            check_openapi: openapi::enabled_by_env(),
        }
    }
}

/// Why the sim could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The state file could not be read or written.
    #[error(transparent)]
    State(#[from] persist::PersistError),
    /// Another sim holds the public IPv4 block (the message names `--public-ipv4-base`).
    #[error("{0}")]
    Ipv4BlockTaken(String),
    /// The HTTP server task failed.
    #[error("HTTP server failed")]
    Server(#[source] std::io::Error),
}

/// A running sim. Dropping it without [`SimHandle::shutdown`] leaves the server task running until
/// the runtime ends.
pub struct SimHandle {
    addr: SocketAddr,
    world: Arc<RwLock<World>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
    ticker: Option<JoinHandle<()>>,
    state_file: Option<PathBuf>,
    talos: Arc<talos::TalosSim>,
    talos_loop: JoinHandle<()>,
    openapi: Option<Arc<openapi::Checker>>,
}

impl SimHandle {
    /// The address actually bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR/v1`, the value for `HCLOUD_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// `http://ADDR/factory`, the Image Factory stand-in (the value for `HK8S_IMAGE_FACTORY`).
    pub fn image_factory_url(&self) -> String {
        format!("http://{}{}", self.addr, factory::PATH)
    }

    /// The shared world (for tests and later parts of the sim).
    pub fn world(&self) -> Arc<RwLock<World>> {
        self.world.clone()
    }

    /// The Talos nodes and Kubernetes clusters.
    pub fn talos(&self) -> Arc<talos::TalosSim> {
        self.talos.clone()
    }

    /// The response checker, when the sim runs with one (`check_openapi`).
    pub fn openapi(&self) -> Option<Arc<openapi::Checker>> {
        self.openapi.clone()
    }

    /// Receives world events (server started/stopped/deleted, load balancer changes).
    pub fn subscribe(&self) -> broadcast::Receiver<WorldEvent> {
        self.world
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .subscribe()
    }

    /// Stops accepting requests, waits for the server, and saves the world to the state file.
    pub async fn shutdown(mut self) -> Result<(), SimError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
        self.talos_loop.abort();
        self.talos.close_all();
        match (&mut self.task).await {
            Ok(result) => result.map_err(SimError::Server)?,
            Err(join) => return Err(SimError::Server(std::io::Error::other(join))),
        }
        if let Some(path) = &self.state_file {
            let world = self.world.read().unwrap_or_else(PoisonError::into_inner);
            persist::save(path, &world.data)?;
        }
        Ok(())
    }
}

/// Starts the sim: restores the state file if present, binds, and serves until shutdown.
pub async fn serve(config: SimConfig) -> Result<SimHandle, SimError> {
    let options = WorldOptions {
        latency: Latency {
            mode: config.latency,
            time_scale: config.time_scale,
        },
        faults: config.faults.clone(),
        seed: config.seed,
        rate_limit_per_hour: config.rate_limit_per_hour,
        rate_limit_period: config.rate_limit_period,
        talos_versions: config.talos_versions.clone(),
        first_ipv4: config.public_ipv4_base,
        token: config.token.clone(),
    };
    let block = if config.claim_ipv4_block_at_start {
        talos::BlockClaim::Held(
            talos::claim_ipv4_block(config.public_ipv4_base, config.talos_ports)
                .map_err(SimError::Ipv4BlockTaken)?,
        )
    } else {
        talos::BlockClaim::Unclaimed
    };
    let mut world = World::new(options, config.clock.clone());
    if let Some(path) = &config.state_file
        && let Some(saved) = persist::load(path)?
    {
        world.restore(saved);
    }
    let world = Arc::new(RwLock::new(world));
    let (talos, talos_loop) =
        talos::TalosSim::start(world.clone(), config.talos_ports, config.seed, block);
    talos.rescue.set_port(config.rescue_ssh_port);
    {
        let weak = Arc::downgrade(&talos);
        world
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .state_sections = world::StateSections::new(move || {
            weak.upgrade()
                .map(|t| {
                    let (nodes, kube) = t.state_json();
                    vec![
                        ("talos_nodes".to_string(), nodes),
                        ("kubernetes".to_string(), kube),
                        ("rescue_systems".to_string(), t.rescue.state_json()),
                    ]
                })
                .unwrap_or_default()
        });
    }
    let checker = config
        .check_openapi
        .then(|| Arc::new(openapi::Checker::new()));
    let state = hcloud::AppState {
        world: world.clone(),
        openapi: checker.clone(),
    };
    let mut api = hcloud::router(state.clone());
    if let Some(checker) = &checker {
        api = api.layer(axum::middleware::from_fn_with_state(
            checker.clone(),
            openapi::check_responses,
        ));
    }
    let app = axum::Router::new()
        .nest("/v1", api)
        .merge(chartrepo::router())
        .merge(factory::router(state.clone()))
        .merge(control::router(state));
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SimError::Bind {
        addr: config.listen,
        source,
    })?;
    talos.set_http_addr(addr);
    let (stop, stopped) = oneshot::channel::<()>();
    // Without TCP_NODELAY, large list replies meet Nagle + delayed ACK and take ~40 ms each.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!("cannot set TCP_NODELAY: {e}");
        }
    });
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    // In realistic mode actions also finish without requests, so that event listeners (later
    // parts of the sim) see servers boot on time.
    let ticker = (config.latency == LatencyMode::Realistic).then(|| {
        let world = world.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(Duration::from_millis(100));
            loop {
                interval.tick().await;
                world
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .settle_actions();
            }
        })
    });
    Ok(SimHandle {
        addr,
        world,
        stop: Some(stop),
        task,
        ticker,
        state_file: config.state_file,
        talos,
        talos_loop,
        openapi: checker,
    })
}
