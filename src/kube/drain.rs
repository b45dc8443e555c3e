//! Draining a node as `kubectl drain` does: cordon it, then evict every pod on it through the
//! Eviction API (so PodDisruptionBudgets are honoured) until none is left, except DaemonSet pods
//! (they would come back at once) and mirror pods (the kubelet owns them).
//!
//! One polling round lists the node's pods (`fieldSelector=spec.nodeName=<node>`), evicts the
//! ones not evicted yet, concurrently, and reports what is still there; an eviction refused
//! with 429 (a PodDisruptionBudget that does not allow it yet) is tried again next round. The
//! node stays cordoned whatever the outcome: uncordoning is the caller's choice.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use http::Method;
use serde::Deserialize;

use super::client::{Body, KubeClient};
use super::error::{Error, Result};
use super::mapping::segment;
use super::wait::{Deadline, Poll, poll_until};

/// Annotation the kubelet puts on the API copy of a static pod.
const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// How to drain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrainOptions {
    /// Budget for the whole drain (cordon, evictions, pods gone), within the caller's deadline.
    pub timeout: Duration,
    /// Grace period given to each evicted pod; the pod's own when `None`.
    pub grace_period: Option<Duration>,
    /// Evict pods with `emptyDir` volumes (their data is lost); refused otherwise.
    pub delete_emptydir_data: bool,
    /// Leave DaemonSet pods on the node; refused otherwise (they cannot be moved).
    pub ignore_daemonsets: bool,
}

impl Default for DrainOptions {
    /// Five minutes, the pods' own grace periods, emptyDir pods refused, DaemonSet pods left.
    fn default() -> Self {
        DrainOptions {
            timeout: Duration::from_secs(300),
            grace_period: None,
            delete_emptydir_data: false,
            ignore_daemonsets: true,
        }
    }
}

/// What a successful drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DrainOutcome {
    /// Pods evicted, as `namespace/name`.
    pub evicted: Vec<String>,
    /// Pods left on the node, as `namespace/name (why)`.
    pub skipped: Vec<String>,
}

#[derive(Deserialize)]
struct PodList {
    #[serde(default)]
    items: Vec<PodWire>,
}

#[derive(Deserialize)]
struct PodWire {
    metadata: PodMetadata,
    #[serde(default)]
    spec: PodSpec,
    #[serde(default)]
    status: PodStatus,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodMetadata {
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    owner_references: Vec<OwnerReference>,
    deletion_timestamp: Option<String>,
}

#[derive(Deserialize)]
struct OwnerReference {
    kind: String,
    #[serde(default)]
    controller: bool,
}

#[derive(Deserialize, Default)]
struct PodSpec {
    #[serde(default)]
    volumes: Vec<Volume>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Volume {
    empty_dir: Option<serde_json::Value>,
}

#[derive(Deserialize, Default)]
struct PodStatus {
    #[serde(default)]
    phase: String,
}

/// What drain does with one pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    Evict,
    SkipMirror,
    SkipDaemonSet,
    RefuseDaemonSet,
    RefuseEmptyDir,
}

impl PodWire {
    fn key(&self) -> String {
        format!("{}/{}", self.metadata.namespace, self.metadata.name)
    }

