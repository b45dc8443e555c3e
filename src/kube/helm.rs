//! Helm releases through helm-controller (k3s-io/helm-controller): a `helm.cattle.io/v1`
//! `HelmChart` is applied with server-side apply; the controller runs a Job
//! `helm-install-<name>` (klipper-helm) that installs or upgrades the release, and on deletion a
//! `helm-delete-<name>` Job behind a finalizer. This module builds the objects and waits for
//! their outcome; it knows nothing of Terraform.
//!
//! Telling the job of *this* apply from an older one: when an apply changes the chart's spec its
//! `metadata.generation` moves and helm-controller replaces the job, so the wait only trusts a
//! job whose uid differs from the one that existed before the apply. When the spec did not
//! change, the existing job is the one to judge (an unchanged failed chart stays failed).
//!
//! A job's `Failed` condition only says that retries ran out; helm's own error is in the pod's
//! log, which the wait reads (from its last `Error:` line on) so users see "chart not found" or a values
//! error rather than a timeout.

use std::collections::BTreeMap;
use std::time::Duration;

use http::Method;
use serde_json::{Value, json};

use super::client::KubeClient;
use super::error::{Error, Result};
use super::objects::ListOptions;
use super::wait::{Deadline, Poll, poll_until, retry_transient};

/// The HelmChart API version.
pub const API_VERSION: &str = "helm.cattle.io/v1";
/// The HelmChart kind.
pub const KIND: &str = "HelmChart";
/// Label the provider puts on what it manages, with the value `hk8s`.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// One Helm release as a HelmChart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartSpec {
    /// Release name = HelmChart name.
    pub name: String,
    /// Namespace of the HelmChart object and of the release.
    pub namespace: String,
    /// Repository URL.
    pub repo: String,
    /// Chart name in the repository.
    pub chart: String,
    /// Pinned chart version.
    pub version: String,
    /// Values as YAML (or JSON, which is YAML).
    pub values: String,
    /// How long helm may take (`--timeout`), if bounded.
    pub timeout: Option<Duration>,
    /// Extra labels on the HelmChart object.
    pub labels: BTreeMap<String, String>,
}

/// How many times helm-controller retries a failing job: helm's own errors (a missing chart, a
/// values error) do not heal by retrying, and the default of 1000 hides them for hours.
pub const BACKOFF_LIMIT: i64 = 2;

impl ChartSpec {
    /// The HelmChart object.
    pub fn object(&self) -> Value {
        let mut labels: serde_json::Map<String, Value> = self
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        labels.insert(MANAGED_BY.into(), json!("hk8s"));
        let mut spec = json!({
            "repo": self.repo,
            "chart": self.chart,
            "version": self.version,
            "targetNamespace": self.namespace,
            "createNamespace": true,
            "valuesContent": self.values,
            "backOffLimit": BACKOFF_LIMIT,
        });
        if let Some(timeout) = self.timeout {
            spec["timeout"] = json!(format!("{}s", timeout.as_secs()));
        }
        json!({
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": self.name, "namespace": self.namespace, "labels": labels},
            "spec": spec,
        })
    }
}

/// A Helm release as its newest record (`sh.helm.release.v1.<name>.v<N>` Secret) says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// Revision, from 1.
    pub revision: i64,
    /// `deployed`, `failed`, `pending-install`, `superseded`, …
    pub status: String,
    /// helm-controller's hash of the HelmChart this revision was made for (label
    /// `helmcharts.helm.cattle.io/configHash`, written by klipper-helm v0.13+).
    pub config_hash: Option<String>,
}

/// The label klipper-helm puts on a release record with the job's `CONFIG_HASH`.
pub const CONFIG_HASH_LABEL: &str = "helmcharts.helm.cattle.io/configHash";

impl Release {
    /// Whether this deployed revision is the one `job` (complete) was run for: helm-controller
    /// gives its jobs the chart's hash (`CONFIG_HASH`) and re-runs a job whose release does not
    /// carry it. A job without the variable (an older controller) is trusted.
    pub fn carries(&self, job: &Value) -> bool {
        let wanted = job["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["name"] == "CONFIG_HASH")
            .and_then(|e| e["value"].as_str());
        self.status == "deployed"
            && wanted.is_none_or(|hash| self.config_hash.as_deref() == Some(hash))
    }
}

/// What a HelmChart looks like now.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartState {
    /// The object as stored.
    pub object: Value,
    /// The release it produced, if any.
    pub release: Option<Release>,
    /// Whether the current job failed, and helm's message.
    pub failure: Option<String>,
}

