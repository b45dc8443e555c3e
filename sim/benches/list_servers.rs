//! Benchmark (not a test): `GET /servers` against a sim holding 500 servers, over loopback.
//!
//! Run with `cargo bench -p hk8s-sim --bench list_servers`. Knobs (environment):
//! `BENCH_SECONDS` (default 5), `BENCH_CONCURRENCY` (default 8). The run is bounded by both the
//! duration and a cap of 200 000 requests, and only talks to 127.0.0.1.

use std::time::{Duration, Instant};

use hcloud::apis::configuration::Configuration;
use hk8s_sim::{SimConfig, serve};

const SERVERS: usize = 500;
const MAX_REQUESTS: usize = 200_000;
const TOKEN: &str = "bench-token";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let seconds: u64 = env_or("BENCH_SECONDS", 5);
    let concurrency: usize = env_or("BENCH_CONCURRENCY", 8);
    let mut config = SimConfig::new(TOKEN);
    config.rate_limit_per_hour = u32::MAX;
    let sim = serve(config).await.expect("sim starts");
    let endpoint = sim.endpoint();
    let client = Configuration::new().client;

    for i in 0..SERVERS {
        let body = serde_json::json!({
            "name": format!("bench-{i}"), "server_type": "cx23", "image": "debian-12",
            "labels": {"hk8s.io/cluster": "bench", "pool": format!("p{}", i % 5)},
        });
        let resp = client
            .post(format!("{endpoint}/servers"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .expect("create");
        assert_eq!(resp.status().as_u16(), 201, "creating server {i}");
    }

    for (label, query) in [
        ("GET /servers?per_page=50", "per_page=50"),
        (
            "GET /servers?label_selector=pool=p1&per_page=50",
            "label_selector=pool%3Dp1&per_page=50",
        ),
    ] {
        let url = format!("{endpoint}/servers?{query}");
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..concurrency {
            let (client, url) = (client.clone(), url.clone());
            workers.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline && latencies.len() < MAX_REQUESTS / concurrency {
                    let t = Instant::now();
                    let resp = client
                        .get(&url)
                        .bearer_auth(TOKEN)
                        .send()
                        .await
                        .expect("list");
                    assert!(resp.status().is_success());
                    resp.bytes().await.expect("body");
                    latencies.push(t.elapsed());
                }
                latencies
            }));
        }
        let mut latencies = Vec::new();
        for w in workers {
            latencies.extend(w.await.expect("worker"));
        }
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort();
        let pct = |p: f64| {
            latencies[((latencies.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1000.0
        };
        println!(
            "{label} with {SERVERS} servers, {concurrency} connections: {} requests in {elapsed:.1} s = {:.0} req/s (p50 {:.2} ms, p99 {:.2} ms)",
            latencies.len(),
            latencies.len() as f64 / elapsed,
            pct(0.5),
            pct(0.99),
        );
    }
    sim.shutdown().await.expect("clean shutdown");
}
