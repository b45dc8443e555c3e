//! Sharing the project's hourly request budget with the cluster's own Hetzner clients: the
//! client keeps its reserve in the bucket, waiting for the refill rather than meeting 429s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hk8s::hcloud::budget::RequestBudget;
use hk8s::hcloud::error::Error;
use hk8s::hcloud::retry::Deadline;

use super::support::start_with;

#[tokio::test]
async fn the_reserve_stays_in_the_bucket_while_requests_wait_for_the_refill() {
    // A bucket of 40 that refills in 10 s (four requests a second); the client keeps 10.
    let sim = start_with(|c| {
        c.rate_limit_per_hour = 40;
        c.rate_limit_period = Duration::from_secs(10);
    })
    .await;
    let client = sim
        .client_with(|c| c.budget = Arc::new(RequestBudget::new(Some(10))))
        .with_deadline(Deadline::after(Duration::from_secs(120)));
    let started = Instant::now();
    for _ in 0..45 {
        client.locations().await.unwrap();
    }
    let stats = sim.stats().await;
    assert_eq!(stats["rate_limited"], 0, "{stats}");
    assert!(
        stats["rate_limit_lowest_remaining"].as_u64().unwrap() >= 9,
        "the reserve was spent: {stats}"
    );
    // 45 requests from a bucket of 40 keeping 10: 15 of them waited for the refill.
    assert!(started.elapsed() >= Duration::from_secs(3));
}

#[tokio::test]
async fn a_wait_longer_than_the_deadline_fails_at_once_and_says_why() {
    // Three requests an hour: the fourth would wait 20 minutes.
    let sim = start_with(|c| c.rate_limit_per_hour = 3).await;
    let client = sim
        .client_with(|c| c.budget = Arc::new(RequestBudget::new(Some(0))))
        .with_deadline(Deadline::after(Duration::from_secs(30)));
    for _ in 0..3 {
        client.locations().await.unwrap();
    }
    let err = client.locations().await.unwrap_err();
    let Error::Timeout { pending, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(
        pending[0].contains("hourly request budget")
            && pending[0].contains("hcloud_rate_limit_reserve"),
        "{pending:?}"
    );
    // The request that could only have met a 429 was never sent.
    assert_eq!(sim.stats().await["total"], 3);
    assert_eq!(sim.stats().await["rate_limited"], 0);
}
