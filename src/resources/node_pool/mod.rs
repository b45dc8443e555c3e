//! `hk8s_node_pool`: schema, validation, plan-time checks against the cluster and diffing, and
//! (for now) apply operations that say plainly they are not available yet.

mod plan;
mod schema;
mod validate;

use crate::provider::ProviderData;
use crate::resources::cost;
use crate::resources::import_id;
use crate::resources::unavailable::not_available;
use crate::tfplugin::diag::Diagnostics;
use crate::tfplugin::framework::{
    CreateRequest, DeleteRequest, ImportRequest, PlanRequest, PlannedChange, ReadRequest, Resource,
    UpdateRequest, ValidateRequest,
};
use crate::tfplugin::schema::Schema;
use crate::tfplugin::value::Value;

pub use schema::MAX_POOL_SIZE;

/// The Terraform type name.
pub const TYPE_NAME: &str = "hk8s_node_pool";

/// The `hk8s_node_pool` resource type.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodePool;

impl Resource<ProviderData> for NodePool {
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
        let change = plan::modify(request.config, request.prior, plan)?;
        Ok(cost::plan(
            cost::Kind::Pool,
            request.data,
            request.cancel,
            request.prior,
            change,
        )
        .await)
    }

    async fn create(
        &self,
        _request: CreateRequest<'_, ProviderData>,
    ) -> Result<Value, Diagnostics> {
        Err(not_available(TYPE_NAME, "Creating a node pool"))
    }

    async fn read(&self, request: ReadRequest<'_, ProviderData>) -> Result<Value, Diagnostics> {
        Ok(request.state.clone())
    }

    async fn update(
        &self,
        _request: UpdateRequest<'_, ProviderData>,
    ) -> Result<Value, Diagnostics> {
        Err(not_available(TYPE_NAME, "Updating a node pool"))
    }

    async fn delete(&self, _request: DeleteRequest<'_, ProviderData>) -> Result<(), Diagnostics> {
        Err(not_available(TYPE_NAME, "Deleting a node pool"))
    }

    async fn import(&self, request: ImportRequest<'_, ProviderData>) -> Result<Value, Diagnostics> {
        import_id::pool(request.id)?;
        Err(not_available(TYPE_NAME, "Importing a node pool"))
    }
}
