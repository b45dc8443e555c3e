//! Nodes: a typed summary of each Node object, and the node operations the provider needs (get,
//! list, delete, cordon, uncordon).

use std::collections::BTreeMap;

use http::Method;
use serde::Deserialize;

use super::client::{Body, KubeClient};
use super::error::Result;
use super::mapping::segment;

/// What the provider reads from a Node object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// Node name (the Talos hostname).
    pub name: String,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Taints as `key=value:Effect` (or `key:Effect` when the value is empty).
    pub taints: Vec<String>,
    /// Whether the `Ready` condition is `True`.
    pub ready: bool,
    /// `reason: message` of the `Ready` condition (empty when there is none), for progress and
    /// timeout messages.
    pub ready_reason: String,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// `status.nodeInfo.kubeletVersion`, e.g. `v1.35.0`.
    pub kubelet_version: String,
    /// `status.nodeInfo.osImage`, e.g. `Talos (v1.13.9)`.
    pub os_image: String,
    /// `spec.providerID`, e.g. `hcloud://123` once the cloud controller initialised the node.
    pub provider_id: Option<String>,
    /// `InternalIP` addresses.
    pub internal_ips: Vec<String>,
    /// `ExternalIP` addresses.
    pub external_ips: Vec<String>,
}

/// The wire shape of a Node, as far as [`NodeInfo`] needs it.
#[derive(Deserialize)]
pub(crate) struct NodeWire {
    metadata: Metadata,
    #[serde(default)]
    spec: NodeSpec,
    #[serde(default)]
    status: NodeStatus,
}

#[derive(Deserialize)]
struct Metadata {
    name: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct NodeSpec {
    #[serde(default)]
    unschedulable: bool,
    #[serde(default)]
    taints: Vec<TaintWire>,
    #[serde(rename = "providerID")]
    provider_id: Option<String>,
}

#[derive(Deserialize)]
struct TaintWire {
    key: String,
    #[serde(default)]
    value: String,
    effect: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct NodeStatus {
    #[serde(default)]
    conditions: Vec<Condition>,
    #[serde(default)]
    addresses: Vec<Address>,
    #[serde(default)]
    node_info: SystemInfo,
}

#[derive(Deserialize)]
struct Condition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct Address {
    #[serde(rename = "type")]
    kind: String,
    address: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct SystemInfo {
    #[serde(default)]
    kubelet_version: String,
    #[serde(default)]
    os_image: String,
}

#[derive(Deserialize)]
struct NodeList {
    items: Vec<NodeWire>,
}

/// Formats a taint as `kubectl taint` does: `key=value:Effect`, or `key:Effect` with no value.
pub fn format_taint(key: &str, value: &str, effect: &str) -> String {
    if value.is_empty() {
        format!("{key}:{effect}")
    } else {
        format!("{key}={value}:{effect}")
    }
}

impl From<NodeWire> for NodeInfo {
    fn from(node: NodeWire) -> NodeInfo {
        let ready_condition = node.status.conditions.iter().find(|c| c.kind == "Ready");
        let addresses = |kind: &str| {
            node.status
                .addresses
                .iter()
                .filter(|a| a.kind == kind)
                .map(|a| a.address.clone())
                .collect()
        };
        NodeInfo {
            ready: ready_condition.is_some_and(|c| c.status == "True"),
            ready_reason: ready_condition
                .map(|c| format!("{}: {}", c.reason, c.message))
                .unwrap_or_default(),
            taints: node
                .spec
                .taints
                .iter()
                .map(|t| format_taint(&t.key, &t.value, &t.effect))
                .collect(),
            internal_ips: addresses("InternalIP"),
            external_ips: addresses("ExternalIP"),
            name: node.metadata.name,
            labels: node.metadata.labels,
            annotations: node.metadata.annotations,
            unschedulable: node.spec.unschedulable,
            kubelet_version: node.status.node_info.kubelet_version,
            os_image: node.status.node_info.os_image,
            provider_id: node.spec.provider_id.filter(|p| !p.is_empty()),
        }
    }
}

fn node_path(name: &str) -> String {
    format!("/api/v1/nodes/{}", segment(name))
}

impl KubeClient {
    /// Every node of the cluster, in one LIST.
    ///
    /// # Errors
    /// [`super::Error::Transport`], [`super::Error::Api`] or [`super::Error::Decode`].
    pub async fn list_nodes(&self) -> Result<Vec<NodeInfo>> {
        let list: NodeList = self.get_json("/api/v1/nodes", &[]).await?;
        Ok(list.items.into_iter().map(NodeInfo::from).collect())
    }

