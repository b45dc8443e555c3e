//! What the kubelets post, on the sim clock, and the Node objects' resourceVersions.
//!
//! A kubelet posts its Node status when it changes and otherwise every
//! `nodeStatusReportFrequency` (5 minutes: with node leases the heartbeat proper is the Lease),
//! and renews its Lease `kube-node-lease/<node>` every quarter of `leaseDurationSeconds` (40 s):
//! so `lastHeartbeatTime` of the Ready condition moves every 5 minutes or on a change,
//! `lastTransitionTime` is when Ready last changed, and a stopped node's heartbeat and lease stop
//! where they were. Nodes are derived from the Talos nodes on every read; [`observe`] (run with
//! the controllers) compares them with what was last served and gives a changed Node a new
//! resourceVersion and a watch event, as a write to etcd would.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

use super::changes::{Change, EventType};
use super::nodes;
use crate::talos::state::Fleet;

/// kubelet's `nodeStatusReportFrequency` default.
pub const REPORT_FREQUENCY: Duration = Duration::from_secs(300);

/// kubelet's `nodeLeaseDurationSeconds` default.
pub const LEASE_DURATION_SECONDS: u64 = 40;

/// How often the kubelet renews its lease (a quarter of the lease duration, as kubelet does).
pub const LEASE_RENEW_INTERVAL: Duration = Duration::from_secs(LEASE_DURATION_SECONDS / 4);

/// The namespace of the node leases.
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// What a node's kubelet last posted.
#[derive(Debug, Clone)]
pub struct Report {
    /// The Ready condition's status then (`True`, `False`, `Unknown`).
    ready: String,
    /// When Ready last changed.
    pub transition: String,
    /// When the kubelet last posted its status.
    pub heartbeat: String,
    /// The sim time of that post.
    reported_at: Duration,
    /// The sim time the kubelet last renewed its lease.
    lease_renewed_at: Option<Duration>,
}

/// Reports by node, and each Node as last served with its resourceVersion.
#[derive(Debug, Default)]
pub struct NodeTracker {
    reports: BTreeMap<String, Report>,
    served: BTreeMap<String, (Value, u64)>,
}

impl NodeTracker {
    /// What the kubelet of `node` last posted.
    pub fn report(&self, node: &str) -> Option<&Report> {
        self.reports.get(node)
    }

    /// The resourceVersion the Node was last changed at.
    pub fn version(&self, node: &str) -> Option<u64> {
        self.served.get(node).map(|(_, rv)| *rv)
    }

    /// Updates the report of a node whose Ready status is `ready` now; whether it changed.
    fn post(&mut self, node: &str, ready: &str, up: bool, now: Duration, timestamp: &str) -> bool {
        let report = self
            .reports
            .entry(node.to_string())
            .or_insert_with(|| Report {
                ready: String::new(),
                transition: timestamp.to_string(),
                heartbeat: timestamp.to_string(),
                reported_at: now,
                lease_renewed_at: None,
            });
        if report.ready != ready {
            report.ready = ready.to_string();
            report.transition = timestamp.to_string();
            if up {
                report.heartbeat = timestamp.to_string();
                report.reported_at = now;
            }
            return true;
        }
        if up && now.saturating_sub(report.reported_at) >= REPORT_FREQUENCY {
            report.heartbeat = timestamp.to_string();
            report.reported_at = now;
            return true;
        }
        false
    }

    /// Whether the kubelet of `node` renews its lease now (and records that it did).
    fn renew_lease(&mut self, node: &str, now: Duration) -> bool {
        let Some(report) = self.reports.get_mut(node) else {
            return false;
        };
        let due = report
            .lease_renewed_at
            .is_none_or(|at| now.saturating_sub(at) >= LEASE_RENEW_INTERVAL);
        if due {
            report.lease_renewed_at = Some(now);
        }
        due
    }
}

fn ready_status(node: &Value) -> String {
    node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .and_then(|c| c["status"].as_str())
        .unwrap_or("Unknown")
        .to_string()
}

