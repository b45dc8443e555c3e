//! Acting inside the cluster as its workloads would, with the provider's own Kubernetes client
//! and the cluster's `kubeconfig` output.

use std::time::{Duration, Instant};

use hk8s::kube::{KubeClient, KubeCredentials, KubeOptions};
use serde_json::json;

use super::world::World;
use crate::support::Workdir;

/// Creates a Service of type LoadBalancer; returns the id of the Hetzner load balancer the
/// cluster's hcloud cloud controller made for it.
pub fn service_load_balancer(world: &World, w: &Workdir) -> i64 {
    let kubeconfig = w.run_ok(&["output", "-raw", "kubeconfig"]);
    let credentials = KubeCredentials::from_kubeconfig(&kubeconfig).expect("kubeconfig parses");
    world.block_on(async {
        let kube = KubeClient::new(&credentials, KubeOptions::default()).expect("client");
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
