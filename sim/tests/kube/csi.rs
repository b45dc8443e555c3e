//! The hcloud CSI driver stand-in: with a token the API refuses nothing is provisioned; with the
//! project's token a claim of a `WaitForFirstConsumer` class gets a Hetzner volume once its pod
//! is scheduled (sized, placed and labelled as the driver does), bound through a
//! PersistentVolume, attached to the pod's server before the pod starts; a LUKS class keeps the
//! pod in `ContainerCreating` until its passphrase Secret exists; a deleted pod's volume is
//! detached, a deleted claim's volume deleted. The driver's API calls are counted.

use std::net::Ipv4Addr;

use serde_json::{Value, json};

use super::support::{Cluster, Shape};

const PODS: &str = "/api/v1/namespaces/default/pods";
const CLAIMS: &str = "/api/v1/namespaces/default/persistentvolumeclaims";

/// The chart's values as the provider's catalog entry gives them: the chart's default
/// StorageClass and a LUKS one (the chart creates both: a class created beforehand would make
/// helm refuse to install over it), labels for the cluster's volumes; `token` holds the
/// `controller.hcloudToken` lines, if any.
fn csi_values(token: &str) -> String {
    const CLASSES: &str = r#"storageClasses:
  - name: hcloud-volumes
    defaultStorageClass: true
    reclaimPolicy: Delete
  - name: hcloud-volumes-encrypted
    reclaimPolicy: Delete
    extraParameters:
      csi.storage.k8s.io/node-publish-secret-name: encryption-secret
      csi.storage.k8s.io/node-publish-secret-namespace: kube-system
"#;
    format!("controller:\n{token}  volumeExtraLabels:\n    cluster: prod\n{CLASSES}")
}

async fn claim_and_pod(c: &Cluster, name: &str, class: Option<&str>, size: &str) {
    let mut claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}}});
    if let Some(class) = class {
        claim["spec"]["storageClassName"] = json!(class);
    }
    assert_eq!(c.kube("POST", CLAIMS, Some(claim)).await.status, 201);
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"containers": [{"name": "app", "image": "postgres"}],
                 "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": name}}]}});
    assert_eq!(c.kube("POST", PODS, Some(pod)).await.status, 201);
}

async fn get(c: &Cluster, path: &str) -> Value {
    c.get(path).await
}

/// Volumes in the Hetzner API.
async fn volumes(c: &Cluster) -> Vec<Value> {
    c.hcloud("GET", "/volumes", None).await["volumes"]
        .as_array()
        .unwrap()
        .clone()
}

/// Advances the clock until `check` holds (at most two minutes of sim time).
async fn until(c: &Cluster, what: &str, check: impl AsyncFn(&Cluster) -> bool) {
    for _ in 0..24 {
        if check(c).await {
            return;
        }
        c.advance(5).await;
    }
    panic!(
        "never: {what}; state: {}",
        c.state().await["kubernetes"][0]["csi"]
    );
}

