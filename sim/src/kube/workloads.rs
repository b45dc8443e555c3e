//! The workload controllers of a cluster, run on every reconcile pass: Deployments get a
//! ReplicaSet per pod template (`<name>-<hash>`, older ones removed), ReplicaSets and
//! StatefulSets get `spec.replicas` pods (`<rs>-<suffix>`, `<sts>-<ordinal>`), DaemonSets one pod
//! per eligible node. New pods wait `pod_schedule` (latency model) and are then bound to a node by
//! [`super::scheduler`], Running and Ready; a pod whose node is gone is removed, and one whose
//! node is not Ready is not Ready. Objects whose controller owner is gone are garbage collected,
//! and a controller recreates the pods it lost (evicted, deleted): that is what lets a drain
//! progress. Workload statuses (replicas, readyReplicas, …) follow the pods.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

use super::nodes::is_ready;
use super::scheduler::{controller_uid, pick, refusal};
use super::store::{Store, set_path, uid};

/// Clock facts a pass needs.
#[derive(Debug, Clone)]
pub struct Tick {
    /// Sim time now.
    pub now: Duration,
    /// How long a new pod waits before it is scheduled (`pod_schedule`).
    pub schedule_delay: Duration,
    /// How long a helm install or delete job runs (`helm_job`).
    pub job_delay: Duration,
    /// Wall time for timestamps.
    pub timestamp: String,
}

/// Most pods a controller creates in one pass (Kubernetes' `burstReplicas`).
const BURST: usize = 500;

/// Kinds whose objects own others, as `(kind, group/version, resource)`.
const OWNER_KINDS: &[(&str, &str, &str)] = &[
    ("Deployment", "apps/v1", "deployments"),
    ("ReplicaSet", "apps/v1", "replicasets"),
    ("StatefulSet", "apps/v1", "statefulsets"),
    ("DaemonSet", "apps/v1", "daemonsets"),
    ("Job", "batch/v1", "jobs"),
];

pub(super) fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or_default()
}

