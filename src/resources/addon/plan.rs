//! Plan-time defaults of `hk8s_addon`: catalog version and namespace planned as known values,
//! and status/revision unknown only when the release will change.

use super::catalog;
use crate::resources::config_view as view;
use crate::resources::connection;
use crate::tfplugin::diag::{AttributePath, Diagnostics};
use crate::tfplugin::framework::PlannedChange;
use crate::tfplugin::value::Value;

fn attr(name: &str) -> AttributePath {
    AttributePath::root(name)
}

/// Adjusts the framework's plan for an addon; `prior` is null on create.
pub fn modify(
    config: &Value,
    prior: &Value,
    mut change: PlannedChange,
) -> Result<PlannedChange, Diagnostics> {
    if change.planned.is_null() {
        return Ok(change);
    }
    let name = view::string(config, &attr("name"));
    let entry = name
        .and_then(catalog::find)
        .filter(|_| config.get("chart").is_none_or(Value::is_null));
    let cluster = view::known(config, &attr("cluster"));
    if view::is_unknown(&change.planned, &attr("version"))
        && let Some(entry) = entry
    {
        change
            .planned
            .set_at_path(&attr("version"), Value::from(entry.default_version));
    }
    if view::is_unknown(&change.planned, &attr("namespace"))
        && let Some(name) = name
    {
        let namespace = entry.map_or(name, |e| e.namespace);
        change
            .planned
            .set_at_path(&attr("namespace"), Value::from(namespace));
    }
    if view::is_unknown(&change.planned, &attr("encryption_passphrase"))
        && name.is_some_and(|n| n != super::release::CSI)
    {
        change
            .planned
            .set_at_path(&attr("encryption_passphrase"), Value::Null);
    }
    let cluster_name = cluster.and_then(|c| connection::string(c, "name"));
    let namespace = view::string(&change.planned, &attr("namespace"));
    if let (Some(cluster_name), Some(namespace), Some(name)) = (cluster_name, namespace, name)
        && !change.planned.get("id").is_some_and(Value::is_known)
    {
        let id = format!("{cluster_name}/{namespace}/{name}");
        change.planned.set_at_path(&attr("id"), Value::from(id));
    }
    if !prior.is_null() {
        let release_changes = ["version", "values", "chart", "cluster"]
            .iter()
            .any(|field| prior.get(field) != change.planned.get(field));
        if release_changes {
            change.set_unknown(&attr("status"));
            change.set_unknown(&attr("revision"));
        }
    }
    Ok(change)
}

#[cfg(test)]
mod tests;
