//! Request accounting for `GET /_sim/stats`.

use std::collections::BTreeMap;

use serde::Serialize;

/// Counters since start (or the last `/_sim/reset`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Every API request.
    pub total: u64,
    /// Requests by `METHOD /route` (route templates such as `GET /v1/servers/{id}`).
    pub requests: BTreeMap<String, u64>,
    /// Requests answered 429 (empty bucket or injected burst).
    pub rate_limited: u64,
    /// Kubernetes API requests of every simulated cluster, by `VERB resource[/subresource]` (see
    /// [`crate::kube::accounting`]); not part of `total`.
    pub kube_requests: BTreeMap<String, u64>,
    /// Talos API (apid) calls to every node, by gRPC method path
    /// (`/machine.MachineService/Version`), whatever their answer; not part of `total`.
    pub talos_requests: BTreeMap<String, u64>,
    /// Hetzner API requests the hcloud cloud controller manager stand-in made with the project's
    /// token, by `METHOD /route`: they spend the project's rate limit like the provider's own
    /// (and are counted in `rate_limited` when refused), but are not part of `total`.
    pub ccm_requests: BTreeMap<String, u64>,
    /// Hetzner API requests of the hcloud CSI driver stand-in, likewise.
    pub csi_requests: BTreeMap<String, u64>,
    /// Hetzner API requests of the cluster-autoscaler stand-in, likewise.
    pub autoscaler_requests: BTreeMap<String, u64>,
    /// Servers the cluster-autoscaler stand-in created (one per server).
    pub autoscaler_scale_ups: u64,
    /// Nodes the cluster-autoscaler stand-in removed (one per server deleted).
    pub autoscaler_scale_downs: u64,
    /// Helm actions run by klipper-helm job pods in every simulated cluster (`install`,
    /// `upgrade`, `delete`).
    pub helm_jobs: BTreeMap<String, u64>,
    /// Image Factory downloads started (`hcloud-<arch>.raw.xz` answered 200).
    pub factory_downloads: u64,
}

/// An in-cluster component that calls the Hetzner API with the project's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// The hcloud cloud controller manager.
    Ccm,
    /// The hcloud CSI driver.
    Csi,
    /// The cluster-autoscaler with its Hetzner cloud provider.
    Autoscaler,
}

impl Stats {
    /// Counts one request.
    pub fn record(&mut self, route: String) {
        self.total += 1;
        *self.requests.entry(route).or_default() += 1;
    }

    /// Counts one Hetzner API request of an in-cluster component (`refused`: answered 429).
    pub fn record_component(&mut self, component: Component, route: &str, refused: bool) {
        let counts = match component {
            Component::Ccm => &mut self.ccm_requests,
            Component::Csi => &mut self.csi_requests,
            Component::Autoscaler => &mut self.autoscaler_requests,
        };
        *counts.entry(route.to_string()).or_default() += 1;
        if refused {
            self.rate_limited += 1;
        }
    }

    /// Counts one Talos API call.
    pub fn record_talos(&mut self, method: &str) {
        match self.talos_requests.get_mut(method) {
            Some(n) => *n += 1,
            None => {
                self.talos_requests.insert(method.to_string(), 1);
            }
        }
    }

    /// Counts one Kubernetes API request.
    pub fn record_kube(&mut self, key: String) {
        *self.kube_requests.entry(key).or_default() += 1;
    }
}
