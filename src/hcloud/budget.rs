//! Sharing the project's hourly request budget.
//!
//! Hetzner allows a project a bucket of requests (3600 by default) that refills continuously;
//! the cloud controller, the CSI driver and the cluster autoscaler spend the same bucket as the
//! provider. A provider that empties it leaves them answering 429 (nodes not initialised, volumes
//! not attached) and then meets 429 storms itself. So the client keeps an estimate of the bucket
//! from the `RateLimit-*` headers of every reply and, when the next request would leave fewer
//! than the reserve, waits for the bucket to refill that far first.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::retry::RateLimit;

/// The share of the limit kept for others when no reserve is configured.
pub const DEFAULT_RESERVE_PERCENT: u64 = 10;

/// The largest share of the limit a reserve may hold back: a reserve as large as the bucket
/// would stop the provider for good.
pub const MAX_RESERVE_PERCENT: u64 = 90;

/// What the provider may spend of the project's request budget.
#[derive(Debug)]
pub struct RequestBudget {
    /// Requests to leave in the bucket; `None` = [`DEFAULT_RESERVE_PERCENT`] of the limit.
    reserve: Option<u64>,
    estimate: Mutex<Option<Estimate>>,
    /// When a wait was last announced at INFO (see [`Pause::announce`]).
    announced: Mutex<Option<Instant>>,
}

/// How often waits are announced at INFO while requests are being spaced: the first wait and
/// then one every this long, so a long paced stretch says what it is doing without a line per
/// request.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(10);

/// The bucket as last seen, moved forward by the refill rate.
#[derive(Debug, Clone, Copy)]
struct Estimate {
    limit: u64,
    /// Requests left at `at`.
    tokens: f64,
    /// Requests the bucket gains per second.
    refill_per_second: f64,
    at: Instant,
}

impl Estimate {
    fn tokens_at(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        (self.tokens + elapsed * self.refill_per_second).min(self.limit as f64)
    }
}

/// A wait before the next request, and why.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pause {
    /// How long.
    pub wait: Duration,
    /// Requests left in the bucket now (estimated).
    pub remaining: u64,
    /// The bucket's size (`RateLimit-Limit`).
    pub limit: u64,
    /// Requests kept for the other clients of the project.
    pub reserve: u64,
    /// Whether to say so at INFO (the first wait of a stretch, then every ten seconds).
    pub announce: bool,
}

impl Default for RequestBudget {
    /// Keeps [`DEFAULT_RESERVE_PERCENT`] of the limit.
    fn default() -> Self {
        Self::new(None)
    }
}

impl RequestBudget {
    /// A budget keeping `reserve` requests for others (`None`: 10 % of the limit).
    pub fn new(reserve: Option<u64>) -> Self {
        RequestBudget {
            reserve,
            estimate: Mutex::new(None),
            announced: Mutex::new(None),
        }
    }

    fn reserve_for(&self, limit: u64) -> u64 {
        let most = limit * MAX_RESERVE_PERCENT / 100;
        self.reserve
            .unwrap_or(limit * DEFAULT_RESERVE_PERCENT / 100)
            .min(most)
    }

    /// Takes in what a reply's headers said about the bucket at `now`.
    ///
    /// The refill rate comes from the headers too: with `remaining` of `limit` left and the
    /// bucket full at `reset`, it gains `(limit - remaining) / (reset - now)` requests a second
    /// (at least `limit` an hour, Hetzner's documented rate).
    pub fn observe(&self, headers: &RateLimit, now: Instant, now_unix: u64) {
        let (Some(limit), Some(remaining)) = (headers.limit, headers.remaining) else {
            return;
        };
        if limit == 0 {
            return;
        }
        let hourly = limit as f64 / 3600.0;
        let refill_per_second = match headers.reset {
            Some(reset) if reset > now_unix && remaining < limit => {
                ((limit - remaining) as f64 / (reset - now_unix) as f64).max(hourly)
            }
            _ => hourly,
        };
        let mut estimate = self.estimate.lock().unwrap_or_else(PoisonError::into_inner);
        // Requests already counted against the estimate may still be in flight: never raise
        // the estimate above what it says now, only lower it to what the server saw.
        let tokens = match *estimate {
            Some(e) if e.limit == limit => e.tokens_at(now).min(remaining as f64),
            _ => remaining as f64,
        };
        *estimate = Some(Estimate {
            limit,
            tokens,
            refill_per_second,
            at: now,
        });
    }

