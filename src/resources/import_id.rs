//! Import ids (DESIGN.md §1 "Import"): `<cluster>` for clusters, `<cluster>/<pool>` for pools,
//! `<cluster>/<namespace>/<name>` for addons. Parsed before anything else so a typo is reported
//! as such.

use crate::hcloud::names;
use crate::kube::names as kube_names;
use crate::tfplugin::diag::{Diagnostic, Diagnostics};

/// What an import id names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportId {
    /// A cluster.
    Cluster {
        /// Cluster name.
        cluster: String,
    },
    /// A node pool.
    Pool {
        /// Cluster name.
        cluster: String,
        /// Pool name.
        pool: String,
    },
    /// An addon.
    Addon {
        /// Cluster name.
        cluster: String,
        /// Namespace.
        namespace: String,
        /// Addon (release) name.
        name: String,
    },
}

fn invalid(
    id: &str,
    expected: &str,
    example: &str,
    problem: impl std::fmt::Display,
) -> Diagnostics {
    Diagnostic::error(
        "Invalid import id",
        format!(
            "{id:?} is not {expected}: {problem}; for example `terraform import ADDRESS {example}`"
        ),
    )
    .into()
}

/// Parses a cluster import id.
pub fn cluster(id: &str) -> Result<ImportId, Diagnostics> {
    let expected = "a cluster name";
    names::check_cluster_name(id).map_err(|e| invalid(id, expected, "prod", e))?;
    Ok(ImportId::Cluster {
        cluster: id.to_owned(),
    })
}

/// Parses a node-pool import id.
pub fn pool(id: &str) -> Result<ImportId, Diagnostics> {
    let expected = "<cluster>/<pool>";
    let example = "prod/general";
    let parts: Vec<&str> = id.split('/').collect();
    let [cluster, pool] = parts.as_slice() else {
        return Err(invalid(
            id,
            expected,
            example,
            format!("it has {} part(s), not 2", parts.len()),
        ));
    };
    names::check_cluster_name(cluster).map_err(|e| invalid(id, expected, example, e))?;
    names::check_pool_name(pool).map_err(|e| invalid(id, expected, example, e))?;
    Ok(ImportId::Pool {
        cluster: (*cluster).to_owned(),
        pool: (*pool).to_owned(),
    })
}

/// Parses an addon import id.
pub fn addon(id: &str) -> Result<ImportId, Diagnostics> {
    let expected = "<cluster>/<namespace>/<name>";
    let example = "prod/kube-system/hcloud-csi";
    let parts: Vec<&str> = id.split('/').collect();
    let [cluster, namespace, name] = parts.as_slice() else {
        return Err(invalid(
            id,
            expected,
            example,
            format!("it has {} part(s), not 3", parts.len()),
        ));
    };
    names::check_cluster_name(cluster).map_err(|e| invalid(id, expected, example, e))?;
    kube_names::check_namespace(namespace).map_err(|e| invalid(id, expected, example, e))?;
    kube_names::check_release_name(name).map_err(|e| invalid(id, expected, example, e))?;
    Ok(ImportId::Addon {
        cluster: (*cluster).to_owned(),
        namespace: (*namespace).to_owned(),
        name: (*name).to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(r: Result<ImportId, Diagnostics>) -> String {
        r.unwrap_err().iter().next().unwrap().detail.clone()
    }

    #[test]
    fn ids() {
        assert_eq!(
            cluster("prod").unwrap(),
            ImportId::Cluster {
                cluster: "prod".into()
            }
        );
        assert_eq!(
            pool("prod/general").unwrap(),
            ImportId::Pool {
                cluster: "prod".into(),
                pool: "general".into()
            }
        );
        assert!(matches!(
            addon("prod/kube-system/hcloud-csi").unwrap(),
            ImportId::Addon { .. }
        ));
        assert!(detail(cluster("Prod")).contains("uppercase"));
        assert!(detail(pool("prod")).contains("<cluster>/<pool>"));
        assert!(detail(pool("prod/cp")).contains("reserved"));
        assert!(detail(addon("prod/csi")).contains("not 3"));
        assert!(detail(addon("prod/Kube/x")).contains("namespace"));
    }
}