fn job_name(chart: &str) -> String {
    format!("helm-install-{chart}")
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind && c["status"] == "True")
}

/// The job's outcome: `Some(Ok)` complete, `Some(Err(message))` failed, `None` running.
fn job_outcome(job: &Value) -> Option<std::result::Result<(), String>> {
    if condition(job, "Complete").is_some() {
        return Some(Ok(()));
    }
    condition(job, "Failed")
        .map(|c| Err(c["message"].as_str().unwrap_or("the job failed").to_owned()))
}

/// Helm's merge of values: mappings merge key by key (`overlay` wins), anything else (lists,
/// scalars) in `overlay` replaces what `base` holds; a `null` in `overlay` removes the key, as
/// `helm --set key=null` does.
pub fn merge_values(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                if value.is_null() {
                    base.remove(key);
                } else if let Some(existing) = base.get_mut(key) {
                    merge_values(existing, value);
                } else {
                    base.insert(key.clone(), value.clone());
                }
            }
        }
        (base, overlay) => *base = overlay.clone(),
    }
}

/// Values as the YAML text a HelmChart's `valuesContent` carries (empty for no values).
pub fn values_yaml(values: &Value) -> String {
    if values.as_object().is_none_or(serde_json::Map::is_empty) {
        return String::new();
    }
    serde_saphyr::to_string(values).unwrap_or_else(|_| values.to_string())
}

/// Helm's failure in a job's log: from its last `Error:` line to the end (a schema error lists
/// the offending values on the lines after it), lines trimmed and joined with "; ".
pub fn helm_error(log: &str) -> Option<String> {
    let lines: Vec<&str> = log.lines().map(str::trim).collect();
    let start = lines
        .iter()
        .rposition(|l| l.starts_with("Error:") || l.contains(" Error: "))?;
    let first = lines[start];
    let mut parts = vec![&first[first.find("Error:").unwrap_or(0)..]];
    parts.extend(lines[start + 1..].iter().filter(|l| !l.is_empty()));
    Some(parts.join("; "))
}

impl KubeClient {
    /// The plain-text log of a pod's (only) container, its last `tail` lines; with `previous`,
    /// the run before the container's last restart.
    ///
    /// # Errors
    /// Transport and API errors (404 when the pod is gone).
    pub async fn pod_log(
        &self,
        namespace: &str,
        pod: &str,
        previous: bool,
        tail: u32,
    ) -> Result<String> {
        let path = format!("/api/v1/namespaces/{namespace}/pods/{pod}/log");
        let tail = tail.to_string();
        let mut query = vec![("tailLines", tail.as_str())];
        if previous {
            query.push(("previous", "true"));
        }
        let reply = self.send(Method::GET, &path, &query, None).await?;
        let reply = reply.success()?;
        Ok(String::from_utf8_lossy(&reply.body).into_owned())
    }

    /// The newest record of release `name` in `namespace`.
    ///
    /// # Errors
    /// Transport and API errors.
    pub async fn release(&self, namespace: &str, name: &str) -> Result<Option<Release>> {
        let secrets = self
            .list(
                "v1",
                "Secret",
                Some(namespace),
                &ListOptions::default()
                    .labels(format!("owner=helm,name={name}"))
                    .fields("type=helm.sh/release.v1"),
            )
            .await?;
        Ok(secrets
            .iter()
            .filter_map(|s| {
                let labels = &s["metadata"]["labels"];
                Some(Release {
                    revision: labels["version"].as_str()?.parse().ok()?,
                    status: labels["status"].as_str().unwrap_or_default().to_owned(),
                    config_hash: labels[CONFIG_HASH_LABEL].as_str().map(str::to_owned),
                })
            })
            .max_by_key(|r| r.revision))
    }

    /// While a helm job retries, the error its failed run left in the log (its pods go once
    /// the job fails, and their logs with them).
    async fn remember_helm_error(
        &self,
        namespace: &str,
        job: &str,
        said: &std::sync::Mutex<Option<String>>,
    ) {
        // A run that failed shows as `status.failed` (restartPolicy Never) or as a restarted
        // container (OnFailure, helm-controller's choice): either way its log holds the error.
        if let Some(error) = self.helm_said(namespace, job).await {
            *said
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(error);
        }
    }

    /// Why a helm job failed: helm's words from its pods' logs now or from an earlier run,
    /// else the job's own condition.
    async fn final_error(
        &self,
        namespace: &str,
        job: &str,
        condition: String,
        said: std::sync::Mutex<Option<String>>,
    ) -> String {
        let earlier = said
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.helm_said(namespace, job)
            .await
            .or(earlier)
            .unwrap_or(condition)
    }

