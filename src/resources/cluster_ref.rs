//! The `cluster` attribute of every resource built on a cluster (`cluster =
//! hk8s_cluster.<name>.connection`), and what changing it means.

use crate::resources::connection::{IDENTITY_FIELD, connection_type};
use crate::tfplugin::schema::{Attribute, AttributePlan, requires_replace_if};
use crate::tfplugin::value::Value;

/// True when the planned connection belongs to another cluster than the prior one, or cannot be
/// known to be the same (the cluster itself is being replaced).
fn moves_to_another_cluster(plan: &AttributePlan<'_>) -> bool {
    let Some(prior) = plan.prior.filter(|p| !p.is_null()) else {
        return false;
    };
    let prior_id = prior.get(IDENTITY_FIELD);
    match &plan.planned {
        Value::Unknown => true,
        planned => match planned.get(IDENTITY_FIELD) {
            Some(Value::Unknown) | None => true,
            id => id != prior_id,
        },
    }
}

/// The required, sensitive `cluster` attribute; replaced when it names another cluster.
pub fn cluster_attribute(what: &str) -> Attribute {
    Attribute::typed("cluster", connection_type())
        .required()
        .sensitive()
        .description(format!(
            "The cluster {what} belongs to: `hk8s_cluster.<name>.connection`. Pointing it at another \
             cluster (or replacing the cluster) replaces {what}; version changes in it roll nodes."
        ))
        .plan(requires_replace_if(
            "moving to another cluster (or replacing the cluster) forces replacement",
            moves_to_another_cluster,
        ))
}
