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

/// Whether the plan orders servers: a create with nodes, more nodes, or another type or list of
/// locations.
fn orders_servers(prior: &Value, planned: &Value) -> bool {
    let count = |v: &Value| view::integer(v, &attr("node_count")).unwrap_or(0);
    if prior.is_null() {
        return count(planned) > 0;
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
    let tail = if usable == 0 {
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
