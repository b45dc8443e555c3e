//! A stand-in for k3s' helm-controller: every `helm.cattle.io/v1` `HelmChart` (any namespace) is
//! installed by a `batch/v1` Job `helm-install-<name>` in the chart's namespace, which is `active`
//! for `helm_job` (latency model) and then `succeeded` or `failed`. The chart then carries
//! `status.jobName` and helm-controller's conditions (`JobCreated`, `Failed`), the finalizer
//! `wrangler.cattle.io/on-helm-chart-remove`, and a release exists in the target namespace
//! (`spec.targetNamespace`, else the chart's), recorded like Helm 3 does as a Secret
//! `sh.helm.release.v1.<name>.v<revision>` (type `helm.sh/release.v1`, label `status`). Changing
//! the spec (chart, repo, version, values, set) runs a new install job with the next revision;
//! the revision is also in the Job's `helm.cattle.io/revision` annotation. Deleting the chart sets
//! `deletionTimestamp`; a `helm-delete-<name>` Job runs, the release and its secrets go, the
//! finalizer is removed and the chart disappears.
//!
//! The target namespace is created when `spec.createNamespace` is true; otherwise a missing one
//! fails the install (`namespaces "x" not found`), as with Helm. The Job's `backoffLimit` comes
//! from `spec.backOffLimit` (helm-controller's default 1000); the sim fails a job at once.
//!
//! A chart fails deterministically when its `spec.chart` starts with `fail`, or its
//! `valuesContent` holds `hk8sSim: {fail: true}`, or `spec.set` has `hk8sSim.fail: "true"`: the
//! job fails with a Helm-like error in its `Failed` condition.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::store::Store;
use super::workloads::Tick;

/// helm-controller's finalizer on HelmCharts.
pub const FINALIZER: &str = "wrangler.cattle.io/on-helm-chart-remove";

const GV: &str = "helm.cattle.io/v1";
const RESOURCE: &str = "helmcharts";

/// One Helm release, as `/_sim/state` and the chart effects (Cilium, CCM) see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// Release name (the HelmChart's name).
    pub name: String,
    /// Where it is installed.
    pub target_namespace: String,
    /// `spec.chart`.
    pub chart: String,
    /// `spec.version` (empty = latest).
    pub version: String,
    /// `pending-install`, `deployed`, `failed` or `uninstalling`.
    pub status: String,
    /// Revision, counting up from 1 with every install job.
    pub revision: u32,
    /// Hash of the spec the last job was started for.
    pub config_hash: String,
}

impl Release {
    /// The chart's name without repository prefix (`cilium/cilium` → `cilium`).
    pub fn chart_name(&self) -> &str {
        self.chart.rsplit('/').next().unwrap_or(&self.chart)
    }

    /// `/_sim/state` shape.
    pub fn json(&self, namespace: &str) -> Value {
        json!({"name": self.name, "namespace": namespace, "target_namespace": self.target_namespace,
               "chart": self.chart, "version": self.version, "status": self.status, "revision": self.revision})
    }
}

/// Whether a chart named `chart` (without repository prefix) is deployed in this cluster.
pub fn deployed(store: &Store, chart: &str) -> bool {
    store
        .releases
        .values()
        .any(|r| r.chart_name() == chart && (r.status == "deployed" || r.status == "uninstalling"))
}

