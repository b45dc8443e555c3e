//! The cluster-autoscaler's Hetzner configuration for autoscaled node pools, as Kubernetes
//! objects (applying them is the caller's):
//!
//! - the Secret [`CONFIG_SECRET`] with `HCLOUD_CLUSTER_CONFIG` (base64 JSON: the snapshot per
//!   architecture, and per node group the worker machine configuration as user data, node
//!   labels and taints, server labels, placement group). It holds machine configurations, so it
//!   is a Secret; the autoscaler reads it through the chart's `extraEnvSecrets`;
//! - the `HelmChartConfig` [`RELEASE`] (helm-controller's overlay for a HelmChart another owner
//!   applies, here the `cluster-autoscaler` add-on, which gives the token) with the chart's
//!   `autoscalingGroups` (one `--nodes=min:max:type:location:name` each; the chart renders its
//!   Deployment only when they are given) and a pod annotation carrying the configuration's
//!   hash, so that the autoscaler restarts with a changed configuration. One writer assembles
//!   every group of the cluster.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{NAMESPACE, labels};

/// Release (HelmChart and HelmChartConfig) name; also the chart's name.
pub const RELEASE: &str = "cluster-autoscaler";
/// The Secret holding `HCLOUD_CLUSTER_CONFIG`.
pub const CONFIG_SECRET: &str = "hk8s-cluster-autoscaler";
/// The environment variable (and Secret key) the Hetzner provider reads its configuration from.
pub const CONFIG_ENV: &str = "HCLOUD_CLUSTER_CONFIG";
/// Pod annotation with the configuration's hash.
pub const CONFIG_HASH_ANNOTATION: &str = "hk8s.io/autoscaler-config";

/// A Kubernetes taint as the autoscaler's node template carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Taint {
    /// Key.
    pub key: String,
    /// Value (may be empty).
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

/// One autoscaled pool as a node group of the autoscaler.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeGroup {
    /// Group name, unique in the Hetzner project (`<cluster>-<pool>`): the autoscaler names its
    /// servers `<name>-<hex>` and finds them by the label `hcloud/node-group=<name>`.
    pub name: String,
    /// Fewest nodes.
    pub min: u32,
    /// Most nodes.
    pub max: u32,
    /// Server type.
    pub server_type: String,
    /// Location.
    pub location: String,
    /// `amd64` or `arm64` (chooses the snapshot).
    pub arch: String,
    /// The worker machine configuration as Hetzner user data (holds the cluster's secrets).
    pub user_data: String,
    /// Node labels of the group's nodes.
    pub labels: BTreeMap<String, String>,
    /// Node taints of the group's nodes.
    pub taints: Vec<Taint>,
    /// Hetzner labels of the group's servers.
    pub server_labels: BTreeMap<String, String>,
    /// Placement group (name or id).
    pub placement_group: Option<String>,
}

impl std::fmt::Debug for NodeGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeGroup")
            .field("name", &self.name)
            .field("min", &self.min)
            .field("max", &self.max)
            .field("server_type", &self.server_type)
            .field("location", &self.location)
            .field("arch", &self.arch)
            .field("user_data", &format!("<{} bytes>", self.user_data.len()))
            .finish_non_exhaustive()
    }
}

impl NodeGroup {
    /// The group's `--nodes` flag value (what the chart renders from its `autoscalingGroups`).
    pub fn nodes_flag(&self) -> String {
        format!(
            "{}:{}:{}:{}:{}",
            self.min, self.max, self.server_type, self.location, self.name
        )
    }
}

/// `HCLOUD_CLUSTER_CONFIG`'s JSON: `images` maps `amd64`/`arm64` to a snapshot (id as text, or
/// a label selector).
pub fn cluster_config(images: &BTreeMap<String, String>, groups: &[NodeGroup]) -> Value {
    let node_configs: serde_json::Map<String, Value> = groups
        .iter()
        .map(|g| {
            let mut config = json!({
                "cloudInit": g.user_data,
                "labels": g.labels,
                "taints": g.taints.iter().map(|t| json!({"key": t.key, "value": t.value, "effect": t.effect})).collect::<Vec<_>>(),
                "serverLabels": g.server_labels,
            });
            if let Some(pg) = &g.placement_group {
                config["placementGroup"] = json!(pg);
            }
            (g.name.clone(), config)
        })
        .collect();
    json!({"imagesForArch": images, "nodeConfigs": node_configs})
}

