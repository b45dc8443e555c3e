//! The desired cluster as typed values, read from a planned (wholly known) value at apply time.
//!
//! Validation already ran at plan time, so a failure here means the plan carried something the
//! validators let through; the error still names the attribute.

use std::collections::BTreeMap;
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};

use super::model::{self, attr, control_plane};
use crate::hcloud::catalog::{self, Architecture, NetworkZone};
use crate::hcloud::cidr::Role as RangeRole;
use crate::resources::config_view as view;
use crate::talos::config::{Cni, Taint};
use crate::talos::version::{KubernetesVersion, TalosVersion};
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::tfplugin::value::Value;

/// Default `timeouts`.
pub const DEFAULT_TIMEOUTS: Timeouts = Timeouts {
    create: Duration::from_secs(30 * 60),
    update: Duration::from_secs(60 * 60),
    delete: Duration::from_secs(20 * 60),
};

/// The control plane as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct ControlPlaneSpec {
    /// Hetzner server type.
    pub server_type: String,
    /// Its architecture (decides the snapshot).
    pub architecture: Architecture,
    /// 1, 3 or 5.
    pub count: u32,
    /// Locations, nodes spread round robin over them.
    pub locations: Vec<String>,
    /// Kubernetes node labels.
    pub labels: BTreeMap<String, String>,
    /// Extra taints.
    pub taints: Vec<Taint>,
    /// Control-plane patches (after the cluster-wide ones).
    pub config_patches: Vec<String>,
    /// Whether workloads may run on control planes.
    pub allow_workloads: bool,
}

/// Address plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetworkSpec {
    /// Whole private network.
    pub cidr: Ipv4Net,
    /// Subnet the nodes live in.
    pub node_subnet: Ipv4Net,
    /// Pod range.
    pub pod_cidr: Ipv4Net,
    /// Service range.
    pub service_cidr: Ipv4Net,
    /// A network the cluster uses instead of creating one.
    pub existing_network_id: Option<i64>,
}

pub use crate::resources::fleet::image::ImageSpec;

pub use crate::resources::timeouts::Timeouts;

/// The hcloud cloud controller as configured (`cloud_controller`).
#[derive(Debug, Clone, PartialEq)]
pub struct CloudControllerSpec {
    /// Whether the provider installs it.
    pub enabled: bool,
    /// Chart version.
    pub version: String,
    /// The user's values (merged over the derived ones at apply time).
    pub values: serde_json::Value,
    /// Its own token, when not the provider's.
    pub token: Option<crate::provider::HcloudToken>,
}

/// Cilium's tuning (`cilium`).
#[derive(Debug, Clone, PartialEq)]
pub struct CiliumSpec {
    /// Chart version.
    pub version: String,
    /// The user's values.
    pub values: serde_json::Value,
}

fn values_at(planned: &Value, path: &AttributePath) -> Result<serde_json::Value, Diagnostics> {
    let text = view::string(planned, path).unwrap_or_default();
    crate::resources::helm_values::parse(text).map_err(|e| missing(path, &e.to_string()))
}

fn components(planned: &Value) -> Result<(CloudControllerSpec, CiliumSpec), Diagnostics> {
    use crate::kube::components::{ccm, cilium};
    let cc = attr("cloud_controller");
    let cloud_controller = CloudControllerSpec {
        enabled: view::boolean(planned, &cc.attr("enabled")).unwrap_or(true),
        version: view::string(planned, &cc.attr("version"))
            .unwrap_or(ccm::DEFAULT_VERSION)
            .to_owned(),
        values: values_at(planned, &cc.attr("values"))?,
        token: view::string(planned, &cc.attr("hcloud_token"))
            .filter(|t| !t.is_empty())
            .map(crate::provider::HcloudToken::new),
    };
    let cilium_attr = attr("cilium");
    let cilium = CiliumSpec {
        version: view::string(planned, &cilium_attr.attr("version"))
            .unwrap_or(cilium::DEFAULT_VERSION)
            .to_owned(),
        values: values_at(planned, &cilium_attr.attr("values"))?,
    };
    Ok((cloud_controller, cilium))
}

