//! `hk8s_addon`: schema, catalog, validation, plan-time defaults, and (for now) apply
//! operations that say plainly they are not available yet.

pub mod catalog;
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

/// The Terraform type name.
pub const TYPE_NAME: &str = "hk8s_addon";

/// The `hk8s_addon` resource type.
#[derive(Debug, Clone, Copy, Default)]
pub struct Addon;

impl<D: Send + Sync + 'static> Resource<D> for Addon {
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
        Err(not_available(TYPE_NAME, "Installing an addon"))
    }

    async fn read(&self, request: ReadRequest<'_, D>) -> Result<Value, Diagnostics> {
        Ok(request.state.clone())
    }

    async fn update(&self, _request: UpdateRequest<'_, D>) -> Result<Value, Diagnostics> {
        Err(not_available(TYPE_NAME, "Upgrading an addon"))
    }

    async fn delete(&self, _request: DeleteRequest<'_, D>) -> Result<(), Diagnostics> {
        Err(not_available(TYPE_NAME, "Uninstalling an addon"))
    }

    async fn import(&self, request: ImportRequest<'_, D>) -> Result<Value, Diagnostics> {
        import_id::addon(request.id)?;
        Err(not_available(TYPE_NAME, "Importing an addon"))
    }
}
