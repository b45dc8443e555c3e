//! The provider service driven in-process through its gRPC trait (no socket): request decoding,
//! dispatch, planning, apply checks, state upgrade and error reporting.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tonic::Request;

use super::*;
use crate::tfplugin::diag::AttributePath;
use crate::tfplugin::diag::Diagnostic;
use crate::tfplugin::framework::{
    CreateRequest, DataRead, DataSource, DeleteRequest, ImportRequest, ReadDataRequest,
    ReadRequest, Resource, UpdateRequest, UpgradeStateRequest,
};
use crate::tfplugin::proto::provider_server::Provider as _;
use crate::tfplugin::schema::{Attribute, one_of, requires_replace};
use crate::tfplugin::server::convert::encode_dynamic;
use crate::tfplugin::value::{Value, decode_msgpack};

struct TestProvider {
    saw_cancel: Arc<AtomicBool>,
}

struct Thing {
    saw_cancel: Arc<AtomicBool>,
}

impl Provider for TestProvider {
    type Data = String;
    fn schema(&self) -> Schema {
        Schema::new().attribute(Attribute::string("greeting").optional().sensitive())
    }
    async fn configure(&self, request: ConfigureRequest<'_>) -> Result<String, Diagnostics> {
        let greeting: Option<String> = request
            .config
            .get("greeting")
            .unwrap_or(&Value::Null)
            .decode()?;
        Ok(greeting.unwrap_or_else(|| "hello".to_owned()))
    }
    fn resources(&self) -> Vec<ResourceHandle<String>> {
        vec![ResourceHandle::new(Thing {
            saw_cancel: Arc::clone(&self.saw_cancel),
        })]
    }
    fn data_sources(&self) -> Vec<DataSourceHandle<String>> {
        vec![DataSourceHandle::new(Lookup)]
    }
}

/// A data source that waits for its `key`: deferred (value unknown) while it is null.
struct Lookup;

impl DataSource<String> for Lookup {
    fn type_name(&self) -> &str {
        "test_lookup"
    }
    fn schema(&self) -> Schema {
        Schema::new()
            .attribute(Attribute::string("key").optional())
            .attribute(Attribute::string("value").computed())
    }
    async fn read(&self, request: ReadDataRequest<'_, String>) -> Result<DataRead, Diagnostics> {
        let mut state = request.config.clone();
        let path = AttributePath::root("value");
        match request.config.get("key").and_then(Value::as_str) {
            // Deferred even when Terraform does not allow it: the service must refuse that.
            None => {
                state.set_at_path(&path, Value::Unknown);
                Ok(DataRead {
                    state,
                    diagnostics: Diagnostics::new(),
                    deferred: true,
                })
            }
            Some(key) => {
                state.set_at_path(&path, Value::from(format!("{key}!")));
                Ok(DataRead {
                    state,
                    diagnostics: Diagnostic::warning("Looked up", key).into(),
                    deferred: false,
                })
            }
        }
    }
}

impl Resource<String> for Thing {
    fn type_name(&self) -> &str {
        "test_thing"
    }
    fn schema(&self) -> Schema {
        Schema::new()
            .version(2)
            .attribute(
                Attribute::string("name")
                    .required()
                    .plan(requires_replace()),
            )
            .attribute(
                Attribute::string("size")
                    .optional()
                    .validate(one_of(["s", "m"])),
            )
            .attribute(Attribute::string("id").computed())
    }
    async fn create(&self, request: CreateRequest<'_, String>) -> Result<Value, Diagnostics> {
        let mut state = request.planned.clone();
        let name = state
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if name == "leave-unknown" {
            return Ok(state); // a buggy resource: id stays unknown
        }
        state.set_at_path(
            &AttributePath::root("id"),
            Value::from(format!("{}-{name}", request.data)),
        );
        Ok(state)
    }
    async fn read(&self, request: ReadRequest<'_, String>) -> Result<Value, Diagnostics> {
        if request.state.get("name").and_then(Value::as_str) == Some("gone") {
            return Ok(Value::Null);
        }
        Ok(request.state.clone())
    }
    async fn update(&self, request: UpdateRequest<'_, String>) -> Result<Value, Diagnostics> {
        request.cancel.cancelled().await;
        self.saw_cancel.store(true, Ordering::SeqCst);
        Err(Diagnostic::error("Cancelled", "stopped by Terraform").into())
    }
    async fn delete(&self, _request: DeleteRequest<'_, String>) -> Result<(), Diagnostics> {
        Ok(())
    }
    async fn import(&self, request: ImportRequest<'_, String>) -> Result<Value, Diagnostics> {
        Ok(Value::object([("id", Value::from(request.id))])
            .conform(request.value_type, &AttributePath::empty())?)
    }
    async fn upgrade_state(&self, request: UpgradeStateRequest<'_>) -> Result<Value, Diagnostics> {
        // Version 1 called the name "title".
        let old: serde_json::Value = serde_json::from_slice(request.raw_json).unwrap();
        Ok(Value::object([
            ("name", Value::from(old["title"].as_str().unwrap())),
            ("id", Value::from("upgraded")),
        ])
        .conform(&request.schema.value_type(), &AttributePath::empty())?)
    }
}

