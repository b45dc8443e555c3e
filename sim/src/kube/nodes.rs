//! Node objects: derived from the configured Talos nodes of the cluster that registered (labels
//! and taints from the machine config, `nodeInfo.osImage` = `Talos (<version>)`, kubelet version,
//! architecture and resources of the server type (see [`super::capacity`]), a pod CIDR block from
//! [`super::podcidr`], Ready when a CNI runs on it), with the changes made through the API (cordon,
//! labels) merged over them. GET/LIST/PATCH/DELETE.

use std::collections::BTreeSet;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::capacity;
use super::objects::Target;
use super::store::{merge_patch, uid};
use super::{ok_json, status};
use crate::talos::config::Role;
use crate::talos::state::{Fleet, Node};

/// Where a CNI runs in a cluster.
enum Cni {
    /// On every node: Talos's flannel (deployed by the control planes when their configuration
    /// keeps `cni` at flannel), a DaemonSet that tolerates every taint.
    Everywhere,
    /// On the nodes where a pod of a DaemonSet named `cilium` runs.
    On(BTreeSet<String>),
}

impl Cni {
    fn runs_on(&self, node: &str) -> bool {
        match self {
            Cni::Everywhere => true,
            Cni::On(nodes) => nodes.contains(node),
        }
    }
}

/// Where the cluster's CNI runs. Workers' own `cni` settings do not matter: the CNI's manifests
/// come from the control planes (or a chart, or the user).
fn cni(fleet: &Fleet, key: &str) -> Cni {
    let flannel = fleet
        .cluster_nodes(key)
        .filter(|n| n.is_control_plane())
        .any(|n| n.config.as_ref().is_some_and(|c| c.flannel));
    let Some(cluster) = fleet.clusters.get(key) else {
        return Cni::On(BTreeSet::new());
    };
    if flannel {
        return Cni::Everywhere;
    }
    let daemon_sets: BTreeSet<String> = cluster
        .kube
        .items("apps/v1", "daemonsets")
        .iter()
        .filter(|d| d["metadata"]["name"] == "cilium")
        .filter_map(|d| d["metadata"]["uid"].as_str().map(str::to_string))
        .collect();
    Cni::On(
        cluster
            .kube
            .items("v1", "pods")
            .iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .filter(|p| {
                super::scheduler::controller_uid(p).is_some_and(|u| daemon_sets.contains(u))
            })
            .filter_map(|p| p["spec"]["nodeName"].as_str().map(str::to_string))
            .collect(),
    )
}

/// The taint kubelet's `--cloud-provider=external` puts on a node until a CCM initializes it.
const UNINITIALIZED_TAINT: &str = "node.cloudprovider.kubernetes.io/uninitialized";

/// What the cluster knows of one node beyond its Talos state.
struct NodeFacts<'a> {
    /// Whether a CNI runs on it.
    cni: bool,
    /// What the cloud controller manager wrote on it, once it initialised it.
    ccm: Option<&'a super::ccm::CcmNode>,
    /// The location the hcloud CSI driver registered on it (its topology label).
    csi_location: Option<&'a String>,
    /// Its pod CIDR block, once node IPAM gave it one.
    pod_cidr: Option<ipnet::Ipv4Net>,
    /// What its kubelet last reported (heartbeat and Ready transition times).
    report: Option<&'a super::heartbeat::Report>,
}

