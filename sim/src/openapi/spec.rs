//! The vendored description (`sim/openapi/hcloud/hcloud.json.gz`), loaded once: its operations as path
//! templates, and one JSON Schema validator per (operation, response status) compiled the first
//! time a response of that kind is checked.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use jsonschema::{Draft, Registry, Validator};
use serde_json::Value;

use super::convert;

/// The gzipped OpenAPI document (see `sim/openapi/hcloud/README.md`).
const DOCUMENT: &[u8] = include_bytes!("../../openapi/hcloud/hcloud.json.gz");

/// Where the document lives in the schema registry: `$ref`s of response schemas resolve here.
const DOCUMENT_URI: &str = "https://hk8s-sim.invalid/hcloud-openapi.json";

/// Why the description could not be loaded (a broken vendored file: a build problem).
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The gzip stream or the JSON inside it is broken.
    #[error("the vendored OpenAPI description cannot be read: {0}")]
    Read(String),
    /// The schemas do not form a valid JSON Schema registry.
    #[error("the vendored OpenAPI description's schemas cannot be registered: {0}")]
    Registry(String),
}

/// One segment of a path template.
#[derive(Debug, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
}

/// One operation: `GET /servers/{id}` and its responses by status key (`200`, `4xx`, …), each
/// with the schema of its JSON body or `None` when the description gives it no body.
#[derive(Debug)]
pub struct Operation {
    /// Upper-case HTTP method.
    pub method: String,
    /// The path template as the description writes it (`/servers/{id}`).
    pub template: String,
    segments: Vec<Segment>,
    responses: BTreeMap<String, Option<Value>>,
}

/// The loaded description.
pub struct Spec {
    operations: Vec<Operation>,
    /// `error_response`, for answers to paths the description does not have (`not_found`).
    error_schema: Option<Value>,
    registry: Registry<'static>,
    validators: Mutex<HashMap<ResponseKey, Arc<Compiled>>>,
}

/// A response schema: (operation index, or none for errors on unknown paths; status key).
type ResponseKey = (Option<usize>, String);

/// A compiled validator, or why the schema does not compile.
type Compiled = Result<Validator, String>;

/// How a response is described.
pub enum Described<'a> {
    /// With a JSON body of this schema, under this status key.
    Body { key: String, schema: &'a Value },
    /// Without a body.
    NoBody,
    /// The operation has no response for this status.
    UnknownStatus,
}

impl Spec {
    /// The description, loaded and converted on first use.
    ///
    /// # Errors
    /// When the vendored file is broken.
    pub fn get() -> Result<&'static Spec, &'static SpecError> {
        static SPEC: OnceLock<Result<Spec, SpecError>> = OnceLock::new();
        SPEC.get_or_init(Spec::load).as_ref()
    }

