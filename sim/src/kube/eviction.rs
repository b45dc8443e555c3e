//! The eviction API and PodDisruptionBudgets (`policy/v1`): `POST
//! /api/v1/namespaces/{ns}/pods/{name}/eviction` deletes the pod unless the budget of the
//! PodDisruptionBudget whose selector matches it is exhausted (429 `TooManyRequests`, with
//! Kubernetes' message). Budgets count the healthy pods (Running and Ready, not being deleted)
//! matching their selector in their namespace; `minAvailable` / `maxUnavailable` are an integer or
//! a percentage of the expected pods (rounded up, as the disruption controller does). PDB status
//! (`currentHealthy`, `desiredHealthy`, `disruptionsAllowed`, `expectedPods`) is refreshed by
//! [`refresh_status`].

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::select::{labels_of, selector_object_matches};
use super::store::Store;
use super::{ok_json, status};

/// The budget arithmetic of one PodDisruptionBudget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Healthy pods matching the selector.
    pub current_healthy: i64,
    /// Healthy pods the budget requires.
    pub desired_healthy: i64,
    /// `current_healthy - desired_healthy`, at least 0.
    pub disruptions_allowed: i64,
    /// Pods expected (the owners' scale, or the matching pods).
    pub expected_pods: i64,
}

/// Whether a pod counts as healthy for a budget: Running, Ready and not being deleted.
pub fn is_healthy(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running"
        && !pod["metadata"]["deletionTimestamp"].is_string()
        && pod["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
}

fn pods_of(store: &Store, pdb: &Value) -> Vec<Value> {
    let ns = pdb["metadata"]["namespace"].as_str().unwrap_or_default();
    store
        .items("v1", "pods")
        .into_iter()
        .filter(|p| p["metadata"]["namespace"] == ns)
        .filter(|p| selector_object_matches(&pdb["spec"]["selector"], &labels_of(p)))
        .collect()
}

/// An int-or-percent value scaled against `total`, rounded up.
fn scaled(value: &Value, total: i64) -> Option<i64> {
    if let Some(n) = value.as_i64() {
        return Some(n);
    }
    let pct: i64 = value.as_str()?.strip_suffix('%')?.trim().parse().ok()?;
    Some((pct * total + 99) / 100)
}

/// The scale of the controllers owning the pods (pods without a known controller count once).
fn expected_from_owners(store: &Store, pods: &[Value]) -> i64 {
    let mut seen = std::collections::BTreeSet::new();
    let mut total = 0;
    for pod in pods {
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        let owner = pod["metadata"]["ownerReferences"]
            .as_array()
            .and_then(|o| o.iter().find(|o| o["controller"] == true));
        let Some(owner) = owner else {
            total += 1;
            continue;
        };
        let uid = owner["uid"].as_str().unwrap_or_default().to_string();
        if !seen.insert(uid) {
            continue;
        }
        let name = owner["name"].as_str().unwrap_or_default();
        let scale = match owner["kind"].as_str().unwrap_or_default() {
            "ReplicaSet" => store
                .get("apps/v1", "replicasets", ns, name)
                .map(|o| o["spec"]["replicas"].as_i64().unwrap_or(1)),
            "StatefulSet" => store
                .get("apps/v1", "statefulsets", ns, name)
                .map(|o| o["spec"]["replicas"].as_i64().unwrap_or(1)),
            "DaemonSet" => store
                .get("apps/v1", "daemonsets", ns, name)
                .map(|o| o["status"]["desiredNumberScheduled"].as_i64().unwrap_or(0)),
            _ => None,
        };
        total += scale.unwrap_or(1);
    }
    total
}

/// Computes a budget as the disruption controller would.
pub fn budget(store: &Store, pdb: &Value) -> Budget {
    let pods: Vec<Value> = pods_of(store, pdb)
        .into_iter()
        .filter(|p| !p["metadata"]["deletionTimestamp"].is_string())
        .collect();
    let current_healthy = pods.iter().filter(|p| is_healthy(p)).count() as i64;
    let spec = &pdb["spec"];
    let (expected_pods, desired_healthy) = if let Some(n) = spec["minAvailable"].as_i64() {
        (pods.len() as i64, n)
    } else if !spec["minAvailable"].is_null() {
        let expected = expected_from_owners(store, &pods);
        (
            expected,
            scaled(&spec["minAvailable"], expected).unwrap_or(expected),
        )
    } else if !spec["maxUnavailable"].is_null() {
        let expected = expected_from_owners(store, &pods);
        let unavailable = scaled(&spec["maxUnavailable"], expected).unwrap_or(0);
        (expected, (expected - unavailable).max(0))
    } else {
        // Neither field: the pre-policy/v1 default of minAvailable 1.
        (pods.len() as i64, 1)
    };
    Budget {
        current_healthy,
        desired_healthy,
        disruptions_allowed: (current_healthy - desired_healthy).max(0),
        expected_pods,
    }
}

/// Writes every PDB's status from its budget (only when it changed).
pub fn refresh_status(store: &mut Store, timestamp: &str) {
    for pdb in store.items("policy/v1", "poddisruptionbudgets") {
        let b = budget(store, &pdb);
        let allowed = b.disruptions_allowed > 0;
        let previous = &pdb["status"]["conditions"][0];
        let condition_status = if allowed { "True" } else { "False" };
        let transition = if previous["status"] == condition_status {
            previous["lastTransitionTime"].clone()
        } else {
            json!(timestamp)
        };
        let new_status = json!({
            "observedGeneration": pdb["metadata"]["generation"],
            "currentHealthy": b.current_healthy,
            "desiredHealthy": b.desired_healthy,
            "disruptionsAllowed": b.disruptions_allowed,
            "expectedPods": b.expected_pods,
            "conditions": [{"type": "DisruptionAllowed", "status": condition_status,
                "reason": if allowed { "SufficientPods" } else { "InsufficientPods" },
                "message": "", "observedGeneration": pdb["metadata"]["generation"],
                "lastTransitionTime": transition}],
        });
        if pdb["status"] != new_status {
            let mut updated = pdb;
            updated["status"] = new_status;
            store.put("policy/v1", "poddisruptionbudgets", updated, timestamp);
        }
    }
}

/// `POST .../pods/{name}/eviction`.
pub fn evict(store: &mut Store, ns: &str, name: &str, body: &Bytes, timestamp: &str) -> Response {
    match serde_json::from_slice::<Value>(body) {
        Ok(e) if e["kind"] == "Eviction" || e["kind"].is_null() => {}
        Ok(e) => {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("expected an Eviction, got kind {}", e["kind"]),
            );
        }
        Err(e) => {
            return status(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                &format!("invalid Eviction: {e}"),
            );
        }
    }
    let Some(pod) = store.get("v1", "pods", ns, name).cloned() else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("pods \"{name}\" not found"),
        );
    };
    let labels = labels_of(&pod);
    let pdbs: Vec<Value> = store
        .items("policy/v1", "poddisruptionbudgets")
        .into_iter()
        .filter(|p| p["metadata"]["namespace"] == ns)
        .filter(|p| selector_object_matches(&p["spec"]["selector"], &labels))
        .collect();
    if pdbs.len() > 1 {
        return status(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
        );
    }
    if let Some(pdb) = pdbs.first()
        && pod["status"]["phase"] == "Running"
    {
        let b = budget(store, pdb);
        // A healthy pod needs a disruption left; an unhealthy one may go while the budget holds
        // (the default `IfHealthyBudget` policy).
        let refused = if is_healthy(&pod) {
            b.disruptions_allowed <= 0
        } else {
            b.current_healthy < b.desired_healthy
        };
        if refused {
            let pdb_name = pdb["metadata"]["name"].as_str().unwrap_or_default();
            let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "Cannot evict pod as it would violate the pod's disruption budget.",
                "reason": "TooManyRequests",
                "details": {"causes": [{"reason": "DisruptionBudget", "message": format!(
                    "The disruption budget {pdb_name} needs {} healthy pods and has {} currently",
                    b.desired_healthy, b.current_healthy)}]},
                "code": 429});
            return ok_json(StatusCode::TOO_MANY_REQUESTS, &body);
        }
    }
    store.remove("v1", "pods", ns, name);
    refresh_status(store, timestamp);
    ok_json(
        StatusCode::CREATED,
        &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_up_against_the_expected_pods() {
        assert_eq!(scaled(&json!("50%"), 3), Some(2));
        assert_eq!(scaled(&json!(1), 3), Some(1));
        assert_eq!(scaled(&json!("x"), 3), None);
    }
}
