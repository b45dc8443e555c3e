//! The addon catalog: what each name installs, from which chart repository, at which pinned
//! version, in which namespace, and whether this provider installs it through `hk8s_addon` at
//! all. Values the provider derives from the cluster (network id, cluster labels, secrets) are
//! merged under the user's `values` at apply time ([`super::release`]).
//!
//! Names the cluster owns (`hcloud-ccm`, `cilium`, the kubelet serving-certificate approver)
//! are refused with a pointer to the cluster attribute that tunes them: one owner per release,
//! so an addon and the cluster never upgrade the same release against each other.

/// Whether an entry can be installed as an addon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// `hk8s_addon` installs it.
    Installable,
    /// `hk8s_cluster` installs it; the text says where to tune it.
    OwnedByCluster(&'static str),
    /// It needs Talos system extensions the cluster's image does not carry.
    NeedsExtensions(&'static [&'static str]),
}

/// One catalog entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The addon name users write (also the release name).
    pub name: &'static str,
    /// What it is.
    pub description: &'static str,
    /// Chart repository URL.
    pub repository: &'static str,
    /// Chart name in it.
    pub chart: &'static str,
    /// The version installed when none is given.
    pub default_version: &'static str,
    /// The namespace installed into when none is given.
    pub namespace: &'static str,
    /// Whether `hk8s_addon` installs it.
    pub availability: Availability,
}

/// Every catalog entry.
pub const CATALOG: &[Entry] = &[
    Entry {
        name: "hcloud-ccm",
        description: "Hetzner Cloud controller manager (node lifecycle, routes, load balancers)",
        repository: "https://charts.hetzner.cloud",
        chart: "hcloud-cloud-controller-manager",
        default_version: crate::kube::components::ccm::DEFAULT_VERSION,
        namespace: "kube-system",
        availability: Availability::OwnedByCluster(
            "every hk8s_cluster installs the hcloud cloud controller; tune it (version, values, token) or \
             turn it off with the cluster's `cloud_controller` attribute",
        ),
    },
    Entry {
        name: "hcloud-csi",
        description: "Hetzner Cloud volumes as persistent volumes (plain and LUKS-encrypted storage classes)",
        repository: "https://charts.hetzner.cloud",
        chart: "hcloud-csi",
        default_version: "2.22.0",
        namespace: "kube-system",
        availability: Availability::Installable,
    },
    Entry {
        name: "cluster-autoscaler",
        description: "Kubernetes cluster-autoscaler with the Hetzner provider, for autoscaled pools",
        repository: "https://kubernetes.github.io/autoscaler",
        chart: "cluster-autoscaler",
        default_version: "9.59.0",
        namespace: "kube-system",
        availability: Availability::Installable,
    },
    Entry {
        name: "metrics-server",
        description: "resource metrics for kubectl top and autoscalers (kubelets' serving certificates \
                      are approved by the cluster's kubelet-csr-approver, so TLS stays verified)",
        repository: "https://kubernetes-sigs.github.io/metrics-server/",
        chart: "metrics-server",
        default_version: "3.13.0",
        namespace: "kube-system",
        availability: Availability::Installable,
    },
    Entry {
        name: "kubelet-serving-cert-approver",
        description: "approves kubelet serving certificates",
        repository: crate::kube::components::csr_approver::REPOSITORY,
        chart: crate::kube::components::csr_approver::RELEASE,
        default_version: crate::kube::components::csr_approver::DEFAULT_VERSION,
        namespace: "kube-system",
        availability: Availability::OwnedByCluster(
            "every hk8s_cluster installs kubelet-csr-approver, which approves kubelet serving certificates; \
             nothing to add",
        ),
    },
    Entry {
        name: "longhorn",
        description: "replicated block storage on the nodes' disks",
        repository: "https://charts.longhorn.io",
        chart: "longhorn",
        default_version: "1.10.1",
        namespace: "longhorn-system",
        availability: Availability::NeedsExtensions(&[
            "siderolabs/iscsi-tools",
            "siderolabs/util-linux-tools",
        ]),
    },
    Entry {
        name: "cilium",
        description: "Cilium CNI with kube-proxy replacement",
        repository: crate::kube::components::cilium::REPOSITORY,
        chart: crate::kube::components::cilium::CHART,
        default_version: crate::kube::components::cilium::DEFAULT_VERSION,
        namespace: "kube-system",
        availability: Availability::OwnedByCluster(
            "a cluster with `cni = \"cilium\"` installs Cilium itself on its first apply (no pod can start \
             before a CNI runs); tune it with the cluster's `cilium` attribute",
        ),
    },
    Entry {
        name: "cert-manager",
        description: "X.509 certificate management (with its CRDs)",
        repository: "https://charts.jetstack.io",
        chart: "cert-manager",
        default_version: "v1.19.1",
        namespace: "cert-manager",
        availability: Availability::Installable,
    },
    Entry {
        name: "traefik",
        description: "Traefik ingress controller behind a Hetzner load balancer",
        repository: "https://traefik.github.io/charts",
        chart: "traefik",
        default_version: "37.3.0",
        namespace: "traefik",
        availability: Availability::Installable,
    },
];

/// The catalog entry called `name`.
pub fn find(name: &str) -> Option<&'static Entry> {
    CATALOG.iter().find(|e| e.name == name)
}

/// The catalog names, comma-separated, for messages.
pub fn names() -> String {
    CATALOG
        .iter()
        .map(|e| e.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why `hk8s_addon` refuses `entry` at validate time, if it does: what the cluster owns or what
/// its image cannot run.
pub fn refusal(entry: &Entry) -> Option<(&'static str, String)> {
    match entry.availability {
        Availability::Installable => None,
        Availability::OwnedByCluster(why) => Some((
            "Addon installed by the cluster",
            format!("{:?} is not an addon: {why}", entry.name),
        )),
        Availability::NeedsExtensions(extensions) => Some((
            "Addon needs Talos system extensions",
            format!(
                "{} needs nodes booted from a Talos image with the system extensions {}; the cluster's \
                 image carries none (custom Image Factory schematics come with the cluster's \
                 `image.schematic`, which this version does not have yet)",
                entry.name,
                extensions.join(" and ")
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalog() {
        let expected = [
            "hcloud-ccm",
            "hcloud-csi",
            "cluster-autoscaler",
            "metrics-server",
            "kubelet-serving-cert-approver",
            "longhorn",
            "cilium",
            "cert-manager",
            "traefik",
        ];
        assert_eq!(CATALOG.iter().map(|e| e.name).collect::<Vec<_>>(), expected);
        assert!(find("ingress-nginx").is_none());
        for e in CATALOG {
            assert!(e.repository.starts_with("https://"), "{}", e.name);
        }
        let installable: Vec<&str> = CATALOG
            .iter()
            .filter(|e| refusal(e).is_none())
            .map(|e| e.name)
            .collect();
        assert_eq!(
            installable,
            [
                "hcloud-csi",
                "cluster-autoscaler",
                "metrics-server",
                "cert-manager",
                "traefik"
            ]
        );
        let (_, why) = refusal(find("cilium").unwrap()).unwrap();
        assert!(why.contains("`cilium` attribute"));
        let (_, why) = refusal(find("longhorn").unwrap()).unwrap();
        assert!(why.contains("siderolabs/iscsi-tools"));
    }
}
