//! The metrics API (`kubectl top`): absent without metrics-server, 503 while metrics-server
//! cannot scrape the kubelets (the golden configs rotate kubelet serving certificates, which
//! nobody approves yet), served once a serving-certificate approver approves them.

use std::net::Ipv4Addr;

use serde_json::Value;

use super::support::{Cluster, Shape};

const NODES: &str = "/apis/metrics.k8s.io/v1beta1/nodes";

async fn groups(c: &Cluster) -> Vec<String> {
    c.get("/apis").await["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_string())
        .collect()
}

fn nanocores(usage: &Value) -> u64 {
    usage["cpu"]
        .as_str()
        .and_then(|c| c.strip_suffix('n'))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("cpu in nanocores: {usage}"))
}

#[tokio::test]
async fn metrics_need_metrics_server_and_approved_kubelet_certificates() {
    let c = Cluster::start(
        Ipv4Addr::new(127, 48, 0, 1),
        Shape {
            workers: 1,
            flannel: true,
        },
    )
    .await;
    assert!(!groups(&c).await.contains(&"metrics.k8s.io".to_string()));
    assert_eq!(c.kube("GET", NODES, None).await.status, 404);

    // Neither chart tolerates the taint of nodes the CCM has not initialised yet.
    c.install_ccm().await;
    c.install_chart_with("metrics-server", "").await;
    assert_eq!(
        groups(&c)
            .await
            .iter()
            .filter(|g| *g == "metrics.k8s.io")
            .count(),
        1,
        "discovery lists the aggregated group once"
    );
    let refused = c.kube("GET", NODES, None).await;
    assert_eq!(
        refused.status, 503,
        "kubelet serving certificates are not approved"
    );
    assert_eq!(
        c.kube("GET", "/apis/metrics.k8s.io/v1beta1", None)
            .await
            .status,
        503
    );

    c.install_chart_with(
        "kubelet-csr-approver",
        "providerRegex: ^prod-\nbypassDnsResolution: true\n",
    )
    .await;
    let nodes = c.get(NODES).await;
    assert_eq!(nodes["kind"], "NodeMetricsList");
    let items = nodes["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    for item in items {
        let name = item["metadata"]["name"].as_str().unwrap();
        let node = c.get(&format!("/api/v1/nodes/{name}")).await;
        let allocatable_milli = node["status"]["allocatable"]["cpu"]
            .as_str()
            .unwrap()
            .strip_suffix('m')
            .map(|m| m.parse::<u64>().unwrap())
            .unwrap_or_else(|| {
                node["status"]["allocatable"]["cpu"]
                    .as_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
                    * 1000
            });
        let used = nanocores(&item["usage"]);
        assert!(used > 0 && used < allocatable_milli * 1_000_000, "{item}");
        assert!(item["usage"]["memory"].as_str().unwrap().ends_with("Ki"));
    }
    let one = c.get(&format!("{NODES}/prod-cp-1")).await;
    assert_eq!(one["kind"], "NodeMetrics");
    assert_eq!(one["metadata"]["name"], "prod-cp-1");
    assert_eq!(
        c.kube("GET", &format!("{NODES}/nope"), None).await.status,
        404
    );
    let pods = c
        .get("/apis/metrics.k8s.io/v1beta1/namespaces/kube-system/pods")
        .await;
    assert_eq!(pods["kind"], "PodMetricsList");
    assert!(
        !pods["items"].as_array().unwrap().is_empty(),
        "the control plane's static pods run there"
    );
    assert!(
        pods["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["metadata"]["namespace"] == "kube-system"
                && p["containers"].as_array().is_some())
    );
    c.stop().await;
}
