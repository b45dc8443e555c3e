//! Talos upgrades: a health-gated rolling upgrade, re-runs that skip the nodes already done,
//! workers without the etcd gate, and the 1.13+ API (Pull, LifecycleService.Upgrade, Reboot).
//!
//! The targets are patch releases of the same minor: hk8s-sim refuses an upgrade unless the
//! node's current configuration validates against the *target* minor's published JSON schema,
//! and the schemas of 1.13 and 1.14 drop v1alpha1 fields that the 1.12 and 1.13 contracts
//! still write (`machine.network`, most of `cluster.*`), which real Talos keeps accepting.

use hk8s::talos::config::MachineRole;
use hk8s::talos::ops::{
    ControlPlane, Membership, UpgradeReport, installer_image, rolling, upgrade_node,
    wait_etcd_members,
};
use hk8s::talos::version::TalosVersion;

use super::harness::{Cluster, STEP, budget};

/// The default Image Factory schematic the sim labels its snapshots with.
const SCHEMATIC: &str = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba";

/// Upgrades control planes `nodes` one at a time, each gated on etcd having every control
/// plane again.
async fn roll(
    cluster: &Cluster,
    nodes: &[ControlPlane],
    target: &TalosVersion,
) -> Vec<UpgradeReport> {
    let image = installer_image(Some(SCHEMATIC), target);
    let all = cluster.control_planes();
    let all = &all;
    rolling(
        &format!("Talos upgrade to {target}"),
        nodes,
        |node| {
            let image = image.clone();
            async move {
                upgrade_node(
                    &cluster.talos,
                    node.ip,
                    target,
                    &image,
                    Some(all),
                    &budget(STEP),
                )
                .await
            }
        },
        |_, _| async move {
            wait_etcd_members(&cluster.talos, all, Membership::Exactly, &budget(STEP))
                .await
                .map(drop)
        },
    )
    .await
    .unwrap()
}

async fn sim_versions(cluster: &Cluster) -> Vec<String> {
    cluster
        .sim_nodes()
        .await
        .values()
        .map(|n| n["version"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_upgrade_is_health_gated_and_idempotent_when_rerun() {
    let mut cluster =
        Cluster::with_control_planes(63, &["v1.12.11", "v1.12.12"], "v1.12.11", 3).await;
    let worker = cluster
        .add("ops-worker-1", MachineRole::Worker, "v1.12.11")
        .await;
    let cps = cluster.control_planes();
    let target: TalosVersion = "v1.12.12".parse().unwrap();

    // An earlier run stopped after the first node.
    let first = roll(&cluster, &cps[..1], &target).await;
    assert!(first[0].upgraded);
    assert_eq!(first[0].from, "v1.12.11");
    assert_eq!(
        sim_versions(&cluster).await,
        ["v1.12.12", "v1.12.11", "v1.12.11", "v1.12.11"]
    );

    // The re-run skips it and upgrades the rest.
    let reports = roll(&cluster, &cps, &target).await;
    let upgraded: Vec<bool> = reports.iter().map(|r| r.upgraded).collect();
    assert_eq!(upgraded, [false, true, true]);
    assert!(reports.iter().all(|r| r.to == "v1.12.12"));

    // A worker has no etcd gate.
    let report = upgrade_node(
        &cluster.talos,
        worker.ip,
        &target,
        &installer_image(None, &target),
        None,
        &budget(STEP),
    )
    .await
    .unwrap();
    assert!(report.upgraded);
    assert_eq!(sim_versions(&cluster).await, ["v1.12.12"; 4]);

    // A third run changes nothing.
    let reports = roll(&cluster, &cps, &target).await;
    assert!(reports.iter().all(|r| !r.upgraded && r.from == "v1.12.12"));

    // The cluster kept all its members, and the Kubernetes nodes show the new OS.
    let members = wait_etcd_members(&cluster.talos, &cps, Membership::Exactly, &budget(STEP))
        .await
        .unwrap();
    assert_eq!(members.len(), 3);
    let kube = cluster.kubernetes().await;
    let node = kube.get("/api/v1/nodes/ops-cp-2").await.unwrap().unwrap();
    assert_eq!(node["status"]["nodeInfo"]["osImage"], "Talos (v1.12.12)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn talos_1_13_nodes_upgrade_through_the_lifecycle_api() {
    let cluster = Cluster::with_control_planes(64, &["v1.13.9", "v1.13.10"], "v1.13.9", 1).await;
    let cps = cluster.control_planes();
    let target: TalosVersion = "v1.13.10".parse().unwrap();
    let reports = roll(&cluster, &cps, &target).await;
    assert!(reports[0].upgraded);
    assert_eq!(sim_versions(&cluster).await, ["v1.13.10"]);
}
