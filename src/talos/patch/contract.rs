//! Patches written for the wrong contract. Talos 1.14 moved most v1alpha1 sections into typed
//! documents; a patch that still sets the old section would produce a configuration Talos 1.14
//! refuses (its schema no longer has those fields), so it is caught here with a pointer to the
//! document that replaced the section.

use super::Error;
use crate::talos::version::VersionContract;
use crate::talos::yaml::Node;

/// v1alpha1 sections that 1.14 replaced, and the replacing document.
const MOVED_IN_1_14: &[(&[&str], &str)] = &[
    (&["machine", "kubelet"], "KubeletConfig / KubeNodeConfig"),
    (&["machine", "nodeLabels"], "KubeNodeConfig (labels)"),
    (
        &["machine", "nodeAnnotations"],
        "KubeNodeConfig (annotations)",
    ),
    (&["machine", "nodeTaints"], "KubeNodeConfig (taints)"),
    (
        &["machine", "network"],
        "network documents (LinkConfig, DHCPv4Config, KubeSpanConfig, …)",
    ),
    (&["machine", "install"], "UnattendedInstallConfig"),
    (&["machine", "sysctls"], "SysctlConfig"),
    (&["machine", "features", "kubePrism"], "KubePrismConfig"),
    (
        &["machine", "features", "hostDNS"],
        "ResolverConfig (hostDNS)",
    ),
    (
        &["cluster", "network"],
        "KubeNetworkConfig / KubeFlannelCNIConfig",
    ),
    (&["cluster", "apiServer"], "KubeAPIServerConfig"),
    (
        &["cluster", "controllerManager"],
        "KubeControllerManagerConfig",
    ),
    (&["cluster", "scheduler"], "KubeSchedulerConfig"),
    (&["cluster", "proxy"], "KubeProxyConfig"),
    (&["cluster", "coreDNS"], "KubeCoreDNSConfig"),
    (&["cluster", "discovery"], "DiscoveryServiceConfig"),
    (&["cluster", "inlineManifests"], "KubeInlineManifestConfig"),
    (&["cluster", "extraManifests"], "KubeExternalManifestConfig"),
    (
        &["cluster", "allowSchedulingOnControlPlanes"],
        "KubeNodeConfig (taints)",
    ),
];

/// Checks the v1alpha1 documents of a patch against `contract`.
pub(super) fn check(
    patch: usize,
    documents: &[Node],
    contract: VersionContract,
) -> Result<(), Error> {
    if !contract.kubernetes_config_documents() {
        return Ok(());
    }
    for document in documents {
        if document.get_path(&["kind"]).is_some() {
            continue;
        }
        for (path, replacement) in MOVED_IN_1_14 {
            if document.get_path(path).is_some() {
                return Err(Error::MovedInContract {
                    patch,
                    path: path.join("."),
                    contract,
                    replacement,
                });
            }
        }
    }
    Ok(())
}
