//! What a Talos cluster on Hetzner cannot live without, as Kubernetes objects: helm-controller
//! (which installs every Helm release the provider manages), the hcloud cloud controller
//! manager, and Cilium when it is the CNI. Only objects and values here; applying and waiting is
//! the caller's.
//!
//! Everything that must run before a CNI or a cloud controller exists is given host networking,
//! tolerations for the taints such nodes carry (not-ready, uninitialized, control-plane), and
//! the node-local KubePrism endpoint (`localhost:7445`) instead of the `kubernetes` Service,
//! which nothing routes yet.

pub mod autoscaler;
pub mod ccm;
pub mod cilium;
pub mod csr_approver;
pub mod helm_controller;

use serde_json::{Value, json};

/// The field manager of every object the provider applies.
pub const FIELD_MANAGER: &str = "hk8s";

/// Namespace of the cluster's own components.
pub const NAMESPACE: &str = "kube-system";

/// KubePrism: Talos's node-local load balancer in front of the API servers.
pub const KUBEPRISM_HOST: &str = "localhost";
/// KubePrism's port.
pub const KUBEPRISM_PORT: u16 = 7445;

/// The taints of a node that has no CNI, no cloud controller, or is a control plane.
pub fn bootstrap_tolerations() -> Value {
    // Every effect: a node without a CNI is also tainted not-ready:NoExecute, which would evict
    // the pods that are about to make it Ready.
    json!([
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists"},
        {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists"},
        {"key": "node.cloudprovider.kubernetes.io/uninitialized", "operator": "Exists"},
        {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"},
        {"key": "CriticalAddonsOnly", "operator": "Exists"},
    ])
}

/// Env pointing a pod's Kubernetes client at KubePrism.
pub fn kubeprism_env() -> Value {
    json!([
        {"name": "KUBERNETES_SERVICE_HOST", "value": KUBEPRISM_HOST},
        {"name": "KUBERNETES_SERVICE_PORT", "value": KUBEPRISM_PORT.to_string()},
    ])
}

/// Labels on every object the provider applies.
pub fn labels(component: &str) -> Value {
    json!({"app.kubernetes.io/name": component, "app.kubernetes.io/managed-by": "hk8s"})
}
