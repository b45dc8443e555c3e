//! The machine configuration of one control-plane node: generated from the secrets and the
//! desired cluster, then the cluster-wide and control-plane patches in that order.

use crate::talos::config::{self, ClusterInput, MachineConfig, MachineRole, NodeInput};
use crate::talos::patch::{self, Patch};
use crate::talos::secrets::SecretsBundle;

use super::spec::ClusterSpec;

/// The interface Hetzner servers reach the private network on.
pub const PRIVATE_INTERFACE: &str = "eth1";

/// Why a configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    /// Generation refused the inputs.
    #[error("machine configuration for {node}: {source}")]
    Generate {
        /// Node name.
        node: String,
        /// Why.
        #[source]
        source: config::Error,
    },
    /// A patch does not parse or apply; `attribute` says which list it came from (the error
    /// names the patch's index in it).
    #[error("{attribute} on {node}: {source}")]
    Patch {
        /// `config_patches` or `control_plane.config_patches`.
        attribute: &'static str,
        /// Node name.
        node: String,
        /// Why.
        #[source]
        source: patch::Error,
    },
}

/// What the whole cluster shares in every node's configuration.
pub fn cluster_input(spec: &ClusterSpec, endpoint_ip: &str) -> ClusterInput {
    ClusterInput {
        name: spec.name.clone(),
        endpoint: format!("https://{endpoint_ip}:6443"),
        talos_version: spec.talos_version.clone(),
        kubernetes_version: spec.kubernetes_version.clone(),
        node_subnet: spec.node_subnet(),
        pod_cidr: spec.network.pod_cidr.into(),
        service_cidr: spec.network.service_cidr.into(),
        // apid and the API server are reached through the load balancer: its address must be in
        // the nodes' certificates.
        cert_sans: vec![endpoint_ip.to_owned()],
        cni: spec.cni,
        allow_workloads_on_control_plane: spec.control_plane.allow_workloads,
        private_interface: PRIVATE_INTERFACE.to_owned(),
        disk_encryption: spec.disk_encryption,
    }
}

/// The full configuration of the control-plane node `hostname`.
///
/// # Errors
/// [`MachineError`] naming the node and, for patches, the attribute and index.
pub fn control_plane_config(
    spec: &ClusterSpec,
    secrets: &SecretsBundle,
    endpoint_ip: &str,
    hostname: &str,
) -> Result<MachineConfig, MachineError> {
    let node = NodeInput {
        role: MachineRole::ControlPlane,
        hostname: hostname.to_owned(),
        labels: spec.control_plane.labels.clone(),
        taints: spec.control_plane.taints.clone(),
        cert_sans: Vec::new(),
    };
    let mut machine =
        config::generate(secrets, &cluster_input(spec, endpoint_ip), &node).map_err(|source| {
            MachineError::Generate {
                node: hostname.to_owned(),
                source,
            }
        })?;
    let lists: [(&'static str, &[String]); 2] = [
        ("config_patches", &spec.config_patches),
        (
            "control_plane.config_patches",
            &spec.control_plane.config_patches,
        ),
    ];
    for (attribute, texts) in lists {
        let patches = texts
            .iter()
            .enumerate()
            .map(|(index, text)| {
                Patch::parse(index, text).map_err(|source| MachineError::Patch {
                    attribute,
                    node: hostname.to_owned(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        patch::apply(&mut machine, &patches).map_err(|source| MachineError::Patch {
            attribute,
            node: hostname.to_owned(),
            source,
        })?;
    }
    Ok(machine)
}

/// The hash hk8s compares machine configurations by: SHA-256 (hex) of the bytes. Talos keeps the
/// configuration bytes exactly as submitted (user data or an apply), so a node running what the
/// provider generated has this hash of the generated YAML.
pub fn config_hash(config: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, config)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The hash of the configuration the provider generates for each of the control-plane nodes
/// `names`, by name.
///
/// # Errors
/// [`MachineError`] when a configuration cannot be made.
pub fn config_hashes(
    spec: &ClusterSpec,
    secrets: &SecretsBundle,
    endpoint_ip: &str,
    names: &[&str],
) -> Result<std::collections::BTreeMap<String, String>, MachineError> {
    names
        .iter()
        .map(|name| {
            let yaml = control_plane_config(spec, secrets, endpoint_ip, name)?
                .to_yaml()
                .map_err(|source| MachineError::Generate {
                    node: (*name).to_owned(),
                    source,
                })?;
            Ok(((*name).to_owned(), config_hash(yaml.as_bytes())))
        })
        .collect()
}