pub(super) fn owner_ref(owner: &Value, kind: &str) -> Value {
    json!([{"apiVersion": owner["apiVersion"], "kind": kind, "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}])
}

/// Stores `obj` only when it differs from what is stored (so idle passes bump nothing).
pub(super) fn put_if_changed(
    store: &mut Store,
    gv: &str,
    resource: &str,
    obj: Value,
    timestamp: &str,
) {
    let current = store.get(
        gv,
        resource,
        meta_str(&obj, "namespace"),
        meta_str(&obj, "name"),
    );
    if current != Some(&obj) {
        store.put(gv, resource, obj, timestamp);
    }
}

/// One pass over every workload of a cluster whose Node objects are `nodes`.
pub fn reconcile(store: &mut Store, nodes: &[Value], tick: &Tick) {
    collect_garbage(store, nodes);
    deployments(store, tick);
    replica_sets(store, tick);
    stateful_sets(store, tick);
    daemon_sets(store, nodes, tick);
    super::jobs::reconcile(store, tick);
    schedule(store, nodes, tick);
    statuses(store, nodes, tick);
}

/// The Running pods of `namespace` whose labels match `label_selector` (Kubernetes selector
/// syntax, e.g. `app.kubernetes.io/instance=cilium`): what the stand-ins of in-cluster
/// components (CCM, CSI, metrics-server) check before they act. A selector that does not parse
/// matches nothing.
pub fn running_pods(store: &Store, namespace: &str, label_selector: &str) -> Vec<Value> {
    let Ok(selector) = crate::labels::Selector::parse(label_selector) else {
        return Vec::new();
    };
    store
        .iter("v1", "pods")
        .filter(|p| meta_str(p, "namespace") == namespace)
        .filter(|p| p["status"]["phase"] == "Running")
        .filter(|p| !p["metadata"]["deletionTimestamp"].is_string())
        .filter(|p| selector.matches(&super::select::labels_of(p)))
        .cloned()
        .collect()
}

/// Removes objects whose controller owner is gone, and pods whose node is gone.
fn collect_garbage(store: &mut Store, nodes: &[Value]) {
    let owners: BTreeSet<String> = OWNER_KINDS
        .iter()
        .flat_map(|(_, gv, r)| store.iter(gv, r))
        .map(|o| meta_str(o, "uid").to_string())
        .collect();
    let node_names: BTreeSet<&str> = nodes.iter().map(|n| meta_str(n, "name")).collect();
    for (gv, resource) in [
        ("apps/v1", "replicasets"),
        ("v1", "pods"),
        ("batch/v1", "jobs"),
    ] {
        for obj in store.items(gv, resource) {
            let known_owner_kind = obj["metadata"]["ownerReferences"]
                .as_array()
                .and_then(|o| o.iter().find(|o| o["controller"] == true))
                .is_some_and(|o| OWNER_KINDS.iter().any(|(k, _, _)| o["kind"] == *k));
            let orphan =
                known_owner_kind && controller_uid(&obj).is_some_and(|u| !owners.contains(u));
            let node = obj["spec"]["nodeName"].as_str();
            let lost = resource == "pods" && node.is_some_and(|n| !node_names.contains(n));
            if orphan || lost {
                store.remove(
                    gv,
                    resource,
                    meta_str(&obj, "namespace"),
                    meta_str(&obj, "name"),
                );
            }
        }
    }
}

/// A short, stable hash of a pod template (Kubernetes' `pod-template-hash`).
fn template_hash(template: &Value) -> String {
    let digest = uid(&template.to_string(), "template").replace('-', "");
    digest.chars().take(10).collect()
}

fn deployments(store: &mut Store, tick: &Tick) {
    for deploy in store.items("apps/v1", "deployments") {
        if deploy["metadata"]["deletionTimestamp"].is_string() {
            continue;
        }
        let ns = meta_str(&deploy, "namespace").to_string();
        let deploy_uid = meta_str(&deploy, "uid").to_string();
        let hash = template_hash(&deploy["spec"]["template"]);
        let rs_name = format!("{}-{hash}", meta_str(&deploy, "name"));
        for rs in store.items("apps/v1", "replicasets") {
            if controller_uid(&rs) == Some(deploy_uid.as_str()) && meta_str(&rs, "name") != rs_name
            {
                store.remove("apps/v1", "replicasets", &ns, meta_str(&rs, "name"));
            }
        }
        let mut template = deploy["spec"]["template"].clone();
        set_path(
            &mut template,
            &["metadata", "labels", "pod-template-hash"],
            json!(hash),
        );
        let mut selector = deploy["spec"]["selector"].clone();
        set_path(
            &mut selector,
            &["matchLabels", "pod-template-hash"],
            json!(hash),
        );
        let existing = store.get("apps/v1", "replicasets", &ns, &rs_name).cloned();
        let mut rs = existing.clone().unwrap_or_else(|| {
            json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                   "metadata": {"name": rs_name, "namespace": ns, "ownerReferences": owner_ref(&deploy, "Deployment")}})
        });
        rs["metadata"]["labels"] = template["metadata"]["labels"].clone();
        rs["spec"] = json!({"replicas": deploy["spec"]["replicas"].as_i64().unwrap_or(1), "selector": selector, "template": template});
        put_if_changed(store, "apps/v1", "replicasets", rs, &tick.timestamp);
    }
}

/// Live (not being deleted) pods owned by `owner_uid`.
pub(super) fn owned_pods(store: &Store, owner_uid: &str) -> Vec<Value> {
    store
        .iter("v1", "pods")
        .filter(|p| controller_uid(p) == Some(owner_uid))
        .filter(|p| !p["metadata"]["deletionTimestamp"].is_string())
        .cloned()
        .collect()
}

/// Creates a Pending pod from a template, due for scheduling after the delay, unless Pod Security
/// admission refuses it (then the owner gets a `FailedCreate` event, as its controller reports
/// it); `extra_labels` are the labels the controller adds (e.g. a Job's `job-name`).
pub(super) fn new_pod(
    store: &mut Store,
    owner: &Value,
    kind: &str,
    name: &str,
    node: Option<&str>,
    extra_labels: &[(&str, &str)],
    tick: &Tick,
) -> bool {
    let template = &owner["spec"]["template"];
    let ns = meta_str(owner, "namespace");
    let mut spec = template["spec"].clone();
    if let Some(why) = super::admission::refusal(store, ns, name, &spec) {
        let controller = match kind {
            "DaemonSet" => "daemonset-controller",
            "Job" => "job-controller",
            "StatefulSet" => "statefulset-controller",
            _ => "replicaset-controller",
        };
        let message = format!("Error creating: {why}");
        let owner = owner.clone();
        super::events::record(
            store,
            &owner,
            true,
            "FailedCreate",
            &message,
            super::events::Source::Controller(controller),
            &tick.timestamp,
        );
        return false;
    }
    let annotations = template["metadata"]["annotations"].clone();
    if let Some(node) = node {
        set_path(&mut spec, &["nodeName"], json!(node));
    }
    let mut labels = template["metadata"]["labels"].clone();
    for (k, v) in extra_labels {
        set_path(&mut labels, &[k], json!(v));
    }
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels,
                     "ownerReferences": owner_ref(owner, kind)},
        "spec": spec,
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": if node.is_some() { "True" } else { "False" }}]},
    });
    if annotations.is_object() {
        pod["metadata"]["annotations"] = annotations;
    }
    let ns = ns.to_string();
    store.put("v1", "pods", pod, &tick.timestamp);
    store
        .timers
        .insert(format!("pod/{ns}/{name}"), tick.now + tick.schedule_delay);
    true
}

