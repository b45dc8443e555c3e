//! `drain` against the mock API: DaemonSet and mirror pods stay, a PodDisruptionBudget's 429 is
//! retried until it allows the eviction, and a drain that cannot finish names the stuck pod and
//! the refusal.

use std::time::Duration;

use hk8s::kube::{Deadline, DrainOptions, Error, KubeClient, KubeOptions};
use tokio_util::sync::CancellationToken;

use super::mock_api::{EvictionPolicy, MockApi, MockState};

fn cluster() -> MockState {
    let mut state = MockState::default();
    state.add_pod("default", "web-0", "w1", "ReplicaSet");
    state.add_pod("default", "web-1", "w1", "ReplicaSet");
    state.add_pod("kube-system", "cilium-abcde", "w1", "DaemonSet");
    state.add_pod("kube-system", "kube-apiserver-w1", "w1", "Node");
    if let Some(mirror) = state.pods.get_mut("kube-system/kube-apiserver-w1") {
        mirror["metadata"]["annotations"] =
            serde_json::json!({"kubernetes.io/config.mirror": "0123"});
    }
    state.add_pod("default", "elsewhere", "w2", "ReplicaSet");
    state
}

#[tokio::test]
async fn drain_evicts_workloads_retries_the_budget_and_leaves_daemonsets() {
    let mut state = cluster();
    state
        .evictions
        .insert("default/web-1".into(), EvictionPolicy::RefuseTimes(2));
    let mock = MockApi::start(state).await;
    let kube = KubeClient::new(&mock.credentials, KubeOptions::default()).unwrap();
    let options = DrainOptions {
        timeout: Duration::from_secs(60),
        grace_period: Some(Duration::from_secs(30)),
        ..DrainOptions::default()
    };
    let outcome = kube.drain("w1", &options, &Deadline::none()).await.unwrap();

    let mut evicted = outcome.evicted.clone();
    evicted.sort();
    assert_eq!(evicted, ["default/web-0", "default/web-1"]);
    let mut skipped = outcome.skipped.clone();
    skipped.sort();
    assert_eq!(
        skipped,
        [
            "kube-system/cilium-abcde (DaemonSet)",
            "kube-system/kube-apiserver-w1 (mirror pod)"
        ]
    );
    let state = mock.state.lock().unwrap();
    assert_eq!(
        state.unschedulable.get("w1"),
        Some(&true),
        "the node is cordoned"
    );
    let remaining: Vec<&String> = state.pods.keys().collect();
    assert_eq!(
        remaining,
        [
            "default/elsewhere",
            "kube-system/cilium-abcde",
            "kube-system/kube-apiserver-w1"
        ]
    );
    // web-1 was refused twice (429) and then evicted: three attempts; web-0 one.
    let attempts = |pod: &str| {
        state
            .eviction_bodies
            .iter()
            .filter(|b| b["metadata"]["name"] == pod)
            .count()
    };
    assert_eq!((attempts("web-0"), attempts("web-1")), (1, 3));
    assert_eq!(attempts("cilium-abcde") + attempts("kube-apiserver-w1"), 0);
    assert!(
        state
            .eviction_bodies
            .iter()
            .all(|b| b["deleteOptions"]["gracePeriodSeconds"] == 30)
    );
    assert!(
        state
            .log
            .iter()
            .any(|l| l == "GET /api/v1/pods?fieldSelector=spec.nodeName%3Dw1"),
        "{:?}",
        state.log
    );
}

#[tokio::test]
async fn a_drain_that_cannot_finish_names_the_stuck_pod_and_why() {
    let mut state = cluster();
    state
        .evictions
        .insert("default/web-1".into(), EvictionPolicy::RefuseAlways);
    let mock = MockApi::start(state).await;
    let kube = KubeClient::new(&mock.credentials, KubeOptions::default()).unwrap();
    let options = DrainOptions {
        timeout: Duration::from_secs(2),
        ..DrainOptions::default()
    };
    let err = kube
        .drain("w1", &options, &Deadline::none())
        .await
        .unwrap_err();
    match &err {
        Error::Timeout { what, pending, .. } => {
            assert_eq!(what, "the drain of node w1");
            assert_eq!(
                pending,
                &[
                    "default/web-1: eviction refused: Cannot evict pod as it would violate the pod's disruption budget."
                ]
            );
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
    // The caller's deadline bounds the drain when it is shorter than the drain's own timeout.
    let generous = DrainOptions {
        timeout: Duration::from_secs(600),
        ..DrainOptions::default()
    };
    let err = kube
        .drain("w1", &generous, &Deadline::after(Duration::from_secs(1)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Timeout { elapsed, .. } if *elapsed < Duration::from_secs(60)),
        "{err:?}"
    );
    // web-0 was evicted meanwhile; web-1 is still there.
    let state = mock.state.lock().unwrap();
    assert!(!state.pods.contains_key("default/web-0"));
    assert!(state.pods.contains_key("default/web-1"));
}

#[tokio::test]
async fn drain_refuses_pods_it_would_have_to_destroy_before_evicting_anything() {
    let mut state = cluster();
    if let Some(pod) = state.pods.get_mut("default/web-0") {
        pod["spec"]["volumes"] = serde_json::json!([{"name": "scratch", "emptyDir": {}}]);
    }
    let mock = MockApi::start(state).await;
    let kube = KubeClient::new(&mock.credentials, KubeOptions::default()).unwrap();
    let err = kube
        .drain("w1", &DrainOptions::default(), &Deadline::none())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::DrainBlocked { node, pods, .. } if node == "w1" && pods == &["default/web-0"]),
        "{err:?}"
    );
    assert!(mock.state.lock().unwrap().eviction_bodies.is_empty());

    let strict = DrainOptions {
        ignore_daemonsets: false,
        delete_emptydir_data: true,
        ..DrainOptions::default()
    };
    let err = kube
        .drain("w1", &strict, &Deadline::none())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("kube-system/cilium-abcde"),
        "{err}"
    );

    let cancel = CancellationToken::new();
    cancel.cancel();
    let lenient = DrainOptions {
        delete_emptydir_data: true,
        ..DrainOptions::default()
    };
    mock.state
        .lock()
        .unwrap()
        .evictions
        .insert("default/web-1".into(), EvictionPolicy::RefuseAlways);
    let err = kube
        .drain("w1", &lenient, &Deadline::none().with_cancel(cancel))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
}