    fn load() -> Result<Spec, SpecError> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(DOCUMENT)
            .read_to_string(&mut text)
            .map_err(|e| SpecError::Read(e.to_string()))?;
        let mut document: Value =
            serde_json::from_str(&text).map_err(|e| SpecError::Read(e.to_string()))?;
        if let Some(Value::Object(schemas)) = document.pointer_mut("/components/schemas") {
            schemas.values_mut().for_each(convert::schema);
        }
        let mut operations = Vec::new();
        if let Some(Value::Object(paths)) = document.get("paths") {
            for (template, item) in paths {
                let Value::Object(item) = item else { continue };
                for (method, operation) in item {
                    let Some(Value::Object(responses)) = operation.get("responses") else {
                        continue;
                    };
                    let responses = responses
                        .iter()
                        .map(|(key, response)| {
                            let mut schema = response
                                .pointer("/content/application~1json/schema")
                                .cloned();
                            if let Some(schema) = &mut schema {
                                convert::schema(schema);
                            }
                            (key.to_ascii_lowercase(), schema)
                        })
                        .collect();
                    operations.push(Operation {
                        method: method.to_ascii_uppercase(),
                        template: template.clone(),
                        segments: segments(template),
                        responses,
                    });
                }
            }
        }
        let error_schema = document
            .pointer("/components/schemas/error_response")
            .map(|_| serde_json::json!({"$ref": "#/components/schemas/error_response"}));
        let registry = Registry::new()
            .draft(Draft::Draft4)
            .add(DOCUMENT_URI, Draft::Draft4.create_resource(document))
            .and_then(|builder| builder.prepare())
            .map_err(|e| SpecError::Registry(e.to_string()))?;
        Ok(Spec {
            operations,
            error_schema,
            registry,
            validators: Mutex::new(HashMap::new()),
        })
    }

    /// The operation `method path` (path without `/v1` or query) is an instance of, preferring
    /// literal segments (`/servers/actions` over `/servers/{id}`).
    pub fn operation(&self, method: &str, path: &str) -> Option<(usize, &Operation)> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        self.operations
            .iter()
            .enumerate()
            .filter(|(_, op)| op.method == method && op.segments.len() == parts.len())
            .filter_map(|(i, op)| {
                let mut literals = 0;
                for (segment, part) in op.segments.iter().zip(&parts) {
                    match segment {
                        Segment::Literal(l) if l == part => literals += 1,
                        Segment::Literal(_) => return None,
                        Segment::Param if part.is_empty() => return None,
                        Segment::Param => {}
                    }
                }
                Some((literals, i, op))
            })
            .max_by_key(|(literals, _, _)| *literals)
            .map(|(_, i, op)| (i, op))
    }

    /// How `operation` describes a response of `status`: the exact code, then `4xx`-style
    /// ranges, then `default`.
    pub fn described<'a>(&self, operation: &'a Operation, status: u16) -> Described<'a> {
        let exact = status.to_string();
        let range = format!("{}xx", status / 100);
        let found = [exact.as_str(), range.as_str(), "default"]
            .into_iter()
            .find_map(|key| operation.responses.get_key_value(key));
        match found {
            Some((key, Some(schema))) => Described::Body {
                key: key.clone(),
                schema,
            },
            Some((_, None)) => Described::NoBody,
            None => Described::UnknownStatus,
        }
    }

    /// Hetzner's error envelope, for errors on paths the description does not have.
    pub fn error_schema(&self) -> Option<&Value> {
        self.error_schema.as_ref()
    }

    /// Validates `body` against `schema` (the response `key` of operation `index`, or of no
    /// operation), compiling the validator on first use: (JSON pointer, message, offending
    /// value) per violation.
    pub fn validate(
        &'static self,
        index: Option<usize>,
        key: &str,
        schema: &Value,
        body: &Value,
    ) -> Vec<(String, String, Value)> {
        let validator = {
            let mut cache = self
                .validators
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            cache
                .entry((index, key.to_string()))
                .or_insert_with(|| Arc::new(self.compile(schema)))
                .clone()
        };
        match validator.as_ref() {
            Ok(validator) => {
                let mut found = Vec::new();
                for error in validator.iter_errors(body) {
                    flatten(&error, &mut found);
                }
                found
            }
            Err(e) => vec![(
                String::new(),
                format!("schema does not compile: {e}"),
                Value::Null,
            )],
        }
    }

    fn compile(&'static self, schema: &Value) -> Result<Validator, String> {
        let mut schema = schema.clone();
        absolute_refs(&mut schema);
        jsonschema::options()
            .with_draft(Draft::Draft4)
            .with_registry(&self.registry)
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| e.to_string())
    }
}

/// A response schema's `#/components/…` references point into the document it came from; on
/// their own they would resolve inside the response schema.
fn absolute_refs(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                match value {
                    Value::String(target) if key == "$ref" && target.starts_with('#') => {
                        *target = format!("{DOCUMENT_URI}{target}");
                    }
                    _ => absolute_refs(value),
                }
            }
        }
        Value::Array(list) => list.iter_mut().for_each(absolute_refs),
        _ => {}
    }
}

/// One error as (pointer, message, value); a nullable object that is not `null` but fails its
/// schema (`anyOf: [{type: null}, schema]`) as the errors of `schema`, so that the report
/// names the field at fault rather than "not valid under any of the schemas".
fn flatten(error: &jsonschema::ValidationError<'_>, found: &mut Vec<(String, String, Value)>) {
    use jsonschema::error::{TypeKind, ValidationErrorKind};
    let at = error.instance_path().to_string();
    if let ValidationErrorKind::AnyOf { context } = error.kind()
        && !error.instance().is_null()
    {
        let null_branch = |branch: &Vec<jsonschema::ValidationError<'static>>| {
            matches!(branch.as_slice(), [only]
            if only.instance_path().to_string() == at
                && matches!(only.kind(), ValidationErrorKind::Type {
                    kind: TypeKind::Single(jsonschema::JsonType::Null)
                }))
        };
        if context.len() == 2 && context.iter().any(null_branch) {
            for branch in context.iter().filter(|b| !null_branch(b)) {
                for inner in branch {
                    flatten(inner, found);
                }
            }
            return;
        }
    }
    found.push((at, error.to_string(), error.instance().clone().into_owned()));
}

fn segments(template: &str) -> Vec<Segment> {
    template
        .trim_matches('/')
        .split('/')
        .map(|s| {
            if s.starts_with('{') && s.ends_with('}') {
                Segment::Param
            } else {
                Segment::Literal(s.to_string())
            }
        })
        .collect()
}
