//! Acting inside the cluster as its workloads would, with the provider's own Kubernetes client
//! and the cluster's `kubeconfig` output.

use std::time::{Duration, Instant};

use hk8s::kube::{KubeClient, KubeCredentials, KubeOptions};
use serde_json::json;

use super::world::World;
use crate::support::Workdir;

/// Installs the hcloud cloud controller (as a HelmChart, with Secret `hcloud` holding the
/// project's token and the id of the network named after `cluster`, balancers in fsn1) and a
/// Service of type LoadBalancer; returns the id of the Hetzner load balancer the controller made
/// for it.
pub fn service_load_balancer(world: &World, w: &Workdir, cluster: &str) -> i64 {
    use base64::Engine;
    let kubeconfig = w.run_ok(&["output", "-raw", "kubeconfig"]);
    let credentials = KubeCredentials::from_kubeconfig(&kubeconfig).expect("kubeconfig parses");
    let network = world.list(&format!("/networks?name={cluster}"), "networks")[0]["id"]
        .as_i64()
        .expect("the cluster network");
    let b64 = |v: &str| base64::engine::general_purpose::STANDARD.encode(v);
    world.block_on(async {
        let kube = KubeClient::new(&credentials, KubeOptions::default()).expect("client");
        kube.apply(
            &json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "hcloud", "namespace": "kube-system"},
                "data": {"token": b64(super::world::TOKEN), "network": b64(&network.to_string())}
            }),
            "e2e",
            true,
        )
        .await
        .expect("Secret applied");
        kube.apply(
            &json!({
                "apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
                "metadata": {"name": "hcloud-cloud-controller-manager", "namespace": "kube-system"},
                "spec": {"chart": "hcloud-cloud-controller-manager", "repo": "https://charts.hetzner.cloud", "targetNamespace": "kube-system",
                         "valuesContent": "networking:\n  enabled: true\n  clusterCIDR: 10.244.0.0/16\nenv:\n  HCLOUD_LOAD_BALANCERS_LOCATION:\n    value: fsn1\n"}
            }),
            "e2e",
            true,
        )
        .await
        .expect("HelmChart applied");
        kube.apply(
            &json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}
            }),
            "e2e",
            true,
        )
        .await
        .expect("Service applied");
    });
    let started = Instant::now();
    loop {
        let found = world
            .list(
                "/load_balancers?label_selector=hcloud-ccm/service-uid",
                "load_balancers",
            )
            .first()
            .and_then(|lb| lb["id"].as_i64());
        if let Some(id) = found {
            return id;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the cloud controller made no load balancer"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
