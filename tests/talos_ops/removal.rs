//! Shrinking the control plane without losing quorum: graceful removal, refusal of the last
//! member, re-runs, and the fallback for a node that is gone.

use std::time::Duration;

use hk8s::talos::ops::{
    ControlPlane, Error, Membership, RemovalPath, remove_control_plane, remove_dead_members,
    wait_etcd_members,
};

use super::harness::{Cluster, STEP, budget};

async fn member_names(cluster: &Cluster, expected: &[ControlPlane]) -> Vec<String> {
    let members = wait_etcd_members(&cluster.talos, expected, Membership::Exactly, &budget(STEP))
        .await
        .unwrap();
    let mut names: Vec<String> = members.into_iter().map(|m| m.hostname).collect();
    names.sort_unstable();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removes_control_planes_down_to_one_and_refuses_the_last() {
    let cluster = Cluster::with_control_planes(61, &["v1.13.9"], "v1.13.9", 3).await;
    let cps = cluster.control_planes();

    // 3 → 2: the node resets gracefully and leaves etcd; the rest keep quorum.
    let removal = remove_control_plane(&cluster.talos, &cps[2], &cps[..2], &budget(STEP))
        .await
        .unwrap();
    assert_eq!(removal.path, RemovalPath::Left);
    assert!(removal.member_id.is_some());
    assert_eq!(
        member_names(&cluster, &cps[..2]).await,
        ["ops-cp-1", "ops-cp-2"]
    );
    // The graceful reset (reboot = false) wipes the node and powers it off, as Talos does:
    // no config, no membership, and its server is off in the Hetzner API.
    let reset = cluster
        .sim_node_until("ops-cp-3", |n| n.is_some_and(|n| n["mode"] == "down"))
        .await
        .unwrap();
    assert!(reset["etcd_member_id"].is_null());
    assert!(reset["config_hash"].is_null());

    // Re-running the same removal is a no-op.
    let rerun = remove_control_plane(&cluster.talos, &cps[2], &cps[..2], &budget(STEP))
        .await
        .unwrap();
    assert_eq!(rerun.path, RemovalPath::AlreadyGone);
    assert_eq!(rerun.member_id, None);

    // 2 → 1.
    let removal = remove_control_plane(&cluster.talos, &cps[1], &cps[..1], &budget(STEP))
        .await
        .unwrap();
    assert_eq!(removal.path, RemovalPath::Left);
    assert_eq!(member_names(&cluster, &cps[..1]).await, ["ops-cp-1"]);

    // The last member is refused, with or without a "remaining" list naming itself.
    for remaining in [&[][..], &cps[..1]] {
        let refused = remove_control_plane(&cluster.talos, &cps[0], remaining, &budget(STEP))
            .await
            .unwrap_err();
        assert!(
            matches!(&refused, Error::LastEtcdMember { node } if node == "ops-cp-1 (127.61.0.2)"),
            "{refused:?}"
        );
    }
    assert_eq!(member_names(&cluster, &cps[..1]).await, ["ops-cp-1"]);
    assert_eq!(cluster.sim_nodes().await["ops-cp-1"]["mode"], "configured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_control_plane_is_removed_by_id_from_another_member() {
    let cluster = Cluster::with_control_planes(62, &["v1.13.9"], "v1.13.9", 3).await;
    let cps = cluster.control_planes();
    // The server goes off behind our back; its etcd member stays, unreachable.
    cluster.power_off(&cluster.servers[2]).await;

    // Removing a live member now would leave ops-cp-2 and the silent ops-cp-3: no quorum.
    let refused = remove_control_plane(
        &cluster.talos,
        &cps[0],
        &[cps[1].clone(), cps[2].clone()],
        &budget(STEP),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&refused, Error::WouldLoseQuorum { members_left: 2, answering: 1, silent, .. } if silent.len() == 1 && silent[0].starts_with("ops-cp-3 ")),
        "{refused:?}"
    );
    assert_eq!(
        member_names(&cluster, &cps).await,
        ["ops-cp-1", "ops-cp-2", "ops-cp-3"]
    );

    let removal = remove_control_plane(&cluster.talos, &cps[2], &cps[..2], &budget(STEP))
        .await
        .unwrap();
    assert_eq!(removal.path, RemovalPath::RemovedById);
    assert_eq!(
        member_names(&cluster, &cps[..2]).await,
        ["ops-cp-1", "ops-cp-2"]
    );

    let rerun = remove_control_plane(&cluster.talos, &cps[2], &cps[..2], &budget(STEP))
        .await
        .unwrap();
    assert_eq!(rerun.path, RemovalPath::AlreadyGone);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_of_deleted_servers_are_removed_and_live_ones_kept() {
    let mut cluster = Cluster::with_control_planes(69, &["v1.13.9"], "v1.13.9", 3).await;
    let cps = cluster.control_planes();

    // ops-cp-3 is not listed but answers: it is left alone.
    let kept = remove_dead_members(&cluster.talos, &cps[..2], &budget(STEP))
        .await
        .unwrap();
    assert!(kept.removed.is_empty());
    assert_eq!(kept.alive.len(), 1);
    assert_eq!(kept.alive[0].hostname, "ops-cp-3");

    // Its server is deleted behind our back: the member stays and blocks an exact wait ...
    let gone = cluster.servers[2].clone();
    cluster.delete_server(&gone).await;
    let blocked = wait_etcd_members(
        &cluster.talos,
        &cps[..2],
        Membership::Exactly,
        &budget(Duration::from_millis(600)),
    )
    .await
    .unwrap_err();
    assert!(
        blocked
            .to_string()
            .contains("waiting for unexpected member(s) to leave"),
        "{blocked}"
    );

    // ... until it is removed as dead.
    let dead = remove_dead_members(&cluster.talos, &cps[..2], &budget(STEP))
        .await
        .unwrap();
    assert_eq!(dead.removed.len(), 1);
    assert!(dead.alive.is_empty());
    assert_eq!(
        member_names(&cluster, &cps[..2]).await,
        ["ops-cp-1", "ops-cp-2"]
    );
}
