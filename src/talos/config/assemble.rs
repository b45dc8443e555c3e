//! Assembles the documents of one machine configuration for one version contract.
//!
//! With the Hetzner additions left at their defaults, the output is what Talos's own generator
//! (`pkg/machinery/config/generate`) emits for the same contract (checked against Talos's
//! stability fixtures in the tests). Every contract difference is a [`VersionContract`] method
//! call here; the v1alpha1 document and the typed documents are in their own modules.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use indexmap::IndexMap;

use super::documents::{self as docs, to_node};
use super::kube_documents as kube;
use super::v1alpha1 as v1;
use super::{Cni, Error, MachineRole, defaults};
use crate::talos::secrets::{EncryptionSecret, SecretsBundle};
use crate::talos::version::VersionContract;
use crate::talos::yaml::Node;

/// KubePrism's local API server port (Talos `DefaultKubePrismPort`).
pub const KUBEPRISM_PORT: u16 = 7445;
/// Label Talos puts on control planes so cloud load balancers skip them.
const LABEL_EXCLUDE_FROM_LB: &str = "node.kubernetes.io/exclude-from-external-load-balancers";
/// Control-plane role label/taint key (1.14 writes them explicitly).
const LABEL_CONTROL_PLANE: &str = "node-role.kubernetes.io/control-plane";

/// Everything that decides one machine's documents. The Hetzner fields (`hostname` onwards)
/// default to "not set", which reproduces Talos's generator.
#[derive(Debug, Clone)]
pub(crate) struct Plan<'a> {
    pub contract: VersionContract,
    pub role: MachineRole,
    pub secrets: &'a SecretsBundle,
    pub cluster_name: &'a str,
    pub endpoint: &'a str,
    /// Without `v`, e.g. `1.35.0`.
    pub kubernetes_version: String,
    pub dns_domain: &'a str,
    pub pod_subnets: Vec<String>,
    pub service_subnets: Vec<String>,
    /// SANs of the Talos API certificate (`machine.certSANs`).
    pub machine_cert_sans: Vec<String>,
    /// Extra SANs of the Kubernetes API server certificate.
    pub api_server_cert_sans: Vec<String>,
    pub cni: Cni,
    pub allow_scheduling_on_control_planes: bool,
    pub hostname: Option<&'a str>,
    pub node_subnet: Option<String>,
    pub private_interface: Option<&'a str>,
    pub external_cloud_provider: bool,
    pub kubelet_extra_args: IndexMap<String, String>,
    pub node_labels: IndexMap<String, String>,
    pub node_taints: IndexMap<String, String>,
    /// LUKS2 with node-ID keys on `STATE` and `EPHEMERAL`.
    pub disk_encryption: bool,
}

fn b64(text: &str) -> String {
    STANDARD.encode(text)
}

fn image(repository: &str, kubernetes_version: &str) -> String {
    format!("{repository}:v{kubernetes_version}")
}

impl Plan<'_> {
    fn is_control_plane(&self) -> bool {
        self.role == MachineRole::ControlPlane
    }

    fn kubelet_image(&self) -> String {
        image("ghcr.io/siderolabs/kubelet", &self.kubernetes_version)
    }

    fn component_image(&self, component: &str) -> String {
        image(
            &format!("registry.k8s.io/{component}"),
            &self.kubernetes_version,
        )
    }

    fn node_ip(&self) -> v1::NodeIp {
        v1::NodeIp {
            valid_subnets: self.node_subnet.iter().cloned().collect(),
        }
    }

    fn host_dns() -> v1::HostDns {
        v1::HostDns {
            enabled: true,
            forward_kube_dns_to_host: true,
        }
    }
}

