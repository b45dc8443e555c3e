//! The legacy `v1alpha1` machine configuration document (`version: v1alpha1`, `machine`,
//! `cluster`), with the fields the generator writes for each contract.
//!
//! Fields are in Talos's Go struct order, and optional sections are `None` where a contract
//! moved them to typed documents (1.14 keeps only identity, PKI, etcd and the cloud provider
//! switch here). `persist` is never written: Talos ignores it ("not supported anymore") and its
//! published schema refuses it.

use indexmap::IndexMap;
use serde::Serialize;

/// The whole document.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// Always `v1alpha1`.
    pub version: &'static str,
    /// Always `false`.
    pub debug: bool,
    /// `machine:`.
    pub machine: Machine,
    /// `cluster:`.
    pub cluster: Cluster,
}

/// A base64-PEM certificate and key pair as v1alpha1 writes it; workers get an empty key.
#[derive(Debug, Clone, Serialize)]
pub struct CertKey {
    /// base64 of the certificate PEM.
    pub crt: String,
    /// base64 of the key PEM, or empty.
    pub key: String,
}

/// A base64-PEM key alone (`cluster.serviceAccount`).
#[derive(Debug, Clone, Serialize)]
pub struct KeyOnly {
    /// base64 of the key PEM.
    pub key: String,
}

/// An empty mapping, rendered `{}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Empty {}

/// `machine:`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    /// `controlplane` or `worker`.
    #[serde(rename = "type")]
    pub machine_type: &'static str,
    /// trustd token.
    pub token: String,
    /// Talos API CA (workers: certificate only).
    pub ca: CertKey,
    /// Extra SANs of the Talos API certificate (always written, possibly `[]`).
    #[serde(rename = "certSANs")]
    pub cert_sans: Vec<String>,
    /// Kubelet settings (up to 1.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubelet: Option<Kubelet>,
    /// `network: {}` (1.12 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<Empty>,
    /// Install settings (up to 1.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub install: Option<Install>,
    /// Feature switches.
    pub features: Features,
    /// Node labels (up to 1.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_labels: Option<IndexMap<String, String>>,
    /// Node taints `key: value:Effect` (up to 1.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_taints: Option<IndexMap<String, String>>,
}

/// `machine.kubelet`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Kubelet {
    /// Kubelet image.
    pub image: String,
    /// Extra kubelet flags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_args: Option<IndexMap<String, String>>,
    /// Always `true` for supported contracts.
    pub default_runtime_seccomp_profile_enabled: bool,
    /// Node IP selection.
    #[serde(rename = "nodeIP", skip_serializing_if = "Option::is_none")]
    pub node_ip: Option<NodeIp>,
    /// Always `true` for supported contracts.
    pub disable_manifests_directory: bool,
}

/// `nodeIP` (kubelet in v1alpha1, `KubeNodeConfig` in 1.14).
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeIp {
    /// Subnets the node IP is picked from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub valid_subnets: Vec<String>,
}

/// `machine.install`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Install {
    /// Always `false`.
    pub wipe: bool,
    /// Always `true` for supported contracts.
    #[serde(rename = "grubUseUKICmdline")]
    pub grub_use_uki_cmdline: bool,
}

/// `machine.features`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Features {
    /// Always `true`.
    pub disk_quota_support: bool,
    /// KubePrism (up to 1.13).
    #[serde(rename = "kubePrism", skip_serializing_if = "Option::is_none")]
    pub kube_prism: Option<KubePrism>,
    /// Host DNS (up to 1.13).
    #[serde(rename = "hostDNS", skip_serializing_if = "Option::is_none")]
    pub host_dns: Option<HostDns>,
}

/// `machine.features.kubePrism`.
#[derive(Debug, Clone, Serialize)]
pub struct KubePrism {
    /// Always `true`.
    pub enabled: bool,
    /// Local port (7445).
    pub port: u16,
}

/// `machine.features.hostDNS` / `ResolverConfig.hostDNS`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostDns {
    /// Always `true`.
    pub enabled: bool,
    /// Always `true` for supported contracts.
    #[serde(rename = "forwardKubeDNSToHost")]
    pub forward_kube_dns_to_host: bool,
}

