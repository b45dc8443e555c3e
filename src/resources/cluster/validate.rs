//! Cross-attribute checks of `hk8s_cluster` (single-attribute rules are schema validators):
//! placement in one network zone, the Talos/Kubernetes pair, the address plan as a whole, and
//! the image choice. Unknown values are skipped.

use super::model::{self, attr, control_plane, network};
use crate::hcloud::catalog;
use crate::hcloud::cidr::Role;
use crate::resources::config_view as view;
use crate::resources::validators::{error_at, patch_contract_errors};
use crate::talos::version::{KubernetesVersion, TalosVersion};
use crate::tfplugin::diag::{AttributePath, Diagnostics};
use crate::tfplugin::value::Value;

/// Every cross-attribute problem of a cluster configuration.
pub fn check(config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    diags.extend(check_zones(config));
    diags.extend(check_versions(config));
    diags.extend(check_address_plan(config));
    diags.extend(check_image(config));
    diags.extend(check_patch_contracts(config));
    diags.extend(check_components(config));
    diags
}

/// `cilium` tunes the Cilium the cluster installs, so it needs `cni = "cilium"`.
fn check_components(config: &Value) -> Diagnostics {
    let cilium_given = view::known(config, &attr("cilium")).is_some();
    let cni = view::string(config, &attr("cni")).unwrap_or("flannel");
    if cilium_given && !view::is_unknown(config, &attr("cni")) && cni != "cilium" {
        return error_at(
            &attr("cilium"),
            "Cilium settings without Cilium",
            format!(
                "`cilium` tunes the Cilium the cluster installs with `cni = \"cilium\"`, but this cluster's cni is {cni:?}; \
                 remove `cilium` or set `cni = \"cilium\"`"
            ),
        );
    }
    Diagnostics::new()
}

fn check_patch_contracts(config: &Value) -> Diagnostics {
    let talos = view::string(config, &attr("talos_version"));
    let mut diags = Diagnostics::new();
    for path in [attr("config_patches"), control_plane("config_patches")] {
        diags.extend(patch_contract_errors(
            &path,
            &view::strings(config, &path),
            talos,
        ));
    }
    diags
}

fn check_zones(config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let Some(zone) = model::network_zone(config) else {
        return diags;
    };
    let location = view::string(config, &attr("location")).unwrap_or_default();
    let mut in_zone = |path: AttributePath, name: &str, what: &str| {
        if let Ok(l) = catalog::location(name)
            && l.network_zone != zone
        {
            let same_zone: Vec<&str> = catalog::LOCATIONS
                .iter()
                .filter(|l| l.network_zone == zone)
                .map(|l| l.name)
                .collect();
            diags.extend(error_at(
                &path,
                "Location in another network zone",
                format!(
                    "{what} {name:?} is in network zone {}, but the cluster's location {location:?} is in {zone}; \
                     a private network spans one zone: use {}",
                    l.network_zone,
                    same_zone.join(", ")
                ),
            ));
        }
    };
    for (i, name) in view::strings(config, &control_plane("locations")) {
        in_zone(
            control_plane("locations").index(i),
            name,
            "control-plane location",
        );
    }
    let lb_location = AttributePath::root("api_load_balancer").attr("location");
    if let Some(name) = view::string(config, &lb_location) {
        in_zone(lb_location, name, "load balancer location");
    }
    diags
}

fn check_versions(config: &Value) -> Diagnostics {
    let talos =
        view::string(config, &attr("talos_version")).and_then(|s| s.parse::<TalosVersion>().ok());
    let kubernetes = view::string(config, &attr("kubernetes_version"))
        .and_then(|s| s.parse::<KubernetesVersion>().ok());
    let (Some(talos), Some(kubernetes)) = (talos, kubernetes) else {
        return Diagnostics::new();
    };
    let Ok(contract) = talos.contract() else {
        return Diagnostics::new();
    };
    match contract.check_kubernetes(&talos, &kubernetes) {
        Ok(()) => Diagnostics::new(),
        Err(e) => error_at(
            &attr("kubernetes_version"),
            "Unsupported Kubernetes version",
            e,
        ),
    }
}

fn check_address_plan(config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    if view::known(config, &network("existing_network_id")).is_some()
        && view::known(config, &network("cidr")).is_some()
    {
        diags.extend(error_at(
            &network("cidr"),
            "Conflicting network settings",
            "`cidr` and `existing_network_id` exclude each other: an existing network keeps its own range; \
             remove `cidr` (and keep `node_subnet` inside the existing range)",
        ));
    }
    let plan = model::address_plan(config);
    for e in plan.check() {
        diags.extend(error_at(
            &network(model::network_field(e.role())),
            "Invalid address plan",
            e,
        ));
    }
    if let Some(count) = view::integer(config, &control_plane("count"))
        && let Err(e) = plan.check_node_count(u64::try_from(count).unwrap_or(0))
    {
        diags.extend(error_at(
            &network(model::network_field(Role::NodeSubnet)),
            "Invalid address plan",
            e,
        ));
    }
    diags
}

fn check_image(config: &Value) -> Diagnostics {
    let image = AttributePath::root("image");
    let ids = view::known(config, &image.attr("snapshot_ids"));
    let selector = view::known(config, &image.attr("selector"));
    if ids.is_some() && selector.is_some() {
        return error_at(
            &image.attr("selector"),
            "Conflicting image settings",
            "give either `snapshot_ids` or `selector`, not both",
        );
    }
    if view::known(config, &image.attr("schematic")).is_some()
        && (ids.is_some() || selector.is_some())
    {
        return error_at(
            &image.attr("schematic"),
            "Conflicting image settings",
            "`schematic` asks hk8s to build snapshots from the Image Factory; with `snapshot_ids` or \
             `selector` the snapshots are yours. Give one or the other.",
        );
    }
    // The snapshot for the control plane's architecture must be there when ids are given.
    let arch = view::string(config, &control_plane("server_type"))
        .and_then(|t| catalog::server_type(t).ok())
        .map(|t| t.architecture.kubernetes_name());
    if let (Some(Value::Map(entries)), Some(arch)) = (ids, arch)
        && !entries.contains_key(arch)
    {
        return error_at(
            &image.attr("snapshot_ids"),
            "Missing snapshot",
            format!(
                "the control plane's server type is {arch}, but `snapshot_ids` has no {arch:?} entry"
            ),
        );
    }
    Diagnostics::new()
}

#[cfg(test)]
mod tests;