/// Builds all documents, v1alpha1 first, in Talos's order.
pub(crate) fn assemble(plan: &Plan<'_>) -> Result<Vec<Node>, Error> {
    let contract = plan.contract;
    let mut documents = vec![super::yaml_node(
        "v1alpha1 config",
        &v1alpha1_config(plan)?,
    )?];

    if contract.discovery_config_documents() {
        documents.push(to_node(&docs::DiscoveryServiceConfig {
            name: "default",
            endpoint: "https://discovery.talos.dev/",
        })?);
        documents.push(to_node(&docs::DiscoveryIdentityConfig {
            cluster_id: plan.secrets.cluster_id.clone(),
            cluster_secret: plan.secrets.cluster_secret.clone(),
        })?);
    }
    if contract.host_dns_config_document() {
        documents.push(to_node(&docs::ResolverConfig {
            host_dns: Plan::host_dns(),
        })?);
    }
    documents.extend(volume_documents(plan)?);
    if contract.filesystem_trim_by_default() {
        documents.push(to_node(&docs::FilesystemTrimConfig {
            interval: "168h0m0s",
        })?);
    }
    if contract.workload_isolation_by_default() {
        documents.push(to_node(&docs::SecurityProfileConfig {
            workload_isolation: true,
        })?);
    }
    if contract.hostname_config_document() {
        documents.push(to_node(&match plan.hostname {
            Some(hostname) => docs::HostnameConfig {
                auto: None,
                hostname: Some(hostname.to_owned()),
            },
            None => docs::HostnameConfig {
                auto: Some("stable"),
                hostname: None,
            },
        })?);
    }
    if let Some(interface) = plan.private_interface {
        documents.push(to_node(&docs::LinkConfig {
            name: interface.to_owned(),
            up: true,
        })?);
        documents.push(to_node(&docs::Dhcpv4Config {
            name: interface.to_owned(),
        })?);
    }
    if contract.kubernetes_config_documents() {
        documents.extend(kubernetes_documents(plan)?);
        if plan.is_control_plane() {
            documents.extend(control_plane_kubernetes_documents(plan)?);
        }
    }
    Ok(documents)
}

/// The `VolumeConfig` documents of the system volumes. Every supported contract (1.12+) takes
/// STATE/EPHEMERAL encryption from `VolumeConfig` (v1alpha1 `machine.systemDiskEncryption` is
/// deprecated and absent from the published schemas); 1.14's generator already writes the
/// `EPHEMERAL` document for its secure mount, which then carries the encryption too.
fn volume_documents(plan: &Plan<'_>) -> Result<Vec<Node>, Error> {
    let encryption = || plan.disk_encryption.then(docs::EncryptionSpec::node_id);
    let mut documents = Vec::new();
    if plan.disk_encryption {
        documents.push(to_node(&docs::VolumeConfig {
            name: "STATE",
            encryption: encryption(),
            mount: None,
        })?);
    }
    let secure_mount = plan.contract.filesystem_trim_by_default();
    if plan.disk_encryption || secure_mount {
        documents.push(to_node(&docs::VolumeConfig {
            name: "EPHEMERAL",
            encryption: encryption(),
            mount: secure_mount.then(|| IndexMap::from([("secure", true)])),
        })?);
    }
    Ok(documents)
}

fn v1alpha1_config(plan: &Plan<'_>) -> Result<v1::Config, Error> {
    let contract = plan.contract;
    let legacy_kubernetes = !contract.kubernetes_config_documents();
    let control_plane = plan.is_control_plane();
    let secrets = plan.secrets;

    let mut node_labels = IndexMap::new();
    if control_plane {
        node_labels.insert(LABEL_EXCLUDE_FROM_LB.to_owned(), String::new());
    }
    node_labels.extend(plan.node_labels.clone());

    let machine = v1::Machine {
        machine_type: plan.role.talos_type(),
        token: secrets.trustd_token.clone(),
        ca: v1::CertKey {
            crt: b64(&secrets.os_ca.cert_pem),
            key: if control_plane {
                b64(&secrets.os_ca.key_pem)
            } else {
                String::new()
            },
        },
        cert_sans: plan.machine_cert_sans.clone(),
        kubelet: legacy_kubernetes.then(|| v1::Kubelet {
            image: plan.kubelet_image(),
            extra_args: (!plan.kubelet_extra_args.is_empty())
                .then(|| plan.kubelet_extra_args.clone()),
            default_runtime_seccomp_profile_enabled: true,
            node_ip: plan.node_subnet.as_ref().map(|_| plan.node_ip()),
            disable_manifests_directory: true,
        }),
        // Talos writes an empty `machine.network` until KubeSpan moved to its own document.
        network: (!contract.kubespan_config_document()).then(v1::Empty::default),
        install: (!contract.unattended_install_document()).then_some(v1::Install {
            wipe: false,
            grub_use_uki_cmdline: true,
        }),
        features: v1::Features {
            disk_quota_support: true,
            kube_prism: legacy_kubernetes.then_some(v1::KubePrism {
                enabled: true,
                port: KUBEPRISM_PORT,
            }),
            host_dns: (!contract.host_dns_config_document()).then(Plan::host_dns),
        },
        node_labels: (legacy_kubernetes && !node_labels.is_empty()).then_some(node_labels),
        node_taints: (legacy_kubernetes && !plan.node_taints.is_empty())
            .then(|| plan.node_taints.clone()),
    };

    let mut cluster = v1::Cluster {
        token: secrets.bootstrap_token.clone(),
        external_cloud_provider: plan
            .external_cloud_provider
            .then_some(v1::ExternalCloudProvider { enabled: true }),
        etcd: control_plane.then(|| v1::Etcd {
            ca: v1::CertKey {
                crt: b64(&secrets.etcd_ca.cert_pem),
                key: b64(&secrets.etcd_ca.key_pem),
            },
            advertised_subnets: plan.node_subnet.iter().cloned().collect(),
        }),
        ..v1::Cluster::default()
    };
    if !contract.discovery_config_documents() {
        cluster.id = Some(secrets.cluster_id.clone());
        cluster.secret = Some(secrets.cluster_secret.clone());
        cluster.discovery = Some(v1::Discovery {
            enabled: true,
            registries: v1::DiscoveryRegistries {
                kubernetes: v1::RegistryDisabled { disabled: true },
                service: v1::Empty::default(),
            },
        });
    }
    if legacy_kubernetes {
        legacy_kubernetes_sections(plan, &mut cluster)?;
    }
    Ok(v1::Config {
        version: "v1alpha1",
        debug: false,
        machine,
        cluster,
    })
}

