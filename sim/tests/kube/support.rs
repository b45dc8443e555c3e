//! A whole cluster inside one sim, for the Kubernetes API tests: servers created through the
//! Hetzner API from the Talos snapshot, with the root crate's golden machine configs (a control
//! plane, and workers derived from the golden worker config) as user data, attached to a private
//! network; bootstrapped over apid with an `os:admin` certificate; then a Kubernetes client with
//! an `O=system:masters` certificate from the cluster's Kubernetes CA.
//!
//! Every sim runs with realistic latency on a manual clock: nothing happens until a test moves the
//! clock ([`Cluster::advance`]), so the tests do not depend on wall-clock timing. Each test gives
//! its own loopback block (`127.4x.0.1`), so sims in one process keep the nominal ports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hk8s_sim::clock::Clock;
use hk8s_sim::latency::LatencyMode;
use hk8s_sim::talos::pki;
use hk8s_sim::talos::proto::machine::BootstrapRequest;
use hk8s_sim::talos::proto::machine::machine_service_client::MachineServiceClient;
use hk8s_sim::testing::{ServerRequest, TestSim};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use serde_json::Value;
use tonic::transport::Endpoint;

const CONTROLPLANE: &str =
    include_str!("../../../src/talos/testdata/golden/v1.13-controlplane-flannel.yaml");
const WORKER: &str = include_str!("../../../src/talos/testdata/golden/v1.13-worker-cilium.yaml");

/// The CCM values of [`Cluster::install_ccm`].
pub const CCM_VALUES: &str = "networking:\n  enabled: true\n  clusterCIDR: 10.244.0.0/16\nenv:\n  HCLOUD_LOAD_BALANCERS_LOCATION:\n    value: fsn1\n  HCLOUD_LOAD_BALANCERS_USE_PRIVATE_IP:\n    value: \"true\"\n";

/// How the cluster is built.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Worker count (the control plane is always one).
    pub workers: usize,
    /// Whether flannel runs (otherwise no CNI until Cilium is installed).
    pub flannel: bool,
}

/// A running sim with one bootstrapped cluster.
pub struct Cluster {
    /// The sim (the shared test builder's).
    pub sim: TestSim,
    clock: Clock,
    kube: reqwest::Client,
    kube_base: String,
    /// The private network the servers are attached to.
    pub network: i64,
    /// `(server id, hostname)`: the control plane first, then the workers.
    pub servers: Vec<(i64, String)>,
    /// Public IPv4 of each server, in the order of `servers`.
    pub ips: Vec<Ipv4Addr>,
}

/// A reply from the Kubernetes API.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// JSON body (Null when not JSON).
    pub body: Value,
}

fn config_value(yaml: &str, path: &[&str]) -> String {
    let doc: Value = serde_saphyr::from_multiple::<Value>(yaml)
        .unwrap()
        .remove(0);
    let field = path
        .iter()
        .fold(&doc, |v, k| &v[*k])
        .as_str()
        .unwrap()
        .to_string();
    pki::unwrap_base64_pem(&field, "pem").unwrap()
}

fn admin_tls() -> Arc<ClientConfig> {
    let crt = config_value(CONTROLPLANE, &["machine", "ca", "crt"]);
    let key = config_value(CONTROLPLANE, &["machine", "ca", "key"]);
    let (client_crt, client_key) = pki::issue_client(&crt, &key, "", "os:admin").unwrap();
    let mut roots = RootCertStore::empty();
    roots
        .add(pki::certificate_der(&crt, "ca").unwrap())
        .unwrap();
    let key = PrivateKeyDer::try_from(pki::decode_pem(&client_key, "key").unwrap().der).unwrap();
    let mut c = ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_client_auth_cert(
        vec![pki::certificate_der(&client_crt, "client").unwrap()],
        key,
    )
    .unwrap();
    c.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(c)
}

