//! One polling loop for every wait on nodes and the Kubernetes API: bounded by the operation's
//! deadline, stopped by Terraform's cancellation, backing off from a quarter of the provider's
//! `poll_interval` to twice it (250 ms to 2 s by default: these are calls to the nodes, not
//! rate-limited Hetzner requests), and logging at
//! INFO what is awaited, how long it has taken and how long is left (every 10 s, or when what is
//! pending changes). A timeout names what was still pending.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::context::Operation;

/// How often progress is logged when nothing changes.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Why a wait ended without its condition.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The deadline passed.
    #[error("timed out after {elapsed_s} s waiting for {what}; still pending: {pending}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// What had not happened.
        pending: String,
        /// Seconds waited.
        elapsed_s: u64,
    },
    /// Terraform asked the provider to stop.
    #[error("cancelled while waiting for {what} (still pending: {pending})")]
    Cancelled {
        /// What was awaited.
        what: String,
        /// What had not happened.
        pending: String,
    },
    /// The probe found a failure that waiting will not fix.
    #[error("{0}")]
    Failed(String),
}

/// What one probe saw.
pub enum Probe<T> {
    /// Done, with the result.
    Done(T),
    /// Not yet; the text says what is still pending.
    Pending(String),
    /// A failure waiting will not fix.
    Fatal(String),
}

/// Polls `probe` until it is done, the operation's deadline passes, or it is cancelled.
///
/// # Errors
/// [`WaitError`] naming what was still pending.
pub async fn until<T, F, Fut>(op: &Operation, what: &str, mut probe: F) -> Result<T, WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Probe<T>>,
{
    let started = Instant::now();
    let max_interval = op.poll_interval * 2;
    let mut interval = op.poll_interval / 4;
    let mut last_logged: Option<(Instant, String)> = None;
    loop {
        let pending = match probe().await {
            Probe::Done(value) => {
                if last_logged.is_some() {
                    tracing::info!(
                        what,
                        elapsed_s = started.elapsed().as_secs(),
                        "done waiting"
                    );
                }
                return Ok(value);
            }
            Probe::Fatal(reason) => return Err(WaitError::Failed(reason)),
            Probe::Pending(pending) => pending,
        };
        let should_log = match &last_logged {
            None => started.elapsed() >= Duration::from_secs(2),
            Some((at, text)) => *text != pending || at.elapsed() >= LOG_EVERY,
        };
        if should_log {
            tracing::info!(
                operation = op.name,
                what,
                pending = %pending,
                elapsed_s = started.elapsed().as_secs(),
                remaining_s = op.remaining().as_secs(),
                "waiting"
            );
            last_logged = Some((Instant::now(), pending.clone()));
        }
        if Instant::now() + interval >= op.deadline {
            return Err(WaitError::Timeout {
                what: what.to_owned(),
                pending,
                elapsed_s: started.elapsed().as_secs(),
            });
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = op.cancel.cancelled() => {
                return Err(WaitError::Cancelled { what: what.to_owned(), pending });
            }
        }
        interval = (interval * 2).min(max_interval);
    }
}
