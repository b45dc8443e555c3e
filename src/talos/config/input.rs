//! What the caller decides about a cluster and a node, and the checks Talos would otherwise
//! only report on the node.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::Error;
use crate::talos::version::{KubernetesVersion, TalosVersion};

/// Cluster-wide settings shared by every node's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterInput {
    /// Cluster name (a DNS label).
    pub name: String,
    /// Kubernetes API endpoint, `https://<load balancer>:6443`.
    pub endpoint: String,
    /// Talos version the nodes run; its minor picks the version contract.
    pub talos_version: TalosVersion,
    /// Kubernetes version; must be accepted by the Talos version.
    pub kubernetes_version: KubernetesVersion,
    /// The Hetzner subnet nodes get private IPs from (kubelet node IP, etcd).
    pub node_subnet: IpNet,
    /// Pod CIDR.
    pub pod_cidr: IpNet,
    /// Service CIDR.
    pub service_cidr: IpNet,
    /// SANs for the Talos and Kubernetes API certificates (load balancer addresses, names).
    pub cert_sans: Vec<String>,
    /// CNI choice.
    pub cni: Cni,
    /// Whether control planes also run workloads (no `NoSchedule` taint).
    pub allow_workloads_on_control_plane: bool,
    /// Interface attached to the Hetzner private network: `eth1`, since Talos boots Hetzner
    /// servers with `net.ifnames=0`.
    pub private_interface: String,
    /// Whether STATE and EPHEMERAL are LUKS2-encrypted with node-ID keys. Only takes effect when
    /// a partition is formatted (first boot or after a wipe): Talos cannot change the encryption
    /// of an existing partition.
    pub disk_encryption: bool,
}

/// Which CNI the cluster runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cni {
    /// Talos's built-in flannel (the default).
    Flannel,
    /// No CNI from Talos and no kube-proxy: Cilium (installed later) replaces both.
    Cilium,
    /// No CNI from Talos; kube-proxy stays.
    None,
}

/// A node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineRole {
    /// Runs etcd and the Kubernetes control plane.
    ControlPlane,
    /// Runs workloads only.
    Worker,
}

impl MachineRole {
    /// Talos's name for the role (`machine.type`).
    pub fn talos_type(self) -> &'static str {
        match self {
            MachineRole::ControlPlane => "controlplane",
            MachineRole::Worker => "worker",
        }
    }
}

/// Per-node settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInput {
    /// Control plane or worker.
    pub role: MachineRole,
    /// Hostname (the Hetzner server name), a DNS label; `None` leaves it to the platform (Talos
    /// takes the name Hetzner's metadata gives the server), for servers named by someone else
    /// (the cluster-autoscaler) from one configuration.
    pub hostname: Option<String>,
    /// Kubernetes node labels.
    pub labels: BTreeMap<String, String>,
    /// Kubernetes node taints.
    pub taints: Vec<Taint>,
    /// Extra certificate SANs for this node (its private IP).
    pub cert_sans: Vec<String>,
}

/// A Kubernetes taint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taint {
    /// Taint key.
    pub key: String,
    /// Optional value.
    pub value: Option<String>,
    /// Effect.
    pub effect: TaintEffect,
}

/// A taint effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaintEffect {
    /// `NoSchedule`.
    NoSchedule,
    /// `PreferNoSchedule`.
    PreferNoSchedule,
    /// `NoExecute`.
    NoExecute,
}

impl TaintEffect {
    /// The name Kubernetes uses.
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

impl Taint {
    /// Talos's taint value syntax: `value:Effect`, or `Effect` without a value.
    pub fn talos_value(&self) -> String {
        let effect = self.effect.as_str();
        match &self.value {
            Some(value) => format!("{value}:{effect}"),
            None => effect.to_owned(),
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidInput {
        field,
        reason: reason.into(),
    }
}

/// RFC 1123 label: 1–63 of `[a-z0-9-]`, not starting or ending with `-`.
fn check_dns_label(field: &'static str, value: &str) -> Result<(), Error> {
    let valid = !value.is_empty()
        && value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !value.starts_with('-')
        && !value.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!(
                "{value:?} must be 1-63 lower-case letters, digits or '-', not starting or ending with '-'"
            ),
        ))
    }
}

impl ClusterInput {
    /// Checks the fields Talos would reject on the node.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field.
    pub fn validate(&self) -> Result<(), Error> {
        check_dns_label("name", &self.name)?;
        let host = self.endpoint.strip_prefix("https://").ok_or_else(|| {
            invalid(
                "endpoint",
                format!("{:?} must start with https://", self.endpoint),
            )
        })?;
        if host.is_empty() || host.contains('/') {
            return Err(invalid(
                "endpoint",
                format!("{:?} must be https://host[:port]", self.endpoint),
            ));
        }
        if !self.node_subnet.addr().is_ipv4() {
            return Err(invalid("node_subnet", "Hetzner private networks are IPv4"));
        }
        if self.pod_cidr.contains(&self.service_cidr.network())
            || self.service_cidr.contains(&self.pod_cidr.network())
        {
            return Err(invalid(
                "service_cidr",
                format!("{} overlaps pod_cidr {}", self.service_cidr, self.pod_cidr),
            ));
        }
        if self.private_interface.is_empty() {
            return Err(invalid("private_interface", "must not be empty"));
        }
        Ok(())
    }
}

impl NodeInput {
    /// Checks hostname, labels and taints.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] naming the field.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(hostname) = &self.hostname {
            check_dns_label("node.hostname", hostname)?;
        }
        for key in self.labels.keys() {
            if key.is_empty() || key.len() > 317 || key.contains(char::is_whitespace) {
                return Err(invalid("node.labels", format!("invalid label key {key:?}")));
            }
        }
        for taint in &self.taints {
            if taint.key.is_empty() || taint.key.contains(char::is_whitespace) {
                return Err(invalid(
                    "node.taints",
                    format!("invalid taint key {:?}", taint.key),
                ));
            }
        }
        Ok(())
    }
}