fn config_hash(spec: &Value) -> String {
    let digest = Sha256::digest(spec.to_string().as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// Why the chart must fail, if it was asked to.
fn requested_failure(spec: &Value) -> Option<String> {
    let chart = spec["chart"].as_str().unwrap_or_default();
    if chart
        .rsplit('/')
        .next()
        .unwrap_or(chart)
        .starts_with("fail")
    {
        return Some(format!(
            "chart \"{chart}\" failed to install (charts named fail* always fail in the sim)"
        ));
    }
    let values: Value = spec["valuesContent"]
        .as_str()
        .and_then(|v| serde_saphyr::from_str(v).ok())
        .unwrap_or(Value::Null);
    let flag = &values["hk8sSim"]["fail"];
    let set_flag =
        spec["set"]["hk8sSim.fail"].as_str() == Some("true") || spec["set"]["hk8sSim.fail"] == true;
    (flag == true || flag == "true" || set_flag).then(|| {
        format!("chart \"{chart}\" failed to install: hk8sSim.fail=true requested in its values")
    })
}

/// Creates the target namespace when `spec.createNamespace` asks for it; otherwise a missing
/// target namespace fails the install as Helm does.
fn prepare_namespace(
    store: &mut Store,
    chart: &Value,
    namespace: &str,
    timestamp: &str,
) -> Option<String> {
    if store.has_namespace(namespace) {
        return None;
    }
    if chart["spec"]["createNamespace"] == true {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace},
                        "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
        store.put("v1", "namespaces", ns, timestamp);
        return None;
    }
    Some(format!(
        "create: failed to create: namespaces \"{namespace}\" not found"
    ))
}

fn job(
    chart: &Value,
    job_name: &str,
    revision: u32,
    hash: &str,
    timestamp: &str,
    args: &str,
) -> Value {
    let (ns, name) = (
        chart["metadata"]["namespace"].as_str().unwrap_or_default(),
        chart["metadata"]["name"].as_str().unwrap_or_default(),
    );
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": job_name, "namespace": ns,
            "labels": {"helmcharts.helm.cattle.io/chart": name},
            "annotations": {"helmcharts.helm.cattle.io/configHash": format!("SHA256:{hash}"), "helm.cattle.io/revision": revision.to_string()},
            "ownerReferences": [{"apiVersion": GV, "kind": "HelmChart", "name": name, "uid": chart["metadata"]["uid"], "controller": true}]},
        "spec": {"backoffLimit": chart["spec"]["backOffLimit"].as_i64().unwrap_or(1000), "template": {"spec": {"restartPolicy": "OnFailure", "serviceAccountName": format!("helm-{name}"),
            "containers": [{"name": "helm", "image": "rancher/klipper-helm:v0.9.4-build20250113", "args": [args]}]}}},
        "status": {"active": 1, "startTime": timestamp},
    })
}

fn release_secret(store: &mut Store, release: &Release, status: &str, timestamp: &str) {
    let name = format!("sh.helm.release.v1.{}.v{}", release.name, release.revision);
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": name, "namespace": release.target_namespace,
            "labels": {"owner": "helm", "name": release.name, "status": status, "version": release.revision.to_string()}},
        "data": {"release": crate::talos::pki::base64_of(&format!("{{\"chart\":\"{}\",\"version\":\"{}\"}}", release.chart, release.version))}});
    store.put("v1", "secrets", secret, timestamp);
    // Earlier deployed revisions become superseded, as `helm history` shows them.
    for mut old in store.items("v1", "secrets") {
        if old["metadata"]["labels"]["name"] == release.name.as_str()
            && old["metadata"]["labels"]["owner"] == "helm"
            && old["metadata"]["name"] != name.as_str()
            && old["metadata"]["labels"]["status"] == "deployed"
        {
            old["metadata"]["labels"]["status"] = json!("superseded");
            store.put("v1", "secrets", old, timestamp);
        }
    }
}

fn set_chart_status(
    store: &mut Store,
    chart: &Value,
    job_name: &str,
    failed: Option<&str>,
    timestamp: &str,
) {
    let ns = chart["metadata"]["namespace"].as_str().unwrap_or_default();
    let mut chart = chart.clone();
    chart["status"] = json!({"jobName": job_name, "conditions": [
        {"type": "JobCreated", "status": "True", "reason": "Job created", "message": format!("Applying HelmChart using Job {ns}/{job_name}")},
        {"type": "Failed", "status": if failed.is_some() { "True" } else { "False" }, "reason": if failed.is_some() { "Error" } else { "" },
         "message": failed.map(|m| format!("See {ns}/{job_name} logs: {m}")).unwrap_or_default()},
    ]});
    store.put(GV, RESOURCE, chart, timestamp);
}

