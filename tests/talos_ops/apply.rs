//! Configuration changes with the mode they need: live when possible; a change that needs a
//! reboot is refused, staged, or applied with a reboot as the caller says.

use std::collections::BTreeMap;
use std::time::Duration;

use hk8s::talos::config::MachineRole;
use hk8s::talos::ops::{ChangeMode, Error, RebootPolicy, apply_config, dry_run, wait_apid};

use super::harness::{Cluster, Kubernetes, STEP, budget};

/// The labels of Kubernetes node `name` once it has registered (bounded polling).
async fn node_labels(
    kube: &Kubernetes,
    name: &str,
    until: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..400 {
        if let Ok(Some(node)) = kube.get(&format!("/api/v1/nodes/{name}")).await
            && until(&node["metadata"]["labels"])
        {
            return node["metadata"]["labels"].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("node {name} never showed the expected labels");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_apply_live_or_with_the_reboot_the_caller_allows() {
    let mut cluster = Cluster::with_control_planes(65, &["v1.13.9"], "v1.13.9", 1).await;
    let worker = cluster
        .add("ops-worker-1", MachineRole::Worker, "v1.13.9")
        .await;
    wait_apid(&cluster.talos, &[worker.ip], &budget(STEP))
        .await
        .unwrap();
    let kube = cluster.kubernetes().await;
    node_labels(&kube, "ops-worker-1", |_| true).await;

    // A label change applies live, even when reboots are refused.
    let labelled = cluster.config_with(
        &cluster.input,
        "ops-worker-1",
        MachineRole::Worker,
        BTreeMap::from([("pool".to_owned(), "blue".to_owned())]),
    );
    let plan = dry_run(
        &cluster.talos,
        worker.ip,
        labelled.as_bytes(),
        &budget(STEP),
    )
    .await
    .unwrap();
    assert!(!plan.needs_reboot, "{plan:?}");
    let applied = apply_config(
        &cluster.talos,
        worker.ip,
        labelled.as_bytes(),
        RebootPolicy::Refuse,
        &budget(STEP),
    )
    .await
    .unwrap();
    assert_eq!(applied.mode, ChangeMode::NoReboot);
    let labels = node_labels(&kube, "ops-worker-1", |l| l["pool"] == "blue").await;
    assert_eq!(labels["pool"], "blue");

    // A change of cluster identity needs a reboot: the dry run says so in advance.
    let mut renamed_input = cluster.input.clone();
    renamed_input.name = "ops-renamed".into();
    let renamed = cluster.config_with(
        &renamed_input,
        "ops-worker-1",
        MachineRole::Worker,
        BTreeMap::new(),
    );
    let plan = dry_run(&cluster.talos, worker.ip, renamed.as_bytes(), &budget(STEP))
        .await
        .unwrap();
    assert!(plan.needs_reboot, "{plan:?}");
    let before = cluster.sim_nodes().await["ops-worker-1"].clone();

    // Refused: nothing is applied.
    let refused = apply_config(
        &cluster.talos,
        worker.ip,
        renamed.as_bytes(),
        RebootPolicy::Refuse,
        &budget(STEP),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&refused, Error::RebootRequired { node, .. } if *node == worker.ip),
        "{refused:?}"
    );
    let after_refusal = cluster.sim_nodes().await["ops-worker-1"].clone();
    assert_eq!(after_refusal["config_hash"], before["config_hash"]);
    assert!(after_refusal["staged_config_hash"].is_null());

    // Staged: stored for the next reboot, the running config is unchanged.
    let staged = apply_config(
        &cluster.talos,
        worker.ip,
        renamed.as_bytes(),
        RebootPolicy::Stage,
        &budget(STEP),
    )
    .await
    .unwrap();
    assert_eq!(staged.mode, ChangeMode::Staged);
    let after_staging = cluster.sim_nodes().await["ops-worker-1"].clone();
    assert_eq!(after_staging["config_hash"], before["config_hash"]);
    let staged_hash = after_staging["staged_config_hash"].clone();
    assert!(staged_hash.is_string());

    // Rebooted: returns once the node runs the new configuration.
    let rebooted = apply_config(
        &cluster.talos,
        worker.ip,
        renamed.as_bytes(),
        RebootPolicy::Reboot,
        &budget(STEP),
    )
    .await
    .unwrap();
    assert_eq!(rebooted.mode, ChangeMode::Rebooted);
    let after_reboot = cluster.sim_nodes().await["ops-worker-1"].clone();
    assert_eq!(after_reboot["config_hash"], staged_hash);
    assert_eq!(after_reboot["mode"], "configured");

    // Applying it again changes nothing and needs no reboot.
    let again = apply_config(
        &cluster.talos,
        worker.ip,
        renamed.as_bytes(),
        RebootPolicy::Refuse,
        &budget(STEP),
    )
    .await
    .unwrap();
    assert_eq!(again.mode, ChangeMode::NoReboot);
}
