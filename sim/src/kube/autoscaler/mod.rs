//! A stand-in for the Kubernetes cluster-autoscaler with its Hetzner cloud provider. It runs only
//! while its chart's release runs ([`super::components::running`]) and its configuration
//! ([`setup`]) lets it start as the real one does: otherwise it does nothing, and its pod's log
//! and `/_sim/state` (`kubernetes[].autoscaler`) say why.
//!
//! Every `--scan-interval` (times the sim's time scale, as its other durations) it lists the project's servers (`GET /servers`: its node
//! groups are the servers labelled `hcloud/node-group=<group>`), then:
//! - scale up ([`plan_scale_up`]): pods the scheduler left `Unschedulable` are packed onto template
//!   nodes of the first group (in `--nodes` order) whose template (the server type's allocatable,
//!   the node config's labels and taints, the group's labels) takes them; servers the group
//!   already has that did not become Ready nodes yet count as such templates. Servers named
//!   `<group>-<hex of a random int63>` are created through `POST /servers`, never beyond `max`.
//!   With `--enforce-node-group-min-size`, groups below `min` grow to it first.
//! - scale down ([`plan_scale_down`]): a Ready node of a group whose requests (DaemonSet and mirror
//!   pods not counted) are below `--scale-down-utilization-threshold` of its allocatable and whose
//!   pods can move (owned by a controller, no `emptyDir`/`hostPath` volumes, not in kube-system
//!   unless a PodDisruptionBudget covers them, and they fit on the other nodes) is unneeded; once
//!   unneeded for `--scale-down-unneeded-time`, and not within `--scale-down-delay-after-add` of a
//!   scale-up, it is tainted `ToBeDeletedByClusterAutoscaler`, its pods are evicted through the
//!   eviction path (a refusing PodDisruptionBudget stops it and lifts the taint), and its server
//!   is deleted at the next scan (which removes the node). Empty nodes go together; a node with
//!   pods goes alone. Never below `min`.
//!
//! Its Hetzner calls spend the project's rate limit and count under `autoscaler_requests` in
//! `/_sim/stats`, with `autoscaler_scale_ups` / `autoscaler_scale_downs`.

pub mod scale;
pub mod setup;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::components;
use super::store::Store;
use crate::stats::Component;
use crate::world::World;
pub use scale::{plan_scale_down, plan_scale_up};

/// The chart's name.
pub const CHART: &str = "cluster-autoscaler";

/// Label of the servers of a node group.
pub const NODE_GROUP_LABEL: &str = "hcloud/node-group";

/// Taint of a node being removed.
pub const TO_BE_DELETED: &str = "ToBeDeletedByClusterAutoscaler";

/// The autoscaler's state in one cluster.
#[derive(Debug, Default, Clone)]
pub struct AutoscalerState {
    /// The configuration it runs with (fingerprint), once started.
    pub started: Option<String>,
    /// Why it does not run.
    pub error: Option<String>,
    /// When the next scan is due (sim clock).
    pub next_scan: Duration,
    /// When it last scaled up.
    pub last_scale_up: Option<Duration>,
    /// Nodes unneeded since.
    pub unneeded: BTreeMap<String, Duration>,
    /// Drained nodes whose servers are deleted at the next scan: `(node, server id)`.
    pub deleting: Vec<(String, i64)>,
    /// Groups as last seen: `(name, min, max, current)`.
    pub groups: Vec<(String, usize, usize, usize)>,
    /// The last scale-up or scale-down.
    pub last_decision: Option<String>,
    /// The running pod `(namespace, name)` and the configuration it started with: a container
    /// reads its environment (Secrets included) once, at start.
    pub process: Option<((String, String), setup::Setup)>,
}

/// One scan's inputs, taken under the fleet lock.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Cluster key.
    pub cluster: String,
    /// The configuration.
    pub setup: setup::Setup,
    /// Whether the process (re)starts with it.
    pub start: bool,
    /// The cluster's Node objects.
    pub nodes: Vec<Value>,
    /// Every pod.
    pub pods: Vec<Value>,
    /// Every PodDisruptionBudget.
    pub pdbs: Vec<Value>,
    /// Servers to delete (drained last scan).
    pub deleting: Vec<(String, i64)>,
    /// Nodes unneeded since.
    pub unneeded: BTreeMap<String, Duration>,
    /// Last scale-up.
    pub last_scale_up: Option<Duration>,
    /// Sim time.
    pub now: Duration,
}

/// A node to drain: name, server id, its taints with `ToBeDeletedByClusterAutoscaler` added, the
/// pods to evict `(namespace, name)`.
#[derive(Debug, Clone)]
pub struct Drain {
    /// Node name.
    pub node: String,
    /// Its server.
    pub server: i64,
    /// Its taints with the deletion taint.
    pub taints: Vec<Value>,
    /// Pods to evict.
    pub pods: Vec<(String, String)>,
}

