//! Actions and the one action waiter.
//!
//! Mutating calls return the [`Action`]s Hetzner started; callers collect them (from many objects
//! at once) and settle them with one [`Client::settle_actions`] call, which polls
//! `GET /actions?id=1&id=2…` in batches of at most [`MAX_IDS_PER_POLL`] ids, starting at the
//! client's poll interval and backing off by 1.5× per round up to 8× that interval, logging
//! progress at INFO and stopping at the client's deadline. There is no per-object poll loop
//! anywhere else.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;

use super::client::{ApiRequest, Client};
use super::error::{ActionFailure, Error};

/// Most action ids sent in one `GET /actions` poll: Hetzner's largest page (`per_page` ≤ 50), so
/// that a batch of 25 servers (create and start each) costs one request per poll, as hcloud-go's
/// waiter, which sends every id and pages by 50.
pub const MAX_IDS_PER_POLL: usize = 50;

/// Polls an action may be absent from the API's replies before it counts as failed.
const MAX_MISSES: u32 = 3;

/// How often progress is logged at INFO while nothing finishes.
const PROGRESS_LOG_EVERY: Duration = Duration::from_secs(10);

/// State of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionStatus {
    /// Still running.
    Running,
    /// Finished successfully.
    Success,
    /// Finished with an error.
    Error,
    /// A status this client does not know; treated as still running.
    #[serde(other)]
    Unknown,
}

/// A resource an action works on.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ActionResource {
    /// Resource id.
    pub id: i64,
    /// Resource type (`server`, `network`, …).
    #[serde(rename = "type")]
    pub kind: String,
}

/// The error of a failed action.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ActionError {
    /// Error code, e.g. `action_failed`.
    pub code: String,
    /// Human message.
    pub message: String,
}

/// An asynchronous Hetzner operation.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Action {
    /// Action id.
    pub id: i64,
    /// Command, e.g. `create_server`.
    pub command: String,
    /// Current state.
    pub status: ActionStatus,
    /// 0–100.
    #[serde(default)]
    pub progress: i32,
    /// What it touches.
    #[serde(default)]
    pub resources: Vec<ActionResource>,
    /// Set when `status` is `error`.
    #[serde(default)]
    pub error: Option<ActionError>,
}

impl Action {
    /// Whether the action has finished (successfully or not).
    pub fn is_finished(&self) -> bool {
        matches!(self.status, ActionStatus::Success | ActionStatus::Error)
    }

    /// `command (type id, …)` for logs and errors.
    pub fn describe(&self) -> String {
        format!(
            "action {} {} ({})",
            self.id,
            self.command,
            self.resource_names().join(", ")
        )
    }

    fn resource_names(&self) -> Vec<String> {
        self.resources
            .iter()
            .map(|r| format!("{} {}", r.kind, r.id))
            .collect()
    }

    fn failure(&self) -> Option<ActionFailure> {
        (self.status == ActionStatus::Error).then(|| {
            let (code, message) = self.error.as_ref().map_or_else(
                || ("unknown".to_string(), "the action failed".to_string()),
                |e| (e.code.clone(), e.message.clone()),
            );
            ActionFailure {
                id: self.id,
                command: self.command.clone(),
                resources: self.resource_names(),
                code,
                message,
            }
        })
    }
}

/// An object together with the actions that must finish before it is ready.
#[derive(Debug, Clone)]
#[must_use = "the actions have not been waited for"]
pub struct Pending<T> {
    /// The object as the API returned it when the actions started.
    pub value: T,
    /// Actions still to settle (empty when the object already existed).
    pub actions: Vec<Action>,
}

impl<T> Pending<T> {
    /// A value with nothing to wait for.
    pub fn ready(value: T) -> Self {
        Pending {
            value,
            actions: Vec::new(),
        }
    }

    /// Settles the actions (one batched wait) and returns the value, or the failures.
    pub async fn wait(self, client: &Client, what: &str) -> Result<T, Error> {
        client
            .settle_actions(what, self.actions)
            .await?
            .into_result(what)?;
        Ok(self.value)
    }
}

/// Outcome of a settled set of actions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settled {
    /// Actions that finished with `success`.
    pub succeeded: Vec<Action>,
    /// Actions that finished with `error`, with their errors.
    pub failed: Vec<ActionFailure>,
}

impl Settled {
    /// The successful actions, or [`Error::ActionsFailed`] naming every failure.
    pub fn into_result(self, what: &str) -> Result<Vec<Action>, Error> {
        if self.failed.is_empty() {
            Ok(self.succeeded)
        } else {
            Err(Error::ActionsFailed {
                what: what.to_string(),
                failures: self.failed,
            })
        }
    }
}

/// The failure recorded for an action the API no longer reports.
fn vanished(action: &Action) -> ActionFailure {
    ActionFailure {
        id: action.id,
        command: action.command.clone(),
        resources: action.resource_names(),
        code: "not_found".into(),
        message: format!("the API stopped reporting this action after {MAX_MISSES} polls"),
    }
}

#[derive(Debug, Deserialize)]
struct ActionList {
    actions: Vec<Action>,
}

/// Next poll interval: ×1.5, capped at 8× the base.
fn next_interval(current: Duration, base: Duration) -> Duration {
    current.mul_f64(1.5).min(base.saturating_mul(8)).max(base)
}

