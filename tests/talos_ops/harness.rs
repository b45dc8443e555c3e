//! A cluster on hk8s-sim for the `talos::ops` tests: a load balancer (6443 and 50000, targets by
//! the label `hk8s.io/role=controlplane`), servers created with generated configs as user data,
//! and an apid client connected to the load balancer.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use hk8s::talos::apid::{ApidClient, ClientOptions, Credentials};
use hk8s::talos::config::{ClusterInput, Cni, MachineRole, NodeInput, generate};
use hk8s::talos::ops::{
    ControlPlane, Deadline, KubeletVersions, Membership, ProbeError, bootstrap_once, wait_apid,
    wait_etcd_members,
};
use hk8s::talos::pki::certs::{ClientSpec, issue_client};
use hk8s::talos::pki::keys::KeyAlgorithm;
use hk8s::talos::secrets::SecretsBundle;
use hk8s_sim::testing::{ServerRequest, TestSim};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// A budget generous enough for any step under instant latency; a hang still ends the test.
pub const STEP: Duration = Duration::from_secs(60);

/// One server of the test cluster.
#[derive(Debug, Clone)]
pub struct Server {
    pub id: i64,
    pub name: String,
    pub ip: IpAddr,
    pub role: MachineRole,
}

impl Server {
    pub fn control_plane(&self) -> ControlPlane {
        ControlPlane::new(self.name.clone(), self.ip)
    }
}

pub struct Cluster {
    /// The sim (the shared test builder's).
    pub sim: TestSim,
    pub secrets: SecretsBundle,
    pub input: ClusterInput,
    pub lb_ip: Ipv4Addr,
    pub talos: ApidClient,
    pub servers: Vec<Server>,
}

/// A budget of `timeout` with a fresh token, and checks of at most a second (loopback answers
/// at once; an absent node should not hold a test up).
pub fn budget(timeout: Duration) -> Deadline {
    Deadline::after(timeout)
        .with_cancel(CancellationToken::new())
        .with_check_timeout(Duration::from_secs(1))
}

impl Cluster {
    /// Starts a sim on `127.<block>.0.1…` with snapshots of `versions`, and the load balancer.
    /// Nodes run `talos_version` unless [`Cluster::add`] says otherwise.
    pub async fn start(block: u8, versions: &[&str], talos_version: &str) -> Self {
        Self::start_with(block, versions, talos_version, |_| {}).await
    }

    /// [`Cluster::start`] with the sim's configuration adjusted by `adjust` (e.g. latency).
    pub async fn start_with(
        block: u8,
        versions: &[&str],
        talos_version: &str,
        adjust: impl FnOnce(&mut hk8s_sim::SimConfig),
    ) -> Self {
        assert!(
            (60..=69).contains(&block),
            "talos_ops tests own 127.60–127.69"
        );
        let sim = TestSim::start(block, versions, adjust).await;
        let lb_ip = sim
            .api_load_balancer("ops-api", "hk8s.io/role=controlplane")
            .await;
        let secrets = SecretsBundle::from_yaml(include_str!(
            "../../src/talos/testdata/talosctl-secrets.yaml"
        ))
        .unwrap();
        let input = ClusterInput {
            name: "ops".into(),
            endpoint: format!("https://{lb_ip}:6443"),
            talos_version: talos_version.parse().unwrap(),
            kubernetes_version: "1.35.0".parse().unwrap(),
            node_subnet: "10.0.1.0/24".parse().unwrap(),
            pod_cidr: "10.244.0.0/16".parse().unwrap(),
            service_cidr: "10.96.0.0/12".parse().unwrap(),
            cert_sans: vec![lb_ip.to_string()],
            cni: Cni::Flannel,
            allow_workloads_on_control_plane: false,
            private_interface: "eth1".into(),
            disk_encryption: true,
        };
        let admin = issue_client(
            &secrets.os_ca,
            &ClientSpec {
                common_name: None,
                organizations: &["os:admin".to_string()],
                algorithm: KeyAlgorithm::Ed25519,
                not_before: time::OffsetDateTime::now_utc() - time::Duration::hours(1),
                validity: time::Duration::days(1),
            },
            &mut rand::rng(),
        )
        .unwrap();
        let credentials = Credentials::Admin {
            ca: secrets.os_ca.cert_pem.clone().into_bytes(),
            crt: admin.cert_pem.into_bytes(),
            key: admin.key_pem.into_bytes(),
        };
        let talos = ApidClient::connect(
            SocketAddr::new(IpAddr::V4(lb_ip), 50000),
            &credentials,
            ClientOptions::default(),
        )
        .await
        .unwrap();
        Self {
            sim,
            secrets,
            input,
            lb_ip,
            talos,
            servers: Vec::new(),
        }
    }

