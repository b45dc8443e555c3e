//! Fault injection: the `--faults` spec and a seeded, deterministic injector.
//!
//! Spec syntax: comma-separated `name=probability` pairs plus an optional `seed=N`, e.g.
//! `5xx=0.02,429burst=0.01,locked=0.05,action_error=0.01,seed=7`, and any number of
//! `location_disabled=LOCATION` terms. Every random decision draws from one ChaCha8 stream seeded
//! from the spec (or `--seed`), so the same request sequence sees the same faults on every run; a
//! disabled location refuses every server create, as Hetzner does while a location is out of
//! capacity (for weeks at a time), and draws nothing from the stream.
//!
//! Faults of the snapshot build path: `factory_download_error=p` (an Image Factory download
//! answers 500 or breaks off mid-stream), `create_image_error=p` (a `create_image` action ends in
//! `error` and its image is removed), `rescue_ssh_refused=SECONDS` (the rescue system's SSH server
//! refuses connections for that many sim seconds, scaled by `--time-scale`, after each boot; draws
//! nothing).
//!
//! Faults of the Talos and Kubernetes APIs, which only clients reaching a node's sockets (or a
//! load balancer's) meet; the sim's own controllers work on its state directly and never do:
//! - `talos_unavailable=p`: an apid call is answered gRPC `Unavailable` with the message apid
//!   gives while machined restarts (`connection error: desc = "transport: Error while dialing:
//!   dial unix /system/run/machined/machine.sock: connect: connection refused"`), before the
//!   call is handled.
//! - `talos_slow=p`: an apid call is handled after a delay drawn uniformly up to
//!   [`TALOS_SLOW_MAX`] (times `--time-scale`, on the sim clock).
//! - `talos_reboot=p`: an up node reboots unexpectedly with probability p per node per minute
//!   (times `--time-scale`): its open connections end as on any reboot, Kubernetes sees it
//!   NotReady and then Ready again, its etcd membership stays, and a TRY configuration is lost.
//!   The time to the next reboot is drawn at every boot.
//! - `slow_boot=FACTOR` (≥ 1): every Talos boot and reboot takes its latency-model duration
//!   times a factor drawn uniformly in [1, FACTOR] for that boot.
//! - `kube_5xx=p`: a Kubernetes API request is answered, before it is handled, with a `Status`:
//!   500 `InternalError` (`Internal error occurred: etcdserver: leader changed`) or 503
//!   `ServiceUnavailable` (`the server is currently unable to handle the request`).
//! - `kube_429=p`: a Kubernetes API request that is not a watch is answered 429 with
//!   `Retry-After: 1` and the plain-text body `Too many requests, please try again later.`, as
//!   the API server's max-in-flight and priority-and-fairness filters answer, before it is
//!   handled. (Those filters never refuse `system:masters`; the sim refuses anyone, so that a
//!   client is shown to cope.)
//! - `watch_drop=p`: a watch stream ends without a final event after a delay drawn uniformly up
//!   to [`WATCH_DROP_MAX`] (times `--time-scale`), as when the API server restarts or a load
//!   balancer's idle timeout cuts the connection.
//!
//! Each of these kinds draws from its own ChaCha8 stream (same seed, its own stream number), so
//! adding one to a spec moves neither the Hetzner faults nor the other kinds.

pub mod api;

use std::time::Duration;

pub use api::{ApiFaultKind, ApiFaults, KubeFault, SharedApiFaults, TalosCallFault};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

/// How many consecutive requests a `429burst` fault answers with 429.
pub const BURST_LENGTH: u32 = 5;

/// The longest delay a `talos_slow` fault adds to an apid call (before `--time-scale`).
pub const TALOS_SLOW_MAX: Duration = Duration::from_secs(5);

/// The longest a watch meeting `watch_drop` lasts before it is cut (before `--time-scale`).
pub const WATCH_DROP_MAX: Duration = Duration::from_secs(60);

