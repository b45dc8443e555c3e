//! Plan-time diffing of `hk8s_cluster`, after the framework's default plan (config kept,
//! defaults applied, schema plan modifiers and `requires_replace` done):
//! - values the provider derives are planned as known values now (`id`, default placement,
//!   address plan and load balancer), so plans show them and stay stable;
//! - computed values that an update will change become unknown (`nodes`, `connection`), every
//!   other computed value keeps its prior state (no perpetual diffs);
//! - a plan that rolls, reboots or removes nodes says so in a warning naming those nodes;
//! - stored admin credentials near their expiry are renewed, with a warning ([`super::renewal`]).
//! - a node whose running machine configuration was changed out of band (configuration drift,
//!   read by refresh) is named in a warning, and the apply puts the generated one back.

use std::collections::BTreeMap;

use super::machine;
use super::model::{self, attr, control_plane};
use super::renewal;
use super::spec::ClusterSpec;
use crate::hcloud::cidr;
use crate::resources::config_view as view;
use crate::resources::connection;
use crate::resources::nodes;
use crate::resources::protection;
use crate::resources::validators::error_at;
use crate::talos::secrets::SecretsBundle;
use crate::talos::version::TalosVersion;
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::tfplugin::framework::PlannedChange;
use crate::tfplugin::value::Value;

/// Adjusts the framework's plan for a cluster. `prior` is null on create.
///
/// # Errors
/// Refuses destroying or replacing a cluster with `delete_protection = true`, and a
/// `talos_version` change Talos cannot make in one rolling upgrade.
pub fn modify(
    config: &Value,
    prior: &Value,
    mut change: PlannedChange,
) -> Result<PlannedChange, Diagnostics> {
    protection::check("cluster", prior, &change)?;
    if change.planned.is_null() {
        return Ok(change); // destroy
    }
    plan_derived_values(config, &mut change);
    if !prior.is_null() {
        check_talos_upgrade(prior, &change.planned)?;
        adopt_imported(prior, &mut change);
        plan_update(prior, &mut change);
        renewal::plan(prior, &mut change, time::OffsetDateTime::now_utc());
    }
    Ok(change)
}

/// Refuses a `talos_version` change that skips a minor release or goes back to an older minor
/// (see [`TalosVersion::check_upgrade_to`]); the apply would otherwise fail on the first node,
/// halfway through a roll. Unknown or unparsable versions are left to validation.
fn check_talos_upgrade(prior: &Value, planned: &Value) -> Result<(), Diagnostics> {
    let path = attr("talos_version");
    let version =
        |v: &Value| view::string(v, &path).and_then(|text| text.parse::<TalosVersion>().ok());
    let (Some(from), Some(to)) = (version(prior), version(planned)) else {
        return Ok(());
    };
    from.check_upgrade_to(&to)
        .map_err(|e| error_at(&path, "Unsupported Talos version change", e))
}

/// Attributes an import cannot read from Hetzner (they live only in the nodes' configuration)
/// and which the first plan after an import therefore records in place.
const IMPORT_UNKNOWABLE: [&str; 4] = ["network", "cni", "secrets", "kubernetes_version"];

/// Whether the prior state came from an import (every applied cluster records its secrets).
fn was_imported(prior: &Value) -> bool {
    prior.get("secrets").is_none_or(Value::is_null)
}

/// Computed attributes an import may leave null.
const COMPUTED_AFTER_IMPORT: [&str; 12] = [
    "endpoint",
    "host",
    "ca_certificate",
    "client_certificate",
    "client_key",
    "kubeconfig",
    "talosconfig",
    "network_id",
    "firewall_id",
    "load_balancer_id",
    "nodes",
    "connection",
];