    /// The pods of a job (Kubernetes labels them `job-name=<job>`).
    async fn job_pods(&self, namespace: &str, job: &str) -> Result<Vec<Value>> {
        self.list(
            "v1",
            "Pod",
            Some(namespace),
            &ListOptions::default().labels(format!("job-name={job}")),
        )
        .await
    }

    /// Helm's error in the logs of a job's pods (current run, then the one before a restart).
    async fn helm_said(&self, namespace: &str, job: &str) -> Option<String> {
        let pods = self.job_pods(namespace, job).await.unwrap_or_default();
        for pod in pods.iter().rev() {
            let Some(name) = pod["metadata"]["name"].as_str() else {
                continue;
            };
            for previous in [false, true] {
                if let Ok(log) = self.pod_log(namespace, name, previous, 40).await
                    && let Some(error) = helm_error(&log)
                {
                    return Some(error);
                }
            }
        }
        None
    }

    /// What keeps the install job's pod from running, if anything (e.g. the scheduler's
    /// "0/3 nodes are available: …"), for timeout messages.
    async fn job_pod_state(&self, namespace: &str, job: &str) -> Option<String> {
        let pods = self.job_pods(namespace, job).await.ok()?;
        let pod = pods.last()?;
        let phase = pod["status"]["phase"].as_str().unwrap_or("Pending");
        let unscheduled = pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "PodScheduled" && c["status"] == "False")
            .and_then(|c| c["message"].as_str());
        let waiting = pod["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
            .as_str()
            .or_else(|| {
                pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"].as_str()
            });
        Some(match (unscheduled, waiting) {
            (Some(why), _) => format!("its pod cannot be scheduled: {why}"),
            (None, Some(why)) => format!("its pod is {phase}: {why}"),
            (None, None) => format!("its pod is {phase}"),
        })
    }

    /// Applies `spec` as a HelmChart (server-side apply as `field_manager`, forced) and waits
    /// until helm-controller has installed or upgraded the release for it; returns the release.
    /// Waits for the HelmChart kind to be served first (helm-controller creates its
    /// CustomResourceDefinition when it starts).
    ///
    /// # Errors
    /// [`Error::ChartFailed`] with helm's message when the job failed; [`Error::Timeout`] naming
    /// what the job waits for; API errors.
    pub async fn install_chart(
        &self,
        spec: &ChartSpec,
        field_manager: &str,
        deadline: &Deadline,
    ) -> Result<Release> {
        let ns = spec.namespace.as_str();
        self.wait_kind_served(API_VERSION, KIND, deadline).await?;
        // Each step is repeated on its own through transient failures (an API server
        // restarting): repeating the reads after the apply would take the applied chart for
        // the one before it.
        let before = retry_transient(
            &format!("read HelmChart {ns}/{}", spec.name),
            deadline,
            || self.get(API_VERSION, KIND, Some(ns), &spec.name),
        )
        .await?;
        let job = job_name(&spec.name);
        let old_job = retry_transient(&format!("read Job {ns}/{job}"), deadline, || {
            self.get("batch/v1", "Job", Some(ns), &job)
        })
        .await?
        .and_then(|j| j["metadata"]["uid"].as_str().map(str::to_owned));
        let applied = self.apply_chart(spec, field_manager, deadline).await?;
        let changed = before.as_ref().is_none_or(|b| {
            b["metadata"]["generation"] != applied["metadata"]["generation"]
                || b["metadata"]["uid"] != applied["metadata"]["uid"]
        });
        let stale_job = if changed { old_job } else { None };
        self.wait_chart(spec, stale_job.as_deref(), deadline).await
    }

    /// Applies `spec` as a HelmChart without waiting for its install: once helm-controller
    /// serves the kind, the release's namespace is made (the HelmChart lives there; helm's
    /// `createNamespace` only helps the release, not the object asking for it), then the
    /// HelmChart. Returns it as stored.
    ///
    /// # Errors
    /// [`Error::Timeout`] when the kind is never served, API errors.
    pub async fn apply_chart(
        &self,
        spec: &ChartSpec,
        field_manager: &str,
        deadline: &Deadline,
    ) -> Result<Value> {
        self.wait_kind_served(API_VERSION, KIND, deadline).await?;
        let namespace =
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": spec.namespace}});
        retry_transient(
            &format!("apply Namespace {}", spec.namespace),
            deadline,
            || self.apply(&namespace, field_manager, true),
        )
        .await?;
        let chart = spec.object();
        retry_transient(
            &format!("apply HelmChart {}/{}", spec.namespace, spec.name),
            deadline,
            || self.apply(&chart, field_manager, true),
        )
        .await
    }