#[tokio::test]
async fn claims_become_attached_hetzner_volumes_and_go_with_their_claims() {
    let c = Cluster::start(
        Ipv4Addr::new(127, 46, 0, 1),
        Shape {
            workers: 1,
            flannel: true,
        },
    )
    .await;
    c.install_ccm().await;
    let (worker, worker_name) = c.servers[1].clone();

    // A token the API refuses: the driver provisions nothing.
    c.install_chart_with(
        "hcloud-csi",
        &csi_values("  hcloudToken:\n    value: not-the-project-token\n"),
    )
    .await;
    let classes = c.names("/apis/storage.k8s.io/v1/storageclasses").await;
    assert_eq!(classes, ["hcloud-volumes", "hcloud-volumes-encrypted"]);
    claim_and_pod(&c, "db", None, "1Gi").await;
    c.advance(20).await;
    assert!(volumes(&c).await.is_empty());
    let claim = get(&c, &format!("{CLAIMS}/db")).await;
    assert_eq!(claim["status"]["phase"], "Pending");
    assert_eq!(
        claim["spec"]["storageClassName"], "hcloud-volumes",
        "the default class"
    );
    assert_eq!(
        claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"],
        worker_name.as_str(),
        "the scheduler chose the worker"
    );
    assert_eq!(
        get(&c, &format!("{PODS}/db")).await["status"]["phase"],
        "Pending"
    );
    let state = c.state().await;
    assert_eq!(
        state["kubernetes"][0]["csi"]["error"],
        "unable to authenticate (unauthorized)"
    );

    // The chart's default: Secret `hcloud` key `token`.
    c.install_chart_with("hcloud-csi", &csi_values("")).await;
    until(&c, "the pod runs", async |c| {
        get(c, &format!("{PODS}/db")).await["status"]["phase"] == "Running"
    })
    .await;
    let claim = get(&c, &format!("{CLAIMS}/db")).await;
    assert_eq!(claim["status"]["phase"], "Bound");
    assert_eq!(claim["status"]["capacity"]["storage"], "10Gi");
    let uid = claim["metadata"]["uid"].as_str().unwrap().to_string();
    let pv_name = format!("pvc-{uid}");
    assert_eq!(claim["spec"]["volumeName"], pv_name.as_str());
    let vols = volumes(&c).await;
    assert_eq!(vols.len(), 1, "{vols:?}");
    let volume = &vols[0];
    assert_eq!(volume["name"], pv_name.as_str());
    assert_eq!(volume["size"], 10, "1Gi rounds up to the 10 GB minimum");
    assert_eq!(volume["location"]["name"], "fsn1");
    assert_eq!(volume["server"], worker, "attached to the pod's server");
    assert_eq!(
        volume["labels"],
        json!({"cluster": "prod", "managed-by": "csi-driver", "pvc-name": "db",
               "pvc-namespace": "default", "pv-name": pv_name})
    );
    let pv = get(&c, &format!("/api/v1/persistentvolumes/{pv_name}")).await;
    assert_eq!(pv["spec"]["csi"]["driver"], "csi.hetzner.cloud");
    assert_eq!(pv["spec"]["csi"]["volumeHandle"], volume["id"].to_string());
    assert_eq!(
        pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0],
        json!({"key": "csi.hetzner.cloud/location", "operator": "In", "values": ["fsn1"]})
    );
    assert_eq!(pv["spec"]["claimRef"]["uid"], uid.as_str());
    let pod = get(&c, &format!("{PODS}/db")).await;
    assert_eq!(pod["spec"]["nodeName"], worker_name.as_str());
    let server = c.hcloud("GET", &format!("/servers/{worker}"), None).await;
    assert_eq!(server["server"]["volumes"], json!([volume["id"]]));

    // LUKS: bound and attached, but the kubelet waits for the passphrase Secret.
    claim_and_pod(&c, "secret-db", Some("hcloud-volumes-encrypted"), "15Gi").await;
    until(&c, "the encrypted claim is attached", async |c| {
        volumes(c)
            .await
            .iter()
            .any(|v| v["size"] == 15 && v["server"].is_number())
    })
    .await;
    c.advance(10).await;
    let waiting = get(&c, &format!("{PODS}/secret-db")).await;
    assert_eq!(waiting["status"]["phase"], "Pending");
    assert_eq!(
        waiting["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "ContainerCreating"
    );
    c.secret(
        "encryption-secret",
        &[("encryption-passphrase", "correct horse")],
    )
    .await;
    until(&c, "the encrypted pod runs", async |c| {
        get(c, &format!("{PODS}/secret-db")).await["status"]["phase"] == "Running"
    })
    .await;

    // The pod goes: the volume is detached and stays; the claim goes: the volume is deleted.
    assert_eq!(
        c.kube("DELETE", &format!("{PODS}/db"), None).await.status,
        200
    );
    until(&c, "the volume is detached", async |c| {
        volumes(c)
            .await
            .iter()
            .any(|v| v["name"] == pv_name.as_str() && v["server"].is_null())
    })
    .await;
    assert_eq!(
        c.kube("DELETE", &format!("{CLAIMS}/db"), None).await.status,
        200
    );
    until(&c, "the volume is deleted", async |c| {
        !volumes(c)
            .await
            .iter()
            .any(|v| v["name"] == pv_name.as_str())
    })
    .await;
    assert_eq!(
        c.kube("GET", &format!("/api/v1/persistentvolumes/{pv_name}"), None)
            .await
            .status,
        404
    );
    assert_eq!(
        c.kube("GET", &format!("{CLAIMS}/db"), None).await.status,
        404
    );
    let stats = c.sim.stats().await;
    let csi = &stats["csi_requests"];
    assert_eq!(csi["POST /volumes"], 2, "{csi}");
    assert_eq!(csi["POST /volumes/{id}/actions/attach"], 2, "{csi}");
    assert_eq!(csi["POST /volumes/{id}/actions/detach"], 1, "{csi}");
    assert_eq!(csi["DELETE /volumes/{id}"], 1, "{csi}");
    c.stop().await;
}

