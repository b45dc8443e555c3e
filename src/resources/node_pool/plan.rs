//! Plan-time checks against the cluster's connection, and diffing of `hk8s_node_pool`: derived
//! values planned as known, `nodes` unknown only when nodes change, and warnings naming the
//! nodes a plan rolls, reboots or removes.

use crate::hcloud::catalog;
use crate::hcloud::cidr::{self, AddressPlan, Role};
use crate::resources::config_view as view;
use crate::resources::connection;
use crate::resources::nodes;
use crate::resources::protection;
use crate::resources::validators::{error_at, patch_contract_errors};
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::tfplugin::framework::PlannedChange;
use crate::tfplugin::value::Value;

use super::schema::{DEFAULT_DRAIN_TIMEOUT, DEFAULT_MAX_UNAVAILABLE};

fn attr(name: &str) -> AttributePath {
    AttributePath::root(name)
}

/// Checks the pool against its cluster's connection, when known: locations in the cluster's
/// network zone, patches that fit the cluster's Talos version, and room in the address plan for
/// the largest size the pool can reach.
pub fn check_against_cluster(config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let Some(cluster) = view::known(config, &attr("cluster")) else {
        return diags;
    };
    if let Some(zone) = connection::string(cluster, "network_zone") {
        for (i, name) in view::strings(config, &attr("locations")) {
            if let Ok(location) = catalog::location(name)
                && location.network_zone.as_str() != zone
            {
                let same: Vec<&str> = catalog::LOCATIONS
                    .iter()
                    .filter(|l| l.network_zone.as_str() == zone)
                    .map(|l| l.name)
                    .collect();
                diags.extend(error_at(
                    &attr("locations").index(i),
                    "Location in another network zone",
                    format!(
                        "pool location {name:?} is in network zone {}, but the cluster's network is in {zone}; use {}",
                        location.network_zone,
                        same.join(", ")
                    ),
                ));
            }
        }
    }
    diags.extend(patch_contract_errors(
        &attr("config_patches"),
        &view::strings(config, &attr("config_patches")),
        connection::string(cluster, "talos_version"),
    ));
    let locations = view::strings(config, &attr("locations"));
    if view::known(config, &attr("autoscaling")).is_some_and(|a| !a.is_null())
        && locations.len() > 1
    {
        diags.extend(error_at(
            &attr("locations"),
            "An autoscaled pool has one location",
            format!(
                "an autoscaled pool is one cluster-autoscaler node group, which creates servers in \
                 one location; give one location (got {}), and make one autoscaled pool per \
                 location to spread nodes",
                locations.len()
            ),
        ));
    }
    let parse =
        |field, role| connection::string(cluster, field).and_then(|t| cidr::parse(role, t).ok());
    let plan = AddressPlan {
        network: None,
        node_subnet: parse("node_subnet", Role::NodeSubnet),
        pods: parse("pod_cidr", Role::Pods),
        services: None,
    };
    let largest = [
        (
            attr("node_count"),
            view::integer(config, &attr("node_count")),
        ),
        (
            attr("autoscaling").attr("max"),
            view::integer(config, &attr("autoscaling").attr("max")),
        ),
    ];
    for (path, size) in largest {
        if let Some(size) = size
            && let Err(e) = plan.check_node_count(u64::try_from(size).unwrap_or(0))
        {
            diags.extend(error_at(
                &path,
                "Pool does not fit the cluster's address plan",
                format!("{e} (counting this pool alone)"),
            ));
        }
    }
    diags
}

/// Adjusts the framework's plan for a pool; `prior` is null on create.
pub fn modify(
    config: &Value,
    prior: &Value,
    mut change: PlannedChange,
) -> Result<PlannedChange, Diagnostics> {
    protection::check("node pool", prior, &change)?;
    if change.planned.is_null() {
        return Ok(change);
    }
    let problems = check_against_cluster(config);
    if problems.has_error() {
        return Err(problems);
    }
    plan_derived_values(config, prior, &mut change);
    if !prior.is_null() {
        plan_update(prior, &mut change);
    }
    Ok(change)
}

