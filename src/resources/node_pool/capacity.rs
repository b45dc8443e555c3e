//! Plan-time warnings about where the pool's server type can be ordered: Hetzner lists, per
//! location, whether a type is offered, available now and deprecated (`server_types[].locations[]`).
//! One request, only when the plan creates servers or changes their type or locations; a lookup
//! that fails only logs (the apply's own fallback across `locations` still applies).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::hcloud::lookups::Capacity;
use crate::provider::ProviderData;
use crate::resources::config_view as view;
use crate::resources::fleet::Operation;
use crate::tfplugin::diag::{AttributePath, Diagnostic};
use crate::tfplugin::value::Value;

const LOOKUP_BUDGET: Duration = Duration::from_secs(30);

fn attr(name: &str) -> AttributePath {
    AttributePath::root(name)
}

/// Whether the plan orders servers: a create with nodes (or autoscaled), more nodes, autoscaling
/// turned on, or another type or list of locations.
fn orders_servers(prior: &Value, planned: &Value) -> bool {
    let count = |v: &Value| view::integer(v, &attr("node_count")).unwrap_or(0);
    // An autoscaled pool orders whenever the autoscaler wants: its type must be orderable too.
    let autoscaled = |v: &Value| {
        v.get("autoscaling")
            .is_some_and(|a| a.is_known() && !a.is_null())
    };
    if prior.is_null() {
        return count(planned) > 0 || autoscaled(planned);
    }
    if autoscaled(planned) && !autoscaled(prior) {
        return true;
    }
    count(planned) > count(prior)
        || prior.get("server_type") != planned.get("server_type")
        || prior.get("locations") != planned.get("locations")
}

/// The warnings for the planned server type in the planned locations.
pub async fn warnings(
    data: &ProviderData,
    cancel: &CancellationToken,
    prior: &Value,
    planned: &Value,
) -> Vec<Diagnostic> {
    if planned.is_null() || data.hcloud_token.is_none() || !orders_servers(prior, planned) {
        return Vec::new();
    }
    let Some(server_type) = view::string(planned, &attr("server_type")) else {
        return Vec::new();
    };
    let locations: Vec<&str> = view::strings(planned, &attr("locations"))
        .into_iter()
        .map(|(_, l)| l)
        .collect();
    if locations.is_empty() {
        return Vec::new();
    }
    let Ok(op) = Operation::start(data, "plan", LOOKUP_BUDGET, cancel) else {
        return Vec::new();
    };
    let info = match op.hcloud.server_type(server_type).await {
        Ok(Some(info)) => info,
        Ok(None) => return Vec::new(),
        Err(e) => {
            tracing::info!(error = %e, "server type availability not read; no plan warning");
            return Vec::new();
        }
    };
    let mut not_offered = Vec::new();
    let mut unavailable = Vec::new();
    let mut deprecated = Vec::new();
    for location in &locations {
        match info.capacity_in(location) {
            Some(Capacity::NotOffered) => not_offered.push(*location),
            Some(Capacity::Unavailable) => unavailable.push(*location),
            Some(Capacity::Deprecated { unavailable_after }) => {
                deprecated.push(format!("{location} (orderable until {unavailable_after})"));
            }
            None => {}
        }
    }
    let mut out = Vec::new();
    let usable = locations.len() - not_offered.len() - unavailable.len();
    let autoscaled = planned
        .get("autoscaling")
        .is_some_and(|a| a.is_known() && !a.is_null());
    let tail = if autoscaled && usable == 0 {
        "The cluster-autoscaler's server creations will fail there (and the pool will not grow) \
         unless capacity returns; choose another server_type or location."
    } else if usable == 0 {
        "No listed location can take new servers of this type now: the apply will fail unless \
         capacity returns; add locations of the network zone or choose another server_type."
    } else {
        "New nodes go to the other listed locations (a node whose location refuses it moves to the \
         next one, with a warning)."
    };
    if !not_offered.is_empty() || !unavailable.is_empty() {
        let mut parts = Vec::new();
        if !not_offered.is_empty() {
            parts.push(format!("not offered in {}", not_offered.join(", ")));
        }
        if !unavailable.is_empty() {
            parts.push(format!(
                "not available now in {} (Hetzner's server_types[].locations[].available)",
                unavailable.join(", ")
            ));
        }
        out.push(
            Diagnostic::warning(
                format!("Server type {server_type} cannot be ordered everywhere"),
                format!("{server_type} is {}. {tail}", parts.join(" and ")),
            )
            .at(attr("locations")),
        );
    }
    if !deprecated.is_empty() {
        out.push(
            Diagnostic::warning(
                format!("Server type {server_type} is deprecated"),
                format!(
                    "Hetzner deprecated {server_type} in {}. Nodes that exist keep running; plan \
                     a change of server_type (the pool replaces its nodes a few at a time).",
                    deprecated.join(", ")
                ),
            )
            .at(attr("server_type")),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(node_count: Value, autoscaling: Value, server_type: &str) -> Value {
        Value::object([
            ("node_count", node_count),
            ("autoscaling", autoscaling),
            ("server_type", Value::from(server_type)),
            ("locations", Value::List(vec![Value::from("fsn1")])),
        ])
    }

    #[test]
    fn autoscaled_pools_order_servers_like_growing_ones() {
        let bounds = Value::object([("min", Value::from(0)), ("max", Value::from(4))]);
        let fixed = pool(Value::from(2), Value::Null, "cx23");
        let empty = pool(Value::from(0), Value::Null, "cx23");
        let autoscaled = pool(Value::Unknown, bounds.clone(), "cx23");
        assert!(orders_servers(&Value::Null, &fixed));
        assert!(!orders_servers(&Value::Null, &empty));
        assert!(
            orders_servers(&Value::Null, &autoscaled),
            "the autoscaler orders"
        );
        assert!(orders_servers(&empty, &autoscaled), "autoscaling turned on");
        let refreshed = pool(Value::from(3), bounds, "cx23");
        assert!(
            !orders_servers(&refreshed, &refreshed),
            "an unchanged autoscaled pool asks nothing at plan time"
        );
    }
}
