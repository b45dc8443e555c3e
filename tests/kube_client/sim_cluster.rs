//! A Talos cluster in an in-process hk8s-sim, brought up as the provider does: servers from the
//! seeded Talos snapshot with configs from `hk8s::talos::config::generate`, an API load balancer,
//! bootstrap over apid through the load balancer, and the admin kubeconfig read over apid. Each
//! test passes its own loopback block (`SimConfig.public_ipv4_base`) so sims run side by side on
//! the nominal ports 50000 and 6443.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use hk8s::kube::{Deadline, KubeClient, KubeCredentials, KubeOptions};
use hk8s::talos::apid::{ApidClient, ClientOptions, Credentials};
use hk8s::talos::config::{
    ClusterInput, Cni, MachineRole, NodeInput, Taint, TaintEffect, generate,
};
use hk8s::talos::pki::certs::{ClientSpec, issue_client};
use hk8s::talos::pki::keys::KeyAlgorithm;
use hk8s::talos::secrets::SecretsBundle;
use hk8s_sim::testing::{ServerRequest, TestSim};

const TALOS_VERSION: &str = "v1.13.9";

/// A running simulated cluster.
pub struct SimCluster {
    /// The sim (the shared test builder's; shut down by the test).
    pub sim: TestSim,
    /// Credentials from the kubeconfig Talos returned.
    pub credentials: KubeCredentials,
    /// The cluster's secrets (to mint other identities).
    pub secrets: SecretsBundle,
    /// Servers as `(id, name, role)`, control planes first.
    pub servers: Vec<(i64, String, MachineRole)>,
}

impl SimCluster {
    /// Names of every node.
    pub fn node_names(&self) -> Vec<String> {
        self.servers.iter().map(|(_, n, _)| n.clone()).collect()
    }

    /// A client for the cluster with the admin kubeconfig's credentials.
    pub fn client(&self) -> KubeClient {
        KubeClient::new(&self.credentials, KubeOptions::default()).unwrap()
    }
}

/// Starts a sim handing out public IPs from `first_ip` and brings up cluster `name` with
/// `control_planes` control-plane and `workers` worker nodes, all Ready.
pub async fn start(
    name: &str,
    first_ip: Ipv4Addr,
    control_planes: usize,
    workers: usize,
) -> SimCluster {
    let sim = TestSim::start(first_ip.octets()[1], &[TALOS_VERSION], |config| {
        config.public_ipv4_base = first_ip;
    })
    .await;
    let image = sim.talos_image(TALOS_VERSION).await;
    let lb_ip = sim
        .api_load_balancer(
            &format!("{name}-api"),
            &format!("hk8s.io/cluster={name},hk8s.io/role=controlplane"),
        )
        .await;

    let secrets = SecretsBundle::from_yaml(include_str!(
        "../../src/talos/testdata/talosctl-secrets.yaml"
    ))
    .unwrap();
    let cluster = ClusterInput {
        name: name.into(),
        endpoint: format!("https://{lb_ip}:6443"),
        talos_version: TALOS_VERSION.parse().unwrap(),
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
    let roles = std::iter::repeat_n(MachineRole::ControlPlane, control_planes)
        .map(|r| (r, "cp"))
        .chain(std::iter::repeat_n(MachineRole::Worker, workers).map(|r| (r, "worker")));
    let mut counters = BTreeMap::<&str, usize>::new();
    let mut servers = Vec::new();
    let mut ips = Vec::new();
    for (role, short) in roles {
        let index = counters.entry(short).or_default();
        *index += 1;
        let hostname = format!("{name}-{short}-{index}");
        let node = NodeInput {
            role,
            hostname: Some(hostname.clone()),
            labels: BTreeMap::from([("example.com/pool".to_string(), short.to_string())]),
            taints: if role == MachineRole::Worker {
                vec![Taint {
                    key: "dedicated".into(),
                    value: Some("batch".into()),
                    effect: TaintEffect::NoSchedule,
                }]
            } else {
                vec![]
            },
            cert_sans: vec![],
        };
        let user_data = generate(&secrets, &cluster, &node)
            .unwrap()
            .to_user_data()
            .unwrap();
        let created = sim
            .create_server(&ServerRequest {
                name: &hostname,
                image,
                user_data: Some(user_data),
                labels: vec![
                    ("hk8s.io/cluster", name),
                    ("hk8s.io/role", role.talos_type()),
                ],
                ..ServerRequest::default()
            })
            .await;
        servers.push((created.id, hostname, role));
        ips.push(created.ip);
    }

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
    let talos = ApidClient::connect(
        SocketAddr::new(IpAddr::V4(lb_ip), hk8s_sim::talos::Ports::default().apid),
        &Credentials::Admin {
            ca: secrets.os_ca.cert_pem.clone().into_bytes(),
            crt: admin.cert_pem.into_bytes(),
            key: admin.key_pem.into_bytes(),
        },
        ClientOptions::default(),
    )
    .await
    .unwrap();
    for ip in &ips {
        let ip = IpAddr::V4(*ip);
        sim.eventually("Talos API of every node", || {
            let talos = &talos;
            async move {
                talos
                    .node(ip)
                    .with_deadline(Duration::from_secs(2))
                    .version()
                    .await
                    .ok()
            }
        })
        .await;
    }
    let first = IpAddr::V4(ips[0]);
    talos.node(first).bootstrap().await.unwrap();
    sim.eventually("every etcd member", || {
        let talos = &talos;
        async move {
            talos
                .node(first)
                .etcd_members()
                .await
                .ok()
                .filter(|m| m.len() == control_planes)
        }
    })
    .await;
    let kubeconfig = talos.node(first).kubeconfig().await.unwrap();
    let credentials =
        KubeCredentials::from_kubeconfig(std::str::from_utf8(&kubeconfig).unwrap()).unwrap();
    assert_eq!(credentials.server, format!("https://{lb_ip}:6443"));
    let cluster = SimCluster {
        sim,
        credentials,
        secrets,
        servers,
    };
    let kube = cluster.client();
    let budget = Deadline::after(Duration::from_secs(60));
    kube.wait_ready(true, &budget).await.unwrap();
    kube.wait_nodes_ready(&cluster.node_names(), &budget)
        .await
        .unwrap();
    cluster
}