/// The `GET /actions?id=…` requests polling `ids`, at most [`MAX_IDS_PER_POLL`] ids each.
pub fn poll_requests(ids: &[i64]) -> Vec<ApiRequest> {
    ids.chunks(MAX_IDS_PER_POLL)
        .map(|chunk| {
            chunk.iter().fold(
                ApiRequest::get("/actions").query("per_page", MAX_IDS_PER_POLL),
                |req, id| req.query("id", id),
            )
        })
        .collect()
}

impl Client {
    /// Waits until every action has finished and reports each outcome. Polls in batches with
    /// adaptive backoff; fails with [`Error::Timeout`] listing the unfinished actions when the
    /// client's deadline passes, or [`Error::Cancelled`]. Actions given twice are awaited once.
    pub async fn settle_actions(&self, what: &str, actions: Vec<Action>) -> Result<Settled, Error> {
        let started = Instant::now();
        let total = actions.len();
        let mut settled = Settled::default();
        let mut pending: BTreeMap<i64, Action> = BTreeMap::new();
        for action in actions {
            pending.insert(action.id, action);
        }
        let finish = |settled: &mut Settled, action: Action| match action.failure() {
            Some(failure) => settled.failed.push(failure),
            None => settled.succeeded.push(action),
        };
        let already: Vec<i64> = pending
            .values()
            .filter(|a| a.is_finished())
            .map(|a| a.id)
            .collect();
        for id in already {
            if let Some(action) = pending.remove(&id) {
                finish(&mut settled, action);
            }
        }
        let base = self.poll_interval();
        let mut interval = base;
        let mut last_log = started;
        let mut last_count = pending.len();
        let mut missing: BTreeMap<i64, u32> = BTreeMap::new();
        while !pending.is_empty() {
            if !self.deadline().sleep(interval).await {
                return Err(Error::Cancelled {
                    what: format!("waiting for {what}"),
                });
            }
            // The wait, not the poll that happened to be in flight, is what timed out: the
            // error names the actions still running.
            let timed_out =
                |pending: &BTreeMap<i64, Action>, last_error: Option<Error>| Error::Timeout {
                    what: what.to_string(),
                    pending: pending.values().map(Action::describe).collect(),
                    elapsed: started.elapsed(),
                    last_error: last_error.map(Box::new),
                };
            if self.deadline().is_expired() {
                return Err(timed_out(&pending, None));
            }
            let ids: Vec<i64> = pending.keys().copied().collect();
            let mut seen = BTreeSet::new();
            for request in poll_requests(&ids) {
                let reply: ActionList = match self.call(request).await {
                    Ok(reply) => reply,
                    Err(Error::Timeout { last_error, .. }) => {
                        return Err(timed_out(&pending, last_error.map(|e| *e)));
                    }
                    Err(error) => return Err(error),
                };
                for action in reply.actions {
                    seen.insert(action.id);
                    if action.is_finished() && pending.remove(&action.id).is_some() {
                        finish(&mut settled, action);
                    } else if let Some(slot) = pending.get_mut(&action.id) {
                        *slot = action;
                    }
                }
            }
            // An action the API stops reporting would otherwise be awaited until the deadline.
            for id in ids.iter().filter(|id| !seen.contains(id)) {
                let misses = missing.entry(*id).or_insert(0);
                *misses += 1;
                if *misses >= MAX_MISSES
                    && let Some(action) = pending.remove(id)
                {
                    settled.failed.push(vanished(&action));
                }
            }
            if pending.len() != last_count || last_log.elapsed() >= PROGRESS_LOG_EVERY {
                last_count = pending.len();
                last_log = Instant::now();
                tracing::info!(
                    what,
                    done = total - pending.len(),
                    total,
                    elapsed_s = started.elapsed().as_secs(),
                    remaining_s = self.deadline().remaining().map(|r| r.as_secs()),
                    pending = %pending.values().map(Action::describe).collect::<Vec<_>>().join(", "),
                    "waiting for Hetzner actions"
                );
            }
            interval = next_interval(interval, base);
        }
        Ok(settled)
    }

    /// Waits for the actions and fails with [`Error::ActionsFailed`] if any failed.
    pub async fn wait_for_actions(&self, what: &str, actions: Vec<Action>) -> Result<(), Error> {
        self.settle_actions(what, actions)
            .await?
            .into_result(what)
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polls_in_batches_of_50() {
        let ids: Vec<i64> = (1..=110).collect();
        let requests = poll_requests(&ids);
        assert_eq!(requests.len(), 3);
        let counts: Vec<usize> = requests
            .iter()
            .map(|r| r.query_pairs().iter().filter(|(k, _)| k == "id").count())
            .collect();
        assert_eq!(counts, [50, 50, 10]);
        assert!(requests.iter().all(|r| r.describe() == "GET /actions"));
    }

    #[test]
    fn interval_backs_off_to_a_cap() {
        let base = Duration::from_millis(100);
        let mut i = base;
        for _ in 0..20 {
            i = next_interval(i, base);
        }
        assert_eq!(i, Duration::from_millis(800));
        assert_eq!(next_interval(base, base), Duration::from_millis(150));
    }

    #[test]
    fn failed_action_reports_its_error() {
        let action: Action = serde_json::from_str(
            r#"{"id":7,"command":"create_server","status":"error","progress":100,
                "resources":[{"id":3,"type":"server"}],"error":{"code":"action_failed","message":"Action failed"}}"#,
        )
        .unwrap();
        let failure = action.failure().unwrap();
        assert_eq!(failure.resources, ["server 3"]);
        assert_eq!(failure.code, "action_failed");
        let odd: Action =
            serde_json::from_str(r#"{"id":8,"command":"x","status":"paused"}"#).unwrap();
        assert!(!odd.is_finished());
    }
}