/// After an import the state has no secrets and nulls where only the nodes know the value: the
/// configured values are recorded in place instead of replacing the cluster, and the plan says so.
fn adopt_imported(prior: &Value, change: &mut PlannedChange) {
    if !was_imported(prior) {
        return;
    }
    // Computed values the import could not know are decided by the apply.
    for name in COMPUTED_AFTER_IMPORT {
        if prior.get(name).is_none_or(Value::is_null) {
            change.set_unknown(&attr(name));
        }
    }
    // Without the secrets the import could not read the nodes' configurations: the apply
    // records them (their `config_hash`).
    change.set_unknown(&attr("nodes"));
    change.requires_replace.retain(|path| {
        !IMPORT_UNKNOWABLE
            .iter()
            .any(|name| path.starts_with(&AttributePath::root(*name)))
    });
    let secrets_given = change
        .planned
        .get("secrets")
        .is_some_and(|s| s.is_known() && !s.is_null());
    change.diagnostics.push(Diagnostic::warning(
        "Adopting an imported cluster",
        if secrets_given {
            "This cluster was imported: the plan records the configured network ranges, CNI, \
             Kubernetes version and secrets in state and checks the nodes against them, without \
             replacing any infrastructure."
                .to_owned()
        } else {
            "This cluster was imported without its Talos secrets: set `secrets` to the cluster's \
             secrets bundle, or the apply will fail (the provider cannot reach the nodes without it)."
                .to_owned()
        },
    ));
}

fn set_if_unknown(change: &mut PlannedChange, path: &AttributePath, value: Value) {
    if view::is_unknown(&change.planned, path)
        && !view::is_unknown(&change.planned, &path_parent(path))
    {
        change.planned.set_at_path(path, value);
    }
}

fn path_parent(path: &AttributePath) -> AttributePath {
    let steps = path.steps();
    steps[..steps.len().saturating_sub(1)]
        .iter()
        .fold(AttributePath::empty(), |p, s| p.with(s.clone()))
}

fn plan_derived_values(config: &Value, change: &mut PlannedChange) {
    let location = view::string(config, &attr("location")).map(str::to_owned);
    if let Some(name) = view::string(config, &attr("name")) {
        set_if_unknown(change, &attr("id"), Value::from(name));
    }
    if let Some(location) = &location {
        set_if_unknown(
            change,
            &control_plane("locations"),
            Value::List(vec![Value::from(location.as_str())]),
        );
    }
    // Address plan: a whole default object, or the missing ranges of a given one.
    let plan = model::address_plan(config);
    let ranges = [
        (cidr::Role::Network, plan.network),
        (cidr::Role::NodeSubnet, plan.node_subnet),
        (cidr::Role::Pods, plan.pods),
        (cidr::Role::Services, plan.services),
    ];
    if view::is_unknown(&change.planned, &attr("network"))
        && config.get("network").is_some_and(Value::is_null)
    {
        let mut object: Vec<(&str, Value)> = ranges
            .iter()
            .map(|(role, net)| {
                (
                    model::network_field(*role),
                    net.map_or(Value::Unknown, |n| Value::from(n.to_string())),
                )
            })
            .collect();
        object.push(("existing_network_id", Value::Null));
        change
            .planned
            .set_at_path(&attr("network"), Value::object(object));
    } else {
        for (role, net) in ranges {
            if let Some(net) = net {
                set_if_unknown(
                    change,
                    &model::network(model::network_field(role)),
                    Value::from(net.to_string()),
                );
            }
        }
    }
    // API load balancer: default type, the cluster's location.
    let lb = attr("api_load_balancer");
    if let Some(location) = &location {
        if view::is_unknown(&change.planned, &lb) {
            change.planned.set_at_path(
                &lb,
                Value::object([
                    ("type", Value::from("lb11")),
                    ("location", Value::from(location.as_str())),
                ]),
            );
        } else {
            set_if_unknown(change, &lb.attr("location"), Value::from(location.as_str()));
        }
    }
}

/// A changed attribute: its path, and the prior and planned values as text.
struct Changed {
    label: String,
    from: String,
    to: String,
}

fn changed(prior: &Value, planned: &Value, path: &AttributePath) -> Option<Changed> {
    // A nested attribute of an object that is null (e.g. `image` unset) reads as null.
    let before = prior.at_path(path).unwrap_or(&Value::Null);
    let after = planned.at_path(path).unwrap_or(&Value::Null);
    // After an import, null means a value being recorded, not a change of the nodes.
    if before == after || (before.is_null() && was_imported(prior)) {
        return None;
    }
    let show = |v: &Value| match v {
        Value::String(s) if s.contains('\n') => format!("{:?}", s.trim()),
        Value::String(s) => s.clone(),
        Value::Unknown => "(known after apply)".to_owned(),
        Value::Null => "(unset)".to_owned(),
        Value::List(items) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| i.as_str().unwrap_or("?").to_owned())
                .collect();
            format!("[{}]", parts.join(", "))
        }
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.kind_name().to_owned(),
    };
    Some(Changed {
        label: path.to_string(),
        from: show(before),
        to: show(after),
    })
}

