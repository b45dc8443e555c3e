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
}

impl Stats {
    /// Counts one request.
    pub fn record(&mut self, route: String) {
        self.total += 1;
        *self.requests.entry(route).or_default() += 1;
    }
}
