//! kubelet-csr-approver (postfinance): approves the kubelets' serving-certificate requests.
//! Talos nodes run kubelet with `rotate-server-certificates`, so without an approver `kubectl
//! logs`/`exec` and metrics-server cannot talk to kubelets over verified TLS.

use serde_json::{Value, json};

use super::bootstrap_tolerations;

/// Release (and HelmChart) name; also the chart's name.
pub const RELEASE: &str = "kubelet-csr-approver";
/// Chart repository.
pub const REPOSITORY: &str = "https://postfinance.github.io/kubelet-csr-approver";
/// Pinned chart version.
pub const DEFAULT_VERSION: &str = "1.2.12";

/// Values: node names are Hetzner server names (DNS labels) that no resolver knows, so the
/// approver checks the name's shape and the addresses, not DNS; it tolerates control planes so
/// it runs in clusters without workers too.
pub fn default_values() -> Value {
    json!({
        "providerRegex": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        "bypassDnsResolution": true,
        "tolerations": bootstrap_tolerations(),
    })
}
