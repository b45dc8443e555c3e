//! The machine configuration of one pool node: a worker configuration for the cluster's Talos
//! version (no CA keys, no etcd), with the pool's labels and taints, then the cluster-wide and
//! the pool's patches in that order.

use std::collections::BTreeMap;

use crate::resources::fleet::machine::{MachineError, config_hash, generate};
use crate::talos::config::{MachineConfig, MachineRole, NodeInput};

use super::spec::PoolSpec;

/// The full configuration of pool node `hostname`.
///
/// # Errors
/// [`MachineError`] naming the node and, for patches, the attribute and index.
pub fn worker_config(spec: &PoolSpec, hostname: &str) -> Result<MachineConfig, MachineError> {
    let node = NodeInput {
        role: MachineRole::Worker,
        // The autoscaler names its servers and boots them all from one configuration: Talos
        // takes the hostname from Hetzner's metadata (the server name).
        hostname: (!spec.size.is_autoscaled()).then(|| hostname.to_owned()),
        labels: spec.labels.clone(),
        taints: spec.taints.clone(),
        cert_sans: Vec::new(),
    };
    let lists: [(&'static str, &[String]); 2] = [
        ("cluster.config_patches", &spec.cluster.config_patches),
        ("config_patches", &spec.config_patches),
    ];
    generate(
        &spec.cluster.secrets,
        &spec.cluster.cluster_input(),
        &node,
        &lists,
    )
}

/// The configuration of `hostname` as the bytes Talos keeps.
///
/// # Errors
/// [`MachineError`] when it cannot be made.
pub fn worker_yaml(spec: &PoolSpec, hostname: &str) -> Result<String, MachineError> {
    worker_config(spec, hostname)?
        .to_yaml()
        .map_err(|source| MachineError::Generate {
            node: hostname.to_owned(),
            source,
        })
}

/// The hash of the configuration generated for each of `names`, by name.
///
/// # Errors
/// [`MachineError`] when a configuration cannot be made.
pub fn config_hashes(
    spec: &PoolSpec,
    names: &[&str],
) -> Result<BTreeMap<String, String>, MachineError> {
    names
        .iter()
        .map(|name| {
            let yaml = worker_yaml(spec, name)?;
            Ok(((*name).to_owned(), config_hash(yaml.as_bytes())))
        })
        .collect()
}
