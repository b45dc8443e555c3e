//! Which replies one request repeats by itself, before its caller sees them: refusals the API
//! server gives before handling a request, and failures of requests that are safe to repeat.
//!
//! - 429 with `Retry-After` (kube-apiserver's max-in-flight and priority-and-fairness filters
//!   refuse a request that way before it is handled): repeated after the time the server asks
//!   for, whatever the method. A 429 without it (an eviction a PodDisruptionBudget does not
//!   allow yet) is the caller's to handle.
//! - 5xx, and a connection that broke after it was made (a control plane rebooting behind the
//!   load balancer: the next connection reaches another): repeated with a short backoff, except
//!   for `POST` (a create or an eviction that may have happened: its caller re-reads and
//!   decides). Every other request of the client is idempotent: reads, server-side apply, merge
//!   patches setting a field, and deletes whose 404 counts as done.
//!
//! A request is tried at most [`KubeRetry::attempts`] times, so that a server that keeps
//! failing (etcd without quorum) is reported to the waits around the request quickly: they poll
//! on, within the operation's deadline. A connection that cannot be made, and a request that
//! timed out, are never repeated here for the same reason (a cluster that is gone must be found
//! gone at once, and a timeout has used the request's budget).

use std::time::Duration;

use http::Method;

/// How a request repeats the replies above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KubeRetry {
    /// Attempts of one request, the first included.
    pub attempts: u32,
    /// The (upper bound of the) wait before the first repetition of a 5xx; it doubles.
    pub initial_backoff: Duration,
    /// The longest wait between two attempts after a 5xx.
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured; a longer one is reported to the caller.
    pub max_retry_after: Duration,
}

impl Default for KubeRetry {
    /// 5 attempts, 250 ms doubling up to 2 s after a 5xx, `Retry-After` up to 10 s.
    fn default() -> Self {
        KubeRetry {
            attempts: 5,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(2),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

/// Why a request is repeated, for the DEBUG log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reason {
    /// 429 with `Retry-After`.
    Throttled,
    /// A 5xx of an idempotent request.
    ServerError,
    /// The connection of an idempotent request broke.
    BrokenConnection,
}

/// How one attempt ended, as far as repeating it is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome<'a> {
    /// An HTTP reply with this status and `Retry-After` header.
    Reply(u16, Option<&'a str>),
    /// No reply: the connection broke after it was made (not a connect failure, not a timeout).
    Broken,
    /// No reply for any other reason.
    Failed,
}

impl KubeRetry {
    /// The wait before attempt `attempt + 1` after attempt `attempt` (1-based) ended with
    /// `outcome`, or `None` when the outcome stands. `unit` in `[0, 1)` jitters the backoff.
    pub(crate) fn wait(
        &self,
        method: &Method,
        outcome: Outcome<'_>,
        attempt: u32,
        unit: f64,
    ) -> Option<(Duration, Reason)> {
        if attempt >= self.attempts {
            return None;
        }
        let reason = match outcome {
            Outcome::Reply(429, retry_after) => {
                let seconds: u64 = retry_after?.trim().parse().ok()?;
                let wait = Duration::from_secs(seconds);
                return (wait <= self.max_retry_after).then_some((wait, Reason::Throttled));
            }
            Outcome::Reply(status, _) if status >= 500 => Reason::ServerError,
            Outcome::Broken => Reason::BrokenConnection,
            Outcome::Reply(..) | Outcome::Failed => return None,
        };
        if *method == Method::POST {
            return None;
        }
        let doublings = attempt.saturating_sub(1).min(16);
        let ceiling = self
            .initial_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff);
        let unit = unit.clamp(0.0, 1.0);
        Some((ceiling / 2 + (ceiling / 2).mul_f64(unit), reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_is_waited_out_as_asked_for_any_method() {
        let retry = KubeRetry::default();
        for method in [Method::GET, Method::PATCH, Method::POST, Method::DELETE] {
            assert_eq!(
                retry.wait(&method, Outcome::Reply(429, Some("1")), 1, 0.5),
                Some((Duration::from_secs(1), Reason::Throttled)),
                "{method}"
            );
        }
        // No Retry-After (a PodDisruptionBudget refusing an eviction), an unreadable or too
        // long one: the caller decides.
        assert_eq!(
            retry.wait(&Method::POST, Outcome::Reply(429, None), 1, 0.5),
            None
        );
        assert_eq!(
            retry.wait(&Method::GET, Outcome::Reply(429, Some("soon")), 1, 0.5),
            None
        );
        assert_eq!(
            retry.wait(&Method::GET, Outcome::Reply(429, Some("3600")), 1, 0.5),
            None
        );
    }

    #[test]
    fn server_errors_are_repeated_for_idempotent_requests_only() {
        let retry = KubeRetry::default();
        for method in [Method::GET, Method::PATCH, Method::DELETE, Method::PUT] {
            let (wait, reason) = retry
                .wait(&method, Outcome::Reply(503, None), 1, 1.0)
                .unwrap();
            assert_eq!(
                (wait, reason),
                (Duration::from_millis(250), Reason::ServerError)
            );
        }
        assert_eq!(
            retry.wait(&Method::POST, Outcome::Reply(500, None), 1, 0.5),
            None
        );
        assert_eq!(
            retry.wait(&Method::GET, Outcome::Reply(404, None), 1, 0.5),
            None
        );
        assert_eq!(
            retry.wait(&Method::GET, Outcome::Reply(409, None), 1, 0.5),
            None
        );
        // The backoff doubles up to its cap, jittered within its upper half.
        assert_eq!(
            retry
                .wait(&Method::GET, Outcome::Reply(500, None), 3, 1.0)
                .unwrap()
                .0,
            Duration::from_secs(1)
        );
        assert_eq!(
            retry
                .wait(&Method::GET, Outcome::Reply(500, None), 4, 0.0)
                .unwrap()
                .0,
            Duration::from_secs(1)
        );
    }

    #[test]
    fn broken_connections_are_repeated_for_idempotent_requests_only() {
        let retry = KubeRetry::default();
        assert_eq!(
            retry.wait(&Method::PATCH, Outcome::Broken, 1, 1.0),
            Some((Duration::from_millis(250), Reason::BrokenConnection))
        );
        assert_eq!(retry.wait(&Method::POST, Outcome::Broken, 1, 1.0), None);
        assert_eq!(retry.wait(&Method::GET, Outcome::Failed, 1, 1.0), None);
    }

    #[test]
    fn attempts_are_bounded() {
        let retry = KubeRetry::default();
        assert!(
            retry
                .wait(&Method::GET, Outcome::Reply(500, None), 4, 0.5)
                .is_some()
        );
        assert_eq!(
            retry.wait(&Method::GET, Outcome::Reply(500, None), 5, 0.5),
            None
        );
        assert_eq!(
            retry.wait(&Method::GET, Outcome::Reply(429, Some("1")), 5, 0.5),
            None
        );
    }
}
