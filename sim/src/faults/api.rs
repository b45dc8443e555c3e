//! The seeded injector of the Talos and Kubernetes API faults (see the parent module for what
//! each kind does). Every kind draws from its own ChaCha8 stream, so a kind's decisions depend
//! only on the seed and on how often that kind was asked, never on the other kinds.
//!
//! One injector is shared by the Hetzner world (statistics, `/_sim/reset`) and the Talos side
//! (apid and Kubernetes sockets, the node loop) behind its own mutex, which is a leaf lock: it is
//! taken while holding the world or the fleet lock, and nothing is locked while holding it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{FaultSpec, TALOS_SLOW_MAX, WATCH_DROP_MAX};

/// The kinds, with their stream numbers (stream 0 is the Hetzner faults' stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ApiFaultKind {
    /// `talos_unavailable`.
    TalosUnavailable = 1,
    /// `talos_slow`.
    TalosSlow = 2,
    /// `talos_reboot`.
    TalosReboot = 3,
    /// `slow_boot`.
    SlowBoot = 4,
    /// `kube_5xx`.
    Kube5xx = 5,
    /// `kube_429`.
    Kube429 = 6,
    /// `watch_drop`.
    WatchDrop = 7,
}

impl ApiFaultKind {
    const ALL: [ApiFaultKind; 7] = [
        ApiFaultKind::TalosUnavailable,
        ApiFaultKind::TalosSlow,
        ApiFaultKind::TalosReboot,
        ApiFaultKind::SlowBoot,
        ApiFaultKind::Kube5xx,
        ApiFaultKind::Kube429,
        ApiFaultKind::WatchDrop,
    ];

    /// The spec term naming the kind (what `/_sim/stats` counts it as).
    pub fn name(self) -> &'static str {
        match self {
            ApiFaultKind::TalosUnavailable => "talos_unavailable",
            ApiFaultKind::TalosSlow => "talos_slow",
            ApiFaultKind::TalosReboot => "talos_reboot",
            ApiFaultKind::SlowBoot => "slow_boot",
            ApiFaultKind::Kube5xx => "kube_5xx",
            ApiFaultKind::Kube429 => "kube_429",
            ApiFaultKind::WatchDrop => "watch_drop",
        }
    }

    fn index(self) -> usize {
        self as usize - 1
    }
}

/// What an apid call meets before it is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TalosCallFault {
    /// Answered `Unavailable` at once.
    Unavailable,
    /// Handled after this delay (before `--time-scale`).
    Slow(Duration),
}

/// What a Kubernetes API request meets before it is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeFault {
    /// Answered with this status (500 or 503).
    ServerError(u16),
    /// Answered 429 with `Retry-After`.
    TooManyRequests,
}

/// The Talos and Kubernetes API faults of one sim.
#[derive(Debug)]
pub struct ApiFaults {
    spec: FaultSpec,
    streams: Vec<ChaCha8Rng>,
    injected: [u64; ApiFaultKind::ALL.len()],
}

/// [`ApiFaults`] shared between the world and the Talos side.
#[derive(Debug, Clone)]
pub struct SharedApiFaults(Arc<Mutex<ApiFaults>>);

impl SharedApiFaults {
    /// A new injector; the spec's own seed wins over `seed`.
    pub fn new(spec: FaultSpec, seed: u64) -> Self {
        SharedApiFaults(Arc::new(Mutex::new(ApiFaults::new(spec, seed))))
    }

