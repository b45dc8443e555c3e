//! The [`Provider`] trait: provider configuration and the registry of types.

use std::future::Future;

use super::handles::{DataSourceHandle, EphemeralResourceHandle, ResourceHandle};
use super::resource::ValidateRequest;
use crate::tfplugin::diag::Diagnostics;
use crate::tfplugin::schema::Schema;
use crate::tfplugin::value::Value;

/// What `configure` receives.
#[derive(Debug)]
#[non_exhaustive]
pub struct ConfigureRequest<'a> {
    /// The provider block's value (may contain unknowns when it depends on other resources).
    pub config: &'a Value,
    /// The calling Terraform's version, e.g. "1.15.2".
    pub terraform_version: &'a str,
}

/// A provider: its configuration schema, how to configure it, and its resource types.
///
/// `Data` is what configuration produces (API clients, settings); every resource, data source
/// and ephemeral resource operation receives it.
pub trait Provider: Send + Sync + 'static {
    /// Shared data built by [`Provider::configure`].
    type Data: Send + Sync + 'static;

    /// The schema of the `provider` block.
    fn schema(&self) -> Schema;

    /// Checks the provider block beyond what schema validators check (no network access:
    /// Terraform validates without configuring).
    fn validate(&self, request: ValidateRequest<'_>) -> impl Future<Output = Diagnostics> + Send {
        let _ = request;
        async { Diagnostics::new() }
    }

    /// Builds the shared data from the provider block.
    fn configure(
        &self,
        request: ConfigureRequest<'_>,
    ) -> impl Future<Output = Result<Self::Data, Diagnostics>> + Send;

    /// The managed resource types.
    fn resources(&self) -> Vec<ResourceHandle<Self::Data>>;

    /// The data source types.
    fn data_sources(&self) -> Vec<DataSourceHandle<Self::Data>>;

    /// The ephemeral resource types.
    fn ephemeral_resources(&self) -> Vec<EphemeralResourceHandle<Self::Data>> {
        Vec::new()
    }
}