#[tokio::test]
async fn a_claim_that_does_not_exist_keeps_its_pod_unschedulable() {
    let c = Cluster::start(
        Ipv4Addr::new(127, 47, 0, 1),
        Shape {
            workers: 1,
            flannel: true,
        },
    )
    .await;
    c.install_ccm().await;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orphan"},
        "spec": {"containers": [{"name": "app", "image": "busybox"}],
                 "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "missing"}}]}});
    assert_eq!(c.kube("POST", PODS, Some(pod)).await.status, 201);
    c.advance(5).await;
    let pod = get(&c, &format!("{PODS}/orphan")).await;
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(
        pod["status"]["conditions"][0]["message"],
        "0/2 nodes are available: persistentvolumeclaim \"missing\" not found."
    );
    c.stop().await;
}

/// A claim Hetzner refuses (20 TiB, over the 10 TB volume limit) stays Pending with the API's
/// error as the provisioner's, and the provisioner backs off as the sidecars' work queues do
/// (1 s doubling to 5 minutes): while the sim clock stands still it spends nothing, and a minute
/// of sim time costs a handful of attempts, not one per pass of the sim's loop.
#[tokio::test]
async fn a_refused_claim_is_retried_with_back_off_not_on_every_pass() {
    let c = Cluster::start(
        Ipv4Addr::new(127, 59, 0, 1),
        Shape {
            workers: 1,
            flannel: true,
        },
    )
    .await;
    c.install_ccm().await;
    c.install_chart_with("hcloud-csi", &csi_values("")).await;
    claim_and_pod(&c, "huge", None, "20Ti").await;
    let attempts = async || {
        c.sim.stats().await["csi_requests"]["POST /volumes"]
            .as_u64()
            .unwrap_or(0)
    };
    until(&c, "the provisioner tried", async |c| {
        c.state().await["kubernetes"][0]["csi"]["claim_errors"]["default/huge"].is_string()
    })
    .await;
    let error = c.state().await["kubernetes"][0]["csi"]["claim_errors"]["default/huge"].clone();
    assert!(
        error
            .as_str()
            .unwrap()
            .contains("invalid input in field 'size' (invalid_input)"),
        "{error}"
    );
    assert_eq!(
        get(&c, &format!("{CLAIMS}/huge")).await["status"]["phase"],
        "Pending"
    );

    let first = attempts().await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(
        attempts().await <= first + 1,
        "the clock stood still, yet the provisioner kept calling: {first} then {}",
        attempts().await
    );
    for _ in 0..12 {
        c.advance(5).await;
    }
    let after_a_minute = attempts().await - first;
    assert!(
        (2..=8).contains(&after_a_minute),
        "attempts in a minute of back-off: {after_a_minute}"
    );
    assert!(volumes(&c).await.is_empty());
    c.stop().await;
}
