//! [`Budget`]: how long an operation may take, and how it is cancelled.

use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The time an operation may take (a deadline fixed when the budget is made) and the token that
/// cancels it early. Cheap to clone; clones share the deadline and the token, so one budget can
/// cover a whole sequence of operations (e.g. a Terraform `timeouts { update }`).
#[derive(Debug, Clone)]
pub struct Budget {
    started: Instant,
    deadline: Instant,
    cancel: CancellationToken,
    check_timeout: Duration,
}

/// The default of [`Budget::with_check_timeout`].
const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

impl Budget {
    /// A budget of `timeout` from now, cancelled when `cancel` is.
    #[must_use]
    pub fn new(timeout: Duration, cancel: CancellationToken) -> Self {
        let started = Instant::now();
        Self {
            started,
            deadline: started + timeout,
            cancel,
            check_timeout: DEFAULT_CHECK_TIMEOUT,
        }
    }

    /// Sets how long one Talos API call made to *check* on something (a node's version, the
    /// etcd member list, whether a node is reachable) may take, retries included; 10 s by
    /// default. It bounds how long an unreachable node can hold up a check before the wait
    /// logs, moves on to another node or looks again. Calls that make Talos do work (bootstrap,
    /// reset, upgrade, apply) have their own, longer limits.
    #[must_use]
    pub fn with_check_timeout(mut self, timeout: Duration) -> Self {
        self.check_timeout = timeout;
        self
    }

    /// The time left before the deadline (zero once it has passed).
    #[must_use]
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// The time since the budget was made.
    #[must_use]
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Whether the deadline has passed.
    #[must_use]
    pub fn expired(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// The token that cancels operations under this budget.
    #[must_use]
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The deadline for one apid call made under this budget: the time left, but at most
    /// `cap`, so that a poll loop gets control back often enough to log and to re-decide.
    /// Never zero: a call needs some time to fail cleanly with a timeout.
    #[must_use]
    pub(crate) fn call_deadline(&self, cap: Duration) -> Duration {
        self.remaining().min(cap).max(Duration::from_millis(1))
    }

    /// The deadline for one call made by a check (see [`Budget::with_check_timeout`]).
    pub(crate) fn check_deadline(&self) -> Duration {
        self.call_deadline(self.check_timeout)
    }
}