/// Parsed `--faults` spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct FaultSpec {
    /// Probability that a request is answered 503 `unavailable` / 500 `service_error`.
    pub server_error: f64,
    /// Probability that a request starts a burst of [`BURST_LENGTH`] 429 replies.
    pub rate_limit_burst: f64,
    /// Probability that a mutating request on an existing resource is answered 423 `locked`.
    pub locked: f64,
    /// Probability that a new action ends in `error` instead of `success`.
    pub action_error: f64,
    /// Seed given inside the spec (overrides `--seed`).
    pub seed: Option<u64>,
    /// Locations that refuse to create servers with 412 `resource_unavailable` "server location
    /// disabled" (what Hetzner answers while a location has no capacity).
    pub disabled_locations: Vec<String>,
    /// Probability that an Image Factory download fails (500, or the stream breaks off).
    pub factory_download_error: f64,
    /// Probability that a `create_image` action fails.
    pub create_image_error: f64,
    /// Seconds (before `--time-scale`) during which the rescue SSH server refuses connections
    /// after each rescue boot.
    pub rescue_ssh_refused: f64,
    /// Probability that an apid call is answered `Unavailable` before it is handled.
    pub talos_unavailable: f64,
    /// Probability that an apid call is delayed (up to [`TALOS_SLOW_MAX`]) before it is handled.
    pub talos_slow: f64,
    /// Probability per up node per minute (before `--time-scale`) that it reboots unexpectedly.
    pub talos_reboot: f64,
    /// Largest factor a Talos boot's duration is multiplied by (drawn in [1, factor] per boot);
    /// 0 leaves boots alone.
    pub slow_boot: f64,
    /// Probability that a Kubernetes API request is answered 500 or 503 before it is handled.
    pub kube_5xx: f64,
    /// Probability that a Kubernetes API request (not a watch) is answered 429 with
    /// `Retry-After` before it is handled.
    pub kube_429: f64,
    /// Probability that a watch is cut after a while (up to [`WATCH_DROP_MAX`]) with no final
    /// event.
    pub watch_drop: f64,
}

impl FaultSpec {
    /// Whether any fault of the Talos or Kubernetes APIs is set (see [`ApiFaults`]).
    pub fn has_api_faults(&self) -> bool {
        [
            self.talos_unavailable,
            self.talos_slow,
            self.talos_reboot,
            self.slow_boot,
            self.kube_5xx,
            self.kube_429,
            self.watch_drop,
        ]
        .iter()
        .any(|v| *v > 0.0)
    }
}

/// Why a `--faults` spec was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultSpecError {
    /// A term was not `name=value`.
    #[error("fault term {0:?} is not name=value")]
    Syntax(String),
    /// The name is not one of the known faults.
    #[error(
        "unknown fault {0:?} (known: 5xx, 429burst, locked, action_error, location_disabled, \
         factory_download_error, create_image_error, rescue_ssh_refused, talos_unavailable, \
         talos_slow, talos_reboot, slow_boot, kube_5xx, kube_429, watch_drop, seed)"
    )]
    Unknown(String),
    /// The probability is not a number in [0, 1] or the seed is not an integer.
    #[error("fault {name:?} has invalid value {value:?}")]
    Value {
        /// The fault name.
        name: String,
        /// The value as written.
        value: String,
    },
}

impl std::str::FromStr for FaultSpec {
    type Err = FaultSpecError;

    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let mut out = FaultSpec::default();
        for term in spec.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (name, value) = term
                .split_once('=')
                .ok_or_else(|| FaultSpecError::Syntax(term.into()))?;
            let bad = || FaultSpecError::Value {
                name: name.into(),
                value: value.into(),
            };
            if name == "seed" {
                out.seed = Some(value.parse().map_err(|_| bad())?);
                continue;
            }
            if name == "location_disabled" {
                // Any name is taken: a location the catalog does not know is never asked for.
                if value.is_empty() || !value.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(bad());
                }
                if !out.disabled_locations.iter().any(|l| l == value) {
                    out.disabled_locations.push(value.to_owned());
                }
                continue;
            }
            if name == "rescue_ssh_refused" {
                let seconds: f64 = value.parse().map_err(|_| bad())?;
                if !(seconds.is_finite() && seconds >= 0.0) {
                    return Err(bad());
                }
                out.rescue_ssh_refused = seconds;
                continue;
            }
            if name == "slow_boot" {
                let factor: f64 = value.parse().map_err(|_| bad())?;
                if !(factor.is_finite() && factor >= 1.0) {
                    return Err(bad());
                }
                out.slow_boot = factor;
                continue;
            }
            let p: f64 = value.parse().map_err(|_| bad())?;
            if !(0.0..=1.0).contains(&p) {
                return Err(bad());
            }
            match name {
                "5xx" => out.server_error = p,
                "429burst" => out.rate_limit_burst = p,
                "locked" => out.locked = p,
                "action_error" => out.action_error = p,
                "factory_download_error" => out.factory_download_error = p,
                "create_image_error" => out.create_image_error = p,
                "talos_unavailable" => out.talos_unavailable = p,
                "talos_slow" => out.talos_slow = p,
                "talos_reboot" => out.talos_reboot = p,
                "kube_5xx" => out.kube_5xx = p,
                "kube_429" => out.kube_429 = p,
                "watch_drop" => out.watch_drop = p,
                _ => return Err(FaultSpecError::Unknown(name.into())),
            }
        }
        Ok(out)
    }
}

