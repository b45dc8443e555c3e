//! A worker joins its cluster only through its own machine configuration: the endpoint must
//! reach the cluster's API server (a load balancer in front of the control planes, or a control
//! plane's own address through its firewall), the API server's certificate must be signed by the
//! Kubernetes CA of the worker's config, and the bootstrap token must be a control plane's. A
//! worker that fails stays without a Node, the kubelet's error in `/_sim/state`. Once registered,
//! a node is Ready only when a CNI runs on it.

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::support::{Cluster, Shape, named_worker_config};

/// The golden worker config's lines this test varies.
const ENDPOINT: &str = "endpoint: https://10.0.1.254:6443";
const TOKEN: &str = "token: 9f2k3a.0123456789abcdef";

fn kubernetes_ca(config: &str) -> String {
    let doc: Value = serde_saphyr::from_multiple::<Value>(config)
        .unwrap()
        .remove(0);
    doc["cluster"]["ca"]["crt"].as_str().unwrap().to_string()
}

fn os_ca(config: &str) -> String {
    let doc: Value = serde_saphyr::from_multiple::<Value>(config)
        .unwrap()
        .remove(0);
    doc["machine"]["ca"]["crt"].as_str().unwrap().to_string()
}

async fn node_status(c: &Cluster, name: &str) -> u16 {
    c.kube("GET", &format!("/api/v1/nodes/{name}"), None)
        .await
        .status
}