    /// One node, `None` when it does not exist.
    ///
    /// # Errors
    /// As [`KubeClient::list_nodes`]; a 404 is `Ok(None)`.
    pub async fn get_node(&self, name: &str) -> Result<Option<NodeInfo>> {
        match self.get_json::<NodeWire>(&node_path(name), &[]).await {
            Ok(node) => Ok(Some(node.into())),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes a node object (the server stays; its kubelet would register it again).
    /// Returns whether the node existed.
    ///
    /// # Errors
    /// As [`KubeClient::list_nodes`]; a 404 is `Ok(false)`.
    pub async fn delete_node(&self, name: &str) -> Result<bool> {
        match self
            .send(Method::DELETE, &node_path(name), &[], None)
            .await?
            .success()
        {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Marks the node unschedulable (merge patch `spec.unschedulable: true`); idempotent.
    ///
    /// # Errors
    /// As [`KubeClient::list_nodes`], including 404 for a missing node.
    pub async fn cordon(&self, name: &str) -> Result<NodeInfo> {
        self.set_unschedulable(name, true).await
    }

    /// Marks the node schedulable again (merge patch `spec.unschedulable: null`); idempotent.
    ///
    /// # Errors
    /// As [`KubeClient::cordon`].
    pub async fn uncordon(&self, name: &str) -> Result<NodeInfo> {
        self.set_unschedulable(name, false).await
    }

    /// Sets annotation `key` of node `name` to `value`, or removes it with `None` (merge patch
    /// of `metadata.annotations`); idempotent.
    ///
    /// # Errors
    /// As [`KubeClient::cordon`].
    pub async fn annotate_node(
        &self,
        name: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<NodeInfo> {
        let patch = serde_json::json!({ "metadata": { "annotations": { key: value } } });
        self.merge_patch_node(name, &patch).await
    }

    async fn set_unschedulable(&self, name: &str, unschedulable: bool) -> Result<NodeInfo> {
        // `null` removes the field, as kubectl uncordon leaves it.
        let value = if unschedulable {
            serde_json::Value::Bool(true)
        } else {
            serde_json::Value::Null
        };
        let patch = serde_json::json!({ "spec": { "unschedulable": value } });
        self.merge_patch_node(name, &patch).await
    }

    async fn merge_patch_node(&self, name: &str, patch: &serde_json::Value) -> Result<NodeInfo> {
        let body = Body {
            content_type: "application/merge-patch+json",
            bytes: patch.to_string().into_bytes(),
        };
        let node: NodeWire = self
            .send(Method::PATCH, &node_path(name), &[], Some(body))
            .await?
            .into_json()?;
        Ok(node.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taints_are_formatted_like_kubectl() {
        assert_eq!(
            format_taint("dedicated", "gpu", "NoSchedule"),
            "dedicated=gpu:NoSchedule"
        );
        assert_eq!(
            format_taint("node-role.kubernetes.io/control-plane", "", "NoSchedule"),
            "node-role.kubernetes.io/control-plane:NoSchedule"
        );
    }

    #[test]
    fn node_objects_are_summarised() {
        let node: NodeWire = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": "prod-cp-1", "labels": {"kubernetes.io/hostname": "prod-cp-1"}},
            "spec": {"unschedulable": true, "providerID": "hcloud://42",
                     "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoExecute"},
                                {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]},
            "status": {
                "conditions": [{"type": "MemoryPressure", "status": "False"},
                               {"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "cni plugin not initialized"}],
                "addresses": [{"type": "Hostname", "address": "prod-cp-1"}, {"type": "InternalIP", "address": "10.0.1.2"},
                              {"type": "ExternalIP", "address": "127.50.0.2"}],
                "nodeInfo": {"kubeletVersion": "v1.35.0", "osImage": "Talos (v1.13.9)"}
            }
        }))
        .unwrap();
        let info = NodeInfo::from(node);
        assert_eq!(info.name, "prod-cp-1");
        assert!(!info.ready);
        assert_eq!(
            info.ready_reason,
            "KubeletNotReady: cni plugin not initialized"
        );
        assert!(info.unschedulable);
        assert_eq!(
            info.taints,
            [
                "dedicated=gpu:NoExecute",
                "node.kubernetes.io/not-ready:NoSchedule"
            ]
        );
        assert_eq!(info.provider_id.as_deref(), Some("hcloud://42"));
        assert_eq!(info.internal_ips, ["10.0.1.2"]);
        assert_eq!(info.external_ips, ["127.50.0.2"]);
        assert_eq!(
            (info.kubelet_version.as_str(), info.os_image.as_str()),
            ("v1.35.0", "Talos (v1.13.9)")
        );
        assert_eq!(info.labels["kubernetes.io/hostname"], "prod-cp-1");
    }

    #[test]
    fn a_node_without_status_is_not_ready() {
        let node: NodeWire =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "n"}})).unwrap();
        let info = NodeInfo::from(node);
        assert!(!info.ready && !info.unschedulable && info.taints.is_empty());
        assert_eq!(info.provider_id, None);
    }
}
