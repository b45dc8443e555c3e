//! Which node a pod may run on, and which one it gets: a node is eligible when it is schedulable
//! (not cordoned; DaemonSet pods ignore cordons, as in Kubernetes), every `NoSchedule`/`NoExecute`
//! taint is tolerated (a node that is not Ready carries `node.kubernetes.io/not-ready`, so only
//! pods tolerating it go there, as with Kubernetes' taint-based scheduling), its labels match the
//! pod's `nodeSelector` and required node affinity, and no pod its required pod anti-affinity
//! names runs in the same topology domain, and the CPU and memory the pod requests fit in the
//! node's allocatable next to the requests of the pods already bound there (`Insufficient cpu`,
//! `Insufficient memory`, as the scheduler's NodeResourcesFit plugin says). Among eligible nodes the pod goes to the one with the
//! fewest pods of the same owner, then the fewest pods, then the first by name: replicas spread
//! round robin, deterministically.
//!
//! Whether a bound pod can start is the kubelet's business ([`kubelet_refusal`]): the kubelet must
//! post status, and a pod that is not `hostNetwork` needs a pod network (a CNI) on its node.

use serde_json::Value;

use super::nodes::is_ready;
use super::select::labels_of;

/// Taints DaemonSet pods tolerate implicitly (the DaemonSet controller adds these tolerations).
const DAEMONSET_TOLERATED: &[&str] = &[
    "node.kubernetes.io/unschedulable",
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
];

/// Whether one toleration tolerates one taint.
fn tolerates(toleration: &Value, taint: &Value) -> bool {
    let effect_ok = toleration["effect"]
        .as_str()
        .is_none_or(|e| e.is_empty() || taint["effect"].as_str() == Some(e));
    if !effect_ok {
        return false;
    }
    let key = toleration["key"].as_str().unwrap_or_default();
    let exists = toleration["operator"] == "Exists";
    if key.is_empty() {
        return exists;
    }
    key == taint["key"].as_str().unwrap_or_default()
        && (exists
            || toleration["value"].as_str().unwrap_or_default()
                == taint["value"].as_str().unwrap_or_default())
}

