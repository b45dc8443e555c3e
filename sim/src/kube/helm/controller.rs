//! The helm-controller stand-in. It acts only while helm-controller runs: a Deployment with a
//! container whose image is `*helm-controller*` has a Running pod (scheduled and started like
//! any pod: tolerations, node selector, host network or a CNI). Its configuration comes from
//! that pod's container: `DEFAULT_JOB_IMAGE`, `JOB_TOLERATIONS` (JSON; invalid JSON stops the
//! controller, as the real one exits), `JOB_CLUSTER_ROLE`, `--namespace`/`NAMESPACE`, and its
//! version from the image tag.
//!
//! When a controller pod starts it creates the CRDs `helmcharts.helm.cattle.io` and
//! `helmchartconfigs.helm.cattle.io` (helm-controller's own generated documents); until then
//! the API serves no `helm.cattle.io` resource (see [`crate::kube::crds`]).
//!
//! For every HelmChart it manages (a chart or chart content set, not annotated
//! `helmcharts.helm.cattle.io/unmanaged`, claimed with `helmcharts.cattle.io/managed-by`) it
//! adds the finalizer `wrangler.cattle.io/on-helm-chart-remove` and applies the objects of
//! [`super::jobspec`]: status `jobName` and the `JobCreated`/`Failed` conditions. A Job that is
//! still running is never replaced (a changed chart waits for it to finish); a complete Job is
//! replaced when the chart changed, and, from v0.17.4, also when the newest release is not
//! `deployed` with the Job's config hash label — which klipper-helm before v0.13 never writes,
//! so that such a pairing re-runs the install job for ever, as the real pairing does. A failed
//! Job sets `Failed` ("Job has reached configured number of retries without succeeding").
//! Deleting a chart runs `helm-delete-<name>`; once it is complete the controller removes the
//! chart's jobs, Secret, ConfigMap, ServiceAccount and binding, and its finalizer.

use serde_json::{Value, json};

use super::entry::{env_of, image_version};
use super::jobspec::{self, Config, Desired};
use crate::kube::jobs;
use crate::kube::store::Store;
use crate::kube::workloads::{Tick, put_if_changed};

/// helm-controller's finalizer on HelmCharts.
pub const FINALIZER: &str = "wrangler.cattle.io/on-helm-chart-remove";
const GV: &str = "helm.cattle.io/v1";
const CHARTS: &str = "helmcharts";
const MANAGED_BY: &str = "helmcharts.cattle.io/managed-by";
const UNMANAGED: &str = "helmcharts.helm.cattle.io/unmanaged";
const CONTROLLER_NAME: &str = "helm-controller";

const HELMCHARTS_CRD: &str = include_str!("crds/helmcharts.yaml");
const HELMCHARTCONFIGS_CRD: &str = include_str!("crds/helmchartconfigs.yaml");

fn meta<'a>(obj: &'a Value, key: &str) -> &'a str {
    obj["metadata"][key].as_str().unwrap_or_default()
}

