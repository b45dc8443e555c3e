//! A generic framework for Terraform plugin protocol 6 providers (Terraform ≥ 1.0, OpenTofu).
//!
//! It knows nothing of hk8s. Layers (STYLE.md "Patterns to follow" 1):
//! - [`value`]: cty values and types, msgpack/JSON wire forms, serde mapping;
//! - [`diag`]: diagnostics and attribute paths;
//! - [`schema`]: declarative schemas with validators and plan modifiers;
//! - [`framework`]: the [`Provider`](framework::Provider), [`Resource`](framework::Resource),
//!   [`DataSource`](framework::DataSource) and [`EphemeralResource`](framework::EphemeralResource)
//!   traits and default planning;
//! - [`server`]: the go-plugin handshake, mTLS, gRPC services and logging.
//!
//! The generated protobuf types stay private to this module.
//!
//! # What the framework does for a resource
//!
//! - **Validate**: schema validators run on known, non-null configuration values and report at
//!   the narrowest path; deprecated attributes that are set get a warning; then
//!   [`Resource::validate`](framework::Resource::validate) runs.
//! - **Plan**: starting from Terraform's proposed new state, defaults fill null configuration,
//!   computed attributes that are null in configuration become unknown on create (and in new
//!   elements of nested collections) and keep their prior value on update, plan modifiers run and
//!   collect `requires_replace` paths; then
//!   [`Resource::modify_plan`](framework::Resource::modify_plan) may adjust the
//!   [`PlannedChange`](framework::PlannedChange). Destroy plans (null) reach `modify_plan` too.
//! - **Apply**: `create`, `update` or `delete`; results must be wholly known (checked), write-only
//!   attributes are nulled; a failed update or delete keeps the prior state.
//! - **Read** returning [`Value::Null`](value::Value::Null) removes the object from state;
//!   **import** returns a partial state that Terraform then reads.
//! - **Upgrade**: stored JSON at the current schema version is decoded leniently (attributes
//!   that no longer exist are dropped); older versions go through
//!   [`Resource::upgrade_state`](framework::Resource::upgrade_state); newer ones are refused.
//! - **Stop**: `StopProvider` cancels the [`CancellationToken`](framework::CancellationToken)
//!   every request carries.
//! - Private state bytes pass through unchanged.
//!
//! Map values to structs with [`Value::decode`](value::Value::decode) and back with
//! [`Value::encode`](value::Value::encode); use [`Known<T>`](value::Known) for fields that may be
//! unknown during plan, `Option<T>` for fields that may be null, `T` for required ones, and
//! [`Number`](value::Number) where precision matters.
//!
//! # Example
//!
//! ```no_run
//! use hk8s::tfplugin::diag::Diagnostics;
//! use hk8s::tfplugin::framework::{
//!     ConfigureRequest, CreateRequest, DataSourceHandle, DeleteRequest, Provider, ReadRequest,
//!     Resource, ResourceHandle, UpdateRequest,
//! };
//! use hk8s::tfplugin::schema::{Attribute, Schema, requires_replace};
//! use hk8s::tfplugin::value::{Known, Value};
//! use serde::{Deserialize, Serialize};
//!
//! struct Example;
//! struct Settings { greeting: String }
//!
//! impl Provider for Example {
//!     type Data = Settings;
//!     fn schema(&self) -> Schema {
//!         Schema::new().attribute(Attribute::string("greeting").optional())
//!     }
//!     async fn configure(&self, request: ConfigureRequest<'_>) -> Result<Settings, Diagnostics> {
//!         let greeting: Option<String> = request.config.get("greeting").unwrap_or(&Value::Null).decode()?;
//!         Ok(Settings { greeting: greeting.unwrap_or_else(|| "hello".into()) })
//!     }
//!     fn resources(&self) -> Vec<ResourceHandle<Settings>> {
//!         vec![ResourceHandle::new(Greeting)]
//!     }
//!     fn data_sources(&self) -> Vec<DataSourceHandle<Settings>> {
//!         Vec::new()
//!     }
//! }
//!
//! /// The typed model of `example_greeting`.
//! #[derive(Serialize, Deserialize)]
//! struct GreetingModel { name: String, id: Known<String>, text: Known<String> }
//!
//! struct Greeting;
//!
//! impl Resource<Settings> for Greeting {
//!     fn type_name(&self) -> &str { "example_greeting" }
//!     fn schema(&self) -> Schema {
//!         Schema::new()
//!             .attribute(Attribute::string("name").required().plan(requires_replace()))
//!             .attribute(Attribute::string("id").computed())
//!             .attribute(Attribute::string("text").computed())
//!     }
//!     async fn create(&self, request: CreateRequest<'_, Settings>) -> Result<Value, Diagnostics> {
//!         let mut model: GreetingModel = request.planned.decode()?;
//!         model.text = Known::Value(format!("{}, {}", request.data.greeting, model.name));
//!         model.id = Known::Value(model.name.clone());
//!         Ok(Value::encode(&model, request.value_type)?)
//!     }
//!     async fn read(&self, request: ReadRequest<'_, Settings>) -> Result<Value, Diagnostics> {
//!         Ok(request.state.clone())
//!     }
//!     async fn update(&self, request: UpdateRequest<'_, Settings>) -> Result<Value, Diagnostics> {
//!         Ok(request.planned.clone())
//!     }
//!     async fn delete(&self, _request: DeleteRequest<'_, Settings>) -> Result<(), Diagnostics> {
//!         Ok(())
//!     }
//! }
//!
//! # async fn run() {
//! // In main: serve over go-plugin (or --debug), with the provider's registry address.
//! let options = hk8s::tfplugin::server::ServeOptions::new("registry.terraform.io/example/example");
//! let exit = hk8s::tfplugin::server::serve(Example, options).await;
//! # }
//! ```

pub mod diag;
pub mod docs;
pub mod framework;
pub mod schema;
pub mod server;
pub mod value;

/// Generated tfplugin6 types.
#[allow(clippy::all, missing_docs, unreachable_pub, dead_code)]
pub(crate) mod proto {
    tonic::include_proto!("tfplugin6");
}

/// Generated go-plugin side-service types (controller, stdio, broker).
#[allow(clippy::all, missing_docs, unreachable_pub, dead_code)]
pub(crate) mod plugin_proto {
    tonic::include_proto!("plugin");
}
