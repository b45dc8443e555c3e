//! Helpers for resource unit tests: values from JSON, Terraform-like proposed states, and the
//! framework's own validation and default planning, so tests see what Terraform would.

use crate::tfplugin::diag::Diagnostics;
use crate::tfplugin::framework::PlannedChange;
use crate::tfplugin::framework::plan::{default_plan, validate_config};
use crate::tfplugin::schema::Schema;
use crate::tfplugin::value::{Value, decode_json_lenient};

/// A value of `schema` from JSON (missing attributes null).
pub fn value_of(schema: &Schema, json: serde_json::Value) -> Value {
    decode_json_lenient(json.to_string().as_bytes(), &schema.value_type())
        .expect("test JSON fits the schema")
}

/// Terraform's proposed new state: configuration, with prior values where configuration is null
/// (nested objects merged attribute by attribute).
pub fn proposed(config: &Value, prior: &Value) -> Value {
    match (config, prior) {
        (Value::Null, p) => p.clone(),
        (Value::Object(c), Value::Object(p)) => Value::Object(
            c.iter()
                .map(|(k, v)| (k.clone(), proposed(v, p.get(k).unwrap_or(&Value::Null))))
                .collect(),
        ),
        (c, _) => c.clone(),
    }
}

/// Schema validators plus the resource's own cross-attribute checks.
pub fn validate(
    schema: &Schema,
    config: &Value,
    cross: impl Fn(&Value) -> Diagnostics,
) -> Diagnostics {
    let mut diags = validate_config(schema.root_block(), config);
    diags.extend(cross(config));
    diags
}

/// The framework's default plan for `config` over `prior` (null on create).
pub fn default_planned(schema: &Schema, config: &Value, prior: &Value) -> PlannedChange {
    default_plan(schema.root_block(), config, prior, proposed(config, prior))
}

/// `(path, summary, detail)` of each diagnostic.
pub fn described(diags: &Diagnostics) -> Vec<(String, String, String)> {
    diags
        .iter()
        .map(|d| {
            (
                d.path.as_ref().map(ToString::to_string).unwrap_or_default(),
                d.summary.clone(),
                d.detail.clone(),
            )
        })
        .collect()
}
