//! Health and nodes against hk8s-sim: readyz, version, Ready nodes with their labels, taints
//! and addresses, cordon/uncordon, delete (and delete again), waits, and readyz turning false
//! when etcd loses quorum.

use std::time::Duration;

use hk8s::kube::{Deadline, Error, retry_transient};
use hk8s::talos::config::MachineRole;
use tokio_util::sync::CancellationToken;

use super::sim_cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_nodes_cordon_delete_and_quorum_loss() {
    let cluster = sim_cluster::start("nodes", "127.50.0.1".parse().unwrap(), 3, 1).await;
    let kube = cluster.client();
    assert!(kube.readyz().await.unwrap());
    assert_eq!(kube.version().await.unwrap(), "v1.35.0");

    let mut nodes = kube.list_nodes().await.unwrap();
    nodes.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(
        names,
        ["nodes-cp-1", "nodes-cp-2", "nodes-cp-3", "nodes-worker-1"]
    );
    for node in &nodes {
        assert!(node.ready, "{node:?}");
        assert!(!node.unschedulable);
        assert_eq!(node.kubelet_version, "v1.35.0");
        assert_eq!(node.os_image, "Talos (v1.13.9)");
        assert_eq!(node.external_ips.len(), 1, "{node:?}");
        assert!(node.external_ips[0].starts_with("127.50."), "{node:?}");
    }
    let worker = &nodes[3];
    assert_eq!(worker.labels["example.com/pool"], "worker");
    // The machine config's taint, formatted as kubectl does (the cloud provider's
    // `uninitialized` taint may be there too until a cloud controller runs).
    assert!(
        worker
            .taints
            .iter()
            .any(|t| t == "dedicated=batch:NoSchedule"),
        "{:?}",
        worker.taints
    );

    // Waiting for a node state: met at once, or a timeout naming what differs.
    let all = cluster.node_names();
    let budget = Deadline::after(Duration::from_secs(1));
    let at_version = kube
        .wait_nodes(&all, "at kubelet v1.35.0", &budget, |n| {
            (n.kubelet_version != "v1.35.0").then(|| format!("kubelet {}", n.kubelet_version))
        })
        .await
        .unwrap();
    assert_eq!(at_version.len(), 4);
    let err = kube
        .wait_nodes(&all[..1], "at kubelet v1.36.0", &budget, |n| {
            (n.kubelet_version != "v1.36.0").then(|| format!("kubelet {}", n.kubelet_version))
        })
        .await
        .unwrap_err();
    assert!(
        err.to_string().ends_with("waiting for nodes nodes-cp-1 to be at kubelet v1.36.0; still pending: nodes-cp-1: kubelet v1.35.0"),
        "{err}"
    );

    // Cordon, uncordon.
    let cordoned = kube.cordon("nodes-worker-1").await.unwrap();
    assert!(cordoned.unschedulable);
    assert!(
        kube.get_node("nodes-worker-1")
            .await
            .unwrap()
            .unwrap()
            .unschedulable
    );
    let uncordoned = kube.uncordon("nodes-worker-1").await.unwrap();
    assert!(!uncordoned.unschedulable);
    assert!(
        !kube
            .get_node("nodes-worker-1")
            .await
            .unwrap()
            .unwrap()
            .unschedulable
    );
    // Annotate, and remove the annotation again (merge patch with null), idempotently.
    let annotated = kube
        .annotate_node("nodes-worker-1", "hk8s.io/upgrading", Some("true"))
        .await
        .unwrap();
    assert_eq!(
        annotated
            .annotations
            .get("hk8s.io/upgrading")
            .map(String::as_str),
        Some("true")
    );
    let read = kube.get_node("nodes-worker-1").await.unwrap().unwrap();
    assert_eq!(
        read.annotations
            .get("hk8s.io/upgrading")
            .map(String::as_str),
        Some("true")
    );
    for _ in 0..2 {
        let cleared = kube
            .annotate_node("nodes-worker-1", "hk8s.io/upgrading", None)
            .await
            .unwrap();
        assert!(!cleared.annotations.contains_key("hk8s.io/upgrading"));
    }
    let err = kube.cordon("no-such-node").await.unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        err.to_string()
            .contains("PATCH https://127.50.0.1:6443/api/v1/nodes/no-such-node: 404 NotFound"),
        "{err}"
    );

    // Delete, wait until gone; deleting again is fine.
    assert!(kube.delete_node("nodes-worker-1").await.unwrap());
    kube.wait_node_gone("nodes-worker-1", &Deadline::after(Duration::from_secs(10)))
        .await
        .unwrap();
    assert_eq!(kube.get_node("nodes-worker-1").await.unwrap(), None);
    assert!(!kube.delete_node("nodes-worker-1").await.unwrap());

    // Waiting for a node that never comes says so.
    let wanted = vec!["nodes-cp-1".to_string(), "nodes-worker-1".to_string()];
    let err = kube
        .wait_nodes_ready(&wanted, &Deadline::after(Duration::from_secs(1)))
        .await
        .unwrap_err();
    match &err {
        Error::Timeout { pending, .. } => assert_eq!(pending, &["nodes-worker-1: not registered"]),
        other => panic!("{other:?}"),
    }
    let cancel = CancellationToken::new();
    cancel.cancel();
    let err = kube
        .wait_nodes_ready(&wanted, &Deadline::none().with_cancel(cancel))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");

    // Two control planes off: etcd loses quorum and readyz turns false.
    for (id, _, role) in &cluster.servers[1..3] {
        assert_eq!(*role, MachineRole::ControlPlane);
        cluster
            .sim
            .hcloud("POST", &format!("/servers/{id}/actions/poweroff"), None)
            .await;
    }
    let settle = async {
        loop {
            cluster.sim.hcloud("GET", "/servers", None).await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let budget = Deadline::after(Duration::from_secs(30));
    tokio::select! {
        result = kube.wait_ready(false, &budget) => result.unwrap(),
        () = settle => unreachable!(),
    }
    assert!(!kube.readyz().await.unwrap());
    let err = kube.list_nodes().await.unwrap_err();
    assert_eq!(
        err.status().map(|s| s.reason.as_str()),
        Some("ServiceUnavailable"),
        "{err}"
    );
    assert!(err.is_transient());
    // Retrying through the outage ends with a timeout that keeps the API's last answer.
    let err = retry_transient(
        "list nodes",
        &Deadline::after(Duration::from_secs(1)),
        || kube.list_nodes(),
    )
    .await
    .unwrap_err();
    match &err {
        Error::Timeout {
            last_error: Some(last),
            ..
        } => {
            assert_eq!(last.status().map(|s| s.code), Some(503), "{last}");
        }
        other => panic!("{other:?}"),
    }
    cluster.sim.handle.shutdown().await.unwrap();
}
