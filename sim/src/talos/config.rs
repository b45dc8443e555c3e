//! A node's machine configuration as the sim understands it: parsed from YAML (one or more
//! documents), validated against the Talos JSON schema of the node's version (vendored under
//! `tests/data/talos/schemas`, embedded at build time) and by the semantic checks of
//! [`super::checks`], then reduced to the facts the sim acts on ([`NodeConfig`]). Both shapes are
//! read: v1alpha1 fields (1.12, 1.13) and the typed `Kube*` documents of 1.14.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::checks;
use super::volumes::{self, SystemVolumes};

/// Why a configuration was refused (becomes gRPC InvalidArgument with this text).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Not YAML.
    #[error("config is not valid YAML: {0}")]
    Yaml(String),
    /// No v1alpha1 document (the one with `machine:`).
    #[error("config has no v1alpha1 document (version: v1alpha1 with machine and cluster)")]
    NoV1alpha1,
    /// The sim has no schema for this Talos minor.
    #[error("the sim has no Talos config schema for version {0} (supported: v1.12, v1.13, v1.14)")]
    UnsupportedVersion(String),
    /// Fails the published JSON schema.
    #[error("config fails the Talos {version} schema: {errors}")]
    Schema {
        /// Talos minor.
        version: String,
        /// What failed, `; `-separated.
        errors: String,
    },
    /// Fails a semantic check.
    #[error("{0}")]
    Semantic(String),
}

/// `controlplane` or `worker`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Runs etcd and the Kubernetes control plane.
    Controlplane,
    /// Runs workloads only.
    Worker,
}

/// What the sim needs to know from a valid configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The configuration text as applied.
    pub yaml: String,
    /// SHA-256 of the text, hex.
    pub hash: String,
    /// Node role.
    pub role: Role,
    /// `machine.token` (trustd authentication).
    pub machine_token: String,
    /// `cluster.token`: the bootstrap token kubelets use to join (control planes publish theirs).
    pub cluster_token: String,
    /// OS CA certificate (PEM).
    pub os_ca_crt: String,
    /// OS CA key (PEM), control planes only.
    pub os_ca_key: Option<String>,
    /// `machine.certSANs`.
    pub cert_sans: Vec<String>,
    /// Cluster name.
    pub cluster_name: String,
    /// `https://host:port` of the control plane.
    pub endpoint: String,
    /// Kubernetes CA certificate (PEM).
    pub kube_ca_crt: String,
    /// Kubernetes CA key (PEM), control planes only.
    pub kube_ca_key: Option<String>,
    /// `apiServer.certSANs`.
    pub api_cert_sans: Vec<String>,
    /// Kubelet version, e.g. `v1.35.0`.
    pub kubelet_version: String,
    /// Hostname from `HostnameConfig` or `machine.network.hostname`.
    pub hostname: Option<String>,
    /// Node labels.
    pub labels: BTreeMap<String, String>,
    /// Node taints as `key -> value:Effect` (or `key -> Effect`).
    pub taints: BTreeMap<String, String>,
    /// Whether the built-in flannel CNI runs (`cni` not `none`).
    pub flannel: bool,
    /// The cluster's pod subnets (`cluster.network.podSubnets`, or `KubeNetworkConfig`).
    pub pod_subnets: Vec<String>,
    /// The size of each node's pod CIDR block kube-controller-manager hands out, when set
    /// (`KubeNetworkConfig.nodeCIDRMaskSizeIPv4`, or the controller manager's
    /// `node-cidr-mask-size(-ipv4)` argument).
    pub node_cidr_mask_ipv4: Option<u8>,
    /// Whether an external cloud provider (the hcloud CCM) sets provider ids.
    pub external_cloud_provider: bool,
    /// Whether the kubelet asks the cluster CA for its serving certificate (kubelet argument
    /// `rotate-server-certificates: true`, or `serverTLSBootstrap: true` in its configuration)
    /// instead of serving a self-signed one.
    pub kubelet_serving_certificates: bool,
    /// The STATE and EPHEMERAL encryption the `VolumeConfig` documents ask for.
    pub volumes: SystemVolumes,
}

