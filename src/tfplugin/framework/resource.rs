//! The [`Resource`] trait: a managed resource type's schema and lifecycle.

use std::future::Future;

use tokio_util::sync::CancellationToken;

use super::plan::PlannedChange;
use crate::tfplugin::diag::{Diagnostic, Diagnostics};
use crate::tfplugin::schema::Schema;
use crate::tfplugin::value::{Type, Value, decode_json_lenient};

/// What validation receives: the configuration, possibly with unknown values.
#[derive(Debug)]
#[non_exhaustive]
pub struct ValidateRequest<'a> {
    /// The configuration (attributes unset in HCL are null; unknowns are possible).
    pub config: &'a Value,
}

impl<'a> ValidateRequest<'a> {
    /// A request for `config` (public so resources can unit-test their `validate`).
    #[must_use]
    pub fn new(config: &'a Value) -> Self {
        Self { config }
    }
}

/// What planning receives. On destroy `config` and `proposed` are null.
#[non_exhaustive]
pub struct PlanRequest<'a, D> {
    /// The configured provider data.
    pub data: &'a D,
    /// The configuration (null on destroy).
    pub config: &'a Value,
    /// The prior state (null on create).
    pub prior: &'a Value,
    /// Terraform's proposed new state (config merged with prior computed values).
    pub proposed: &'a Value,
    /// The schema's value type, for [`Value::encode`].
    pub value_type: &'a Type,
    /// Cancelled when Terraform asks the provider to stop.
    pub cancel: &'a CancellationToken,
}

impl<D> PlanRequest<'_, D> {
    /// True when the resource is about to be created.
    #[must_use]
    pub fn is_create(&self) -> bool {
        self.prior.is_null()
    }

    /// True when the resource is about to be destroyed.
    #[must_use]
    pub fn is_destroy(&self) -> bool {
        self.proposed.is_null()
    }
}

/// Warnings an apply reports although it succeeds (e.g. a node placed elsewhere than asked):
/// create and update push them here, and the apply's response carries them to Terraform, which
/// shows them to the user. Errors are returned as `Err` instead.
#[derive(Debug, Default)]
pub struct Warnings(std::sync::Mutex<Diagnostics>);

impl Warnings {
    /// Records a warning.
    pub fn push(&self, warning: Diagnostic) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(warning);
    }

    /// Everything recorded.
    #[must_use]
    pub fn take(&self) -> Diagnostics {
        std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }
}

/// What create receives.
#[non_exhaustive]
pub struct CreateRequest<'a, D> {
    /// The configured provider data.
    pub data: &'a D,
    /// The configuration (wholly known at apply, except write-only nulls).
    pub config: &'a Value,
    /// The planned state; the result must match every known value in it.
    pub planned: &'a Value,
    /// The schema's value type, for [`Value::encode`].
    pub value_type: &'a Type,
    /// Cancelled when Terraform asks the provider to stop.
    pub cancel: &'a CancellationToken,
    /// Where warnings go that the apply reports although it succeeds.
    pub warnings: &'a Warnings,
}

/// What read (refresh) receives.
#[non_exhaustive]
pub struct ReadRequest<'a, D> {
    /// The configured provider data.
    pub data: &'a D,
    /// The current state (after any upgrade).
    pub state: &'a Value,
    /// The schema's value type, for [`Value::encode`].
    pub value_type: &'a Type,
    /// Cancelled when Terraform asks the provider to stop.
    pub cancel: &'a CancellationToken,
}

/// What update receives.
#[non_exhaustive]
pub struct UpdateRequest<'a, D> {
    /// The configured provider data.
    pub data: &'a D,
    /// The configuration.
    pub config: &'a Value,
    /// The prior state.
    pub prior: &'a Value,
    /// The planned state; the result must match every known value in it.
    pub planned: &'a Value,
    /// The schema's value type, for [`Value::encode`].
    pub value_type: &'a Type,
    /// Cancelled when Terraform asks the provider to stop.
    pub cancel: &'a CancellationToken,
    /// Where warnings go that the apply reports although it succeeds.
    pub warnings: &'a Warnings,
}

/// What delete receives.
#[non_exhaustive]
pub struct DeleteRequest<'a, D> {
    /// The configured provider data.
    pub data: &'a D,
    /// The state being destroyed.
    pub prior: &'a Value,
    /// Cancelled when Terraform asks the provider to stop.
    pub cancel: &'a CancellationToken,
}

