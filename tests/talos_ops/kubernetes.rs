//! A Kubernetes version change rolled node by node: configs regenerated with the new version,
//! applied live, each node's kubelet reporting the new version before the next one starts.

use std::time::Duration;

use hk8s::talos::config::MachineRole;
use hk8s::talos::ops::{ChangeMode, KubeletVersions, rolling, upgrade_kubernetes_node, wait_apid};
use hk8s::talos::version::KubernetesVersion;

use super::harness::{Cluster, Kubernetes, STEP, Server, budget};

/// The kubelet version of every node, once all have registered (bounded polling).
async fn kubelet_versions(kube: &Kubernetes, names: &[&str]) -> Vec<String> {
    for _ in 0..400 {
        let mut versions = Vec::new();
        for name in names {
            if let Ok(Some(version)) = kube.kubelet_version(name).await {
                versions.push(version);
            }
        }
        if versions.len() == names.len() {
            return versions;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("not every node registered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubernetes_upgrade_shows_in_every_kubelet_and_the_api_server() {
    let mut cluster = Cluster::with_control_planes(66, &["v1.13.9"], "v1.13.9", 1).await;
    let worker = cluster
        .add("ops-worker-1", MachineRole::Worker, "v1.13.9")
        .await;
    wait_apid(&cluster.talos, &[worker.ip], &budget(STEP))
        .await
        .unwrap();
    let kube = cluster.kubernetes().await;
    let names = ["ops-cp-1", "ops-worker-1"];
    assert_eq!(kubelet_versions(&kube, &names).await, ["v1.35.0"; 2]);

    let target: KubernetesVersion = "1.36.0".parse().unwrap();
    let mut upgraded = cluster.input.clone();
    upgraded.kubernetes_version = target.clone();
    // Control planes first, then workers.
    let servers: Vec<Server> = cluster.servers.clone();
    let configs: Vec<String> = servers
        .iter()
        .map(|s| cluster.config_with(&upgraded, &s.name, s.role, Default::default()))
        .collect();
    let nodes: Vec<usize> = (0..servers.len()).collect();
    let names_of = |i: &usize| servers[*i].name.clone();
    let applied = rolling(
        "Kubernetes upgrade to 1.36.0",
        &nodes.iter().map(names_of).collect::<Vec<_>>(),
        |name| {
            let index = servers.iter().position(|s| &s.name == name).unwrap();
            let (server, config, kube, target, talos) = (
                &servers[index],
                &configs[index],
                &kube,
                &target,
                &cluster.talos,
            );
            async move {
                upgrade_kubernetes_node(
                    talos,
                    server.ip,
                    &server.name,
                    config.as_bytes(),
                    target,
                    kube,
                    &budget(STEP),
                )
                .await
            }
        },
        |_, _| async { Ok(()) },
    )
    .await
    .unwrap();
    assert!(applied.iter().all(|a| a.mode == ChangeMode::NoReboot));
    assert_eq!(kubelet_versions(&kube, &names).await, ["v1.36.0"; 2]);
    let version = kube.get("/version").await.unwrap().unwrap();
    assert_eq!(version["gitVersion"], "v1.36.0");

    // Re-running on an upgraded node applies nothing new and returns at once.
    let again = upgrade_kubernetes_node(
        &cluster.talos,
        servers[0].ip,
        &servers[0].name,
        configs[0].as_bytes(),
        &target,
        &kube,
        &budget(STEP),
    )
    .await
    .unwrap();
    assert_eq!(again.mode, ChangeMode::NoReboot);
}
