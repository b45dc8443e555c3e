//! [`Deadline`]: how long an operation may take, and the token that stops it early.
//!
//! The one deadline-and-cancellation type of the crate: the Hetzner client, the Talos
//! operations and the Kubernetes client all take it, so a Terraform `timeouts { create }` and
//! Terraform's stop signal reach every request, retry and wait of an apply through one value.
//! Knows nothing of Terraform.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What "no deadline" means where a duration is needed (a `tokio::time::timeout`, a call's
/// `grpc-timeout`): a year, far beyond any operation, short enough not to overflow a clock.
pub const UNBOUNDED: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// A point in time after which an operation gives up (or none), a cancellation token, and when
/// the operation started. Cheap to clone; clones share the deadline and the token, so one value
/// covers a whole sequence of steps.
#[derive(Debug, Clone)]
pub struct Deadline {
    started: Instant,
    until: Option<Instant>,
    cancel: CancellationToken,
    check_timeout: Duration,
    poll_interval: Option<Duration>,
}

/// The default of [`Deadline::with_check_timeout`].
const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

impl Default for Deadline {
    fn default() -> Self {
        Self::none()
    }
}

impl Deadline {
    /// No time limit and a token nobody cancels.
    #[must_use]
    pub fn none() -> Self {
        Self {
            started: Instant::now(),
            until: None,
            cancel: CancellationToken::new(),
            check_timeout: DEFAULT_CHECK_TIMEOUT,
            poll_interval: None,
        }
    }

    /// A budget of `budget` from now.
    #[must_use]
    pub fn after(budget: Duration) -> Self {
        let started = Instant::now();
        Self {
            started,
            until: Some(started + budget.min(UNBOUNDED)),
            cancel: CancellationToken::new(),
            check_timeout: DEFAULT_CHECK_TIMEOUT,
            poll_interval: None,
        }
    }

    /// The same deadline, also stopped when `cancel` is cancelled.
    #[must_use]
    pub fn with_cancel(mut self, cancel: CancellationToken) -> Self {
        self.cancel = cancel;
        self
    }

    /// The earlier of this deadline and `budget` from now, with the same token: a step that must
    /// not use up the whole operation's time.
    #[must_use]
    pub fn limited_to(&self, budget: Duration) -> Self {
        let candidate = Instant::now() + budget.min(UNBOUNDED);
        Self {
            started: Instant::now(),
            until: Some(self.until.map_or(candidate, |until| until.min(candidate))),
            cancel: self.cancel.clone(),
            check_timeout: self.check_timeout,
            poll_interval: self.poll_interval,
        }
    }

    /// Sets how often waits under this deadline look again: from a quarter of `interval`,
    /// backing off to twice it (the provider's `poll_interval`). Without it each wait uses its
    /// own defaults.
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = Some(interval.max(Duration::from_millis(1)));
        self
    }

    /// The first and the longest pause between two checks of a wait: from
    /// [`Deadline::with_poll_interval`], else `defaults`.
    #[must_use]
    pub fn backoff_bounds(&self, defaults: (Duration, Duration)) -> (Duration, Duration) {
        self.poll_interval
            .map_or(defaults, |interval| (interval / 4, interval * 2))
    }

    /// Sets how long one call made to *check* on something (a node's version, the etcd member
    /// list, whether a node is reachable) may take, retries included; 10 s by default. It bounds
    /// how long an unreachable node can hold up a check before the wait logs, moves on to
    /// another node or looks again. Calls that make something happen (bootstrap, reset,
    /// upgrade, apply) have their own, longer limits.
    #[must_use]
    pub fn with_check_timeout(mut self, timeout: Duration) -> Self {
        self.check_timeout = timeout;
        self
    }

    /// The deadline for one call made by a check (see [`Deadline::with_check_timeout`]).
    #[must_use]
    pub fn check_deadline(&self) -> Duration {
        self.call_deadline(self.check_timeout)
    }

    /// Time left: `None` when unbounded, zero once passed.
    #[must_use]
    pub fn remaining(&self) -> Option<Duration> {
        self.until
            .map(|until| until.saturating_duration_since(Instant::now()))
    }

    /// Time left as a duration ([`UNBOUNDED`] without a deadline, zero once passed).
    #[must_use]
    pub fn time_left(&self) -> Duration {
        self.remaining().unwrap_or(UNBOUNDED)
    }

    /// When the deadline passes (`None` when unbounded).
    #[must_use]
    pub fn instant(&self) -> Option<Instant> {
        self.until
    }

    /// Time since this deadline was made.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Whether the deadline has passed.
    #[must_use]
    pub fn is_expired(&self) -> bool {
        self.remaining().is_some_and(|left| left.is_zero())
    }

    /// Whether the token was cancelled.
    #[must_use]
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The cancellation token.
    #[must_use]
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Waits until the token is cancelled (never returns otherwise).
    pub async fn cancelled(&self) {
        self.cancel.cancelled().await;
    }

    /// Sleeps `wanted`, cut short at the deadline. `false` when cancelled meanwhile.
    pub async fn sleep(&self, wanted: Duration) -> bool {
        let pause = self.remaining().map_or(wanted, |left| wanted.min(left));
        tokio::select! {
            () = tokio::time::sleep(pause) => true,
            () = self.cancel.cancelled() => false,
        }
    }

    /// The deadline for one call made under this one: the time left, but at most `cap`, so that
    /// a poll loop gets control back often enough to log and re-decide. Never zero: a call
    /// needs some time to fail cleanly with a timeout.
    #[must_use]
    pub fn call_deadline(&self, cap: Duration) -> Duration {
        self.time_left().min(cap).max(Duration::from_millis(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_limited_deadline_never_outlives_its_parent() {
        let parent = Deadline::after(Duration::from_secs(10));
        assert!(parent.limited_to(Duration::from_secs(60)).time_left() <= Duration::from_secs(10));
        assert!(parent.limited_to(Duration::from_secs(3)).time_left() <= Duration::from_secs(3));
        assert_eq!(
            Deadline::none()
                .limited_to(Duration::from_secs(5))
                .remaining(),
            Some(Duration::from_secs(5))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn calls_get_the_time_left_capped_and_never_zero() {
        let deadline = Deadline::after(Duration::from_secs(4));
        assert_eq!(
            deadline.call_deadline(Duration::from_secs(10)),
            Duration::from_secs(4)
        );
        assert_eq!(
            deadline.call_deadline(Duration::from_secs(1)),
            Duration::from_secs(1)
        );
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(deadline.is_expired());
        assert_eq!(
            deadline.call_deadline(Duration::from_secs(1)),
            Duration::from_millis(1)
        );
        assert_eq!(Deadline::none().time_left(), UNBOUNDED);
    }

    #[tokio::test(start_paused = true)]
    async fn sleep_stops_at_cancellation_and_shares_the_token_between_clones() {
        let token = CancellationToken::new();
        let deadline = Deadline::after(Duration::from_secs(600)).with_cancel(token.clone());
        let clone = deadline.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            token.cancel();
        });
        assert!(!clone.sleep(Duration::from_secs(60)).await);
        assert!(deadline.is_cancelled());
    }
}