/// What a scan did in the world.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Cluster key.
    pub cluster: String,
    /// The configuration's fingerprint when it started now.
    pub started: Option<String>,
    /// Why it could not start or scan.
    pub error: Option<String>,
    /// Log lines (already formatted messages; the time is added on record).
    pub log: Vec<String>,
    /// Whether it scaled up.
    pub scaled_up: bool,
    /// Servers deleted: their nodes.
    pub deleted: Vec<String>,
    /// Nodes to drain now.
    pub drains: Vec<Drain>,
    /// Unneeded nodes and since when.
    pub unneeded: BTreeMap<String, Duration>,
    /// Groups: `(name, min, max, current)`.
    pub groups: Vec<(String, usize, usize, usize)>,
    /// The decision, if one was made.
    pub decision: Option<String>,
    /// Sim time.
    pub now: Duration,
    /// Configuration read.
    pub pod: Option<(String, String)>,
}

/// A klog line (`I1207 07:36:17.000000       1 file.go:1] message`) at `timestamp` (RFC 3339).
fn klog(level: char, timestamp: &str, source: &str, message: &str) -> String {
    let date = timestamp.get(5..10).unwrap_or("01-01").replace('-', "");
    let time = timestamp.get(11..19).unwrap_or("00:00:00");
    format!("{level}{date} {time}.000000       1 {source}] {message}\n")
}

fn append_log(
    store: &mut Store,
    pod: &Option<(String, String)>,
    lines: &[String],
    timestamp: &str,
) {
    let Some(pod) = pod else {
        return;
    };
    let log = store.pod_logs.entry(pod.clone()).or_default();
    for line in lines {
        let (level, source, text) = match line.split_once('|') {
            Some((head, text)) => {
                let (level, source) = head.split_at(1);
                (level.chars().next().unwrap_or('I'), source, text)
            }
            None => ('I', "static_autoscaler.go:1", line.as_str()),
        };
        log.current.push_str(&klog(level, timestamp, source, text));
    }
}

/// The scan due in one cluster, or `None` (release not running, not due, or cannot start). The
/// autoscaler's own durations (scan interval, unneeded time, delay after a scale-up) run
/// `time_scale` times as long, as every duration the sim models does.
pub fn plan(
    cluster: &str,
    store: &mut Store,
    nodes: &[Value],
    now: Duration,
    time_scale: f64,
    timestamp: &str,
) -> Option<Plan> {
    let Some(view) = components::running(store, CHART) else {
        store.autoscaler = AutoscalerState {
            error: Some("release not running".into()),
            ..AutoscalerState::default()
        };
        return None;
    };
    if now < store.autoscaler.next_scan {
        return None;
    }
    let setup = match setup::read(store, &view) {
        Ok(s) => started_with(store, s.scaled(time_scale)),
        Err(why) => {
            store.autoscaler.next_scan = now + Duration::from_secs(10);
            if store.autoscaler.error.as_ref() != Some(&why) {
                let pod = pod_of(store, &view);
                append_log(store, &pod, &[format!("Fmain.go:1|{why}")], timestamp);
                store.autoscaler.error = Some(why);
            }
            store.autoscaler.started = None;
            return None;
        }
    };
    store.autoscaler.next_scan = now + setup.scan_interval.max(Duration::from_millis(100));
    let start = store.autoscaler.started.as_deref() != Some(&setup.fingerprint());
    if start && store.autoscaler.error.is_some() && store.autoscaler.started.is_none() {
        // A failed start with this configuration: the pod crash-loops; try again after the
        // kubelet's longest back-off rather than every scan.
        store.autoscaler.next_scan = now + Duration::from_secs(300).min(setup.scan_interval * 30);
    }
    Some(Plan {
        cluster: cluster.to_string(),
        start,
        nodes: nodes.to_vec(),
        pods: store.items("v1", "pods"),
        pdbs: store.items("policy/v1", "poddisruptionbudgets"),
        deleting: std::mem::take(&mut store.autoscaler.deleting),
        unneeded: store.autoscaler.unneeded.clone(),
        last_scale_up: store.autoscaler.last_scale_up,
        setup,
        now,
    })
}

/// The configuration the running pod started with: what `read` found now when the pod is new
/// (or its process failed to start and is restarted), else what it found when that pod started (Secrets changed since do not reach it until the pod
/// is replaced, as with a real container's environment).
fn started_with(store: &mut Store, now: setup::Setup) -> setup::Setup {
    // A process that failed to start exits and the kubelet restarts it: it reads again.
    let running = store.autoscaler.started.is_some();
    if let (Some((pod, kept)), Some(current)) = (&store.autoscaler.process, &now.pod)
        && pod == current
        && running
    {
        return kept.clone();
    }
    if let Some(pod) = &now.pod {
        store.autoscaler.process = Some((pod.clone(), now.clone()));
    }
    now
}

