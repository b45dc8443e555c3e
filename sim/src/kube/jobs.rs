//! The Job controller (`batch/v1` Jobs, one completion, parallelism one): a Job that is not
//! suspended gets a pod `<job>-<suffix>` labelled `batch.kubernetes.io/job-name`,
//! `batch.kubernetes.io/controller-uid` (and the legacy `job-name`, `controller-uid`); the pod
//! schedules and starts like any other ([`super::workloads`]). What its containers do is not the
//! controller's business: the helm job runner ([`super::helm`]) ends klipper-helm containers, the
//! containers of other images keep running.
//!
//! The Job's status follows its pods as in Kubernetes 1.31+: `active`, `ready`, `succeeded`,
//! `failed`, `startTime`; a succeeded pod makes it `SuccessCriteriaMet` then `Complete`
//! (`CompletionsReached`, `completionTime`). Failures count against `spec.backoffLimit` (default
//! 6): with `restartPolicy: OnFailure` the restarts of the pod's containers (the Job fails once
//! they reach the limit, or at the first restart when the limit is 0), with `Never` the failed
//! pods (a new pod after 10 s, 20 s, 40 s, … up to 6 minutes; the Job fails when more pods
//! failed than the limit). A failed Job gets `FailureTarget` then `Failed`
//! (`BackoffLimitExceeded`, "Job has reached the specified backoff limit") and its active pods
//! are deleted, as the Job controller does (their logs go with them).

use std::time::Duration;

use serde_json::{Value, json};

use super::store::Store;
use super::workloads::{Tick, meta_str, new_pod, owned_pods, put_if_changed};

/// `spec.backoffLimit` when unset.
pub const DEFAULT_BACKOFF_LIMIT: i64 = 6;

/// The Job's terminal state: `Some(true)` Complete, `Some(false)` Failed, `None` still running.
pub fn finished(job: &Value) -> Option<bool> {
    let has = |kind: &str| {
        job["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == kind && c["status"] == "True")
    };
    if has("Complete") {
        Some(true)
    } else if has("Failed") {
        Some(false)
    } else {
        None
    }
}

fn phase(pod: &Value) -> &str {
    pod["status"]["phase"].as_str().unwrap_or("Pending")
}

fn restarts(pod: &Value) -> i64 {
    ["initContainerStatuses", "containerStatuses"]
        .iter()
        .flat_map(|k| pod["status"][*k].as_array().into_iter().flatten())
        .filter_map(|c| c["restartCount"].as_i64())
        .sum()
}

fn conditions(first: &str, last: &str, reason: &str, message: &str, timestamp: &str) -> Value {
    json!([{"type": first, "status": "True", "reason": reason, "message": message,
            "lastProbeTime": timestamp, "lastTransitionTime": timestamp},
           {"type": last, "status": "True", "reason": reason, "message": message,
            "lastProbeTime": timestamp, "lastTransitionTime": timestamp}])
}

/// The Job controller's back-off before replacing the `failed`-th failed pod.
fn replacement_delay(failed: i64) -> Duration {
    let exponent = u32::try_from(failed.clamp(1, 16) - 1).unwrap_or(0);
    Duration::from_secs(10u64.saturating_mul(1 << exponent)).min(Duration::from_secs(360))
}

/// One pass over every Job.
pub fn reconcile(store: &mut Store, tick: &Tick) {
    for job in store.items("batch/v1", "jobs") {
        if job["metadata"]["deletionTimestamp"].is_string()
            || job["spec"]["suspend"] == true
            || finished(&job).is_some()
        {
            continue;
        }
        let (ns, name, job_uid) = (
            meta_str(&job, "namespace").to_string(),
            meta_str(&job, "name").to_string(),
            meta_str(&job, "uid").to_string(),
        );
        let pods = owned_pods(store, &job_uid);
        let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
        let failed = pods.iter().filter(|p| phase(p) == "Failed").count() as i64;
        let active: Vec<&Value> = pods
            .iter()
            .filter(|p| !matches!(phase(p), "Succeeded" | "Failed"))
            .collect();
        let restarted: i64 = active.iter().map(|p| restarts(p)).sum();
        let limit = job["spec"]["backoffLimit"]
            .as_i64()
            .unwrap_or(DEFAULT_BACKOFF_LIMIT);
        let on_failure = job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure";
        let exceeded = if on_failure {
            if limit == 0 {
                restarted > 0
            } else {
                restarted >= limit
            }
        } else {
            failed > limit
        };
        let mut updated = job.clone();
        let start = if job["status"]["startTime"].is_string() {
            job["status"]["startTime"].clone()
        } else {
            json!(tick.timestamp)
        };
        let timer = format!("job-backoff/{ns}/{name}");
        if succeeded > 0 {
            updated["status"] = json!({"startTime": start, "completionTime": tick.timestamp,
                "active": 0, "ready": 0, "terminating": 0, "succeeded": succeeded, "failed": failed,
                "uncountedTerminatedPods": {},
                "conditions": conditions("SuccessCriteriaMet", "Complete", "CompletionsReached",
                    "Reached expected number of succeeded pods", &tick.timestamp)});
            store.timers.remove(&timer);
        } else if exceeded {
            for pod in &active {
                store.remove("v1", "pods", &ns, meta_str(pod, "name"));
            }
            updated["status"] = json!({"startTime": start, "active": 0, "ready": 0, "terminating": 0,
                "succeeded": 0, "failed": failed + active.len() as i64, "uncountedTerminatedPods": {},
                "conditions": conditions("FailureTarget", "Failed", "BackoffLimitExceeded",
                    "Job has reached the specified backoff limit", &tick.timestamp)});
            store.timers.remove(&timer);
        } else {
            if active.is_empty() {
                let due = store.timers.get(&timer).is_none_or(|at| *at <= tick.now);
                if failed > 0 && !store.timers.contains_key(&timer) {
                    store
                        .timers
                        .insert(timer.clone(), tick.now + replacement_delay(failed));
                } else if due {
                    store.timers.remove(&timer);
                    let pod_name = format!("{name}-{}", store.suffix(&job_uid));
                    new_pod(
                        store,
                        &job,
                        "Job",
                        &pod_name,
                        None,
                        &[
                            ("batch.kubernetes.io/controller-uid", &job_uid),
                            ("batch.kubernetes.io/job-name", &name),
                            ("controller-uid", &job_uid),
                            ("job-name", &name),
                        ],
                        tick,
                    );
                }
            }
            let pods = owned_pods(store, &job_uid);
            let active = pods
                .iter()
                .filter(|p| !matches!(phase(p), "Succeeded" | "Failed"))
                .count();
            let ready = pods
                .iter()
                .filter(|p| super::eviction::is_healthy(p))
                .count();
            let mut status = json!({"active": active, "ready": ready, "terminating": 0,
                "uncountedTerminatedPods": {}});
            if !pods.is_empty() || job["status"]["startTime"].is_string() {
                status["startTime"] = start;
            }
            if failed > 0 {
                status["failed"] = json!(failed);
            }
            updated["status"] = status;
        }
        put_if_changed(store, "batch/v1", "jobs", updated, &tick.timestamp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replacement_back_off_doubles_up_to_six_minutes() {
        assert_eq!(replacement_delay(1), Duration::from_secs(10));
        assert_eq!(replacement_delay(3), Duration::from_secs(40));
        assert_eq!(replacement_delay(12), Duration::from_secs(360));
    }
}