    /// The machine config of node `name` for `input` and node labels.
    pub fn config_with(
        &self,
        input: &ClusterInput,
        name: &str,
        role: MachineRole,
        labels: BTreeMap<String, String>,
    ) -> String {
        generate(&self.secrets, input, &node_input(name, role, labels))
            .unwrap()
            .to_yaml()
            .unwrap()
    }

    /// Creates a server booting Talos `version` with its generated config as user data, and
    /// lets the sim settle the create (the node then boots by itself).
    pub async fn add(&mut self, name: &str, role: MachineRole, version: &str) -> Server {
        let mut input = self.input.clone();
        input.talos_version = version.parse().unwrap();
        let user_data = generate(
            &self.secrets,
            &input,
            &node_input(name, role, BTreeMap::new()),
        )
        .unwrap()
        .to_user_data()
        .unwrap();
        let image = self.sim.talos_image(version).await;
        let created = self
            .sim
            .create_server(&ServerRequest {
                name,
                image,
                user_data: Some(user_data),
                labels: vec![("hk8s.io/role", role.talos_type())],
                ..ServerRequest::default()
            })
            .await;
        self.sim.hcloud("GET", "/servers", None).await; // settles create_server and start_server
        let server = Server {
            id: created.id,
            name: name.into(),
            ip: IpAddr::V4(created.ip),
            role,
        };
        self.servers.push(server.clone());
        server
    }

    /// A bootstrapped cluster of `count` control planes named `ops-cp-N` running `version`,
    /// every one of them an etcd member.
    pub async fn with_control_planes(
        block: u8,
        versions: &[&str],
        version: &str,
        count: usize,
    ) -> Self {
        let mut cluster = Self::start(block, versions, version).await;
        for n in 1..=count {
            cluster
                .add(&format!("ops-cp-{n}"), MachineRole::ControlPlane, version)
                .await;
        }
        wait_apid(&cluster.talos, &cluster.ips(), &budget(STEP))
            .await
            .unwrap();
        bootstrap_once(&cluster.talos, &cluster.ips(), &budget(STEP))
            .await
            .unwrap();
        wait_etcd_members(
            &cluster.talos,
            &cluster.control_planes(),
            Membership::Exactly,
            &budget(STEP),
        )
        .await
        .unwrap();
        cluster
    }

    /// Deletes a server behind the cluster's back (its etcd member stays, dead) and waits until
    /// the sim has dropped its node.
    pub async fn delete_server(&mut self, server: &Server) {
        self.sim
            .hcloud("DELETE", &format!("/servers/{}", server.id), None)
            .await;
        self.sim.hcloud("GET", "/servers", None).await;
        self.servers.retain(|s| s.id != server.id);
        self.sim_node_until(&server.name, |node| node.is_none())
            .await;
    }