/// A Node object.
fn node_json(node: &Node, facts: &NodeFacts) -> Option<Value> {
    let cfg = node.config.as_ref()?;
    let name = node.hostname();
    let server_type = crate::catalog::server_type(&node.server_type);
    let arch = server_type.map_or("amd64", |t| capacity::kube_arch(t.arch));
    let mut labels = serde_json::Map::new();
    labels.insert("beta.kubernetes.io/arch".into(), json!(arch));
    labels.insert("beta.kubernetes.io/os".into(), json!("linux"));
    labels.insert("kubernetes.io/arch".into(), json!(arch));
    labels.insert("kubernetes.io/hostname".into(), json!(name));
    labels.insert("kubernetes.io/os".into(), json!("linux"));
    for (k, v) in &cfg.labels {
        labels.insert(k.clone(), json!(v));
    }
    for (k, v) in facts.ccm.map(|c| c.labels()).unwrap_or_default() {
        labels.insert(k.into(), json!(v));
    }
    if let Some(location) = facts.csi_location {
        labels.insert(super::csi::TOPOLOGY_KEY.into(), json!(location));
    }
    let taints: Vec<Value> = cfg
        .taints
        .iter()
        .map(|(k, v)| match v.split_once(':') {
            Some((value, effect)) => json!({"key": k, "value": value, "effect": effect}),
            None => json!({"key": k, "effect": v}),
        })
        .collect();
    let ready = node.is_up() && facts.cni;
    // A node whose kubelet stopped posting is marked Unknown by the node lifecycle controller.
    let ready_status = match (node.is_up(), ready) {
        (false, _) => "Unknown",
        (true, true) => "True",
        (true, false) => "False",
    };
    let registered = node.kube_registered_at.clone().unwrap_or_default();
    let heartbeat = facts
        .report
        .map_or(registered.as_str(), |r| r.heartbeat.as_str());
    let transition = facts
        .report
        .map_or(registered.as_str(), |r| r.transition.as_str());
    let (reason, message) = if !node.is_up() {
        ("NodeStatusUnknown", "Kubelet stopped posting node status.")
    } else if !facts.cni {
        (
            "KubeletNotReady",
            "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
        )
    } else {
        ("KubeletReady", "kubelet is posting ready status")
    };
    let addresses: Vec<Value> = match facts.ccm {
        Some(ccm) => ccm
            .addresses
            .iter()
            .map(|(kind, address)| json!({"type": kind, "address": address}))
            .collect(),
        None => {
            let mut addresses = vec![json!({"type": "Hostname", "address": name})];
            if let Some(ip) = node.private_ips().next() {
                addresses.push(json!({"type": "InternalIP", "address": ip.to_string()}));
            }
            addresses.push(json!({"type": "ExternalIP", "address": node.ip.to_string()}));
            addresses
        }
    };
    let mut spec = json!({"taints": taints});
    if let Some(cidr) = facts.pod_cidr {
        spec["podCIDR"] = json!(cidr.to_string());
        spec["podCIDRs"] = json!([cidr.to_string()]);
    }
    if !ready && let Some(t) = spec["taints"].as_array_mut() {
        t.push(json!({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}));
    }
    if let Some(ccm) = facts.ccm {
        spec["providerID"] = json!(ccm.provider_id());
    } else if cfg.external_cloud_provider
        && let Some(t) = spec["taints"].as_array_mut()
    {
        t.push(json!({"key": UNINITIALIZED_TAINT, "value": "true", "effect": "NoSchedule"}));
    }
    let mut status = json!({
        "conditions": [{"type": "Ready", "status": ready_status, "reason": reason, "message": message,
            "lastHeartbeatTime": heartbeat, "lastTransitionTime": transition}],
        "addresses": addresses,
        "nodeInfo": {
            "osImage": format!("Talos ({})", node.version),
            "kubeletVersion": cfg.kubelet_version,
            "kubeProxyVersion": cfg.kubelet_version,
            "containerRuntimeVersion": "containerd://2.1.0",
            "kernelVersion": "6.12.0-talos",
            "operatingSystem": "linux",
            "architecture": arch,
            "machineID": format!("{:032x}", node.server_id),
            "systemUUID": uid(&name, "system"),
            "bootID": uid(&name, &format!("boot-{}", node.boots)),
        },
    });
    if let Some(t) = server_type {
        let role = if node.is_control_plane() {
            Role::Controlplane
        } else {
            Role::Worker
        };
        let (capacity, allocatable) = capacity::resources(t, role);
        status["capacity"] = capacity;
        status["allocatable"] = allocatable;
    }
    Some(json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "uid": uid(&name, &node.server_id.to_string()), "labels": labels,
            "creationTimestamp": node.kube_registered_at.as_deref().unwrap_or_default()},
        "spec": spec,
        "status": status,
    }))
}

/// The cluster's Node objects, by name (as the API server lists them), each at the
/// resourceVersion it was last seen to change at (see [`super::heartbeat`]).
pub fn list(fleet: &Fleet, key: &str) -> Vec<Value> {
    let Some(cluster) = fleet.clusters.get(key) else {
        return Vec::new();
    };
    let mut nodes = derive(fleet, key);
    for node in &mut nodes {
        let name = node["metadata"]["name"].as_str().unwrap_or_default();
        let rv = cluster
            .kube
            .node_tracker
            .version(name)
            .map_or_else(|| cluster.kube.version(), |v| v.to_string());
        node["metadata"]["resourceVersion"] = json!(rv);
    }
    nodes
}

