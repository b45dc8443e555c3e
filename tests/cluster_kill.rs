//! Terraform killed with SIGKILL (Terraform and the provider together, as a CI runner's timeout
//! or an OOM kill does) at seeded points of a create, a control-plane scale-down and a Talos
//! upgrade: each time, the next `terraform apply` converges with no duplicate server and no lost
//! etcd member, and the plan after it is empty.
//!
//! A point is a level of the operation's **progress**: the Hetzner requests it made plus the
//! changes seen in its Talos nodes (version, boot phase, configuration, etcd membership), observed
//! by polling `/_sim/stats` and `/_sim/state`. An uninterrupted run of the operation measures its
//! progress first, and the kill points are drawn from the first 90% of it, one in each equal
//! slice, so they cover the whole operation. The same seed gives the same points (the progress of
//! a run varies a little with timing, so a point near the end may come after the apply finished:
//! each operation tolerates one such point). `HK8S_KILL_SEED` picks other points,
//! `HK8S_KILL_POINTS` how many per operation (default 9 for the create, 7 each for the
//! scale-down and the upgrade: at least 20 kills in all).

mod cluster;
mod support;

use std::process::Child;
use std::time::{Duration, Instant};

use cluster::hcl;
use cluster::plan_is_empty;
use cluster::world::World;
use serde_json::Value;
use support::{Workdir, terraforms};

/// Seed of the kill points when `HK8S_KILL_SEED` is not set.
const DEFAULT_SEED: u64 = 14;
/// The longest an apply may take here (the sim runs 100× faster than real time).
const APPLY_LIMIT: Duration = Duration::from_secs(300);

