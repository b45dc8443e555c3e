//! The mirror pods of the static pods Talos runs on every control plane (kube-apiserver,
//! kube-controller-manager, kube-scheduler), as the kubelet publishes them: in `kube-system`,
//! named `<component>-<node>`, with the `kubernetes.io/config.mirror` annotation and the Node as
//! their controller owner. The API lets them be deleted (or evicted), and the kubelet publishes
//! them again at once; they go with their Node. `kubectl drain` and hk8s's drain skip them.

use serde_json::{Value, json};

use super::store::{Store, uid};
use super::workloads::Tick;

/// The control-plane components Talos runs as static pods.
pub const COMPONENTS: &[&str] = &[
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
];

/// A control plane whose kubelet publishes mirror pods.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    /// Node name.
    pub node: String,
    /// The Node object's uid.
    pub node_uid: String,
    /// The Kubernetes version it runs (`v1.35.0`).
    pub version: String,
}

fn mirror_pod(cp: &ControlPlane, component: &str, timestamp: &str) -> Value {
    let hash = uid(&format!("{component}/{}", cp.node), &cp.version).replace('-', "");
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("{component}-{}", cp.node), "namespace": "kube-system",
            "labels": {"k8s-app": component, "tier": "control-plane"},
            "annotations": {"kubernetes.io/config.hash": hash, "kubernetes.io/config.mirror": hash,
                            "kubernetes.io/config.seen": timestamp, "kubernetes.io/config.source": "file"},
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": cp.node,
                                 "uid": cp.node_uid, "controller": true}],
        },
        "spec": {
            "nodeName": cp.node, "hostNetwork": true, "priority": 2_000_000_000,
            "priorityClassName": "system-cluster-critical",
            "containers": [{"name": component, "image": format!("registry.k8s.io/{component}:{}", cp.version)}],
            "tolerations": [{"operator": "Exists", "effect": "NoExecute"}],
        },
        "status": {"phase": "Running", "startTime": timestamp,
                   "conditions": [{"type": "PodScheduled", "status": "True"}]},
    })
}

/// Publishes the mirror pods that are missing (first start, or deleted through the API).
pub fn reconcile(store: &mut Store, control_planes: &[ControlPlane], tick: &Tick) {
    for cp in control_planes {
        for component in COMPONENTS {
            let name = format!("{component}-{}", cp.node);
            if store.get("v1", "pods", "kube-system", &name).is_none() {
                store.put(
                    "v1",
                    "pods",
                    mirror_pod(cp, component, &tick.timestamp),
                    &tick.timestamp,
                );
            }
        }
    }
}
