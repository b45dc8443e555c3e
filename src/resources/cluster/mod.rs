//! `hk8s_cluster`: schema, validation, plan-time diffing, and the lifecycle: create and update
//! converge the cluster to the plan ([`converge`]), refresh reads it back and exposes drift
//! ([`refresh`]), delete removes everything labelled for it ([`delete`]), import rebuilds state
//! from Hetzner ([`import`]).

mod components;
mod converge;
mod delete;
mod import;
mod infra;
mod journal;
mod machine;
mod model;
mod observe;
mod pki;
mod plan;
mod protect;
mod refresh;
mod renewal;
mod roll;
mod schema;
mod spec;
mod state;
mod topology;
mod validate;

use crate::provider::ProviderData;
use crate::resources::config_view as view;
use crate::resources::cost;
use crate::resources::import_id;
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::tfplugin::framework::{
    CreateRequest, DeleteRequest, ImportRequest, PlanRequest, PlannedChange, ReadRequest, Resource,
    UpdateRequest, ValidateRequest,
};
use crate::tfplugin::schema::Schema;
use crate::tfplugin::value::Value;

use crate::resources::fleet::{Operation, failed};
use converge::Bootstrap;
use spec::ClusterSpec;

pub use crate::resources::fleet::image::DEFAULT_SCHEMATIC;
pub use schema::{CNIS, DEFAULT_CONTROL_PLANE_COUNT};

/// The Terraform type name.
pub const TYPE_NAME: &str = "hk8s_cluster";

/// The `hk8s_cluster` resource type.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cluster;

impl Resource<ProviderData> for Cluster {
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
            cost::Kind::Cluster,
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
            None,
            request.cancel,
            request.warnings,
        )
        .await
    }

    async fn read(&self, request: ReadRequest<'_, ProviderData>) -> Result<Value, Diagnostics> {
        if request.state.is_null() {
            return Ok(Value::Null);
        }
        let op = Operation::start(request.data, "read", refresh::READ_BUDGET, request.cancel)?;
        let state = refresh::refresh(&op, request.state).await?;
        forget_recorded_secrets(&state);
        Ok(state)
    }

    async fn update(&self, request: UpdateRequest<'_, ProviderData>) -> Result<Value, Diagnostics> {
        forget_recorded_secrets(request.prior);
        apply(
            request.data,
            request.planned,
            Some(request.prior),
            request.cancel,
            request.warnings,
        )
        .await
    }

    async fn delete(&self, request: DeleteRequest<'_, ProviderData>) -> Result<(), Diagnostics> {
        let prior = request.prior;
        let Some(name) = view::string(prior, &AttributePath::root("name")) else {
            return Ok(());
        };
        if view::boolean(prior, &AttributePath::root("delete_protection")) == Some(true) {
            return Err(Diagnostic::error(
                "The cluster is protected from deletion",
                format!(
                    "hk8s_cluster {name:?} has delete_protection = true. Set it to false and apply \
                     before destroying the cluster."
                ),
            )
            .at(AttributePath::root("delete_protection"))
            .into());
        }
        let budget = crate::resources::timeouts::parse(prior, spec::DEFAULT_TIMEOUTS)
            .map_or(spec::DEFAULT_TIMEOUTS.delete, |t| t.delete);
        let op = Operation::start(request.data, "delete", budget, request.cancel)?;
        journal::Journal::in_working_dir().forget(name);
        let existing = view::integer(
            prior,
            &AttributePath::root("network").attr("existing_network_id"),
        )
        .zip(
            view::string(prior, &AttributePath::root("network").attr("node_subnet"))
                .and_then(|s| s.parse().ok()),
        );
        let removed = delete::delete_cluster(&op.hcloud, name, existing)
            .await
            .map_err(|e| failed(format!("Deleting cluster {name:?} did not finish"), &e))?;
        tracing::info!(cluster = name, ?removed, "cluster deleted");
        delete_snapshots(&op, prior).await
    }

    async fn import(&self, request: ImportRequest<'_, ProviderData>) -> Result<Value, Diagnostics> {
        import_id::cluster(request.id)?;
        let op = Operation::start(request.data, "import", refresh::READ_BUDGET, request.cancel)?;
        let mut state = import::import(&op, request.id, request.value_type).await?;
        // The import reads what the cluster buys, so its cost is known too.
        state.set_at_path(&AttributePath::root(cost::ATTRIBUTE), Value::Unknown);
        if let Some(warning) =
            cost::settle(cost::Kind::Cluster, request.data, &op.hcloud, &mut state).await
        {
            tracing::warn!(detail = %warning.detail, "imported cluster without a cost estimate");
        }
        Ok(state)
    }
}

