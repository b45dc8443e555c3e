//! The eviction API and PodDisruptionBudgets (`policy/v1`): `POST
//! /api/v1/namespaces/{ns}/pods/{name}/eviction` deletes the pod unless the budget of the
//! PodDisruptionBudget whose selector matches it is exhausted (429 `TooManyRequests`, with
//! Kubernetes' message and cause), as kube-apiserver's eviction REST handler decides: pods not
//! running yet, done or already terminating go without a budget check; unready pods go while the
//! budget holds (or always, with `unhealthyPodEvictionPolicy: AlwaysAllow`); more than one
//! matching budget is a 500. DaemonSet and mirror pods are evicted like any other (their
//! controller, or the kubelet, recreates them: skipping them is the drain client's business), and
//! so are pods on cordoned nodes. Budgets count the healthy pods (Running and Ready, not being deleted)
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

/// A Status reply body.
fn status_body(code: StatusCode, reason: Option<&str>, message: &str, details: Value) -> Value {
    let mut body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "code": code.as_u16()});
    if let Some(reason) = reason {
        body["reason"] = json!(reason);
    }
    if details.as_object().is_some_and(|d| !d.is_empty()) {
        body["details"] = details;
    }
    body
}

/// The 429 of a budget that allows no disruption (`checkAndDecrement` in the API server).
fn budget_exhausted(pdb_name: &str, b: &Budget) -> (StatusCode, Value) {
    let code = StatusCode::TOO_MANY_REQUESTS;
    let cause = format!(
        "The disruption budget {pdb_name} needs {} healthy pods and has {} currently",
        b.desired_healthy, b.current_healthy
    );
    (
        code,
        status_body(
            code,
            Some("TooManyRequests"),
            "Cannot evict pod as it would violate the pod's disruption budget.",
            json!({"causes": [{"reason": "DisruptionBudget", "message": cause}]}),
        ),
    )
}

/// Whether the budget of a PDB may be ignored for this pod (`canIgnorePDB`): it is not running
/// yet (Pending; a pod the API server stored has that phase until it is bound), it is done
/// (Succeeded, Failed), or it is already being deleted.
fn can_ignore_budget(pod: &Value) -> bool {
    matches!(
        pod["status"]["phase"].as_str(),
        None | Some("Pending" | "Succeeded" | "Failed")
    ) || pod["metadata"]["deletionTimestamp"].is_string()
}

