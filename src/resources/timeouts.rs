//! The `timeouts` block of resources with long operations (`hk8s_cluster`, `hk8s_node_pool`):
//! Go durations from 1m to 24h, each with the resource's own default.

use std::time::Duration;

use crate::resources::config_view as view;
use crate::resources::validators as v;
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::tfplugin::schema::{Attribute, duration};
use crate::tfplugin::value::Value;

/// Operation budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Create.
    pub create: Duration,
    /// Update.
    pub update: Duration,
    /// Delete.
    pub delete: Duration,
}

fn text(d: Duration) -> String {
    let minutes = d.as_secs() / 60;
    if minutes.is_multiple_of(60) {
        format!("{}h", minutes / 60)
    } else {
        format!("{minutes}m")
    }
}

/// The `timeouts` attribute; `what` names the updates ("an update (including rolling upgrades)").
pub fn attribute(defaults: Timeouts, update_what: &str) -> Attribute {
    let duration = || v::duration_between(Duration::from_secs(60), Duration::from_secs(24 * 3600));
    Attribute::single_nested(
        "timeouts",
        [
            Attribute::string("create")
                .optional()
                .description(format!(
                    "How long create may take, e.g. \"45m\" (default \"{}\").",
                    text(defaults.create)
                ))
                .validate(duration()),
            Attribute::string("update")
                .optional()
                .description(format!(
                    "How long {update_what} may take (default \"{}\").",
                    text(defaults.update)
                ))
                .validate(duration()),
            Attribute::string("delete")
                .optional()
                .description(format!(
                    "How long delete may take (default \"{}\").",
                    text(defaults.delete)
                ))
                .validate(duration()),
        ],
    )
    .optional()
    .description("Operation timeouts as Go durations (\"30m\", \"1h30m\"), from 1m to 24h.")
}

/// The budgets a (planned or prior) value asks for, `defaults` where unset.
///
/// # Errors
/// A value the validator should have refused, named by its path.
pub fn parse(value: &Value, defaults: Timeouts) -> Result<Timeouts, Diagnostics> {
    let one = |name: &str, default: Duration| {
        let path = AttributePath::root("timeouts").attr(name);
        match view::string(value, &path) {
            Some(text) => duration::parse(text).map_err(|e| {
                Diagnostics::from(
                    Diagnostic::error("Invalid timeout", format!("{path}: {e}")).at(path.clone()),
                )
            }),
            None => Ok(default),
        }
    };
    Ok(Timeouts {
        create: one("create", defaults.create)?,
        update: one("update", defaults.update)?,
        delete: one("delete", defaults.delete)?,
    })
}