/// With `image.keep_snapshots = false`, the snapshots hk8s built for the cluster's Talos version
/// and schematic, unless another server still boots from them (then a log line says so).
async fn delete_snapshots(op: &Operation, prior: &Value) -> Result<(), Diagnostics> {
    let image = AttributePath::root("image");
    if view::boolean(prior, &image.attr("keep_snapshots")) != Some(false) {
        return Ok(());
    }
    let Some(version) = view::string(prior, &AttributePath::root("talos_version"))
        .and_then(|v| v.parse::<crate::talos::version::TalosVersion>().ok())
    else {
        return Ok(());
    };
    let schematic = view::string(prior, &image.attr("schematic")).unwrap_or_default();
    let id = op
        .factory
        .schematic_id(schematic)
        .await
        .map_err(|e| failed("Cannot name the cluster's snapshots to delete", &e))?;
    let (deleted, kept) = crate::snapshot::delete_unused(&op.hcloud, &version, &id)
        .await
        .map_err(|e| failed("Deleting the cluster's Talos snapshots did not finish", &e))?;
    tracing::info!(
        ?deleted,
        ?kept,
        "Talos snapshots deleted (image.keep_snapshots = false); kept ones still boot other servers"
    );
    Ok(())
}

/// Create (`prior` is `None`: etcd may be bootstrapped, new secrets minted unless given) or
/// update (the prior state's secrets; never a second bootstrap): converge, protection, state, cost.
async fn apply(
    data: &ProviderData,
    planned: &Value,
    prior: Option<&Value>,
    cancel: &tokio_util::sync::CancellationToken,
    warnings: &crate::tfplugin::framework::Warnings,
) -> Result<Value, Diagnostics> {
    let mut spec = ClusterSpec::from_planned(planned)?;
    let (name, budget, bootstrap) = match prior {
        None => ("create", spec.timeouts.create, Bootstrap::Allowed),
        Some(_) => ("update", spec.timeouts.update, Bootstrap::Forbidden),
    };
    let op = Operation::start(data, name, budget, cancel)?;
    spec.image
        .resolve_schematic(&op.factory, AttributePath::root("image").attr("schematic"))
        .await?;
    let (secrets, secrets_yaml) = pki::resolve(&spec, prior, prior.is_none())?;
    let (converged, _) = converge::converge(&op, &spec, &secrets, bootstrap)
        .await
        .map_err(|d| within(name, &spec, d))?;
    protect_after_apply(&op, &spec, &converged)
        .await
        .map_err(|d| within(name, &spec, d))?;
    for warning in &converged.warnings {
        warnings.push(warning.clone());
    }
    let mut state = state::after_apply(planned, &spec, &converged, &secrets, &secrets_yaml)?;
    if let Some(warning) = cost::settle(cost::Kind::Cluster, data, &op.hcloud, &mut state).await {
        warnings.push(warning);
    }
    Ok(state)
}

/// Gives the cluster's servers, load balancer and network Hetzner's own delete protection when
/// `delete_protection` is true, and lifts it when false ([`protect`]).
async fn protect_after_apply(
    op: &Operation,
    spec: &ClusterSpec,
    converged: &converge::Converged,
) -> Result<(), Diagnostics> {
    protect::after_apply(&op.hcloud, spec, converged)
        .await
        .map_err(|e| {
            failed(
                format!(
                    "Cannot {} Hetzner's delete protection of the cluster's servers, load balancer and network",
                    if spec.delete_protection { "turn on" } else { "lift" }
                ),
                &e,
            )
        })
}

/// Adds to an apply error what happens next: nothing made is lost, and applying again continues.
fn within(operation: &str, spec: &ClusterSpec, diagnostics: Diagnostics) -> Diagnostics {
    crate::resources::fleet::stopped_here(
        &format!("The {operation} of cluster {:?}", spec.name),
        &format!("hk8s.io/cluster={}", spec.name),
        diagnostics,
    )
}

/// Terraform recorded the secrets a create generated: their copy in the journal goes.
fn forget_recorded_secrets(state: &Value) {
    if let (Some(name), Some(secrets)) = (
        view::string(state, &AttributePath::root("name")),
        view::string(state, &AttributePath::root("secrets")),
    ) {
        journal::Journal::in_working_dir().forget_if_recorded(name, secrets);
    }
}
