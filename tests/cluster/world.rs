//! An hk8s-sim for one test, in its own loopback block so tests run side by side with the
//! nominal ports (50000, 6443), on a runtime of its own so that the test thread can block on
//! Terraform.

use std::net::Ipv4Addr;

use hk8s_sim::SimConfig;
use hk8s_sim::latency::LatencyMode;
use serde_json::Value;

/// The bearer token of every test sim.
pub const TOKEN: &str = "cluster-e2e-token";

/// The kinds of Hetzner objects a cluster owns.
pub const CLUSTER_KINDS: [&str; 5] = [
    "servers",
    "networks",
    "firewalls",
    "load_balancers",
    "placement_groups",
];

/// A running sim.
pub struct World {
    runtime: tokio::runtime::Runtime,
    handle: Option<hk8s_sim::SimHandle>,
    /// `http://127.0.0.1:PORT/v1`.
    pub endpoint: String,
    /// The Image Factory stand-in, `http://127.0.0.1:PORT/factory`.
    pub factory: String,
    base: String,
}

impl World {
    /// Starts a sim whose public addresses start at `127.<block>.0.1`, with realistic latency
    /// scaled down 100× and snapshots for `talos_versions`.
    pub fn start(
        block: u8,
        talos_versions: &[&str],
        configure: impl FnOnce(&mut SimConfig),
    ) -> World {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("sim runtime");
        let mut config = SimConfig::new(TOKEN);
        config.latency = LatencyMode::Realistic;
        config.time_scale = 0.01;
        config.talos_versions = talos_versions.iter().map(|v| (*v).to_owned()).collect();
        config.public_ipv4_base = Ipv4Addr::new(127, block, 0, 1);
        configure(&mut config);
        let handle = runtime
            .block_on(hk8s_sim::serve(config))
            .expect("sim starts");
        World {
            endpoint: handle.endpoint(),
            factory: handle.image_factory_url(),
            base: format!("http://{}", handle.addr()),
            handle: Some(handle),
            runtime,
        }
    }

    fn get(&self, path: &str) -> Value {
        let url = if path.starts_with("/_sim") {
            format!("{}{path}", self.base)
        } else {
            format!("{}{path}", self.endpoint)
        };
        self.runtime.block_on(async {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("sim answers")
                .json::<Value>()
                .await
                .expect("sim JSON")
        })
    }

    /// `DELETE <path>` on the Hetzner API, as a user outside Terraform would: (status, body).
    pub fn delete(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::DELETE, path, None)
    }

    /// `POST <path>` on the Hetzner API with an empty JSON body, as a user outside Terraform
    /// would: (status, body).
    pub fn post(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(&serde_json::json!({})))
    }

    /// `PUT <path>` on the Hetzner API with `body`, as a user outside Terraform would: (status,
    /// body).
    pub fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(body))
    }

    fn send(&self, method: reqwest::Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.endpoint);
        self.runtime.block_on(async {
            let mut request = reqwest::Client::new()
                .request(method, url)
                .bearer_auth(TOKEN);
            if let Some(body) = body {
                request = request.json(body);
            }
            let response = request.send().await.expect("sim answers");
            let status = response.status().as_u16();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        })
    }

    /// The project's objects of `kinds` in the sim's own view (`/_sim/state`, never faulted), as "kind name" (servers also with
    /// their status and location), sorted; only those labelled `hk8s.io/cluster=<cluster>` when
    /// a cluster is given.
    pub fn objects(&self, cluster: Option<&str>, kinds: &[&str]) -> Vec<String> {
        let state = self.state();
        let mut found = Vec::new();
        for kind in kinds {
            for object in state[kind].as_array().into_iter().flatten() {
                if cluster.is_some_and(|c| object["labels"]["hk8s.io/cluster"] != c) {
                    continue;
                }
                let mut line = format!("{kind} {}", object["name"].as_str().unwrap_or("?"));
                if *kind == "servers" {
                    line.push_str(&format!(
                        " {} {}",
                        object["status"].as_str().unwrap_or("?"),
                        object["location"]["name"].as_str().unwrap_or("?")
                    ));
                }
                found.push(line);
            }
        }
        found.sort();
        found
    }

    /// [`World::objects`] of the kinds a cluster owns, labelled for `cluster`.
    pub fn cluster_objects(&self, cluster: &str) -> Vec<String> {
        self.objects(Some(cluster), &CLUSTER_KINDS)
    }

    /// `/_sim/state`.
    pub fn state(&self) -> Value {
        self.get("/_sim/state")
    }

    /// `/_sim/stats`.
    pub fn stats(&self) -> Value {
        self.get("/_sim/stats")
    }

    /// A Hetzner API list (`/servers?label_selector=…`), the array under `key`.
    pub fn list(&self, path: &str, key: &str) -> Vec<Value> {
        self.get(path)[key].as_array().cloned().unwrap_or_default()
    }

    /// Every object of the Hetzner project labelled `hk8s.io/cluster=<cluster>`, as "kind name".
    pub fn labelled(&self, cluster: &str) -> Vec<String> {
        let selector = format!("label_selector=hk8s.io/cluster%3D{cluster}");
        let mut found = Vec::new();
        for (path, key) in [
            ("/servers", "servers"),
            ("/networks", "networks"),
            ("/firewalls", "firewalls"),
            ("/load_balancers", "load_balancers"),
            ("/placement_groups", "placement_groups"),
        ] {
            for object in self.list(&format!("{path}?{selector}"), key) {
                found.push(format!("{key} {}", object["name"].as_str().unwrap_or("?")));
            }
        }
        found.sort();
        found
    }

    /// Sends every new connection to load balancer `lb` to `server` while it is a healthy target
    /// (`None`: round robin again), through the sim's `/_sim/load_balancers/{id}/pin`.
    pub fn pin_load_balancer(&self, lb: i64, server: Option<i64>) {
        let url = format!("{}/_sim/load_balancers/{lb}/pin", self.base);
        let status = self.runtime.block_on(async {
            reqwest::Client::new()
                .post(url)
                .json(&serde_json::json!({ "server": server }))
                .send()
                .await
                .expect("sim answers")
                .status()
        });
        assert_eq!(status.as_u16(), 204, "pin load balancer {lb}");
    }

    /// Runs a future on the sim's runtime.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = self.runtime.block_on(handle.shutdown());
        }
    }
}
