//! The labels hk8s puts on every Hetzner object and the label selectors that find them again.
//!
//! Every object of a cluster carries `hk8s.io/cluster=<name>`; servers and firewalls add
//! `hk8s.io/role`, pool servers `hk8s.io/pool`. Selectors are built here only, so lookups and the
//! labels written at creation can never disagree. The syntax rules for user-supplied keys and
//! values live in [`crate::kube::labels`]; the values used here are cluster and pool names, which
//! [`super::names`] already restricts to DNS labels.

use std::collections::BTreeMap;
use std::fmt;

/// Label naming the cluster an object belongs to.
pub const CLUSTER: &str = "hk8s.io/cluster";
/// Label naming what an object does in the cluster (see [`Role`]).
pub const ROLE: &str = "hk8s.io/role";
/// Label naming the node pool of a worker server.
pub const POOL: &str = "hk8s.io/pool";
/// Label of a Talos snapshot: its Talos version.
pub const TALOS_VERSION: &str = "hk8s.io/talos-version";
/// Label of a Talos snapshot (and of servers made from it): its Image Factory schematic id, as
/// [`schematic_value`] writes it.
pub const SCHEMATIC: &str = "hk8s.io/schematic";

/// Longest label value Hetzner documents ("63 characters or less"; its published OpenAPI
/// description says the same, even though hcloud-go's own check lets 64 through).
pub const MAX_VALUE_LEN: usize = 63;

/// The [`SCHEMATIC`] label value of a schematic id. Image Factory ids are 64 hex digits, one more
/// than a Hetzner label value holds, so the label keeps the first 63 (252 bits: two schematics
/// never share them in practice). Every lookup compares through [`schematic_matches`].
pub fn schematic_value(id: &str) -> String {
    id.chars().take(MAX_VALUE_LEN).collect()
}

/// Whether a [`SCHEMATIC`] label value names schematic `id`: its [`schematic_value`], or the
/// whole id (labels written by hand, or by hk8s before it shortened them).
pub fn schematic_matches(label: &str, id: &str) -> bool {
    label == id || label == schematic_value(id)
}

/// Labels of a Hetzner object (sorted, so requests and comparisons are deterministic).
pub type Labels = BTreeMap<String, String>;

/// What an object does in the cluster (value of [`ROLE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Control-plane servers, their firewall and placement groups.
    ControlPlane,
    /// Worker servers of node pools, their firewall and placement groups.
    Worker,
    /// The Kubernetes/Talos API load balancer.
    ApiLoadBalancer,
}

impl Role {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::ControlPlane => "control-plane",
            Role::Worker => "worker",
            Role::ApiLoadBalancer => "api-lb",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An equality-only label selector (`k1=v1,k2=v2`), built from the same pairs as the labels it
/// selects. `Display` gives the `label_selector` query value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    terms: Labels,
}

impl Selector {
    /// Everything of cluster `cluster`.
    pub fn cluster(cluster: &str) -> Self {
        Selector::default().with(CLUSTER, cluster)
    }

    /// Adds `key=value` (replacing an earlier value for `key`).
    #[must_use]
    pub fn with(mut self, key: &str, value: &str) -> Self {
        self.terms.insert(key.to_string(), value.to_string());
        self
    }

    /// Adds the role term.
    #[must_use]
    pub fn role(self, role: Role) -> Self {
        self.with(ROLE, role.as_str())
    }

    /// Adds the pool term.
    #[must_use]
    pub fn pool(self, pool: &str) -> Self {
        self.with(POOL, pool)
    }

    /// The labels that this selector selects (to put on a new object).
    pub fn labels(&self) -> Labels {
        self.terms.clone()
    }

    /// Whether `labels` carry every term.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.terms.iter().all(|(k, v)| labels.get(k) == Some(v))
    }
}

impl From<&Labels> for Selector {
    /// A selector for exactly these labels.
    fn from(labels: &Labels) -> Self {
        Selector {
            terms: labels.clone(),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (k, v) in &self.terms {
            if !first {
                f.write_str(",")?;
            }
            first = false;
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schematic_labels_fit_hetzners_value_length() {
        let id = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba";
        let value = schematic_value(id);
        assert_eq!(value.len(), MAX_VALUE_LEN);
        assert!(id.starts_with(&value));
        assert!(schematic_matches(&value, id));
        assert!(schematic_matches(id, id));
        assert!(!schematic_matches(&value[..62], id));
        assert_eq!(schematic_value("short"), "short");
    }

    #[test]
    fn builds_sorted_selectors_and_matching_labels() {
        let sel = Selector::cluster("prod").role(Role::ControlPlane);
        assert_eq!(
            sel.to_string(),
            "hk8s.io/cluster=prod,hk8s.io/role=control-plane"
        );
        let labels = sel.labels();
        assert!(sel.matches(&labels));
        let mut other = labels.clone();
        other.insert(ROLE.into(), "worker".into());
        assert!(!sel.matches(&other));
        assert!(Selector::cluster("prod").matches(&other));
        assert_eq!(Selector::from(&labels), sel);
    }

    #[test]
    fn pool_selector() {
        let sel = Selector::cluster("c").role(Role::Worker).pool("general");
        assert_eq!(
            sel.to_string(),
            "hk8s.io/cluster=c,hk8s.io/pool=general,hk8s.io/role=worker"
        );
    }
}
