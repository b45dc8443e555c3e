//! The klipper-helm job runner: the container of any Job pod whose image is `*klipper-helm*`
//! (helm-controller's jobs, or a Job someone creates with that image) runs klipper-helm's entry
//! script ([`super::entry`]) once it has been Running for `helm_job` (latency model). The run's
//! output is the container's log (`GET …/pods/<pod>/log`, `?previous=true` for the run before),
//! the lines it writes to `/dev/termination-log` its termination message (with
//! `terminationMessagePolicy: FallbackToLogsOnError`, the end of the log when that file is empty
//! and the run failed).
//!
//! Exit code 0 ends the pod `Succeeded`. Another code ends the container `Error`: with
//! `restartPolicy: Never` the pod fails; with `OnFailure` the kubelet restarts the container at
//! once the first time, then after 10 s, 20 s, … up to 5 minutes (`CrashLoopBackOff`), counting
//! `restartCount`, which the Job controller holds against the Job's `backoffLimit`
//! ([`crate::kube::jobs`]).

use std::time::Duration;

use serde_json::{Value, json};

use super::entry::{self, env_of, image_version};
use crate::kube::store::Store;
use crate::kube::workloads::{Tick, meta_str, put_if_changed};

/// One container run's log: the current run and the one before.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodLog {
    /// The running (or last) container's output.
    pub current: String,
    /// The previous container's output, once it was restarted.
    pub previous: Option<String>,
}

/// Whether a pod is a Job pod running klipper-helm.
fn is_helm_job_pod(store: &Store, pod: &Value) -> bool {
    let owned_by_job = pod["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|o| o["kind"] == "Job" && o["controller"] == true);
    owned_by_job
        && !pod["metadata"]["deletionTimestamp"].is_string()
        && pod["spec"]["containers"][0]["image"]
            .as_str()
            .is_some_and(|i| i.contains("klipper-helm"))
        && store
            .get(
                "v1",
                "pods",
                meta_str(pod, "namespace"),
                meta_str(pod, "name"),
            )
            .is_some()
}

/// The files the pod sees under `/config` (its volume mounted there: a Secret, a ConfigMap, or
/// a projection of them; `items` pick and rename keys).
fn config_files(store: &Store, pod: &Value) -> Vec<(String, String)> {
    let ns = meta_str(pod, "namespace");
    let Some(mount) = pod["spec"]["containers"][0]["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|m| m["mountPath"].as_str().map(|p| p.trim_end_matches('/')) == Some("/config"))
    else {
        return Vec::new();
    };
    let Some(volume) = pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["name"] == mount["name"])
    else {
        return Vec::new();
    };
    let mut sources: Vec<(&str, Value)> = Vec::new();
    if volume["secret"].is_object() {
        sources.push((
            "secret",
            json!({"name": volume["secret"]["secretName"], "items": volume["secret"]["items"]}),
        ));
    }
    if volume["configMap"].is_object() {
        sources.push(("configMap", volume["configMap"].clone()));
    }
    for s in volume["projected"]["sources"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for kind in ["secret", "configMap"] {
            if s[kind].is_object() {
                sources.push((kind, s[kind].clone()));
            }
        }
    }
    let mut files = Vec::new();
    for (kind, source) in sources {
        let name = source["name"].as_str().unwrap_or_default();
        let (resource, key) = if kind == "secret" {
            ("secrets", "data")
        } else {
            ("configmaps", "data")
        };
        let Some(object) = store.get("v1", resource, ns, name) else {
            continue;
        };
        let read = |k: &str| -> Option<String> {
            let raw = object[key][k].as_str()?;
            if kind == "secret" {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
                String::from_utf8(bytes).ok()
            } else {
                Some(raw.to_string())
            }
        };
        match source["items"].as_array() {
            Some(items) if !items.is_empty() => {
                for item in items {
                    if let (Some(k), Some(path)) = (item["key"].as_str(), item["path"].as_str())
                        && let Some(text) = read(k)
                    {
                        files.push((path.to_string(), text));
                    }
                }
            }
            _ => {
                for k in object[key]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, _)| k.clone())
                {
                    if let Some(text) = read(&k) {
                        files.push((k, text));
                    }
                }
            }
        }
    }
    files
}

/// The kubelet's restart back-off after the `restarts`-th restart (0: at once).
fn restart_delay(restarts: i64) -> Duration {
    if restarts <= 0 {
        return Duration::ZERO;
    }
    let exponent = u32::try_from((restarts - 1).min(10)).unwrap_or(0);
    Duration::from_secs(10u64.saturating_mul(1 << exponent)).min(Duration::from_secs(300))
}

/// The last 80 lines (at most 2048 bytes) of a log, as `FallbackToLogsOnError` reads it.
fn log_tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let mut tail = lines[lines.len().saturating_sub(80)..].join("\n");
    while tail.len() > 2048 {
        let cut = tail.find('\n').map_or(tail.len(), |i| i + 1);
        tail.drain(..cut);
    }
    tail
}

