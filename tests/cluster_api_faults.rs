//! `hk8s_cluster` through what Talos and Kubernetes really do when things go wrong, with real
//! Terraform against hk8s-sim: the FIRST apply converges (no rerun allowed) while apid answers
//! `Unavailable` or slowly, nodes reboot unexpectedly and boot slowly, and the Kubernetes API
//! answers 5xx and 429 with `Retry-After`; the plan after it is empty and the destroy leaves
//! nothing; a node pool grows and shrinks with every kind at once. Each test asserts from
//! `/_sim/stats` that its faults were met, so that none passes without them.
//!
//! Dropped watches (`watch_drop`) are covered in the sim's own tests: the provider polls and
//! never watches.

mod cluster;
mod support;

use std::process::Output;

use cluster::hcl;
use cluster::world::World;
use serde_json::Value;
use support::{Workdir, terraforms};

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Creates a cluster of `count` control planes under `faults` in loopback block `block`,
/// checks that the first apply succeeds with every node running and configured, that the plan
/// after it is empty and that the destroy leaves nothing; returns the sim's statistics (`None`
/// without Terraform, which `HK8S_REQUIRE_TOOLS` turns into a failure).
fn converge_under(block: u8, faults: &str, name: &str, count: u32) -> Option<Value> {
    let tf = terraforms().into_iter().next()?;
    let world = World::start(block, &["v1.13.9"], |c| {
        c.faults = faults.parse().expect("fault spec");
    });
    let w = Workdir::new(
        &tf,
        &hcl::cluster(&world.endpoint, name, count, "v1.13.9", "1.35.0", ""),
    );
    let started = std::time::Instant::now();
    let applied = w.run(&["apply", "-auto-approve", "-no-color"]);
    eprintln!("{faults}: apply took {:?}", started.elapsed());
    assert!(
        applied.status.success(),
        "{faults}: the first apply failed:\n{}",
        text(&applied)
    );
    let servers: Vec<String> = world
        .cluster_objects(name)
        .into_iter()
        .filter(|o| o.starts_with("servers "))
        .collect();
    assert_eq!(
        servers,
        (1..=count)
            .map(|n| format!("servers {name}-cp-{n} running fsn1"))
            .collect::<Vec<_>>(),
        "{faults}"
    );
    let nodes = world.state()["talos_nodes"].clone();
    let members = nodes
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["etcd_member_id"].is_string())
        .count();
    assert_eq!(
        members, count as usize,
        "{faults}: every control plane is an etcd member: {nodes}"
    );
    let plan = w.run(&["plan", "-detailed-exitcode", "-no-color", "-input=false"]);
    assert_eq!(
        plan.status.code(),
        Some(0),
        "{faults}: the plan after the apply is not empty:\n{}",
        text(&plan)
    );
    let stats = world.stats();
    let destroyed = w.run(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        destroyed.status.success(),
        "{faults}: the destroy failed:\n{}",
        text(&destroyed)
    );
    assert_eq!(
        world.cluster_objects(name),
        Vec::<String>::new(),
        "{faults}: the destroy left objects"
    );
    eprintln!("{faults}: {}", stats["api_faults"]);
    Some(stats)
}

fn met(stats: &Value, kind: &str) -> u64 {
    stats["api_faults"][kind].as_u64().unwrap_or(0)
}

#[test]
fn first_apply_converges_while_apid_is_unavailable_or_slow() {
    let Some(stats) = converge_under(
        28,
        "talos_unavailable=0.15,talos_slow=0.15,seed=1",
        "apidfaults",
        3,
    ) else {
        return;
    };
    assert!(met(&stats, "talos_unavailable") >= 3, "{stats}");
    assert!(met(&stats, "talos_slow") >= 3, "{stats}");
}

#[test]
fn first_apply_converges_while_nodes_reboot_unexpectedly_and_boot_slowly() {
    // One control plane: while it reboots, the Kubernetes API is gone altogether.
    let Some(stats) = converge_under(29, "talos_reboot=0.3,slow_boot=3,seed=21", "rebooting", 1)
    else {
        return;
    };
    assert!(met(&stats, "talos_reboot") >= 1, "{stats}");
    assert!(met(&stats, "slow_boot") >= 2, "{stats}");
}

#[test]
fn first_apply_converges_while_the_kubernetes_api_answers_5xx_and_429() {
    let Some(stats) = converge_under(31, "kube_5xx=0.2,kube_429=0.1,seed=3", "kubefaults", 1)
    else {
        return;
    };
    assert!(met(&stats, "kube_5xx") >= 3, "{stats}");
    assert!(met(&stats, "kube_429") >= 1, "{stats}");
}

/// Every kind at once on a one-node control plane with a worker pool that grows and shrinks:
/// scale-down drains, resets and deletes nodes while the API server and the nodes misbehave.
#[test]
fn a_pool_grows_and_shrinks_under_every_api_fault() {
    let Some(tf) = terraforms().into_iter().next() else {
        return;
    };
    let faults = "talos_reboot=0.15,talos_unavailable=0.1,talos_slow=0.1,kube_5xx=0.1,\
                  kube_429=0.05,slow_boot=2,seed=43";
    let world = World::start(34, &["v1.13.9"], |c| {
        c.faults = faults.parse().expect("fault spec");
    });
    let config = |workers: u32| {
        format!(
            "{}{}",
            hcl::cluster(&world.endpoint, "pooled", 1, "v1.13.9", "1.35.0", ""),
            hcl::pool("work", "cax21", workers, "")
        )
    };
    let w = Workdir::new(&tf, &config(2));
    for workers in [2, 4, 2] {
        w.write_main(&config(workers));
        let applied = w.run(&["apply", "-auto-approve", "-no-color"]);
        assert!(
            applied.status.success(),
            "{workers} workers: the apply failed:\n{}",
            text(&applied)
        );
        let servers: Vec<String> = world
            .cluster_objects("pooled")
            .into_iter()
            .filter(|o| o.starts_with("servers pooled-work-"))
            .collect();
        assert_eq!(servers.len(), workers as usize, "{servers:?}");
    }
    let plan = w.run(&["plan", "-detailed-exitcode", "-no-color", "-input=false"]);
    assert_eq!(plan.status.code(), Some(0), "{}", text(&plan));
    let stats = world.stats();
    let destroyed = w.run(&["destroy", "-auto-approve", "-no-color"]);
    assert!(destroyed.status.success(), "{}", text(&destroyed));
    assert_eq!(world.cluster_objects("pooled"), Vec::<String>::new());
    for kind in [
        "talos_reboot",
        "talos_unavailable",
        "talos_slow",
        "kube_5xx",
        "kube_429",
        "slow_boot",
    ] {
        assert!(met(&stats, kind) >= 1, "{kind}: {stats}");
    }
}
