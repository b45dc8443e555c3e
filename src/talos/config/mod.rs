//! Machine configuration for Hetzner Cloud nodes, per Talos version contract.
//!
//! [`generate`] produces what `talosctl gen config` would for the node's role and Talos minor,
//! plus the Hetzner settings every hk8s node needs:
//!
//! | setting | ≤ 1.13 (v1alpha1) | 1.14 (typed documents) |
//! |---|---|---|
//! | API endpoint = load balancer | `cluster.controlPlane.endpoint` | `KubeClusterConfig.endpoint` |
//! | external cloud provider (hcloud CCM) | `cluster.externalCloudProvider` | same (still v1alpha1) |
//! | node IP from the private subnet | `machine.kubelet.nodeIP.validSubnets` | `KubeNodeConfig.nodeIP` |
//! | etcd on the private subnet (control planes) | `cluster.etcd.advertisedSubnets` | same |
//! | private interface by DHCP | `LinkConfig` + `DHCPv4Config` | same |
//! | pod/service CIDRs | `cluster.network` | `KubeNetworkConfig` |
//! | Talos/Kubernetes API SANs | `machine.certSANs`, `cluster.apiServer.certSANs` | `machine.certSANs`, `KubeAPIServerConfig.certExtraSANs` |
//! | kubelet serving certificates | `machine.kubelet.extraArgs` | `KubeletConfig.extraArgs` |
//! | hostname | `HostnameConfig.hostname` | same |
//! | labels, taints | `machine.nodeLabels`, `machine.nodeTaints` | `KubeNodeConfig` |
//! | CNI none / Cilium | `cluster.network.cni.name: none` (+ `cluster.proxy.disabled`) | no `KubeFlannelCNIConfig` (+ `KubeProxyConfig.enabled: false`) |
//! | KubePrism (port 7445) | `machine.features.kubePrism` | `KubePrismConfig` |
//! | STATE/EPHEMERAL LUKS2, node-ID keys | `VolumeConfig` `STATE` and `EPHEMERAL` with `encryption` | same (merged into the generator's `EPHEMERAL` document) |
//!
//! Workers never receive CA private keys, etcd settings or the secrets-encryption key.
//! Unlike `talosctl gen config`'s command-line defaults, no install disk or installer image is
//! set: Hetzner nodes boot an already-installed disk image, and upgrades name their image
//! explicitly. Talos's deprecated `persist` flag is not written (Talos ignores it and its
//! schema refuses it).
//! Which document shape each contract uses is decided by [`VersionContract`] methods in
//! `assemble`.

mod assemble;
mod defaults;
mod documents;
mod input;
mod kube_documents;
mod v1alpha1;

#[cfg(test)]
mod tests;

pub use input::{ClusterInput, Cni, MachineRole, NodeInput, Taint, TaintEffect};

use super::secrets::SecretsBundle;
use super::version::{self, VersionContract};
use super::yaml::{self, Node};

/// Errors from generating a machine configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Talos or Kubernetes version is not accepted.
    #[error(transparent)]
    Version(Box<version::Error>),
    /// An input field is invalid; `field` names it as in [`ClusterInput`] / [`NodeInput`].
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Field name, e.g. `endpoint` or `node.hostname`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The configuration does not fit Hetzner's user data.
    #[error(transparent)]
    UserData(#[from] super::userdata::Error),
    /// A document could not be rendered (a bug, not a user error).
    #[error("internal error rendering {what}: {source}")]
    Internal {
        /// Which document.
        what: &'static str,
        /// The YAML error.
        #[source]
        source: yaml::Error,
    },
}

impl From<version::Error> for Error {
    fn from(error: version::Error) -> Self {
        Error::Version(Box::new(error))
    }
}

fn yaml_node<T: serde::Serialize>(what: &'static str, value: &T) -> Result<Node, Error> {
    yaml::to_node(value).map_err(|source| Error::Internal { what, source })
}

