//! The `cluster` attribute of every resource built on a cluster (`cluster =
//! hk8s_cluster.<name>.connection`), and what changing it means.

use std::collections::BTreeMap;

use ipnet::IpNet;

use crate::hcloud::catalog::Architecture;
use crate::resources::connection::{IDENTITY_FIELD, connection_type};
use crate::resources::fleet::image::ImageSpec;
use crate::resources::fleet::machine::PRIVATE_INTERFACE;
use crate::talos::config::{ClusterInput, Cni};
use crate::talos::secrets::SecretsBundle;
use crate::talos::version::{KubernetesVersion, TalosVersion};
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::tfplugin::schema::{Attribute, AttributePlan, requires_replace_if};
use crate::tfplugin::value::Value;

/// True when the planned connection belongs to another cluster than the prior one, or cannot be
/// known to be the same (the cluster itself is being replaced).
fn moves_to_another_cluster(plan: &AttributePlan<'_>) -> bool {
    let Some(prior) = plan.prior.filter(|p| !p.is_null()) else {
        return false;
    };
    let prior_id = prior.get(IDENTITY_FIELD);
    match &plan.planned {
        Value::Unknown => true,
        planned => match planned.get(IDENTITY_FIELD) {
            Some(Value::Unknown) | None => true,
            id => id != prior_id,
        },
    }
}

/// The required, sensitive `cluster` attribute; replaced when it names another cluster.
pub fn cluster_attribute(what: &str) -> Attribute {
    Attribute::typed("cluster", connection_type())
        .required()
        .sensitive()
        .description(format!(
            "The cluster {what} belongs to: `hk8s_cluster.<name>.connection`. Pointing it at another \
             cluster (or replacing the cluster) replaces {what}; version changes in it roll nodes."
        ))
        .plan(requires_replace_if(
            "moving to another cluster (or replacing the cluster) forces replacement",
            moves_to_another_cluster,
        ))
}

/// The cluster as a dependent sees it through `cluster = hk8s_cluster.<name>.connection`: what
/// it needs to build, reach and configure nodes.
#[derive(Clone)]
pub struct ClusterRef {
    /// Cluster name.
    pub name: String,
    /// The cluster's default location.
    pub location: String,
    /// Network zone of the cluster network.
    pub network_zone: String,
    /// Public IPv4 of the API load balancer (Kubernetes and Talos APIs).
    pub endpoint_ip: String,
    /// The cluster network.
    pub network_id: i64,
    /// The cluster firewall.
    pub firewall_id: i64,
    /// Talos release the nodes run.
    pub talos_version: TalosVersion,
    /// Kubernetes release.
    pub kubernetes_version: KubernetesVersion,
    /// Node subnet, pod and service ranges.
    pub node_subnet: IpNet,
    /// Pod range.
    pub pod_cidr: IpNet,
    /// Service range.
    pub service_cidr: IpNet,
    /// CNI.
    pub cni: Cni,
    /// Cluster-wide patches (before the dependent's own).
    pub config_patches: Vec<String>,
    /// Where new servers boot from.
    pub image: ImageSpec,
    /// Whether nodes encrypt STATE and EPHEMERAL.
    pub disk_encryption: bool,
    /// The Talos secrets bundle.
    pub secrets: SecretsBundle,
}

impl std::fmt::Debug for ClusterRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterRef")
            .field("name", &self.name)
            .field("endpoint_ip", &self.endpoint_ip)
            .field("network_id", &self.network_id)
            .field("talos_version", &self.talos_version)
            .finish_non_exhaustive()
    }
}

fn bad(field: &str, what: impl std::fmt::Display) -> Diagnostics {
    Diagnostic::error(
        "The cluster connection is incomplete",
        format!(
            "cluster.{field}: {what}. Set `cluster = hk8s_cluster.<name>.connection` and apply \
             the cluster first."
        ),
    )
    .at(AttributePath::root("cluster").attr(field))
    .into()
}

impl ClusterRef {
    /// Reads a known connection value.
    ///
    /// # Errors
    /// A field missing or malformed, named.
    pub fn from_connection(connection: &Value) -> Result<Self, Diagnostics> {
        let text = |field: &str| {
            connection
                .get(field)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| bad(field, "not known"))
        };
        let number = |field: &str| {
            connection
                .get(field)
                .and_then(Value::as_number)
                .and_then(|n| n.to_i64())
                .ok_or_else(|| bad(field, "not known"))
        };
        let net = |field: &str| -> Result<IpNet, Diagnostics> {
            text(field)?.parse().map_err(|e| bad(field, e))
        };
        let endpoint = text("endpoint")?;
        let endpoint_ip = endpoint
            .strip_prefix("https://")
            .and_then(|rest| rest.rsplit_once(':'))
            .map(|(host, _)| host.to_owned())
            .ok_or_else(|| bad("endpoint", "not https://<address>:<port>"))?;
        let cni = match text("cni")?.as_str() {
            "flannel" => Cni::Flannel,
            "cilium" => Cni::Cilium,
            "none" => Cni::None,
            other => return Err(bad("cni", format!("unknown CNI {other:?}"))),
        };
        let strings = |field: &str| match connection.get(field) {
            Some(Value::List(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        let snapshot_ids: BTreeMap<Architecture, i64> = match connection.get("image_snapshot_ids") {
            Some(Value::Map(entries)) => entries
                .iter()
                .filter_map(|(arch, id)| {
                    let arch = match arch.as_str() {
                        "amd64" => Architecture::X86,
                        "arm64" => Architecture::Arm,
                        _ => return None,
                    };
                    id.as_number().and_then(|n| n.to_i64()).map(|id| (arch, id))
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        let secrets = SecretsBundle::from_yaml(&text("secrets")?)
            .map_err(|e| bad("secrets", format!("not a Talos secrets bundle ({e})")))?;
        Ok(ClusterRef {
            name: text("name")?,
            location: text("location")?,
            network_zone: text("network_zone")?,
            endpoint_ip,
            network_id: number("network_id")?,
            firewall_id: number("firewall_id")?,
            talos_version: text("talos_version")?
                .parse()
                .map_err(|e| bad("talos_version", e))?,
            kubernetes_version: text("kubernetes_version")?
                .parse()
                .map_err(|e| bad("kubernetes_version", e))?,
            node_subnet: net("node_subnet")?,
            pod_cidr: net("pod_cidr")?,
            service_cidr: net("service_cidr")?,
            cni,
            config_patches: strings("config_patches"),
            image: ImageSpec {
                snapshot_ids,
                selector: connection
                    .get("image_selector")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                architectures: Vec::new(),
                schematic: connection
                    .get("image_schematic")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                schematic_id: String::new(),
            },
            // Connections written before the field existed: the cluster's default.
            disk_encryption: connection
                .get("disk_encryption")
                .and_then(Value::as_bool)
                .unwrap_or(true),
            secrets,
        })
    }

    /// The cluster-wide input of every node's machine configuration.
    pub fn cluster_input(&self) -> ClusterInput {
        ClusterInput {
            name: self.name.clone(),
            endpoint: format!("https://{}:6443", self.endpoint_ip),
            talos_version: self.talos_version.clone(),
            kubernetes_version: self.kubernetes_version.clone(),
            node_subnet: self.node_subnet,
            pod_cidr: self.pod_cidr,
            service_cidr: self.service_cidr,
            cert_sans: vec![self.endpoint_ip.clone()],
            cni: self.cni,
            allow_workloads_on_control_plane: false,
            private_interface: PRIVATE_INTERFACE.to_owned(),
            disk_encryption: self.disk_encryption,
        }
    }
}
