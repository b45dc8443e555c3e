//! Test support (feature `test-support`): one builder that brings up a sim for a test and the
//! Hetzner-side pieces of a simulated cluster the way the provider makes them, so that the
//! tests of both crates (`tests/talos_ops`, `tests/kube_client`, `tests/sim_cluster.rs`,
//! `sim/tests/kube`) share it instead of near-copies:
//!
//! - [`TestSim::start`]: a sim on its own loopback block (so sims in one process keep the
//!   nominal ports), with Talos snapshots, and the caller's adjustments (latency, clock, ports);
//! - [`TestSim::talos_image`], [`TestSim::api_load_balancer`] (6443 and 50000 to the servers a
//!   label selector picks), [`TestSim::network`], [`TestSim::create_server`] (user data, labels,
//!   networks): the Hetzner objects of a cluster;
//! - [`TestSim::hcloud`] / [`TestSim::state`]: the Hetzner API and `/_sim/state`, panicking with
//!   the reply on failure (fixtures, not code under test);
//! - [`TestSim::eventually`]: polls a condition while keeping the sim settling actions;
//! - [`helm_controller_objects`]: helm-controller as the provider deploys it, for tests that
//!   apply HelmCharts themselves;
//! - [`OpenApiGuard`]: every test sim checks its Hetzner API responses against the OpenAPI
//!   description ([`crate::openapi`]), and the test fails when the sim goes away after serving
//!   a response that does not match it (tests that start sims with [`serve`] directly hold one
//!   too).
//!
//! Machine configurations are the caller's: the root crate's tests generate them with
//! `hk8s::talos`, the sim's own use golden files.

use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::openapi::Checker;
use crate::{SimConfig, SimHandle, serve};

/// Fails the test (panics when dropped) when the sim it watches served a Hetzner API response
/// that does not match the OpenAPI description. Unless the test is already failing: a second
/// panic would abort and hide the first.
#[derive(Debug)]
pub struct OpenApiGuard {
    checker: Option<Arc<Checker>>,
}

impl OpenApiGuard {
    /// Watches `handle`'s checker (a sim started without `check_openapi` has none: nothing to
    /// check).
    pub fn new(handle: &SimHandle) -> Self {
        OpenApiGuard {
            checker: handle.openapi(),
        }
    }

    /// Panics listing the violations found so far, if any.
    ///
    /// # Panics
    /// When a response did not match the description.
    pub fn assert_clean(&self) {
        let Some(checker) = &self.checker else {
            return;
        };
        let violations = checker.violations();
        if violations.is_empty() {
            return;
        }
        let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
        panic!(
            "{} Hetzner API response(s) of the sim do not match the OpenAPI description \
             (sim/openapi; fix the sim, or allow-list a documented difference in \
             sim/src/openapi/allow.rs):\n{}",
            checker.total(),
            list.join("\n")
        );
    }
}

impl Drop for OpenApiGuard {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.assert_clean();
        }
    }
}

/// The bearer token of every test sim.
pub const TOKEN: &str = "hk8s-test-token";

/// helm-controller's image in [`helm_controller_objects`].
pub const HELM_CONTROLLER_IMAGE: &str = "rancher/helm-controller:v0.17.7";
/// The job image [`helm_controller_objects`] gives helm-controller: klipper-helm v0.13+, which
/// labels releases with the config hash helm-controller v0.17.4+ checks (with an older
/// klipper-helm the controller runs its install jobs again and again, in the sim as for real).
pub const KLIPPER_HELM_IMAGE: &str = "rancher/klipper-helm:v0.13.3-build20260727";

