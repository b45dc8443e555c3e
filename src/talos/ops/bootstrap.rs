//! Bootstrapping etcd exactly once.

use std::net::IpAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use super::error::Error;
use super::nodes::join_ips;
use super::poll::{Check, brief, poll, transient, unreachable};
use crate::deadline::Deadline;
use crate::talos::apid::{ApidClient, BootstrapOutcome};

/// How long one `Bootstrap` call to the chosen node may keep retrying `FailedPrecondition`
/// (services not ready) before the loop logs and looks again. Until a node has answered, calls
/// get only the budget's check timeout, so an unreachable candidate is passed over quickly.
const BOOTSTRAP_CALL_CAP: Duration = Duration::from_secs(30);

/// Which node bootstrapped etcd, and whether this call did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bootstrapped {
    /// The control plane that answered.
    pub node: IpAddr,
    /// [`BootstrapOutcome::Bootstrapped`] if this call did it,
    /// [`BootstrapOutcome::AlreadyBootstrapped`] if etcd existed already (a re-run).
    pub outcome: BootstrapOutcome,
}

/// Where the bootstrap loop stands.
struct Progress {
    /// Index in the candidates of the node being tried.
    current: usize,
    /// Whether the current node has answered at all. Once it has, the loop stays with it: a
    /// call that timed out may have reached it, and bootstrapping a second node then would make
    /// a second, separate etcd cluster.
    committed: bool,
}

/// Bootstraps etcd on exactly one of `candidates` (control planes, in order of preference).
///
/// - `AlreadyExists` (etcd has data: an earlier run did it) counts as done.
/// - `FailedPrecondition` (the node's services are not ready yet) is retried within the budget.
/// - A candidate that cannot be reached at all is skipped for the next one; the loop comes
///   back round to it. Once a candidate has answered anything, only that one is tried again, so
///   a second cluster is never bootstrapped on another node after a call that may have
///   succeeded without its reply arriving.
///
/// # Errors
/// [`Error::Timeout`] naming the candidate and its last answer; [`Error::Cancelled`];
/// [`Error::Apid`] for a refusal waiting cannot fix (e.g. the node is a worker, permission
/// denied); [`Error::NoNodes`] with no candidates.
pub async fn bootstrap_once(
    client: &ApidClient,
    candidates: &[IpAddr],
    budget: &Deadline,
) -> Result<Bootstrapped, Error> {
    if candidates.is_empty() {
        return Err(Error::NoNodes {
            what: "bootstrapping etcd",
        });
    }
    let progress = Mutex::new(Progress {
        current: 0,
        committed: false,
    });
    let label = join_ips(candidates);
    poll(budget, "etcd bootstrap", &label, || {
        let (current, committed) = {
            let progress = progress.lock().unwrap_or_else(PoisonError::into_inner);
            (progress.current, progress.committed)
        };
        let node = candidates[current % candidates.len()];
        let deadline = if committed {
            budget.call_deadline(BOOTSTRAP_CALL_CAP)
        } else {
            budget.check_deadline()
        };
        let call = client.node(node).with_deadline(deadline);
        let progress = &progress;
        async move {
            let result = call.bootstrap().await;
            let mut progress = progress.lock().unwrap_or_else(PoisonError::into_inner);
            match result {
                Ok(outcome) => {
                    tracing::info!(%node, ?outcome, "etcd bootstrapped");
                    Check::Done(Bootstrapped { node, outcome })
                }
                Err(err) if unreachable(&err) && !progress.committed => {
                    progress.current = (progress.current + 1) % candidates.len();
                    let next = candidates[progress.current];
                    Check::Pending {
                        state: format!(
                            "bootstrap: node {node} is unreachable ({}); trying {next} next",
                            brief(&err)
                        ),
                        error: Some(err),
                    }
                }
                Err(err) if transient(&err) => {
                    progress.committed = true;
                    Check::Pending {
                        state: format!("bootstrap on node {node}: {}", brief(&err)),
                        error: Some(err),
                    }
                }
                Err(err) => Check::Failed(Error::apid(format!("bootstrap of node {node}"), err)),
            }
        }
    })
    .await
}