/// Whether a pod's Ready condition is True.
fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// The API server's answer to an Eviction of pod `ns/name` (`eviction` is the request body,
/// already decoded), as `pkg/registry/core/pod/storage/eviction.go` decides it; the pod is
/// deleted on success unless `dry_run`.
pub fn decide(
    store: &mut Store,
    ns: &str,
    name: &str,
    eviction: &Value,
    dry_run: bool,
    timestamp: &str,
) -> (StatusCode, Value) {
    let bad_request = |message: &str| {
        (
            StatusCode::BAD_REQUEST,
            status_body(
                StatusCode::BAD_REQUEST,
                Some("BadRequest"),
                message,
                json!({}),
            ),
        )
    };
    if eviction["metadata"]["name"].as_str() != Some(name) {
        return bad_request("name in URL does not match name in Eviction object");
    }
    let options = &eviction["deleteOptions"];
    let dry_run = dry_run
        || options["dryRun"]
            .as_array()
            .is_some_and(|d| d.iter().any(|v| v == "All"));
    let Some(pod) = store.get("v1", "pods", ns, name).cloned() else {
        let code = StatusCode::NOT_FOUND;
        return (
            code,
            status_body(
                code,
                Some("NotFound"),
                &format!("pods \"{name}\" not found"),
                json!({"name": name, "kind": "pods"}),
            ),
        );
    };
    // Delete preconditions are checked against the pod, as a DELETE would.
    for (field, actual) in [
        ("uid", &pod["metadata"]["uid"]),
        ("resourceVersion", &pod["metadata"]["resourceVersion"]),
    ] {
        let wanted = &options["preconditions"][field];
        if wanted.is_string() && wanted != actual {
            let label = if field == "uid" {
                "UID"
            } else {
                "ResourceVersion"
            };
            let code = StatusCode::CONFLICT;
            return (
                code,
                status_body(
                    code,
                    Some("Conflict"),
                    &format!(
                        "Operation cannot be fulfilled on pods \"{name}\": Precondition failed: {label} in precondition: {}, {label} in object meta: {}",
                        wanted.as_str().unwrap_or_default(),
                        actual.as_str().unwrap_or_default()
                    ),
                    json!({"name": name, "kind": "pods"}),
                ),
            );
        }
    }
    if !can_ignore_budget(&pod) {
        let labels = labels_of(&pod);
        // A budget with an empty selector matches nothing (not everything).
        let pdbs: Vec<Value> = store
            .items("policy/v1", "poddisruptionbudgets")
            .into_iter()
            .filter(|p| p["metadata"]["namespace"] == ns)
            .filter(|p| {
                let selector = &p["spec"]["selector"];
                let empty = selector["matchLabels"]
                    .as_object()
                    .is_none_or(|m| m.is_empty())
                    && selector["matchExpressions"]
                        .as_array()
                        .is_none_or(|e| e.is_empty());
                !empty && selector_object_matches(selector, &labels)
            })
            .collect();
        if pdbs.len() > 1 {
            // Returned as the result, not as an error: a Status without a reason.
            let code = StatusCode::INTERNAL_SERVER_ERROR;
            return (
                code,
                status_body(
                    code,
                    None,
                    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
                    json!({}),
                ),
            );
        }
        if let Some(pdb) = pdbs.first() {
            let pdb_name = pdb["metadata"]["name"].as_str().unwrap_or_default();
            let b = budget(store, pdb);
            let observed = pdb["status"]["observedGeneration"].as_i64().unwrap_or(0);
            let generation = pdb["metadata"]["generation"].as_i64().unwrap_or(0);
            // An unready pod does not count as healthy: it may go without using up the
            // budget, always (`AlwaysAllow`) or while the budget holds (`IfHealthyBudget`, the
            // default). Otherwise the budget must allow a disruption.
            let unready_may_go = !is_ready(&pod)
                && (pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
                    || (b.current_healthy >= b.desired_healthy && b.desired_healthy > 0));
            if !unready_may_go {
                if observed < generation {
                    let code = StatusCode::TOO_MANY_REQUESTS;
                    return (
                        code,
                        status_body(
                            code,
                            Some("TooManyRequests"),
                            "Cannot evict pod as it would violate the pod's disruption budget.",
                            json!({"causes": [{"reason": "DisruptionBudget",
                                "message": format!("The disruption budget {pdb_name} is still being processed by the server.")}],
                                "retryAfterSeconds": 10}),
                        ),
                    );
                }
                if b.disruptions_allowed <= 0 {
                    return budget_exhausted(pdb_name, &b);
                }
            }
        }
    }
    if !dry_run {
        delete_pod(store, pod, timestamp);
        refresh_status(store, timestamp);
    }
    (
        StatusCode::CREATED,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
    )
}

