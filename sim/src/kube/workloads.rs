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

fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or_default()
}

fn owner_ref(owner: &Value, kind: &str) -> Value {
    json!([{"apiVersion": owner["apiVersion"], "kind": kind, "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true}])
}

/// Stores `obj` only when it differs from what is stored (so idle passes bump nothing).
fn put_if_changed(store: &mut Store, gv: &str, resource: &str, obj: Value, timestamp: &str) {
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
    schedule(store, nodes, tick);
    statuses(store, tick);
}

/// Removes objects whose controller owner is gone, and pods whose node is gone.
fn collect_garbage(store: &mut Store, nodes: &[Value]) {
    let owners: BTreeSet<String> = OWNER_KINDS
        .iter()
        .flat_map(|(_, gv, r)| store.items(gv, r))
        .map(|o| meta_str(&o, "uid").to_string())
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
fn owned_pods(store: &Store, owner_uid: &str) -> Vec<Value> {
    store
        .items("v1", "pods")
        .into_iter()
        .filter(|p| controller_uid(p) == Some(owner_uid))
        .filter(|p| !p["metadata"]["deletionTimestamp"].is_string())
        .collect()
}

/// Creates a Pending pod from a template, due for scheduling after the delay.
fn new_pod(
    store: &mut Store,
    owner: &Value,
    kind: &str,
    name: &str,
    node: Option<&str>,
    tick: &Tick,
) {
    let template = &owner["spec"]["template"];
    let ns = meta_str(owner, "namespace");
    let mut spec = template["spec"].clone();
    let annotations = template["metadata"]["annotations"].clone();
    if let Some(node) = node {
        set_path(&mut spec, &["nodeName"], json!(node));
    }
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": template["metadata"]["labels"].clone(),
                     "ownerReferences": owner_ref(owner, kind)},
        "spec": spec,
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": if node.is_some() { "True" } else { "False" }}]},
    });
    if annotations.is_object() {
        pod["metadata"]["annotations"] = annotations;
    }
    store.put("v1", "pods", pod, &tick.timestamp);
    store
        .timers
        .insert(format!("pod/{ns}/{name}"), tick.now + tick.schedule_delay);
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
            new_pod(store, &rs, "ReplicaSet", &name, None, tick);
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
            new_pod(
                store,
                &sts,
                "StatefulSet",
                &format!("{base}-{i}"),
                None,
                tick,
            );
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
            new_pod(store, &ds, "DaemonSet", &name, Some(node), tick);
        }
    }
}

fn ready_condition(ready: bool, timestamp: &str) -> Value {
    json!([{"type": "PodScheduled", "status": "True"},
           {"type": "Initialized", "status": "True"},
           {"type": "ContainersReady", "status": if ready { "True" } else { "False" }},
           {"type": "Ready", "status": if ready { "True" } else { "False" }, "lastTransitionTime": timestamp}])
}

/// Binds due pods to nodes and keeps Running pods' readiness in step with their node.
fn schedule(store: &mut Store, nodes: &[Value], tick: &Tick) {
    let ready_nodes: BTreeMap<&str, bool> = nodes
        .iter()
        .map(|n| (meta_str(n, "name"), is_ready(n)))
        .collect();
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
                let ready = ready_nodes.get(node.as_str()).copied().unwrap_or(false);
                set_path(&mut updated, &["spec", "nodeName"], json!(node));
                if super::storage::mount_refusal(store, &pod, &node).is_some() {
                    updated["status"] = super::storage::container_creating(&pod);
                    put_if_changed(store, "v1", "pods", updated, &tick.timestamp);
                    continue;
                }
                updated["status"] = json!({"phase": "Running", "startTime": tick.timestamp, "conditions": ready_condition(ready, &tick.timestamp)});
                store.timers.remove(&timer);
            }
            (Some("Running"), Some(node)) => {
                let ready = ready_nodes.get(node).copied().unwrap_or(false);
                let was_ready = super::eviction::is_healthy(&pod);
                if ready == was_ready {
                    continue;
                }
                set_path(
                    &mut updated,
                    &["status", "conditions"],
                    ready_condition(ready, &tick.timestamp),
                );
            }
            _ => continue,
        }
        put_if_changed(store, "v1", "pods", updated, &tick.timestamp);
    }
}

/// Workload statuses from their pods.
fn statuses(store: &mut Store, tick: &Tick) {
    let count = |store: &Store, uid: &str| {
        let pods = owned_pods(store, uid);
        let ready = pods
            .iter()
            .filter(|p| super::eviction::is_healthy(p))
            .count() as i64;
        (pods.len() as i64, ready)
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
                json!({"desiredNumberScheduled": total, "currentNumberScheduled": total, "numberReady": ready,
                       "numberAvailable": ready, "updatedNumberScheduled": total, "numberMisscheduled": 0, "observedGeneration": generation})
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
        for rs in store.items("apps/v1", "replicasets") {
            if controller_uid(&rs) == Some(deploy_uid.as_str()) {
                let (t, r) = count(store, meta_str(&rs, "uid"));
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
