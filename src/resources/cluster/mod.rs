//! `hk8s_cluster`: schema, validation, plan-time diffing and (for now) apply operations that say
//! plainly they are not available yet.

mod model;
mod plan;
mod schema;
mod validate;

use crate::resources::import_id;
use crate::resources::unavailable::not_available;
use crate::tfplugin::diag::Diagnostics;
use crate::tfplugin::framework::{
    CreateRequest, DeleteRequest, ImportRequest, PlanRequest, PlannedChange, ReadRequest, Resource,
    UpdateRequest, ValidateRequest,
};
use crate::tfplugin::schema::Schema;
use crate::tfplugin::value::Value;

pub use schema::{CNIS, DEFAULT_CONTROL_PLANE_COUNT};

/// The Terraform type name.
pub const TYPE_NAME: &str = "hk8s_cluster";

/// The `hk8s_cluster` resource type.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cluster;

impl<D: Send + Sync + 'static> Resource<D> for Cluster {
    fn type_name(&self) -> &str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    async fn validate(&self, request: ValidateRequest<'_>) -> Diagnostics {
        validate::check(request.config)
    }

    async fn modify_plan(
        &self,
        request: PlanRequest<'_, D>,
        plan: PlannedChange,
    ) -> Result<PlannedChange, Diagnostics> {
        plan::modify(request.config, request.prior, plan)
    }

    async fn create(&self, _request: CreateRequest<'_, D>) -> Result<Value, Diagnostics> {
        Err(not_available(TYPE_NAME, "Creating a cluster"))
    }

    async fn read(&self, request: ReadRequest<'_, D>) -> Result<Value, Diagnostics> {
        // No state can exist before create is available; keep what Terraform holds.
        Ok(request.state.clone())
    }

    async fn update(&self, _request: UpdateRequest<'_, D>) -> Result<Value, Diagnostics> {
        Err(not_available(TYPE_NAME, "Updating a cluster"))
    }

    async fn delete(&self, _request: DeleteRequest<'_, D>) -> Result<(), Diagnostics> {
        Err(not_available(TYPE_NAME, "Deleting a cluster"))
    }

    async fn import(&self, request: ImportRequest<'_, D>) -> Result<Value, Diagnostics> {
        import_id::cluster(request.id)?;
        Err(not_available(TYPE_NAME, "Importing a cluster"))
    }
}
