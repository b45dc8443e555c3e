//! Waits that cannot finish end with an error saying exactly what was pending; a cancelled
//! token ends them at once.

use std::net::IpAddr;
use std::time::Duration;

use hk8s::talos::ops::{
    ControlPlane, Deadline, Error, Membership, upgrade_node, wait_apid, wait_etcd_members,
};
use tokio_util::sync::CancellationToken;

use super::harness::{Cluster, budget};

const TINY: Duration = Duration::from_millis(600);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_name_what_is_pending() {
    let cluster = Cluster::with_control_planes(67, &["v1.13.9"], "v1.13.9", 1).await;
    let cp = cluster.control_planes()[0].clone();
    let absent: IpAddr = "127.67.0.250".parse().unwrap();

    let err = wait_apid(&cluster.talos, &[cp.ip, absent], &budget(TINY))
        .await
        .unwrap_err();
    let Error::Timeout { what, pending, .. } = &err else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(what, "Talos API of 2 node(s)");
    assert!(
        pending.starts_with(&format!(
            "Talos API answered on: {} (v1.13.9); waiting for 127.67.0.250 (Unavailable:",
            cp.ip
        )),
        "{pending}"
    );

    let ghost = ControlPlane::new("ops-cp-9", absent);
    let err = wait_etcd_members(
        &cluster.talos,
        &[cp.clone(), ghost],
        Membership::Exactly,
        &budget(TINY),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().ends_with(&format!(
            "still pending: etcd members: have ops-cp-1 ({}); waiting for ops-cp-9 (127.67.0.250)",
            cp.ip
        )),
        "{err}"
    );

    let target = "v1.14.0".parse().unwrap();
    let err = upgrade_node(
        &cluster.talos,
        absent,
        &target,
        "img:v1.14.0",
        None,
        &budget(TINY),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::Timeout { pending, .. } if pending.starts_with("Version of node 127.67.0.250: Unavailable")),
        "{err:?}"
    );

    // A cancelled token ends a wait at once, saying what was pending.
    let token = CancellationToken::new();
    token.cancel();
    let cancelled = Deadline::after(Duration::from_secs(3600)).with_cancel(token);
    let err = wait_apid(&cluster.talos, &[absent], &cancelled)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }), "{err:?}");
    assert!(cancelled.elapsed() < Duration::from_secs(60));
}
