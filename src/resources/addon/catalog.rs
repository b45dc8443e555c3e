//! The addon catalog: what each name installs, from where, at which pinned version, in which
//! namespace. Values the provider derives from the cluster (network id, pod CIDR, tokens) are
//! merged under the user's `values` at apply time.

/// Where an addon comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A Helm chart in a repository.
    Chart {
        /// Repository URL.
        repository: &'static str,
        /// Chart name in it.
        chart: &'static str,
    },
    /// A plain manifest (no chart exists), applied with server-side apply.
    Manifest {
        /// URL with `{version}` where the version goes.
        url_template: &'static str,
    },
}

/// One catalog entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// The addon name users write.
    pub name: &'static str,
    /// What it is.
    pub description: &'static str,
    /// Where it comes from.
    pub source: Source,
    /// The version installed when none is given.
    pub default_version: &'static str,
    /// The namespace installed into when none is given.
    pub namespace: &'static str,
    /// The cluster CNI it requires, if any.
    pub requires_cni: Option<&'static str>,
}

const fn chart(repository: &'static str, chart: &'static str) -> Source {
    Source::Chart { repository, chart }
}

/// Every catalog entry.
pub const CATALOG: &[Entry] = &[
    Entry {
        name: "hcloud-ccm",
        description: "Hetzner Cloud controller manager (node lifecycle, routes, load balancers)",
        source: chart(
            "https://charts.hetzner.cloud",
            "hcloud-cloud-controller-manager",
        ),
        default_version: "1.35.0",
        namespace: "kube-system",
        requires_cni: None,
    },
    Entry {
        name: "hcloud-csi",
        description: "Hetzner Cloud volumes as persistent volumes",
        source: chart("https://charts.hetzner.cloud", "hcloud-csi"),
        default_version: "2.22.0",
        namespace: "kube-system",
        requires_cni: None,
    },
    Entry {
        name: "cluster-autoscaler",
        description: "Kubernetes cluster-autoscaler with the Hetzner provider, for autoscaled pools",
        source: chart(
            "https://kubernetes.github.io/autoscaler",
            "cluster-autoscaler",
        ),
        default_version: "9.59.0",
        namespace: "kube-system",
        requires_cni: None,
    },
    Entry {
        name: "metrics-server",
        description: "resource metrics for kubectl top and autoscalers",
        source: chart(
            "https://kubernetes-sigs.github.io/metrics-server/",
            "metrics-server",
        ),
        default_version: "3.13.0",
        namespace: "kube-system",
        requires_cni: None,
    },
    Entry {
        name: "kubelet-serving-cert-approver",
        description: "approves kubelet serving certificates (needed by metrics-server)",
        source: Source::Manifest {
            url_template: "https://raw.githubusercontent.com/alex1989hu/kubelet-serving-cert-approver/{version}/deploy/standalone-install.yaml",
        },
        default_version: "v0.11.0",
        namespace: "kubelet-serving-cert-approver",
        requires_cni: None,
    },
    Entry {
        name: "longhorn",
        description: "replicated block storage on the nodes' disks",
        source: chart("https://charts.longhorn.io", "longhorn"),
        default_version: "1.10.1",
        namespace: "longhorn-system",
        requires_cni: None,
    },
    Entry {
        name: "cilium",
        description: "Cilium CNI with kube-proxy replacement (cluster `cni = \"cilium\"`)",
        source: chart("https://helm.cilium.io/", "cilium"),
        default_version: "1.18.4",
        namespace: "kube-system",
        requires_cni: Some("cilium"),
    },
    Entry {
        name: "cert-manager",
        description: "X.509 certificate management",
        source: chart("https://charts.jetstack.io", "cert-manager"),
        default_version: "v1.19.1",
        namespace: "cert-manager",
        requires_cni: None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_design_catalog() {
        let expected = [
            "hcloud-ccm",
            "hcloud-csi",
            "cluster-autoscaler",
            "metrics-server",
            "kubelet-serving-cert-approver",
            "longhorn",
            "cilium",
            "cert-manager",
        ];
        assert_eq!(CATALOG.iter().map(|e| e.name).collect::<Vec<_>>(), expected);
        assert_eq!(find("cilium").unwrap().requires_cni, Some("cilium"));
        assert!(find("ingress-nginx").is_none());
        for e in CATALOG {
            match e.source {
                Source::Chart { repository, .. } => assert!(repository.starts_with("https://")),
                Source::Manifest { url_template } => assert!(url_template.contains("{version}")),
            }
        }
    }
}
