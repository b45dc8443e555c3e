//! The hcloud cloud controller manager (chart `hcloud-cloud-controller-manager` from
//! `https://charts.hetzner.cloud`): it initialises nodes (provider id, addresses, the
//! `uninitialized` taint removed), routes the pod CIDR through the private network, and serves
//! Services of type LoadBalancer. It reads its token and network id from the Secret `hcloud`.

use serde_json::{Value, json};

use super::{NAMESPACE, labels};

/// Release (and HelmChart) name; also the chart's name.
pub const RELEASE: &str = "hcloud-cloud-controller-manager";
/// Chart repository.
pub const REPOSITORY: &str = "https://charts.hetzner.cloud";
/// Pinned chart version (older than 1.30.1 breaks on Hetzner's API changes of mid-2026).
pub const DEFAULT_VERSION: &str = "1.35.0";
/// The oldest version the provider accepts.
pub const MINIMUM_VERSION: &str = "1.30.1";
/// The Secret the chart reads.
pub const SECRET: &str = "hcloud";

/// The Secret with the token and the cluster network.
pub fn secret(token: &str, network_id: i64) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
           "metadata": {"name": SECRET, "namespace": NAMESPACE, "labels": labels(RELEASE)},
           "stringData": {"token": token, "network": network_id.to_string()}})
}

/// Values derived from the cluster: routes for the pod CIDR through the private network, and
/// load balancers that reach nodes over it, by default in the cluster's location.
pub fn default_values(pod_cidr: &str, location: &str) -> Value {
    json!({
        "networking": {"enabled": true, "clusterCIDR": pod_cidr},
        "env": {
            "HCLOUD_LOAD_BALANCERS_LOCATION": {"value": location},
            "HCLOUD_LOAD_BALANCERS_USE_PRIVATE_IP": {"value": "true"},
        },
    })
}
