//! Waiting for apid, bootstrapping once, and growing the control plane 1 → 3.

use std::net::IpAddr;

use hk8s::talos::apid::BootstrapOutcome;
use hk8s::talos::config::MachineRole;
use hk8s::talos::ops::{Bootstrapped, Membership, bootstrap_once, wait_apid, wait_etcd_members};

use super::harness::{Cluster, STEP, budget};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstraps_exactly_once_then_grows_to_three_members() {
    let mut cluster = Cluster::start(60, &["v1.13.9"], "v1.13.9").await;
    let cp1 = cluster
        .add("ops-cp-1", MachineRole::ControlPlane, "v1.13.9")
        .await;

    let versions = wait_apid(&cluster.talos, &[cp1.ip], &budget(STEP))
        .await
        .unwrap();
    assert_eq!(versions[0].tag, "v1.13.9");
    assert_eq!(versions[0].hostname, "ops-cp-1");

    // The first candidate does not exist: it is passed over for the next one.
    let absent: IpAddr = "127.60.0.250".parse().unwrap();
    let first = bootstrap_once(&cluster.talos, &[absent, cp1.ip], &budget(STEP))
        .await
        .unwrap();
    assert_eq!(
        first,
        Bootstrapped {
            node: cp1.ip,
            outcome: BootstrapOutcome::Bootstrapped
        }
    );
    let again = bootstrap_once(&cluster.talos, &[cp1.ip], &budget(STEP))
        .await
        .unwrap();
    assert_eq!(again.outcome, BootstrapOutcome::AlreadyBootstrapped);

    let members = wait_etcd_members(
        &cluster.talos,
        &cluster.control_planes(),
        Membership::Exactly,
        &budget(STEP),
    )
    .await
    .unwrap();
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].hostname, "ops-cp-1");

    // Scale 1 → 3: the new control planes join by themselves; the wait sees all three.
    for name in ["ops-cp-2", "ops-cp-3"] {
        cluster
            .add(name, MachineRole::ControlPlane, "v1.13.9")
            .await;
    }
    wait_apid(&cluster.talos, &cluster.ips(), &budget(STEP))
        .await
        .unwrap();
    let members = wait_etcd_members(
        &cluster.talos,
        &cluster.control_planes(),
        Membership::Exactly,
        &budget(STEP),
    )
    .await
    .unwrap();
    let mut names: Vec<_> = members.iter().map(|m| m.hostname.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["ops-cp-1", "ops-cp-2", "ops-cp-3"]);
    assert!(members.iter().all(|m| !m.is_learner));

    // Bootstrapping any of them now is a no-op: still one etcd cluster.
    let late = bootstrap_once(&cluster.talos, &[cluster.ips()[2]], &budget(STEP))
        .await
        .unwrap();
    assert_eq!(late.outcome, BootstrapOutcome::AlreadyBootstrapped);
    let sim = cluster.sim_nodes().await;
    assert!(
        sim.values().all(|n| n["etcd_member_id"].is_string()),
        "{sim:?}"
    );
}
