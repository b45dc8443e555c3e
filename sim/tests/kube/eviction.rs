//! Evictions of the pods a drain meets besides workloads: the mirror pods of the control planes'
//! static pods (the API evicts them, the kubelet publishes them again) and DaemonSet pods on a
//! cordoned node (evicted, and recreated on the same node, as the DaemonSet ignores cordons).

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::support::{Cluster, Reply, Shape};

async fn evict(c: &Cluster, ns: &str, pod: &str) -> Reply {
    c.kube(
        "POST",
        &format!("/api/v1/namespaces/{ns}/pods/{pod}/eviction"),
        Some(json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": ns}})),
    )
    .await
}

#[tokio::test]
async fn mirror_and_daemonset_pods_are_evicted_and_come_back_on_their_node() {
    let c = Cluster::start(
        Ipv4Addr::new(127, 49, 0, 1),
        Shape {
            workers: 1,
            flannel: true,
        },
    )
    .await;

    // The control plane's static pods, as their mirror pods.
    let on_cp = c
        .get("/api/v1/namespaces/kube-system/pods?fieldSelector=spec.nodeName%3Dprod-cp-1")
        .await;
    let names: Vec<&str> = on_cp["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["metadata"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "kube-apiserver-prod-cp-1",
            "kube-controller-manager-prod-cp-1",
            "kube-scheduler-prod-cp-1"
        ]
    );
    let node_uid = c.get("/api/v1/nodes/prod-cp-1").await["metadata"]["uid"].clone();
    let apiserver = c
        .get("/api/v1/namespaces/kube-system/pods/kube-apiserver-prod-cp-1")
        .await;
    assert!(apiserver["metadata"]["annotations"]["kubernetes.io/config.mirror"].is_string());
    assert_eq!(apiserver["metadata"]["ownerReferences"][0]["kind"], "Node");
    assert_eq!(apiserver["metadata"]["ownerReferences"][0]["uid"], node_uid);
    assert_eq!(apiserver["status"]["phase"], "Running");
    assert!(
        c.get("/api/v1/namespaces/kube-system/pods?fieldSelector=spec.nodeName%3Dprod-general-1")
            .await["items"]
            .as_array()
            .unwrap()
            .is_empty(),
        "workers run no static pods"
    );

    // Evicting a mirror pod deletes it; the kubelet publishes it again (a new object).
    let reply = evict(&c, "kube-system", "kube-apiserver-prod-cp-1").await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    let again = c
        .get("/api/v1/namespaces/kube-system/pods/kube-apiserver-prod-cp-1")
        .await;
    assert_ne!(again["metadata"]["uid"], apiserver["metadata"]["uid"]);

    // A DaemonSet pod on a cordoned node: evicted, and its replacement runs on the same node.
    let daemon_set = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"tolerations": [{"operator": "Exists"}],
                                       "containers": [{"name": "agent", "image": "busybox"}]}}}});
    let created = c
        .kube(
            "POST",
            "/apis/apps/v1/namespaces/default/daemonsets",
            Some(daemon_set),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    c.advance(3).await;
    let cordon = c
        .kube(
            "PATCH",
            "/api/v1/nodes/prod-general-1",
            Some(json!({"spec": {"unschedulable": true}})),
        )
        .await;
    assert_eq!(cordon.status, 200);
    let on_worker = |items: &Value| -> Vec<(String, String)> {
        items["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                (
                    p["metadata"]["name"].as_str().unwrap().to_string(),
                    p["status"]["phase"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let path = "/api/v1/namespaces/default/pods?labelSelector=app%3Dagent&fieldSelector=spec.nodeName%3Dprod-general-1";
    let before = on_worker(&c.get(path).await);
    assert_eq!(before.len(), 1);
    assert_eq!(before[0].1, "Running");
    let reply = evict(&c, "default", &before[0].0).await;
    assert_eq!(reply.status, 201, "{:?}", reply.body);
    c.advance(3).await;
    let after = on_worker(&c.get(path).await);
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after[0].0, before[0].0);
    assert_eq!(after[0].1, "Running");
    c.stop().await;
}
