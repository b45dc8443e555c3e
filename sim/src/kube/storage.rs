//! Kubernetes' own side of persistent volumes, as kube-controller-manager, the scheduler and the
//! kubelet handle them (the CSI driver's side is [`super::csi`]):
//!
//! - claims get `kubernetes.io/pvc-protection` (the admission plugin's finalizer, so a claim in
//!   use stays `Terminating` until no pod uses it) and the default StorageClass when they name
//!   none; a claim of a class with a CSI provisioner gets `volume.kubernetes.io/storage-provisioner`;
//! - the scheduler ([`feasible`], [`hold_for_binding`]): a pod needs its claims to exist; a bound
//!   volume's node affinity limits its nodes; an unbound claim of a `WaitForFirstConsumer` class
//!   needs a node where the class's CSI driver is registered, gets that node as
//!   `volume.kubernetes.io/selected-node` and the pod waits unbound until the claim is bound; an
//!   unbound claim of an `Immediate` class keeps the pod unschedulable;
//! - the attach/detach controller: a `VolumeAttachment` for every CSI volume a scheduled pod uses
//!   on its node, deleted when no pod on that node uses it any more;
//! - the kubelet ([`mount_refusal`]): a pod starts only once its CSI volumes are attached to its
//!   node, the driver is registered there, and a node-publish Secret the volume names exists.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::store::Store;

/// The admission plugin's finalizer on claims.
pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
/// The annotation that tells the provisioner which node the scheduler chose.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// The annotation naming a claim's provisioner.
const STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";

fn meta<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or_default()
}

/// `(volume name, claim name)` of the pod's persistentVolumeClaim volumes.
pub fn claims(pod: &Value) -> Vec<(String, String)> {
    pod["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| {
            Some((
                v["name"].as_str()?.to_string(),
                v["persistentVolumeClaim"]["claimName"]
                    .as_str()?
                    .to_string(),
            ))
        })
        .collect()
}

/// Whether a pod still holds its volumes (scheduled and not finished).
fn holds_volumes(pod: &Value) -> bool {
    pod["spec"]["nodeName"].is_string()
        && !matches!(
            pod["status"]["phase"].as_str(),
            Some("Succeeded" | "Failed")
        )
}

/// The StorageClass of a claim.
pub fn class_of<'a>(store: &'a Store, pvc: &Value) -> Option<&'a Value> {
    let name = pvc["spec"]["storageClassName"].as_str()?;
    store.get("storage.k8s.io/v1", "storageclasses", "", name)
}

/// The PersistentVolume a claim is bound to.
pub fn bound_volume<'a>(store: &'a Store, pvc: &Value) -> Option<&'a Value> {
    let name = pvc["spec"]["volumeName"].as_str()?;
    let pv = store.get("v1", "persistentvolumes", "", name)?;
    (pv["spec"]["claimRef"]["uid"] == pvc["metadata"]["uid"]).then_some(pv)
}

