//! Turning operation results into gRPC responses: errors travel as diagnostics in the response
//! (gRPC errors are reserved for transport problems, which Terraform reports far less helpfully).

use tonic::{Response, Status};

use super::convert::diagnostics_to_proto;
use crate::tfplugin::diag::Diagnostics;
use crate::tfplugin::proto::*;

/// Responses that carry diagnostics, so an `Err(Diagnostics)` can become a response.
pub(crate) trait WithDiagnostics: Default {
    fn set_diagnostics(&mut self, diagnostics: Vec<crate::tfplugin::proto::Diagnostic>);
}

macro_rules! with_diagnostics {
    ($($module:ident),* $(,)?) => {
        $(impl WithDiagnostics for $module::Response {
            fn set_diagnostics(&mut self, diagnostics: Vec<crate::tfplugin::proto::Diagnostic>) {
                self.diagnostics = diagnostics;
            }
        })*
    };
}

with_diagnostics!(
    validate_provider_config,
    configure_provider,
    validate_resource_config,
    validate_data_resource_config,
    validate_ephemeral_resource_config,
    upgrade_resource_state,
    read_resource,
    plan_resource_change,
    apply_resource_change,
    import_resource_state,
    move_resource_state,
    read_data_source,
    open_ephemeral_resource,
    renew_ephemeral_resource,
    close_ephemeral_resource,
    upgrade_resource_identity,
);

/// Turns an operation result into a gRPC response; errors travel as diagnostics (gRPC errors are
/// reserved for transport problems, which Terraform reports far less helpfully).
pub(crate) fn reply<T: WithDiagnostics>(
    result: Result<T, Diagnostics>,
) -> Result<Response<T>, Status> {
    Ok(Response::new(result.unwrap_or_else(|diags| {
        let mut response = T::default();
        response.set_diagnostics(diagnostics_to_proto(&diags));
        response
    })))
}