/// The tolerations helm-controller and its jobs need before a CNI and the CCM run.
pub fn bootstrap_tolerations() -> Value {
    json!([{"key": "node.kubernetes.io/not-ready", "operator": "Exists"},
           {"key": "node.cloudprovider.kubernetes.io/uninitialized", "operator": "Exists"},
           {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"},
           {"key": "CriticalAddonsOnly", "operator": "Exists"}])
}

/// helm-controller in `kube-system` as the provider deploys it on Talos (ServiceAccount,
/// ClusterRoleBinding to `cluster-admin`, a Deployment on the host network with the bootstrap
/// tolerations, KubePrism and [`KLIPPER_HELM_IMAGE`]), for tests that apply HelmCharts
/// themselves: apply these first and wait until `GET /apis/helm.cattle.io/v1` answers.
pub fn helm_controller_objects() -> Vec<Value> {
    let tolerations = bootstrap_tolerations();
    vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": "helm-controller", "namespace": "kube-system"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
               "metadata": {"name": "helm-controller"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
               "subjects": [{"kind": "ServiceAccount", "name": "helm-controller", "namespace": "kube-system"}]}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "helm-controller", "namespace": "kube-system"},
               "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "helm-controller"}},
                        "template": {"metadata": {"labels": {"app": "helm-controller"}},
                                     "spec": {"serviceAccountName": "helm-controller", "hostNetwork": true,
                                              "tolerations": tolerations,
                                              "containers": [{"name": "helm-controller", "image": HELM_CONTROLLER_IMAGE,
                                                              "command": ["helm-controller"],
                                                              "env": [{"name": "KUBERNETES_SERVICE_HOST", "value": "localhost"},
                                                                      {"name": "KUBERNETES_SERVICE_PORT", "value": "7445"},
                                                                      {"name": "DEFAULT_JOB_IMAGE", "value": KLIPPER_HELM_IMAGE},
                                                                      {"name": "JOB_CLUSTER_ROLE", "value": "cluster-admin"},
                                                                      {"name": "JOB_TOLERATIONS", "value": tolerations.to_string()}]}]}}}}),
    ]
}

/// A server the test creates.
#[derive(Debug, Clone, Default)]
pub struct ServerRequest<'a> {
    /// Name (the default hostname).
    pub name: &'a str,
    /// Image id (see [`TestSim::talos_image`]).
    pub image: i64,
    /// User data (a machine configuration), or none for maintenance mode.
    pub user_data: Option<String>,
    /// Labels.
    pub labels: Vec<(&'a str, &'a str)>,
    /// Networks to attach at creation.
    pub networks: Vec<i64>,
    /// Server type (`cx23` when `None`); its architecture must be the image's.
    pub server_type: Option<&'a str>,
}

/// A created server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatedServer {
    /// Id.
    pub id: i64,
    /// Public IPv4 (where its node listens).
    pub ip: Ipv4Addr,
}

/// A running sim for one test.
pub struct TestSim {
    /// The sim (shut it down at the end of the test to save a state file; dropping is fine).
    pub handle: SimHandle,
    http: reqwest::Client,
    /// Declared last: dropped after the handle, so it sees every response.
    openapi: OpenApiGuard,
}

impl TestSim {
    /// Starts a sim whose public IPv4s start at `127.<block>.0.1`, with snapshots of
    /// `talos_versions` and the response checker on, after `adjust` changed the configuration
    /// (latency, clock, ports). The test fails when the sim is dropped after a response that
    /// does not match the OpenAPI description.
    ///
    /// # Panics
    /// When the sim does not start (e.g. another sim holds the block).
    pub async fn start(
        block: u8,
        talos_versions: &[&str],
        adjust: impl FnOnce(&mut SimConfig),
    ) -> TestSim {
        let mut config = SimConfig::new(TOKEN);
        config.talos_versions = talos_versions.iter().map(ToString::to_string).collect();
        config.public_ipv4_base = Ipv4Addr::new(127, block, 0, 1);
        config.check_openapi = true;
        adjust(&mut config);
        let handle = serve(config).await.expect("the test sim starts");
        TestSim {
            openapi: OpenApiGuard::new(&handle),
            handle,
            http: reqwest::Client::new(),
        }
    }

    /// Panics when a Hetzner API response so far did not match the OpenAPI description (also
    /// checked when the sim is dropped).
    ///
    /// # Panics
    /// Listing the violations.
    pub fn assert_openapi_clean(&self) {
        self.openapi.assert_clean();
    }

    /// `method path` on the Hetzner API: (status, JSON body or Null).
    pub async fn try_hcloud(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(
                method.parse().expect("an HTTP method"),
                format!("{}{path}", self.handle.endpoint()),
            )
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the sim answers");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `method path` on the Hetzner API, which must succeed.
    ///
    /// # Panics
    /// On a non-2xx reply, with the reply.
    pub async fn hcloud(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, value) = self.try_hcloud(method, path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {value}"
        );
        value
    }

