//! Deadlines and cancellation: waits and retries stop in time and say what was still pending.
//! The sim runs realistic latency on a manual clock that never moves, so its actions never finish
//! and its objects stay locked, whatever the wall clock does.

use std::time::Duration;

use hk8s::hcloud::{Deadline, Error};
use hk8s_sim::clock::Clock;
use hk8s_sim::latency::LatencyMode;
use tokio_util::sync::CancellationToken;

use super::fixture::ensure_control_plane;
use super::support::{Sim, start_with};

async fn frozen_sim() -> Sim {
    start_with(|c| {
        c.latency = LatencyMode::Realistic;
        c.clock = Clock::manual();
    })
    .await
}

#[tokio::test]
async fn action_wait_stops_at_the_deadline_naming_pending_actions() {
    let sim = frozen_sim().await;
    let client = sim.client();
    let cp = ensure_control_plane(&client, "slow", 2).await.unwrap();
    let err = client
        .with_deadline(Deadline::after(Duration::from_millis(300)))
        .wait_for_actions("create control plane", cp.actions.clone())
        .await
        .unwrap_err();
    let Error::Timeout { what, pending, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(what, "create control plane");
    assert_eq!(pending.len(), cp.actions.len());
    let text = err.to_string();
    for id in &cp.servers {
        assert!(
            text.contains(&format!("create_server (server {id})")),
            "{text}"
        );
    }
    assert!(text.contains("create_load_balancer"), "{text}");
}

#[tokio::test]
async fn retries_of_a_locked_object_stop_at_the_deadline() {
    let sim = frozen_sim().await;
    // Attempts unbounded, so that only the deadline can end the retries.
    let client = sim.client_with(|c| c.retry.max_attempts = u32::MAX);
    let cp = ensure_control_plane(&client, "busy", 1).await.unwrap();
    let server = cp.servers[0];
    let err = client
        .with_deadline(Deadline::after(Duration::from_millis(300)))
        .poweroff_server(server)
        .await
        .unwrap_err();
    let Error::Timeout {
        pending,
        last_error,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(
        pending[0].starts_with(&format!("POST /servers/{server}/actions/poweroff")),
        "{pending:?}"
    );
    assert_eq!(last_error.as_ref().and_then(|e| e.code()), Some("locked"));
    assert!(client.stats().retries > 0);
}

#[tokio::test]
async fn an_empty_rate_limit_bucket_is_not_hammered() {
    let sim = start_with(|c| c.rate_limit_per_hour = 3).await;
    let client = sim
        .client()
        .with_deadline(Deadline::after(Duration::from_secs(30)));
    client.locations().await.unwrap();
    // Another client of the project (the CCM) spends the rest behind this client's back.
    {
        let world = sim.handle.world();
        let mut world = world.write().unwrap();
        let now = world.clock.elapsed();
        while world.rate_limit.try_take(now) {}
    }
    let err = client.locations().await.unwrap_err();
    // The 429's RateLimit-Reset says the next request is allowed in 20 minutes: the client gives
    // up at once instead of spending its attempts on 429s.
    let Error::Timeout { last_error, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        last_error.as_ref().and_then(|e| e.code()),
        Some("rate_limit_exceeded")
    );
    assert_eq!(sim.stats().await["total"], 2);
}

#[tokio::test]
async fn cancellation_stops_a_wait() {
    let sim = frozen_sim().await;
    let client = sim.client();
    let cp = ensure_control_plane(&client, "stop", 1).await.unwrap();
    let token = CancellationToken::new();
    let waiting = client.with_deadline(Deadline::none().with_cancel(token.clone()));
    let task = tokio::spawn(async move { waiting.wait_for_actions("create", cp.actions).await });
    token.cancel();
    let err = task.await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
}