    /// Powers a server off behind the cluster's back (its etcd member stays, unreachable) and
    /// waits until the sim has taken its node down.
    pub async fn power_off(&self, server: &Server) {
        self.sim
            .hcloud(
                "POST",
                &format!("/servers/{}/actions/poweroff", server.id),
                Some(json!({})),
            )
            .await;
        self.sim.hcloud("GET", "/servers", None).await; // settles the action
        self.sim_node_until(&server.name, |node| {
            node.is_some_and(|n| n["mode"] == "down")
        })
        .await;
    }

    /// Polls the sim's view of node `name` (bounded) until `done` holds for it.
    pub async fn sim_node_until(
        &self,
        name: &str,
        done: impl Fn(Option<&Value>) -> bool,
    ) -> Option<Value> {
        for _ in 0..400 {
            let nodes = self.sim_nodes().await;
            if done(nodes.get(name)) {
                return nodes.get(name).cloned();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the sim's node {name} never reached the expected state");
    }

    /// The sim's view of the Talos nodes (`/_sim/state`'s `talos_nodes`), by server name.
    pub async fn sim_nodes(&self) -> BTreeMap<String, Value> {
        let state = self.sim.state().await;
        let servers: BTreeMap<i64, String> = state["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["id"].as_i64().unwrap(),
                    s["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        state["talos_nodes"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|n| {
                let name = servers.get(&n["server_id"].as_i64()?)?.clone();
                Some((name, n.clone()))
            })
            .collect()
    }

    pub fn control_planes(&self) -> Vec<ControlPlane> {
        self.servers
            .iter()
            .filter(|s| s.role == MachineRole::ControlPlane)
            .map(Server::control_plane)
            .collect()
    }

    pub fn ips(&self) -> Vec<IpAddr> {
        self.servers.iter().map(|s| s.ip).collect()
    }

    /// The Kubernetes API through the load balancer, with the admin kubeconfig from Talos.
    pub async fn kubernetes(&self) -> Kubernetes {
        let cp = self.control_planes()[0].ip;
        let text = self.talos.node(cp).kubeconfig().await.unwrap();
        let kubeconfig: Value = serde_saphyr::from_slice(&text).unwrap();
        let server = kubeconfig["clusters"][0]["cluster"]["server"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(server, format!("https://{}:6443", self.lb_ip));
        let decode = |k: &str| {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.decode(k).unwrap()
        };
        let cluster = &kubeconfig["clusters"][0]["cluster"];
        let user = &kubeconfig["users"][0]["user"];
        let ca = reqwest::Certificate::from_pem(&decode(
            cluster["certificate-authority-data"].as_str().unwrap(),
        ))
        .unwrap();
        let mut identity = decode(user["client-certificate-data"].as_str().unwrap());
        identity.extend(decode(user["client-key-data"].as_str().unwrap()));
        let http = reqwest::Client::builder()
            .tls_certs_only([ca])
            .identity(reqwest::Identity::from_pem(&identity).unwrap())
            .build()
            .unwrap();
        Kubernetes { http, base: server }
    }
}

fn node_input(name: &str, role: MachineRole, labels: BTreeMap<String, String>) -> NodeInput {
    NodeInput {
        role,
        hostname: Some(name.into()),
        labels,
        taints: vec![],
        cert_sans: vec![],
    }
}

/// The Kubernetes API of the cluster, as its admin.
pub struct Kubernetes {
    http: reqwest::Client,
    base: String,
}

impl Kubernetes {
    /// `GET path`, `None` on 404.
    pub async fn get(&self, path: &str) -> Result<Option<Value>, reqwest::Error> {
        let resp = self.http.get(format!("{}{path}", self.base)).send().await?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(resp.error_for_status()?.json().await?))
    }
}

impl KubeletVersions for Kubernetes {
    async fn kubelet_version(&self, node_name: &str) -> Result<Option<String>, ProbeError> {
        let node = self.get(&format!("/api/v1/nodes/{node_name}")).await?;
        Ok(node.and_then(|n| {
            n["status"]["nodeInfo"]["kubeletVersion"]
                .as_str()
                .map(str::to_owned)
        }))
    }
}
