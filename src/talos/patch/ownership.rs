//! What the provider owns in a machine configuration, and the check that a patch leaves it
//! alone. Changing these through a patch would desynchronise the cluster from the provider's
//! state (a different endpoint than the load balancer, a CA that doesn't match the stored
//! secrets, a hostname that doesn't match the server).

use super::Error;
use crate::talos::yaml::Node;

/// v1alpha1 paths the provider owns, with the reason shown to the user.
const OWNED_V1ALPHA1_PATHS: &[(&[&str], &str)] = &[
    (&["version"], "document version"),
    (&["machine", "type"], "node role"),
    (&["machine", "token"], "cluster secrets"),
    (&["machine", "ca"], "Talos API CA"),
    (&["machine", "network", "hostname"], "node hostname"),
    (&["cluster", "id"], "cluster identity"),
    (&["cluster", "secret"], "cluster identity"),
    (&["cluster", "clusterName"], "cluster name"),
    (
        &["cluster", "controlPlane", "endpoint"],
        "cluster endpoint (the load balancer)",
    ),
    (&["cluster", "token"], "Kubernetes bootstrap token"),
    (&["cluster", "ca"], "Kubernetes CA"),
    (&["cluster", "aggregatorCA"], "aggregator CA"),
    (&["cluster", "serviceAccount"], "service-account key"),
    (
        &["cluster", "secretboxEncryptionSecret"],
        "secrets encryption key",
    ),
    (
        &["cluster", "aescbcEncryptionSecret"],
        "secrets encryption key",
    ),
    (&["cluster", "etcd", "ca"], "etcd CA"),
];

/// Typed documents the provider owns entirely.
const OWNED_KINDS: &[(&str, &str)] = &[
    ("HostnameConfig", "node hostname"),
    ("DiscoveryIdentityConfig", "cluster identity"),
    (
        "KubeClusterConfig",
        "cluster name and endpoint (the load balancer)",
    ),
    ("KubeAPIServerCAConfig", "Kubernetes CA"),
    ("KubeAggregatorCAConfig", "aggregator CA"),
    ("KubeServiceAccountConfig", "service-account key"),
    ("KubeEtcdEncryptionConfig", "secrets encryption key"),
];

/// Refuses a patch document that sets or deletes anything the provider owns.
pub(super) fn check(patch: usize, document: &Node) -> Result<(), Error> {
    let owned = |path: String, reason| Error::ProviderOwned {
        patch,
        path,
        reason,
    };
    if let Some(kind) = document.get_path(&["kind"]).and_then(Node::as_str) {
        if let Some((_, reason)) = OWNED_KINDS.iter().find(|(owned, _)| *owned == kind) {
            return Err(owned(kind.to_owned(), reason));
        }
        return Ok(());
    }
    // v1alpha1: `version` may repeat the current value; everything else is refused if present.
    for (path, reason) in OWNED_V1ALPHA1_PATHS {
        if *path == ["version"] {
            match document.get_path(path) {
                None => {}
                Some(Node::String(version)) if version == "v1alpha1" => {}
                Some(_) => return Err(owned("version".into(), reason)),
            }
            continue;
        }
        if document.get_path(path).is_some() {
            return Err(owned(path.join("."), reason));
        }
        // Deleting an ancestor (e.g. `cluster: {$patch: delete}`) would remove it too.
        for depth in 1..path.len() {
            let is_deleted = document
                .get_path(&path[..depth])
                .and_then(Node::as_map)
                .and_then(|map| map.get("$patch"))
                .and_then(Node::as_str)
                == Some("delete");
            if is_deleted {
                return Err(owned(path[..depth].join("."), reason));
            }
        }
    }
    Ok(())
}