/// The Secret with `HCLOUD_CLUSTER_CONFIG` (the variable's value is itself base64 JSON).
pub fn config_secret(config: &Value) -> Value {
    let encoded = base64::engine::general_purpose::STANDARD.encode(config.to_string());
    json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
           "metadata": {"name": CONFIG_SECRET, "namespace": NAMESPACE, "labels": labels(RELEASE)},
           "stringData": {CONFIG_ENV: encoded}})
}

/// The `HelmChartConfig` overlay: the node groups, the configuration from its Secret, and the
/// configuration's hash on the pod (a changed configuration restarts it). The token is the
/// add-on's (its values), so a user's own token Secret is never overridden here.
pub fn chart_config(config: &Value, groups: &[NodeGroup]) -> Value {
    let autoscaling_groups: Vec<Value> = groups
        .iter()
        .map(|g| {
            json!({"name": g.name, "minSize": g.min, "maxSize": g.max,
                   "instanceType": g.server_type, "region": g.location})
        })
        .collect();
    let hash = config_hash(config);
    let values = json!({
        "cloudProvider": "hetzner",
        "autoscalingGroups": autoscaling_groups,
        "extraEnvSecrets": {
            CONFIG_ENV: {"name": CONFIG_SECRET, "key": CONFIG_ENV},
        },
        "podAnnotations": {CONFIG_HASH_ANNOTATION: hash},
    });
    json!({"apiVersion": "helm.cattle.io/v1", "kind": "HelmChartConfig",
           "metadata": {"name": RELEASE, "namespace": NAMESPACE, "labels": labels(RELEASE)},
           "spec": {"valuesContent": serde_json::to_string_pretty(&values).unwrap_or_default()}})
}

/// How often the autoscaler looks at pending pods and its servers. Each scan lists the
/// project's servers, so the default 10 s would spend 360 of the project's 3600 requests an hour;
/// 30 s spends 120 and still reacts within a minute.
pub const SCAN_INTERVAL: &str = "30s";

/// The chart values the `cluster-autoscaler` add-on derives from the cluster: the Hetzner
/// provider, the token from `token_secret` (`name`, `key`), servers attached to the cluster
/// network, modest polling ([`SCAN_INTERVAL`]), groups raised to their `min` without waiting for
/// pods, and the pod on control planes (it must run while an autoscaled pool has no node, and it
/// would otherwise keep the node it runs on from ever scaling down).
pub fn addon_values(network_id: i64, token_secret: (&str, &str)) -> Value {
    json!({
        "cloudProvider": "hetzner",
        "extraEnvSecrets": {"HCLOUD_TOKEN": {"name": token_secret.0, "key": token_secret.1}},
        "extraEnv": {"HCLOUD_NETWORK": network_id.to_string()},
        "extraArgs": {
            "scan-interval": SCAN_INTERVAL,
            "enforce-node-group-min-size": true,
        },
        // One process at a time: the old one stops before the new one starts, so no server is
        // made from a configuration that was replaced.
        "updateStrategy": {"type": "Recreate"},
        "nodeSelector": {"node-role.kubernetes.io/control-plane": ""},
        "tolerations": [
            {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "CriticalAddonsOnly", "operator": "Exists"},
        ],
    })
}

