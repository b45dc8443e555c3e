//! Which node a pod may run on, and which one it gets: a node is eligible when it is Ready,
//! schedulable (not cordoned; DaemonSet pods ignore cordons, as in Kubernetes) and every
//! `NoSchedule`/`NoExecute` taint is tolerated, and its labels match the pod's `nodeSelector`.
//! Among eligible nodes the pod goes to the one with the fewest pods of the same owner, then the
//! fewest pods, then the first by name: replicas spread round robin, deterministically.

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
    if !is_ready(node) && !daemon {
        return Some("node(s) were not ready".into());
    }
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
    if !selector_ok {
        return Some("node(s) didn't match Pod's node affinity/selector".into());
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
        let on_node: Vec<&Value> = pods
            .iter()
            .filter(|p| p["spec"]["nodeName"] == name.as_str())
            .collect();
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
}
