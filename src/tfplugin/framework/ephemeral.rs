//! The [`EphemeralResource`] trait: values that exist only during one Terraform run
//! (`ephemeral "TYPE" "name" { ... }`, Terraform ≥ 1.10), such as short-lived credentials.

use std::future::Future;
use std::time::SystemTime;

use tokio_util::sync::CancellationToken;

use super::resource::ValidateRequest;
use crate::tfplugin::diag::Diagnostics;
use crate::tfplugin::schema::Schema;
use crate::tfplugin::value::{Type, Value};

/// What open receives.
#[non_exhaustive]
pub struct OpenRequest<'a, D> {
    /// The configured provider data.
    pub data: &'a D,
    /// The configuration.
    pub config: &'a Value,
    /// The schema's value type, for [`Value::encode`].
    pub value_type: &'a Type,
    /// Cancelled when Terraform asks the provider to stop.
    pub cancel: &'a CancellationToken,
}

/// What open returns.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The result object.
    pub result: Value,
    /// Opaque data handed back to `renew` and `close`.
    pub private: Vec<u8>,
    /// When Terraform should call `renew` (None: never).
    pub renew_at: Option<SystemTime>,
}

/// What renew receives.
#[non_exhaustive]
pub struct RenewRequest<'a, D> {
    /// The configured provider data.
    pub data: &'a D,
    /// The private data from `open` or the previous `renew`.
    pub private: &'a [u8],
    /// Cancelled when Terraform asks the provider to stop.
    pub cancel: &'a CancellationToken,
}

/// What renew returns.
#[derive(Debug, Clone, Default)]
pub struct Renewed {
    /// New private data.
    pub private: Vec<u8>,
    /// When to renew next (None: never).
    pub renew_at: Option<SystemTime>,
}

/// What close receives.
#[non_exhaustive]
pub struct CloseRequest<'a, D> {
    /// The configured provider data.
    pub data: &'a D,
    /// The private data from `open` or the last `renew`.
    pub private: &'a [u8],
    /// Cancelled when Terraform asks the provider to stop.
    pub cancel: &'a CancellationToken,
}

/// An ephemeral resource type.
pub trait EphemeralResource<D>: Send + Sync + 'static {
    /// The full type name.
    fn type_name(&self) -> &str;

    /// The schema.
    fn schema(&self) -> Schema;

    /// Cross-attribute checks beyond schema validators.
    fn validate(&self, request: ValidateRequest<'_>) -> impl Future<Output = Diagnostics> + Send {
        let _ = request;
        async { Diagnostics::new() }
    }

    /// Produces the value.
    fn open(
        &self,
        request: OpenRequest<'_, D>,
    ) -> impl Future<Output = Result<Opened, Diagnostics>> + Send;

    /// Extends its lifetime; the default keeps the private data and asks for no further renewal.
    fn renew(
        &self,
        request: RenewRequest<'_, D>,
    ) -> impl Future<Output = Result<Renewed, Diagnostics>> + Send {
        let private = request.private.to_vec();
        async move {
            Ok(Renewed {
                private,
                renew_at: None,
            })
        }
    }

    /// Releases it; the default does nothing.
    fn close(
        &self,
        request: CloseRequest<'_, D>,
    ) -> impl Future<Output = Result<(), Diagnostics>> + Send {
        let _ = request;
        async { Ok(()) }
    }
}