/// The running controller's configuration and its pod's uid, if a controller runs.
pub fn running(store: &Store) -> Option<(Config, String)> {
    for deployment in store.items("apps/v1", "deployments") {
        let is_controller = |c: &Value| {
            c["image"]
                .as_str()
                .is_some_and(|i| i.contains("helm-controller"))
        };
        let containers = deployment["spec"]["template"]["spec"]["containers"].as_array();
        if !containers.into_iter().flatten().any(is_controller) {
            continue;
        }
        let ns = meta(&deployment, "namespace");
        let Some(pod) = store.items("v1", "pods").into_iter().find(|p| {
            meta(p, "namespace") == ns
                && p["status"]["phase"] == "Running"
                && !p["metadata"]["deletionTimestamp"].is_string()
                && crate::kube::select::selector_object_matches(
                    &deployment["spec"]["selector"],
                    &crate::kube::select::labels_of(p),
                )
        }) else {
            continue;
        };
        let Some(container) = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| is_controller(c))
            .cloned()
        else {
            continue;
        };
        let env = env_of(&container);
        let args: Vec<String> = ["command", "args"]
            .iter()
            .flat_map(|k| container[*k].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect();
        let flag = |name: &str| {
            args.iter().enumerate().find_map(|(i, a)| {
                a.strip_prefix(&format!("--{name}="))
                    .map(str::to_string)
                    .or_else(|| {
                        (a == &format!("--{name}"))
                            .then(|| args.get(i + 1).cloned())
                            .flatten()
                    })
            })
        };
        let setting = |name: &str, var: &str| {
            flag(name)
                .or_else(|| env.get(var).cloned())
                .filter(|v| !v.is_empty())
        };
        let job_tolerations = match setting("job-tolerations", "JOB_TOLERATIONS") {
            None => Vec::new(),
            Some(text) => serde_json::from_str::<Vec<Value>>(&text).ok()?,
        };
        let config = Config {
            version: image_version(container["image"].as_str().unwrap_or_default()),
            default_job_image: setting("default-job-image", "DEFAULT_JOB_IMAGE")
                .unwrap_or_else(|| "rancher/klipper-helm:latest".into()),
            job_tolerations,
            job_cluster_role: setting("job-cluster-role", "JOB_CLUSTER_ROLE")
                .unwrap_or_else(|| "cluster-admin".into()),
            namespace: setting("namespace", "NAMESPACE"),
        };
        return Some((config, meta(&pod, "uid").to_string()));
    }
    None
}

fn crd_document(text: &str) -> Option<Value> {
    serde_saphyr::from_multiple::<Value>(text)
        .ok()?
        .into_iter()
        .find(|d| d.is_object())
}

