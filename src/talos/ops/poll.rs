//! The one wait loop every operation uses: check, back off, log progress, give up at the
//! budget's deadline saying what was pending, stop at once when cancelled.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::error::Error;
use crate::deadline::Deadline;
use crate::talos::apid;

/// The first pause between two checks; it doubles up to [`MAX_BACKOFF`]. It does not start over
/// when the awaited state changes: a state text that varies on every check (an error message
/// with a counter) must not turn the wait into a busy loop.
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);
/// The longest pause between two checks.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The least time worth starting a check with; with less left the wait ends with what the
/// previous check found.
const MIN_CHECK_TIME: Duration = Duration::from_millis(100);
/// Progress is logged at least this often while nothing changes.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// What one check found.
#[derive(Debug)]
pub(crate) enum Check<T> {
    /// The awaited state is reached.
    Done(T),
    /// Not yet. `state` says exactly what is missing (it ends up in logs and in
    /// [`Error::Timeout`]); `error` is the Talos API error behind it, if any.
    Pending {
        state: String,
        error: Option<apid::Error>,
    },
    /// Waiting cannot help.
    Failed(Error),
}

impl<T> Check<T> {
    /// Pending, without an error.
    pub(crate) fn pending(state: impl Into<String>) -> Self {
        Self::Pending {
            state: state.into(),
            error: None,
        }
    }

    /// Pending because of a Talos API error that waiting may fix; fails at once for any other.
    pub(crate) fn from_error(step: impl Into<String>, err: apid::Error) -> Self {
        let step = step.into();
        if transient(&err) {
            Self::Pending {
                state: format!("{step}: {}", brief(&err)),
                error: Some(err),
            }
        } else {
            Self::Failed(Error::apid(step, err))
        }
    }
}

/// Whether waiting may cure `err`: the node is unreachable or rebooting (`Unavailable`, a call
/// that timed out), not ready for this yet (`FailedPrecondition`), or the call was cut off.
/// A refused config, a missing permission or a TLS failure is not cured by waiting.
pub(crate) fn transient(err: &apid::Error) -> bool {
    use tonic::Code;
    // A node that is not part of the cluster never becomes one by waiting.
    !err.is_foreign_node()
        && (err.is_broken_connection()
            || matches!(
                err.grpc_code(),
                Some(
                    Code::Unavailable
                        | Code::FailedPrecondition
                        | Code::DeadlineExceeded
                        | Code::Cancelled
                        | Code::Aborted
                        | Code::ResourceExhausted
                )
            ))
}

/// Whether `err` says the node could not be reached at all, so a request cannot have been
/// carried out by it: `Unavailable`, or a timeout whose last attempt was `Unavailable` or that
/// never got an answer.
pub(crate) fn unreachable(err: &apid::Error) -> bool {
    match err {
        apid::Error::Timeout { last_error, .. } => last_error
            .as_deref()
            .is_none_or(|last| last.grpc_code() == Some(tonic::Code::Unavailable)),
        other => other.grpc_code() == Some(tonic::Code::Unavailable),
    }
}

/// The longest node message quoted in a progress line. Talos's messages are one line; a
/// longer one is cut, since validation errors can quote the configuration they reject (hk8s-sim
/// quotes whole documents, keys included) and progress lines are logged.
const BRIEF_MAX_CHARS: usize = 160;

/// A one-line description of an apid error for progress messages: the deepest cause, which
/// names what the node said (`Unavailable: connection refused`) rather than the wrapper, cut to
/// [`BRIEF_MAX_CHARS`].
pub(crate) fn brief(err: &apid::Error) -> String {
    let text = match err {
        apid::Error::Timeout {
            last_error: Some(last),
            ..
        } => return brief(last),
        apid::Error::Status { status, .. } => {
            format!("{:?}: {}", status.code(), status.message())
        }
        apid::Error::Node { code, message, .. } => format!("{code:?}: {message}"),
        other => other.to_string(),
    };
    clip(&text, BRIEF_MAX_CHARS)
}