    fn disposition(&self, options: &DrainOptions) -> Disposition {
        if self.metadata.annotations.contains_key(MIRROR_ANNOTATION) {
            return Disposition::SkipMirror;
        }
        let daemon_set = self
            .metadata
            .owner_references
            .iter()
            .any(|o| o.controller && o.kind == "DaemonSet");
        if daemon_set {
            return if options.ignore_daemonsets {
                Disposition::SkipDaemonSet
            } else {
                Disposition::RefuseDaemonSet
            };
        }
        if !options.delete_emptydir_data && self.spec.volumes.iter().any(|v| v.empty_dir.is_some())
        {
            return Disposition::RefuseEmptyDir;
        }
        Disposition::Evict
    }
}

/// Refuses the drain when pods need an option the caller did not give (before evicting any).
fn check_blocked(node: &str, pods: &[PodWire], options: &DrainOptions) -> Result<()> {
    let refused = |wanted: Disposition| -> Vec<String> {
        pods.iter()
            .filter(|p| p.disposition(options) == wanted)
            .map(PodWire::key)
            .collect()
    };
    let daemon_sets = refused(Disposition::RefuseDaemonSet);
    if !daemon_sets.is_empty() {
        return Err(Error::DrainBlocked {
            node: node.to_owned(),
            reason: "DaemonSet-managed pods cannot be evicted (they would be recreated); set ignore_daemonsets".into(),
            pods: daemon_sets,
        });
    }
    let empty_dirs = refused(Disposition::RefuseEmptyDir);
    if !empty_dirs.is_empty() {
        return Err(Error::DrainBlocked {
            node: node.to_owned(),
            reason: "pods with emptyDir volumes would lose that data; set delete_emptydir_data"
                .into(),
            pods: empty_dirs,
        });
    }
    Ok(())
}

/// The state of the drain between polling rounds.
#[derive(Default)]
struct Progress {
    /// UIDs of pods whose eviction the API accepted.
    evicted: HashSet<String>,
    /// `namespace/name` of pods evicted, in order.
    evicted_names: Vec<String>,
    /// Why the last eviction of a pod was refused, by `namespace/name`.
    refusals: BTreeMap<String, String>,
}

impl KubeClient {
    /// Drains `node`: cordons it, evicts its pods (honouring PodDisruptionBudgets: a 429 is
    /// retried until the budget allows it) and waits until they are gone. DaemonSet pods (with
    /// `ignore_daemonsets`) and mirror pods stay. The node stays cordoned. The drain ends at
    /// `options.timeout` or at `deadline`, whichever comes first, and stops when the deadline's
    /// token is cancelled.
    ///
    /// # Errors
    /// [`Error::DrainBlocked`] before any eviction when pods need `ignore_daemonsets` or
    /// `delete_emptydir_data`; [`Error::Timeout`] naming each pod still on the node and the
    /// last eviction refusal; [`Error::Cancelled`]; any non-transient API error.
    pub async fn drain(
        &self,
        node: &str,
        options: &DrainOptions,
        deadline: &Deadline,
    ) -> Result<DrainOutcome> {
        let deadline = deadline.limited_to(options.timeout);
        self.cordon(node).await?;
        let pods = self.pods_on(node).await?;
        check_blocked(node, &pods, options)?;
        let skipped: Vec<String> = pods
            .iter()
            .filter_map(|p| match p.disposition(options) {
                Disposition::SkipMirror => Some(format!("{} (mirror pod)", p.key())),
                Disposition::SkipDaemonSet => Some(format!("{} (DaemonSet)", p.key())),
                _ => None,
            })
            .collect();
        let progress = Mutex::new(Progress::default());
        let what = format!("the drain of node {node}");
        poll_until(&what, &deadline, || {
            self.drain_round(node, options, &progress)
        })
        .await?;
        let evicted = progress
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .evicted_names;
        tracing::info!(
            node,
            evicted = evicted.len(),
            skipped = skipped.len(),
            "node drained"
        );
        Ok(DrainOutcome { evicted, skipped })
    }

