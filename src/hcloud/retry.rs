//! When to retry a request and how long to wait: the single retry decision of the client.
//!
//! Retried: API codes `conflict`, `locked`, `rate_limit_exceeded`, `timeout`, `unavailable`,
//! `service_error`, `maintenance`; any other reply with HTTP 500/502/503/504 (with or without the
//! envelope); a 429 without the envelope; connection failures (the request
//! never reached the API); and timeouts of `GET` requests. Never retried: any other 4xx
//! (`invalid_input`, `not_found`, `uniqueness_error`, `protected`, …), decode errors, and
//! timeouts of mutating requests (the API may have acted; the `ensure_*` operations look objects
//! up by name instead). Creates are safe to retry after a 5xx because every `ensure_*` turns a
//! `uniqueness_error` into a lookup of the object the first attempt created.
//!
//! Waits grow exponentially with full jitter, are capped, and never extend past the
//! [`Deadline`]; a cancelled deadline stops the wait at once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::error::Error;

/// Every request, retry and action wait of a [`super::Client`] stops when its deadline passes or
/// its token is cancelled: the crate's one deadline type.
pub use crate::deadline::Deadline;

/// Backoff settings for retried requests.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Upper bound of the first wait.
    pub initial: Duration,
    /// Cap on any single wait.
    pub max: Duration,
    /// Attempts in total (first try included) before giving up even with time left.
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    /// 1 s first wait, doubling to at most 30 s, 12 attempts (about five minutes in the worst case),
    /// close to hcloud-go's defaults.
    fn default() -> Self {
        RetryPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            max_attempts: 12,
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `attempt` (1 = first retry) given a jitter draw in `[0, 1)`:
    /// full jitter over `initial * 2^(attempt-1)`, capped at `max`, never below 1 ms.
    pub fn backoff(&self, attempt: u32, jitter: f64) -> Duration {
        let exp = attempt.saturating_sub(1).min(20);
        let ceiling = self
            .initial
            .saturating_mul(1u32 << exp)
            .min(self.max)
            .max(Duration::from_millis(1));
        ceiling
            .mul_f64(jitter.clamp(0.0, 1.0))
            .max(Duration::from_millis(1))
    }
}

/// How often a step whose Hetzner *action* failed is done again within one operation (a server
/// deleted and created again, an object ensured again), and the pause before each retry. Request
/// errors are retried per request by [`RetryPolicy`]; an action that ends in `error` is not a
/// request error, so it needs its own bound.
#[derive(Debug, Clone, PartialEq)]
pub struct StepRetry {
    /// Tries in total (first one included) before the step counts as failing for good.
    pub attempts: u32,
    /// Pauses between tries (full jitter, growing, capped).
    pub backoff: RetryPolicy,
}

impl StepRetry {
    /// Four tries, pausing from two to sixteen poll intervals: long enough for a transient failure
    /// to pass, short next to the minutes a create takes. Four failures in a row of an action that
    /// fails one time in twenty is a one-in-160 000 event; a step that fails that often is broken.
    pub fn for_poll_interval(poll_interval: Duration) -> Self {
        StepRetry {
            attempts: 4,
            backoff: RetryPolicy {
                initial: poll_interval.saturating_mul(2),
                max: poll_interval.saturating_mul(16),
                max_attempts: 4,
            },
        }
    }

    /// Sleeps before retry number `retry` (1 = first retry); `false` when cancelled.
    pub async fn pause(&self, deadline: &Deadline, retry: u32) -> bool {
        deadline
            .sleep(self.backoff.backoff(retry, rand::random::<f64>()))
            .await
    }

    /// After try number `attempt` of step `what` failed with `last`: [`Error::StepFailed`] when
    /// that was the last try, else a warning and the pause before the next one.
    ///
    /// # Errors
    /// [`Error::StepFailed`] with `last`; [`Error::Cancelled`] when cancelled during the pause.
    pub async fn again(
        &self,
        deadline: &Deadline,
        what: &str,
        attempt: u32,
        last: Error,
    ) -> Result<(), Error> {
        if attempt >= self.attempts {
            return Err(Error::StepFailed {
                what: what.to_owned(),
                attempts: attempt,
                last: Box::new(last),
            });
        }
        tracing::warn!(error = %last, attempt, "{what} failed: trying again");
        if self.pause(deadline, attempt).await {
            Ok(())
        } else {
            Err(Error::Cancelled {
                what: format!("waiting to retry {what}"),
            })
        }
    }
}

/// What the rate-limit headers of a reply said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateLimit {
    /// `RateLimit-Limit`: requests per hour.
    pub limit: Option<u64>,
    /// `RateLimit-Remaining`.
    pub remaining: Option<u64>,
    /// `RateLimit-Reset`: Unix time at which the bucket is full again.
    pub reset: Option<u64>,
}