/// The whole desired cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterSpec {
    /// Cluster name (also the id).
    pub name: String,
    /// Default location.
    pub location: String,
    /// Network zone of `location`.
    pub network_zone: NetworkZone,
    /// Talos release.
    pub talos_version: TalosVersion,
    /// Kubernetes release.
    pub kubernetes_version: KubernetesVersion,
    /// The control plane.
    pub control_plane: ControlPlaneSpec,
    /// Address plan.
    pub network: NetworkSpec,
    /// API load balancer type.
    pub load_balancer_type: String,
    /// API load balancer location.
    pub load_balancer_location: String,
    /// Sources allowed to reach the Talos API directly on the nodes.
    pub talos_api_sources: Vec<String>,
    /// Sources allowed to reach the Kubernetes API directly on the control planes.
    pub kube_api_sources: Vec<String>,
    /// CNI.
    pub cni: Cni,
    /// The hcloud cloud controller.
    pub cloud_controller: CloudControllerSpec,
    /// Cilium's tuning (used when `cni` is Cilium).
    pub cilium: CiliumSpec,
    /// Cluster-wide patches.
    pub config_patches: Vec<String>,
    /// A secrets bundle to adopt (`None`: keep the state's or generate).
    pub secrets: Option<String>,
    /// Image choice.
    pub image: ImageSpec,
    /// Protection of the Hetzner objects.
    pub delete_protection: bool,
    /// STATE and EPHEMERAL LUKS2-encrypted with node-ID keys.
    pub disk_encryption: bool,
    /// Budgets.
    pub timeouts: Timeouts,
}

fn missing(path: &AttributePath, what: &str) -> Diagnostics {
    Diagnostic::error(
        "Unexpected value in the plan",
        format!("{path}: {what}. This is a bug in the provider: the plan should have refused it."),
    )
    .at(path.clone())
    .into()
}

fn required_string(value: &Value, path: &AttributePath) -> Result<String, Diagnostics> {
    view::string(value, path)
        .map(str::to_owned)
        .ok_or_else(|| missing(path, "a known string is required"))
}

fn string_list(value: &Value, path: &AttributePath) -> Vec<String> {
    view::strings(value, path)
        .into_iter()
        .map(|(_, s)| s.to_owned())
        .collect()
}

fn string_map(value: &Value, path: &AttributePath) -> BTreeMap<String, String> {
    match view::known(value, path) {
        Some(Value::Map(entries)) => entries
            .iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
            .collect(),
        _ => BTreeMap::new(),
    }
}

fn parse_taint(path: &AttributePath, text: &str) -> Result<Taint, Diagnostics> {
    crate::resources::fleet::machine::taint(text).map_err(|e| missing(path, &e.to_string()))
}

fn range(value: &Value, role: RangeRole) -> Result<Ipv4Net, Diagnostics> {
    let plan = model::address_plan(value);
    let found = match role {
        RangeRole::Network => plan.network,
        RangeRole::NodeSubnet => plan.node_subnet,
        RangeRole::Pods => plan.pods,
        RangeRole::Services => plan.services,
    };
    found.ok_or_else(|| {
        missing(
            &model::network(model::network_field(role)),
            "a known CIDR is required",
        )
    })
}