/// An `os:admin` MachineService client of the node at `addr`.
pub async fn apid(
    addr: SocketAddr,
) -> Result<MachineServiceClient<tonic::transport::Channel>, String> {
    let tls = admin_tls();
    let channel = Endpoint::from_static("http://talos")
        .connect_timeout(Duration::from_secs(2))
        .connect_with_connector(tower::service_fn(move |_| {
            let tls = tls.clone();
            async move {
                let tcp = tokio::net::TcpStream::connect(addr).await?;
                let name = ServerName::IpAddress(addr.ip().into());
                let stream = tokio_rustls::TlsConnector::from(tls)
                    .connect(name, tcp)
                    .await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
        .map_err(|e| e.to_string())?;
    Ok(MachineServiceClient::new(channel))
}

async fn bootstrap(addr: SocketAddr) -> Result<(), String> {
    apid(addr)
        .await?
        .bootstrap(BootstrapRequest::default())
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The golden worker config as worker `i` of pool `general`, without its taint.
pub fn worker_config(i: usize) -> String {
    named_worker_config(&format!("prod-general-{i}"))
}

/// The golden worker config with hostname `name`, without its taint.
pub fn named_worker_config(name: &str) -> String {
    WORKER
        .replacen("hostname: prod-general-1", &format!("hostname: {name}"), 1)
        .replacen(
            "    nodeTaints:\n        dedicated: batch:NoSchedule\n",
            "",
            1,
        )
}

impl Cluster {
    /// Builds and bootstraps a cluster in a sim whose public IPv4s start at `base`.
    pub async fn start(base: Ipv4Addr, shape: Shape) -> Cluster {
        Cluster::start_with(base, shape, "").await
    }

    /// [`Cluster::start`] with a `--faults` spec (of faults the harness itself does not meet:
    /// it never watches).
    pub async fn start_with(base: Ipv4Addr, shape: Shape, faults: &str) -> Cluster {
        let clock = Clock::manual();
        let sim_clock = clock.clone();
        let sim = TestSim::start(base.octets()[1], &["v1.13.9"], |config| {
            config.public_ipv4_base = base;
            config.latency = LatencyMode::Realistic;
            config.clock = sim_clock;
            config.faults = faults.parse().expect("fault spec");
        })
        .await;
        let mut cluster = Cluster {
            sim,
            clock,
            kube: reqwest::Client::new(),
            kube_base: String::new(),
            network: 0,
            servers: Vec::new(),
            ips: Vec::new(),
        };
        cluster.network = cluster.sim.network("prod").await;
        cluster.api_load_balancer().await;
        let image = cluster.sim.talos_image("v1.13.9").await;
        let mut controlplane = CONTROLPLANE.to_string();
        if !shape.flannel {
            controlplane = controlplane.replacen(
                "        dnsDomain: cluster.local\n",
                "        cni:\n            name: none\n        dnsDomain: cluster.local\n",
                1,
            );
        }
        let mut configs = vec![("prod-cp-1".to_string(), controlplane)];
        for i in 1..=shape.workers {
            configs.push((format!("prod-general-{i}"), worker_config(i)));
        }
        let mut cp_ip = Ipv4Addr::UNSPECIFIED;
        for (name, user_data) in configs {
            let role = if name.starts_with("prod-cp-") {
                "controlplane"
            } else {
                "worker"
            };
            let ip = cluster
                .sim
                .create_server(&ServerRequest {
                    name: &name,
                    image,
                    user_data: Some(user_data),
                    networks: vec![cluster.network],
                    labels: vec![("hk8s.io/role", role)],
                    ..ServerRequest::default()
                })
                .await;
            let (id, ip) = (ip.id, ip.ip);
            if cp_ip.is_unspecified() {
                cp_ip = ip;
            }
            cluster.ips.push(ip);
            cluster.servers.push((id, name));
        }
        let expected = cluster.servers.len();
        let mut last = String::new();
        let mut bootstrapped = false;
        for _ in 0..100 {
            cluster.advance(15).await;
            let state = cluster.state().await;
            let configured = state["talos_nodes"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|n| n["mode"] == "configured")
                .count();
            if configured < expected {
                last = format!("{configured}/{expected} nodes configured");
                continue;
            }
            if !bootstrapped {
                match bootstrap(SocketAddr::new(IpAddr::V4(cp_ip), 50000)).await {
                    Ok(()) => bootstrapped = true,
                    Err(e) => {
                        last = format!("bootstrap: {e}");
                        continue;
                    }
                }
            }
            if state["kubernetes"][0]["nodes"]
                .as_array()
                .is_some_and(|n| n.len() == expected)
            {
                break;
            }
            last = format!("kubernetes: {}", state["kubernetes"]);
        }
        assert!(bootstrapped, "cluster never bootstrapped: {last}");
        let ca = config_value(CONTROLPLANE, &["cluster", "ca", "crt"]);
        let ca_key = config_value(CONTROLPLANE, &["cluster", "ca", "key"]);
        let (crt, key) = pki::issue_client(&ca, &ca_key, "admin", "system:masters").unwrap();
        cluster.kube = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(ca.as_bytes()).unwrap()])
            .identity(reqwest::Identity::from_pem(format!("{crt}{key}").as_bytes()).unwrap())
            .build()
            .unwrap();
        cluster.kube_base = format!("https://{cp_ip}:6443");
        let nodes = cluster.kube("GET", "/api/v1/nodes", None).await;
        assert_eq!(nodes.status, 200, "{:?}", nodes.body);
        assert_eq!(nodes.body["items"].as_array().unwrap().len(), expected);
        cluster
    }

    /// The API load balancer at the golden configs' endpoint, `https://10.0.1.254:6443`: its
    /// private IP in the cluster network, forwarding 6443 and 50000 to the control planes.
    async fn api_load_balancer(&self) {
        let lb = self
            .hcloud(
                "POST",
                "/load_balancers",
                Some(serde_json::json!({
                    "name": "prod-api", "load_balancer_type": "lb11", "location": "fsn1",
                    "services": [{"protocol": "tcp", "listen_port": 6443, "destination_port": 6443},
                                 {"protocol": "tcp", "listen_port": 50000, "destination_port": 50000}],
                    "targets": [{"type": "label_selector",
                                 "label_selector": {"selector": "hk8s.io/role=controlplane"}}],
                })),
            )
            .await;
        let id = lb["load_balancer"]["id"]
            .as_i64()
            .expect("a load balancer id");
        self.advance(20).await;
        self.hcloud(
            "POST",
            &format!("/load_balancers/{id}/actions/attach_to_network"),
            Some(serde_json::json!({"network": self.network, "ip": "10.0.1.254"})),
        )
        .await;
        self.advance(10).await;
    }

    /// Creates a worker server `name` of `server_type` (booting the Talos snapshot of its
    /// architecture) with `user_data`, attached to the cluster's network; its server id.
    pub async fn add_worker(&mut self, name: &str, server_type: &str, user_data: String) -> i64 {
        let types = self
            .hcloud("GET", &format!("/server_types?name={server_type}"), None)
            .await;
        let arch = types["server_types"][0]["architecture"]
            .as_str()
            .expect("a server type with an architecture")
            .to_string();
        let image = self.sim.talos_image_for("v1.13.9", &arch).await;
        let created = self
            .sim
            .create_server(&ServerRequest {
                name,
                image,
                user_data: Some(user_data),
                networks: vec![self.network],
                server_type: Some(server_type),
                labels: vec![("hk8s.io/role", "worker")],
            })
            .await;
        self.servers.push((created.id, name.to_string()));
        self.ips.push(created.ip);
        created.id
    }

    /// Advances the clock until `/_sim/state` shows the Talos node of `server` configured (its
    /// boot over), then once more for its kubelet; the node's `talos_nodes` entry.
    pub async fn boot(&self, server: i64) -> Value {
        for _ in 0..20 {
            self.advance(15).await;
            let state = self.state().await;
            let node = state["talos_nodes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|n| n["server_id"] == server)
                .cloned();
            if let Some(node) = node
                && node["mode"] == "configured"
            {
                self.advance(1).await;
                return node;
            }
        }
        panic!("server {server} never booted into its configuration");
    }

    /// The `talos_nodes` entry of a server in `/_sim/state`.
    pub async fn talos_node(&self, server: i64) -> Value {
        self.state().await["talos_nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["server_id"] == server)
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Moves the sim clock forward and lets the sim settle (a Hetzner request settles actions;
    /// the Talos loop runs every 25 ms of real time).
    pub async fn advance(&self, seconds: u64) {
        self.clock.advance(Duration::from_secs(seconds));
        self.hcloud("GET", "/servers", None).await;
        tokio::time::sleep(Duration::from_millis(60)).await;
    }

    /// A Hetzner API call that must succeed.
    pub async fn hcloud(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.sim.hcloud(method, path, body).await
    }

    /// `/_sim/state`.
    pub async fn state(&self) -> Value {
        self.sim.state().await
    }

    /// A kubeconfig for the cluster's API (through the control plane) with a fresh
    /// `system:masters` client certificate, for clients outside this process.
    pub fn kubeconfig(&self) -> String {
        use base64::Engine;
        let b64 = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
        let ca = config_value(CONTROLPLANE, &["cluster", "ca", "crt"]);
        let ca_key = config_value(CONTROLPLANE, &["cluster", "ca", "key"]);
        let (crt, key) = pki::issue_client(&ca, &ca_key, "admin", "system:masters").unwrap();
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: {}\n    certificate-authority-data: {}\nusers:\n- name: admin\n  user:\n    client-certificate-data: {}\n    client-key-data: {}\ncontexts:\n- name: admin@prod\n  context:\n    cluster: prod\n    user: admin\ncurrent-context: admin@prod\n",
            self.kube_base,
            b64(&ca),
            b64(&crt),
            b64(&key)
        )
    }

    /// A Kubernetes API call with a JSON body (merge patch for PATCH).
    pub async fn kube(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let mut req = self
            .kube
            .request(method.parse().unwrap(), format!("{}{path}", self.kube_base));
        if let Some(b) = body {
            let content_type = if method == "PATCH" {
                "application/merge-patch+json"
            } else {
                "application/json"
            };
            req = req.header("content-type", content_type).body(b.to_string());
        }
        send(req).await
    }

    /// A request with a raw body of `content_type` (what a client that is not JSON sends).
    pub async fn kube_raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let req = self
            .kube
            .request(method.parse().unwrap(), format!("{}{path}", self.kube_base))
            .header("content-type", content_type)
            .body(body);
        send(req).await
    }

    /// Server-side apply of a YAML document.
    pub async fn apply(&self, path: &str, manager: &str, force: bool, yaml: &str) -> Reply {
        let req = self
            .kube
            .patch(format!(
                "{}{path}?fieldManager={manager}&force={force}",
                self.kube_base
            ))
            .header("content-type", "application/apply-patch+yaml")
            .body(yaml.to_string());
        send(req).await
    }

    /// GET of a text reply (pod logs), which must succeed.
    pub async fn text(&self, path: &str) -> String {
        let reply = self
            .kube
            .get(format!("{}{path}", self.kube_base))
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status().as_u16(), 200, "GET {path}");
        reply.text().await.unwrap()
    }

    /// A GET whose reply is read as it streams (a watch); its status is the caller's to check.
    pub async fn stream(&self, path: &str) -> reqwest::Response {
        self.kube
            .get(format!("{}{path}", self.kube_base))
            .send()
            .await
            .unwrap()
    }

    /// GET that must succeed.
    pub async fn get(&self, path: &str) -> Value {
        let reply = self.kube("GET", path, None).await;
        assert_eq!(reply.status, 200, "GET {path}: {:?}", reply.body);
        reply.body
    }

    /// Installs (or upgrades) a chart of the sim's catalog through a HelmChart in kube-system
    /// with `values` (YAML, `valuesContent`), deploying helm-controller first when needed, and
    /// lets its install job finish (whether it succeeded or not: the caller checks what it did).
    pub async fn install_chart_with(&self, chart: &str, values: &str) {
        // Each chart from its publisher's repository: helm finds no other chart there.
        let repo = match chart {
            "cilium" => "https://helm.cilium.io/",
            "metrics-server" => "https://kubernetes-sigs.github.io/metrics-server/",
            "kubelet-csr-approver" => "https://postfinance.github.io/kubelet-csr-approver",
            "cluster-autoscaler" => "https://kubernetes.github.io/autoscaler",
            _ => "https://charts.hetzner.cloud",
        };
        if self
            .kube("GET", "/apis/helm.cattle.io/v1", None)
            .await
            .status
            != 200
        {
            self.deploy_helm_controller().await;
        }
        self.apply_object(&serde_json::json!({"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
            "metadata": {"name": chart, "namespace": "kube-system"},
            "spec": {"chart": chart, "repo": repo, "targetNamespace": "kube-system", "backOffLimit": 2,
                     "valuesContent": values}}))
            .await;
        self.advance(1).await;
        self.wait_job(&format!("helm-install-{chart}")).await;
        self.advance(5).await;
    }

    /// Server-side applies a JSON object (Namespaces, ServiceAccounts, Secrets, Deployments,
    /// Jobs, ClusterRoleBindings, HelmCharts); the reply must be a success.
    pub async fn apply_object(&self, object: &Value) -> Value {
        let (gv, kind) = (
            object["apiVersion"].as_str().unwrap(),
            object["kind"].as_str().unwrap(),
        );
        let resource = format!("{}s", kind.to_lowercase());
        let base = if gv == "v1" {
            "/api/v1".to_string()
        } else {
            format!("/apis/{gv}")
        };
        let name = object["metadata"]["name"].as_str().unwrap();
        let path = match object["metadata"]["namespace"].as_str() {
            Some(ns) => format!("{base}/namespaces/{ns}/{resource}/{name}"),
            None => format!("{base}/{resource}/{name}"),
        };
        let reply = self.apply(&path, "hk8s", true, &object.to_string()).await;
        assert!(
            reply.status == 200 || reply.status == 201,
            "apply {path}: {} {:?}",
            reply.status,
            reply.body
        );
        reply.body
    }

    /// Deploys helm-controller as the provider does and waits until it created its CRDs.
    pub async fn deploy_helm_controller(&self) {
        for object in hk8s_sim::testing::helm_controller_objects() {
            self.apply_object(&object).await;
        }
        for _ in 0..20 {
            if self
                .kube("GET", "/apis/helm.cattle.io/v1", None)
                .await
                .status
                == 200
            {
                return;
            }
            self.advance(1).await;
        }
        panic!("helm-controller never created its CRDs");
    }

    /// Lets the sim run until Job `name` in kube-system has finished; its `Complete` condition.
    pub async fn wait_job(&self, name: &str) -> bool {
        for _ in 0..60 {
            let reply = self
                .kube(
                    "GET",
                    &format!("/apis/batch/v1/namespaces/kube-system/jobs/{name}"),
                    None,
                )
                .await;
            let finished = reply.body["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| {
                    (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True"
                });
            if let Some(c) = finished {
                return c["type"] == "Complete";
            }
            self.advance(2).await;
        }
        let pods = self
            .get(&format!(
                "/api/v1/namespaces/kube-system/pods?labelSelector=job-name%3D{name}"
            ))
            .await;
        let job = self
            .kube(
                "GET",
                &format!("/apis/batch/v1/namespaces/kube-system/jobs/{name}"),
                None,
            )
            .await;
        panic!("job {name} never finished: {:?}\n{pods}", job.body);
    }

    /// Lets the sim run until `path` answers 404.
    pub async fn wait_gone(&self, path: &str) {
        for _ in 0..60 {
            if self.kube("GET", path, None).await.status == 404 {
                return;
            }
            self.advance(2).await;
        }
        panic!("{path} never went away");
    }

    /// Installs Cilium as the provider does before any CNI runs: a one-shot klipper-helm Job on
    /// the host network (helm-controller's own jobs cannot get a pod network yet).
    pub async fn bootstrap_cilium(&self) {
        let values = "ipam:\n  mode: kubernetes\nkubeProxyReplacement: true\nk8sServiceHost: localhost\nk8sServicePort: 7445\noperator:\n  replicas: 1\n";
        self.apply_object(&serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "hk8s-bootstrap-cilium-values", "namespace": "kube-system"},
            "data": {"values-01_HelmChart.yaml": pki::base64_of(values)}}))
            .await;
        self.apply_object(&serde_json::json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "hk8s-bootstrap-cilium", "namespace": "kube-system"},
            "spec": {"backoffLimit": 3, "template": {"spec": {
                "restartPolicy": "OnFailure", "hostNetwork": true, "serviceAccountName": "helm-controller",
                "tolerations": hk8s_sim::testing::bootstrap_tolerations(),
                "containers": [{"name": "helm", "image": hk8s_sim::testing::KLIPPER_HELM_IMAGE,
                    "args": ["install", "--namespace", "kube-system", "--version", "1.18.4"],
                    "env": [{"name": "NAME", "value": "cilium"}, {"name": "CHART", "value": "cilium/cilium"},
                            {"name": "VERSION", "value": "1.18.4"}, {"name": "REPO", "value": "https://helm.cilium.io/"},
                            {"name": "TARGET_NAMESPACE", "value": "kube-system"}, {"name": "CHART_NAMESPACE", "value": "kube-system"},
                            {"name": "HELM_DRIVER", "value": "secret"}],
                    "volumeMounts": [{"name": "values", "mountPath": "/config"}]}],
                "volumes": [{"name": "values", "secret": {"secretName": "hk8s-bootstrap-cilium-values"}}]}}}}))
            .await;
        self.advance(1).await;
        assert!(
            self.wait_job("hk8s-bootstrap-cilium").await,
            "the Cilium bootstrap job failed"
        );
        self.advance(5).await;
    }

    /// Creates or replaces Secret `kube-system/<name>` with `data` (base64-encoded here, as the
    /// API server stores it).
    pub async fn secret(&self, name: &str, data: &[(&str, &str)]) {
        use base64::Engine;
        let encoded: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    Value::String(base64::engine::general_purpose::STANDARD.encode(v)),
                )
            })
            .collect();
        let secret = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": "kube-system"}, "type": "Opaque", "data": encoded});
        // As a client must: create, and replace when it exists (an update does not create).
        let mut reply = self
            .kube(
                "POST",
                "/api/v1/namespaces/kube-system/secrets",
                Some(secret.clone()),
            )
            .await;
        if reply.status == 409 {
            reply = self
                .kube(
                    "PUT",
                    &format!("/api/v1/namespaces/kube-system/secrets/{name}"),
                    Some(secret),
                )
                .await;
        }
        assert!(matches!(reply.status, 200 | 201), "{:?}", reply.body);
    }

    /// The hcloud CCM as the provider installs it: Secret `hcloud` with the sim's token and the
    /// cluster network's id, the chart with networking for the pod CIDR and balancers in fsn1.
    pub async fn install_ccm(&self) {
        self.secret(
            "hcloud",
            &[
                ("token", hk8s_sim::testing::TOKEN),
                ("network", &self.network.to_string()),
            ],
        )
        .await;
        self.install_chart_with("hcloud-cloud-controller-manager", CCM_VALUES)
            .await;
    }

    /// Names of the items of a list.
    pub async fn names(&self, path: &str) -> Vec<String> {
        let mut names: Vec<String> = self.get(path).await["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    }

    /// Stops the sim.
    pub async fn stop(self) {
        self.sim.handle.shutdown().await.unwrap();
    }
}

async fn send(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}
