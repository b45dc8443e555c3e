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
    diags
}

#[cfg(test)]
mod tests;
