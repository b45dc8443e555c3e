//! A stand-in for the hcloud CSI driver (chart `hcloud-csi` 2.x: controller with
//! external-provisioner `--extra-create-metadata --strict-topology`, external-attacher, and the
//! node plugin). It runs while its chart's release runs ([`super::components::running`]) with a
//! token (`controller.hcloudToken.value`, else Secret `controller.hcloudToken.existingSecret`,
//! default `hcloud`/`token`) that the sim's Hetzner API accepts; otherwise it does nothing and
//! claims stay Pending. While it runs, through the same world operations as the API:
//!
//! - the node plugin registers the driver on every node its DaemonSet runs on (taints and
//!   `node.tolerations` decide), which labels the node `csi.hetzner.cloud/location`;
//! - the provisioner creates a volume `pvc-<claim uid>` for each claim of a class with provisioner
//!   `csi.hetzner.cloud` once it may (`WaitForFirstConsumer`: the scheduler selected a node;
//!   `Immediate`: at once): size = the request in GiB rounded up, at least 10; location of the
//!   selected node's server (else `controller.hcloudVolumeDefaultLocation`); labels `managed-by:
//!   csi-driver`, `controller.volumeExtraLabels`, `pvc-name`, `pvc-namespace`, `pv-name` and the
//!   class's `labels` parameter. It then creates the bound PersistentVolume (CSI source,
//!   `volumeHandle` = the volume id, node affinity on the location, the class's node-publish
//!   Secret) and binds the claim;
//! - the attacher attaches a volume to the server of each VolumeAttachment's node (and marks it
//!   attached), and detaches it when the attachment is deleted;
//! - a Released volume with reclaim policy `Delete` is deleted (once detached) with its
//!   PersistentVolume.
//!
//! Every Hetzner API call it makes is counted under `csi_requests` in `/_sim/stats`.
//!
//! Like the sidecars' work queues (`--retry-interval-start` 1 s, `--retry-interval-max` 5 min),
//! an item that did not succeed (a refused call, a volume attached elsewhere, an action still
//! running) is tried again after an exponential back-off on the sim clock, not on every pass of
//! the sim's loop, so a stuck attachment does not drain the project's rate limit.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::components::{self, ComponentView};
use super::storage::{SELECTED_NODE, class_of};
use super::store::Store;
use crate::hcloud::volumes::{
    CreateVolume, MIN_SIZE_GB, create_volume, delete_volume, linux_device,
};
use crate::stats::Component;
use crate::world::World;

/// The CSI chart's name.
pub const CSI_CHART: &str = "hcloud-csi";
/// The driver's name (StorageClass provisioner, PV `csi.driver`, VolumeAttachment attacher).
pub const DRIVER: &str = "csi.hetzner.cloud";
/// The node topology label the driver registers.
pub const TOPOLOGY_KEY: &str = "csi.hetzner.cloud/location";
const ATTACHER_FINALIZER: &str = "external-attacher/csi-hetzner-cloud";
const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";

/// The driver's state in one cluster.
#[derive(Debug, Default, Clone)]
pub struct CsiState {
    /// Whether the driver's release runs (its node plugin with it).
    pub running: bool,
    /// Why it does not run.
    pub error: Option<String>,
    /// Nodes where the node plugin registered the driver, with their location.
    pub nodes: BTreeMap<String, String>,
    /// Why a claim has no volume (the provisioner's `ProvisioningFailed`), by `namespace/name`.
    pub claim_errors: BTreeMap<String, String>,
    /// Items that failed, by [`Item`] key: how often in a row, and when they are due again.
    pub retries: BTreeMap<String, Retry>,
}

/// The work-queue state of one item that failed.
#[derive(Debug, Default, Clone, Copy)]
pub struct Retry {
    /// Failures in a row.
    pub failures: u32,
    /// Sim time when it is tried again.
    pub due: Duration,
}

/// The sidecars' default `--retry-interval-start`.
const RETRY_START: Duration = Duration::from_secs(1);
/// The sidecars' default `--retry-interval-max`.
const RETRY_MAX: Duration = Duration::from_secs(300);

