//! `make bench`: what Terraform pays for every command that starts the provider.
//! Reports the median over several runs of: process start → handshake line, the first
//! `GetProviderSchema` over automatic mTLS, a warm `GetProviderSchema`, and peak RSS (VmHWM).
//! A benchmark, not a test: it asserts nothing about time.
#![allow(dead_code, unused_imports)]

include!("../tests/support/plugin_client.rs");

use std::time::Instant;

const RUNS: usize = 9;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let (pem, cert, key) = terraform_like_client_cert();
    let mut handshake = Vec::new();
    let mut first_schema = Vec::new();
    let mut warm_schema = Vec::new();
    let mut rss = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let mut provider = Provider::start(
            &[],
            &[
                COOKIE,
                ("PLUGIN_PROTOCOL_VERSIONS", "5,6"),
                ("PLUGIN_CLIENT_CERT", pem.as_str()),
            ],
        );
        let line = provider.next_line();
        handshake.push(started.elapsed());
        let shake = parse_handshake(&line);
        let tls = client_tls(
            shake.server_cert.as_ref().expect("mTLS server cert"),
            cert.clone(),
            key.clone_key(),
        );
        let channel = channel(&shake.socket, Some(tls)).await.expect("connect");
        let t = Instant::now();
        provider_schema(channel.clone()).await.expect("schema");
        first_schema.push(t.elapsed());
        let t = Instant::now();
        provider_schema(channel.clone()).await.expect("schema");
        warm_schema.push(t.elapsed());
        if let Some(kib) = peak_rss_kib(provider.child.id()) {
            rss.push(kib);
        }
        shutdown_and_expect_exit(&mut provider, channel, &shake.socket).await;
    }
    rss.sort_unstable();
    println!("provider start-up ({RUNS} runs, medians, release build {BINARY})");
    println!(
        "  start → handshake line        {:>8.2?}",
        median(handshake)
    );
    println!(
        "  GetProviderSchema (first)     {:>8.2?}",
        median(first_schema)
    );
    println!(
        "  GetProviderSchema (warm)      {:>8.2?}",
        median(warm_schema)
    );
    if let Some(kib) = rss.get(rss.len() / 2) {
        println!(
            "  peak RSS (VmHWM)              {:>8.1} MiB",
            *kib as f64 / 1024.0
        );
    }
}