fn plan_derived_values(config: &Value, prior: &Value, change: &mut PlannedChange) {
    let cluster = view::known(config, &attr("cluster"));
    let pool = view::string(config, &attr("name"));
    if let (Some(cluster_name), Some(pool)) =
        (cluster.and_then(|c| connection::string(c, "name")), pool)
        && !change.planned.get("id").is_some_and(Value::is_known)
    {
        change
            .planned
            .set_at_path(&attr("id"), Value::from(format!("{cluster_name}/{pool}")));
    }
    if let Some(location) = cluster.and_then(|c| connection::string(c, "location"))
        && view::is_unknown(&change.planned, &attr("locations"))
    {
        change
            .planned
            .set_at_path(&attr("locations"), Value::List(vec![Value::from(location)]));
    }
    if view::is_unknown(&change.planned, &attr("update_strategy")) {
        change.planned.set_at_path(
            &attr("update_strategy"),
            Value::object([
                ("max_unavailable", Value::from(DEFAULT_MAX_UNAVAILABLE)),
                ("drain_timeout", Value::from(DEFAULT_DRAIN_TIMEOUT)),
            ]),
        );
    }
    let count_configured = !config.get("node_count").is_none_or(Value::is_null);
    let autoscaling = config.get("autoscaling").filter(|a| !a.is_null());
    if !count_configured {
        match autoscaling {
            None => {
                change
                    .planned
                    .set_at_path(&attr("node_count"), Value::from(1));
            }
            Some(_) if prior.is_null() => {
                // The autoscaler decides, from the moment the pool exists.
                change
                    .planned
                    .set_at_path(&attr("node_count"), Value::Unknown);
            }
            Some(_) => {
                // Refresh reports what the autoscaler made, so an unchanged pool plans nothing.
                // An update reports the size it ends with: the autoscaler may act meanwhile.
                let mut others = change.planned.clone();
                for field in ["node_count", "nodes"] {
                    others.set_at_path(
                        &attr(field),
                        prior.get(field).cloned().unwrap_or(Value::Null),
                    );
                }
                if &others != prior {
                    change.set_unknown(&attr("node_count"));
                    change.set_unknown(&attr("nodes"));
                }
            }
        }
    }
}