    /// One round: evict what is left, report what is still on the node.
    async fn drain_round(
        &self,
        node: &str,
        options: &DrainOptions,
        progress: &Mutex<Progress>,
    ) -> Result<Poll<()>> {
        let pods = self.pods_on(node).await?;
        check_blocked(node, &pods, options)?;
        let remaining: Vec<&PodWire> = pods
            .iter()
            .filter(|p| p.disposition(options) == Disposition::Evict)
            .collect();
        let lock = || {
            progress
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
        };
        let to_evict: Vec<&PodWire> = {
            let state = lock();
            remaining
                .iter()
                .copied()
                .filter(|p| {
                    !state.evicted.contains(&p.metadata.uid)
                        && p.metadata.deletion_timestamp.is_none()
                })
                .collect()
        };
        let results = futures::future::join_all(
            to_evict
                .iter()
                .map(|pod| self.evict(pod, options.grace_period)),
        )
        .await;
        for (pod, result) in to_evict.iter().zip(results) {
            let mut state = lock();
            match result {
                Ok(()) => {
                    tracing::info!(node, pod = %pod.key(), "pod evicted");
                    state.evicted.insert(pod.metadata.uid.clone());
                    state.evicted_names.push(pod.key());
                    state.refusals.remove(&pod.key());
                }
                Err(e) if e.is_transient() => {
                    // The message ends with the causes: the PodDisruptionBudget that refused.
                    let why = e
                        .status()
                        .map_or_else(|| e.to_string(), |s| s.message.clone());
                    state.refusals.insert(pod.key(), why);
                }
                Err(e) => return Err(e),
            }
        }
        if remaining.is_empty() {
            return Ok(Poll::Done(()));
        }
        let state = lock();
        let pending = remaining
            .iter()
            .map(|pod| {
                let key = pod.key();
                let evicted = state.evicted.contains(&pod.metadata.uid);
                match state.refusals.get(&key) {
                    Some(why) if !evicted => format!("{key}: eviction refused: {why}"),
                    _ if evicted => format!(
                        "{key}: evicted, still on the node (phase {})",
                        pod.status.phase
                    ),
                    _ => format!("{key}: already terminating (phase {})", pod.status.phase),
                }
            })
            .collect();
        Ok(Poll::Pending(pending))
    }

    /// The pods scheduled on `node`, in one LIST.
    async fn pods_on(&self, node: &str) -> Result<Vec<PodWire>> {
        let selector = format!("spec.nodeName={node}");
        let list: PodList = self
            .get_json("/api/v1/pods", &[("fieldSelector", &selector)])
            .await?;
        Ok(list.items)
    }

    /// `POST …/pods/<name>/eviction`; a pod already gone (404) counts as evicted.
    async fn evict(&self, pod: &PodWire, grace_period: Option<Duration>) -> Result<()> {
        let mut eviction = serde_json::json!({
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": pod.metadata.name, "namespace": pod.metadata.namespace},
        });
        if let Some(grace) = grace_period {
            eviction["deleteOptions"] = serde_json::json!({"gracePeriodSeconds": grace.as_secs()});
        }
        let path = format!(
            "/api/v1/namespaces/{}/pods/{}/eviction",
            segment(&pod.metadata.namespace),
            segment(&pod.metadata.name)
        );
        match self
            .send(Method::POST, &path, &[], Some(Body::json(&eviction)))
            .await?
            .success()
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(value: serde_json::Value) -> PodWire {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn daemonset_mirror_and_emptydir_pods_are_recognised() {
        let options = DrainOptions::default();
        let ds = pod(
            serde_json::json!({"metadata": {"name": "cilium-x", "namespace": "kube-system",
            "ownerReferences": [{"kind": "DaemonSet", "name": "cilium", "controller": true}]}}),
        );
        let mirror = pod(
            serde_json::json!({"metadata": {"name": "kube-apiserver-cp-1", "namespace": "kube-system",
            "annotations": {"kubernetes.io/config.mirror": "abc"}}}),
        );
        let scratch = pod(
            serde_json::json!({"metadata": {"name": "cache", "namespace": "default"},
            "spec": {"volumes": [{"name": "tmp", "emptyDir": {}}]}}),
        );
        let plain = pod(
            serde_json::json!({"metadata": {"name": "web-0", "namespace": "default",
            "ownerReferences": [{"kind": "ReplicaSet", "controller": true}]}, "spec": {"volumes": [{"name": "c", "configMap": {"name": "x"}}]}}),
        );
        assert_eq!(ds.disposition(&options), Disposition::SkipDaemonSet);
        assert_eq!(mirror.disposition(&options), Disposition::SkipMirror);
        assert_eq!(scratch.disposition(&options), Disposition::RefuseEmptyDir);
        assert_eq!(plain.disposition(&options), Disposition::Evict);
        let strict = DrainOptions {
            ignore_daemonsets: false,
            delete_emptydir_data: true,
            ..options
        };
        assert_eq!(ds.disposition(&strict), Disposition::RefuseDaemonSet);
        assert_eq!(scratch.disposition(&strict), Disposition::Evict);

        let err = check_blocked("w1", &[plain, scratch], &DrainOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot drain node w1: pods with emptyDir volumes would lose that data; set delete_emptydir_data: default/cache"
        );
    }
}