/// Why a node refuses a pod, if it does (for the pod's `PodScheduled` message).
pub fn refusal(node: &Value, pod_spec: &Value, daemon: bool) -> Option<String> {
    if node["spec"]["unschedulable"] == true && !daemon {
        return Some("node(s) were unschedulable".into());
    }
    let tolerations = pod_spec["tolerations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for taint in node["spec"]["taints"].as_array().into_iter().flatten() {
        let effect = taint["effect"].as_str().unwrap_or_default();
        if effect != "NoSchedule" && effect != "NoExecute" {
            continue;
        }
        let key = taint["key"].as_str().unwrap_or_default();
        if daemon && DAEMONSET_TOLERATED.contains(&key) {
            continue;
        }
        if !tolerations.iter().any(|t| tolerates(t, taint)) {
            return Some(format!(
                "node(s) had untolerated taint {{{key}: {}}}",
                taint["value"].as_str().unwrap_or_default()
            ));
        }
    }
    let labels = labels_of(node);
    let selector_ok = pod_spec["nodeSelector"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    if !selector_ok || !node_affinity_matches(&pod_spec["affinity"]["nodeAffinity"], &labels) {
        return Some("node(s) didn't match Pod's node affinity/selector".into());
    }
    None
}

/// `requiredDuringSchedulingIgnoredDuringExecution` of a node affinity: the terms are ORed, the
/// expressions of a term ANDed (`In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`).
fn node_affinity_matches(affinity: &Value, labels: &crate::labels::Labels) -> bool {
    let Some(terms) =
        affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"].as_array()
    else {
        return true;
    };
    terms.iter().any(|term| {
        term["matchExpressions"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|e| {
                let present = labels.get(e["key"].as_str().unwrap_or_default());
                let values: Vec<&str> = e["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                let number = |v: Option<&String>| v.and_then(|v| v.parse::<i64>().ok());
                let bound = values.first().and_then(|v| v.parse::<i64>().ok());
                match e["operator"].as_str().unwrap_or_default() {
                    "In" => present.is_some_and(|v| values.contains(&v.as_str())),
                    "NotIn" => present.is_none_or(|v| !values.contains(&v.as_str())),
                    "Exists" => present.is_some(),
                    "DoesNotExist" => present.is_none(),
                    "Gt" => number(present).zip(bound).is_some_and(|(v, b)| v > b),
                    "Lt" => number(present).zip(bound).is_some_and(|(v, b)| v < b),
                    _ => false,
                }
            })
    })
}

/// Whether placing `pod` on `node` breaks its required pod anti-affinity: a pod matching one of
/// the terms' selectors (in the term's namespaces, by default the pod's own) runs on a node with
/// the same value of the term's `topologyKey`.
fn breaks_anti_affinity(node: &Value, nodes: &[Value], pods: &[Value], pod: &Value) -> bool {
    let Some(terms) = pod["spec"]["affinity"]["podAntiAffinity"]
        ["requiredDuringSchedulingIgnoredDuringExecution"]
        .as_array()
    else {
        return false;
    };
    let own_ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    terms.iter().any(|term| {
        let key = term["topologyKey"].as_str().unwrap_or_default();
        let Some(domain) = labels_of(node).get(key).cloned() else {
            return false;
        };
        let namespaces: Vec<&str> = term["namespaces"]
            .as_array()
            .map(|n| n.iter().filter_map(Value::as_str).collect())
            .unwrap_or_else(|| vec![own_ns]);
        pods.iter()
            .filter(|p| p["metadata"]["name"] != pod["metadata"]["name"])
            .filter(|p| {
                namespaces.contains(&p["metadata"]["namespace"].as_str().unwrap_or_default())
            })
            .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")))
            .filter(|p| {
                super::select::selector_object_matches(&term["labelSelector"], &labels_of(p))
            })
            .filter_map(|p| p["spec"]["nodeName"].as_str())
            .any(|other| {
                nodes
                    .iter()
                    .find(|n| n["metadata"]["name"] == other)
                    .is_some_and(|n| labels_of(n).get(key) == Some(&domain))
            })
    })
}

/// Whether the node's kubelet posts status (a node whose kubelet stopped reports `Unknown`).
pub fn kubelet_up(node: &Value) -> bool {
    node["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Ready")
        .is_some_and(|c| c["status"] != "Unknown" && c["reason"] != "NodeStatusUnknown")
}

/// Whether a pod network (CNI) is up on the node: Ready, or not Ready for another reason than
/// the runtime network (the kubelet's `NetworkReady=false` condition message).
pub fn network_ready(node: &Value) -> bool {
    is_ready(node)
        || !node["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| {
                c["type"] == "Ready"
                    && c["message"]
                        .as_str()
                        .is_some_and(|m| m.contains("NetworkReady=false"))
            })
}

/// The kubelet's message for a container runtime without a pod network, as the pod's events
/// show it (`NetworkNotReady`).
pub const NETWORK_NOT_READY: &str = "network is not ready: container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized";

/// Why the kubelet of `node` cannot start a pod bound to it, if it cannot: it does not run, or
/// the pod needs a pod network the node does not have yet.
pub fn kubelet_refusal(node: &Value, pod_spec: &Value) -> Option<&'static str> {
    if !kubelet_up(node) {
        return Some("kubelet stopped posting node status");
    }
    if pod_spec["hostNetwork"] != true && !network_ready(node) {
        return Some(NETWORK_NOT_READY);
    }
    None
}