/// The configuration's hash, as the pod annotation [`CONFIG_HASH_ANNOTATION`] carries it.
pub fn config_hash(config: &Value) -> String {
    hex(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, config.to_string().as_bytes())
            .as_ref(),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str) -> NodeGroup {
        NodeGroup {
            name: name.to_owned(),
            min: 0,
            max: 4,
            server_type: "cx23".to_owned(),
            location: "fsn1".to_owned(),
            arch: "amd64".to_owned(),
            user_data: "H4sI-config".to_owned(),
            labels: [("example.com/tier".to_owned(), "web".to_owned())].into(),
            taints: vec![Taint {
                key: "dedicated".to_owned(),
                value: "web".to_owned(),
                effect: "NoSchedule".to_owned(),
            }],
            server_labels: [("hk8s.io/cluster".to_owned(), "prod".to_owned())].into(),
            placement_group: Some("prod-web-fsn1-1".to_owned()),
        }
    }

    #[test]
    fn the_cluster_config_has_a_node_config_per_group() {
        let images = [("amd64".to_owned(), "100012".to_owned())].into();
        let config = cluster_config(&images, &[group("prod-web"), group("prod-batch")]);
        assert_eq!(config["imagesForArch"]["amd64"], "100012");
        let web = &config["nodeConfigs"]["prod-web"];
        assert_eq!(web["cloudInit"], "H4sI-config");
        assert_eq!(web["labels"]["example.com/tier"], "web");
        assert_eq!(web["taints"][0]["effect"], "NoSchedule");
        assert_eq!(web["serverLabels"]["hk8s.io/cluster"], "prod");
        assert_eq!(web["placementGroup"], "prod-web-fsn1-1");
        assert!(config["nodeConfigs"]["prod-batch"].is_object());
    }

    #[test]
    fn the_secret_holds_the_config_as_base64_json() {
        let config = json!({"imagesForArch": {}, "nodeConfigs": {}});
        let secret = config_secret(&config);
        let encoded = secret["stringData"][CONFIG_ENV].as_str().unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(serde_json::from_slice::<Value>(&decoded).unwrap(), config);
        assert_eq!(secret["metadata"]["namespace"], NAMESPACE);
    }

    #[test]
    fn every_group_is_listed_and_the_hash_follows_the_config() {
        let images = BTreeMap::new();
        let groups = [group("prod-web"), group("prod-batch")];
        let config = cluster_config(&images, &groups);
        let overlay = chart_config(&config, &groups);
        let values: Value =
            serde_json::from_str(overlay["spec"]["valuesContent"].as_str().unwrap()).unwrap();
        assert_eq!(
            values["autoscalingGroups"][0],
            json!({"name": "prod-web", "minSize": 0, "maxSize": 4, "instanceType": "cx23", "region": "fsn1"})
        );
        assert_eq!(values["autoscalingGroups"][1]["name"], "prod-batch");
        assert_eq!(
            values["extraEnvSecrets"][CONFIG_ENV]["name"], CONFIG_SECRET,
            "the token is the add-on's"
        );
        assert!(values["extraEnvSecrets"]["HCLOUD_TOKEN"].is_null());
        let hash = values["podAnnotations"][CONFIG_HASH_ANNOTATION].clone();
        let values_of = |groups: &[NodeGroup]| -> Value {
            let overlay = chart_config(&cluster_config(&images, groups), groups);
            serde_json::from_str(overlay["spec"]["valuesContent"].as_str().unwrap()).unwrap()
        };
        // A size change is a new flag (the Deployment changes by itself), not a new config.
        let mut resized = groups.to_vec();
        resized[0].max = 5;
        let resized = values_of(&resized);
        assert_eq!(resized["autoscalingGroups"][0]["maxSize"], 5);
        assert_eq!(resized_group_flag(), "0:5:cx23:fsn1:prod-web");
        assert_eq!(resized["podAnnotations"][CONFIG_HASH_ANNOTATION], hash);
        // A new machine configuration (an upgrade, a patch) restarts the autoscaler.
        let mut upgraded = groups.to_vec();
        upgraded[0].user_data = "H4sI-upgraded".to_owned();
        assert_ne!(
            values_of(&upgraded)["podAnnotations"][CONFIG_HASH_ANNOTATION],
            hash
        );
    }

    fn resized_group_flag() -> String {
        let mut g = group("prod-web");
        g.max = 5;
        g.nodes_flag()
    }

    #[test]
    fn debug_leaves_out_the_machine_configuration() {
        let text = format!("{:?}", group("prod-web"));
        assert!(!text.contains("H4sI-config") && text.contains("bytes"));
    }
}
