//! The one answer for operations this version of the provider cannot perform yet.
//!
//! What a release cannot do yet (applying `hk8s_addon`, autoscaled pools) fails with this error
//! instead of pretending to succeed or doing something other than the configuration says.

use crate::tfplugin::diag::{Diagnostic, Diagnostics};

/// An error saying plainly that `operation` on `type_name` is not available in this version.
pub fn not_available(type_name: &str, operation: &str) -> Diagnostics {
    Diagnostic::error(
        format!("{operation} is not available yet"),
        format!(
            "{operation} of {type_name} is not available yet in this version of the hk8s provider \
             (v{}): it validates and plans it, but cannot apply it yet. Nothing was changed.",
            env!("CARGO_PKG_VERSION")
        ),
    )
    .into()
}
