//! The soak: cycles of create → scale → Talos upgrade → destroy of a cluster with a node pool,
//! with real Terraform against one hk8s-sim that injects seeded faults all along (by default
//! Hetzner 5xx, `locked`, 429 bursts and failed actions; Talos API refusals, slow answers,
//! unexpected reboots and slow boots; Kubernetes API 5xx and 429). Every apply must succeed the first time;
//! after each step no server name exists twice in the project, and after each destroy nothing
//! of the cluster is left (servers, networks, firewalls, load balancers, placement groups,
//! volumes). One summary line per cycle goes to stderr.
//!
//! `make test` runs one cycle; `make soak` runs `HK8S_SOAK_CYCLES` (default 10 there).
//! `HK8S_SOAK_SEED` seeds the faults (default 14), `HK8S_SOAK_FAULTS` replaces the fault mix
//! (the `--faults` syntax of hk8s-sim, without the seed).

mod cluster;
mod support;

use std::time::{Duration, Instant};

use cluster::hcl;
use cluster::world::World;
use serde_json::Value;
use support::{Workdir, terraforms};

/// The default fault mix: Hetzner on a bad day (5xx, `locked`, 429 bursts, failed actions),
/// Talos nodes that refuse, answer slowly, reboot unexpectedly and boot slowly, and a Kubernetes
/// API that answers 5xx and 429 with `Retry-After`.
const DEFAULT_FAULTS: &str = "5xx=0.05,locked=0.05,429burst=0.02,action_error=0.03,\
     talos_unavailable=0.03,talos_slow=0.05,talos_reboot=0.02,slow_boot=2,kube_5xx=0.03,kube_429=0.03";

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn config(world: &World, talos: &str, control_planes: u32, workers: u32) -> String {
    format!(
        "{}{}",
        hcl::cluster(&world.endpoint, "soak", control_planes, talos, "1.35.0", ""),
        hcl::pool("web", "cx23", workers, "")
    )
}

/// Runs `terraform apply` (or `destroy`), which must succeed at once; returns how long it took.
fn step(w: &Workdir, what: &str, cycle: u32, args: &[&str]) -> Duration {
    let started = Instant::now();
    let out = w.run(args);
    assert!(
        out.status.success(),
        "cycle {cycle}: {what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    started.elapsed()
}

/// Objects of `kind` in the sim's own view (never faulted, unlike the API).
fn objects<'a>(state: &'a Value, kind: &str) -> impl Iterator<Item = &'a Value> {
    state[kind].as_array().into_iter().flatten()
}

/// Server names that exist more than once in the project.
fn duplicate_servers(world: &World) -> Vec<String> {
    let state = world.state();
    let mut names: Vec<&str> = objects(&state, "servers")
        .filter_map(|s| s["name"].as_str())
        .collect();
    names.sort_unstable();
    let mut duplicates: Vec<String> = names
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0].to_owned())
        .collect();
    duplicates.dedup();
    duplicates
}

/// Everything left in the project: the cluster's objects and anything else (the CCM's load
/// balancers, the CSI driver's volumes, the snapshots aside: they are shared by design).
fn leftovers(world: &World) -> Vec<String> {
    let mut kinds = cluster::world::CLUSTER_KINDS.to_vec();
    kinds.push("volumes");
    world.objects(None, &kinds)
}

#[test]
fn create_scale_upgrade_destroy_cycles_under_faults_leave_nothing() {
    let Some(tf) = terraforms().into_iter().next() else {
        return;
    };
    let cycles: u32 = env_or("HK8S_SOAK_CYCLES", 1);
    let seed: u64 = env_or("HK8S_SOAK_SEED", 14);
    let faults = std::env::var("HK8S_SOAK_FAULTS").unwrap_or_else(|_| DEFAULT_FAULTS.to_owned());
    let world = World::start(96, &["v1.13.9", "v1.13.10"], |c| {
        c.faults = format!("{faults},seed={seed}").parse().expect("fault spec");
    });
    let w = Workdir::new(&tf, &config(&world, "v1.13.9", 1, 1));
    let mut talos = "v1.13.9";
    for cycle in 1..=cycles {
        let before = world.stats();
        w.write_main(&config(&world, talos, 1, 1));
        let create = step(
            &w,
            "create",
            cycle,
            &["apply", "-auto-approve", "-no-color"],
        );
        assert_eq!(
            duplicate_servers(&world),
            Vec::<String>::new(),
            "cycle {cycle}: after create"
        );

        w.write_main(&config(&world, talos, 3, 3));
        let scale = step(
            &w,
            "scale to 3 + 3",
            cycle,
            &["apply", "-auto-approve", "-no-color"],
        );
        assert_eq!(
            duplicate_servers(&world),
            Vec::<String>::new(),
            "cycle {cycle}: after scale"
        );

        talos = if talos == "v1.13.9" {
            "v1.13.10"
        } else {
            "v1.13.9"
        };
        w.write_main(&config(&world, talos, 3, 3));
        let upgrade = step(
            &w,
            "Talos upgrade",
            cycle,
            &["apply", "-auto-approve", "-no-color"],
        );
        let plan = w.run(&["plan", "-detailed-exitcode", "-no-color", "-input=false"]);
        assert_eq!(
            plan.status.code(),
            Some(0),
            "cycle {cycle}: the plan after the upgrade is not empty:\n{}",
            String::from_utf8_lossy(&plan.stdout)
        );

        let destroy = step(
            &w,
            "destroy",
            cycle,
            &["destroy", "-auto-approve", "-no-color"],
        );
        let left = leftovers(&world);
        let after = world.stats();
        let count = |stats: &Value, key: &str| stats[key].as_u64().unwrap_or(0);
        eprintln!(
            "soak cycle {cycle}/{cycles} (seed {seed}): create {create:.1?}, scale {scale:.1?}, \
             upgrade to {talos} {upgrade:.1?}, destroy {destroy:.1?}; Hetzner requests {}, \
             faults injected {}, 429s {}; leftovers {}, duplicate servers 0",
            count(&after, "total") - count(&before, "total"),
            count(&after, "faults_injected") - count(&before, "faults_injected"),
            count(&after, "rate_limited") - count(&before, "rate_limited"),
            left.len(),
        );
        assert_eq!(
            left,
            Vec::<String>::new(),
            "cycle {cycle}: left after destroy"
        );
    }
    assert!(
        world.stats()["faults_injected"].as_u64().unwrap_or(0) > 0,
        "no fault was injected: the soak showed nothing"
    );
}