/// The Running pod of the release's Deployment, for its log.
fn pod_of(store: &Store, view: &components::ComponentView) -> Option<(String, String)> {
    store
        .items("v1", "pods")
        .into_iter()
        .filter(|p| p["metadata"]["namespace"] == view.namespace.as_str())
        .filter(|p| p["status"]["phase"] == "Running")
        .find(|p| {
            p["metadata"]["labels"]["app.kubernetes.io/instance"] == view.release.as_str()
                && p["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.contains(CHART))
        })
        .and_then(|p| {
            Some((
                p["metadata"]["namespace"].as_str()?.to_string(),
                p["metadata"]["name"].as_str()?.to_string(),
            ))
        })
}

/// hcloud-go's error text: `message (code)`.
fn api_error(e: &crate::hcloud::error::ApiError) -> String {
    format!("{} ({})", e, e.code())
}

/// One request of the autoscaler: rate limit and token. `Err` is hcloud-go's error text.
fn request(world: &mut World, token: &str, route: &str) -> Result<(), String> {
    if !world.component_request(Component::Autoscaler, route) {
        return Err("limit of requests per hour reached (rate_limit_exceeded)".into());
    }
    if !world.accepts_token(token) {
        return Err("unable to authenticate (unauthorized)".into());
    }
    Ok(())
}

/// Resolves `HCLOUD_NETWORK`/`HCLOUD_FIREWALL` as `newManager` does at start.
fn start(world: &mut World, s: &setup::Setup) -> Result<(), String> {
    if let Some(network) = &s.network {
        request(world, &s.token, "GET /networks").map_err(|e| {
            format!("Failed to create Hetzner manager: failed to get network error: {e}")
        })?;
        if scale::network_id(world, network).is_none() {
            return Err(format!(
                "Failed to create Hetzner manager: failed to get network error: network {network} not found"
            ));
        }
    }
    if let Some(firewall) = &s.firewall {
        request(world, &s.token, "GET /firewalls").map_err(|e| {
            format!("Failed to create Hetzner manager: failed to get firewall error: {e}")
        })?;
        if scale::firewall_id(world, firewall).is_none() {
            return Err(format!(
                "Failed to create Hetzner manager: failed to get firewall error: firewall {firewall} not found"
            ));
        }
    }
    Ok(())
}

/// Carries out a scan in the world (as the autoscaler's API calls would).
pub fn carry_out(world: &mut World, plan: Plan) -> Outcome {
    let mut out = Outcome {
        cluster: plan.cluster.clone(),
        now: plan.now,
        pod: plan.setup.pod.clone(),
        unneeded: plan.unneeded.clone(),
        ..Outcome::default()
    };
    let s = &plan.setup;
    if plan.start {
        if let Err(why) = start(world, s) {
            out.log.push(format!("Fmain.go:1|{why}"));
            out.error = Some(why);
            return out;
        }
        out.started = Some(s.fingerprint());
        let groups: Vec<String> = s
            .groups
            .iter()
            .map(|g| {
                format!(
                    "{}:{}:{}:{}:{}",
                    g.min, g.max, g.server_type, g.location, g.name
                )
            })
            .collect();
        out.log.push(format!(
            "Ihetzner_cloud_provider.go:1|Starting with node groups {}",
            groups.join(", ")
        ));
    }
    for (node, id) in &plan.deleting {
        if !world.data.servers.contains_key(id) {
            out.deleted.push(node.clone());
            continue;
        }
        if let Err(e) = request(world, &s.token, "DELETE /servers/{id}") {
            out.log.push(format!(
                "Ehetzner_node_group.go:1|failed to delete server ID {node} error: {e}"
            ));
            continue;
        }
        match crate::hcloud::servers::delete_server(world, *id) {
            Ok(_) => {
                world.stats.autoscaler_scale_downs += 1;
                out.deleted.push(node.clone());
                out.log
                    .push(format!("Ihetzner_node_group.go:1|Evicting server {node}"));
                out.decision = Some(format!("scale down: deleted server {node}"));
            }
            Err(e) => out.log.push(format!(
                "Ehetzner_node_group.go:1|failed to delete server ID {node} error: {}",
                api_error(&e)
            )),
        }
    }
    if let Err(e) = request(world, &s.token, "GET /servers") {
        let why = format!("failed to get servers for hcloud: {e}");
        out.log.push(format!("Estatic_autoscaler.go:1|{why}"));
        out.error = Some(why);
        return out;
    }
    let members = scale::members(world, s);
    out.groups = s
        .groups
        .iter()
        .map(|g| {
            (
                g.name.clone(),
                g.min,
                g.max,
                members.get(&g.name).map_or(0, Vec::len),
            )
        })
        .collect();
    let ups = plan_scale_up(world, &plan, &members);
    for (group, count) in ups {
        let g = &s.groups[group];
        let current = members.get(&g.name).map_or(0, Vec::len);
        out.log.push(format!(
            "Iscale_up.go:1|Final scale-up plan: [{{{} {}->{} (max: {})}}]",
            g.name,
            current,
            current + count,
            g.max
        ));
        let mut made = 0;
        for _ in 0..count {
            match scale::create(world, s, g) {
                Ok(name) => {
                    made += 1;
                    world.stats.autoscaler_scale_ups += 1;
                    out.log
                        .push(format!("Ihetzner_node_group.go:1|Created server {name}"));
                }
                Err(e) => out.log.push(format!(
                    "Ehetzner_node_group.go:1|failed to create error: {e}"
                )),
            }
        }
        if made > 0 {
            out.scaled_up = true;
            out.decision = Some(format!(
                "scale up: group {} from {current} to {}",
                g.name,
                current + made
            ));
            if let Some(entry) = out.groups.iter_mut().find(|e| e.0 == g.name) {
                entry.3 += made;
            }
        }
    }
    if !out.scaled_up && s.scale_down {
        let (unneeded, drains) = plan_scale_down(&plan, &members);
        for drain in &drains {
            out.log.push(format!(
                "Iscale_down.go:1|Scale-down: removing node {}, utilization below {}, pods to reschedule: {}",
                drain.node,
                s.threshold,
                drain.pods.len()
            ));
        }
        out.unneeded = unneeded;
        out.drains = drains;
    } else {
        out.unneeded.clear();
    }
    out
}

/// Records a scan in the cluster's store: the log, the state, and the drains (taint, then evict
/// through the eviction path; a refused eviction stops that node's removal).
pub fn record(store: &mut Store, out: Outcome, timestamp: &str) {
    append_log(store, &out.pod, &out.log, timestamp);
    let state = &mut store.autoscaler;
    if let Some(why) = out.error {
        state.error = Some(why);
        if out.started.is_none() && state.started.is_none() {
            return;
        }
    } else {
        state.error = None;
    }
    if let Some(started) = out.started {
        state.started = Some(started);
    }
    if state.started.is_none() {
        return;
    }
    if out.scaled_up {
        state.last_scale_up = Some(out.now);
    }
    if out.decision.is_some() {
        state.last_decision = out.decision;
    }
    if !out.groups.is_empty() {
        state.groups = out.groups;
    }
    state.unneeded = out.unneeded;
    for node in &out.deleted {
        store.remove_node(node);
        store.autoscaler.unneeded.remove(node);
    }
    let mut lines = Vec::new();
    for drain in out.drains {
        let previous = store.node_patches.get(&drain.node).cloned();
        let mut patch = previous.clone().unwrap_or_else(|| json!({}));
        patch["spec"]["taints"] = json!(drain.taints);
        store.node_patches.insert(drain.node.clone(), patch);
        let mut refused = None;
        for (ns, name) in &drain.pods {
            let body = json!({"apiVersion": "policy/v1", "kind": "Eviction",
                "metadata": {"name": name, "namespace": ns}})
            .to_string();
            let reply = super::eviction::evict(store, ns, name, &body.into(), false, timestamp);
            if !reply.status().is_success() && reply.status().as_u16() != 404 {
                refused = Some(format!("{ns}/{name}"));
                break;
            }
        }
        match refused {
            Some(pod) => {
                lines.push(format!(
                    "Escale_down.go:1|Failed to drain node {}: pod {pod}: Cannot evict pod as it would violate the pod's disruption budget.",
                    drain.node
                ));
                match previous {
                    Some(p) => store.node_patches.insert(drain.node.clone(), p),
                    None => store.node_patches.remove(&drain.node),
                };
                store.autoscaler.unneeded.remove(&drain.node);
            }
            None => store.autoscaler.deleting.push((drain.node, drain.server)),
        }
    }
    append_log(store, &out.pod, &lines, timestamp);
}

/// `/_sim/state` shape: whether it runs, why not, groups, the last decision.
pub fn state_json(store: &Store) -> Value {
    let a = &store.autoscaler;
    json!({
        "enabled": a.started.is_some() && a.error.is_none(),
        "error": a.error,
        "groups": a.groups.iter().map(|(name, min, max, current)| json!({
            "name": name, "min": min, "max": max, "current": current})).collect::<Vec<_>>(),
        "unneeded_nodes": a.unneeded.keys().collect::<Vec<_>>(),
        "last_decision": a.last_decision,
    })
}