fn service() -> (ProviderService<TestProvider>, Arc<AtomicBool>) {
    let saw_cancel = Arc::new(AtomicBool::new(false));
    (
        ProviderService::new(TestProvider {
            saw_cancel: Arc::clone(&saw_cancel),
        }),
        saw_cancel,
    )
}

fn thing_type(service: &ProviderService<TestProvider>) -> Type {
    service.resources["test_thing"].value_type.clone()
}

fn thing(name: &str, size: Value, id: Value) -> Value {
    Value::object([("name", Value::from(name)), ("size", size), ("id", id)])
}

fn dv(service: &ProviderService<TestProvider>, value: &Value) -> Option<DynamicValue> {
    Some(encode_dynamic(value, &thing_type(service)).unwrap())
}

async fn configure(service: &ProviderService<TestProvider>) {
    let config = Value::object([("greeting", Value::from("hi"))]);
    let request = configure_provider::Request {
        config: Some(encode_dynamic(&config, &service.provider_type).unwrap()),
        client_capabilities: Some(ClientCapabilities {
            deferral_allowed: true,
            write_only_attributes_allowed: false,
        }),
        ..Default::default()
    };
    let response = service
        .configure_provider(Request::new(request))
        .await
        .unwrap()
        .into_inner();
    assert!(response.diagnostics.is_empty());
}

fn summaries(diagnostics: &[crate::tfplugin::proto::Diagnostic]) -> Vec<&str> {
    diagnostics.iter().map(|d| d.summary.as_str()).collect()
}

#[tokio::test]
async fn metadata_and_schema_list_the_types_and_capabilities() {
    let (service, _) = service();
    let metadata = service
        .get_metadata(Request::new(get_metadata::Request {}))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(metadata.resources[0].type_name, "test_thing");
    let caps = metadata.server_capabilities.unwrap();
    assert!(caps.plan_destroy && !caps.get_provider_schema_optional && !caps.move_resource_state);
    let schema = service
        .get_provider_schema(Request::new(get_provider_schema::Request {}))
        .await
        .unwrap()
        .into_inner();
    assert!(schema.provider.unwrap().block.unwrap().attributes[0].sensitive);
    assert_eq!(schema.resource_schemas["test_thing"].version, 2);
}