    /// Waits for the outcome of the current install job of `spec` (one not called `stale_job`).
    async fn wait_chart(
        &self,
        spec: &ChartSpec,
        stale_job: Option<&str>,
        deadline: &Deadline,
    ) -> Result<Release> {
        let ns = spec.namespace.as_str();
        let job = job_name(&spec.name);
        let what = format!("helm release {ns}/{} to be installed", spec.name);
        let said = std::sync::Mutex::new(None);
        let outcome = poll_until(&what, deadline, || async {
            let current = self
                .get("batch/v1", "Job", Some(ns), &job)
                .await?
                .filter(|j| {
                    stale_job.is_none_or(|stale| j["metadata"]["uid"].as_str() != Some(stale))
                });
            let Some(current) = current else {
                return Ok(Poll::Pending(vec![format!(
                    "helm-controller has not started job {ns}/{job} yet (is helm-controller running?)"
                )]));
            };
            match job_outcome(&current) {
                Some(Err(condition)) => Ok(Poll::Done(Err(condition))),
                Some(Ok(())) => {
                    let release = self.release(ns, &spec.name).await?;
                    Ok(match release {
                        Some(release) if release.carries(&current) => Poll::Done(Ok(release)),
                        Some(release) => Poll::Pending(vec![format!(
                            "job {ns}/{job} finished but revision {} ({}) is not of this configuration yet; helm-controller runs it again",
                            release.revision, release.status
                        )]),
                        None => Poll::Pending(vec![format!(
                            "job {ns}/{job} finished but no release record exists yet"
                        )]),
                    })
                }
                None => {
                    self.remember_helm_error(ns, &job, &said).await;
                    let state = self.job_pod_state(ns, &job).await.unwrap_or_default();
                    Ok(Poll::Pending(vec![format!(
                        "job {ns}/{job} runs{}{state}",
                        if state.is_empty() { "" } else { "; " }
                    )]))
                }
            }
        })
        .await?;
        match outcome {
            Ok(release) => Ok(release),
            Err(condition) => Err(Error::ChartFailed {
                release: format!("{ns}/{}", spec.name),
                message: self.final_error(ns, &job, condition, said).await,
            }),
        }
    }

    /// Waits until a helm Job of our own (`job` in `namespace`, installing `release`) is
    /// Complete.
    ///
    /// # Errors
    /// [`Error::ChartFailed`] with helm's message, [`Error::Timeout`] saying what the job's pod
    /// waits for, API errors.
    pub async fn wait_helm_job(
        &self,
        namespace: &str,
        job: &str,
        release: &str,
        deadline: &Deadline,
    ) -> Result<()> {
        let what = format!("job {namespace}/{job} to install helm release {release}");
        let said = std::sync::Mutex::new(None);
        let outcome = poll_until(&what, deadline, || async {
            let Some(current) = self.get("batch/v1", "Job", Some(namespace), job).await? else {
                return Ok(Poll::Pending(vec![format!(
                    "job {namespace}/{job} does not exist"
                )]));
            };
            Ok(match job_outcome(&current) {
                Some(result) => Poll::Done(result),
                None => {
                    self.remember_helm_error(namespace, job, &said).await;
                    let state = self.job_pod_state(namespace, job).await.unwrap_or_default();
                    Poll::Pending(vec![format!("job {namespace}/{job} runs; {state}")])
                }
            })
        })
        .await?;
        match outcome {
            Ok(()) => Ok(()),
            Err(condition) => Err(Error::ChartFailed {
                release: format!("{namespace}/{release}"),
                message: self.final_error(namespace, job, condition, said).await,
            }),
        }
    }