/// The controller uid of a pod (its ownerReference with `controller: true`).
pub fn controller_uid(obj: &Value) -> Option<&str> {
    obj["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|o| o["controller"] == true)?
        .get("uid")?
        .as_str()
}

/// A quantity field in base units (`"500m"` → 0.5), 0 when absent or malformed.
fn quantity(value: &Value) -> f64 {
    match value {
        Value::String(s) => super::quantity::parse(s).unwrap_or(0.0),
        Value::Number(n) => n.as_f64().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// CPU (cores) and memory (bytes) a pod spec requests, as the scheduler counts them: the sum over
/// its containers, or the largest init container's when that is more.
pub fn pod_requests(spec: &Value) -> (f64, f64) {
    let of = |key: &str| -> Vec<(f64, f64)> {
        spec[key]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let r = &c["resources"]["requests"];
                (quantity(&r["cpu"]), quantity(&r["memory"]))
            })
            .collect()
    };
    let sum = of("containers")
        .into_iter()
        .fold((0.0, 0.0), |a, c| (a.0 + c.0, a.1 + c.1));
    of("initContainers")
        .into_iter()
        .fold(sum, |a, c| (a.0.max(c.0), a.1.max(c.1)))
}

/// A node's allocatable CPU (cores) and memory (bytes).
pub fn allocatable(node: &Value) -> (f64, f64) {
    let a = &node["status"]["allocatable"];
    (quantity(&a["cpu"]), quantity(&a["memory"]))
}

/// Why the node's free resources cannot take the pod (`Insufficient cpu`), given the pods bound
/// to it (finished ones excluded by the caller).
pub fn insufficient(node: &Value, on_node: &[&Value], pod_spec: &Value) -> Option<String> {
    // A node that reports no allocatable (no known server type) is not sized: nothing to count.
    if !node["status"]["allocatable"].is_object() {
        return None;
    }
    let (cpu, memory) = allocatable(node);
    let used = on_node
        .iter()
        .map(|p| pod_requests(&p["spec"]))
        .fold((0.0, 0.0), |a, r| (a.0 + r.0, a.1 + r.1));
    let (want_cpu, want_memory) = pod_requests(pod_spec);
    // A millicore / a byte of slack absorbs the float sums of decimal quantities.
    if want_cpu > 0.0 && used.0 + want_cpu > cpu + 1e-4 {
        return Some("Insufficient cpu".into());
    }
    if want_memory > 0.0 && used.1 + want_memory > memory + 0.5 {
        return Some("Insufficient memory".into());
    }
    None
}

/// Picks a node for a pod, or explains why none fits (`0/3 nodes are available: …`).
pub fn pick(nodes: &[Value], pods: &[Value], pod: &Value) -> Result<String, String> {
    let owner = controller_uid(pod);
    let mut reasons: std::collections::BTreeMap<String, usize> = Default::default();
    let mut best: Option<((usize, usize, String), String)> = None;
    for node in nodes {
        let name = node["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(why) = refusal(node, &pod["spec"], false) {
            *reasons.entry(why).or_default() += 1;
            continue;
        }
        if breaks_anti_affinity(node, nodes, pods, pod) {
            *reasons
                .entry("node(s) didn't match pod anti-affinity rules".into())
                .or_default() += 1;
            continue;
        }
        // Finished pods (a Job's) hold no resources on the node any more.
        let on_node: Vec<&Value> = pods
            .iter()
            .filter(|p| p["spec"]["nodeName"] == name.as_str())
            .filter(|p| {
                pod["metadata"]["name"].is_null()
                    || p["metadata"]["name"] != pod["metadata"]["name"]
                    || p["metadata"]["namespace"] != pod["metadata"]["namespace"]
            })
            .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")))
            .collect();
        if let Some(why) = insufficient(node, &on_node, &pod["spec"]) {
            *reasons.entry(why).or_default() += 1;
            continue;
        }
        let same_owner = on_node
            .iter()
            .filter(|p| owner.is_some() && controller_uid(p) == owner)
            .count();
        let key = (same_owner, on_node.len(), name.clone());
        if best.as_ref().is_none_or(|(k, _)| key < *k) {
            best = Some((key, name));
        }
    }
    best.map(|(_, n)| n).ok_or_else(|| {
        let detail: Vec<String> = reasons
            .iter()
            .map(|(why, n)| format!("{n} {why}"))
            .collect();
        format!(
            "0/{} nodes are available: {}.",
            nodes.len(),
            detail.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(name: &str, taints: Value, unschedulable: bool) -> Value {
        json!({"metadata": {"name": name, "labels": {}}, "spec": {"taints": taints, "unschedulable": unschedulable},
               "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    }

    #[test]
    fn taints_cordons_and_spreading_decide_the_node() {
        let cp = node(
            "cp",
            json!([{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]),
            false,
        );
        let w1 = node("w1", json!([]), true);
        let w2 = node("w2", json!([]), false);
        let w3 = node("w3", json!([]), false);
        let pod = json!({"metadata": {"ownerReferences": [{"uid": "rs", "controller": true}]}, "spec": {}});
        let existing = vec![
            json!({"metadata": {"ownerReferences": [{"uid": "rs", "controller": true}]}, "spec": {"nodeName": "w2"}}),
        ];
        let nodes = [cp.clone(), w1.clone(), w2, w3];
        assert_eq!(pick(&nodes, &existing, &pod), Ok("w3".to_string()));
        let err = pick(&[cp.clone(), w1.clone()], &[], &pod).unwrap_err();
        assert!(err.starts_with("0/2 nodes are available"), "{err}");
        let tolerant = json!({"spec": {"tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]}});
        assert_eq!(
            pick(&[cp.clone(), w1.clone()], &[], &tolerant),
            Ok("cp".to_string())
        );
        assert!(
            refusal(&w1, &json!({}), true).is_none(),
            "daemon pods ignore cordons"
        );
        assert!(
            refusal(
                &cp,
                &json!({"tolerations": [{"operator": "Exists"}]}),
                false
            )
            .is_none()
        );
    }

    #[test]
    fn node_affinity_and_pod_anti_affinity_narrow_the_nodes() {
        let labelled = |name: &str, zone: &str| {
            json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "zone": zone}},
                   "spec": {"taints": []}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
        };
        let nodes = [labelled("a", "1"), labelled("b", "1"), labelled("c", "2")];
        let affine = json!({"metadata": {"name": "p", "namespace": "x"}, "spec": {"affinity": {"nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["1"]}]}]}}}}});
        assert_eq!(pick(&nodes, &[], &affine), Ok("c".to_string()));
        let operator = |name: &str, node: Option<&str>| {
            let mut pod = json!({"metadata": {"name": name, "namespace": "x", "labels": {"app": "op"}},
                "spec": {"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                    {"topologyKey": "zone", "labelSelector": {"matchLabels": {"app": "op"}}}]}}}});
            if let Some(n) = node {
                pod["spec"]["nodeName"] = json!(n);
            }
            pod
        };
        let running = [operator("op-1", Some("a"))];
        assert_eq!(
            pick(&nodes, &running, &operator("op-2", None)),
            Ok("c".to_string())
        );
        let both = [operator("op-1", Some("a")), operator("op-2", Some("c"))];
        let err = pick(&nodes, &both, &operator("op-3", None)).unwrap_err();
        assert_eq!(
            err,
            "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."
        );
    }

    #[test]
    fn the_kubelet_starts_host_network_pods_without_a_cni() {
        let no_cni = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady",
            "message": "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized"}]}});
        let down = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "NodeStatusUnknown"}]}});
        assert_eq!(
            kubelet_refusal(&no_cni, &json!({})),
            Some(NETWORK_NOT_READY)
        );
        assert_eq!(
            kubelet_refusal(&no_cni, &json!({"hostNetwork": true})),
            None
        );
        assert!(kubelet_refusal(&down, &json!({"hostNetwork": true})).is_some());
        let tainted = node(
            "n",
            json!([{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]),
            false,
        );
        assert!(refusal(&tainted, &json!({}), false).is_some());
        assert!(refusal(&tainted, &json!({"tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}]}), false).is_none());
    }
}
