//! Errors of the node operations: each says which node, which step, and what was still pending.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::talos::{apid, version};

/// Which part of a rolling operation failed (see [`super::rolling()`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollStage {
    /// The operation on the node itself (upgrade, apply, replacement).
    Operation,
    /// The health gate run after the operation succeeded on the node.
    HealthGate,
}

impl fmt::Display for RollStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Operation => "operation",
            Self::HealthGate => "health gate",
        })
    }
}

/// Everything a node operation can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The budget's deadline passed while something was still pending.
    #[error("{what}: timed out after {elapsed:.1?}; still pending: {pending}")]
    Timeout {
        /// What was awaited, e.g. `etcd membership of 3 control planes`.
        what: String,
        /// How long the operation ran (under its budget).
        elapsed: Duration,
        /// Exactly what was missing at the last check, e.g. `etcd members: have cp-1
        /// (10.0.1.2), cp-2 (10.0.1.3); waiting for cp-3 (10.0.1.4)`.
        pending: String,
        /// The last Talos API error seen while waiting, if the last check failed with one.
        #[source]
        last_error: Option<Box<apid::Error>>,
    },

    /// The budget's cancellation token was cancelled (e.g. Terraform's stop signal).
    #[error("{what}: cancelled after {elapsed:.1?}; still pending: {pending}")]
    Cancelled {
        /// What was being done.
        what: String,
        /// How long it ran.
        elapsed: Duration,
        /// What was still missing when it was cancelled.
        pending: String,
    },

    /// A Talos API call failed in a way waiting does not fix (refused config, permission
    /// denied, TLS failure, an installer that failed).
    #[error("{what} failed")]
    Apid {
        /// The step, naming the node, e.g. `graceful reset of cp-3 (10.0.1.4)`.
        what: String,
        /// The call's error.
        #[source]
        source: apid::Error,
    },

    /// A node reports a Talos version this provider cannot work with.
    #[error("node {node} reports Talos version {reported:?}, which this provider cannot upgrade")]
    NodeVersion {
        /// The node.
        node: IpAddr,
        /// The tag it reported.
        reported: String,
        /// Why it is not usable.
        #[source]
        source: version::Error,
    },

    /// Removing the control plane would leave etcd without members; refused.
    #[error(
        "refusing to remove control plane {node}: it is the last etcd member, and removing it would destroy the cluster"
    )]
    LastEtcdMember {
        /// The control plane, `name (ip)`.
        node: String,
    },

    /// Removing the control plane would leave etcd with fewer answering members than its
    /// quorum needs; refused before anything was changed.
    #[error(
        "refusing to remove control plane {node}: of the {members_left} etcd member(s) left, only {answering} answer, fewer than a quorum; silent: {}; remove or restore those first",
        list(silent)
    )]
    WouldLoseQuorum {
        /// The control plane, `name (ip)`.
        node: String,
        /// How many members would remain.
        members_left: usize,
        /// How many of them answer.
        answering: usize,
        /// The members that do not answer.
        silent: Vec<String>,
    },

    /// None of the etcd members is one of the control planes the caller named, so none of them
    /// can be told apart from a leftover: nothing was removed.
    #[error(
        "none of the etcd members ({members}) is one of the given control planes; refusing to remove any"
    )]
    NoKnownMember {
        /// The members found.
        members: String,
    },

    /// The change needs a reboot and the caller's [`RebootPolicy`](super::RebootPolicy)
    /// forbids one.
    #[error(
        "the configuration change on node {node} needs a reboot, which was not allowed: {details}"
    )]
    RebootRequired {
        /// The node.
        node: IpAddr,
        /// Talos' explanation (what makes the reboot necessary, when it says).
        details: String,
    },

    /// The operation was given nothing to work on (no candidates, no control planes).
    #[error("{what}: no nodes were given")]
    NoNodes {
        /// The operation.
        what: &'static str,
    },

    /// A rolling operation stopped at a node; the nodes after it were not touched.
    #[error(
        "rolling {what} stopped at {failed} ({stage} failed); done: {}; not started: {}",
        list(done),
        list(remaining)
    )]
    Rolling {
        /// What was rolled, e.g. `Talos upgrade to v1.14.0`.
        what: String,
        /// The node it failed on.
        failed: String,
        /// Whether the operation or the health gate after it failed.
        stage: RollStage,
        /// Nodes completed before it (operation and health gate passed), in order.
        done: Vec<String>,
        /// Nodes after it, never started.
        remaining: Vec<String>,
        /// Why it failed.
        #[source]
        source: Box<Error>,
    },
}

/// `a, b, c`, or `none`.
fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

impl Error {
    /// Wraps a Talos API error from the step `what`.
    pub(crate) fn apid(what: impl Into<String>, source: apid::Error) -> Self {
        Self::Apid {
            what: what.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rolling_error_names_the_failed_node_and_both_sides_of_it() {
        let err = Error::Rolling {
            what: "Talos upgrade to v1.14.0".into(),
            failed: "cp-2".into(),
            stage: RollStage::HealthGate,
            done: vec!["cp-1".into()],
            remaining: vec![],
            source: Box::new(Error::NoNodes { what: "test" }),
        };
        assert_eq!(
            err.to_string(),
            "rolling Talos upgrade to v1.14.0 stopped at cp-2 (health gate failed); done: cp-1; not started: none"
        );
    }

    #[test]
    fn a_timeout_says_what_was_pending() {
        let err = Error::Timeout {
            what: "etcd membership".into(),
            elapsed: Duration::from_millis(1500),
            pending: "waiting for cp-3 (10.0.1.4)".into(),
            last_error: None,
        };
        assert_eq!(
            err.to_string(),
            "etcd membership: timed out after 1.5s; still pending: waiting for cp-3 (10.0.1.4)"
        );
    }
}
