//! Core `v1` Events as controllers and kubelets record them (`kubectl describe` and
//! `kubectl get events` read them): one Event per involved object and reason, named
//! `<object>.<hash>`, whose `count` and `lastTimestamp` move only when its message changes, so that
//! a condition re-observed on every reconcile pass does not flood the store.

use serde_json::{Value, json};

use super::store::{Store, uid};

/// Who reports an event (`source.component`, `reportingComponent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The kubelet of a node.
    Kubelet,
    /// A controller of kube-controller-manager (`job-controller`, `daemonset-controller`, …).
    Controller(&'static str),
}

/// Records a `Warning` (or `Normal`) event about `object`.
pub fn record(
    store: &mut Store,
    object: &Value,
    warning: bool,
    reason: &str,
    message: &str,
    source: Source,
    timestamp: &str,
) {
    let ns = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let name = object["metadata"]["name"].as_str().unwrap_or_default();
    let object_uid = object["metadata"]["uid"].as_str().unwrap_or_default();
    let event_name = format!(
        "{name}.{}",
        &uid(&format!("{object_uid}/{reason}"), "event").replace('-', "")[..16]
    );
    let existing = store.get("v1", "events", &ns, &event_name).cloned();
    if existing
        .as_ref()
        .is_some_and(|e| e["message"] == message && e["reason"] == reason)
    {
        return;
    }
    let count = existing
        .as_ref()
        .and_then(|e| e["count"].as_i64())
        .unwrap_or(0)
        + 1;
    let first = existing
        .as_ref()
        .map(|e| e["firstTimestamp"].clone())
        .unwrap_or_else(|| json!(timestamp));
    let (component, host) = match source {
        Source::Kubelet => ("kubelet", object["spec"]["nodeName"].clone()),
        Source::Controller(c) => (c, Value::Null),
    };
    let mut source_json = json!({"component": component});
    if host.is_string() {
        source_json["host"] = host;
    }
    let event = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": event_name, "namespace": ns},
        "involvedObject": {"apiVersion": object["apiVersion"], "kind": object["kind"], "name": name,
                           "namespace": ns, "uid": object_uid, "resourceVersion": object["metadata"]["resourceVersion"]},
        "reason": reason, "message": message, "type": if warning { "Warning" } else { "Normal" },
        "count": count, "firstTimestamp": first, "lastTimestamp": timestamp,
        "source": source_json, "reportingComponent": component, "reportingInstance": "",
    });
    store.put("v1", "events", event, timestamp);
}
