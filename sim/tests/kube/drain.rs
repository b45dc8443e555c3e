//! A drain as kubectl does it: cordon, then evict every pod of the node; the PodDisruptionBudget
//! refuses evictions that would leave too few healthy pods until the evicted pods have been
//! rescheduled elsewhere. Also: list selectors, StatefulSet and DaemonSet pods, node deletion.

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::support::{Cluster, Shape};

const W1: &str = "prod-general-1";
const W2: &str = "prod-general-2";

fn on_node(node: &str) -> String {
    format!(
        "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb&fieldSelector=spec.nodeName%3D{node}"
    )
}

async fn evict(c: &Cluster, pod: &str) -> super::support::Reply {
    c.kube(
        "POST",
        &format!("/api/v1/namespaces/default/pods/{pod}/eviction"),
        Some(json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": "default"}})),
    )
    .await
}

#[tokio::test]
async fn drain_evicts_within_the_pod_disruption_budget_as_pods_reschedule() {
    let c = Cluster::start(
        Ipv4Addr::new(127, 40, 0, 1),
        Shape {
            workers: 2,
            flannel: true,
        },
    )
    .await;
    // The configs use an external cloud provider: nodes are tainted until the CCM runs.
    c.install_ccm().await;
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}}});
    let created = c
        .kube(
            "POST",
            "/apis/apps/v1/namespaces/default/deployments",
            Some(deployment),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let pdb = json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}});
    assert_eq!(
        c.kube(
            "POST",
            "/apis/policy/v1/namespaces/default/poddisruptionbudgets",
            Some(pdb)
        )
        .await
        .status,
        201
    );

    // Pods wait for the scheduler (pod_schedule), then spread over the two workers; the control
    // plane's taint keeps them off it.
    let pending = c
        .get("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")
        .await;
    assert_eq!(pending["items"].as_array().unwrap().len(), 3);
    assert!(
        pending["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["status"]["phase"] == "Pending")
    );
    c.advance(3).await;
    let w1_pods = c.names(&on_node(W1)).await;
    let w2_pods = c.names(&on_node(W2)).await;
    assert_eq!(
        (w1_pods.len(), w2_pods.len()),
        (2, 1),
        "{w1_pods:?} {w2_pods:?}"
    );
    assert!(c.names(&on_node("prod-cp-1")).await.is_empty());
    assert_eq!(
        c.names("/api/v1/nodes?labelSelector=node-role.kubernetes.io%2Fcontrol-plane")
            .await,
        ["prod-cp-1"]
    );
    let pod: Value = c
        .get(&format!("/api/v1/namespaces/default/pods/{}", w1_pods[0]))
        .await;
    assert_eq!(pod["status"]["phase"], "Running");
    assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
    let deploy = c
        .get("/apis/apps/v1/namespaces/default/deployments/web")
        .await;
    assert_eq!(deploy["status"]["readyReplicas"], 3);
    let budget = c
        .get("/apis/policy/v1/namespaces/default/poddisruptionbudgets/web")
        .await;
    assert_eq!(budget["status"]["disruptionsAllowed"], 1);
    assert_eq!(budget["status"]["currentHealthy"], 3);

    // Cordon, then evict: the first eviction fits the budget, the second does not yet.
    let cordon = c
        .kube(
            "PATCH",
            &format!("/api/v1/nodes/{W1}"),
            Some(json!({"spec": {"unschedulable": true}})),
        )
        .await;
    assert_eq!(cordon.status, 200);
    assert_eq!(evict(&c, &w1_pods[0]).await.status, 201);
    let refused = evict(&c, &w1_pods[1]).await;
    assert_eq!(refused.status, 429, "{:?}", refused.body);
    assert_eq!(refused.body["reason"], "TooManyRequests");
    assert_eq!(
        refused.body["message"],
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    let budget = c
        .get("/apis/policy/v1/namespaces/default/poddisruptionbudgets/web")
        .await;
    assert_eq!(
        (
            budget["status"]["currentHealthy"].as_i64(),
            budget["status"]["disruptionsAllowed"].as_i64()
        ),
        (Some(2), Some(0))
    );

    // The ReplicaSet recreated the evicted pod; once it runs on the other worker the budget
    // allows the next eviction, and the node ends empty.
    c.advance(3).await;
    assert_eq!(c.names(&on_node(W2)).await.len(), 2);
    assert_eq!(evict(&c, &w1_pods[1]).await.status, 201);
    c.advance(3).await;
    assert!(c.names(&on_node(W1)).await.is_empty());
    assert_eq!(c.names(&on_node(W2)).await.len(), 3);
    assert_eq!(evict(&c, "no-such-pod").await.status, 404);

    // `/_sim/stats` counted what the drain did: one cordon, four evictions (two evicted, one
    // refused, one of no pod).
    let counted = &c.sim.stats().await["kube_requests"];
    assert_eq!(counted["PATCH nodes"], 1, "{counted}");
    assert_eq!(counted["POST pods/eviction"], 4, "{counted}");
    assert_eq!(counted["POST deployments"], 1, "{counted}");
    assert_eq!(counted["GET deployments"], 1, "{counted}");
    assert_eq!(counted["LIST pods"], 7, "{counted}");
    assert_eq!(counted["LIST nodes"], 2, "{counted}");
    assert_eq!(counted["GET pods"], 1, "{counted}");
    c.stop().await;
}

#[tokio::test]
async fn statefulsets_daemonsets_and_node_deletion() {
    let c = Cluster::start(
        Ipv4Addr::new(127, 44, 0, 1),
        Shape {
            workers: 2,
            flannel: true,
        },
    )
    .await;
    c.install_ccm().await;
    let sts = json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "db"}},
                 "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres"}]}}}});
    assert_eq!(
        c.kube(
            "POST",
            "/apis/apps/v1/namespaces/default/statefulsets",
            Some(sts)
        )
        .await
        .status,
        201
    );
    // A DaemonSet runs on every node whose taints it tolerates, cordoned or not.
    let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "kube-system"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "a", "image": "agent"}]}}}});
    assert_eq!(
        c.kube(
            "POST",
            "/apis/apps/v1/namespaces/kube-system/daemonsets",
            Some(ds)
        )
        .await
        .status,
        201
    );
    c.kube(
        "PATCH",
        &format!("/api/v1/nodes/{W1}"),
        Some(json!({"spec": {"unschedulable": true}})),
    )
    .await;
    c.advance(3).await;
    assert_eq!(
        c.names("/api/v1/namespaces/default/pods?labelSelector=app%3Ddb")
            .await,
        ["db-0", "db-1"]
    );
    let agents = c.get("/api/v1/pods?labelSelector=app%3Dagent").await;
    let mut nodes: Vec<&str> = agents["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["spec"]["nodeName"].as_str().unwrap())
        .collect();
    nodes.sort();
    assert_eq!(
        nodes,
        [W1, W2],
        "the control plane's taint is not tolerated"
    );
    let ds = c
        .get("/apis/apps/v1/namespaces/kube-system/daemonsets/agent")
        .await;
    assert_eq!(ds["status"]["numberReady"], 2);

    // Deleting a node removes its pods; the StatefulSet recreates its pod on the other worker
    // once that one is schedulable again.
    let on_w2 = c
        .names(&format!("/api/v1/pods?fieldSelector=spec.nodeName%3D{W2}"))
        .await;
    assert!(on_w2.iter().any(|p| p.starts_with("db-")), "{on_w2:?}");
    c.kube(
        "PATCH",
        &format!("/api/v1/nodes/{W1}"),
        Some(json!({"spec": {"unschedulable": false}})),
    )
    .await;
    assert_eq!(
        c.kube("DELETE", &format!("/api/v1/nodes/{W2}"), None)
            .await
            .status,
        200
    );
    c.advance(3).await;
    assert!(
        c.names(&format!("/api/v1/pods?fieldSelector=spec.nodeName%3D{W2}"))
            .await
            .is_empty()
    );
    let db = c
        .get("/api/v1/namespaces/default/pods?labelSelector=app%3Ddb")
        .await;
    let placed: Vec<(&str, &str)> = db["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["spec"]["nodeName"].as_str().unwrap_or_default(),
                p["status"]["phase"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(placed, [(W1, "Running"), (W1, "Running")]);
    assert_eq!(
        c.names("/api/v1/namespaces/default/pods?fieldSelector=metadata.name%3Ddb-0")
            .await,
        ["db-0"]
    );
    c.stop().await;
}
