//! Waiting: a [`Deadline`] (time budget plus cancellation token) and the one polling loop every
//! wait of the client runs on (the waits themselves are in `conditions`), which logs progress
//! and reports what is still pending when the time runs out.
//!
//! Polls start 250 ms apart and back off to 2 s. Transient failures (no reply, 5xx, 429) keep
//! the wait going and are reported with the timeout; any other error ends it at once. Progress
//! is logged at INFO when the pending set changes and at least every 10 s. The first check
//! always runs (for at least 5 s, even with the budget spent), so a state that already holds is
//! reported as reached rather than as a timeout.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::error::{Error, Result};

/// First pause between polls.
const FIRST_POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Longest pause between polls.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(2);
/// The first check may run this long even when the deadline is closer (or passed).
const FIRST_CHECK_FLOOR: Duration = Duration::from_secs(5);
/// Progress is logged at least this often.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// How long a wait may take and the token that stops it early: the crate's one deadline type.
pub use crate::deadline::Deadline;

/// One observation of a polled condition.
pub(crate) enum Poll<T> {
    /// The condition holds; the wait returns this.
    Done(T),
    /// Not yet: what is still pending, each with its current state.
    Pending(Vec<String>),
}

/// What a poll that did not finish in time leaves.
enum Attempt<T> {
    Finished(Result<Poll<T>>),
    OutOfTime,
    Cancelled,
}

/// Runs `check` until it reports [`Poll::Done`], the deadline passes ([`Error::Timeout`] with
/// the last pending list and transient error) or the token is cancelled ([`Error::Cancelled`]).
pub(crate) async fn poll_until<T, F, Fut>(
    what: &str,
    deadline: &Deadline,
    mut check: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let started = Instant::now();
    let (mut interval, max_interval) =
        deadline.backoff_bounds((FIRST_POLL_INTERVAL, MAX_POLL_INTERVAL));
    let mut pending: Vec<String> = vec![format!("{what}: no check finished in time")];
    let mut last_error: Option<Error> = None;
    // Until one check succeeds, the pending list says why there is no observation.
    let mut observed = false;
    let mut attempts: u32 = 0;
    let mut last_log: Option<(Instant, Vec<String>)> = None;
    let cancelled = || Error::Cancelled {
        what: what.to_owned(),
    };
    loop {
        if deadline.is_cancelled() {
            return Err(cancelled());
        }
        // A poll cannot outlast the deadline, even when a request hangs.
        let first = attempts == 0;
        attempts += 1;
        let attempt = tokio::select! {
            result = check() => Attempt::Finished(result),
            () = sleep_until(deadline, first.then_some(started + FIRST_CHECK_FLOOR)) => Attempt::OutOfTime,
            () = deadline.cancelled() => Attempt::Cancelled,
        };
        match attempt {
            Attempt::Finished(Ok(Poll::Done(value))) => {
                tracing::info!(
                    what,
                    elapsed_s = started.elapsed().as_secs(),
                    "wait finished"
                );
                return Ok(value);
            }
            Attempt::Finished(Ok(Poll::Pending(now_pending))) => {
                observed = true;
                pending = now_pending;
                last_error = None;
            }
            Attempt::Finished(Err(e)) if e.is_transient() => {
                if !observed {
                    pending = vec![format!("no successful check yet, last failure: {e}")];
                }
                last_error = Some(e);
            }
            Attempt::Finished(Err(e)) => return Err(e),
            Attempt::OutOfTime => {}
            Attempt::Cancelled => return Err(cancelled()),
        }
        let changed = last_log
            .as_ref()
            .is_none_or(|(at, logged)| *logged != pending || at.elapsed() >= PROGRESS_EVERY);
        if changed {
            tracing::info!(
                what,
                elapsed_s = started.elapsed().as_secs(),
                remaining_s = deadline.remaining().map(|r| r.as_secs()),
                pending = %pending.join("; "),
                last_error = last_error.as_ref().map(tracing::field::display),
                "waiting"
            );
            last_log = Some((Instant::now(), pending.clone()));
        }
        if deadline.is_expired() {
            return Err(Error::Timeout {
                what: what.to_owned(),
                pending,
                elapsed: started.elapsed(),
                last_error: last_error.map(Box::new),
            });
        }
        if !deadline.sleep(interval).await {
            return Err(cancelled());
        }
        interval = (interval * 2).min(max_interval);
    }
}

/// Runs `operation` until it succeeds, trying again after transient failures (no reply, 5xx,
/// 429) with the waits' backoff until the deadline; any other error is returned at once. Every
/// mutation of the client is idempotent (server-side apply, delete with NotFound as success,
/// cordon), so each can be retried this way, e.g. around an etcd membership change when the API
/// briefly answers 503.
///
/// # Errors
/// The operation's non-transient error, [`Error::Timeout`] with the last transient one as
/// source, or [`Error::Cancelled`].
pub async fn retry_transient<T, F, Fut>(
    what: &str,
    deadline: &Deadline,
    mut operation: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    poll_until(what, deadline, || {
        let attempt = operation();
        async move { attempt.await.map(Poll::Done) }
    })
    .await
}