/// `cluster:`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cluster {
    /// Discovery identity (up to 1.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// See [`Self::id`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Control-plane endpoint (up to 1.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<ControlPlane>,
    /// Cluster name (up to 1.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_name: Option<String>,
    /// Cluster networking (up to 1.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<ClusterNetwork>,
    /// Kubernetes bootstrap token.
    pub token: String,
    /// Secrets encryption key (control planes, up to 1.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aescbc_encryption_secret: Option<String>,
    /// See [`Self::aescbc_encryption_secret`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secretbox_encryption_secret: Option<String>,
    /// Kubernetes CA (workers: certificate only; up to 1.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<CertKey>,
    /// Aggregator CA (control planes, up to 1.13).
    #[serde(rename = "aggregatorCA", skip_serializing_if = "Option::is_none")]
    pub aggregator_ca: Option<CertKey>,
    /// Service-account key (control planes, up to 1.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_account: Option<KeyOnly>,
    /// API server (control planes, up to 1.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_server: Option<ApiServer>,
    /// Controller manager (control planes, up to 1.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub controller_manager: Option<ImageOnly>,
    /// kube-proxy (control planes, up to 1.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<Proxy>,
    /// Scheduler (control planes, up to 1.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<ImageOnly>,
    /// Discovery (up to 1.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery: Option<Discovery>,
    /// etcd (control planes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etcd: Option<Etcd>,
    /// External cloud provider switch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_cloud_provider: Option<ExternalCloudProvider>,
    /// Workloads on control planes (up to 1.13).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_scheduling_on_control_planes: Option<bool>,
}

/// `cluster.controlPlane`.
#[derive(Debug, Clone, Serialize)]
pub struct ControlPlane {
    /// `https://host:port` of the Kubernetes API.
    pub endpoint: String,
}

/// `cluster.network`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterNetwork {
    /// CNI selection; absent means Talos's default flannel.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cni: Option<CniConfig>,
    /// Cluster DNS domain.
    pub dns_domain: String,
    /// Pod CIDRs.
    pub pod_subnets: Vec<String>,
    /// Service CIDRs.
    pub service_subnets: Vec<String>,
}

/// `cluster.network.cni`.
#[derive(Debug, Clone, Serialize)]
pub struct CniConfig {
    /// `none` (or `flannel`/`custom`).
    pub name: &'static str,
}

/// `cluster.apiServer`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiServer {
    /// API server image.
    pub image: String,
    /// Extra SANs of the API server certificate.
    #[serde(rename = "certSANs", skip_serializing_if = "Vec::is_empty")]
    pub cert_sans: Vec<String>,
    /// Admission plugin configuration (PodSecurity).
    pub admission_control: Vec<AdmissionPlugin>,
    /// Audit policy.
    pub audit_policy: super::defaults::Unstructured,
}

/// One admission plugin's configuration.
#[derive(Debug, Clone, Serialize)]
pub struct AdmissionPlugin {
    /// Plugin name.
    pub name: &'static str,
    /// Free-form configuration.
    pub configuration: super::defaults::Unstructured,
}

/// A component given only by its image.
#[derive(Debug, Clone, Serialize)]
pub struct ImageOnly {
    /// Container image.
    pub image: String,
}

/// `cluster.proxy`.
#[derive(Debug, Clone, Serialize)]
pub struct Proxy {
    /// kube-proxy image.
    pub image: String,
    /// `true` to not deploy kube-proxy (Cilium replaces it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
}

/// `cluster.discovery`.
#[derive(Debug, Clone, Serialize)]
pub struct Discovery {
    /// Always `true`.
    pub enabled: bool,
    /// Registries: Kubernetes disabled, service default.
    pub registries: DiscoveryRegistries,
}

/// `cluster.discovery.registries`.
#[derive(Debug, Clone, Serialize)]
pub struct DiscoveryRegistries {
    /// `{disabled: true}`.
    pub kubernetes: RegistryDisabled,
    /// `{}`.
    pub service: Empty,
}

/// `{disabled: …}`.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryDisabled {
    /// Whether the registry is off.
    pub disabled: bool,
}

/// `cluster.etcd`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Etcd {
    /// etcd CA.
    pub ca: CertKey,
    /// Subnets etcd advertises on (the node subnet on Hetzner).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub advertised_subnets: Vec<String>,
}

/// `cluster.externalCloudProvider`.
#[derive(Debug, Clone, Serialize)]
pub struct ExternalCloudProvider {
    /// `true`: kubelet runs with `--cloud-provider=external` (the hcloud CCM initialises nodes).
    pub enabled: bool,
}