/// A generated machine configuration: an ordered list of YAML documents, the v1alpha1
/// document first.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineConfig {
    contract: VersionContract,
    documents: Vec<Node>,
}

impl MachineConfig {
    /// The version contract the documents follow.
    pub fn contract(&self) -> VersionContract {
        self.contract
    }

    /// The documents, v1alpha1 first.
    pub fn documents(&self) -> &[Node] {
        &self.documents
    }

    /// A configuration made of arbitrary documents, for tests of the patch engine.
    #[cfg(test)]
    pub(crate) fn from_documents(contract: VersionContract, documents: Vec<Node>) -> Self {
        Self {
            contract,
            documents,
        }
    }

    /// Mutable access for patching (see [`crate::talos::patch`]).
    pub(crate) fn documents_mut(&mut self) -> &mut Vec<Node> {
        &mut self.documents
    }

    /// Renders the `---`-separated multi-document YAML Talos accepts. Equal inputs render to
    /// equal bytes.
    ///
    /// # Errors
    /// [`Error::Internal`] if rendering fails (not expected).
    pub fn to_yaml(&self) -> Result<String, Error> {
        yaml::to_multi_document_string(&self.documents).map_err(|source| Error::Internal {
            what: "machine configuration",
            source,
        })
    }
}

impl MachineConfig {
    /// The configuration as Hetzner user data, `base64(gzip(yaml))`, checked against the
    /// 32 KiB limit.
    ///
    /// # Errors
    /// [`Error::UserData`] when too large (saying by how much and what to move out).
    pub fn to_user_data(&self) -> Result<String, Error> {
        Ok(super::userdata::encode(&self.to_yaml()?, &self.documents)?)
    }
}

/// Generates the machine configuration of one node.
///
/// Guarantees: the Talos version's contract accepts the Kubernetes version (else
/// [`Error::Version`] saying which versions it accepts); the documents are those Talos's
/// generator writes for the contract, with the Hetzner settings in the module table; workers get
/// no CA keys, etcd settings or encryption secret; output is deterministic for equal inputs.
///
/// # Errors
/// [`Error::Version`] or [`Error::InvalidInput`] naming the field.
pub fn generate(
    secrets: &SecretsBundle,
    cluster: &ClusterInput,
    node: &NodeInput,
) -> Result<MachineConfig, Error> {
    let contract = cluster.talos_version.contract()?;
    contract.check_kubernetes(&cluster.talos_version, &cluster.kubernetes_version)?;
    cluster.validate()?;
    node.validate()?;

    let mut cert_sans = cluster.cert_sans.clone();
    for san in &node.cert_sans {
        if !cert_sans.contains(san) {
            cert_sans.push(san.clone());
        }
    }
    let plan = assemble::Plan {
        contract,
        role: node.role,
        secrets,
        cluster_name: &cluster.name,
        endpoint: &cluster.endpoint,
        kubernetes_version: cluster.kubernetes_version.to_string(),
        dns_domain: "cluster.local",
        pod_subnets: vec![cluster.pod_cidr.to_string()],
        service_subnets: vec![cluster.service_cidr.to_string()],
        machine_cert_sans: cert_sans.clone(),
        api_server_cert_sans: cert_sans,
        cni: cluster.cni,
        allow_scheduling_on_control_planes: cluster.allow_workloads_on_control_plane,
        hostname: node.hostname.as_deref(),
        node_subnet: Some(cluster.node_subnet.to_string()),
        private_interface: Some(&cluster.private_interface),
        external_cloud_provider: true,
        kubelet_extra_args: [("rotate-server-certificates".to_owned(), "true".to_owned())]
            .into_iter()
            .collect(),
        node_labels: node
            .labels
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect(),
        node_taints: node
            .taints
            .iter()
            .map(|taint| (taint.key.clone(), taint.talos_value()))
            .collect(),
        disk_encryption: cluster.disk_encryption,
    };
    Ok(MachineConfig {
        contract,
        documents: assemble::assemble(&plan)?,
    })
}