/// Deletes surplus pods: unscheduled ones first, then the newest.
fn trim(store: &mut Store, mut pods: Vec<Value>, keep: usize) {
    pods.sort_by_key(|p| {
        (
            p["spec"]["nodeName"].is_string(),
            meta_str(p, "resourceVersion").parse::<u64>().unwrap_or(0),
        )
    });
    let surplus = pods.len().saturating_sub(keep);
    for pod in pods.into_iter().take(surplus) {
        store.remove(
            "v1",
            "pods",
            meta_str(&pod, "namespace"),
            meta_str(&pod, "name"),
        );
    }
}

fn replica_sets(store: &mut Store, tick: &Tick) {
    for rs in store.items("apps/v1", "replicasets") {
        let want = usize::try_from(rs["spec"]["replicas"].as_i64().unwrap_or(1)).unwrap_or(0);
        let pods = owned_pods(store, meta_str(&rs, "uid"));
        if pods.len() > want {
            trim(store, pods, want);
            continue;
        }
        // At most BURST new pods per pass, like the ReplicaSet controller's burstReplicas.
        for _ in pods.len()..want.min(pods.len() + BURST) {
            let name = format!(
                "{}-{}",
                meta_str(&rs, "name"),
                store.suffix(meta_str(&rs, "uid"))
            );
            if !new_pod(store, &rs, "ReplicaSet", &name, None, &[], tick) {
                break;
            }
        }
    }
}

fn stateful_sets(store: &mut Store, tick: &Tick) {
    for sts in store.items("apps/v1", "statefulsets") {
        let want = sts["spec"]["replicas"].as_i64().unwrap_or(1).max(0);
        let base = meta_str(&sts, "name").to_string();
        let pods = owned_pods(store, meta_str(&sts, "uid"));
        let ordinal = |p: &Value| {
            meta_str(p, "name")
                .strip_prefix(&format!("{base}-"))
                .and_then(|o| o.parse::<i64>().ok())
        };
        for pod in &pods {
            if ordinal(pod).is_none_or(|o| o >= want) {
                store.remove(
                    "v1",
                    "pods",
                    meta_str(pod, "namespace"),
                    meta_str(pod, "name"),
                );
            }
        }
        let present: BTreeSet<i64> = pods.iter().filter_map(ordinal).collect();
        for i in (0..want).filter(|i| !present.contains(i)).take(BURST) {
            if !new_pod(
                store,
                &sts,
                "StatefulSet",
                &format!("{base}-{i}"),
                None,
                &[],
                tick,
            ) {
                break;
            }
        }
    }
}

