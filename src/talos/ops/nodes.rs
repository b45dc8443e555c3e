//! Waiting for nodes' Talos API.

use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use futures::future::join_all;

use super::error::Error;
use super::poll::{Check, brief, poll, transient};
use crate::deadline::Deadline;
use crate::talos::apid::{ApidClient, TalosVersion};

/// Waits until every node in `nodes` answers `Version` through `client` (routed with `node`
/// metadata, so through the load balancer when the client is connected to it) and returns what
/// each reported, in the order of `nodes`.
///
/// Nodes that answered once are not asked again. Unreachable nodes and nodes still booting are
/// waited for; an error waiting cannot fix (TLS, permission) ends the wait at once.
///
/// # Errors
/// [`Error::Timeout`] listing the nodes that answered and those still awaited with their last
/// error; [`Error::Cancelled`]; [`Error::Apid`] for a node that answers with a permanent error;
/// [`Error::NoNodes`] when `nodes` is empty.
pub async fn wait_apid(
    client: &ApidClient,
    nodes: &[IpAddr],
    budget: &Deadline,
) -> Result<Vec<TalosVersion>, Error> {
    if nodes.is_empty() {
        return Err(Error::NoNodes {
            what: "waiting for the Talos API",
        });
    }
    // Shared by the checks (each runs to completion before the next starts).
    let answered: Mutex<Vec<Option<TalosVersion>>> = Mutex::new(vec![None; nodes.len()]);
    let what = format!("Talos API of {} node(s)", nodes.len());
    let label = join_ips(nodes);
    poll(budget, &what, &label, || {
        let missing: Vec<IpAddr> = {
            let answered = lock(&answered);
            nodes
                .iter()
                .zip(answered.iter())
                .filter(|(_, version)| version.is_none())
                .map(|(ip, _)| *ip)
                .collect()
        };
        let asked: Vec<_> = missing
            .into_iter()
            .map(|ip| {
                let call = client.node(ip).with_deadline(budget.check_deadline());
                async move { (ip, call.version().await) }
            })
            .collect();
        let answered = &answered;
        async move {
            let results = join_all(asked).await;
            let mut answered = lock(answered);
            let mut waiting = Vec::new();
            let mut last_error = None;
            for (ip, result) in results {
                match result {
                    Ok(version) => {
                        if let Some(index) = nodes.iter().position(|n| *n == ip) {
                            answered[index] = Some(version);
                        }
                    }
                    Err(err) if transient(&err) => {
                        waiting.push(format!("{ip} ({})", brief(&err)));
                        last_error = Some(err);
                    }
                    Err(err) => {
                        return Check::Failed(Error::apid(format!("Version of node {ip}"), err));
                    }
                }
            }
            if waiting.is_empty() {
                return Check::Done(answered.iter().flatten().cloned().collect());
            }
            let have: Vec<String> = nodes
                .iter()
                .zip(answered.iter())
                .filter_map(|(ip, v)| v.as_ref().map(|v| format!("{ip} ({})", v.tag)))
                .collect();
            Check::Pending {
                state: format!(
                    "Talos API answered on: {}; waiting for {}",
                    if have.is_empty() {
                        "none".to_owned()
                    } else {
                        have.join(", ")
                    },
                    waiting.join(", ")
                ),
                error: last_error,
            }
        }
    })
    .await
}

/// `10.0.1.2, 10.0.1.3` for logs.
pub(crate) fn join_ips(nodes: &[IpAddr]) -> String {
    nodes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Locks a mutex that only holds plain data (a panic elsewhere cannot leave it inconsistent).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
