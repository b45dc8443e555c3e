//! Machine configurations of every node: generated from the secrets, the cluster-wide input and
//! the node's own, then the patch lists in order (cluster-wide, then the role's or pool's), so
//! that control planes and pool nodes are built the same way; and the hash configurations are
//! compared by.

use crate::kube::labels as kube_labels;
use crate::talos::config::{self, ClusterInput, MachineConfig, NodeInput, Taint, TaintEffect};
use crate::talos::patch::{self, Patch};
use crate::talos::secrets::SecretsBundle;

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

/// The configuration of one node: generated, then each patch list applied in order.
/// `patch_lists` pairs the attribute a list comes from (for errors) with its patches.
///
/// # Errors
/// [`MachineError`] naming the node and, for patches, the attribute and index.
pub fn generate(
    secrets: &SecretsBundle,
    cluster: &ClusterInput,
    node: &NodeInput,
    patch_lists: &[(&'static str, &[String])],
) -> Result<MachineConfig, MachineError> {
    let hostname = node.hostname.as_deref().unwrap_or("(named by Hetzner)");
    let mut machine =
        config::generate(secrets, cluster, node).map_err(|source| MachineError::Generate {
            node: hostname.to_owned(),
            source,
        })?;
    for (attribute, texts) in patch_lists {
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

/// A taint as the schema writes it (`key=value:Effect` or `key:Effect`), for the configuration.
///
/// # Errors
/// Text that is not a taint.
pub fn taint(text: &str) -> Result<Taint, kube_labels::Error> {
    let taint: kube_labels::Taint = text.parse()?;
    Ok(Taint {
        key: taint.key,
        value: (!taint.value.is_empty()).then_some(taint.value),
        effect: match taint.effect {
            kube_labels::TaintEffect::NoSchedule => TaintEffect::NoSchedule,
            kube_labels::TaintEffect::PreferNoSchedule => TaintEffect::PreferNoSchedule,
            kube_labels::TaintEffect::NoExecute => TaintEffect::NoExecute,
        },
    })
}