    /// The injector, locked (a leaf lock: lock nothing else while holding it).
    pub fn lock(&self) -> MutexGuard<'_, ApiFaults> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ApiFaults {
    /// A new injector; the spec's own seed wins over `seed`.
    pub fn new(spec: FaultSpec, seed: u64) -> Self {
        let seed = spec.seed.unwrap_or(seed);
        let streams = ApiFaultKind::ALL
            .iter()
            .map(|kind| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(*kind as u64);
                rng
            })
            .collect();
        ApiFaults {
            spec,
            streams,
            injected: [0; ApiFaultKind::ALL.len()],
        }
    }

    /// Whether any kind is set.
    pub fn enabled(&self) -> bool {
        self.spec.has_api_faults()
    }

    fn unit(&mut self, kind: ApiFaultKind) -> f64 {
        self.streams[kind.index()].random()
    }

    /// Draws for `kind` with probability `p` (nothing drawn when `p` is 0, so an absent kind
    /// consumes nothing; the streams are separate anyway).
    fn roll(&mut self, kind: ApiFaultKind, p: f64) -> bool {
        p > 0.0 && self.unit(kind) < p
    }

    /// Counts one injected fault of `kind`.
    pub fn record(&mut self, kind: ApiFaultKind) {
        self.injected[kind.index()] += 1;
    }

    /// Faults injected so far, every kind.
    pub fn total(&self) -> u64 {
        self.injected.iter().sum()
    }

    /// Faults injected so far by kind (every kind, zeros included).
    pub fn by_kind(&self) -> BTreeMap<&'static str, u64> {
        ApiFaultKind::ALL
            .iter()
            .map(|k| (k.name(), self.injected[k.index()]))
            .collect()
    }

    /// The fault an apid call meets, if any.
    pub fn talos_call(&mut self) -> Option<TalosCallFault> {
        if self.roll(ApiFaultKind::TalosUnavailable, self.spec.talos_unavailable) {
            self.record(ApiFaultKind::TalosUnavailable);
            return Some(TalosCallFault::Unavailable);
        }
        if self.roll(ApiFaultKind::TalosSlow, self.spec.talos_slow) {
            let delay = TALOS_SLOW_MAX.mul_f64(self.unit(ApiFaultKind::TalosSlow));
            self.record(ApiFaultKind::TalosSlow);
            return Some(TalosCallFault::Slow(delay));
        }
        None
    }

    /// For a node that has just booted: how long (before `--time-scale`) until it reboots
    /// unexpectedly, `None` without `talos_reboot`. Exponentially distributed, so that the
    /// chance is the same in every minute a node stays up. Counted when the reboot happens
    /// ([`ApiFaults::record`]).
    pub fn unexpected_reboot_after(&mut self) -> Option<Duration> {
        let p = self.spec.talos_reboot;
        if p <= 0.0 {
            return None;
        }
        // Per-minute probability p → rate λ = −ln(1 − p) per minute.
        let rate_per_minute = -(1.0 - p.min(0.999_999)).ln();
        let u = self.unit(ApiFaultKind::TalosReboot);
        let minutes = -(1.0 - u).ln() / rate_per_minute;
        Some(Duration::from_secs_f64((minutes * 60.0).min(1e9)))
    }

    /// The factor a boot's duration is multiplied by (1 without `slow_boot`).
    pub fn boot_factor(&mut self) -> f64 {
        let max = self.spec.slow_boot;
        if max <= 1.0 {
            return 1.0;
        }
        let factor = 1.0 + (max - 1.0) * self.unit(ApiFaultKind::SlowBoot);
        self.record(ApiFaultKind::SlowBoot);
        factor
    }

    /// The fault a Kubernetes API request meets, if any (`watch`: the request starts a watch,
    /// which the in-flight limits never refuse).
    pub fn kube_request(&mut self, watch: bool) -> Option<KubeFault> {
        if !watch && self.roll(ApiFaultKind::Kube429, self.spec.kube_429) {
            self.record(ApiFaultKind::Kube429);
            return Some(KubeFault::TooManyRequests);
        }
        if self.roll(ApiFaultKind::Kube5xx, self.spec.kube_5xx) {
            let status = if self.unit(ApiFaultKind::Kube5xx) < 0.5 {
                500
            } else {
                503
            };
            self.record(ApiFaultKind::Kube5xx);
            return Some(KubeFault::ServerError(status));
        }
        None
    }

    /// For a watch that starts: after how long (before `--time-scale`) it is cut, if it is.
    /// Counted when it is cut.
    pub fn watch_drop(&mut self) -> Option<Duration> {
        self.roll(ApiFaultKind::WatchDrop, self.spec.watch_drop)
            .then(|| WATCH_DROP_MAX.mul_f64(self.unit(ApiFaultKind::WatchDrop)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(spec: &str) -> ApiFaults {
        ApiFaults::new(spec.parse().unwrap(), 0)
    }

    #[test]
    fn each_kind_keeps_its_decisions_whatever_else_is_set() {
        let calls = |spec: &str| {
            let mut f = faults(spec);
            (0..300).map(|_| f.talos_call()).collect::<Vec<_>>()
        };
        let alone = calls("talos_unavailable=0.2,seed=9");
        assert_eq!(alone, calls("talos_unavailable=0.2,seed=9"));
        assert!(alone.contains(&Some(TalosCallFault::Unavailable)));
        assert!(alone.contains(&None));
        // Adding other kinds does not move which calls are Unavailable.
        let mixed = calls("talos_unavailable=0.2,talos_slow=0.5,kube_5xx=0.3,5xx=0.5,seed=9");
        for (a, m) in alone.iter().zip(&mixed) {
            assert_eq!(
                *a == Some(TalosCallFault::Unavailable),
                *m == Some(TalosCallFault::Unavailable)
            );
        }
        assert!(
            mixed
                .iter()
                .any(|m| matches!(m, Some(TalosCallFault::Slow(d)) if *d <= TALOS_SLOW_MAX))
        );
        // Interleaving another kind's requests does not move this kind's either.
        let mut f = faults("kube_5xx=0.3,kube_429=0.1,seed=4");
        let plain: Vec<_> = (0..200).map(|_| f.kube_request(false)).collect();
        let mut g = faults("kube_5xx=0.3,kube_429=0.1,talos_reboot=0.5,seed=4");
        let interleaved: Vec<_> = (0..200)
            .map(|_| {
                g.unexpected_reboot_after();
                g.talos_call();
                g.kube_request(false)
            })
            .collect();
        assert_eq!(plain, interleaved);
        assert!(plain.contains(&Some(KubeFault::TooManyRequests)));
        assert!(plain.contains(&Some(KubeFault::ServerError(500))));
        assert!(plain.contains(&Some(KubeFault::ServerError(503))));
    }

    #[test]
    fn the_hetzner_stream_is_not_moved_by_api_faults() {
        let run = |spec: &str| {
            let mut f = super::super::FaultInjector::new(spec.parse().unwrap(), 3);
            (0..200).map(|_| f.on_request()).collect::<Vec<_>>()
        };
        assert_eq!(
            run("5xx=0.2,429burst=0.02"),
            run(
                "5xx=0.2,429burst=0.02,talos_unavailable=0.5,kube_5xx=0.5,watch_drop=1,slow_boot=3"
            )
        );
    }

    #[test]
    fn watches_are_never_refused_with_429_and_counts_are_kept() {
        let mut f = faults("kube_429=1");
        assert_eq!(f.kube_request(true), None);
        assert_eq!(f.kube_request(false), Some(KubeFault::TooManyRequests));
        assert_eq!(f.total(), 1);
        assert_eq!(f.by_kind()["kube_429"], 1);
        assert_eq!(f.by_kind()["kube_5xx"], 0);
        assert!(f.enabled());
        assert!(!faults("5xx=1").enabled());
    }

    #[test]
    fn reboots_come_sooner_the_likelier_they_are_and_never_without_the_term() {
        assert_eq!(faults("talos_slow=1").unexpected_reboot_after(), None);
        let mean = |p: &str| {
            let mut f = faults(&format!("talos_reboot={p},seed=1"));
            let total: Duration = (0..400).map(|_| f.unexpected_reboot_after().unwrap()).sum();
            total.as_secs_f64() / 400.0
        };
        let (rare, often) = (mean("0.01"), mean("0.5"));
        // Means of 1/λ minutes: about 99.5 min for 1%, 86.6 s for 50%.
        assert!((4000.0..8000.0).contains(&rare), "{rare}");
        assert!((60.0..120.0).contains(&often), "{often}");
    }

    #[test]
    fn boot_factors_stay_in_range() {
        let mut f = faults("slow_boot=4,seed=2");
        let factors: Vec<f64> = (0..100).map(|_| f.boot_factor()).collect();
        assert!(factors.iter().all(|x| (1.0..=4.0).contains(x)));
        assert!(factors.iter().any(|x| *x > 2.5));
        assert_eq!(faults("").boot_factor(), 1.0);
        let mut w = faults("watch_drop=1");
        assert!(w.watch_drop().is_some_and(|d| d <= WATCH_DROP_MAX));
    }
}
