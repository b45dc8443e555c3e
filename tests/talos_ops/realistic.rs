//! The create-time sequence under the sim's realistic latency model, scaled down: nodes that
//! are still booting are waited for, a bootstrap sent before etcd's services are ready is
//! retried, and the second control plane joins.

use hk8s::talos::apid::BootstrapOutcome;
use hk8s::talos::config::MachineRole;
use hk8s::talos::ops::{Membership, bootstrap_once, wait_apid, wait_etcd_members};
use hk8s_sim::latency::LatencyMode;

use super::harness::{Cluster, STEP, budget};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booting_nodes_are_waited_for_and_bootstrap_is_retried_until_ready() {
    let mut cluster = Cluster::start_with(68, &["v1.13.9"], "v1.13.9", |config| {
        config.latency = LatencyMode::Realistic;
        // Boot 1.5 s, services 0.5 s after it, server create + start 1 s.
        config.time_scale = 0.05;
    })
    .await;
    for name in ["ops-cp-1", "ops-cp-2"] {
        cluster
            .add(name, MachineRole::ControlPlane, "v1.13.9")
            .await;
    }
    // Right after the create calls nothing answers yet; the wait covers the boot.
    let versions = wait_apid(&cluster.talos, &cluster.ips(), &budget(STEP))
        .await
        .unwrap();
    assert!(versions.iter().all(|v| v.tag == "v1.13.9"));
    let bootstrapped = bootstrap_once(&cluster.talos, &cluster.ips(), &budget(STEP))
        .await
        .unwrap();
    assert_eq!(bootstrapped.outcome, BootstrapOutcome::Bootstrapped);
    assert_eq!(bootstrapped.node, cluster.ips()[0]);
    let members = wait_etcd_members(
        &cluster.talos,
        &cluster.control_planes(),
        Membership::Exactly,
        &budget(STEP),
    )
    .await
    .unwrap();
    assert_eq!(members.len(), 2);
}