    /// Counts one request about to be sent at `now`; how long to wait before sending it so
    /// that the reserve stays in the bucket, if at all. Concurrent callers are spaced one
    /// refill interval apart.
    pub fn take(&self, now: Instant) -> Option<Pause> {
        let mut guard = self.estimate.lock().unwrap_or_else(PoisonError::into_inner);
        let estimate = guard.as_mut()?;
        let reserve = self.reserve_for(estimate.limit);
        let floor = reserve as f64 + 1.0;
        // Callers already waiting have booked the bucket up to `estimate.at`.
        let (from, tokens) = if estimate.at > now {
            (estimate.at, estimate.tokens)
        } else {
            (now, estimate.tokens_at(now))
        };
        if tokens >= floor {
            estimate.tokens = tokens - 1.0;
            estimate.at = from;
            return (from > now).then(|| Pause {
                wait: from - now,
                remaining: 0,
                limit: estimate.limit,
                reserve,
                announce: self.announce(now),
            });
        }
        let ready = from + Duration::from_secs_f64((floor - tokens) / estimate.refill_per_second);
        // At `ready` the bucket holds `floor`; this request takes one of them.
        estimate.tokens = floor - 1.0;
        estimate.at = ready;
        Some(Pause {
            wait: ready - now,
            remaining: if from > now {
                0
            } else {
                tokens.max(0.0) as u64
            },
            limit: estimate.limit,
            reserve,
            announce: self.announce(now),
        })
    }

    /// Whether a wait at `now` is announced at INFO.
    fn announce(&self, now: Instant) -> bool {
        let mut last = self
            .announced
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let due = last.is_none_or(|at| now.saturating_duration_since(at) >= ANNOUNCE_EVERY);
        if due {
            *last = Some(now);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(limit: u64, remaining: u64, reset: u64) -> RateLimit {
        RateLimit {
            limit: Some(limit),
            remaining: Some(remaining),
            reset: Some(reset),
        }
    }

    #[test]
    fn nothing_is_held_back_before_the_first_reply_or_above_the_reserve() {
        let budget = RequestBudget::new(None);
        let now = Instant::now();
        assert_eq!(budget.take(now), None);
        budget.observe(&headers(3600, 3600, 1000), now, 1000);
        for _ in 0..(3600 - 360) {
            assert_eq!(budget.take(now), None);
        }
        let pause = budget.take(now).expect("the reserve is reached");
        assert_eq!(
            (pause.limit, pause.reserve, pause.remaining),
            (3600, 360, 360)
        );
        // Hetzner's rate: one request a second.
        assert_eq!(pause.wait, Duration::from_secs(1));
    }

    #[test]
    fn waiting_callers_are_spaced_by_the_refill_rate() {
        let budget = RequestBudget::new(Some(100));
        let now = Instant::now();
        // 100 left, full in 3500 s: 1 request a second.
        budget.observe(&headers(3600, 100, 3500), now, 0);
        let waits: Vec<Duration> = (0..3).map(|_| budget.take(now).unwrap().wait).collect();
        assert_eq!(waits, [1, 2, 3].map(Duration::from_secs));
        // Ten seconds on, the three waiting requests are sent and the bucket gained seven more.
        let later = now + Duration::from_secs(10);
        for _ in 0..7 {
            assert_eq!(budget.take(later), None);
        }
        assert_eq!(budget.take(later).unwrap().wait, Duration::from_secs(1));
    }

    #[test]
    fn a_stretch_of_waits_is_announced_once_then_every_ten_seconds() {
        let budget = RequestBudget::new(Some(0));
        let now = Instant::now();
        budget.observe(&headers(3600, 0, 3600), now, 0);
        let announced: Vec<bool> = (0..5).map(|_| budget.take(now).unwrap().announce).collect();
        assert_eq!(announced, [true, false, false, false, false]);
        // Ten seconds on, once the refilled requests are spent, the next wait is announced.
        let later = now + Duration::from_secs(10);
        let pause = (0..10).find_map(|_| budget.take(later)).unwrap();
        assert!(pause.announce);
    }

    #[test]
    fn a_fast_refill_shows_in_the_reset_header_and_the_reserve_is_capped() {
        // A bucket of 100 that is full again 50 s after being empty: two requests a second.
        let budget = RequestBudget::new(Some(1000));
        let now = Instant::now();
        budget.observe(&headers(100, 0, 50), now, 0);
        let pause = budget.take(now).unwrap();
        assert_eq!(pause.reserve, 90, "at most 90 % of the limit is held back");
        assert_eq!(pause.wait, Duration::from_secs_f64(91.0 / 2.0));
    }

    #[test]
    fn replies_lower_the_estimate_but_never_raise_it_above_what_was_counted() {
        let budget = RequestBudget::new(Some(0));
        let now = Instant::now();
        budget.observe(&headers(10, 10, 0), now, 0);
        for _ in 0..9 {
            assert!(budget.take(now).is_none());
        }
        // A late reply from before those requests says 10 were left: still 1.
        budget.observe(&headers(10, 10, 0), now, 0);
        assert!(budget.take(now).is_none());
        assert!(budget.take(now).is_some());
    }
}