/// The back-off after `failures` failures in a row: 1 s, 2 s, 4 s, … at most 5 minutes.
fn back_off(failures: u32) -> Duration {
    RETRY_START
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(RETRY_MAX)
}

/// Work-queue keys of the driver's items.
struct Item;

impl Item {
    fn provision(claim: &(String, String)) -> String {
        format!("provision/{}/{}", claim.0, claim.1)
    }
    fn attach(a: &Attachment) -> String {
        format!("attach/{}", a.name)
    }
    fn detach(a: &Attachment) -> String {
        format!("detach/{}", a.name)
    }
    fn delete(pv: &str) -> String {
        format!("delete/{pv}")
    }
}

/// The driver's configuration.
#[derive(Debug, Clone)]
pub struct Setup {
    token: String,
    extra_labels: BTreeMap<String, String>,
    default_location: Option<String>,
}

fn setup(store: &Store, view: &ComponentView) -> Result<Setup, String> {
    let token_values = &view.values["controller"]["hcloudToken"];
    if token_values["file"].as_str().is_some_and(|f| !f.is_empty()) {
        return Err(
            "HCLOUD_TOKEN_FILE: reading a token from a file is not modelled by the sim".into(),
        );
    }
    let token = match token_values["value"].as_str().filter(|v| !v.is_empty()) {
        Some(v) => v.to_string(),
        None => {
            let secret = &token_values["existingSecret"];
            let name = secret["name"].as_str().unwrap_or("hcloud");
            let key = secret["key"].as_str().unwrap_or("token");
            components::secret_value(store, &view.namespace, name, key)?
        }
    };
    if token.is_empty() {
        return Err(
            "you need to provide an API token via the HCLOUD_TOKEN or HCLOUD_TOKEN_FILE env var"
                .into(),
        );
    }
    let extra_labels = view.values["controller"]["volumeExtraLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map_or_else(|| v.to_string(), str::to_string),
            )
        })
        .collect();
    Ok(Setup {
        token,
        extra_labels,
        default_location: view.values["controller"]["hcloudVolumeDefaultLocation"]
            .as_str()
            .filter(|l| !l.is_empty())
            .map(str::to_string),
    })
}

/// A claim to make a volume for.
#[derive(Debug, Clone)]
pub struct Provision {
    /// `(namespace, name)` of the claim.
    pub claim: (String, String),
    /// Its uid.
    pub uid: String,
    /// Size in GB.
    pub size: i32,
    /// The selected node's server (WaitForFirstConsumer).
    pub server: Option<i64>,
    /// Volume labels.
    pub labels: BTreeMap<String, String>,
    /// Why the driver refuses it before calling the API.
    pub refusal: Option<String>,
}

/// An attachment to make or undo.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// VolumeAttachment name.
    pub name: String,
    /// Volume id.
    pub volume: i64,
    /// Server id of the node.
    pub server: i64,
}

/// What the driver would do in one cluster.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Cluster key.
    pub cluster: String,
    /// Its configuration, or why it cannot run.
    pub setup: Result<Setup, String>,
    /// `(node, server id)` of the nodes the node plugin runs on.
    pub nodes: Vec<(String, i64)>,
    /// Claims to provision.
    pub provision: Vec<Provision>,
    /// Attachments to make.
    pub attach: Vec<Attachment>,
    /// Attachments to undo.
    pub detach: Vec<Attachment>,
    /// `(PV name, volume id)` to delete.
    pub delete: Vec<(String, i64)>,
    /// Sim time of the pass.
    pub now: Duration,
}

/// One thing the driver did.
#[derive(Debug, Clone)]
pub enum Done {
    /// The node plugin runs on a node in this location.
    Registered(String, String),
    /// A volume exists for a claim.
    Provisioned {
        /// The claim.
        claim: (String, String),
        /// The volume id.
        volume: i64,
        /// Its size in GB.
        size: i32,
        /// Its location.
        location: String,
    },
    /// A claim's volume could not be made.
    ProvisioningFailed((String, String), String),
    /// An attachment is in place (device path).
    Attached(String, String),
    /// An attachment is undone.
    Detached(String),
    /// A volume is deleted (its PV name).
    Deleted(String),
}