fn name_of(node: &Value) -> String {
    node["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// A `MicroTime` (`2026-01-01T00:00:00.000000Z`) from a Kubernetes timestamp (`…Z`, whole
/// seconds; a Hetzner-style `+00:00` one is taken too).
fn micro_time(timestamp: &str) -> String {
    let utc = timestamp
        .strip_suffix("+00:00")
        .or_else(|| timestamp.strip_suffix('Z'))
        .unwrap_or(timestamp);
    format!("{utc}.000000Z")
}

/// Posts what the kubelets of cluster `key` post by now, renews their leases, and records every
/// Node that changed since it was last served as a write (new resourceVersion, watch event).
pub fn observe(fleet: &mut Fleet, key: &str, now: Duration, timestamp: &str) {
    let up: BTreeMap<String, bool> = fleet
        .cluster_nodes(key)
        .filter(|n| n.kube_registered)
        .map(|n| (n.hostname(), n.is_up()))
        .collect();
    let derived = nodes::derive(fleet, key);
    let Some(cluster) = fleet.clusters.get_mut(key) else {
        return;
    };
    let tracker = &mut cluster.kube.node_tracker;
    let mut posted = false;
    for node in &derived {
        let name = name_of(node);
        let is_up = up.get(&name).copied().unwrap_or(false);
        posted |= tracker.post(&name, &ready_status(node), is_up, now, timestamp);
    }
    let present: BTreeSet<String> = derived.iter().map(name_of).collect();
    tracker.reports.retain(|name, _| present.contains(name));
    // The Nodes again with what was just posted.
    let derived = if posted {
        nodes::derive(fleet, key)
    } else {
        derived
    };
    let Some(cluster) = fleet.clusters.get_mut(key) else {
        return;
    };
    let store = &mut cluster.kube;
    for node in derived {
        let name = name_of(&node);
        let previous = store.node_tracker.served.get(&name).map(|(o, _)| o);
        if previous == Some(&node) {
            continue;
        }
        let event = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        let previous = store.node_tracker.served.remove(&name).map(|(mut o, rv)| {
            o["metadata"]["resourceVersion"] = json!(rv.to_string());
            o
        });
        let rv = record(store, event, &node, previous);
        store.node_tracker.served.insert(name, (node, rv));
    }
    let gone: Vec<String> = store
        .node_tracker
        .served
        .keys()
        .filter(|n| !present.contains(*n))
        .cloned()
        .collect();
    for name in gone {
        if let Some((node, _)) = store.node_tracker.served.remove(&name) {
            record(store, EventType::Deleted, &node, None);
        }
        // The lease is owned by the Node: the garbage collector deletes it with it.
        store.remove("coordination.k8s.io/v1", "leases", LEASE_NAMESPACE, &name);
    }
    renew_leases(store, &up, now, timestamp);
    let newest = store.version().parse().unwrap_or_default();
    store.changes.compact(now, newest);
}

/// Records a Node write at a new resourceVersion; the version.
fn record(
    store: &mut super::store::Store,
    event: EventType,
    node: &Value,
    previous: Option<Value>,
) -> u64 {
    let rv: u64 = store.bump().parse().unwrap_or_default();
    let mut object = node.clone();
    object["metadata"]["resourceVersion"] = json!(rv.to_string());
    store.changes.record(Change {
        rv,
        event,
        resource: ("v1".to_string(), "nodes".to_string()),
        object,
        previous,
    });
    rv
}

fn renew_leases(
    store: &mut super::store::Store,
    up: &BTreeMap<String, bool>,
    now: Duration,
    timestamp: &str,
) {
    for (name, is_up) in up {
        if !*is_up || !store.node_tracker.renew_lease(name, now) {
            continue;
        }
        let Some(uid) = store
            .node_tracker
            .served
            .get(name)
            .and_then(|(n, _)| n["metadata"]["uid"].as_str())
            .map(str::to_string)
        else {
            continue;
        };
        let lease = json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": LEASE_NAMESPACE,
                "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name, "uid": uid}]},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                "renewTime": micro_time(timestamp)},
        });
        let lease = match store.get("coordination.k8s.io/v1", "leases", LEASE_NAMESPACE, name) {
            // Keep what others wrote on it (labels, annotations); the kubelet owns the spec.
            Some(existing) => {
                let mut updated = existing.clone();
                updated["spec"] = lease["spec"].clone();
                updated
            }
            None => lease,
        };
        store.put("coordination.k8s.io/v1", "leases", lease, timestamp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_posted_on_change_and_every_report_period() {
        let mut t = NodeTracker::default();
        assert!(t.post("n", "True", true, Duration::ZERO, "t0"));
        assert!(!t.post("n", "True", true, Duration::from_secs(299), "t299"));
        assert!(t.post("n", "True", true, Duration::from_secs(300), "t300"));
        let r = t.report("n").unwrap();
        assert_eq!(
            (r.heartbeat.as_str(), r.transition.as_str()),
            ("t300", "t0")
        );
        // A stopped kubelet posts nothing; the controller's Unknown is a transition.
        assert!(t.post("n", "Unknown", false, Duration::from_secs(400), "t400"));
        assert!(!t.post("n", "Unknown", false, Duration::from_secs(900), "t900"));
        let r = t.report("n").unwrap();
        assert_eq!(
            (r.heartbeat.as_str(), r.transition.as_str()),
            ("t300", "t400")
        );
    }

    #[test]
    fn leases_renew_every_quarter_of_their_duration() {
        let mut t = NodeTracker::default();
        t.post("n", "True", true, Duration::ZERO, "t0");
        assert!(t.renew_lease("n", Duration::ZERO));
        assert!(!t.renew_lease("n", Duration::from_secs(9)));
        assert!(t.renew_lease("n", Duration::from_secs(10)));
    }

    #[test]
    fn micro_time_has_microseconds_and_z() {
        assert_eq!(
            micro_time("2026-01-01T10:00:00+00:00"),
            "2026-01-01T10:00:00.000000Z"
        );
        assert_eq!(
            micro_time("2026-01-01T10:00:00Z"),
            "2026-01-01T10:00:00.000000Z"
        );
    }
}