impl NodeConfig {
    /// Whether a change from `self` to `new` needs a reboot (Talos reboots for install, machine
    /// type and cluster identity changes; most other fields apply live).
    pub fn needs_reboot_for(&self, new: &NodeConfig) -> bool {
        self.role != new.role
            || self.os_ca_crt != new.os_ca_crt
            || self.kube_ca_crt != new.kube_ca_crt
            || self.cluster_name != new.cluster_name
    }
}

/// The embedded schema for a Talos version (`v1.13.9` → `v1.13`).
fn validator(version: &str) -> Result<&'static jsonschema::Validator, ConfigError> {
    static V112: OnceLock<Option<jsonschema::Validator>> = OnceLock::new();
    static V113: OnceLock<Option<jsonschema::Validator>> = OnceLock::new();
    static V114: OnceLock<Option<jsonschema::Validator>> = OnceLock::new();
    let minor = minor_of(version);
    let (cell, text) = match minor.as_str() {
        "v1.12" => (
            &V112,
            include_str!("../../../tests/data/talos/schemas/v1.12/config.schema.json"),
        ),
        "v1.13" => (
            &V113,
            include_str!("../../../tests/data/talos/schemas/v1.13/config.schema.json"),
        ),
        "v1.14" => (
            &V114,
            include_str!("../../../tests/data/talos/schemas/v1.14/config.schema.json"),
        ),
        _ => return Err(ConfigError::UnsupportedVersion(version.to_string())),
    };
    cell.get_or_init(|| {
        serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|schema| jsonschema::validator_for(&schema).ok())
    })
    .as_ref()
    .ok_or_else(|| ConfigError::UnsupportedVersion(version.to_string()))
}

/// The Talos minors the sim has configuration schemas for (and the Image Factory stand-in
/// serves images of).
pub const SUPPORTED_MINORS: &[&str] = &["v1.12", "v1.13", "v1.14"];

/// `v1.13.9` or `1.13.9` → `v1.13`.
pub fn minor_of(version: &str) -> String {
    let v = version.trim_start_matches('v');
    let mut parts = v.split('.');
    format!(
        "v{}.{}",
        parts.next().unwrap_or(""),
        parts.next().unwrap_or("")
    )
}

/// Parses and validates a configuration for a node running Talos `version`.
pub fn parse(yaml: &str, version: &str) -> Result<NodeConfig, ConfigError> {
    let documents: Vec<Value> =
        serde_saphyr::from_multiple(yaml).map_err(|e| ConfigError::Yaml(e.to_string()))?;
    let documents: Vec<Value> = documents.into_iter().filter(|d| !d.is_null()).collect();
    let validator = validator(version)?;
    let mut errors = Vec::new();
    for doc in &documents {
        let kind = doc
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("v1alpha1")
            .to_string();
        for e in validator.iter_errors(doc) {
            // Masked: the message must not echo the document, which holds keys and tokens.
            errors.push(format!("{kind}{}: {}", e.instance_path(), e.masked()));
        }
    }
    if !errors.is_empty() {
        errors.truncate(5);
        return Err(ConfigError::Schema {
            version: minor_of(version),
            errors: errors.join("; "),
        });
    }
    let v1 = documents
        .iter()
        .find(|d| d.get("kind").is_none() && d.get("machine").is_some())
        .ok_or(ConfigError::NoV1alpha1)?;
    let typed = |kind: &str| {
        documents
            .iter()
            .find(|d| d.get("kind").and_then(Value::as_str) == Some(kind))
    };
    let mut problems = Vec::new();
    let volumes = volumes::check(&documents, &minor_of(version), &mut problems);
    let facts = match checks::check(v1, &typed, version) {
        Ok(facts) if problems.is_empty() => facts,
        Ok(_) => return Err(ConfigError::Semantic(problems.join("; "))),
        Err(e) => {
            problems.insert(0, e);
            return Err(ConfigError::Semantic(problems.join("; ")));
        }
    };
    let hash = hex(&Sha256::digest(yaml.as_bytes()));
    Ok(NodeConfig {
        yaml: yaml.to_string(),
        hash,
        volumes,
        ..facts
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A string at a path of a JSON value.
pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_str)
}

/// A list of strings at a path.
pub(crate) fn strings_at(v: &Value, path: &[&str]) -> Vec<String> {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A string map at a path.
pub(crate) fn map_at(v: &Value, path: &[&str]) -> BTreeMap<String, String> {
    path.iter()
        .try_fold(v, |v, k| v.get(*k))
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string()),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}