async fn kubelet_error(c: &Cluster, server: i64) -> String {
    c.talos_node(server).await["kubelet_error"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn workers_join_only_with_the_clusters_ca_token_and_a_reachable_endpoint() {
    let mut c = Cluster::start(
        Ipv4Addr::new(127, 47, 0, 1),
        Shape {
            workers: 1,
            flannel: true,
        },
    )
    .await;
    let cp_ip = c.ips[0];
    let lbs = c.hcloud("GET", "/load_balancers?name=prod-api", None).await;
    let lb_ip = lbs["load_balancers"][0]["public_net"]["ipv4"]["ip"]
        .as_str()
        .unwrap()
        .to_string();

    // Joins: through the load balancer's public IPv4, and straight to the control plane.
    let via_lb = named_worker_config("prod-lb-1").replacen(
        ENDPOINT,
        &format!("endpoint: https://{lb_ip}:6443"),
        1,
    );
    let via_lb = c.add_worker("prod-lb-1", "cx23", via_lb).await;
    let direct = named_worker_config("prod-direct-1").replacen(
        ENDPOINT,
        &format!("endpoint: https://{cp_ip}:6443"),
        1,
    );
    let direct = c.add_worker("prod-direct-1", "cx23", direct).await;

    // Does not join.
    let golden = named_worker_config("prod-ca-1");
    let wrong_ca = golden.replacen(&kubernetes_ca(&golden), &os_ca(&golden), 1);
    let wrong_ca = c.add_worker("prod-ca-1", "cx23", wrong_ca).await;
    let wrong_token =
        named_worker_config("prod-token-1").replacen(TOKEN, "token: abcdef.0123456789abcdef", 1);
    let wrong_token = c.add_worker("prod-token-1", "cx23", wrong_token).await;
    let nowhere = named_worker_config("prod-nowhere-1").replacen(
        ENDPOINT,
        "endpoint: https://10.0.1.77:6443",
        1,
    );
    let nowhere = c.add_worker("prod-nowhere-1", "cx23", nowhere).await;
    let dns = named_worker_config("prod-dns-1").replacen(
        ENDPOINT,
        "endpoint: https://api.prod.example:6443",
        1,
    );
    let dns = c.add_worker("prod-dns-1", "cx23", dns).await;
    let lb_wrong_port = named_worker_config("prod-port-1").replacen(
        ENDPOINT,
        &format!("endpoint: https://{lb_ip}:443"),
        1,
    );
    let lb_wrong_port = c.add_worker("prod-port-1", "cx23", lb_wrong_port).await;
    for server in [
        via_lb,
        direct,
        wrong_ca,
        wrong_token,
        nowhere,
        dns,
        lb_wrong_port,
    ] {
        c.boot(server).await;
    }

    for name in ["prod-lb-1", "prod-direct-1"] {
        assert_eq!(node_status(&c, name).await, 200, "{name} joined");
    }
    assert!(c.talos_node(via_lb).await["kubelet_error"].is_null());
    for (name, server, why) in [
        (
            "prod-ca-1",
            wrong_ca,
            "tls: failed to verify certificate: x509: certificate signed by unknown authority",
        ),
        (
            "prod-token-1",
            wrong_token,
            "cannot create certificate signing request: Unauthorized",
        ),
        (
            "prod-nowhere-1",
            nowhere,
            "dial tcp 10.0.1.77:6443: i/o timeout",
        ),
        (
            "prod-dns-1",
            dns,
            "dial tcp: lookup api.prod.example: no such host",
        ),
        (
            "prod-port-1",
            lb_wrong_port,
            &format!("dial tcp {lb_ip}:443: connect: connection refused"),
        ),
    ] {
        assert_eq!(node_status(&c, name).await, 404, "{name} has no Node");
        let error = kubelet_error(&c, server).await;
        assert!(error.contains(why), "{name}: {error}");
    }

    // A firewall on the control plane that leaves 6443 closed to the worker: the direct dial
    // times out (Hetzner drops the packets); through the load balancer it still joins.
    let firewall = c
        .hcloud(
            "POST",
            "/firewalls",
            Some(json!({"name": "prod-cp", "rules": [
                {"direction": "in", "protocol": "tcp", "port": "50000", "source_ips": ["0.0.0.0/0"]}],
                "apply_to": [{"type": "label_selector", "label_selector": {"selector": "hk8s.io/role=controlplane"}}]})),
        )
        .await;
    assert!(firewall["firewall"]["id"].is_i64());
    let blocked = named_worker_config("prod-direct-2").replacen(
        ENDPOINT,
        &format!("endpoint: https://{cp_ip}:6443"),
        1,
    );
    let blocked = c.add_worker("prod-direct-2", "cx23", blocked).await;
    c.boot(blocked).await;
    assert_eq!(node_status(&c, "prod-direct-2").await, 404);
    assert!(
        kubelet_error(&c, blocked)
            .await
            .contains(&format!("dial tcp {cp_ip}:6443: i/o timeout"))
    );
    c.stop().await;
}

#[tokio::test]
async fn a_node_is_ready_only_where_its_cni_runs() {
    let mut c = Cluster::start(
        Ipv4Addr::new(127, 48, 0, 1),
        Shape {
            workers: 1,
            flannel: false,
        },
    )
    .await;
    // A worker whose own config keeps flannel does not bring a CNI: the control planes deploy it.
    let own_flannel = named_worker_config("prod-flannel-1").replacen(
        "        cni:\n            name: none\n",
        "",
        1,
    );
    let own_flannel = c.add_worker("prod-flannel-1", "cx23", own_flannel).await;
    let arm = c
        .add_worker("prod-arm-1", "cax11", named_worker_config("prod-arm-1"))
        .await;
    c.boot(own_flannel).await;
    c.boot(arm).await;
    let ready = |node: &Value| {
        node["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    };
    let nodes = c.get("/api/v1/nodes").await;
    assert_eq!(nodes["items"].as_array().unwrap().len(), 4);
    assert!(!nodes["items"].as_array().unwrap().iter().any(ready));

    // A Cilium DaemonSet for amd64 only (on the host network, as Cilium's agent is: there is no
    // pod network yet): its pods run on the x86 nodes, which become Ready; the arm node has no
    // CNI pod and stays NotReady.
    let daemon_set = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": "cilium", "namespace": "kube-system"},
        "spec": {"selector": {"matchLabels": {"k8s-app": "cilium"}},
                 "template": {"metadata": {"labels": {"k8s-app": "cilium"}},
                              "spec": {"nodeSelector": {"kubernetes.io/arch": "amd64"}, "hostNetwork": true,
                                       "tolerations": [{"operator": "Exists"}],
                                       "containers": [{"name": "cilium-agent", "image": "quay.io/cilium/cilium"}]}}}});
    let created = c
        .kube(
            "POST",
            "/apis/apps/v1/namespaces/kube-system/daemonsets",
            Some(daemon_set),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    c.advance(3).await;
    let nodes = c.get("/api/v1/nodes").await;
    let readiness: Vec<(String, bool)> = nodes["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["metadata"]["name"].as_str().unwrap().to_string(),
                ready(n),
            )
        })
        .collect();
    assert_eq!(
        readiness,
        [
            ("prod-arm-1".to_string(), false),
            ("prod-cp-1".to_string(), true),
            ("prod-flannel-1".to_string(), true),
            ("prod-general-1".to_string(), true),
        ]
    );
    c.stop().await;
}
