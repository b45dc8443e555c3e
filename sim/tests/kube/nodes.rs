//! What Node objects say about their machines: the architecture of the server type, capacity and
//! allocatable from it (with Talos's reservations), and a pod CIDR block per node that stays the
//! node's for as long as its Node object exists.

use std::net::Ipv4Addr;

use hk8s_sim::talos::proto::machine::RebootRequest;
use serde_json::Value;

use super::support::{Cluster, Shape, apid, named_worker_config};

fn cidr_of(node: &Value) -> String {
    let cidr = node["spec"]["podCIDR"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        node["spec"]["podCIDRs"],
        serde_json::json!([cidr]),
        "{node}"
    );
    cidr
}

#[tokio::test]
async fn nodes_report_their_server_type_and_a_pod_cidr_each() {
    let mut c = Cluster::start(
        Ipv4Addr::new(127, 46, 0, 1),
        Shape {
            workers: 1,
            flannel: true,
        },
    )
    .await;
    let arm = c
        .add_worker("prod-arm-1", "cax21", named_worker_config("prod-arm-1"))
        .await;
    c.boot(arm).await;

    let cp = c.get("/api/v1/nodes/prod-cp-1").await;
    assert_eq!(cp["metadata"]["labels"]["kubernetes.io/arch"], "amd64");
    assert_eq!(cp["metadata"]["labels"]["beta.kubernetes.io/arch"], "amd64");
    assert_eq!(cp["status"]["nodeInfo"]["architecture"], "amd64");
    // cx23: 2 cores, 4 GB, 40 GB disk; control planes reserve 512Mi, workers 384Mi (Talos), and
    // kubelet keeps 100Mi and 10% of the disk for hard eviction.
    assert_eq!(cp["status"]["capacity"]["cpu"], "2");
    assert_eq!(cp["status"]["capacity"]["memory"], "4Gi");
    assert_eq!(cp["status"]["capacity"]["pods"], "110");
    assert_eq!(cp["status"]["capacity"]["ephemeral-storage"], "39758Mi");
    assert_eq!(cp["status"]["allocatable"]["cpu"], "1950m");
    assert_eq!(cp["status"]["allocatable"]["memory"], "3484Mi");

    let arm_node = c.get("/api/v1/nodes/prod-arm-1").await;
    assert_eq!(
        arm_node["metadata"]["labels"]["kubernetes.io/arch"],
        "arm64"
    );
    // A Node is created when its kubelet registers (what `kubectl get nodes` shows as AGE): the
    // worker booted later than the control plane, and neither before the sim started.
    let created = |node: &serde_json::Value| {
        let text = node["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap_or_default();
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("creationTimestamp {text:?}: {e}"))
    };
    let started = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    assert!(
        created(&cp) > started,
        "{}",
        cp["metadata"]["creationTimestamp"]
    );
    assert!(created(&arm_node) >= created(&cp));
    assert_eq!(arm_node["status"]["nodeInfo"]["architecture"], "arm64");
    // cax21: 4 cores, 8 GB, 80 GB disk.
    assert_eq!(arm_node["status"]["capacity"]["cpu"], "4");
    assert_eq!(arm_node["status"]["capacity"]["memory"], "8Gi");
    assert_eq!(arm_node["status"]["allocatable"]["cpu"], "3950m");
    assert_eq!(arm_node["status"]["allocatable"]["memory"], "7708Mi");
    let ephemeral: u64 = arm_node["status"]["allocatable"]["ephemeral-storage"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let disk = (80 * 1024 - 1202) * 1024 * 1024u64;
    assert_eq!(ephemeral, disk - 256 * 1024 * 1024 - disk / 10);

    // Every node has its own /24 of the cluster's pod subnet (10.244.0.0/16 in the config).
    let nodes = c.get("/api/v1/nodes").await;
    let mut cidrs: Vec<String> = nodes["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(cidr_of)
        .collect();
    assert_eq!(cidrs.len(), 3);
    assert!(
        cidrs
            .iter()
            .all(|c| c.starts_with("10.244.") && c.ends_with(".0/24")),
        "{cidrs:?}"
    );
    cidrs.sort();
    cidrs.dedup();
    assert_eq!(cidrs.len(), 3, "blocks are distinct");

    // A block stays the node's while its Node object exists; once the object is deleted and the
    // kubelet registers again (after a reboot), the node gets a new block.
    let before = cidr_of(&c.get("/api/v1/nodes/prod-arm-1").await);
    c.advance(30).await;
    assert_eq!(cidr_of(&c.get("/api/v1/nodes/prod-arm-1").await), before);
    let deleted = c.kube("DELETE", "/api/v1/nodes/prod-arm-1", None).await;
    assert_eq!(deleted.status, 200, "{:?}", deleted.body);
    c.advance(30).await;
    assert_eq!(
        c.kube("GET", "/api/v1/nodes/prod-arm-1", None).await.status,
        404
    );
    let arm_ip = *c.ips.last().unwrap();
    apid(std::net::SocketAddr::new(arm_ip.into(), 50000))
        .await
        .unwrap()
        .reboot(RebootRequest::default())
        .await
        .unwrap();
    c.boot(arm).await;
    let again = cidr_of(&c.get("/api/v1/nodes/prod-arm-1").await);
    assert_ne!(
        again, before,
        "a released block is not handed out again at once"
    );
    assert!(!cidrs.contains(&again), "{again} is another node's");
    c.stop().await;
}