fn daemon_sets(store: &mut Store, nodes: &[Value], tick: &Tick) {
    for ds in store.items("apps/v1", "daemonsets") {
        let pods = owned_pods(store, meta_str(&ds, "uid"));
        let eligible: Vec<&str> = nodes
            .iter()
            .filter(|n| refusal(n, &ds["spec"]["template"]["spec"], true).is_none())
            .map(|n| meta_str(n, "name"))
            .collect();
        let mut covered = BTreeSet::new();
        for pod in &pods {
            let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
            if !eligible.contains(&node) || !covered.insert(node.to_string()) {
                store.remove(
                    "v1",
                    "pods",
                    meta_str(pod, "namespace"),
                    meta_str(pod, "name"),
                );
            }
        }
        for node in eligible.into_iter().filter(|n| !covered.contains(*n)) {
            let name = format!("{}-{}", meta_str(&ds, "name"), store.suffix(node));
            if !new_pod(store, &ds, "DaemonSet", &name, Some(node), &[], tick) {
                break;
            }
        }
    }
}

fn ready_condition(ready: bool, timestamp: &str) -> Value {
    json!([{"type": "PodReadyToStartContainers", "status": "True"},
           {"type": "PodScheduled", "status": "True"},
           {"type": "Initialized", "status": "True"},
           {"type": "ContainersReady", "status": if ready { "True" } else { "False" }},
           {"type": "Ready", "status": if ready { "True" } else { "False" }, "lastTransitionTime": timestamp}])
}

/// `status.containerStatuses` of a pod's containers, all in one `state`.
fn container_statuses(pod: &Value, ready: bool, state: &Value) -> Value {
    Value::Array(
        pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": ready,
                       "restartCount": 0, "started": state.get("running").is_some(), "state": state})
            })
            .collect(),
    )
}

/// Whether every container of a Running pod runs (the job runner stops and restarts
/// containers; other pods' containers run once started).
fn containers_running(pod: &Value) -> bool {
    pod["status"]["containerStatuses"]
        .as_array()
        .is_none_or(|cs| cs.iter().all(|c| c["state"]["running"].is_object()))
}

/// A Running pod is Ready while its containers run and its node's kubelet reports it: on a Ready
/// node, or (for a `hostNetwork` pod) on any node whose kubelet runs, CNI or not.
fn pod_ready(node: Option<&Value>, pod: &Value) -> bool {
    let node_ok = node.is_some_and(|n| {
        is_ready(n) || (pod["spec"]["hostNetwork"] == true && super::scheduler::kubelet_up(n))
    });
    node_ok && containers_running(pod)
}