fn seed() -> u64 {
    std::env::var("HK8S_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

fn points_per_operation(default: u32) -> u32 {
    std::env::var("HK8S_KILL_POINTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// `count` kill points in the first 90% of `1..events`, one drawn in each of `count` equal slices
/// (splitmix64 of the seed and the operation's name, so each operation has its own points).
fn kill_points(operation: &str, events: u32, count: u32) -> Vec<u32> {
    let mut state = seed()
        ^ operation.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let span = (f64::from(events) * 0.9 - 1.0).max(1.0);
    (0..count)
        .map(|i| {
            let within = (next() >> 11) as f64 / (1u64 << 53) as f64;
            1 + ((f64::from(i) + within) / f64::from(count) * span) as u32
        })
        .collect()
}

/// What the sim shows: (Hetzner requests so far, the Talos nodes' states).
fn observe(world: &World) -> (u64, String) {
    let stats = world.stats();
    let state = world.state();
    let nodes: Vec<String> = state["talos_nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .map(|n| {
                    format!(
                        "{} {} {} {} {}",
                        n["server_id"],
                        n["version"],
                        n["mode"],
                        n["config_hash"],
                        n["etcd_member_id"]
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (stats["total"].as_u64().unwrap_or(0), nodes.join(" | "))
}

/// How an apply ended.
struct Run {
    /// Progress made.
    events: u32,
    /// Whether it was killed (else it finished successfully).
    killed: bool,
}

/// Runs `terraform apply` in `w`, killing it once its progress reaches `kill_at` (never when
/// `None`: it must then succeed).
fn apply_until(world: &World, w: &Workdir, kill_at: Option<u32>) -> Run {
    let mut child: Child = w.spawn(&["apply", "-auto-approve", "-no-color"]);
    let started = Instant::now();
    let (requests_before, mut nodes) = observe(world);
    let mut node_changes = 0u64;
    let mut events = 0;
    loop {
        if let Some(status) = child.try_wait().expect("terraform runs") {
            assert!(
                kill_at.is_some() || status.success(),
                "the uninterrupted apply failed: {status}"
            );
            return Run {
                events,
                killed: false,
            };
        }
        assert!(started.elapsed() < APPLY_LIMIT, "the apply hangs");
        let (requests, now) = observe(world);
        if now != nodes {
            node_changes += 1;
            nodes = now;
        }
        events = u32::try_from(requests - requests_before + node_changes).unwrap_or(u32::MAX);
        if kill_at.is_some_and(|k| events >= k) {
            Workdir::kill(&mut child);
            return Run {
                events,
                killed: true,
            };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The cluster `name` has converged on `count` control planes running `talos`: one apply
/// succeeds, the plan after it is empty, the servers are exactly `name-cp-1..count` (no
/// duplicate), each is an etcd member, and etcd has exactly that many members with quorum.
fn assert_converged(world: &World, w: &Workdir, name: &str, count: u32, talos: &str, point: &str) {
    let out = w.run(&["apply", "-auto-approve", "-no-color"]);
    assert!(
        out.status.success(),
        "{point}: the apply after the kill failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    plan_is_empty(w);
    let servers: Vec<String> = world
        .labelled(name)
        .into_iter()
        .filter_map(|o| o.strip_prefix("servers ").map(str::to_owned))
        .collect();
    let expected: Vec<String> = (1..=count).map(|i| format!("{name}-cp-{i}")).collect();
    if servers != expected {
        let state = world.state();
        let detail: Vec<String> = state["servers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["labels"]["hk8s.io/cluster"] == name)
            .map(|s| format!("{} {} {}", s["name"], s["status"], s["labels"]))
            .collect();
        panic!("{point}: the servers are {servers:?}, not {expected:?}: {detail:#?}");
    }
    let state = world.state();
    let kube = state["kubernetes"]
        .as_array()
        .and_then(|clusters| clusters.iter().find(|c| c["cluster"] == name))
        .unwrap_or_else(|| panic!("{point}: no cluster {name} in the sim: {state}"));
    assert_eq!(kube["etcd_members"], count, "{point}: etcd members");
    assert_eq!(kube["quorum"], true, "{point}: etcd quorum");
    let nodes: Vec<&Value> = state["talos_nodes"]
        .as_array()
        .map(|n| {
            n.iter()
                .filter(|n| {
                    n["hostname"]
                        .as_str()
                        .is_some_and(|h| expected.iter().any(|e| e == h))
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(nodes.len(), count as usize, "{point}: Talos nodes");
    for n in nodes {
        assert_eq!(n["version"], talos, "{point}: {}", n["hostname"]);
        assert!(
            n["etcd_member_id"].is_string(),
            "{point}: {} is no etcd member",
            n["hostname"]
        );
    }
}

/// Points whose apply finished before its progress reached them.
#[derive(Default)]
struct Late(Vec<String>);

impl Late {
    /// Whether the run was killed; a run that finished first is noted.
    fn killed(&mut self, point: &str, run: Run) -> bool {
        if !run.killed {
            eprintln!(
                "{point}: the apply finished first (its progress: {})",
                run.events
            );
            self.0.push(point.to_owned());
        }
        run.killed
    }

    /// The runs vary a little from the measured one, so a point near the end may come after the
    /// apply finished; more than one such point means the points no longer fit the operation.
    fn at_most_one(&self) {
        assert!(
            self.0.len() <= 1,
            "points after the apply finished: {:?}",
            self.0
        );
    }
}

fn destroy(world: &World, w: &Workdir, name: &str) {
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        world.labelled(name).is_empty(),
        "{:?}",
        world.labelled(name)
    );
}

/// A create of three control planes killed at seeded points converges on the next apply.
#[test]
fn a_create_killed_at_seeded_points_converges() {
    let Some(tf) = terraforms().into_iter().next() else {
        return;
    };
    let world = World::start(60, &["v1.13.9"], |_| {});
    let w = Workdir::new(
        &tf,
        &hcl::cluster(&world.endpoint, "kc", 3, "v1.13.9", "1.35.0", ""),
    );
    let reference = apply_until(&world, &w, None);
    // Until a refresh sees the secrets in state, the create's bundle is kept beside it, so that
    // a create killed just before Terraform wrote the state can adopt its servers.
    let journal = w.path().join(".terraform/hk8s/kc.secrets.yaml");
    assert!(
        journal.exists(),
        "the create keeps its secrets in {journal:?}"
    );
    destroy(&world, &w, "kc");
    assert!(!journal.exists(), "the destroy deletes {journal:?}");
    let mut late = Late::default();
    for k in kill_points("create", reference.events, points_per_operation(9)) {
        let point = format!("create killed at progress {k} of {}", reference.events);
        if late.killed(&point, apply_until(&world, &w, Some(k))) {
            assert_converged(&world, &w, "kc", 3, "v1.13.9", &point);
        }
        destroy(&world, &w, "kc");
    }
    late.at_most_one();
}

/// A scale-down from five control planes to three killed at seeded points converges on the
/// next apply: the two added last are gone, the three first keep etcd with quorum. A kill after
/// a leaving node's reset (its server off, so not counted) is the case that needs
/// `leaving_nodes`: without it the plan after the kill was empty and the server stayed. The
/// failure message lists every server of the cluster with its status and labels.
#[test]
fn a_control_plane_scale_down_killed_at_seeded_points_converges() {
    let Some(tf) = terraforms().into_iter().next() else {
        return;
    };
    let world = World::start(97, &["v1.13.9"], |_| {});
    let config = |count| hcl::cluster(&world.endpoint, "ks", count, "v1.13.9", "1.35.0", "");
    let w = Workdir::new(&tf, &config(5));
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    w.write_main(&config(3));
    let reference = apply_until(&world, &w, None);
    let mut late = Late::default();
    for k in kill_points("scale-down", reference.events, points_per_operation(7)) {
        let point = format!("scale-down killed at progress {k} of {}", reference.events);
        w.write_main(&config(5));
        w.run_ok(&["apply", "-auto-approve", "-no-color"]);
        w.write_main(&config(3));
        if late.killed(&point, apply_until(&world, &w, Some(k))) {
            assert_converged(&world, &w, "ks", 3, "v1.13.9", &point);
        }
    }
    late.at_most_one();
    destroy(&world, &w, "ks");
}

/// A Talos upgrade of three control planes killed at seeded points converges on the next
/// apply: every node runs the new version and etcd keeps its three members. The points
/// alternate between v1.13.9 → v1.13.10 and back (a patch downgrade is an upgrade to Talos).
#[test]
fn a_talos_upgrade_killed_at_seeded_points_converges() {
    let Some(tf) = terraforms().into_iter().next() else {
        return;
    };
    let world = World::start(98, &["v1.13.9"], |_| {});
    let config = |talos| hcl::cluster(&world.endpoint, "ku", 3, talos, "1.35.0", "");
    let w = Workdir::new(&tf, &config("v1.13.9"));
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    w.write_main(&config("v1.13.10"));
    let reference = apply_until(&world, &w, None);
    let mut current = "v1.13.10";
    let mut late = Late::default();
    for k in kill_points("upgrade", reference.events, points_per_operation(7)) {
        let point = format!(
            "upgrade to {} killed at progress {k} of {}",
            other(current),
            reference.events
        );
        current = other(current);
        w.write_main(&config(current));
        if late.killed(&point, apply_until(&world, &w, Some(k))) {
            assert_converged(&world, &w, "ku", 3, current, &point);
        }
    }
    late.at_most_one();
    destroy(&world, &w, "ku");
}

fn other(version: &str) -> &'static str {
    if version == "v1.13.9" {
        "v1.13.10"
    } else {
        "v1.13.9"
    }
}

#[test]
fn kill_points_cover_the_operation_and_follow_the_seed() {
    let points = kill_points("create", 200, 8);
    assert_eq!(points.len(), 8);
    assert!(points.windows(2).all(|w| w[0] <= w[1]), "{points:?}");
    assert!(points.iter().all(|&k| (1..=180).contains(&k)), "{points:?}");
    assert!(
        points[0] < 25 && points[7] >= 155,
        "one per slice: {points:?}"
    );
    assert_eq!(points, kill_points("create", 200, 8), "seeded");
    assert_ne!(points, kill_points("upgrade", 200, 8), "per operation");
}
