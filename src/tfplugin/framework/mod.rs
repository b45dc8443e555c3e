//! The traits a provider implements ([`Provider`], [`Resource`], [`DataSource`],
//! [`EphemeralResource`]), their request types, and the default planning rules.
//!
//! Traits use `async fn` (with `Send` futures); the server stores them type-erased behind
//! [`ResourceHandle`] and friends, so a provider lists its resources as plain values.

mod data_source;
mod ephemeral;
mod handles;
pub(crate) mod plan;
mod provider;
mod resource;

pub use data_source::{DataRead, DataSource, ReadDataRequest};
pub use ephemeral::{CloseRequest, EphemeralResource, OpenRequest, Opened, RenewRequest, Renewed};
pub use handles::{DataSourceHandle, EphemeralResourceHandle, ResourceHandle};
pub use plan::PlannedChange;
pub use provider::{ConfigureRequest, Provider};
pub use resource::{
    CreateRequest, DeleteRequest, ImportRequest, PlanRequest, ReadRequest, Resource, UpdateRequest,
    UpgradeStateRequest, ValidateRequest, Warnings,
};
pub use tokio_util::sync::CancellationToken;
