//! The desired pool as typed values, read at apply time from a planned (wholly known) value and
//! the cluster's connection.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::hcloud::catalog::{self, Architecture};
use crate::resources::cluster_ref::ClusterRef;
use crate::resources::config_view as view;
use crate::resources::fleet::machine;
use crate::resources::timeouts::{self, Timeouts};
use crate::talos::config::Taint;
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::tfplugin::schema::duration;
use crate::tfplugin::value::Value;

use super::schema::{DEFAULT_DRAIN_TIMEOUT, DEFAULT_MAX_UNAVAILABLE};

/// Default `timeouts`: draining nodes one at a time can take long.
pub const DEFAULT_TIMEOUTS: Timeouts = Timeouts {
    create: Duration::from_secs(30 * 60),
    update: Duration::from_secs(60 * 60),
    delete: Duration::from_secs(30 * 60),
};

/// A pool's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// `node_count` nodes, made and removed by the provider.
    Fixed(u32),
    /// Sized by the cluster-autoscaler between `min` and `max`; the provider only removes nodes
    /// above `max`.
    Autoscaled {
        /// Fewest nodes.
        min: u32,
        /// Most nodes.
        max: u32,
    },
}

impl Size {
    /// Nodes the provider adds to reach the size, for a pool of `current` nodes.
    pub fn missing(self, current: usize) -> usize {
        match self {
            Size::Fixed(n) => (n as usize).saturating_sub(current),
            Size::Autoscaled { .. } => 0,
        }
    }

    /// Most nodes the provider keeps.
    pub fn most(self) -> usize {
        match self {
            Size::Fixed(n) | Size::Autoscaled { max: n, .. } => n as usize,
        }
    }

    /// Whether the cluster-autoscaler sizes the pool.
    pub fn is_autoscaled(self) -> bool {
        matches!(self, Size::Autoscaled { .. })
    }
}

/// The whole desired pool.
#[derive(Debug, Clone)]
pub struct PoolSpec {
    /// The cluster it belongs to.
    pub cluster: ClusterRef,
    /// Pool name.
    pub name: String,
    /// Hetzner server type.
    pub server_type: String,
    /// Its architecture (decides the snapshot).
    pub architecture: Architecture,
    /// How many nodes, or who decides.
    pub size: Size,
    /// Locations, nodes spread round robin over them.
    pub locations: Vec<String>,
    /// Kubernetes node labels.
    pub labels: BTreeMap<String, String>,
    /// Node taints.
    pub taints: Vec<Taint>,
    /// Taints as written, `key=value:Effect`, for comparing with the Node objects.
    pub taint_texts: Vec<String>,
    /// Pool patches (after the cluster's).
    pub config_patches: Vec<String>,
    /// Nodes replaced, upgraded or removed at once.
    pub max_unavailable: u32,
    /// How long one node's drain may take.
    pub drain_timeout: Duration,
    /// Hetzner's delete protection on the servers.
    pub delete_protection: bool,
    /// Budgets.
    pub timeouts: Timeouts,
}

fn attr(name: &str) -> AttributePath {
    AttributePath::root(name)
}

fn unexpected(path: &AttributePath, what: impl std::fmt::Display) -> Diagnostics {
    Diagnostic::error(
        "Unexpected value in the plan",
        format!("{path}: {what}. This is a bug in the provider: the plan should have refused it."),
    )
    .at(path.clone())
    .into()
}

fn strings(value: &Value, path: &AttributePath) -> Vec<String> {
    view::strings(value, path)
        .into_iter()
        .map(|(_, s)| s.to_owned())
        .collect()
}

impl PoolSpec {
    /// Reads the planned value.
    ///
    /// # Errors
    /// An unknown cluster connection, or a value validation should have refused.
    pub fn from_planned(planned: &Value) -> Result<Self, Diagnostics> {
        let connection = view::known(planned, &attr("cluster"))
            .filter(|c| !c.is_null())
            .ok_or_else(|| unexpected(&attr("cluster"), "the cluster connection is not known"))?;
        let cluster = ClusterRef::from_connection(connection)?;
        let name = view::string(planned, &attr("name"))
            .ok_or_else(|| unexpected(&attr("name"), "not known"))?
            .to_owned();
        let server_type = view::string(planned, &attr("server_type"))
            .ok_or_else(|| unexpected(&attr("server_type"), "not known"))?
            .to_owned();
        let architecture = catalog::server_type(&server_type)
            .map_err(|e| unexpected(&attr("server_type"), e))?
            .architecture;
        let bound = |name: &str| {
            let path = attr("autoscaling").attr(name);
            view::integer(planned, &path)
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| unexpected(&path, "not a known count"))
        };
        let size = if view::known(planned, &attr("autoscaling")).is_some_and(|a| !a.is_null()) {
            Size::Autoscaled {
                min: bound("min")?,
                max: bound("max")?,
            }
        } else {
            Size::Fixed(
                view::integer(planned, &attr("node_count"))
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| unexpected(&attr("node_count"), "not a known count"))?,
            )
        };
        let mut locations = strings(planned, &attr("locations"));
        if locations.is_empty() {
            locations.push(cluster.location.clone());
        }
        let labels = match view::known(planned, &attr("labels")) {
            Some(Value::Map(entries)) => entries
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned())))
                .collect(),
            _ => BTreeMap::new(),
        };
        let taint_texts = strings(planned, &attr("taints"));
        let taints = taint_texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                machine::taint(text).map_err(|e| unexpected(&attr("taints").index(i), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let strategy = attr("update_strategy");
        let max_unavailable = view::integer(planned, &strategy.attr("max_unavailable"))
            .unwrap_or(DEFAULT_MAX_UNAVAILABLE);
        let drain_path = strategy.attr("drain_timeout");
        let drain_timeout =
            duration::parse(view::string(planned, &drain_path).unwrap_or(DEFAULT_DRAIN_TIMEOUT))
                .map_err(|e| unexpected(&drain_path, e))?;
        Ok(PoolSpec {
            cluster,
            name,
            server_type,
            architecture,
            size,
            locations,
            labels,
            taints,
            taint_texts,
            config_patches: strings(planned, &attr("config_patches")),
            max_unavailable: u32::try_from(max_unavailable.max(1)).unwrap_or(1),
            drain_timeout,
            delete_protection: view::boolean(planned, &attr("delete_protection")).unwrap_or(false),
            timeouts: timeouts::parse(planned, DEFAULT_TIMEOUTS)?,
        })
    }
}
