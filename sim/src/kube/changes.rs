//! The history of one cluster's objects that watches are served from, as etcd and the API
//! server's watch cache keep it: every write of a stored object or a Node as an event at the
//! resourceVersion it was written at. Like etcd compacted by the API server every 5 minutes, the
//! history before the revision of the previous compaction is dropped, so a watch from a version
//! older than that gets `410 Expired`; a cap on the number of events bounds memory when a cluster
//! is written to very often.

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::Value;

use super::store::ResourceKey;

/// kube-apiserver's `--etcd-compaction-interval` default.
pub const COMPACTION_INTERVAL: Duration = Duration::from_secs(300);

/// The most events kept, whatever their age.
const CAPACITY: usize = 10_000;

/// What happened to an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed (the object as it was last, at the version of its removal).
    Deleted,
}

impl EventType {
    /// The watch event's `type`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One write.
#[derive(Debug, Clone)]
pub struct Change {
    /// The resourceVersion it was written at.
    pub rv: u64,
    /// What happened.
    pub event: EventType,
    /// Which resource.
    pub resource: ResourceKey,
    /// The object after the write.
    pub object: Value,
    /// The object before a modification (a watch with a selector turns a change that makes an
    /// object match, or stop matching, into ADDED or DELETED).
    pub previous: Option<Value>,
}

/// The kept history.
#[derive(Debug, Default)]
pub struct ChangeLog {
    changes: VecDeque<Change>,
    /// Versions up to this one are no longer known.
    compacted: u64,
    /// When the last compaction ran and the newest version then (the next one compacts to it).
    mark: Option<(Duration, u64)>,
}

impl ChangeLog {
    /// Records a write.
    pub fn record(&mut self, change: Change) {
        self.changes.push_back(change);
        while self.changes.len() > CAPACITY {
            if let Some(dropped) = self.changes.pop_front() {
                self.compacted = self.compacted.max(dropped.rv);
            }
        }
    }

    /// Compacts every [`COMPACTION_INTERVAL`] of sim time to the newest version of the previous
    /// compaction, as the API server asks etcd to.
    pub fn compact(&mut self, now: Duration, newest: u64) {
        match self.mark {
            None => self.mark = Some((now, newest)),
            Some((at, _)) if now.saturating_sub(at) < COMPACTION_INTERVAL => {}
            Some((_, previous)) => {
                self.compacted = self.compacted.max(previous);
                while self.changes.front().is_some_and(|c| c.rv <= self.compacted) {
                    self.changes.pop_front();
                }
                self.mark = Some((now, newest));
            }
        }
    }

    /// The version up to which history is gone: a watch must start after it.
    pub fn compacted(&self) -> u64 {
        self.compacted
    }

    /// The writes after version `rv`, oldest first.
    pub fn since(&self, rv: u64) -> impl Iterator<Item = &Change> {
        let start = self.changes.partition_point(|c| c.rv <= rv);
        self.changes.range(start..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(rv: u64) -> Change {
        Change {
            rv,
            event: EventType::Added,
            resource: ("v1".into(), "configmaps".into()),
            object: json!({}),
            previous: None,
        }
    }

    #[test]
    fn compaction_drops_what_the_previous_one_saw() {
        let mut log = ChangeLog::default();
        log.record(change(1));
        log.compact(Duration::ZERO, 1);
        log.record(change(2));
        log.compact(Duration::from_secs(299), 2);
        assert_eq!(log.compacted(), 0);
        log.compact(Duration::from_secs(300), 2);
        assert_eq!(log.compacted(), 1);
        assert_eq!(log.since(0).map(|c| c.rv).collect::<Vec<_>>(), [2]);
        log.compact(Duration::from_secs(600), 2);
        assert_eq!(log.compacted(), 2);
        assert_eq!(log.since(1).count(), 0);
    }

    #[test]
    fn since_starts_after_the_version() {
        let mut log = ChangeLog::default();
        for rv in [3, 5, 8] {
            log.record(change(rv));
        }
        assert_eq!(log.since(5).map(|c| c.rv).collect::<Vec<_>>(), [8]);
        assert_eq!(log.since(4).map(|c| c.rv).collect::<Vec<_>>(), [5, 8]);
    }
}