fn show(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Unknown) => "(known after apply)".to_owned(),
        Some(Value::List(items)) => {
            format!(
                "[{}]",
                items
                    .iter()
                    .map(|i| i.as_str().unwrap_or("?"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
        Some(Value::Null) | None => "(unset)".to_owned(),
        Some(other) => other.kind_name().to_owned(),
    }
}

fn plan_update(prior: &Value, change: &mut PlannedChange) {
    let planned = change.planned.clone();
    let diff = |path: &AttributePath| {
        let (before, after) = (prior.at_path(path), planned.at_path(path));
        (before != after).then(|| format!("{path}: {} → {}", show(before), show(after)))
    };
    let names = nodes::node_names(prior);
    let all = nodes::describe(&names);
    let recorded = |field: &str| -> Vec<String> {
        match prior.get("nodes") {
            Some(Value::List(items)) => items
                .iter()
                .filter_map(|n| n.get(field).and_then(Value::as_str).map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    // A change moves nodes only when some node runs what the plan no longer allows (a pool
    // imported with another list order, or a location added, moves nothing).
    let planned_type = view::string(&planned, &attr("server_type"));
    let types = recorded("server_type");
    let type_moves = types.is_empty() || types.iter().any(|t| Some(t.as_str()) != planned_type);
    let planned_locations: Vec<&str> = view::strings(&planned, &attr("locations"))
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    let locations_move = view::is_unknown(&planned, &attr("locations"))
        || recorded("location")
            .iter()
            .any(|l| !planned_locations.contains(&l.as_str()));
    // An imported pool has no connection yet: the first apply records it, and the nodes are
    // brought to it without a plan-time comparison.
    let had_cluster = prior.get("cluster").is_some_and(|c| !c.is_null());
    let rolling: Vec<String> = [
        (attr("server_type"), type_moves),
        (attr("locations"), locations_move),
        (connection::field_path("talos_version"), had_cluster),
        (connection::field_path("kubernetes_version"), had_cluster),
        (connection::field_path("disk_encryption"), had_cluster),
        (connection::field_path("image_schematic"), had_cluster),
    ]
    .iter()
    .filter(|(_, moves)| *moves)
    .filter_map(|(path, _)| diff(path))
    .collect();
    if !rolling.is_empty() {
        let at_once =
            view::integer(&planned, &attr("update_strategy").attr("max_unavailable")).unwrap_or(1);
        // New disks (encryption) or a new snapshot (schematic): every node is replaced.
        let replaced_all = had_cluster
            && (diff(&connection::field_path("disk_encryption")).is_some()
                || diff(&connection::field_path("image_schematic")).is_some());
        let upgraded = had_cluster
            && (diff(&connection::field_path("talos_version")).is_some()
                || diff(&connection::field_path("kubernetes_version")).is_some());
        // The nodes a replacement takes: those on another type or in a location no longer listed.
        let replaced: Vec<&str> = match prior.get("nodes") {
            Some(Value::List(items)) => items
                .iter()
                .filter(|n| {
                    let other_type =
                        type_moves && n.get("server_type").and_then(Value::as_str) != planned_type;
                    let moved = locations_move
                        && !n
                            .get("location")
                            .and_then(Value::as_str)
                            .is_some_and(|l| planned_locations.contains(&l));
                    replaced_all || other_type || moved
                })
                .filter_map(|n| n.get("name").and_then(Value::as_str))
                .collect(),
            _ => Vec::new(),
        };
        let mut what = Vec::new();
        if !replaced.is_empty() {
            what.push(format!(
                "{} will be replaced (a new node Ready first, then the old one cordoned, drained and deleted)",
                replaced.join(", ")
            ));
        }
        if upgraded {
            what.push(format!("{all} will be drained, upgraded and uncordoned"));
        }
        if what.is_empty() {
            what.push(format!("{all} will be checked and updated where needed"));
        }
        change.diagnostics.push(Diagnostic::warning(
            "Rolling update of the node pool",
            format!(
                "{}. {}; {at_once} at a time, each checked Ready before the next.",
                rolling.join("; "),
                what.join("; ")
            ),
        ));
    }
    let patch_changes: Vec<String> = [
        attr("labels"),
        attr("taints"),
        attr("config_patches"),
        connection::field_path("config_patches"),
    ]
    .iter()
    .filter(|p| prior.at_path(p) != planned.at_path(p))
    .filter(|p| had_cluster || !p.to_string().starts_with("cluster."))
    .map(ToString::to_string)
    .collect();
    if !patch_changes.is_empty() {
        change.diagnostics.push(Diagnostic::warning(
            "Configuration change applied to running nodes",
            format!(
                "{} changed. The new machine configuration is applied in place to {all}; Talos \
                 reboots a node only when the change requires it.",
                patch_changes.join(" and ")
            ),
        ));
    }
    let count_change = diff(&attr("node_count"));
    let before = view::integer(prior, &attr("node_count"));
    let after = view::integer(&planned, &attr("node_count"));
    if let (Some(before), Some(after)) = (before, after)
        && after < before
    {
        let keep = usize::try_from(after).unwrap_or(0);
        let removed: Vec<String> = names.iter().skip(keep).rev().cloned().collect();
        let what = if removed.is_empty() {
            format!("{} node(s)", before - after)
        } else {
            removed.join(", ")
        };
        change.diagnostics.push(Diagnostic::warning(
            "Node pool scale-down",
            format!(
                "node_count: {before} → {after}. {what} will be cordoned, drained, reset and deleted."
            ),
        ));
    }
    if let (Some(before), Some(after)) = (before, after)
        && after > before
    {
        let taken: Vec<u32> = names
            .iter()
            .filter_map(|n| n.rsplit_once('-').and_then(|(_, i)| i.parse().ok()))
            .collect();
        let prefix = names
            .first()
            .and_then(|n| n.rsplit_once('-'))
            .map(|(p, _)| p.to_owned());
        let added: Vec<String> = (1..)
            .filter(|i| !taken.contains(i))
            .take(usize::try_from(after - before).unwrap_or(0))
            .map(|i| {
                prefix
                    .as_ref()
                    .map_or_else(|| format!("#{i}"), |p| format!("{p}-{i}"))
            })
            .collect();
        change.diagnostics.push(Diagnostic::warning(
            "Node pool scale-up",
            format!(
                "node_count: {before} → {after}. {} will be created and join the cluster.",
                added.join(", ")
            ),
        ));
    }
    let autoscaled = |v: &Value| {
        v.get("autoscaling")
            .is_some_and(|a| a.is_known() && !a.is_null())
    };
    if autoscaled(&planned) && !autoscaled(prior) && !names.is_empty() {
        change.diagnostics.push(Diagnostic::warning(
            "The pool is handed to the cluster-autoscaler",
            format!(
                "autoscaling is turned on: {all} will be drained and deleted {} at a time; the \
                 autoscaler makes the pool's nodes from now on (at least `min`, more when pods \
                 wait for room).",
                view::integer(&planned, &attr("update_strategy").attr("max_unavailable"))
                    .unwrap_or(1)
            ),
        ));
    }
    let drifted = config_drift(prior);
    if !drifted.is_empty() {
        change.diagnostics.push(Diagnostic::warning(
            "Node configuration changed outside Terraform",
            format!(
                "{} run{} a machine configuration other than the one this pool generates (changed \
                 out of band, e.g. with talosctl). The apply puts the generated configuration back.",
                drifted.join(", "),
                if drifted.len() == 1 { "s" } else { "" }
            ),
        ));
    }
    // Nodes left behind by an interrupted roll (the pool's or the cluster's).
    let talos = connection::field_path("talos_version");
    let off_version = match view::string(&planned, &talos) {
        Some(target) if had_cluster && diff(&talos).is_none() => {
            let off = nodes::off_version(prior, target);
            if !off.is_empty() {
                change.diagnostics.push(nodes::off_version_warning(
                    "drains, upgrades and uncordons",
                    &off,
                    target,
                ));
            }
            !off.is_empty()
        }
        _ => false,
    };
    let leaving = nodes::plan_leaving_nodes(prior, change);
    if !leaving.is_empty() {
        change
            .diagnostics
            .push(nodes::leaving_nodes_warning(&leaving));
    }
    if !rolling.is_empty()
        || !leaving.is_empty()
        || count_change.is_some()
        || !patch_changes.is_empty()
        || !drifted.is_empty()
        || off_version
    {
        change.set_unknown(&attr("nodes"));
    }
}

/// Nodes whose running configuration (its hash as refresh read it) differs from the one the
/// provider generates from the prior state; empty when that cannot be known (no connection, a
/// node whose configuration was not read).
fn config_drift(prior: &Value) -> Vec<String> {
    let Ok(spec) = super::spec::PoolSpec::from_planned(prior) else {
        return Vec::new();
    };
    let Some(Value::List(recorded)) = prior.get("nodes") else {
        return Vec::new();
    };
    recorded
        .iter()
        .filter_map(|n| {
            let name = n.get("name")?.as_str()?;
            let running = n.get("config_hash")?.as_str()?;
            let generated = super::machine::worker_yaml(&spec, name).ok()?;
            (crate::resources::fleet::machine::config_hash(generated.as_bytes()) != running)
                .then(|| name.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests;