/// Deletes an evicted pod as a DELETE would: a pod with finalizers only gets its
/// `deletionTimestamp` and stays until they are removed.
fn delete_pod(store: &mut Store, mut pod: Value, timestamp: &str) {
    let ns = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let held = pod["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty());
    if held {
        if !pod["metadata"]["deletionTimestamp"].is_string() {
            pod["metadata"]["deletionTimestamp"] = json!(timestamp);
        }
        store.put("v1", "pods", pod, timestamp);
    } else {
        store.remove("v1", "pods", &ns, &name);
    }
}

/// `POST .../pods/{name}/eviction` (`?dryRun=All` evicts nothing).
pub fn evict(
    store: &mut Store,
    ns: &str,
    name: &str,
    body: &Bytes,
    dry_run: bool,
    timestamp: &str,
) -> Response {
    let eviction = match serde_json::from_slice::<Value>(body) {
        Ok(e) if e["kind"] == "Eviction" || e["kind"].is_null() => e,
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
    };
    let (code, body) = decide(store, ns, name, &eviction, dry_run, timestamp);
    ok_json(code, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "2026-01-01T00:00:00Z";

    fn pod(name: &str, phase: &str, ready: bool) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
               "spec": {"nodeName": "w1"},
               "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    fn pdb(name: &str, spec: Value) -> Value {
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
               "metadata": {"name": name, "namespace": "default"}, "spec": spec})
    }

    /// Three web pods (the ready ones Running and Ready) and a budget `spec` over them.
    fn store(ready: [bool; 3], spec: Value) -> Store {
        let mut store = Store::default();
        store.ensure_defaults(T, None);
        for (i, ready) in ready.iter().enumerate() {
            store.put("v1", "pods", pod(&format!("web-{i}"), "Running", *ready), T);
        }
        store.put("policy/v1", "poddisruptionbudgets", pdb("web", spec), T);
        refresh_status(&mut store, T);
        store
    }

    fn evict(store: &mut Store, name: &str) -> (StatusCode, Value) {
        let eviction =
            json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": name}});
        decide(store, "default", name, &eviction, false, T)
    }

    fn min_available(n: i64) -> Value {
        json!({"minAvailable": n, "selector": {"matchLabels": {"app": "web"}}})
    }

    #[test]
    fn an_exhausted_budget_answers_as_the_api_server() {
        let mut store = store([true; 3], min_available(3));
        let (code, body) = evict(&mut store, "web-0");
        assert_eq!(code, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            body,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "Cannot evict pod as it would violate the pod's disruption budget.",
                   "reason": "TooManyRequests", "code": 429,
                   "details": {"causes": [{"reason": "DisruptionBudget",
                       "message": "The disruption budget web needs 3 healthy pods and has 3 currently"}]}})
        );
        assert!(store.get("v1", "pods", "default", "web-0").is_some());
    }

    #[test]
    fn a_budget_with_room_lets_one_pod_go_then_refuses() {
        let mut store = store([true; 3], min_available(2));
        let (code, body) = evict(&mut store, "web-0");
        assert_eq!(code, StatusCode::CREATED);
        assert_eq!(
            body,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})
        );
        assert!(store.get("v1", "pods", "default", "web-0").is_none());
        let (code, body) = evict(&mut store, "web-1");
        assert_eq!(code, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            body["details"]["causes"][0]["message"],
            "The disruption budget web needs 2 healthy pods and has 2 currently"
        );
    }

    #[test]
    fn pods_not_running_or_terminating_ignore_the_budget() {
        for (phase, terminating) in [
            ("Pending", false),
            ("Succeeded", false),
            ("Failed", false),
            ("Running", true),
        ] {
            let mut store = store([true; 3], min_available(3));
            let mut extra = pod("web-x", phase, false);
            if terminating {
                extra["metadata"]["deletionTimestamp"] = json!(T);
                extra["metadata"]["finalizers"] = json!(["example.com/hold"]);
            }
            store.put("v1", "pods", extra, T);
            let (code, _) = evict(&mut store, "web-x");
            assert_eq!(
                code,
                StatusCode::CREATED,
                "{phase} terminating={terminating}"
            );
        }
        // A Running pod whose phase the kubelet reports Unknown is checked against the budget.
        let mut store = store([true; 3], min_available(3));
        store.put("v1", "pods", pod("web-x", "Unknown", true), T);
        assert_eq!(evict(&mut store, "web-x").0, StatusCode::TOO_MANY_REQUESTS);
    }

    #[test]
    fn unready_pods_go_while_the_budget_holds_or_always_when_allowed() {
        // Two healthy of the three, two needed: the budget holds, the unready pod may go.
        let mut holding = store([true, true, false], min_available(2));
        assert_eq!(evict(&mut holding, "web-2").0, StatusCode::CREATED);
        // Three needed, two healthy: the unready pod may not go (IfHealthyBudget, the default)…
        let mut short = store([true, true, false], min_available(3));
        assert_eq!(evict(&mut short, "web-2").0, StatusCode::TOO_MANY_REQUESTS);
        // …unless the budget says AlwaysAllow.
        let mut spec = min_available(3);
        spec["unhealthyPodEvictionPolicy"] = json!("AlwaysAllow");
        let mut always = store([true, true, false], spec);
        assert_eq!(evict(&mut always, "web-2").0, StatusCode::CREATED);
        assert_eq!(evict(&mut always, "web-1").0, StatusCode::TOO_MANY_REQUESTS);
    }

    #[test]
    fn two_budgets_a_stale_budget_and_an_empty_selector() {
        let mut store = store([true; 3], min_available(1));
        store.put(
            "policy/v1",
            "poddisruptionbudgets",
            pdb("web-too", min_available(1)),
            T,
        );
        refresh_status(&mut store, T);
        let (code, body) = evict(&mut store, "web-0");
        assert_eq!(code, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            body,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "code": 500,
                   "message": "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support."})
        );
        // A budget whose selector is empty matches no pod.
        store.put(
            "policy/v1",
            "poddisruptionbudgets",
            pdb("web-too", json!({"minAvailable": 3, "selector": {}})),
            T,
        );
        refresh_status(&mut store, T);
        assert_eq!(evict(&mut store, "web-0").0, StatusCode::CREATED);
        // A budget the disruption controller has not seen yet (observedGeneration behind).
        let mut changed = store
            .get("policy/v1", "poddisruptionbudgets", "default", "web")
            .cloned()
            .unwrap();
        changed["spec"]["minAvailable"] = json!(0);
        store.put("policy/v1", "poddisruptionbudgets", changed, T);
        let (code, body) = evict(&mut store, "web-1");
        assert_eq!(code, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(body["details"]["retryAfterSeconds"], 10);
        assert_eq!(
            body["details"]["causes"][0]["message"],
            "The disruption budget web is still being processed by the server."
        );
    }

    #[test]
    fn names_preconditions_dry_runs_and_missing_pods() {
        let mut store = store([true; 3], min_available(1));
        let other = json!({"kind": "Eviction", "metadata": {"name": "web-1"}});
        let (code, body) = decide(&mut store, "default", "web-0", &other, false, T);
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert_eq!(
            body["message"],
            "name in URL does not match name in Eviction object"
        );
        let dry = json!({"kind": "Eviction", "metadata": {"name": "web-0"}, "deleteOptions": {"dryRun": ["All"]}});
        assert_eq!(
            decide(&mut store, "default", "web-0", &dry, false, T).0,
            StatusCode::CREATED
        );
        assert!(
            store.get("v1", "pods", "default", "web-0").is_some(),
            "a dry run evicts nothing"
        );
        let stale = json!({"kind": "Eviction", "metadata": {"name": "web-0"},
                           "deleteOptions": {"preconditions": {"uid": "not-its-uid"}}});
        let (code, body) = decide(&mut store, "default", "web-0", &stale, false, T);
        assert_eq!(code, StatusCode::CONFLICT);
        assert_eq!(body["reason"], "Conflict");
        let (code, body) = evict(&mut store, "gone");
        assert_eq!(code, StatusCode::NOT_FOUND);
        assert_eq!(
            body,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "pods \"gone\" not found", "reason": "NotFound",
                   "details": {"name": "gone", "kind": "pods"}, "code": 404})
        );
    }

    #[test]
    fn percentages_round_up_against_the_expected_pods() {
        assert_eq!(scaled(&json!("50%"), 3), Some(2));
        assert_eq!(scaled(&json!(1), 3), Some(1));
        assert_eq!(scaled(&json!("x"), 3), None);
    }
}
