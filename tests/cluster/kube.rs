//! Acting inside the cluster as its workloads would, with the provider's own Kubernetes client
//! and the cluster's `kubeconfig` output.

use std::time::{Duration, Instant};

use base64::Engine;
use hk8s::kube::{KubeClient, KubeCredentials, KubeOptions};
use serde_json::json;

use super::world::World;
use crate::support::Workdir;

/// Installs the hcloud cloud controller (as a HelmChart) and a Service of type LoadBalancer;
/// returns the id of the Hetzner load balancer the controller made for it.
pub fn service_load_balancer(world: &World, w: &Workdir) -> i64 {
    let kubeconfig = w.run_ok(&["output", "-raw", "kubeconfig"]);
    let credentials = KubeCredentials::from_kubeconfig(&kubeconfig).expect("kubeconfig parses");
    world.block_on(async {
        let kube = KubeClient::new(&credentials, KubeOptions::default()).expect("client");
        // helm-controller first: it creates the HelmChart CRD when it starts.
        for object in hk8s_sim::testing::helm_controller_objects() {
            kube.apply(&object, "e2e", true).await.expect("helm-controller applied");
        }
        let token = base64::engine::general_purpose::STANDARD.encode(hk8s_sim::testing::TOKEN);
        kube.apply(
            &json!({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "hcloud", "namespace": "kube-system"}, "data": {"token": token}}),
            "e2e",
            true,
        )
        .await
        .expect("Secret applied");
        let chart = json!({
            "apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
            "metadata": {"name": "hcloud-cloud-controller-manager", "namespace": "kube-system"},
            "spec": {"chart": "hcloud-cloud-controller-manager", "repo": "https://charts.hetzner.cloud", "targetNamespace": "kube-system"}
        });
        let started = Instant::now();
        while let Err(e) = kube.apply(&chart, "e2e", true).await {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "HelmChart never applied: {e}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
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
