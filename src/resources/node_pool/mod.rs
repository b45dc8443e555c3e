//! `hk8s_node_pool`: schema, validation, plan-time checks against the cluster and diffing, and
//! the lifecycle: create and update converge the pool to the plan ([`converge`]), refresh reads
//! it back and exposes drift, delete drains and removes it, import rebuilds state from the
//! servers labelled for it ([`state`]).

mod autoscaling;
mod capacity;
mod converge;
mod delete;
mod machine;
mod members;
mod plan;
mod schema;
mod spec;
mod state;
mod validate;

use crate::provider::ProviderData;
use crate::resources::config_view as view;
use crate::resources::cost;
use crate::resources::fleet::Operation;
use crate::resources::import_id::{self, ImportId};
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::tfplugin::framework::{
    CreateRequest, DeleteRequest, ImportRequest, PlanRequest, PlannedChange, ReadRequest, Resource,
    UpdateRequest, ValidateRequest,
};
use crate::tfplugin::schema::Schema;
use crate::tfplugin::value::Value;

use converge::Mode;
use spec::PoolSpec;

pub use schema::MAX_POOL_SIZE;

/// The Terraform type name.
pub const TYPE_NAME: &str = "hk8s_node_pool";

/// The `hk8s_node_pool` resource type.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodePool;

async fn apply(
    data: &ProviderData,
    planned: &Value,
    mode: Mode,
    cancel: &tokio_util::sync::CancellationToken,
    warnings: &crate::tfplugin::framework::Warnings,
) -> Result<Value, Diagnostics> {
    let mut spec = PoolSpec::from_planned(planned)?;
    let (name, budget) = match mode {
        Mode::Create => ("create", spec.timeouts.create),
        Mode::Update => ("update", spec.timeouts.update),
    };
    let op = Operation::start(data, name, budget, cancel)?;
    spec.cluster
        .image
        .resolve_schematic(&op.factory, AttributePath::root("cluster"))
        .await?;
    let converged = converge::converge(&op, &spec, mode)
        .await
        .map_err(|d| within(name, &spec, d))?;
    for warning in &converged.warnings {
        warnings.push(warning.clone());
    }
    let mut state = state::after_apply(planned, &spec, &converged)?;
    if let Some(warning) = cost::settle(cost::Kind::Pool, data, &op.hcloud, &mut state).await {
        warnings.push(warning);
    }
    Ok(state)
}

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
        let mut change = plan::modify(request.config, request.prior, plan)?;
        let capacity =
            capacity::warnings(request.data, request.cancel, request.prior, &change.planned).await;
        for warning in capacity {
            change.diagnostics.push(warning);
        }
        if !change.planned.is_null()
            && let Some(warning) =
                autoscaling::missing_autoscaler(request.data, request.cancel, &change.planned).await
        {
            change.diagnostics.push(warning);
        }
        Ok(cost::plan(
            cost::Kind::Pool,
            request.data,
            request.cancel,
            request.prior,
            change,
        )
        .await)
    }

    async fn create(&self, request: CreateRequest<'_, ProviderData>) -> Result<Value, Diagnostics> {
        apply(
            request.data,
            request.planned,
            Mode::Create,
            request.cancel,
            request.warnings,
        )
        .await
    }

    async fn read(&self, request: ReadRequest<'_, ProviderData>) -> Result<Value, Diagnostics> {
        if request.state.is_null() {
            return Ok(Value::Null);
        }
        let op = Operation::start(request.data, "read", state::READ_BUDGET, request.cancel)?;
        state::refresh(&op, request.state).await
    }

    async fn update(&self, request: UpdateRequest<'_, ProviderData>) -> Result<Value, Diagnostics> {
        apply(
            request.data,
            request.planned,
            Mode::Update,
            request.cancel,
            request.warnings,
        )
        .await
    }

    async fn delete(&self, request: DeleteRequest<'_, ProviderData>) -> Result<(), Diagnostics> {
        let prior = request.prior;
        if view::boolean(prior, &AttributePath::root("delete_protection")) == Some(true) {
            return Err(Diagnostic::error(
                "The node pool is protected from deletion",
                format!(
                    "hk8s_node_pool {:?} has delete_protection = true. Set it to false and apply \
                     before destroying the pool.",
                    view::string(prior, &AttributePath::root("id")).unwrap_or_default()
                ),
            )
            .at(AttributePath::root("delete_protection"))
            .into());
        }
        let budget = crate::resources::timeouts::parse(prior, spec::DEFAULT_TIMEOUTS)
            .map_or(spec::DEFAULT_TIMEOUTS.delete, |t| t.delete);
        let op = Operation::start(request.data, "delete", budget, request.cancel)?;
        delete::delete(&op, prior).await
    }

    async fn import(&self, request: ImportRequest<'_, ProviderData>) -> Result<Value, Diagnostics> {
        let ImportId::Pool { cluster, pool } = import_id::pool(request.id)? else {
            return Err(Diagnostic::error("Invalid import id", "expected <cluster>/<pool>").into());
        };
        let op = Operation::start(request.data, "import", state::READ_BUDGET, request.cancel)?;
        let mut state = state::import(&op, &cluster, &pool, request.value_type).await?;
        // The import reads what the pool buys, so its cost is known too.
        state.set_at_path(&AttributePath::root(cost::ATTRIBUTE), Value::Unknown);
        if let Some(warning) =
            cost::settle(cost::Kind::Pool, request.data, &op.hcloud, &mut state).await
        {
            tracing::warn!(detail = %warning.detail, "imported node pool without a cost estimate");
        }
        Ok(state)
    }
}

/// Adds to an apply error what happens next: nothing made is lost, and applying again continues.
fn within(operation: &str, spec: &PoolSpec, diagnostics: Diagnostics) -> Diagnostics {
    crate::resources::fleet::stopped_here(
        &format!("The {operation} of node pool {:?}", spec.name),
        &format!("hk8s.io/pool={}", spec.name),
        diagnostics,
    )
}