/// What carrying out a plan produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Cluster key.
    pub cluster: String,
    /// Why the driver did nothing, if it did not run.
    pub error: Option<String>,
    /// What it did.
    pub done: Vec<Done>,
    /// Every item it tried ([`Item`] key) and whether it succeeded.
    pub attempts: Vec<(String, bool)>,
    /// Sim time of the pass.
    pub now: Duration,
}

/// Size in GB of a claim's request: GiB rounded up, at least the driver's minimum.
fn size_of(pvc: &Value) -> i32 {
    let bytes = pvc["spec"]["resources"]["requests"]["storage"]
        .as_str()
        .and_then(super::quantity::parse)
        .unwrap_or(0.0);
    let gib = (bytes / 1024f64.powi(3)).ceil();
    if gib > f64::from(i32::MAX) {
        return i32::MAX;
    }
    (gib as i32).max(MIN_SIZE_GB)
}

/// `k1=v1,k2=v2` (the class's `labels` parameter, `utils.ConvertLabelsToMap`).
fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| {
                    format!("Invalid format of parameter labels: invalid label {pair:?}")
                })
        })
        .collect()
}

fn provision_of(
    setup: &Setup,
    pvc: &Value,
    class: &Value,
    servers: &BTreeMap<String, i64>,
) -> Option<Provision> {
    let meta = |k: &str| pvc["metadata"][k].as_str().unwrap_or_default().to_string();
    let wait = class["volumeBindingMode"] == "WaitForFirstConsumer";
    let server = match pvc["metadata"]["annotations"][SELECTED_NODE].as_str() {
        Some(node) => Some(*servers.get(node)?),
        None if wait => return None,
        None => None,
    };
    let uid = meta("uid");
    let mut labels: BTreeMap<String, String> =
        [("managed-by".to_string(), "csi-driver".to_string())].into();
    labels.extend(setup.extra_labels.clone());
    labels.insert("pvc-name".into(), meta("name"));
    labels.insert("pvc-namespace".into(), meta("namespace"));
    labels.insert("pv-name".into(), format!("pvc-{uid}"));
    let mut refusal = None;
    if let Some(text) = class["parameters"]["labels"].as_str() {
        match parse_labels(text) {
            Ok(extra) => labels.extend(extra),
            Err(e) => refusal = Some(format!("rpc error: code = InvalidArgument desc = {e}")),
        }
    }
    let modes = pvc["spec"]["accessModes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if let Some(i) = modes
        .iter()
        .position(|m| m != "ReadWriteOnce" && m != "ReadWriteOncePod")
    {
        refusal = Some(format!(
            "rpc error: code = InvalidArgument desc = capability at index {i} is not supported"
        ));
    }
    Some(Provision {
        claim: (meta("namespace"), meta("name")),
        uid,
        size: size_of(pvc),
        server,
        labels,
        refusal,
    })
}

/// The plan for one cluster, or `None` while the driver's release does not run. `nodes` are the
/// Node objects, `servers` each node's server id; items backing off after a failure wait until
/// they are due at `now`.
pub fn plan(
    cluster: &str,
    store: &mut Store,
    nodes: &[Value],
    servers: &BTreeMap<String, i64>,
    now: Duration,
) -> Option<Plan> {
    let Some(view) = components::running(store, CSI_CHART) else {
        store.csi.running = false;
        store.csi.error = None;
        return None;
    };
    let setup = setup(store, &view);
    let tolerations = json!({"tolerations": view.values["node"]["tolerations"]});
    let plugin_nodes: Vec<(String, i64)> = nodes
        .iter()
        .filter(|n| super::scheduler::refusal(n, &tolerations, true).is_none())
        .filter_map(|n| {
            let name = n["metadata"]["name"].as_str()?;
            Some((name.to_string(), *servers.get(name)?))
        })
        .collect();
    let mut plan = Plan {
        cluster: cluster.to_string(),
        nodes: plugin_nodes,
        provision: Vec::new(),
        attach: Vec::new(),
        detach: Vec::new(),
        delete: Vec::new(),
        setup,
        now,
    };
    let Ok(setup) = &plan.setup else {
        return Some(plan);
    };
    for pvc in store.items("v1", "persistentvolumeclaims") {
        if pvc["spec"]["volumeName"].is_string() || pvc["metadata"]["deletionTimestamp"].is_string()
        {
            continue;
        }
        let Some(class) = class_of(store, &pvc).filter(|c| c["provisioner"] == DRIVER) else {
            continue;
        };
        plan.provision
            .extend(provision_of(setup, &pvc, class, servers));
    }
    let handle = |pv_name: &str| -> Option<i64> {
        store
            .get("v1", "persistentvolumes", "", pv_name)?
            .get("spec")?["csi"]["volumeHandle"]
            .as_str()?
            .parse()
            .ok()
    };
    for va in store.items("storage.k8s.io/v1", "volumeattachments") {
        if va["spec"]["attacher"] != DRIVER {
            continue;
        }
        let node = va["spec"]["nodeName"].as_str().unwrap_or_default();
        let (Some(volume), Some(server)) = (
            handle(
                va["spec"]["source"]["persistentVolumeName"]
                    .as_str()
                    .unwrap_or_default(),
            ),
            servers.get(node).copied(),
        ) else {
            continue;
        };
        let attachment = Attachment {
            name: va["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            volume,
            server,
        };
        if va["metadata"]["deletionTimestamp"].is_string() {
            plan.detach.push(attachment);
        } else if va["status"]["attached"] != true && plan.nodes.iter().any(|(n, _)| n == node) {
            plan.attach.push(attachment);
        }
    }
    for pv in store.items("v1", "persistentvolumes") {
        let name = pv["metadata"]["name"].as_str().unwrap_or_default();
        if pv["status"]["phase"] == "Released"
            && pv["spec"]["persistentVolumeReclaimPolicy"] == "Delete"
            && pv["metadata"]["annotations"][PROVISIONED_BY] == DRIVER
            && let Some(id) = handle(name)
        {
            plan.delete.push((name.to_string(), id));
        }
    }
    // Forget the back-off of items that are gone (claim bound, attachment deleted).
    let live: std::collections::BTreeSet<String> = (plan.provision.iter())
        .map(|p| Item::provision(&p.claim))
        .chain(plan.attach.iter().map(Item::attach))
        .chain(plan.detach.iter().map(Item::detach))
        .chain(plan.delete.iter().map(|(pv, _)| Item::delete(pv)))
        .collect();
    store.csi.retries.retain(|key, _| live.contains(key));
    let retries = &store.csi.retries;
    let due = |key: String| retries.get(&key).is_none_or(|r| r.due <= now);
    plan.provision.retain(|p| due(Item::provision(&p.claim)));
    plan.attach.retain(|a| due(Item::attach(a)));
    plan.detach.retain(|a| due(Item::detach(a)));
    plan.delete.retain(|(pv, _)| due(Item::delete(pv)));
    Some(plan)
}

/// Whether an action on the volume still runs.
fn volume_busy(world: &World, volume: i64) -> bool {
    world.running.iter().any(|id| {
        world
            .data
            .actions
            .get(id)
            .is_some_and(|a| a.touches("volume", volume))
    })
}

/// One counted request; false when the rate limit refused it.
fn call(world: &mut World, route: &str) -> bool {
    world.component_request(Component::Csi, route)
}

fn provision(
    world: &mut World,
    setup: &Setup,
    nodes: &[(String, String)],
    p: Provision,
) -> Option<Done> {
    if let Some(why) = p.refusal {
        return Some(Done::ProvisioningFailed(p.claim, why));
    }
    let name = format!("pvc-{}", p.uid);
    let location = match p.server {
        Some(server) => world.data.servers.get(&server)?.location.clone(),
        None => setup
            .default_location
            .clone()
            .or_else(|| nodes.first().map(|(_, l)| l.clone()))?,
    };
    // The driver's idempotent create: a volume of that name from an earlier attempt is reused.
    if !call(world, "GET /volumes") {
        return None;
    }
    let existing = world
        .data
        .volumes
        .values()
        .find(|v| v.name == name)
        .cloned();
    let volume = match existing {
        Some(v) => v,
        None => {
            if !call(world, "POST /volumes") {
                return None;
            }
            let request = CreateVolume {
                name: Some(name.clone()),
                size: Some(f64::from(p.size)),
                location: Some(crate::hcloud::servers::IdOrName::Name(location)),
                labels: p.labels.into_iter().collect(),
                ..CreateVolume::default()
            };
            match create_volume(world, request) {
                Ok(created) => {
                    world.settle_actions();
                    world.data.volumes.get(&created.volume)?.clone()
                }
                Err(e) => {
                    return Some(Done::ProvisioningFailed(
                        p.claim,
                        format!(
                            "rpc error: code = Internal desc = failed to create volume: {e} ({})",
                            e.code()
                        ),
                    ));
                }
            }
        }
    };
    // The driver waits for `create_volume` before it answers.
    (volume.status == "available").then_some(Done::Provisioned {
        claim: p.claim,
        volume: volume.id,
        size: volume.size,
        location: volume.location,
    })
}

fn attach(world: &mut World, a: Attachment) -> Option<Done> {
    let busy = |world: &World| volume_busy(world, a.volume);
    let volume = world.data.volumes.get(&a.volume)?.clone();
    if volume.server == Some(a.server) {
        return (!busy(world)).then(|| Done::Attached(a.name, linux_device(a.volume)));
    }
    if volume.server.is_some() || busy(world) {
        // Attached elsewhere: FailedPrecondition until the other node's attachment is undone.
        return None;
    }
    if !call(world, "GET /volumes/{id}")
        || !call(world, "GET /servers/{id}")
        || !call(world, "POST /volumes/{id}/actions/attach")
    {
        return None;
    }
    if let Err(e) = crate::hcloud::volume_actions::attach_volume(world, a.volume, a.server) {
        tracing::warn!(error = %e, "CSI stand-in: attach refused");
        return None;
    }
    world.settle_actions();
    (!busy(world)).then(|| Done::Attached(a.name, linux_device(a.volume)))
}

fn detach(world: &mut World, a: Attachment) -> Option<Done> {
    let Some(volume) = world.data.volumes.get(&a.volume).cloned() else {
        return Some(Done::Detached(a.name));
    };
    if volume_busy(world, a.volume) {
        return None;
    }
    if volume.server != Some(a.server) {
        return Some(Done::Detached(a.name));
    }
    if !call(world, "GET /volumes/{id}") || !call(world, "POST /volumes/{id}/actions/detach") {
        return None;
    }
    crate::hcloud::volume_actions::detach_volume(world, a.volume).ok()?;
    world.settle_actions();
    (!volume_busy(world, a.volume)).then_some(Done::Detached(a.name))
}

fn delete(world: &mut World, pv: String, volume: i64) -> Option<Done> {
    let Some(v) = world.data.volumes.get(&volume) else {
        return Some(Done::Deleted(pv));
    };
    // Still attached, or its detach still running: `DeleteVolume` answers FailedPrecondition
    // and the provisioner retries later.
    if v.server.is_some() || volume_busy(world, volume) {
        return None;
    }
    if !call(world, "GET /volumes/{id}") || !call(world, "DELETE /volumes/{id}") {
        return None;
    }
    match delete_volume(world, volume) {
        Ok(()) => Some(Done::Deleted(pv)),
        Err(e) => {
            tracing::warn!(error = %e, "CSI stand-in: delete refused");
            None
        }
    }
}

/// Carries out a plan in the world (the driver's API calls).
pub fn carry_out(world: &mut World, plan: Plan) -> Outcome {
    let mut outcome = Outcome {
        cluster: plan.cluster,
        error: None,
        done: Vec::new(),
        attempts: Vec::new(),
        now: plan.now,
    };
    // The node plugin needs no token: it learns its server's location from the metadata
    // service, so it registers even while the controller cannot work.
    let registered: Vec<(String, String)> = plan
        .nodes
        .iter()
        .filter_map(|(node, server)| {
            Some((
                node.clone(),
                world.data.servers.get(server)?.location.clone(),
            ))
        })
        .collect();
    outcome.done.extend(
        registered
            .iter()
            .map(|(n, l)| Done::Registered(n.clone(), l.clone())),
    );
    let setup = match plan.setup {
        Ok(s) => s,
        Err(e) => {
            outcome.error = Some(e);
            return outcome;
        }
    };
    if !world.accepts_token(&setup.token) {
        outcome.error = Some("unable to authenticate (unauthorized)".into());
        return outcome;
    }
    for p in plan.provision {
        let key = Item::provision(&p.claim);
        let done = provision(world, &setup, &registered, p);
        let ok = matches!(done, Some(Done::Provisioned { .. }));
        outcome.attempt(key, ok, done);
    }
    for a in plan.detach {
        let key = Item::detach(&a);
        let done = detach(world, a);
        outcome.attempt(key, done.is_some(), done);
    }
    for a in plan.attach {
        let key = Item::attach(&a);
        let done = attach(world, a);
        outcome.attempt(key, done.is_some(), done);
    }
    for (pv, volume) in plan.delete {
        let key = Item::delete(&pv);
        let done = delete(world, pv, volume);
        outcome.attempt(key, done.is_some(), done);
    }
    outcome
}

impl Outcome {
    fn attempt(&mut self, key: String, succeeded: bool, done: Option<Done>) {
        self.attempts.push((key, succeeded));
        self.done.extend(done);
    }
}

/// `${pvc.name}`, `${pvc.namespace}` and `${pv.name}` in a secret parameter.
fn template(text: &str, pvc: &Value, pv_name: &str) -> String {
    text.replace(
        "${pvc.name}",
        pvc["metadata"]["name"].as_str().unwrap_or_default(),
    )
    .replace(
        "${pvc.namespace}",
        pvc["metadata"]["namespace"].as_str().unwrap_or_default(),
    )
    .replace("${pv.name}", pv_name)
}

/// The PersistentVolume the provisioner creates for a claim.
fn persistent_volume(pvc: &Value, class: &Value, volume: i64, size: i32, location: &str) -> Value {
    let pv_name = format!(
        "pvc-{}",
        pvc["metadata"]["uid"].as_str().unwrap_or_default()
    );
    let params = &class["parameters"];
    let block = pvc["spec"]["volumeMode"] == "Block";
    let mut csi = json!({"driver": DRIVER, "volumeHandle": volume.to_string(),
        "volumeAttributes": {"fsFormatOptions": params["fsFormatOptions"].as_str().unwrap_or_default(),
                             "storage.kubernetes.io/csiProvisionerIdentity": format!("1700000000000-1-{DRIVER}")}});
    if !block {
        csi["fsType"] = json!(
            params["csi.storage.k8s.io/fstype"]
                .as_str()
                .unwrap_or("ext4")
        );
    }
    if let (Some(name), Some(ns)) = (
        params["csi.storage.k8s.io/node-publish-secret-name"].as_str(),
        params["csi.storage.k8s.io/node-publish-secret-namespace"].as_str(),
    ) {
        csi["nodePublishSecretRef"] = json!({"name": template(name, pvc, &pv_name), "namespace": template(ns, pvc, &pv_name)});
    }
    json!({
        "apiVersion": "v1", "kind": "PersistentVolume",
        "metadata": {"name": pv_name,
            "annotations": {PROVISIONED_BY: DRIVER, "volume.kubernetes.io/provisioner-deletion-secret-name": "",
                            "volume.kubernetes.io/provisioner-deletion-secret-namespace": ""},
            "finalizers": ["external-provisioner.volume.kubernetes.io/finalizer", "kubernetes.io/pv-protection"]},
        "spec": {
            "accessModes": pvc["spec"]["accessModes"],
            "capacity": {"storage": format!("{size}Gi")},
            "claimRef": {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "name": pvc["metadata"]["name"],
                         "namespace": pvc["metadata"]["namespace"], "uid": pvc["metadata"]["uid"],
                         "resourceVersion": pvc["metadata"]["resourceVersion"]},
            "csi": csi,
            "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                {"key": TOPOLOGY_KEY, "operator": "In", "values": [location]}]}]}},
            "persistentVolumeReclaimPolicy": class["reclaimPolicy"].as_str().unwrap_or("Delete"),
            "storageClassName": class["metadata"]["name"],
            "volumeMode": if block { "Block" } else { "Filesystem" },
        },
        "status": {"phase": "Bound"},
    })
}

/// Records an outcome in the cluster's store.
pub fn record(store: &mut Store, outcome: Outcome, timestamp: &str) {
    store.csi.running = true;
    store.csi.error = outcome.error;
    for (key, succeeded) in outcome.attempts {
        if succeeded {
            store.csi.retries.remove(&key);
        } else {
            let retry = store.csi.retries.entry(key).or_default();
            retry.failures += 1;
            retry.due = outcome.now + back_off(retry.failures);
        }
    }
    for done in outcome.done {
        match done {
            Done::Registered(node, location) => {
                store.csi.nodes.insert(node, location);
            }
            Done::ProvisioningFailed((ns, name), why) => {
                store.csi.claim_errors.insert(format!("{ns}/{name}"), why);
            }
            Done::Provisioned {
                claim: (ns, name),
                volume,
                size,
                location,
            } => {
                store.csi.claim_errors.remove(&format!("{ns}/{name}"));
                let Some(mut pvc) = store
                    .get("v1", "persistentvolumeclaims", &ns, &name)
                    .cloned()
                else {
                    continue;
                };
                let Some(class) = class_of(store, &pvc).cloned() else {
                    continue;
                };
                let pv = persistent_volume(&pvc, &class, volume, size, &location);
                let pv_name = pv["metadata"]["name"].clone();
                store.put("v1", "persistentvolumes", pv, timestamp);
                pvc["spec"]["volumeName"] = pv_name;
                let annotations = &mut pvc["metadata"]["annotations"];
                annotations["pv.kubernetes.io/bind-completed"] = json!("yes");
                annotations["pv.kubernetes.io/bound-by-controller"] = json!("yes");
                pvc["status"] = json!({"phase": "Bound", "accessModes": pvc["spec"]["accessModes"],
                    "capacity": {"storage": format!("{size}Gi")}});
                store.put("v1", "persistentvolumeclaims", pvc, timestamp);
            }
            Done::Attached(name, device) => {
                if let Some(mut va) = store
                    .get("storage.k8s.io/v1", "volumeattachments", "", &name)
                    .cloned()
                {
                    va["metadata"]["finalizers"] = json!([ATTACHER_FINALIZER]);
                    va["status"] =
                        json!({"attached": true, "attachmentMetadata": {"devicePath": device}});
                    store.put("storage.k8s.io/v1", "volumeattachments", va, timestamp);
                }
            }
            Done::Detached(name) => {
                store.remove("storage.k8s.io/v1", "volumeattachments", "", &name);
            }
            Done::Deleted(pv) => {
                store.remove("v1", "persistentvolumes", "", &pv);
            }
        }
    }
}

/// `/_sim/state` shape of a cluster's CSI driver.
pub fn state_json(store: &Store) -> Value {
    json!({"running": store.csi.running, "error": store.csi.error, "nodes": store.csi.nodes,
           "claim_errors": store.csi.claim_errors,
           "attachments": store.items("storage.k8s.io/v1", "volumeattachments").iter()
               .map(|va| json!({"name": va["metadata"]["name"], "node": va["spec"]["nodeName"],
                   "volume": va["spec"]["source"]["persistentVolumeName"], "attached": va["status"]["attached"]}))
               .collect::<Vec<_>>()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_up_to_whole_gib_and_at_least_ten() {
        let pvc = |size: &str| json!({"spec": {"resources": {"requests": {"storage": size}}}});
        assert_eq!(size_of(&pvc("1Gi")), 10);
        assert_eq!(size_of(&pvc("10Gi")), 10);
        assert_eq!(size_of(&pvc("10.5Gi")), 11);
        assert_eq!(size_of(&pvc("20G")), 19);
        assert_eq!(size_of(&pvc("50Gi")), 50);
    }

    #[test]
    fn class_labels_parameter_is_comma_separated_pairs() {
        assert_eq!(
            parse_labels("team=db, tier=gold"),
            Ok([
                ("team".to_string(), "db".to_string()),
                ("tier".into(), "gold".into())
            ]
            .into())
        );
        assert!(parse_labels("nolabel").is_err());
    }
}