/// Why the kubelet cannot mount a volume of the pod: a Secret or ConfigMap it names (not
/// `optional`) is missing. The kubelet's `FailedMount` message.
fn mount_refusal(store: &Store, pod: &Value) -> Option<String> {
    let ns = meta_str(pod, "namespace");
    let missing = |kind: &str, source: &Value| -> Option<String> {
        let (resource, key) = if kind == "secret" {
            (
                "secrets",
                if source["secretName"].is_string() {
                    "secretName"
                } else {
                    "name"
                },
            )
        } else {
            ("configmaps", "name")
        };
        let name = source[key].as_str()?;
        (source["optional"] != true && store.get("v1", resource, ns, name).is_none()).then(|| {
            format!(
                "{} {name:?} not found",
                if kind == "secret" {
                    "secret"
                } else {
                    "configmap"
                }
            )
        })
    };
    for volume in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let mut sources: Vec<(&str, &Value)> = Vec::new();
        for kind in ["secret", "configMap"] {
            if volume[kind].is_object() {
                sources.push((kind, &volume[kind]));
            }
        }
        for projected in volume["projected"]["sources"]
            .as_array()
            .into_iter()
            .flatten()
        {
            for kind in ["secret", "configMap"] {
                if projected[kind].is_object() {
                    sources.push((kind, &projected[kind]));
                }
            }
        }
        for (kind, source) in sources {
            if let Some(why) = missing(kind, source) {
                return Some(format!(
                    "MountVolume.SetUp failed for volume {:?} : {why}",
                    volume["name"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    None
}

/// Why the kubelet cannot create a container of the pod (`CreateContainerConfigError`): an env
/// var reads a key of a Secret or ConfigMap (not `optional`) that does not exist.
fn config_refusal(store: &Store, pod: &Value) -> Option<String> {
    let ns = meta_str(pod, "namespace");
    for container in pod["spec"]["containers"].as_array().into_iter().flatten() {
        for env in container["env"].as_array().into_iter().flatten() {
            for (kind, resource, label) in [
                ("secretKeyRef", "secrets", "Secret"),
                ("configMapKeyRef", "configmaps", "ConfigMap"),
            ] {
                let source = &env["valueFrom"][kind];
                if !source.is_object() || source["optional"] == true {
                    continue;
                }
                let (name, key) = (
                    source["name"].as_str().unwrap_or_default(),
                    source["key"].as_str().unwrap_or_default(),
                );
                match store.get("v1", resource, ns, name) {
                    None => {
                        return Some(format!("{} {name:?} not found", label.to_lowercase()));
                    }
                    Some(object) if object["data"].get(key).is_none() => {
                        return Some(format!("couldn't find key {key} in {label} {ns}/{name}"));
                    }
                    Some(_) => {}
                }
            }
        }
    }
    None
}

/// Binds due pods to nodes; starts bound pods whose kubelet can start them (see
/// [`super::scheduler::kubelet_refusal`] and [`mount_refusal`]; others stay Pending in
/// `ContainerCreating`, with the kubelet's event); keeps Running pods' readiness in step with
/// their node.
fn schedule(store: &mut Store, nodes: &[Value], tick: &Tick) {
    let by_name: BTreeMap<&str, &Value> = nodes.iter().map(|n| (meta_str(n, "name"), n)).collect();
    for pod in store.items("v1", "pods") {
        let (ns, name) = (
            meta_str(&pod, "namespace").to_string(),
            meta_str(&pod, "name").to_string(),
        );
        let timer = format!("pod/{ns}/{name}");
        let due = store.timers.get(&timer).is_none_or(|at| *at <= tick.now);
        let mut updated = pod.clone();
        match (
            pod["status"]["phase"].as_str(),
            pod["spec"]["nodeName"].as_str(),
        ) {
            (Some("Pending") | None, _) if !due => continue,
            (Some("Pending") | None, node) => {
                let node = match node {
                    Some(n) => n.to_string(),
                    None => match super::storage::feasible(store, &pod, nodes)
                        .and_then(|fit| pick(&fit, &store.items("v1", "pods"), &pod))
                    {
                        Ok(n)
                            if super::storage::hold_for_binding(
                                store,
                                &pod,
                                &n,
                                &tick.timestamp,
                            ) =>
                        {
                            set_path(&mut updated, &["status", "phase"], json!("Pending"));
                            put_if_changed(store, "v1", "pods", updated, &tick.timestamp);
                            continue;
                        }
                        Ok(n) => n,
                        Err(why) => {
                            updated["status"] = json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": why}]});
                            put_if_changed(store, "v1", "pods", updated, &tick.timestamp);
                            continue;
                        }
                    },
                };
                let Some(node_obj) = by_name.get(node.as_str()).copied() else {
                    continue;
                };
                set_path(&mut updated, &["spec", "nodeName"], json!(node));
                let network = super::scheduler::kubelet_refusal(node_obj, &pod["spec"]);
                // Secrets/ConfigMaps the pod mounts, then its CSI volumes attached to this node.
                let mount = if network.is_none() {
                    mount_refusal(store, &pod)
                        .or_else(|| super::storage::mount_refusal(store, &pod, &node))
                } else {
                    None
                };
                let container_config = if network.is_none() && mount.is_none() {
                    config_refusal(store, &pod)
                } else {
                    None
                };
                if network.is_some() || mount.is_some() || container_config.is_some() {
                    let waiting = match &container_config {
                        Some(why) => {
                            json!({"waiting": {"reason": "CreateContainerConfigError", "message": why}})
                        }
                        None => json!({"waiting": {"reason": "ContainerCreating"}}),
                    };
                    updated["status"] = json!({"phase": "Pending", "startTime": tick.timestamp,
                        "conditions": [{"type": "PodReadyToStartContainers", "status": "False"},
                                       {"type": "PodScheduled", "status": "True"},
                                       {"type": "Initialized", "status": "True"},
                                       {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady"},
                                       {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
                        "containerStatuses": container_statuses(&pod, false, &waiting)});
                    if pod["status"] != updated["status"] || pod["spec"] != updated["spec"] {
                        let stored = store.put("v1", "pods", updated, &tick.timestamp);
                        let event = match (network, mount) {
                            (Some(why), _) if why == super::scheduler::NETWORK_NOT_READY => {
                                Some(("NetworkNotReady", why.to_string()))
                            }
                            (_, Some(why)) => Some(("FailedMount", why)),
                            _ => container_config.map(|why| ("Failed", format!("Error: {why}"))),
                        };
                        if let Some((reason, message)) = event {
                            super::events::record(
                                store,
                                &stored,
                                true,
                                reason,
                                &message,
                                super::events::Source::Kubelet,
                                &tick.timestamp,
                            );
                        }
                    }
                    continue;
                }
                let running = json!({"running": {"startedAt": tick.timestamp}});
                updated["status"] = json!({"phase": "Running", "startTime": tick.timestamp});
                let ready = pod_ready(Some(node_obj), &updated);
                updated["status"]["conditions"] = ready_condition(ready, &tick.timestamp);
                updated["status"]["containerStatuses"] = container_statuses(&pod, ready, &running);
                store.timers.remove(&timer);
            }
            (Some("Running"), Some(node)) => {
                let ready = pod_ready(by_name.get(node).copied(), &pod);
                let was_ready = super::eviction::is_healthy(&pod);
                if ready == was_ready {
                    continue;
                }
                set_path(
                    &mut updated,
                    &["status", "conditions"],
                    ready_condition(ready, &tick.timestamp),
                );
                for c in updated["status"]["containerStatuses"]
                    .as_array_mut()
                    .into_iter()
                    .flatten()
                {
                    c["ready"] = json!(ready && c["state"]["running"].is_object());
                }
            }
            _ => continue,
        }
        put_if_changed(store, "v1", "pods", updated, &tick.timestamp);
    }
}

/// Workload statuses from their pods (a DaemonSet's desired count from its eligible nodes).
fn statuses(store: &mut Store, nodes: &[Value], tick: &Tick) {
    let count = |store: &Store, uid: &str| {
        let pods = || {
            store
                .iter("v1", "pods")
                .filter(|p| controller_uid(p) == Some(uid))
                .filter(|p| !p["metadata"]["deletionTimestamp"].is_string())
        };
        let ready = pods().filter(|p| super::eviction::is_healthy(p)).count() as i64;
        (pods().count() as i64, ready)
    };
    for (gv, resource) in [
        ("apps/v1", "replicasets"),
        ("apps/v1", "statefulsets"),
        ("apps/v1", "daemonsets"),
    ] {
        for mut obj in store.items(gv, resource) {
            let (total, ready) = count(store, meta_str(&obj, "uid"));
            let generation = obj["metadata"]["generation"].clone();
            obj["status"] = if resource == "daemonsets" {
                let desired = nodes
                    .iter()
                    .filter(|n| refusal(n, &obj["spec"]["template"]["spec"], true).is_none())
                    .count();
                json!({"desiredNumberScheduled": desired, "currentNumberScheduled": total, "numberReady": ready,
                       "numberAvailable": ready, "numberUnavailable": (desired as i64 - ready).max(0),
                       "updatedNumberScheduled": total, "numberMisscheduled": 0, "observedGeneration": generation})
            } else {
                json!({"replicas": total, "readyReplicas": ready, "availableReplicas": ready,
                       "currentReplicas": total, "updatedReplicas": total, "observedGeneration": generation})
            };
            put_if_changed(store, gv, resource, obj, &tick.timestamp);
        }
    }
    for mut deploy in store.items("apps/v1", "deployments") {
        let deploy_uid = meta_str(&deploy, "uid").to_string();
        let (mut total, mut ready) = (0, 0);
        for rs in store.iter("apps/v1", "replicasets") {
            if controller_uid(rs) == Some(deploy_uid.as_str()) {
                let (t, r) = count(store, meta_str(rs, "uid"));
                total += t;
                ready += r;
            }
        }
        let want = deploy["spec"]["replicas"].as_i64().unwrap_or(1);
        let available = ready >= want;
        deploy["status"] = json!({"observedGeneration": deploy["metadata"]["generation"], "replicas": total,
            "updatedReplicas": total, "readyReplicas": ready, "availableReplicas": ready,
            "unavailableReplicas": (want - ready).max(0),
            "conditions": [{"type": "Available", "status": if available { "True" } else { "False" },
                            "reason": if available { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" }}]});
        put_if_changed(store, "apps/v1", "deployments", deploy, &tick.timestamp);
    }
}