/// A fault chosen for one request, before it is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestFault {
    /// Answer with this 5xx status.
    ServerError(u16),
    /// Answer 429 (part of a burst).
    RateLimited,
}

/// Draws faults from the seeded stream and counts what it injected.
#[derive(Debug)]
pub struct FaultInjector {
    spec: FaultSpec,
    rng: ChaCha8Rng,
    burst_left: u32,
    /// Faults injected so far (every kind).
    pub injected: u64,
}

impl FaultInjector {
    /// A new injector; the spec's own seed wins over `seed`.
    pub fn new(spec: FaultSpec, seed: u64) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(spec.seed.unwrap_or(seed));
        FaultInjector {
            spec,
            rng,
            burst_left: 0,
            injected: 0,
        }
    }

    fn roll(&mut self, p: f64) -> bool {
        // Always draw, so that one fault kind being disabled does not shift the others' stream.
        let x: f64 = self.rng.random();
        p > 0.0 && x < p
    }

    /// Fault for an incoming API request, if any.
    pub fn on_request(&mut self) -> Option<RequestFault> {
        if self.burst_left > 0 {
            self.burst_left -= 1;
            self.injected += 1;
            return Some(RequestFault::RateLimited);
        }
        if self.roll(self.spec.rate_limit_burst) {
            self.burst_left = BURST_LENGTH - 1;
            self.injected += 1;
            return Some(RequestFault::RateLimited);
        }
        if self.roll(self.spec.server_error) {
            self.injected += 1;
            let status = if self.rng.random::<bool>() { 503 } else { 500 };
            return Some(RequestFault::ServerError(status));
        }
        None
    }

    /// Whether a mutating request on an existing resource is refused as `locked`.
    pub fn lock_resource(&mut self) -> bool {
        let hit = self.roll(self.spec.locked);
        self.injected += u64::from(hit);
        hit
    }

    /// Whether `location` refuses to create servers (`location_disabled=`); draws nothing from the
    /// stream, so disabling a location does not move the other faults.
    pub fn location_disabled(&self, location: &str) -> bool {
        self.spec.disabled_locations.iter().any(|l| l == location)
    }

    /// How an Image Factory download fails, if it does: `Some(true)` breaks the stream off,
    /// `Some(false)` answers 500.
    pub fn factory_download(&mut self) -> Option<bool> {
        let hit = self.roll(self.spec.factory_download_error);
        let mid_stream: bool = self.rng.random();
        self.injected += u64::from(hit);
        hit.then_some(mid_stream)
    }

    /// Whether a `create_image` action fails (on top of `action_error`).
    pub fn fail_create_image(&mut self) -> bool {
        let hit = self.roll(self.spec.create_image_error);
        self.injected += u64::from(hit);
        hit
    }

    /// How long the rescue SSH server refuses connections after a boot, in unscaled seconds.
    pub fn rescue_ssh_refused(&self) -> f64 {
        self.spec.rescue_ssh_refused
    }

    /// Whether a new action will fail.
    pub fn fail_action(&mut self) -> bool {
        let hit = self.roll(self.spec.action_error);
        self.injected += u64::from(hit);
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_spec() {
        let spec: FaultSpec = "5xx=0.02,429burst=0.01,locked=0.05,action_error=0.01,seed=7"
            .parse()
            .unwrap();
        assert_eq!(spec.server_error, 0.02);
        assert_eq!(spec.rate_limit_burst, 0.01);
        assert_eq!(spec.locked, 0.05);
        assert_eq!(spec.action_error, 0.01);
        assert_eq!(spec.seed, Some(7));
        assert!(spec.disabled_locations.is_empty());
    }

    #[test]
    fn disabled_locations_are_listed_and_draw_nothing() {
        let spec: FaultSpec = "location_disabled=fsn1,5xx=0.3,location_disabled=nbg1,seed=3"
            .parse()
            .unwrap();
        assert_eq!(spec.disabled_locations, ["fsn1", "nbg1"]);
        let with = FaultInjector::new(spec, 0);
        assert!(with.location_disabled("fsn1"));
        assert!(!with.location_disabled("hel1"));
        // The random faults are the same with and without disabled locations.
        let run = |spec: &str| {
            let mut f = FaultInjector::new(spec.parse().unwrap(), 0);
            (0..100).map(|_| f.on_request()).collect::<Vec<_>>()
        };
        assert_eq!(
            run("location_disabled=fsn1,5xx=0.3,seed=3"),
            run("5xx=0.3,seed=3")
        );
        assert!(matches!(
            "location_disabled=".parse::<FaultSpec>(),
            Err(FaultSpecError::Value { .. })
        ));
    }

    #[test]
    fn parses_the_snapshot_faults() {
        let spec: FaultSpec =
            "factory_download_error=0.5,create_image_error=1,rescue_ssh_refused=90"
                .parse()
                .unwrap();
        assert_eq!(spec.factory_download_error, 0.5);
        assert_eq!(spec.create_image_error, 1.0);
        assert_eq!(spec.rescue_ssh_refused, 90.0);
        assert!(matches!(
            "rescue_ssh_refused=-1".parse::<FaultSpec>(),
            Err(FaultSpecError::Value { .. })
        ));
        let mut f = FaultInjector::new(spec, 0);
        assert!(f.fail_create_image());
    }

    #[test]
    fn parses_the_api_faults() {
        let spec: FaultSpec = "talos_unavailable=0.1,talos_slow=0.2,talos_reboot=0.05,slow_boot=3,\
                               kube_5xx=0.1,kube_429=0.05,watch_drop=0.5,seed=11"
            .parse()
            .unwrap();
        assert_eq!(spec.talos_unavailable, 0.1);
        assert_eq!(spec.talos_slow, 0.2);
        assert_eq!(spec.talos_reboot, 0.05);
        assert_eq!(spec.slow_boot, 3.0);
        assert_eq!(spec.kube_5xx, 0.1);
        assert_eq!(spec.kube_429, 0.05);
        assert_eq!(spec.watch_drop, 0.5);
        assert_eq!(spec.seed, Some(11));
        assert!(spec.has_api_faults());
        assert!(!FaultSpec::default().has_api_faults());
        for bad in [
            "slow_boot=0.5",
            "slow_boot=x",
            "kube_429=1.5",
            "talos_reboot=-0.1",
        ] {
            assert!(
                matches!(bad.parse::<FaultSpec>(), Err(FaultSpecError::Value { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn refuses_bad_specs() {
        assert!(matches!(
            "boom=0.1".parse::<FaultSpec>(),
            Err(FaultSpecError::Unknown(_))
        ));
        assert!(matches!(
            "5xx=2".parse::<FaultSpec>(),
            Err(FaultSpecError::Value { .. })
        ));
        assert!(matches!(
            "5xx".parse::<FaultSpec>(),
            Err(FaultSpecError::Syntax(_))
        ));
    }

    #[test]
    fn same_seed_same_faults() {
        let spec: FaultSpec = "5xx=0.3,429burst=0.05,seed=42".parse().unwrap();
        let run = || {
            let mut f = FaultInjector::new(spec.clone(), 0);
            (0..200).map(|_| f.on_request()).collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        assert!(first.iter().any(Option::is_some));
        assert!(first.iter().any(Option::is_none));
    }

    #[test]
    fn bursts_last_burst_length_requests() {
        let mut f = FaultInjector::new("429burst=1".parse().unwrap(), 1);
        for _ in 0..BURST_LENGTH * 3 {
            assert_eq!(f.on_request(), Some(RequestFault::RateLimited));
        }
    }
}
