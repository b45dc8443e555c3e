//! The machine configuration of one control-plane node: generated from the secrets and the
//! desired cluster, then the cluster-wide and control-plane patches in that order.

use crate::resources::fleet::machine::generate;
pub use crate::resources::fleet::machine::{MachineError, config_hash};
use crate::talos::config::{ClusterInput, MachineConfig, MachineRole, NodeInput};
use crate::talos::secrets::SecretsBundle;

use super::spec::ClusterSpec;

pub use crate::resources::fleet::machine::PRIVATE_INTERFACE;
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
        hostname: Some(hostname.to_owned()),
        labels: spec.control_plane.labels.clone(),
        taints: spec.control_plane.taints.clone(),
        cert_sans: Vec::new(),
    };
    let lists: [(&'static str, &[String]); 2] = [
        ("config_patches", &spec.config_patches),
        (
            "control_plane.config_patches",
            &spec.control_plane.config_patches,
        ),
    ];
    generate(secrets, &cluster_input(spec, endpoint_ip), &node, &lists)
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
