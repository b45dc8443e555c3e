//! `hk8s_addon`: schema, catalog, validation, plan-time defaults, and the lifecycle (install,
//! upgrade, refresh, uninstall, import) of a Helm release served by the cluster's
//! helm-controller.

pub mod catalog;
mod lifecycle;
mod plan;
pub mod release;
mod schema;
mod validate;

use crate::provider::ProviderData;
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

impl Resource<ProviderData> for Addon {
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
        request: PlanRequest<'_, ProviderData>,
        plan: PlannedChange,
    ) -> Result<PlannedChange, Diagnostics> {
        plan::modify(request.config, request.prior, plan)
    }

    async fn create(&self, request: CreateRequest<'_, ProviderData>) -> Result<Value, Diagnostics> {
        lifecycle::apply(
            request.data,
            request.planned,
            true,
            request.cancel,
            request.warnings,
        )
        .await
    }

    async fn read(&self, request: ReadRequest<'_, ProviderData>) -> Result<Value, Diagnostics> {
        if request.state.is_null() {
            return Ok(Value::Null);
        }
        lifecycle::read(request.data, request.state, request.cancel).await
    }

    async fn update(&self, request: UpdateRequest<'_, ProviderData>) -> Result<Value, Diagnostics> {
        lifecycle::apply(
            request.data,
            request.planned,
            false,
            request.cancel,
            request.warnings,
        )
        .await
    }

    async fn delete(&self, request: DeleteRequest<'_, ProviderData>) -> Result<(), Diagnostics> {
        lifecycle::delete(request.data, request.prior, request.cancel).await
    }

    async fn import(&self, request: ImportRequest<'_, ProviderData>) -> Result<Value, Diagnostics> {
        lifecycle::import(request.id, request.value_type)
    }
}
