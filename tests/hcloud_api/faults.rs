//! Injected faults (seeded, so every run sees the same ones): 5xx, 429 bursts and `locked` are
//! retried until the whole lifecycle converges; failed actions are reported per action.

use hk8s::hcloud::Error;

use super::fixture::{delete_control_plane, ensure_control_plane};
use super::support::start_with;

#[tokio::test]
async fn lifecycle_converges_under_5xx_429_and_locked() {
    let sim = start_with(|c| {
        c.faults = "5xx=0.2,429burst=0.03,locked=0.2,seed=7".parse().unwrap();
    })
    .await;
    let client = sim.client();
    let cp = ensure_control_plane(&client, "flaky", 3).await.unwrap();
    client
        .wait_for_actions("create", cp.actions.clone())
        .await
        .unwrap();
    let again = ensure_control_plane(&client, "flaky", 3).await.unwrap();
    assert_eq!(again.servers, cp.servers);
    for (kind, want) in [("servers", 3), ("networks", 1), ("load_balancers", 1)] {
        assert_eq!(sim.labelled(kind, "flaky").await.len(), want, "{kind}");
    }
    delete_control_plane(&client, &cp).await.unwrap();
    for kind in [
        "servers",
        "networks",
        "firewalls",
        "load_balancers",
        "placement_groups",
    ] {
        assert!(sim.labelled(kind, "flaky").await.is_empty(), "{kind}");
    }
    let stats = sim.stats().await;
    assert!(stats["faults_injected"].as_u64().unwrap() > 5, "{stats}");
    assert!(stats["rate_limited"].as_u64().unwrap() > 0, "{stats}");
    assert!(client.stats().retries > 5, "{:?}", client.stats());
}

#[tokio::test]
async fn failed_actions_are_reported_one_by_one() {
    let sim = start_with(|c| c.faults = "action_error=1,seed=1".parse().unwrap()).await;
    let client = sim.client();
    let cp = ensure_control_plane(&client, "doomed", 2).await.unwrap();
    let settled = client
        .settle_actions("create", cp.actions.clone())
        .await
        .unwrap();
    assert_eq!(settled.failed.len(), cp.actions.len());
    assert!(settled.succeeded.is_empty());
    let err = settled.into_result("create control plane").unwrap_err();
    let Error::ActionsFailed { failures, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(failures.iter().all(|f| f.code == "action_failed"));
    let text = err.to_string();
    for id in &cp.servers {
        assert!(
            text.contains(&format!("(create_server) on server {id}")),
            "{text}"
        );
    }
}