/// The cluster's Node objects as they are now, without their resourceVersion.
pub fn derive(fleet: &Fleet, key: &str) -> Vec<Value> {
    let Some(cluster) = fleet.clusters.get(key) else {
        return Vec::new();
    };
    let cni = cni(fleet, key);
    let mut nodes: Vec<Value> = fleet
        .cluster_nodes(key)
        .filter(|n| n.kube_registered)
        .filter_map(|n| {
            let facts = NodeFacts {
                cni: cni.runs_on(&n.hostname()),
                ccm: cluster.kube.ccm.nodes.get(&n.hostname()),
                csi_location: cluster.kube.csi.nodes.get(&n.hostname()),
                pod_cidr: cluster.kube.pod_cidrs.get(&n.hostname()),
                report: cluster.kube.node_tracker.report(&n.hostname()),
            };
            node_json(n, &facts)
        })
        .map(|mut n| {
            if let Some(p) = cluster
                .kube
                .node_patches
                .get(n["metadata"]["name"].as_str().unwrap_or_default())
            {
                merge_patch(&mut n, p);
            }
            n
        })
        .collect();
    nodes.sort_by(|a, b| {
        a["metadata"]["name"]
            .as_str()
            .cmp(&b["metadata"]["name"].as_str())
    });
    nodes
}

/// Whether a Node object is Ready.
pub fn is_ready(node: &Value) -> bool {
    node["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// `/api/v1/nodes[/name]` (lists take `labelSelector` and `fieldSelector`).
pub fn handle(
    fleet: &mut Fleet,
    key: &str,
    method: &Method,
    target: &Target,
    query: &[(String, String)],
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let nodes = list(fleet, key);
    let version = fleet
        .clusters
        .get(key)
        .map_or_else(|| "1".to_string(), |c| c.kube.version());
    let Some(name) = &target.name else {
        let filter = match super::select::ListFilter::parse(
            super::objects::query_value(query, "labelSelector"),
            super::objects::query_value(query, "fieldSelector"),
        ) {
            Ok(f) => f,
            Err(e) => return status(StatusCode::BAD_REQUEST, "BadRequest", &e.to_string()),
        };
        let items: Vec<Value> = nodes.into_iter().filter(|n| filter.matches(n)).collect();
        return match *method {
            Method::GET => ok_json(
                StatusCode::OK,
                &json!({"apiVersion": "v1", "kind": "NodeList", "metadata": {"resourceVersion": version}, "items": items}),
            ),
            _ => status(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "nodes register themselves",
            ),
        };
    };
    let Some(node) = nodes
        .into_iter()
        .find(|n| n["metadata"]["name"] == name.as_str())
    else {
        return super::not_found("v1", "nodes", name);
    };
    let Some(cluster) = fleet.clusters.get_mut(key) else {
        return status(StatusCode::NOT_FOUND, "NotFound", "no cluster");
    };
    match *method {
        Method::GET => ok_json(StatusCode::OK, &node),
        Method::PATCH => {
            let patch = match super::objects::patch_body(headers, body) {
                Ok(p) => p,
                Err(r) => return *r,
            };
            if !patch.is_object() || !(patch["metadata"].is_object() || patch["metadata"].is_null())
            {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "a node patch must be an object with an object metadata",
                );
            }
            let mut stored = cluster
                .kube
                .node_patches
                .remove(name)
                .unwrap_or_else(|| json!({}));
            merge_patch(&mut stored, &patch);
            cluster.kube.node_patches.insert(name.clone(), stored);
            let mut node = node;
            merge_patch(&mut node, &patch);
            ok_json(StatusCode::OK, &node)
        }
        Method::DELETE => {
            cluster.kube.remove_node(name);
            // The running kubelet does not notice; it registers the node again when it restarts.
            let registered: Vec<i64> = fleet
                .cluster_nodes(key)
                .filter(|n| n.kube_registered && n.hostname() == *name)
                .map(|n| n.server_id)
                .collect();
            for id in registered {
                if let Some(n) = fleet.nodes.get_mut(&id) {
                    n.kube_registered = false;
                    n.node_deleted_in_boot = Some(n.boots);
                }
            }
            ok_json(StatusCode::OK, &node)
        }
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "unsupported method on a node",
        ),
    }
}