impl ClusterSpec {
    /// Reads the desired cluster out of a planned value.
    ///
    /// # Errors
    /// A diagnostic naming the attribute when a value the plan should have settled is missing.
    pub fn from_planned(planned: &Value) -> Result<Self, Diagnostics> {
        let name = required_string(planned, &attr("name"))?;
        let location = required_string(planned, &attr("location"))?;
        let network_zone = catalog::location(&location)
            .map_err(|e| missing(&attr("location"), &e.to_string()))?
            .network_zone;
        let talos_version = required_string(planned, &attr("talos_version"))?
            .parse()
            .map_err(|e: crate::talos::version::Error| {
                missing(&attr("talos_version"), &e.to_string())
            })?;
        let kubernetes_version = required_string(planned, &attr("kubernetes_version"))?
            .parse()
            .map_err(|e: crate::talos::version::Error| {
                missing(&attr("kubernetes_version"), &e.to_string())
            })?;
        let server_type = required_string(planned, &control_plane("server_type"))?;
        let architecture = catalog::server_type(&server_type)
            .map_err(|e| missing(&control_plane("server_type"), &e.to_string()))?
            .architecture;
        let count = view::integer(planned, &control_plane("count"))
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| missing(&control_plane("count"), "a whole number is required"))?;
        let mut locations = string_list(planned, &control_plane("locations"));
        if locations.is_empty() {
            locations.push(location.clone());
        }
        let taints = view::strings(planned, &control_plane("taints"))
            .into_iter()
            .map(|(i, text)| parse_taint(&control_plane("taints").index(i), text))
            .collect::<Result<Vec<_>, _>>()?;
        let lb = attr("api_load_balancer");
        let image_ids = match view::known(planned, &attr("image").attr("snapshot_ids")) {
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
        let cni = match view::string(planned, &attr("cni")).unwrap_or("flannel") {
            "cilium" => Cni::Cilium,
            "none" => Cni::None,
            _ => Cni::Flannel,
        };
        let (cloud_controller, cilium) = components(planned)?;
        Ok(ClusterSpec {
            cloud_controller,
            cilium,
            control_plane: ControlPlaneSpec {
                server_type,
                architecture,
                count,
                locations,
                labels: string_map(planned, &control_plane("labels")),
                taints,
                config_patches: string_list(planned, &control_plane("config_patches")),
                allow_workloads: view::boolean(planned, &control_plane("allow_workloads"))
                    .unwrap_or(false),
            },
            network: NetworkSpec {
                cidr: range(planned, RangeRole::Network)?,
                node_subnet: range(planned, RangeRole::NodeSubnet)?,
                pod_cidr: range(planned, RangeRole::Pods)?,
                service_cidr: range(planned, RangeRole::Services)?,
                existing_network_id: view::integer(planned, &model::network("existing_network_id")),
            },
            load_balancer_type: view::string(planned, &lb.attr("type"))
                .unwrap_or("lb11")
                .to_owned(),
            load_balancer_location: view::string(planned, &lb.attr("location"))
                .unwrap_or(&location)
                .to_owned(),
            talos_api_sources: string_list(planned, &attr("firewall").attr("talos_api_sources")),
            kube_api_sources: string_list(planned, &attr("firewall").attr("kube_api_sources")),
            cni,
            config_patches: string_list(planned, &attr("config_patches")),
            secrets: view::string(planned, &attr("secrets")).map(str::to_owned),
            image: ImageSpec {
                snapshot_ids: image_ids,
                selector: view::string(planned, &attr("image").attr("selector")).map(str::to_owned),
                schematic: view::string(planned, &attr("image").attr("schematic"))
                    .map(str::to_owned),
                architectures: string_list(planned, &attr("image").attr("architectures"))
                    .iter()
                    .filter_map(|a| match a.as_str() {
                        "amd64" => Some(Architecture::X86),
                        "arm64" => Some(Architecture::Arm),
                        _ => None,
                    })
                    .collect(),
                schematic_id: String::new(),
            },
            delete_protection: view::boolean(planned, &attr("delete_protection")).unwrap_or(false),
            disk_encryption: view::boolean(planned, &attr("disk_encryption")).unwrap_or(true),
            timeouts: crate::resources::timeouts::parse(planned, DEFAULT_TIMEOUTS)?,
            name,
            location,
            network_zone,
            talos_version,
            kubernetes_version,
        })
    }

    /// Node subnet as the Talos config wants it.
    pub fn node_subnet(&self) -> IpNet {
        IpNet::V4(self.network.node_subnet)
    }
}