/// One pass: runs the due attempts and restarts the containers whose back-off is over.
pub fn reconcile(store: &mut Store, tick: &Tick, own: Option<std::net::SocketAddr>) {
    let pods = store.items("v1", "pods");
    store.pod_logs.retain(|(ns, name), _| {
        pods.iter()
            .any(|p| meta_str(p, "namespace") == ns && meta_str(p, "name") == name)
    });
    for pod in pods {
        if pod["status"]["phase"] != "Running" || !is_helm_job_pod(store, &pod) {
            continue;
        }
        let (ns, name) = (
            meta_str(&pod, "namespace").to_string(),
            meta_str(&pod, "name").to_string(),
        );
        let status = &pod["status"]["containerStatuses"][0];
        let restarts = status["restartCount"].as_i64().unwrap_or(0);
        if status["state"]["waiting"].is_object() {
            let timer = format!("helm-restart/{ns}/{name}");
            if store.timers.get(&timer).is_some_and(|at| *at > tick.now) {
                continue;
            }
            store.timers.remove(&timer);
            let mut updated = pod.clone();
            let container = &mut updated["status"]["containerStatuses"][0];
            container["restartCount"] = json!(restarts + 1);
            container["state"] = json!({"running": {"startedAt": tick.timestamp}});
            container["started"] = json!(true);
            if let Some(log) = store.pod_logs.get_mut(&(ns.clone(), name.clone())) {
                log.previous = Some(std::mem::take(&mut log.current));
            }
            put_if_changed(store, "v1", "pods", updated, &tick.timestamp);
            continue;
        }
        let timer = format!("helm-attempt/{ns}/{name}/{restarts}");
        match store.timers.get(&timer) {
            None => {
                store.timers.insert(timer, tick.now + tick.job_delay);
                continue;
            }
            Some(at) if *at > tick.now => continue,
            Some(_) => {
                store.timers.remove(&timer);
            }
        }
        let container = &pod["spec"]["containers"][0];
        let job = entry::Job {
            env: env_of(container),
            args: container["args"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect(),
            config_files: config_files(store, &pod),
            pod_namespace: ns.clone(),
            klipper: image_version(container["image"].as_str().unwrap_or_default()),
        };
        let outcome = entry::run(store, &job, own, &tick.timestamp);
        if let Some(action) = outcome.action {
            *store.helm_jobs.entry(action.to_string()).or_default() += 1;
        }
        store
            .pod_logs
            .entry((ns.clone(), name.clone()))
            .or_default()
            .current = outcome.log.clone();
        let Some(mut updated) = store.get("v1", "pods", &ns, &name).cloned() else {
            continue;
        };
        let started = status["state"]["running"]["startedAt"].clone();
        let message = if outcome.exit_code != 0
            && outcome.termination_log.is_empty()
            && container["terminationMessagePolicy"] == "FallbackToLogsOnError"
        {
            log_tail(&outcome.log)
        } else {
            outcome.termination_log.clone()
        };
        let mut terminated = json!({"exitCode": outcome.exit_code,
            "reason": if outcome.exit_code == 0 { "Completed" } else { "Error" },
            "startedAt": started, "finishedAt": tick.timestamp, "containerID": format!("containerd://{}", crate::kube::store::uid(&name, &restarts.to_string()).replace('-', ""))});
        if !message.is_empty() {
            terminated["message"] = json!(message);
        }
        let on_failure = pod["spec"]["restartPolicy"] == "OnFailure";
        let c = &mut updated["status"]["containerStatuses"][0];
        c["ready"] = json!(false);
        c["started"] = json!(false);
        if outcome.exit_code == 0 || !on_failure {
            c["state"] = json!({"terminated": terminated});
            updated["status"]["phase"] = json!(if outcome.exit_code == 0 {
                "Succeeded"
            } else {
                "Failed"
            });
            updated["status"]["conditions"] = json!([
                {"type": "PodReadyToStartContainers", "status": "False"},
                {"type": "PodScheduled", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "ContainersReady", "status": "False", "reason": "PodCompleted"},
                {"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": tick.timestamp}]);
        } else {
            let delay = restart_delay(restarts);
            c["lastState"] = json!({"terminated": terminated});
            c["state"] = json!({"waiting": {"reason": "CrashLoopBackOff",
                "message": format!("back-off {}s restarting failed container=helm pod={name}_{ns}({})", delay.as_secs(), meta_str(&pod, "uid"))}});
            store
                .timers
                .insert(format!("helm-restart/{ns}/{name}"), tick.now + delay);
        }
        store.put("v1", "pods", updated, &tick.timestamp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restarts_back_off_like_the_kubelet() {
        assert_eq!(restart_delay(0), Duration::ZERO);
        assert_eq!(restart_delay(1), Duration::from_secs(10));
        assert_eq!(restart_delay(3), Duration::from_secs(40));
        assert_eq!(restart_delay(9), Duration::from_secs(300));
        let long: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let tail = log_tail(&long);
        assert!(
            tail.starts_with("line 20") && tail.ends_with("line 99"),
            "{tail}"
        );
    }
}