/// One pass of the helm-controller stand-in.
pub fn reconcile(store: &mut Store, tick: &Tick) {
    for chart in store.items(GV, RESOURCE) {
        let ns = chart["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let name = chart["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let key = (ns.clone(), name.clone());
        if chart["metadata"]["deletionTimestamp"].is_string() {
            uninstall(store, &chart, tick);
            continue;
        }
        let hash = config_hash(&chart["spec"]);
        let install_job = format!("helm-install-{name}");
        let timer = format!("helm-install/{ns}/{name}");
        let current = store.releases.get(&key).cloned();
        if current.as_ref().is_none_or(|r| r.config_hash != hash) {
            let revision = current.as_ref().map_or(1, |r| r.revision + 1);
            let release = Release {
                name: name.clone(),
                target_namespace: chart["spec"]["targetNamespace"]
                    .as_str()
                    .filter(|t| !t.is_empty())
                    .unwrap_or(&ns)
                    .to_string(),
                chart: chart["spec"]["chart"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                version: chart["spec"]["version"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                status: "pending-install".into(),
                revision,
                config_hash: hash.clone(),
            };
            let verb = if revision == 1 { "install" } else { "upgrade" };
            store.remove("batch/v1", "jobs", &ns, &install_job);
            let job = job(&chart, &install_job, revision, &hash, &tick.timestamp, verb);
            store.put("batch/v1", "jobs", job, &tick.timestamp);
            store
                .timers
                .insert(timer.clone(), tick.now + tick.job_delay);
            store.releases.insert(key.clone(), release);
            let mut chart = chart.clone();
            let finalizers = chart["metadata"]["finalizers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !finalizers.iter().any(|f| f == FINALIZER) {
                let mut finalizers = finalizers;
                finalizers.push(json!(FINALIZER));
                chart["metadata"]["finalizers"] = Value::Array(finalizers);
            }
            set_chart_status(store, &chart, &install_job, None, &tick.timestamp);
            continue;
        }
        let Some(mut release) = current else { continue };
        if release.status != "pending-install"
            || store.timers.get(&timer).is_some_and(|at| *at > tick.now)
        {
            continue;
        }
        store.timers.remove(&timer);
        let failure = requested_failure(&chart["spec"]).or_else(|| {
            prepare_namespace(store, &chart, &release.target_namespace, &tick.timestamp)
        });
        let Some(mut job) = store.get("batch/v1", "jobs", &ns, &install_job).cloned() else {
            continue;
        };
        job["status"] = match &failure {
            None => {
                json!({"succeeded": 1, "startTime": job["status"]["startTime"], "completionTime": tick.timestamp,
                "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": tick.timestamp}]})
            }
            Some(why) => json!({"failed": 1, "startTime": job["status"]["startTime"],
                "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
                    "message": format!("Error: INSTALLATION FAILED: {why}"), "lastTransitionTime": tick.timestamp}]}),
        };
        store.put("batch/v1", "jobs", job, &tick.timestamp);
        release.status = if failure.is_some() {
            "failed"
        } else {
            "deployed"
        }
        .into();
        release_secret(store, &release, &release.status.clone(), &tick.timestamp);
        store.releases.insert(key, release);
        if let Some(why) = failure {
            set_chart_status(store, &chart, &install_job, Some(&why), &tick.timestamp);
        }
    }
    // Releases whose chart vanished without the finalizer (e.g. it was removed by hand) go too.
    let charts: std::collections::BTreeSet<(String, String)> = store
        .items(GV, RESOURCE)
        .iter()
        .map(|c| {
            (
                c["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                c["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    store.releases.retain(|k, _| charts.contains(k));
}

fn uninstall(store: &mut Store, chart: &Value, tick: &Tick) {
    let ns = chart["metadata"]["namespace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let name = chart["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let key = (ns.clone(), name.clone());
    let delete_job = format!("helm-delete-{name}");
    let timer = format!("helm-delete/{ns}/{name}");
    let Some(mut release) = store.releases.get(&key).cloned() else {
        finish_uninstall(store, chart, &tick.timestamp);
        return;
    };
    if release.status != "uninstalling" {
        release.status = "uninstalling".into();
        let hash = release.config_hash.clone();
        store.remove("batch/v1", "jobs", &ns, &delete_job);
        store.put(
            "batch/v1",
            "jobs",
            job(
                chart,
                &delete_job,
                release.revision,
                &hash,
                &tick.timestamp,
                "delete",
            ),
            &tick.timestamp,
        );
        store.timers.insert(timer, tick.now + tick.job_delay);
        store.releases.insert(key, release);
        set_chart_status(store, chart, &delete_job, None, &tick.timestamp);
        return;
    }
    if store.timers.get(&timer).is_some_and(|at| *at > tick.now) {
        return;
    }
    store.timers.remove(&timer);
    if let Some(mut job) = store.get("batch/v1", "jobs", &ns, &delete_job).cloned() {
        job["status"] = json!({"succeeded": 1, "startTime": job["status"]["startTime"], "completionTime": tick.timestamp,
            "conditions": [{"type": "Complete", "status": "True", "lastTransitionTime": tick.timestamp}]});
        store.put("batch/v1", "jobs", job, &tick.timestamp);
    }
    for secret in store.items("v1", "secrets") {
        if secret["metadata"]["labels"]["owner"] == "helm"
            && secret["metadata"]["labels"]["name"] == name.as_str()
            && secret["metadata"]["namespace"] == release.target_namespace.as_str()
        {
            let secret_name = secret["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            store.remove("v1", "secrets", &release.target_namespace, &secret_name);
        }
    }
    store.releases.remove(&key);
    finish_uninstall(store, chart, &tick.timestamp);
}

/// Drops the finalizer; the store removes the chart once it has no finalizers left.
fn finish_uninstall(store: &mut Store, chart: &Value, timestamp: &str) {
    let Some(mut current) = store
        .get(
            GV,
            RESOURCE,
            chart["metadata"]["namespace"].as_str().unwrap_or_default(),
            chart["metadata"]["name"].as_str().unwrap_or_default(),
        )
        .cloned()
    else {
        return;
    };
    let finalizers: Vec<Value> = current["metadata"]["finalizers"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f != FINALIZER)
        .collect();
    current["metadata"]["finalizers"] = Value::Array(finalizers);
    store.put(GV, RESOURCE, current, timestamp);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_is_requested_by_name_values_or_set() {
        assert!(requested_failure(&json!({"chart": "failing-chart"})).is_some());
        assert!(requested_failure(&json!({"chart": "repo/fail"})).is_some());
        assert!(
            requested_failure(
                &json!({"chart": "cilium", "valuesContent": "hk8sSim:\n  fail: true\n"})
            )
            .is_some()
        );
        assert!(
            requested_failure(&json!({"chart": "cilium", "set": {"hk8sSim.fail": "true"}}))
                .is_some()
        );
        assert!(
            requested_failure(
                &json!({"chart": "cilium", "valuesContent": "ipam:\n  mode: kubernetes\n"})
            )
            .is_none()
        );
    }
}

#[cfg(test)]
mod lifecycle_tests {
    use std::time::Duration;

    use super::*;

    fn tick(secs: u64) -> Tick {
        Tick {
            now: Duration::from_secs(secs),
            schedule_delay: Duration::from_secs(2),
            job_delay: Duration::from_secs(8),
            timestamp: format!("t{secs}"),
        }
    }

    #[test]
    fn install_then_uninstall_through_jobs() {
        let mut store = Store::default();
        store.ensure_defaults("t0");
        let chart = json!({"apiVersion": GV, "kind": "HelmChart", "metadata": {"name": "cilium", "namespace": "kube-system"}, "spec": {"chart": "cilium"}});
        store.put(GV, RESOURCE, chart, "t0");
        reconcile(&mut store, &tick(0));
        assert_eq!(
            store
                .get("batch/v1", "jobs", "kube-system", "helm-install-cilium")
                .unwrap()["status"]["active"],
            1
        );
        assert!(!deployed(&store, "cilium"));
        reconcile(&mut store, &tick(10));
        assert!(deployed(&store, "cilium"));
        let mut deleting = store
            .get(GV, RESOURCE, "kube-system", "cilium")
            .unwrap()
            .clone();
        deleting["metadata"]["deletionTimestamp"] = json!("t10");
        store.put(GV, RESOURCE, deleting, "t10");
        reconcile(&mut store, &tick(11));
        assert_eq!(
            store.releases.values().next().unwrap().status,
            "uninstalling"
        );
        reconcile(&mut store, &tick(30));
        assert!(store.get(GV, RESOURCE, "kube-system", "cilium").is_none());
        assert!(store.releases.is_empty());
    }
}