/// The v1alpha1 `cluster.*` Kubernetes sections of contracts before 1.14.
fn legacy_kubernetes_sections(plan: &Plan<'_>, cluster: &mut v1::Cluster) -> Result<(), Error> {
    let secrets = plan.secrets;
    cluster.control_plane = Some(v1::ControlPlane {
        endpoint: plan.endpoint.to_owned(),
    });
    cluster.cluster_name = Some(plan.cluster_name.to_owned());
    cluster.network = Some(v1::ClusterNetwork {
        cni: matches!(plan.cni, Cni::None | Cni::Cilium).then_some(v1::CniConfig { name: "none" }),
        dns_domain: plan.dns_domain.to_owned(),
        pod_subnets: plan.pod_subnets.clone(),
        service_subnets: plan.service_subnets.clone(),
    });
    if plan.role == MachineRole::Worker {
        cluster.ca = Some(v1::CertKey {
            crt: b64(&secrets.kubernetes_ca.cert_pem),
            key: String::new(),
        });
        return Ok(());
    }
    match &secrets.encryption {
        EncryptionSecret::Secretbox(secret) => {
            cluster.secretbox_encryption_secret = Some(secret.clone());
        }
        EncryptionSecret::AesCbc(secret) => cluster.aescbc_encryption_secret = Some(secret.clone()),
    }
    let pair = |ca: &crate::talos::pki::certs::CertAndKey| v1::CertKey {
        crt: b64(&ca.cert_pem),
        key: b64(&ca.key_pem),
    };
    cluster.ca = Some(pair(&secrets.kubernetes_ca));
    cluster.aggregator_ca = Some(pair(&secrets.aggregator_ca));
    cluster.service_account = Some(v1::KeyOnly {
        key: b64(&secrets.service_account_key),
    });
    cluster.api_server = Some(v1::ApiServer {
        image: plan.component_image("kube-apiserver"),
        cert_sans: plan.api_server_cert_sans.clone(),
        admission_control: vec![v1::AdmissionPlugin {
            name: "PodSecurity",
            configuration: defaults::pod_security()?,
        }],
        audit_policy: defaults::audit_policy()?,
    });
    cluster.controller_manager = Some(v1::ImageOnly {
        image: plan.component_image("kube-controller-manager"),
    });
    cluster.proxy = Some(v1::Proxy {
        image: plan.component_image("kube-proxy"),
        disabled: plan.cni == Cni::Cilium,
    });
    cluster.scheduler = Some(v1::ImageOnly {
        image: plan.component_image("kube-scheduler"),
    });
    if plan.allow_scheduling_on_control_planes {
        cluster.allow_scheduling_on_control_planes = Some(true);
    }
    Ok(())
}