/// What import receives.
#[non_exhaustive]
pub struct ImportRequest<'a, D> {
    /// The configured provider data.
    pub data: &'a D,
    /// The user's import id (`terraform import ADDR ID`).
    pub id: &'a str,
    /// The schema's value type, for [`Value::encode`].
    pub value_type: &'a Type,
    /// Cancelled when Terraform asks the provider to stop.
    pub cancel: &'a CancellationToken,
}

/// What state upgrade receives.
#[derive(Debug)]
#[non_exhaustive]
pub struct UpgradeStateRequest<'a> {
    /// The schema version recorded with the state.
    pub stored_version: i64,
    /// The state as stored, JSON of the schema at `stored_version`.
    pub raw_json: &'a [u8],
    /// The current schema.
    pub schema: &'a Schema,
}

/// A managed resource type (`resource "TYPE" "name" { ... }`).
///
/// Required: name, schema and CRUD. Optional: `validate`, `modify_plan`, `import`,
/// `upgrade_state`. The framework already plans by the rules in FIELD-NOTES (config values kept,
/// computed nulls unknown on create, prior values kept on update, defaults and schema plan
/// modifiers applied), so most resources need no `modify_plan`.
///
/// Operations return `Result<_, Diagnostics>`; map values into serde structs with
/// [`Value::decode`] and back with [`Value::encode`] (the `?` operator turns value errors into
/// diagnostics).
pub trait Resource<D>: Send + Sync + 'static {
    /// The full type name, e.g. `hk8s_cluster`.
    fn type_name(&self) -> &str;

    /// The schema (called once per provider process; keep it cheap anyway).
    fn schema(&self) -> Schema;

    /// Cross-attribute checks beyond schema validators; no provider data (not configured yet).
    fn validate(&self, request: ValidateRequest<'_>) -> impl Future<Output = Diagnostics> + Send {
        let _ = request;
        async { Diagnostics::new() }
    }

    /// Adjusts the framework's plan: set values known at plan time, mark values unknown that
    /// will change, add `requires_replace` paths. Also called on destroy (planned null).
    fn modify_plan(
        &self,
        request: PlanRequest<'_, D>,
        plan: PlannedChange,
    ) -> impl Future<Output = Result<PlannedChange, Diagnostics>> + Send {
        let _ = request;
        async { Ok(plan) }
    }

    /// Creates the object; returns the new state (wholly known).
    fn create(
        &self,
        request: CreateRequest<'_, D>,
    ) -> impl Future<Output = Result<Value, Diagnostics>> + Send;

    /// Refreshes the state; returns [`Value::Null`] when the object no longer exists.
    fn read(
        &self,
        request: ReadRequest<'_, D>,
    ) -> impl Future<Output = Result<Value, Diagnostics>> + Send;

    /// Updates the object in place; returns the new state (wholly known).
    fn update(
        &self,
        request: UpdateRequest<'_, D>,
    ) -> impl Future<Output = Result<Value, Diagnostics>> + Send;

    /// Deletes the object.
    fn delete(
        &self,
        request: DeleteRequest<'_, D>,
    ) -> impl Future<Output = Result<(), Diagnostics>> + Send;

    /// Builds a (partial) state from an import id; Terraform then calls `read`.
    fn import(
        &self,
        request: ImportRequest<'_, D>,
    ) -> impl Future<Output = Result<Value, Diagnostics>> + Send {
        let name = self.type_name().to_owned();
        let _ = request;
        async move {
            Err(Diagnostic::error(
                "Import not supported",
                format!("The resource type {name} cannot be imported."),
            )
            .into())
        }
    }

    /// Converts state stored under an older schema version to the current schema. The default
    /// decodes the stored JSON with the current schema, dropping attributes that no longer exist
    /// and leaving new ones null; override it when attributes were renamed or reshaped.
    fn upgrade_state(
        &self,
        request: UpgradeStateRequest<'_>,
    ) -> impl Future<Output = Result<Value, Diagnostics>> + Send {
        let result = decode_json_lenient(request.raw_json, &request.schema.value_type())
            .map_err(Diagnostics::from);
        async move { result }
    }
}