/// `text` cut to `max` characters (with `…` when cut), on its first line only.
fn clip(text: &str, max: usize) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() <= max && line.len() == text.trim_end().len() {
        return line.to_owned();
    }
    let mut clipped: String = line.chars().take(max).collect();
    clipped.push('…');
    clipped
}

/// Runs `check` until it reports [`Check::Done`] or [`Check::Failed`], the budget's deadline
/// passes ([`Error::Timeout`] with the last pending state) or its token is cancelled
/// ([`Error::Cancelled`]). `what` names the wait in logs and errors; `node` is logged with it.
pub(crate) async fn poll<T, F, Fut>(
    budget: &Deadline,
    what: &str,
    node: &str,
    mut check: F,
) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Check<T>>,
{
    let (mut backoff, max_backoff) = budget.backoff_bounds((INITIAL_BACKOFF, MAX_BACKOFF));
    let mut state = String::from("no check has completed yet");
    let mut last_error: Option<apid::Error> = None;
    let mut logged: Option<(String, Instant)> = None;
    let mut checks = 0_u32;
    let timeout = |state: String, last_error: Option<apid::Error>| Error::Timeout {
        what: what.to_owned(),
        elapsed: budget.elapsed(),
        pending: state,
        last_error: last_error.map(Box::new),
    };
    loop {
        let outcome = tokio::select! {
            biased;
            () = budget.cancel_token().cancelled() => None,
            outcome = tokio::time::timeout(budget.time_left(), check()) => Some(outcome),
        };
        let Some(outcome) = outcome else {
            return Err(Error::Cancelled {
                what: what.to_owned(),
                elapsed: budget.elapsed(),
                pending: state,
            });
        };
        match outcome {
            // The check itself outlived the budget: report what the previous one found.
            Err(_elapsed) => return Err(timeout(state, last_error)),
            Ok(Check::Done(value)) => {
                if logged.is_some() {
                    tracing::info!(what, node, elapsed = ?budget.elapsed(), "done waiting");
                }
                return Ok(value);
            }
            Ok(Check::Failed(err)) => return Err(err),
            Ok(Check::Pending {
                state: new_state,
                error,
            }) => {
                // A check the deadline cut short says little ("cancelled"); what the one before
                // it found is what was really pending.
                if budget.is_expired() && checks > 0 {
                    return Err(timeout(state, last_error));
                }
                state = new_state;
                last_error = error;
            }
        }
        checks += 1;
        let due = match &logged {
            None => true,
            Some((previous, at)) => *previous != state || at.elapsed() >= LOG_EVERY,
        };
        if due {
            tracing::info!(
                what,
                node,
                pending = %state,
                elapsed = ?budget.elapsed(),
                remaining = ?budget.time_left(),
                "waiting"
            );
            logged = Some((state.clone(), Instant::now()));
        }
        // No check is started that would have less than MIN_CHECK_TIME: it could only time out.
        let remaining = budget.time_left();
        let pause = if remaining <= backoff + MIN_CHECK_TIME {
            remaining
        } else {
            backoff
        };
        let cancelled = tokio::select! {
            biased;
            () = budget.cancel_token().cancelled() => true,
            () = tokio::time::sleep(pause) => false,
        };
        if cancelled {
            return Err(Error::Cancelled {
                what: what.to_owned(),
                elapsed: budget.elapsed(),
                pending: state,
            });
        }
        if pause >= remaining {
            return Err(timeout(state, last_error));
        }
        backoff = (backoff * 2).min(max_backoff);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use tokio_util::sync::CancellationToken;

    #[test]
    fn long_or_multi_line_messages_are_clipped() {
        assert_eq!(clip("connection refused", 160), "connection refused");
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("first\nsecond", 160), "first…");
        assert_eq!(clip("ééé", 2), "éé…");
    }

    #[test]
    fn brief_names_the_last_attempts_status_without_quoting_documents() {
        let target = apid::Target {
            endpoint: "127.0.0.1:50000".parse().unwrap(),
            node: None,
        };
        let long = format!("invalid config: {}", "k".repeat(500));
        let err = apid::Error::Timeout {
            rpc: apid::Rpc::Version,
            target,
            deadline: Duration::from_secs(1),
            attempts: 2,
            last_error: Some(Box::new(apid::Error::Status {
                rpc: apid::Rpc::Version,
                target,
                status: tonic::Status::unavailable(long),
            })),
        };
        let text = brief(&err);
        assert!(
            text.starts_with("Unavailable: invalid config: kkk"),
            "{text}"
        );
        assert_eq!(text.chars().count(), BRIEF_MAX_CHARS + 1);
        assert!(transient(&err) && unreachable(&err));
    }

    #[tokio::test(start_paused = true)]
    async fn polls_until_done() {
        let budget = Deadline::after(Duration::from_secs(60)).with_cancel(CancellationToken::new());
        let checks = AtomicU32::new(0);
        let value = poll(&budget, "thing", "n1", || async {
            match checks.fetch_add(1, Ordering::SeqCst) {
                0..=2 => Check::pending("not yet"),
                n => Check::Done(n),
            }
        })
        .await
        .unwrap();
        assert_eq!(value, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn the_timeout_reports_the_last_pending_state() {
        let budget = Deadline::after(Duration::from_secs(3)).with_cancel(CancellationToken::new());
        let checks = AtomicU32::new(0);
        let err = poll::<(), _, _>(&budget, "etcd membership", "n1", || async {
            let n = checks.fetch_add(1, Ordering::SeqCst);
            Check::pending(format!("check {n}: waiting for cp-3"))
        })
        .await
        .unwrap_err();
        let last = checks.load(Ordering::SeqCst) - 1;
        match err {
            Error::Timeout { what, pending, .. } => {
                assert_eq!(what, "etcd membership");
                assert_eq!(pending, format!("check {last}: waiting for cp-3"));
            }
            other => panic!("unexpected {other:?}"),
        }
        // Bounded backoff: a few checks in 3 s, not a busy loop and not a single one.
        assert!((3..=12).contains(&checks.load(Ordering::SeqCst)));
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_is_bounded_over_a_long_wait() {
        let budget =
            Deadline::after(Duration::from_secs(120)).with_cancel(CancellationToken::new());
        let checks = AtomicU32::new(0);
        let _ = poll::<(), _, _>(&budget, "x", "n1", || async {
            checks.fetch_add(1, Ordering::SeqCst);
            Check::pending("same")
        })
        .await;
        // 120 s at most 5 s apart: at least 24 checks.
        assert!(checks.load(Ordering::SeqCst) >= 24);
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_stops_the_wait_with_what_was_pending() {
        let token = CancellationToken::new();
        let budget = Deadline::after(Duration::from_secs(600)).with_cancel(token.clone());
        let canceller = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            token.cancel();
        });
        let err = poll::<(), _, _>(&budget, "reboot", "n1", || async {
            Check::pending("node 10.0.1.2 is rebooting")
        })
        .await
        .unwrap_err();
        canceller.await.unwrap();
        match err {
            Error::Cancelled { pending, .. } => assert_eq!(pending, "node 10.0.1.2 is rebooting"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_check_ends_the_wait_at_once() {
        let budget = Deadline::after(Duration::from_secs(60)).with_cancel(CancellationToken::new());
        let err = poll::<(), _, _>(&budget, "x", "n1", || async {
            Check::Failed(Error::NoNodes { what: "x" })
        })
        .await
        .unwrap_err();
        assert!(matches!(err, Error::NoNodes { .. }));
        assert!(budget.elapsed() < Duration::from_secs(1));
    }
}