impl RateLimit {
    /// Reads the three headers (missing or malformed ones stay `None`).
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        let number = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
        };
        RateLimit {
            limit: number("RateLimit-Limit"),
            remaining: number("RateLimit-Remaining"),
            reset: number("RateLimit-Reset"),
        }
    }

    /// How long until one request is allowed again, when the bucket is empty.
    ///
    /// Hetzner refills the bucket continuously and `RateLimit-Reset` is when it is full, so with
    /// `remaining` requests left the time per request is `(reset - now) / (limit - remaining)`.
    /// `None` when requests remain (a 429 then comes from a burst, handled by plain backoff) or the
    /// headers are missing.
    pub fn wait_for_next_request(&self, now_unix: u64) -> Option<Duration> {
        let (limit, remaining, reset) = (self.limit?, self.remaining?, self.reset?);
        if remaining > 0 || limit == 0 {
            return None;
        }
        let until_full = reset.saturating_sub(now_unix);
        let per_request = Duration::from_secs(until_full).div_f64(limit as f64);
        Some(per_request.max(Duration::from_millis(100)))
    }
}

/// Seconds since the Unix epoch now (for [`RateLimit::wait_for_next_request`]).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Why a failed attempt may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    /// `conflict` or `locked`: another change is running on the object.
    Busy,
    /// `rate_limit_exceeded` (429).
    RateLimited,
    /// 5xx or the API's own `timeout`/`unavailable`/`service_error` codes.
    ServerError,
    /// The connection could not be made, or a read-only request timed out.
    Transport,
}

/// Decides whether `error` from a `method` request is worth retrying.
pub fn classify(method: &http::Method, error: &Error) -> Option<RetryReason> {
    match error {
        Error::Api { status, code, .. } => match code.as_str() {
            "conflict" | "locked" => Some(RetryReason::Busy),
            "rate_limit_exceeded" => Some(RetryReason::RateLimited),
            "timeout" | "unavailable" | "service_error" | "maintenance" => {
                Some(RetryReason::ServerError)
            }
            _ if matches!(status, 500 | 502 | 503 | 504) => Some(RetryReason::ServerError),
            _ if *status == 429 => Some(RetryReason::RateLimited),
            _ => None,
        },
        Error::Http { source, .. } => {
            if source.is_connect() || (source.is_timeout() && method == http::Method::GET) {
                Some(RetryReason::Transport)
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hcloud::error::api_error;
    use tokio::time::Instant;
    use tokio_util::sync::CancellationToken;

    fn envelope(code: &str) -> Vec<u8> {
        format!(r#"{{"error":{{"code":"{code}","message":"m","details":{{}}}}}}"#).into_bytes()
    }

    #[test]
    fn retries_busy_rate_limit_and_server_errors_only() {
        let post = http::Method::POST;
        let cases = [
            ("conflict", 409, Some(RetryReason::Busy)),
            ("locked", 423, Some(RetryReason::Busy)),
            ("rate_limit_exceeded", 429, Some(RetryReason::RateLimited)),
            ("unavailable", 503, Some(RetryReason::ServerError)),
            ("service_error", 500, Some(RetryReason::ServerError)),
            ("invalid_input", 400, None),
            ("not_found", 404, None),
            ("uniqueness_error", 409, None),
            ("protected", 403, None),
            ("unauthorized", 401, None),
        ];
        for (code, status, want) in cases {
            let err = api_error("POST /x", status, &envelope(code));
            assert_eq!(classify(&post, &err), want, "{code}");
        }
        let gateway = api_error("GET /x", 504, b"gateway timeout");
        assert_eq!(classify(&post, &gateway), Some(RetryReason::ServerError));
        let teapot = api_error("GET /x", 418, b"");
        assert_eq!(classify(&post, &teapot), None);
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let p = RetryPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            max_attempts: 5,
        };
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(100));
        assert_eq!(p.backoff(3, 1.0), Duration::from_millis(400));
        assert_eq!(p.backoff(3, 0.5), Duration::from_millis(200));
        assert_eq!(p.backoff(30, 1.0), Duration::from_secs(1));
        assert_eq!(p.backoff(2, 0.0), Duration::from_millis(1));
    }

    #[test]
    fn rate_limit_wait_uses_the_refill_rate() {
        let rl = RateLimit {
            limit: Some(3600),
            remaining: Some(0),
            reset: Some(1_000 + 3600),
        };
        assert_eq!(
            rl.wait_for_next_request(1_000),
            Some(Duration::from_secs(1))
        );
        let not_empty = RateLimit {
            remaining: Some(5),
            ..rl
        };
        assert_eq!(not_empty.wait_for_next_request(1_000), None);
        assert_eq!(RateLimit::default().wait_for_next_request(1_000), None);
    }

    #[tokio::test]
    async fn cancelled_deadline_stops_sleeping() {
        let token = CancellationToken::new();
        let deadline = Deadline::none().with_cancel(token.clone());
        token.cancel();
        assert!(!deadline.sleep(Duration::from_secs(3600)).await);
    }

    #[tokio::test]
    async fn sleep_never_passes_the_deadline() {
        let deadline = Deadline::after(Duration::from_millis(50));
        let start = Instant::now();
        assert!(deadline.sleep(Duration::from_secs(3600)).await);
        // The sleep ends at the deadline, not after the hour asked for.
        assert!(start.elapsed() < Duration::from_secs(60));
        assert!(deadline.is_expired());
    }
}