    /// The HelmChart `name` in `namespace` and what it produced; `None` when it does not exist.
    ///
    /// # Errors
    /// Transport and API errors.
    pub async fn chart_state(&self, namespace: &str, name: &str) -> Result<Option<ChartState>> {
        let object = match self.get(API_VERSION, KIND, Some(namespace), name).await {
            Ok(Some(object)) => object,
            Ok(None) | Err(Error::UnknownKind { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let release = self.release(namespace, name).await?;
        let failure = condition(&object, "Failed")
            .and_then(|c| c["message"].as_str())
            .filter(|m| !m.is_empty())
            .map(str::to_owned);
        Ok(Some(ChartState {
            object,
            release,
            failure,
        }))
    }

    /// Waits until the release's Deployments, DaemonSets and StatefulSets in `namespace` (those
    /// helm annotated `meta.helm.sh/release-name: <release>`: charts label their objects as
    /// they like, helm's annotation is on every one) have every replica ready.
    ///
    /// # Errors
    /// [`Error::Timeout`] naming each workload still short of ready replicas.
    pub async fn wait_release_ready(
        &self,
        namespace: &str,
        release: &str,
        deadline: &Deadline,
    ) -> Result<()> {
        let what = format!("the workloads of helm release {namespace}/{release} to be ready");
        let all = ListOptions::default();
        poll_until(&what, deadline, || async {
            let mut pending = Vec::new();
            for kind in ["Deployment", "StatefulSet", "DaemonSet"] {
                let objects = self.list("apps/v1", kind, Some(namespace), &all).await?;
                for object in objects.iter().filter(|o| {
                    o["metadata"]["annotations"]["meta.helm.sh/release-name"] == release
                }) {
                    if let Some(short) = workload_short(kind, object) {
                        pending.push(short);
                    }
                }
            }
            Ok(if pending.is_empty() {
                Poll::Done(())
            } else {
                Poll::Pending(pending)
            })
        })
        .await
    }

    /// Waits until every Deployment of the release has a pod template `settled` accepts (it
    /// returns what is still missing, or `None`) and no pod of an older template is left: every
    /// process of the release runs that template. No Deployment at all counts as done (the
    /// release is not installed, or renders none).
    ///
    /// # Errors
    /// [`Error::Timeout`] naming the Deployments still short of it.
    pub async fn wait_release_template<F>(
        &self,
        namespace: &str,
        release: &str,
        what: &str,
        deadline: &Deadline,
        settled: F,
    ) -> Result<()>
    where
        F: Fn(&Value) -> Option<String>,
    {
        let what = format!("the Deployments of helm release {namespace}/{release} to run {what}");
        let all = ListOptions::default();
        poll_until(&what, deadline, || async {
            let mut pending = Vec::new();
            let objects = self
                .list("apps/v1", "Deployment", Some(namespace), &all)
                .await?;
            for object in objects
                .iter()
                .filter(|o| o["metadata"]["annotations"]["meta.helm.sh/release-name"] == release)
            {
                let name = object["metadata"]["name"].as_str().unwrap_or("?");
                let status = &object["status"];
                let int = |v: &Value| v.as_i64().unwrap_or(0);
                let replicas = int(&status["replicas"]);
                let updated = int(&status["updatedReplicas"]);
                let observed = int(&status["observedGeneration"]);
                let generation = int(&object["metadata"]["generation"]);
                if let Some(missing) = settled(&object["spec"]["template"]) {
                    pending.push(format!("{name}: {missing}"));
                } else if observed < generation || replicas > updated {
                    pending.push(format!(
                        "{name}: {updated} of {replicas} pods run the new template"
                    ));
                }
            }
            Ok(if pending.is_empty() {
                Poll::Done(())
            } else {
                Poll::Pending(pending)
            })
        })
        .await
    }

    /// Deletes the HelmChart and waits until it is gone (helm-controller runs `helm uninstall`
    /// in a `helm-delete-<name>` job and then drops its finalizer). Absent counts as done.
    ///
    /// # Errors
    /// [`Error::Timeout`] (with what the delete job waits for), API errors.
    pub async fn uninstall_chart(
        &self,
        namespace: &str,
        name: &str,
        deadline: &Deadline,
    ) -> Result<()> {
        let deleted = retry_transient(
            &format!("delete HelmChart {namespace}/{name}"),
            deadline,
            || self.delete(API_VERSION, KIND, Some(namespace), name, None),
        )
        .await;
        match deleted {
            Ok(_) | Err(Error::UnknownKind { .. }) => {}
            Err(e) => return Err(e),
        }
        self.wait_object(
            API_VERSION,
            KIND,
            Some(namespace),
            name,
            "uninstalled",
            deadline,
            |object| {
                object.map(|_| {
                    format!("helm-controller's job {namespace}/helm-delete-{name} has not finished")
                })
            },
        )
        .await
        .map(drop)
    }

    /// Waits until discovery serves `kind` in `api_version` (a CustomResourceDefinition that
    /// a controller installs when it starts).
    ///
    /// # Errors
    /// [`Error::Timeout`], API errors.
    pub async fn wait_kind_served(
        &self,
        api_version: &str,
        kind: &str,
        deadline: &Deadline,
    ) -> Result<()> {
        let what = format!("kind {kind} ({api_version}) to be served");
        poll_until(&what, deadline, || async {
            match self.mapping(api_version, kind).await {
                Ok(_) => Ok(Poll::Done(())),
                Err(Error::UnknownKind { .. }) => Ok(Poll::Pending(vec![format!(
                    "{api_version} {kind} is not served yet (its controller installs the definition when it starts)"
                )])),
                Err(e) => Err(e),
            }
        })
        .await
    }
}

/// What a workload still lacks, `None` when every replica is ready and up to date.
fn workload_short(kind: &str, object: &Value) -> Option<String> {
    let name = object["metadata"]["name"].as_str().unwrap_or("?");
    let status = &object["status"];
    let int = |v: &Value| v.as_i64().unwrap_or(0);
    let observed = int(&status["observedGeneration"]);
    let generation = int(&object["metadata"]["generation"]);
    let (want, ready) = match kind {
        "DaemonSet" => (
            int(&status["desiredNumberScheduled"]),
            int(&status["numberReady"]),
        ),
        _ => (
            object["spec"]["replicas"].as_i64().unwrap_or(1),
            int(&status["readyReplicas"]),
        ),
    };
    if generation > 0 && observed < generation {
        return Some(format!("{kind} {name}: update not observed yet"));
    }
    (ready < want).then(|| format!("{kind} {name}: {ready}/{want} ready"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_merge_as_helm_does() {
        let mut base = json!({"a": {"b": 1, "c": [1, 2]}, "d": "x", "e": 1});
        merge_values(
            &mut base,
            &json!({"a": {"c": [3], "f": true}, "d": {"g": 1}, "e": null}),
        );
        assert_eq!(
            base,
            json!({"a": {"b": 1, "c": [3], "f": true}, "d": {"g": 1}})
        );
        assert_eq!(values_yaml(&json!({})), "");
        let yaml = values_yaml(&json!({"replicas": 2}));
        let back: Value = serde_saphyr::from_str(&yaml).unwrap();
        assert_eq!(back, json!({"replicas": 2}));
    }

    #[test]
    fn helm_error_takes_the_last_error_line() {
        let log = "+ helm_v3 install …\nfetching chart\nError: INSTALLATION FAILED: chart \"nope\" not found in https://x repository\n";
        assert_eq!(
            helm_error(log).unwrap(),
            "Error: INSTALLATION FAILED: chart \"nope\" not found in https://x repository"
        );
        assert!(helm_error("all good\n").is_none());
        let schema = "Error: INSTALLATION FAILED: values don't meet the specifications of the schema(s) in the following chart(s):\nhello:\n- replicas: Invalid type. Expected: integer, given: string\n";
        assert_eq!(
            helm_error(schema).unwrap(),
            "Error: INSTALLATION FAILED: values don't meet the specifications of the schema(s) in the following chart(s):; hello:; - replicas: Invalid type. Expected: integer, given: string"
        );
    }

    #[test]
    fn chart_object_pins_version_and_backoff() {
        let spec = ChartSpec {
            name: "web".into(),
            namespace: "apps".into(),
            repo: "https://example.test/charts".into(),
            chart: "hello".into(),
            version: "1.0.0".into(),
            values: "replicas: 2\n".into(),
            timeout: Some(Duration::from_secs(600)),
            labels: BTreeMap::new(),
        };
        let object = spec.object();
        assert_eq!(object["spec"]["version"], "1.0.0");
        assert_eq!(object["spec"]["backOffLimit"], BACKOFF_LIMIT);
        assert_eq!(object["spec"]["timeout"], "600s");
        assert_eq!(object["spec"]["targetNamespace"], "apps");
        assert_eq!(object["metadata"]["labels"][MANAGED_BY], "hk8s");
    }

    #[test]
    fn workloads_short_of_replicas_are_named() {
        let deployment = json!({"metadata": {"name": "web", "generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "readyReplicas": 1}});
        assert_eq!(
            workload_short("Deployment", &deployment).unwrap(),
            "Deployment web: 1/2 ready"
        );
        let ds = json!({"metadata": {"name": "agent", "generation": 1},
            "status": {"observedGeneration": 1, "desiredNumberScheduled": 3, "numberReady": 3}});
        assert!(workload_short("DaemonSet", &ds).is_none());
    }
}
