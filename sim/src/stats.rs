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
    /// Helm actions run by klipper-helm job pods in every simulated cluster (`install`,
    /// `upgrade`, `delete`).
    pub helm_jobs: BTreeMap<String, u64>,
}

impl Stats {
    /// Counts one request.
    pub fn record(&mut self, route: String) {
        self.total += 1;
        *self.requests.entry(route).or_default() += 1;
    }

    /// Counts one Kubernetes API request.
    pub fn record_kube(&mut self, key: String) {
        *self.kube_requests.entry(key).or_default() += 1;
    }
}