    /// `/_sim/state`.
    pub async fn state(&self) -> Value {
        self.http
            .get(format!("http://{}/_sim/state", self.handle.addr()))
            .send()
            .await
            .expect("the sim answers")
            .json()
            .await
            .expect("JSON state")
    }

    /// `/_sim/stats`.
    pub async fn stats(&self) -> Value {
        self.http
            .get(format!("http://{}/_sim/stats", self.handle.addr()))
            .send()
            .await
            .expect("the sim answers")
            .json()
            .await
            .expect("JSON stats")
    }

    /// The x86 Talos snapshot of `version`.
    pub async fn talos_image(&self, version: &str) -> i64 {
        self.talos_image_for(version, "x86").await
    }

    /// The Talos snapshot of `version` for `architecture` (`x86` or `arm`).
    pub async fn talos_image_for(&self, version: &str, architecture: &str) -> i64 {
        let images = self
            .hcloud(
                "GET",
                &format!(
                    "/images?type=snapshot&architecture={architecture}&label_selector=hk8s.io/talos-version%3D{version}"
                ),
                None,
            )
            .await;
        images["images"][0]["id"].as_i64().unwrap_or_else(|| {
            panic!("no seeded {architecture} snapshot of Talos {version}: {images}")
        })
    }

    /// An API load balancer `name` in fsn1 forwarding 6443 and 50000 to the servers `selector`
    /// picks; returns its public IPv4.
    pub async fn api_load_balancer(&self, name: &str, selector: &str) -> Ipv4Addr {
        let lb = self
            .hcloud(
                "POST",
                "/load_balancers",
                Some(json!({
                    "name": name, "load_balancer_type": "lb11", "location": "fsn1",
                    "services": [{"protocol": "tcp", "listen_port": 6443, "destination_port": 6443},
                                 {"protocol": "tcp", "listen_port": 50000, "destination_port": 50000}],
                    "targets": [{"type": "label_selector", "label_selector": {"selector": selector}}],
                })),
            )
            .await;
        ipv4(&lb["load_balancer"])
    }

    /// A network `name` 10.0.0.0/16 with the cloud subnet 10.0.1.0/24 in eu-central; its id.
    pub async fn network(&self, name: &str) -> i64 {
        let network = self
            .hcloud(
                "POST",
                "/networks",
                Some(json!({"name": name, "ip_range": "10.0.0.0/16",
                    "subnets": [{"type": "cloud", "ip_range": "10.0.1.0/24", "network_zone": "eu-central"}]})),
            )
            .await;
        network["network"]["id"].as_i64().expect("a network id")
    }

    /// Creates a server (cx23 unless the request names a type) in fsn1 (its node boots by itself
    /// once the create settled).
    pub async fn create_server(&self, request: &ServerRequest<'_>) -> CreatedServer {
        let labels: serde_json::Map<String, Value> = request
            .labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect();
        let server_type = request.server_type.unwrap_or("cx23");
        let mut body = json!({"name": request.name, "server_type": server_type, "location": "fsn1",
            "image": request.image, "labels": labels});
        if let Some(user_data) = &request.user_data {
            body["user_data"] = json!(user_data);
        }
        if !request.networks.is_empty() {
            body["networks"] = json!(request.networks);
        }
        let created = self.hcloud("POST", "/servers", Some(body)).await;
        CreatedServer {
            id: created["server"]["id"].as_i64().expect("a server id"),
            ip: ipv4(&created["server"]),
        }
    }

    /// Polls `check` every 50 ms (at most 400 times), listing servers in between so the sim
    /// settles actions, until it gives a value.
    ///
    /// # Panics
    /// When it never does, naming `what`.
    pub async fn eventually<T, F, Fut>(&self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        for _ in 0..400 {
            self.hcloud("GET", "/servers", None).await;
            if let Some(value) = check().await {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}");
    }
}

/// The public IPv4 of a server or load balancer object.
fn ipv4(object: &Value) -> Ipv4Addr {
    object["public_net"]["ipv4"]["ip"]
        .as_str()
        .and_then(|ip| ip.parse().ok())
        .unwrap_or_else(|| panic!("no public IPv4 in {object}"))
}