/// The name the CSI attacher gives the attachment of `volume_handle` to `node`.
pub fn attachment_name(volume_handle: &str, driver: &str, node: &str) -> String {
    let digest = Sha256::digest(format!("{volume_handle}{driver}{node}").as_bytes());
    format!(
        "csi-{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// Whether a node's labels satisfy a volume's `nodeAffinity.required`.
fn affinity_allows(pv: &Value, node: &Value) -> bool {
    let terms = &pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"];
    let Some(terms) = terms.as_array() else {
        return true;
    };
    let labels = &node["metadata"]["labels"];
    terms.iter().any(|term| {
        term["matchExpressions"]
            .as_array()
            .into_iter()
            .flatten()
            .all(|e| {
                let key = e["key"].as_str().unwrap_or_default();
                let value = labels[key].as_str();
                let values: Vec<&str> = e["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                match e["operator"].as_str() {
                    Some("In") => value.is_some_and(|v| values.contains(&v)),
                    Some("NotIn") => value.is_none_or(|v| !values.contains(&v)),
                    Some("Exists") => value.is_some(),
                    Some("DoesNotExist") => value.is_none(),
                    _ => false,
                }
            })
    })
}

/// The topology label a CSI driver registers on its nodes (`csi.hetzner.cloud/location`).
fn topology_key(provisioner: &str) -> String {
    format!("{provisioner}/location")
}

/// The nodes a pod's claims allow, or the scheduler's `0/N nodes are available` message.
pub fn feasible(store: &Store, pod: &Value, nodes: &[Value]) -> Result<Vec<Value>, String> {
    let ns = meta(pod, "namespace");
    let mut allowed: Vec<Value> = nodes.to_vec();
    let mut reason = None;
    for (_, claim) in claims(pod) {
        let total = nodes.len();
        let Some(pvc) = store.get("v1", "persistentvolumeclaims", ns, &claim) else {
            return Err(format!(
                "0/{total} nodes are available: persistentvolumeclaim \"{claim}\" not found."
            ));
        };
        if pvc["metadata"]["deletionTimestamp"].is_string() {
            return Err(format!(
                "0/{total} nodes are available: persistentvolumeclaim \"{claim}\" is being deleted."
            ));
        }
        if let Some(pv) = bound_volume(store, pvc) {
            allowed.retain(|n| affinity_allows(pv, n));
            reason.get_or_insert("node(s) had volume node affinity conflict");
            continue;
        }
        let class = class_of(store, pvc);
        if class.is_none_or(|c| c["volumeBindingMode"] != "WaitForFirstConsumer") {
            return Err(format!(
                "0/{total} nodes are available: pod has unbound immediate PersistentVolumeClaims."
            ));
        }
        let key = topology_key(
            class
                .and_then(|c| c["provisioner"].as_str())
                .unwrap_or_default(),
        );
        allowed.retain(|n| n["metadata"]["labels"][&key].is_string());
        reason.get_or_insert("node(s) did not find available persistent volumes to bind");
    }
    if allowed.is_empty() && !nodes.is_empty() {
        return Err(format!(
            "0/{} nodes are available: {} {}.",
            nodes.len(),
            nodes.len(),
            reason.unwrap_or("node(s) did not find available persistent volumes to bind")
        ));
    }
    Ok(allowed)
}

/// The scheduler's volume binding for a pod it placed on `node`: claims of a
/// `WaitForFirstConsumer` class not bound yet get the node as their selected node, and the pod
/// waits (true) until they are bound.
pub fn hold_for_binding(store: &mut Store, pod: &Value, node: &str, timestamp: &str) -> bool {
    let ns = meta(pod, "namespace").to_string();
    let mut waiting = false;
    for (_, claim) in claims(pod) {
        let Some(pvc) = store
            .get("v1", "persistentvolumeclaims", &ns, &claim)
            .cloned()
        else {
            continue;
        };
        if bound_volume(store, &pvc).is_some() {
            continue;
        }
        waiting = true;
        if pvc["metadata"]["annotations"][SELECTED_NODE].is_null() {
            let mut pvc = pvc;
            super::store::set_path(
                &mut pvc,
                &["metadata", "annotations", SELECTED_NODE],
                json!(node),
            );
            store.put("v1", "persistentvolumeclaims", pvc, timestamp);
        }
    }
    waiting
}

/// Why the kubelet of `node` cannot start a pod for its CSI volumes yet (kubelet's words).
pub fn mount_refusal(store: &Store, pod: &Value, node: &str) -> Option<String> {
    let ns = meta(pod, "namespace");
    let mut unattached = Vec::new();
    for (volume, claim) in claims(pod) {
        let pv = store
            .get("v1", "persistentvolumeclaims", ns, &claim)
            .and_then(|pvc| bound_volume(store, pvc));
        let Some(pv) = pv else {
            unattached.push(volume);
            continue;
        };
        let Some(driver) = pv["spec"]["csi"]["driver"].as_str() else {
            continue;
        };
        let pv_name = meta(pv, "name");
        if !store.csi.nodes.contains_key(node) || driver != super::csi::DRIVER {
            return Some(format!(
                "MountVolume.MountDevice failed for volume \"{pv_name}\" : kubernetes.io/csi: attacher.MountDevice failed to create newCsiDriverClient: driver name {driver} not found in the list of registered CSI drivers"
            ));
        }
        let handle = pv["spec"]["csi"]["volumeHandle"]
            .as_str()
            .unwrap_or_default();
        let attached = store
            .get(
                "storage.k8s.io/v1",
                "volumeattachments",
                "",
                &attachment_name(handle, driver, node),
            )
            .is_some_and(|va| va["status"]["attached"] == true);
        if !attached {
            unattached.push(volume);
            continue;
        }
        let secret = &pv["spec"]["csi"]["nodePublishSecretRef"];
        if let (Some(name), Some(secret_ns)) =
            (secret["name"].as_str(), secret["namespace"].as_str())
            && store.get("v1", "secrets", secret_ns, name).is_none()
        {
            return Some(format!(
                "MountVolume.SetUp failed for volume \"{pv_name}\" : fetching NodePublishSecretRef {secret_ns}/{name} failed: kubernetes.io/csi: failed to find the secret {name} in the namespace {secret_ns} with error: secrets \"{name}\" not found"
            ));
        }
    }
    (!unattached.is_empty()).then(|| {
        let list = unattached.join(" ");
        format!(
            "Unable to attach or mount volumes: unmounted volumes=[{list}], unattached volumes=[{list}]: timed out waiting for the condition"
        )
    })
}

/// The status of a pod bound to its node whose kubelet waits for its volumes.
pub fn container_creating(pod: &Value) -> Value {
    let containers: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": false,
                   "restartCount": 0, "started": false, "state": {"waiting": {"reason": "ContainerCreating"}}})
        })
        .collect();
    json!({"phase": "Pending",
        "conditions": [{"type": "PodReadyToStartContainers", "status": "False"},
                       {"type": "PodScheduled", "status": "True"},
                       {"type": "Initialized", "status": "True"},
                       {"type": "ContainersReady", "status": "False", "reason": "ContainersNotReady"},
                       {"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
        "containerStatuses": containers})
}

/// One pass of kube-controller-manager's volume controllers.
pub fn reconcile(store: &mut Store, timestamp: &str) {
    claims_controller(store, timestamp);
    attach_detach(store, timestamp);
}

fn claims_controller(store: &mut Store, timestamp: &str) {
    let pods = store.items("v1", "pods");
    let in_use: BTreeSet<(String, String)> = pods
        .iter()
        .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")))
        .flat_map(|p| {
            let ns = meta(p, "namespace").to_string();
            claims(p).into_iter().map(move |(_, c)| (ns.clone(), c))
        })
        .collect();
    let default_class = store
        .items("storage.k8s.io/v1", "storageclasses")
        .into_iter()
        .find(|c| {
            c["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
        })
        .map(|c| meta(&c, "name").to_string());
    for pvc in store.items("v1", "persistentvolumeclaims") {
        let mut updated = pvc.clone();
        let key = (
            meta(&pvc, "namespace").to_string(),
            meta(&pvc, "name").to_string(),
        );
        let finalizers: Vec<Value> = pvc["metadata"]["finalizers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let protected = finalizers.iter().any(|f| f == PVC_PROTECTION);
        if pvc["metadata"]["deletionTimestamp"].is_string() {
            if protected && !in_use.contains(&key) {
                updated["metadata"]["finalizers"] = Value::Array(
                    finalizers
                        .into_iter()
                        .filter(|f| f != PVC_PROTECTION)
                        .collect(),
                );
            }
        } else if !protected {
            let mut finalizers = finalizers;
            finalizers.push(json!(PVC_PROTECTION));
            updated["metadata"]["finalizers"] = Value::Array(finalizers);
        }
        if updated["spec"]["storageClassName"].is_null()
            && updated["spec"]["volumeName"].is_null()
            && let Some(class) = &default_class
        {
            super::store::set_path(&mut updated, &["spec", "storageClassName"], json!(class));
        }
        if let Some(provisioner) = class_of(store, &updated).and_then(|c| c["provisioner"].as_str())
            && updated["metadata"]["annotations"][STORAGE_PROVISIONER].is_null()
        {
            let provisioner = provisioner.to_string();
            super::store::set_path(
                &mut updated,
                &["metadata", "annotations", STORAGE_PROVISIONER],
                json!(provisioner),
            );
        }
        if updated["status"]["phase"].is_null() {
            super::store::set_path(&mut updated, &["status", "phase"], json!("Pending"));
        }
        if updated != pvc {
            store.put("v1", "persistentvolumeclaims", updated, timestamp);
        }
    }
    // A volume whose claim is gone is Released (the provisioner then reclaims it).
    for pv in store.items("v1", "persistentvolumes") {
        let claim = &pv["spec"]["claimRef"];
        let present = store
            .get(
                "v1",
                "persistentvolumeclaims",
                claim["namespace"].as_str().unwrap_or_default(),
                claim["name"].as_str().unwrap_or_default(),
            )
            .is_some_and(|c| c["metadata"]["uid"] == claim["uid"]);
        if !present && pv["status"]["phase"] == "Bound" {
            let mut pv = pv;
            pv["status"] = json!({"phase": "Released"});
            store.put("v1", "persistentvolumes", pv, timestamp);
        }
    }
}

/// The attach/detach controller: the VolumeAttachments scheduled pods need, and no others.
fn attach_detach(store: &mut Store, timestamp: &str) {
    let mut wanted: BTreeMap<String, Value> = BTreeMap::new();
    for pod in store
        .items("v1", "pods")
        .iter()
        .filter(|p| holds_volumes(p))
    {
        let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
        let ns = meta(pod, "namespace");
        for (_, claim) in claims(pod) {
            let Some(pv) = store
                .get("v1", "persistentvolumeclaims", ns, &claim)
                .and_then(|pvc| bound_volume(store, pvc))
            else {
                continue;
            };
            let (Some(driver), Some(handle)) = (
                pv["spec"]["csi"]["driver"].as_str(),
                pv["spec"]["csi"]["volumeHandle"].as_str(),
            ) else {
                continue;
            };
            let name = attachment_name(handle, driver, node);
            wanted.insert(
                name.clone(),
                json!({"apiVersion": "storage.k8s.io/v1", "kind": "VolumeAttachment",
                    "metadata": {"name": name},
                    "spec": {"attacher": driver, "nodeName": node, "source": {"persistentVolumeName": meta(pv, "name")}},
                    "status": {"attached": false}}),
            );
        }
    }
    for va in store.items("storage.k8s.io/v1", "volumeattachments") {
        let name = meta(&va, "name").to_string();
        if wanted.remove(&name).is_some() || va["metadata"]["deletionTimestamp"].is_string() {
            continue;
        }
        let has_finalizers = va["metadata"]["finalizers"]
            .as_array()
            .is_some_and(|f| !f.is_empty());
        if has_finalizers {
            let mut va = va;
            va["metadata"]["deletionTimestamp"] = json!(timestamp);
            store.put("storage.k8s.io/v1", "volumeattachments", va, timestamp);
        } else {
            store.remove("storage.k8s.io/v1", "volumeattachments", "", &name);
        }
    }
    for (_, va) in wanted {
        store.put("storage.k8s.io/v1", "volumeattachments", va, timestamp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_names_are_the_csi_attachers() {
        // sha256("100001csi.hetzner.cloudprod-general-1"), as the kubelet names it.
        let name = attachment_name("100001", "csi.hetzner.cloud", "prod-general-1");
        assert!(name.starts_with("csi-") && name.len() == 4 + 64, "{name}");
        assert_ne!(
            name,
            attachment_name("100001", "csi.hetzner.cloud", "prod-general-2")
        );
    }

    #[test]
    fn volume_affinity_matches_node_labels() {
        let pv = json!({"spec": {"nodeAffinity": {"required": {"nodeSelectorTerms": [
            {"matchExpressions": [{"key": "csi.hetzner.cloud/location", "operator": "In", "values": ["fsn1"]}]}]}}}});
        let node = |loc: &str| json!({"metadata": {"labels": {"csi.hetzner.cloud/location": loc}}});
        assert!(affinity_allows(&pv, &node("fsn1")));
        assert!(!affinity_allows(&pv, &node("hel1")));
        assert!(!affinity_allows(&pv, &json!({"metadata": {"labels": {}}})));
    }
}