fn plan_update(prior: &Value, change: &mut PlannedChange) {
    let planned = change.planned.clone();
    let node_names = nodes::node_names(prior);
    let all = nodes::describe(&node_names);

    let upgrades: Vec<Changed> = [attr("talos_version"), attr("kubernetes_version")]
        .iter()
        .filter_map(|p| changed(prior, &planned, p))
        .collect();
    let replacements: Vec<Changed> = [
        control_plane("server_type"),
        control_plane("locations"),
        attr("disk_encryption"),
        attr("image").attr("schematic"),
    ]
    .iter()
    .filter_map(|p| changed(prior, &planned, p))
    .collect();
    let reencrypt = replacements.iter().any(|c| c.label == "disk_encryption");
    let patches: Vec<Changed> = [attr("config_patches"), control_plane("config_patches")]
        .iter()
        .filter_map(|p| changed(prior, &planned, p))
        .collect();
    let count = changed(prior, &planned, &control_plane("count"));

    let list = |changes: &[Changed]| {
        changes
            .iter()
            .map(|c| format!("{}: {} → {}", c.label, c.from, c.to))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if !upgrades.is_empty() {
        change.diagnostics.push(Diagnostic::warning(
            "Rolling upgrade of the control plane",
            format!(
                "{}. Nodes {all} will be upgraded one at a time, each checked healthy (etcd and the \
                 Kubernetes API) before the next; node pools of this cluster roll after it.",
                list(&upgrades)
            ),
        ));
    }
    if !replacements.is_empty() {
        change.diagnostics.push(Diagnostic::warning(
            "Rolling replacement of control-plane nodes",
            format!(
                "{}. Nodes {all} will be replaced one at a time (new server joins etcd, old one leaves \
                 and is deleted), keeping quorum.{}",
                list(&replacements),
                if reencrypt {
                    " Talos cannot change the encryption of a node's existing STATE and EPHEMERAL \
                     partitions, so each node is reinstalled on a new server; data on their \
                     EPHEMERAL partitions (emptyDir, local volumes) is not carried over."
                } else {
                    ""
                }
            ),
        ));
    }
    if !patches.is_empty() {
        change.diagnostics.push(Diagnostic::warning(
            "Configuration change applied to running nodes",
            format!(
                "{} changed. The new machine configuration is applied in place to {all}, one node at a \
                 time; Talos reboots a node only when the change requires it.",
                patches.iter().map(|c| c.label.as_str()).collect::<Vec<_>>().join(" and ")
            ),
        ));
    }
    if let Some(count) = &count
        && let (Ok(from), Ok(to)) = (count.from.parse::<usize>(), count.to.parse::<usize>())
        && to < from
    {
        let removed: Vec<String> = node_names.iter().skip(to).rev().cloned().collect();
        change.diagnostics.push(Diagnostic::warning(
            "Control plane scale-down",
            format!(
                "control_plane.count: {from} → {to}. {} will leave etcd one at a time and be deleted.",
                if removed.is_empty() { format!("{} node(s)", from - to) } else { removed.join(", ") }
            ),
        ));
    }

    // Nodes left behind by an interrupted roll: the upgrade resumes though `talos_version`
    // itself is unchanged.
    let off_version = match view::string(&planned, &attr("talos_version")) {
        Some(target) if upgrades.is_empty() => {
            let off = nodes::off_version(prior, target);
            if !off.is_empty() {
                change
                    .diagnostics
                    .push(nodes::off_version_warning("upgrades", &off, target));
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
    let nodes_change = !upgrades.is_empty()
        || !replacements.is_empty()
        || count.is_some()
        || off_version
        || !leaving.is_empty();
    if nodes_change {
        change.set_unknown(&attr("nodes"));
    }
    plan_config_drift(prior, change);
    plan_connection(prior, change);
}

/// Attributes that decide the nodes' machine configurations.
const CONFIG_INPUTS: [&str; 8] = [
    "name",
    "talos_version",
    "kubernetes_version",
    "control_plane",
    "network",
    "cni",
    "config_patches",
    "disk_encryption",
];

/// Node name → hash of the configuration the provider generates for it from `value` (the prior
/// state or the plan), with the cluster's secrets and API address; `None` when that cannot be
/// known at plan time (values known only after apply, no secrets).
fn generated_hashes(
    value: &Value,
    secrets: &SecretsBundle,
    lb_ip: &str,
    names: &[&str],
) -> Option<BTreeMap<String, String>> {
    let known = CONFIG_INPUTS
        .iter()
        .all(|name| value.get(name).is_some_and(Value::is_wholly_known));
    if !known {
        return None;
    }
    let spec = ClusterSpec::from_planned(value).ok()?;
    machine::config_hashes(&spec, secrets, lb_ip, names).ok()
}

/// Configuration drift: a node whose running machine configuration (its hash as refresh read it
/// through apid) differs from the one the provider generates from the prior state was changed
/// out of band (e.g. `talosctl apply-config`). The plan names it and the apply puts the
/// generated configuration back. `nodes` also becomes unknown whenever the generated
/// configurations change, so the apply records their new hashes.
fn plan_config_drift(prior: &Value, change: &mut PlannedChange) {
    let Some(secrets) = prior
        .get("secrets")
        .and_then(Value::as_str)
        .and_then(|yaml| SecretsBundle::from_yaml(yaml).ok())
    else {
        return; // imported without secrets: nothing can be generated
    };
    let Some(lb_ip) = view::string(prior, &attr("endpoint"))
        .and_then(|e| e.strip_prefix("https://"))
        .and_then(|rest| rest.rsplit_once(':'))
        .map(|(host, _)| host.to_owned())
    else {
        return;
    };
    let running: Vec<(String, Option<String>)> = match prior.get("nodes") {
        Some(Value::List(nodes)) => nodes
            .iter()
            .filter_map(|n| {
                let name = n.get("name")?.as_str()?.to_owned();
                let hash = n
                    .get("config_hash")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                Some((name, hash))
            })
            .collect(),
        _ => return,
    };
    let names: Vec<&str> = running.iter().map(|(n, _)| n.as_str()).collect();
    let Some(generated) = generated_hashes(prior, &secrets, &lb_ip, &names) else {
        return;
    };
    let drifted: Vec<&str> = running
        .iter()
        .filter(|(name, hash)| {
            hash.as_ref()
                .is_some_and(|h| generated.get(name.as_str()) != Some(h))
        })
        .map(|(name, _)| name.as_str())
        .collect();
    if !drifted.is_empty() {
        change.diagnostics.push(Diagnostic::warning(
            "Configuration drift on control-plane nodes",
            format!(
                "{} {} a machine configuration that differs from the one this configuration \
                 generates (changed outside Terraform, e.g. by talosctl apply-config). The apply \
                 puts the generated configuration back, one node at a time, with a reboot only \
                 where Talos needs one for the difference.",
                drifted.join(", "),
                if drifted.len() == 1 { "runs" } else { "run" }
            ),
        ));
    }
    let regenerated = !drifted.is_empty()
        || generated_hashes(&change.planned, &secrets, &lb_ip, &names).as_ref() != Some(&generated);
    if regenerated && view::known(&change.planned, &attr("nodes")).is_some() {
        change.set_unknown(&attr("nodes"));
    }
}

/// The connection keeps its identity (so dependents update rather than get replaced) and carries
/// the new values of the attributes changed in place, known or not.
fn plan_connection(prior: &Value, change: &mut PlannedChange) {
    let fields = connection::in_place_fields();
    let changed: Vec<_> = fields
        .iter()
        .filter(|(_, path)| prior.at_path(path) != change.planned.at_path(path))
        .collect();
    if changed.is_empty() {
        return;
    }
    let Some(mut planned_connection) = prior
        .get("connection")
        .filter(|c| c.is_known() && !c.is_null())
        .cloned()
    else {
        change.set_unknown(&attr("connection"));
        return;
    };
    for (field, path) in changed {
        let value = match change.planned.at_path(path) {
            Some(v) => v.clone(),
            // The attribute's parent (e.g. `image`) is null or unknown.
            None if view::is_unknown(&change.planned, path) => Value::Unknown,
            None => Value::Null,
        };
        planned_connection.set_at_path(&AttributePath::root(*field), value);
    }
    change
        .planned
        .set_at_path(&attr("connection"), planned_connection);
}

#[cfg(test)]
mod tests;