/// 1.14 documents every node gets (`generateKubernetesUniversalConfigs`).
fn kubernetes_documents(plan: &Plan<'_>) -> Result<Vec<Node>, Error> {
    let control_plane = plan.is_control_plane();
    let mut labels = IndexMap::new();
    let mut taints = IndexMap::new();
    if control_plane {
        labels.insert(LABEL_CONTROL_PLANE.to_owned(), String::new());
        labels.insert(LABEL_EXCLUDE_FROM_LB.to_owned(), String::new());
        if !plan.allow_scheduling_on_control_planes {
            taints.insert(LABEL_CONTROL_PLANE.to_owned(), "NoSchedule".to_owned());
        }
    }
    labels.extend(plan.node_labels.clone());
    taints.extend(plan.node_taints.clone());
    let ca_cert = plan.secrets.kubernetes_ca.cert_pem.clone();
    Ok(vec![
        to_node(&kube::KubeClusterConfig {
            cluster_name: plan.cluster_name.to_owned(),
            endpoint: plan.endpoint.to_owned(),
        })?,
        to_node(&kube::KubeNodeConfig {
            node_ip: plan.node_ip(),
            labels,
            taints,
        })?,
        to_node(&kube::KubeletConfig {
            image: plan.kubelet_image(),
            config: IndexMap::new(),
            extra_args: plan.kubelet_extra_args.clone(),
            default_runtime_seccomp_profile_enabled: true,
        })?,
        to_node(&kube::KubeNetworkConfig {
            dns_domain: plan.dns_domain.to_owned(),
            pod_subnets: plan.pod_subnets.clone(),
            service_subnets: plan.service_subnets.clone(),
        })?,
        to_node(&if control_plane {
            kube::KubeApiServerCaConfig {
                issuing_ca: Some(kube::PemCertKey {
                    cert: ca_cert,
                    key: plan.secrets.kubernetes_ca.key_pem.clone(),
                }),
                accepted_cas: Vec::new(),
            }
        } else {
            kube::KubeApiServerCaConfig {
                issuing_ca: None,
                accepted_cas: vec![ca_cert],
            }
        })?,
        to_node(&kube::KubePrismConfig {
            port: KUBEPRISM_PORT,
        })?,
    ])
}

/// 1.14 documents only control planes get (`generateKubernetesControlplaneConfigs`).
fn control_plane_kubernetes_documents(plan: &Plan<'_>) -> Result<Vec<Node>, Error> {
    let secrets = plan.secrets;
    let (key_name, secret) = match &secrets.encryption {
        EncryptionSecret::Secretbox(secret) => ("key2", secret),
        EncryptionSecret::AesCbc(secret) => ("key1", secret),
    };
    let mut documents = vec![
        to_node(&kube::KubeAggregatorCaConfig {
            issuing_ca: kube::PemCertKey {
                cert: secrets.aggregator_ca.cert_pem.clone(),
                key: secrets.aggregator_ca.key_pem.clone(),
            },
        })?,
        to_node(&kube::KubeAdmissionControlConfig {
            name: "PodSecurity",
            configuration: defaults::pod_security()?,
        })?,
        to_node(&kube::KubeAuditPolicyConfig {
            configuration: defaults::audit_policy()?,
        })?,
        to_node(&kube::KubeAuthenticationConfig {
            configuration: defaults::authentication()?,
        })?,
        to_node(&kube::KubeAuthorizerConfig {
            name: "node",
            authorizer_type: "Node",
        })?,
        to_node(&kube::KubeAuthorizerConfig {
            name: "rbac",
            authorizer_type: "RBAC",
        })?,
        to_node(&kube::KubeEtcdEncryptionConfig {
            config: defaults::etcd_encryption(key_name, secret),
        })?,
        to_node(&kube::KubeServiceAccountConfig {
            issuer: kube::ServiceAccountIssuer {
                private_key: secrets.service_account_key.clone(),
                issuer_url: plan.endpoint.to_owned(),
            },
        })?,
        to_node(&kube::KubeApiServerConfig {
            image: plan.component_image("kube-apiserver"),
            cert_extra_sans: plan.api_server_cert_sans.clone(),
        })?,
        to_node(&kube::KubeControllerManagerConfig {
            image: plan.component_image("kube-controller-manager"),
        })?,
        to_node(&kube::KubeSchedulerConfig {
            image: plan.component_image("kube-scheduler"),
            config: IndexMap::new(),
        })?,
        to_node(&kube::KubeProxyConfig {
            enabled: (plan.cni == Cni::Cilium).then_some(false),
            image: plan.component_image("kube-proxy"),
            config: IndexMap::new(),
        })?,
    ];
    if plan.cni == Cni::Flannel {
        documents.push(to_node(&kube::KubeFlannelCniConfig {
            backend_type: "vxlan",
            backend_port: 4789,
        })?);
    }
    documents.push(to_node(&kube::KubeCoreDnsConfig { enabled: true })?);
    Ok(documents)
}
