//! Harness: the simulator in-process on port 0 and a client tuned for tests (short poll interval
//! and backoff, so that waits cost milliseconds).

use std::time::Duration;

use hk8s::hcloud::labels::{Labels, Role, Selector};
use hk8s::hcloud::{Client, ClientConfig, RetryPolicy, Token};
use hk8s_sim::{SimConfig, SimHandle, serve};
use serde_json::Value;

/// Token of every test sim; distinctive so the log test can search for it.
pub const TOKEN: &str = "sim-token-7f3e9a1c5b";

/// A running sim.
pub struct Sim {
    pub handle: SimHandle,
}

impl Sim {
    /// A client for this sim with test timings.
    pub fn client(&self) -> Client {
        self.client_with(|_| {})
    }

    /// A client after adjusting its configuration.
    pub fn client_with(&self, adjust: impl FnOnce(&mut ClientConfig)) -> Client {
        let mut config = ClientConfig::new(Token::new(TOKEN)).endpoint(self.handle.endpoint());
        config.poll_interval = Duration::from_millis(5);
        config.retry = RetryPolicy {
            initial: Duration::from_millis(1),
            max: Duration::from_millis(20),
            max_attempts: 40,
        };
        adjust(&mut config);
        Client::new(config).expect("client builds")
    }

    async fn sim_json(&self, path: &str) -> Value {
        let url = format!("http://{}{path}", self.handle.addr());
        let resp = reqwest::get(url).await.expect("sim answers");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.expect("sim JSON")
    }

    /// `GET /_sim/state`.
    pub async fn state(&self) -> Value {
        self.sim_json("/_sim/state").await
    }

    /// `GET /_sim/stats`.
    pub async fn stats(&self) -> Value {
        self.sim_json("/_sim/stats").await
    }

    /// Requests the sim counted for a route such as `GET /actions`.
    pub async fn requests(&self, route: &str) -> u64 {
        self.stats().await["requests"][route].as_u64().unwrap_or(0)
    }

    /// Objects of `kind` in `/_sim/state` labelled for `cluster`.
    pub async fn labelled(&self, kind: &str, cluster: &str) -> Vec<Value> {
        self.state().await[kind]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|o| o["labels"]["hk8s.io/cluster"] == cluster)
            .collect()
    }
}

/// Starts a sim with instant latency, one pre-built Talos snapshot per architecture, after
/// `adjust`.
pub async fn start_with(adjust: impl FnOnce(&mut SimConfig)) -> Sim {
    let mut config = SimConfig::new(TOKEN);
    config.talos_versions = vec![TALOS_VERSION.to_string()];
    adjust(&mut config);
    Sim {
        handle: serve(config).await.expect("sim starts"),
    }
}

/// Starts a default sim.
pub async fn start() -> Sim {
    start_with(|_| {}).await
}

/// Talos version of the seeded snapshots.
pub const TALOS_VERSION: &str = "v1.13.9";

/// Labels of a cluster object with a role.
pub fn role_labels(cluster: &str, role: Role) -> Labels {
    Selector::cluster(cluster).role(role).labels()
}

/// Labels of a cluster-wide object.
pub fn cluster_labels(cluster: &str) -> Labels {
    Selector::cluster(cluster).labels()
}