/// Completes when the deadline passes, or at `floor` if that is later (never, without a
/// deadline).
async fn sleep_until(deadline: &Deadline, floor: Option<Instant>) {
    match deadline.instant() {
        Some(until) => tokio::time::sleep_until(floor.map_or(until, |f| f.max(until))).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::error::{RequestInfo, Status};
    use tokio_util::sync::CancellationToken;

    fn unavailable() -> Error {
        Error::Api {
            request: RequestInfo {
                method: http::Method::GET,
                url: "https://h/readyz".into(),
            },
            status: Status::from_reply(503, b"etcd"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_names_what_is_pending_and_the_last_error() {
        let deadline = Deadline::after(Duration::from_secs(5));
        let mut calls = 0;
        let err = poll_until::<(), _, _>("thing", &deadline, || {
            calls += 1;
            let n = calls;
            async move {
                if n == 1 {
                    Ok(Poll::Pending(vec!["x: starting".into()]))
                } else {
                    Err(unavailable())
                }
            }
        })
        .await
        .unwrap_err();
        match &err {
            Error::Timeout {
                what,
                pending,
                elapsed,
                last_error,
            } => {
                assert_eq!(what, "thing");
                assert_eq!(pending, &["x: starting"]);
                assert!(*elapsed >= Duration::from_secs(5), "{elapsed:?}");
                assert!(
                    last_error
                        .as_ref()
                        .is_some_and(|e| e.to_string().contains("503"))
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string().contains("still pending: x: starting"),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_and_permanent_ones_are_not() {
        let mut calls = 0;
        let value = retry_transient(
            "delete node",
            &Deadline::after(Duration::from_secs(30)),
            || {
                calls += 1;
                let n = calls;
                async move { if n < 3 { Err(unavailable()) } else { Ok(n) } }
            },
        )
        .await
        .unwrap();
        assert_eq!(value, 3);

        let mut calls = 0;
        let forbidden = || Error::Api {
            request: RequestInfo {
                method: http::Method::DELETE,
                url: "https://h/api/v1/nodes/x".into(),
            },
            status: Status::from_reply(403, b""),
        };
        let err = retry_transient::<(), _, _>("delete node", &Deadline::none(), || {
            calls += 1;
            async { Err(forbidden()) }
        })
        .await
        .unwrap_err();
        assert!(err.is_forbidden());
        assert_eq!(calls, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_still_gets_one_check() {
        let spent = Deadline::after(Duration::ZERO);
        let value = poll_until("done already", &spent, || async {
            tokio::time::sleep(Duration::from_secs(1)).await;
            Ok(Poll::Done(7))
        })
        .await
        .unwrap();
        assert_eq!(value, 7);
        let err = poll_until::<(), _, _>("hang", &spent, std::future::pending)
            .await
            .unwrap_err();
        match err {
            Error::Timeout {
                pending, elapsed, ..
            } => {
                assert_eq!(pending, ["hang: no check finished in time"]);
                assert_eq!(elapsed, FIRST_CHECK_FLOOR);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_that_never_got_an_answer_says_why() {
        let deadline = Deadline::after(Duration::from_secs(2));
        let err = poll_until::<(), _, _>("api", &deadline, || async { Err(unavailable()) })
            .await
            .unwrap_err();
        assert!(
            err.to_string().ends_with(
                "still pending: no successful check yet, last failure: Kubernetes API GET https://h/readyz: 503 ServiceUnavailable: etcd"
            ),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn hanging_checks_stop_at_the_deadline_and_cancellation_stops_at_once() {
        let deadline = Deadline::after(Duration::from_secs(3));
        let err = poll_until::<(), _, _>("hang", &deadline, std::future::pending)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err:?}");

        let cancel = CancellationToken::new();
        let deadline = Deadline::none().with_cancel(cancel.clone());
        let waiting =
            poll_until::<(), _, _>("cancel", &deadline, || async { Ok(Poll::Pending(vec![])) });
        cancel.cancel();
        assert!(matches!(
            waiting.await.unwrap_err(),
            Error::Cancelled { .. }
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_end_the_wait() {
        let forbidden = || Error::Api {
            request: RequestInfo {
                method: http::Method::GET,
                url: "https://h/api/v1/nodes".into(),
            },
            status: Status::from_reply(403, b""),
        };
        let err = poll_until::<(), _, _>("nodes", &Deadline::none(), || async { Err(forbidden()) })
            .await
            .unwrap_err();
        assert!(err.is_forbidden());
    }

    #[test]
    fn limited_to_keeps_the_earlier_deadline() {
        let long = Deadline::after(Duration::from_secs(100));
        assert!(
            long.limited_to(Duration::from_secs(1)).remaining().unwrap() <= Duration::from_secs(1)
        );
        let short = Deadline::after(Duration::from_secs(1));
        assert!(
            short
                .limited_to(Duration::from_secs(100))
                .remaining()
                .unwrap()
                <= Duration::from_secs(1)
        );
        assert!(
            Deadline::none()
                .limited_to(Duration::from_secs(2))
                .remaining()
                .is_some()
        );
    }
}
