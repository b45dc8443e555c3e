//! Drain and custom resources against the sim's workloads: a HelmChart applied through
//! discovery installs the cloud controller (nodes get provider IDs), a Deployment behind a
//! PodDisruptionBudget and a DaemonSet run on the workers; draining one worker evicts the
//! Deployment's pods within the budget and leaves the DaemonSet's; draining the other cannot
//! finish (nowhere to reschedule) and the timeout names the pods the budget protects.

use std::time::Duration;

use base64::Engine;
use hk8s::kube::{Deadline, DrainOptions, Error, KubeClient, ListOptions};
use serde_json::{Value, json};

use super::sim_cluster;

/// `namespace/name` of the pods on `node`.
async fn pods_on(kube: &KubeClient, node: &str) -> Vec<(String, Value)> {
    let options = ListOptions::default().fields(format!("spec.nodeName={node}"));
    let mut pods: Vec<(String, Value)> = kube
        .list("v1", "Pod", None, &options)
        .await
        .unwrap()
        .into_iter()
        .map(|p| {
            let key = format!(
                "{}/{}",
                p["metadata"]["namespace"].as_str().unwrap(),
                p["metadata"]["name"].as_str().unwrap()
            );
            (key, p)
        })
        .collect();
    pods.sort_by(|a, b| a.0.cmp(&b.0));
    pods
}

fn is_web(pod: &(String, Value)) -> bool {
    pod.1["metadata"]["labels"]["app"] == "web"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_evicts_within_the_budget_and_names_what_it_protects() {
    let cluster = sim_cluster::start("drain", "127.52.0.1".parse().unwrap(), 1, 2).await;
    let kube = cluster.client();
    // The sim settles Hetzner actions and its controllers when its API is polled.
    let hcloud = cluster.sim.handle.endpoint();
    let settle = tokio::spawn(async move {
        let http = reqwest::Client::new();
        loop {
            let _ = http
                .get(format!("{hcloud}/servers"))
                .bearer_auth(hk8s_sim::testing::TOKEN)
                .send()
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });

    // A custom resource through discovery: helm-controller (which creates the HelmChart CRD
    // when it starts) installs the cloud controller, which initialises the nodes once Secret
    // `hcloud` gives it the project's token.
    for object in hk8s_sim::testing::helm_controller_objects() {
        kube.apply(&object, "hk8s", true).await.unwrap();
    }
    let token = base64::engine::general_purpose::STANDARD.encode(hk8s_sim::testing::TOKEN);
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "hcloud", "namespace": "kube-system"}, "data": {"token": token}});
    kube.apply(&secret, "hk8s", true).await.unwrap();
    let ccm = json!({"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
        "metadata": {"name": "hcloud-cloud-controller-manager", "namespace": "kube-system"},
        "spec": {"chart": "hcloud-cloud-controller-manager", "repo": "https://charts.hetzner.cloud",
                 "targetNamespace": "kube-system", "backOffLimit": 2}});
    let mut applied = Err(Error::UnknownKind {
        api_version: String::new(),
        kind: String::new(),
    });
    for _ in 0..200 {
        applied = kube.apply(&ccm, "hk8s", true).await;
        if !matches!(applied, Err(Error::UnknownKind { .. })) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let applied = applied.unwrap();
    assert_eq!(applied["metadata"]["managedFields"][0]["manager"], "hk8s");
    let budget = Deadline::after(Duration::from_secs(30));
    let nodes = kube
        .wait_nodes(
            &cluster.node_names(),
            "initialised by the cloud controller",
            &budget,
            |n| {
                n.provider_id
                    .is_none()
                    .then(|| "no provider ID yet".to_string())
            },
        )
        .await
        .unwrap();
    assert!(nodes.iter().all(|n| {
        n.provider_id
            .as_deref()
            .is_some_and(|p| p.starts_with("hcloud://"))
    }));

    let workload = [
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"tolerations": [{"key": "dedicated", "operator": "Exists"}],
                                           "containers": [{"name": "web", "image": "nginx"}]}}}}),
        json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}}),
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "kube-system"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                     "template": {"metadata": {"labels": {"app": "agent"}},
                                  "spec": {"tolerations": [{"operator": "Exists"}], "containers": [{"name": "a", "image": "busybox"}]}}}}),
    ];
    for object in &workload {
        kube.apply(object, "hk8s", true).await.unwrap();
    }
    let running = ListOptions::default()
        .labels("app=web")
        .fields("status.phase=Running");
    for _ in 0..200 {
        if kube
            .list("v1", "Pod", Some("default"), &running)
            .await
            .unwrap()
            .len()
            == 3
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = pods_on(&kube, "drain-worker-1").await;
    assert!(before.iter().any(is_web), "{before:?}");
    // Everything but the DaemonSet's pod leaves: the web pods, and whatever of helm-controller,
    // its jobs and the cloud controller the scheduler put there.
    let movable: Vec<String> = before
        .iter()
        .filter(|p| !p.0.starts_with("kube-system/agent-"))
        .map(|p| p.0.clone())
        .collect();

    // Worker 1: the web pods leave one by one as the budget allows; the DaemonSet pod stays.
    let options = DrainOptions {
        timeout: Duration::from_secs(30),
        ..DrainOptions::default()
    };
    let outcome = kube
        .drain("drain-worker-1", &options, &Deadline::none())
        .await
        .unwrap();
    let mut evicted = outcome.evicted.clone();
    evicted.sort();
    assert_eq!(evicted, movable);
    assert_eq!(outcome.skipped.len(), 1, "{outcome:?}");
    assert!(
        outcome.skipped[0].starts_with("kube-system/agent-")
            && outcome.skipped[0].ends_with(" (DaemonSet)")
    );
    let after = pods_on(&kube, "drain-worker-1").await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0].1["metadata"]["labels"]["app"], "agent");
    assert!(
        kube.get_node("drain-worker-1")
            .await
            .unwrap()
            .unwrap()
            .unschedulable
    );

    // Worker 2 now runs all three web pods and nothing can take them: one eviction fits the
    // budget, the others are refused until the timeout, which names them.
    let short = DrainOptions {
        timeout: Duration::from_secs(3),
        ..DrainOptions::default()
    };
    let err = kube
        .drain("drain-worker-2", &short, &Deadline::none())
        .await
        .unwrap_err();
    match &err {
        Error::Timeout { what, pending, .. } => {
            assert_eq!(what, "the drain of node drain-worker-2");
            assert_eq!(pending.len(), 2, "{pending:?}");
            for line in pending {
                assert!(line.starts_with("default/web-"), "{line}");
                assert!(
                    line.ends_with(": eviction refused: Cannot evict pod as it would violate the pod's disruption budget: The disruption budget web needs 2 healthy pods and has 2 currently"),
                    "{line}"
                );
            }
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    settle.abort();
    cluster.sim.handle.shutdown().await.unwrap();
}
