//! The typed Kubernetes documents of the 1.14 contract, which replace the v1alpha1
//! `cluster.*` and `machine.kubelet` sections. PEM fields hold raw PEM text (not base64).

use indexmap::IndexMap;
use serde::Serialize;

use super::defaults::Unstructured;
use super::documents::Document;
use super::v1alpha1::NodeIp;

macro_rules! document {
    ($type:ident, $kind:literal) => {
        impl Document for $type {
            const KIND: &'static str = $kind;
        }
    };
}

/// `KubeClusterConfig`: cluster name and API endpoint.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeClusterConfig {
    /// Cluster name.
    pub cluster_name: String,
    /// `https://host:port`.
    pub endpoint: String,
}
document!(KubeClusterConfig, "KubeClusterConfig");

/// `KubeNodeConfig`: node IP selection, labels and taints.
#[derive(Debug, Clone, Serialize)]
pub struct KubeNodeConfig {
    /// Node IP selection (`{}` when unset).
    #[serde(rename = "nodeIP")]
    pub node_ip: NodeIp,
    /// Node labels.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
    /// Node taints `key: [value:]Effect`.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub taints: IndexMap<String, String>,
}
document!(KubeNodeConfig, "KubeNodeConfig");

/// `KubeletConfig`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeletConfig {
    /// Kubelet image.
    pub image: String,
    /// Extra kubelet configuration (`{}`).
    pub config: IndexMap<String, Unstructured>,
    /// Extra kubelet flags.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub extra_args: IndexMap<String, String>,
    /// Always `true`.
    pub default_runtime_seccomp_profile_enabled: bool,
}
document!(KubeletConfig, "KubeletConfig");

/// `KubeNetworkConfig`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeNetworkConfig {
    /// Cluster DNS domain.
    pub dns_domain: String,
    /// Pod CIDRs.
    pub pod_subnets: Vec<String>,
    /// Service CIDRs.
    pub service_subnets: Vec<String>,
}
document!(KubeNetworkConfig, "KubeNetworkConfig");

/// A raw-PEM certificate and key.
#[derive(Debug, Clone, Serialize)]
pub struct PemCertKey {
    /// Certificate PEM.
    pub cert: String,
    /// Key PEM.
    pub key: String,
}

/// `KubeAPIServerCAConfig`: the issuing CA on control planes, the accepted CA on workers.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeApiServerCaConfig {
    /// Control planes: CA certificate and key.
    #[serde(rename = "issuingCA", skip_serializing_if = "Option::is_none")]
    pub issuing_ca: Option<PemCertKey>,
    /// Workers: CA certificates only.
    #[serde(rename = "acceptedCAs", skip_serializing_if = "Vec::is_empty")]
    pub accepted_cas: Vec<String>,
}
document!(KubeApiServerCaConfig, "KubeAPIServerCAConfig");

/// `KubePrismConfig`.
#[derive(Debug, Clone, Serialize)]
pub struct KubePrismConfig {
    /// Local port (7445).
    pub port: u16,
}
document!(KubePrismConfig, "KubePrismConfig");

/// `KubeAggregatorCAConfig`.
#[derive(Debug, Clone, Serialize)]
pub struct KubeAggregatorCaConfig {
    /// CA certificate and key.
    #[serde(rename = "issuingCA")]
    pub issuing_ca: PemCertKey,
}
document!(KubeAggregatorCaConfig, "KubeAggregatorCAConfig");

/// `KubeAdmissionControlConfig` (one plugin).
#[derive(Debug, Clone, Serialize)]
pub struct KubeAdmissionControlConfig {
    /// Plugin name.
    pub name: &'static str,
    /// Plugin configuration.
    pub configuration: Unstructured,
}
document!(KubeAdmissionControlConfig, "KubeAdmissionControlConfig");

/// `KubeAuditPolicyConfig`.
#[derive(Debug, Clone, Serialize)]
pub struct KubeAuditPolicyConfig {
    /// The audit policy.
    pub configuration: Unstructured,
}
document!(KubeAuditPolicyConfig, "KubeAuditPolicyConfig");

/// `KubeAuthenticationConfig`.
#[derive(Debug, Clone, Serialize)]
pub struct KubeAuthenticationConfig {
    /// The structured authentication configuration.
    pub configuration: Unstructured,
}
document!(KubeAuthenticationConfig, "KubeAuthenticationConfig");

/// `KubeAuthorizerConfig` (one authorizer).
#[derive(Debug, Clone, Serialize)]
pub struct KubeAuthorizerConfig {
    /// `node` or `rbac`.
    pub name: &'static str,
    /// `Node` or `RBAC`.
    #[serde(rename = "type")]
    pub authorizer_type: &'static str,
}
document!(KubeAuthorizerConfig, "KubeAuthorizerConfig");

/// `KubeEtcdEncryptionConfig`.
#[derive(Debug, Clone, Serialize)]
pub struct KubeEtcdEncryptionConfig {
    /// The kube-apiserver `EncryptionConfiguration` body.
    pub config: Unstructured,
}
document!(KubeEtcdEncryptionConfig, "KubeEtcdEncryptionConfig");

/// `KubeServiceAccountConfig`.
#[derive(Debug, Clone, Serialize)]
pub struct KubeServiceAccountConfig {
    /// The signing key and issuer URL.
    pub issuer: ServiceAccountIssuer,
}
document!(KubeServiceAccountConfig, "KubeServiceAccountConfig");

/// `KubeServiceAccountConfig.issuer`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAccountIssuer {
    /// Key PEM.
    pub private_key: String,
    /// Issuer URL (the cluster endpoint).
    #[serde(rename = "issuerURL")]
    pub issuer_url: String,
}

/// `KubeAPIServerConfig`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeApiServerConfig {
    /// Image.
    pub image: String,
    /// Extra certificate SANs.
    #[serde(rename = "certExtraSANs", skip_serializing_if = "Vec::is_empty")]
    pub cert_extra_sans: Vec<String>,
}
document!(KubeApiServerConfig, "KubeAPIServerConfig");

/// `KubeControllerManagerConfig`.
#[derive(Debug, Clone, Serialize)]
pub struct KubeControllerManagerConfig {
    /// Image.
    pub image: String,
}
document!(KubeControllerManagerConfig, "KubeControllerManagerConfig");

/// `KubeSchedulerConfig`.
#[derive(Debug, Clone, Serialize)]
pub struct KubeSchedulerConfig {
    /// Image.
    pub image: String,
    /// Extra scheduler configuration (`{}`).
    pub config: IndexMap<String, Unstructured>,
}
document!(KubeSchedulerConfig, "KubeSchedulerConfig");

/// `KubeProxyConfig`.
#[derive(Debug, Clone, Serialize)]
pub struct KubeProxyConfig {
    /// `Some(false)` to not deploy kube-proxy (Cilium replaces it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Image.
    pub image: String,
    /// Extra configuration (`{}`).
    pub config: IndexMap<String, Unstructured>,
}
document!(KubeProxyConfig, "KubeProxyConfig");

/// `KubeFlannelCNIConfig`: present means "deploy flannel".
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeFlannelCniConfig {
    /// `vxlan`.
    pub backend_type: &'static str,
    /// 4789.
    pub backend_port: u16,
}
document!(KubeFlannelCniConfig, "KubeFlannelCNIConfig");

/// `KubeCoreDNSConfig`.
#[derive(Debug, Clone, Serialize)]
pub struct KubeCoreDnsConfig {
    /// Always `true`.
    pub enabled: bool,
}
document!(KubeCoreDnsConfig, "KubeCoreDNSConfig");
