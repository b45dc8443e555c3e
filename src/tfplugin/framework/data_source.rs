//! The [`DataSource`] trait: read-only lookups (`data "TYPE" "name" { ... }`).

use std::future::Future;

use tokio_util::sync::CancellationToken;

use super::resource::ValidateRequest;
use crate::tfplugin::diag::Diagnostics;
use crate::tfplugin::schema::Schema;
use crate::tfplugin::value::{Type, Value};

/// What a data source read receives.
#[non_exhaustive]
pub struct ReadDataRequest<'a, D> {
    /// The configured provider data.
    pub data: &'a D,
    /// The configuration (wholly known: Terraform defers reads with unknown config).
    pub config: &'a Value,
    /// The schema's value type, for [`Value::encode`].
    pub value_type: &'a Type,
    /// Cancelled when Terraform asks the provider to stop.
    pub cancel: &'a CancellationToken,
    /// Whether Terraform accepts a deferred read ([`DataRead::deferred`]); only builds with
    /// deferred actions enabled do.
    pub deferral_allowed: bool,
}

/// What a data source read returns.
#[derive(Debug, Clone, PartialEq)]
pub struct DataRead {
    /// The full object: config values kept, computed ones filled. Wholly known unless deferred.
    pub state: Value,
    /// Warnings to show with it.
    pub diagnostics: Diagnostics,
    /// The read cannot happen yet (a prerequisite is missing) and Terraform should read again
    /// later; only when [`ReadDataRequest::deferral_allowed`]. Unknown values are allowed then.
    pub deferred: bool,
}

impl From<Value> for DataRead {
    fn from(state: Value) -> Self {
        Self {
            state,
            diagnostics: Diagnostics::new(),
            deferred: false,
        }
    }
}

/// A data source type.
pub trait DataSource<D>: Send + Sync + 'static {
    /// The full type name, e.g. `hk8s_kubeconfig`.
    fn type_name(&self) -> &str;

    /// The schema.
    fn schema(&self) -> Schema;

    /// Cross-attribute checks beyond schema validators.
    fn validate(&self, request: ValidateRequest<'_>) -> impl Future<Output = Diagnostics> + Send {
        let _ = request;
        async { Diagnostics::new() }
    }

    /// Reads the data; returns the full object (config values kept, computed ones filled).
    fn read(
        &self,
        request: ReadDataRequest<'_, D>,
    ) -> impl Future<Output = Result<DataRead, Diagnostics>> + Send;
}
