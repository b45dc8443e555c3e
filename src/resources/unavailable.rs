//! The one answer for operations this version of the provider cannot perform yet.
//!
//! Creating real infrastructure arrives in a later release; until then create, update, import
//! and reads that would need the cloud fail with this error instead of pretending to succeed.

use crate::tfplugin::diag::{Diagnostic, Diagnostics};

/// An error saying plainly that `operation` on `type_name` is not available in this version.
pub fn not_available(type_name: &str, operation: &str) -> Diagnostics {
    Diagnostic::error(
        format!("{operation} is not available yet"),
        format!(
            "{operation} of {type_name} is not available yet in this version of the hk8s provider \
             (v{}): it validates and plans configurations, but does not create or change \
             infrastructure yet. Nothing was changed.",
            env!("CARGO_PKG_VERSION")
        ),
    )
    .into()
}