/// Creates (or restores) helm-controller's CRDs, as it does when it starts.
fn create_crds(store: &mut Store, timestamp: &str) {
    for text in [HELMCHARTS_CRD, HELMCHARTCONFIGS_CRD] {
        let Some(mut crd) = crd_document(text) else {
            continue;
        };
        let names = crd["spec"]["names"].clone();
        crd["status"] = json!({"acceptedNames": names, "storedVersions": ["v1"], "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": timestamp},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": timestamp}]});
        let name = meta(&crd, "name").to_string();
        let existing = store.get(
            "apiextensions.k8s.io/v1",
            "customresourcedefinitions",
            "",
            &name,
        );
        if existing.is_none_or(|e| e["spec"] != crd["spec"]) {
            store.put(
                "apiextensions.k8s.io/v1",
                "customresourcedefinitions",
                crd,
                timestamp,
            );
        }
    }
}

/// `(revision, config hash label, status)` of the newest release Secret of `name` in `namespace`
/// (what the controller reads to decide whether a complete Job did its work).
fn latest_release(store: &Store, namespace: &str, name: &str) -> (u32, String, String) {
    store
        .items("v1", "secrets")
        .into_iter()
        .filter(|s| {
            s["type"] == "helm.sh/release.v1"
                && meta(s, "namespace") == namespace
                && s["metadata"]["labels"]["owner"] == "helm"
                && s["metadata"]["labels"]["name"] == name
        })
        .filter_map(|s| {
            let labels = &s["metadata"]["labels"];
            let revision = labels["version"].as_str()?.parse::<u32>().ok()?;
            Some((
                revision,
                labels["helmcharts.helm.cattle.io/configHash"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                labels["status"].as_str().unwrap_or_default().to_string(),
            ))
        })
        .max_by_key(|(r, _, _)| *r)
        .unwrap_or_default()
}

fn set_status(store: &mut Store, chart: &Value, job_name: &str, failed: bool, timestamp: &str) {
    let ns = meta(chart, "namespace");
    let mut updated = chart.clone();
    let failed_condition = if failed {
        json!({"type": "Failed", "status": "True", "reason": "Job failed",
               "message": "Job has reached configured number of retries without succeeding"})
    } else {
        json!({"type": "Failed", "status": "False"})
    };
    updated["status"] = json!({"jobName": job_name, "conditions": [
        {"type": "JobCreated", "status": "True", "reason": "Job created",
         "message": format!("Applying HelmChart using Job {ns}/{job_name}")},
        failed_condition]});
    put_if_changed(store, GV, CHARTS, updated, timestamp);
}

/// Replaces (or creates) the chart's Job and its related objects.
fn apply(store: &mut Store, desired: &Desired, timestamp: &str) {
    for object in [&desired.values, &desired.content].into_iter().flatten() {
        let resource = if object["kind"] == "Secret" {
            "secrets"
        } else {
            "configmaps"
        };
        put_if_changed(store, "v1", resource, object.clone(), timestamp);
    }
    put_if_changed(
        store,
        "v1",
        "serviceaccounts",
        desired.account.clone(),
        timestamp,
    );
    put_if_changed(
        store,
        "rbac.authorization.k8s.io/v1",
        "clusterrolebindings",
        desired.binding.clone(),
        timestamp,
    );
    let (ns, name) = (
        meta(&desired.job, "namespace").to_string(),
        meta(&desired.job, "name").to_string(),
    );
    // Replacing a Job deletes it (its pods are collected with it) and creates it anew.
    store.remove("batch/v1", "jobs", &ns, &name);
    store.put("batch/v1", "jobs", desired.job.clone(), timestamp);
}

fn on_change(store: &mut Store, chart: &Value, config: &Config, tick: &Tick) {
    let (ns, name) = (
        meta(chart, "namespace").to_string(),
        meta(chart, "name").to_string(),
    );
    if !matches!(
        chart["spec"]["helmVersion"].as_str().unwrap_or_default(),
        "" | "v3"
    ) {
        let mut updated = chart.clone();
        updated["status"] = json!({"conditions": [{"type": "JobCreated", "status": "False"},
            {"type": "Failed", "status": "True", "reason": "Unsupported version", "message": "Only Helm v3 charts are supported"}]});
        put_if_changed(store, GV, CHARTS, updated, &tick.timestamp);
        return;
    }
    let mut chart = chart.clone();
    let finalizers = chart["metadata"]["finalizers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if !finalizers.iter().any(|f| f == FINALIZER) {
        let mut finalizers = finalizers;
        finalizers.push(json!(FINALIZER));
        chart["metadata"]["finalizers"] = Value::Array(finalizers);
        chart = store.put(GV, CHARTS, chart, &tick.timestamp);
    }
    let target = chart["spec"]["targetNamespace"]
        .as_str()
        .filter(|t| !t.is_empty())
        .unwrap_or(&ns)
        .to_string();
    let (revision, hash, status) = latest_release(store, &target, &name);
    let chart_config = store.get(GV, "helmchartconfigs", &ns, &name).cloned();
    let desired = jobspec::desired(&chart, chart_config.as_ref(), config, false, revision);
    let job_name = meta(&desired.job, "name").to_string();
    let existing = store.get("batch/v1", "jobs", &ns, &job_name).cloned();
    // The stored Job went through the API server's defaulting; what it is compared with must too.
    let mut wanted = desired.job.clone();
    crate::kube::defaults::fill(store, "batch/v1", "jobs", &mut wanted, None);
    let replace = match &existing {
        None => true,
        Some(job) => {
            let changed = jobspec::comparable_template(job)
                != jobspec::comparable_template(&wanted)
                || job["spec"]["backoffLimit"] != desired.job["spec"]["backoffLimit"];
            match jobs::finished(job) {
                Some(true) if config.checks_release_hash() => {
                    !(status == "deployed" && hash == desired.hash)
                }
                Some(_) => changed,
                // A running Job is left alone, changed or not, until it finishes.
                None => false,
            }
        }
    };
    if replace {
        apply(store, &desired, &tick.timestamp);
        set_status(store, &chart, &job_name, false, &tick.timestamp);
    } else {
        let failed = existing.as_ref().and_then(jobs::finished) == Some(false);
        set_status(store, &chart, &job_name, failed, &tick.timestamp);
    }
}

fn on_remove(store: &mut Store, chart: &Value, config: &Config, tick: &Tick) {
    if !chart["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|f| f == FINALIZER))
    {
        return;
    }
    let (ns, name) = (
        meta(chart, "namespace").to_string(),
        meta(chart, "name").to_string(),
    );
    let target = chart["spec"]["targetNamespace"]
        .as_str()
        .filter(|t| !t.is_empty())
        .unwrap_or(&ns)
        .to_string();
    let (revision, _, _) = latest_release(store, &target, &name);
    let desired = jobspec::desired(chart, None, config, true, revision);
    let job_name = meta(&desired.job, "name").to_string();
    match store
        .get("batch/v1", "jobs", &ns, &job_name)
        .map(jobs::finished)
    {
        Some(Some(true)) => {
            for job in [format!("helm-install-{name}"), job_name] {
                store.remove("batch/v1", "jobs", &ns, &job);
            }
            store.remove("v1", "secrets", &ns, &format!("chart-values-{name}"));
            store.remove("v1", "configmaps", &ns, &format!("chart-content-{name}"));
            store.remove("v1", "serviceaccounts", &ns, &format!("helm-{name}"));
            store.remove(
                "rbac.authorization.k8s.io/v1",
                "clusterrolebindings",
                "",
                &format!("helm-{ns}-{name}"),
            );
            let mut updated = chart.clone();
            let remaining: Vec<Value> = chart["metadata"]["finalizers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|f| *f != FINALIZER)
                .cloned()
                .collect();
            updated["metadata"]["finalizers"] = Value::Array(remaining);
            store.put(GV, CHARTS, updated, &tick.timestamp);
        }
        // Still running, or failed: the chart waits (a failed uninstall keeps it, as for real).
        Some(_) => {}
        None => {
            apply(store, &desired, &tick.timestamp);
            let mut updated = chart.clone();
            updated["status"]["jobName"] = json!(job_name);
            put_if_changed(store, GV, CHARTS, updated, &tick.timestamp);
        }
    }
}

/// One pass of the controller.
pub fn reconcile(store: &mut Store, tick: &Tick) {
    let Some((config, pod)) = running(store) else {
        return;
    };
    if store.helm_controller_pod.as_deref() != Some(pod.as_str()) {
        create_crds(store, &tick.timestamp);
        store.helm_controller_pod = Some(pod);
    }
    if !crate::kube::crds::served(store, GV, CHARTS) {
        return;
    }
    for chart in store.items(GV, CHARTS) {
        if config
            .namespace
            .as_deref()
            .is_some_and(|n| n != meta(&chart, "namespace"))
        {
            continue;
        }
        let spec = &chart["spec"];
        if spec["chart"].as_str().unwrap_or_default().is_empty()
            && spec["chartContent"].as_str().unwrap_or_default().is_empty()
        {
            continue;
        }
        let annotations = &chart["metadata"]["annotations"];
        if annotations.get(UNMANAGED).is_some() {
            continue;
        }
        match annotations[MANAGED_BY].as_str() {
            None => {
                let mut claimed = chart.clone();
                crate::kube::store::set_path(
                    &mut claimed,
                    &["metadata", "annotations", MANAGED_BY],
                    json!(CONTROLLER_NAME),
                );
                store.put(GV, CHARTS, claimed, &tick.timestamp);
                continue;
            }
            Some(owner) if owner != CONTROLLER_NAME => continue,
            Some(_) => {}
        }
        if chart["metadata"]["deletionTimestamp"].is_string() {
            on_remove(store, &chart, &config, tick);
        } else {
            on_change(store, &chart, &config, tick);
        }
    }
}