#[tokio::test]
async fn validation_errors_carry_the_attribute_path() {
    let (service, _) = service();
    let config = thing("a", Value::from("xl"), Value::Null);
    let request = validate_resource_config::Request {
        type_name: "test_thing".into(),
        config: dv(&service, &config),
        ..Default::default()
    };
    let response = service
        .validate_resource_config(Request::new(request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.diagnostics.len(), 1);
    let path = response.diagnostics[0].attribute.as_ref().unwrap();
    assert_eq!(path.steps.len(), 1);

    let unknown = validate_resource_config::Request {
        type_name: "test_nope".into(),
        ..Default::default()
    };
    let response = service
        .validate_resource_config(Request::new(unknown))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(summaries(&response.diagnostics), ["Unknown resource type"]);
}

#[tokio::test]
async fn plan_then_apply_create() {
    let (service, _) = service();
    configure(&service).await;
    let config = thing("a", Value::Null, Value::Null);
    let request = plan_resource_change::Request {
        type_name: "test_thing".into(),
        prior_state: dv(&service, &Value::Null),
        proposed_new_state: dv(&service, &config),
        config: dv(&service, &config),
        prior_private: b"keep".to_vec(),
        ..Default::default()
    };
    let response = service
        .plan_resource_change(Request::new(request))
        .await
        .unwrap()
        .into_inner();
    assert!(
        response.diagnostics.is_empty(),
        "{:?}",
        response.diagnostics
    );
    assert_eq!(response.planned_private, b"keep");
    let planned = decode_msgpack(
        &response.planned_state.unwrap().msgpack,
        &thing_type(&service),
    )
    .unwrap();
    assert_eq!(planned, thing("a", Value::Null, Value::Unknown));

    let request = apply_resource_change::Request {
        type_name: "test_thing".into(),
        prior_state: dv(&service, &Value::Null),
        planned_state: dv(&service, &planned),
        config: dv(&service, &config),
        planned_private: b"keep".to_vec(),
        ..Default::default()
    };
    let response = service
        .apply_resource_change(Request::new(request))
        .await
        .unwrap()
        .into_inner();
    assert!(response.diagnostics.is_empty());
    assert_eq!(response.private, b"keep");
    let state =
        decode_msgpack(&response.new_state.unwrap().msgpack, &thing_type(&service)).unwrap();
    assert_eq!(
        state,
        thing("a", Value::Null, Value::from("hi-a")),
        "provider data reached the resource"
    );
}

#[tokio::test]
async fn apply_refuses_unknown_results() {
    let (service, _) = service();
    configure(&service).await;
    let planned = thing("leave-unknown", Value::Null, Value::Unknown);
    let request = apply_resource_change::Request {
        type_name: "test_thing".into(),
        prior_state: dv(&service, &Value::Null),
        planned_state: dv(&service, &planned),
        config: dv(&service, &thing("leave-unknown", Value::Null, Value::Null)),
        ..Default::default()
    };
    let response = service
        .apply_resource_change(Request::new(request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        summaries(&response.diagnostics),
        ["Provider returned an unknown value"]
    );
    assert!(
        response.diagnostics[0].detail.contains("at id"),
        "{}",
        response.diagnostics[0].detail
    );
}

#[tokio::test]
async fn name_change_requires_replacement() {
    let (service, _) = service();
    configure(&service).await;
    let prior = thing("a", Value::Null, Value::from("hi-a"));
    let proposed = thing("b", Value::Null, Value::from("hi-a"));
    let request = plan_resource_change::Request {
        type_name: "test_thing".into(),
        prior_state: dv(&service, &prior),
        proposed_new_state: dv(&service, &proposed),
        config: dv(&service, &thing("b", Value::Null, Value::Null)),
        ..Default::default()
    };
    let response = service
        .plan_resource_change(Request::new(request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.requires_replace.len(), 1);
}

#[tokio::test]
async fn read_of_a_vanished_object_returns_null_and_import_returns_partial_state() {
    let (service, _) = service();
    configure(&service).await;
    let request = read_resource::Request {
        type_name: "test_thing".into(),
        current_state: dv(&service, &thing("gone", Value::Null, Value::from("x"))),
        private: b"p".to_vec(),
        ..Default::default()
    };
    let response = service
        .read_resource(Request::new(request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.new_state.unwrap().msgpack, [0xc0]);
    assert_eq!(response.private, b"p");

    let request = import_resource_state::Request {
        type_name: "test_thing".into(),
        id: "42".into(),
        ..Default::default()
    };
    let response = service
        .import_resource_state(Request::new(request))
        .await
        .unwrap()
        .into_inner();
    let imported = &response.imported_resources[0];
    let state = decode_msgpack(
        &imported.state.as_ref().unwrap().msgpack,
        &thing_type(&service),
    )
    .unwrap();
    assert_eq!(
        state,
        Value::object([
            ("name", Value::Null),
            ("size", Value::Null),
            ("id", Value::from("42"))
        ])
    );
}

#[tokio::test]
async fn operations_before_configure_explain_the_problem() {
    let (service, _) = service();
    let request = read_resource::Request {
        type_name: "test_thing".into(),
        current_state: dv(&service, &thing("a", Value::Null, Value::from("x"))),
        ..Default::default()
    };
    let response = service
        .read_resource(Request::new(request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        summaries(&response.diagnostics),
        ["Provider not configured"]
    );
}

fn upgrade_request(version: i64, json: &str) -> upgrade_resource_state::Request {
    upgrade_resource_state::Request {
        type_name: "test_thing".into(),
        version,
        raw_state: Some(RawState {
            json: json.as_bytes().to_vec(),
            flatmap: Default::default(),
        }),
    }
}

#[tokio::test]
async fn upgrade_state_by_version() {
    let (service, _) = service();
    let ty = thing_type(&service);
    // Current version: decoded by the schema, attributes that no longer exist dropped.
    let current = upgrade_request(2, r#"{"name":"a","size":"s","id":"1","removed":true}"#);
    let response = service
        .upgrade_resource_state(Request::new(current))
        .await
        .unwrap()
        .into_inner();
    let state = decode_msgpack(&response.upgraded_state.unwrap().msgpack, &ty).unwrap();
    assert_eq!(state, thing("a", Value::from("s"), Value::from("1")));
    // Older version: the resource's hook converts it.
    let old = upgrade_request(1, r#"{"title":"t"}"#);
    let response = service
        .upgrade_resource_state(Request::new(old))
        .await
        .unwrap()
        .into_inner();
    let state = decode_msgpack(&response.upgraded_state.unwrap().msgpack, &ty).unwrap();
    assert_eq!(state, thing("t", Value::Null, Value::from("upgraded")));
    // Newer version: refused.
    let newer = upgrade_request(3, "{}");
    let response = service
        .upgrade_resource_state(Request::new(newer))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        summaries(&response.diagnostics),
        ["State from a newer provider"]
    );
}

#[tokio::test]
async fn stop_provider_cancels_in_flight_operations() {
    let (service, saw_cancel) = service();
    configure(&service).await;
    let service = Arc::new(service);
    let prior = thing("a", Value::Null, Value::from("1"));
    let request = apply_resource_change::Request {
        type_name: "test_thing".into(),
        prior_state: dv(&service, &prior),
        planned_state: dv(&service, &thing("a", Value::from("m"), Value::from("1"))),
        config: dv(&service, &thing("a", Value::from("m"), Value::Null)),
        ..Default::default()
    };
    let applying = {
        let service = Arc::clone(&service);
        tokio::spawn(async move { service.apply_resource_change(Request::new(request)).await })
    };
    service
        .stop_provider(Request::new(stop_provider::Request {}))
        .await
        .unwrap();
    let response = applying.await.unwrap().unwrap().into_inner();
    assert!(saw_cancel.load(Ordering::SeqCst));
    assert_eq!(summaries(&response.diagnostics), ["Cancelled"]);
    let kept = decode_msgpack(&response.new_state.unwrap().msgpack, &thing_type(&service)).unwrap();
    assert_eq!(kept, prior, "a failed update keeps the prior state");
}

#[tokio::test]
async fn unsupported_features_answer_clearly() {
    let (service, _) = service();
    let moved = service
        .move_resource_state(Request::new(move_resource_state::Request {
            target_type_name: "test_thing".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        summaries(&moved.diagnostics),
        ["Moving resource state is not supported"]
    );
    let call = service
        .call_function(Request::new(call_function::Request {
            name: "f".into(),
            arguments: vec![],
        }))
        .await
        .unwrap()
        .into_inner();
    assert!(call.error.unwrap().text.contains("no functions"));
    let functions = service
        .get_functions(Request::new(get_functions::Request {}))
        .await
        .unwrap()
        .into_inner();
    assert!(functions.functions.is_empty());
    let status = service
        .list_resource(Request::new(list_resource::Request::default()))
        .await
        .err()
        .unwrap();
    assert_eq!(status.code(), tonic::Code::Unimplemented);
}

#[tokio::test]
async fn data_source_reads_carry_warnings_and_defer_only_when_allowed() {
    let (service, _) = service();
    configure(&service).await;
    let value_type = service.data_sources["test_lookup"].value_type.clone();
    let read = |key: Value, deferral_allowed: bool| {
        let config = Value::object([("key", key), ("value", Value::Null)]);
        service.read_data_source(Request::new(read_data_source::Request {
            type_name: "test_lookup".into(),
            config: Some(encode_dynamic(&config, &value_type).unwrap()),
            client_capabilities: Some(ClientCapabilities {
                deferral_allowed,
                write_only_attributes_allowed: false,
            }),
            ..Default::default()
        }))
    };
    let found = read(Value::from("k"), false).await.unwrap().into_inner();
    assert_eq!(summaries(&found.diagnostics), ["Looked up"]);
    assert!(found.deferred.is_none());
    let state = decode_msgpack(&found.state.unwrap().msgpack, &value_type).unwrap();
    assert_eq!(state.get("value"), Some(&Value::from("k!")));

    let deferred = read(Value::Null, true).await.unwrap().into_inner();
    assert!(
        deferred.diagnostics.is_empty(),
        "{:?}",
        deferred.diagnostics
    );
    assert_eq!(
        deferred.deferred.map(|d| d.reason),
        Some(deferred::Reason::AbsentPrereq as i32)
    );
    let state = decode_msgpack(&deferred.state.unwrap().msgpack, &value_type).unwrap();
    assert_eq!(state.get("value"), Some(&Value::Unknown));

    let refused = read(Value::Null, false).await.unwrap().into_inner();
    assert_eq!(
        summaries(&refused.diagnostics),
        ["Provider deferred a read Terraform cannot defer"]
    );
    assert!(refused.deferred.is_none());
}
