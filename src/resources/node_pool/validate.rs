//! Cross-attribute checks of `hk8s_node_pool` that need only its own configuration (checks
//! against the cluster's connection run at plan time, when it is known: see `plan`).

use crate::resources::config_view as view;
use crate::resources::validators::error_at;
use crate::tfplugin::diag::{AttributePath, Diagnostics};
use crate::tfplugin::value::Value;

/// Every configuration-only problem of a pool.
pub fn check(config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let autoscaling = AttributePath::root("autoscaling");
    if view::known(config, &AttributePath::root("node_count")).is_some()
        && view::known(config, &autoscaling).is_some()
    {
        diags.extend(error_at(
            &autoscaling,
            "Conflicting pool size",
            "`node_count` and `autoscaling` exclude each other: give `node_count` for a fixed-size pool, or \
             `autoscaling = { min, max }` to let the cluster-autoscaler size it",
        ));
    }
    let min = view::integer(config, &autoscaling.attr("min"));
    let max = view::integer(config, &autoscaling.attr("max"));
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        diags.extend(error_at(
            &autoscaling.attr("min"),
            "Invalid autoscaling range",
            format!("min ({min}) is greater than max ({max}); min must be at most max"),
        ));
    }
    if view::known(config, &autoscaling).is_some_and(|a| !a.is_null()) {
        let locations = view::strings(config, &AttributePath::root("locations"));
        if locations.len() > 1 {
            diags.extend(error_at(
                &AttributePath::root("locations"),
                "An autoscaled pool has one location",
                format!(
                    "the cluster-autoscaler's Hetzner node groups each create servers in one \
                     location, and an autoscaled pool is one node group; give one location (got \
                     {}), and make one autoscaled pool per location to spread nodes",
                    locations.len()
                ),
            ));
        }
    }
    diags
}

#[cfg(test)]
mod tests;
