//! Walking the schemas of the v2 document: following `$ref`s, the schema of a property, of list
//! items and of map values. Extensions such as `x-kubernetes-patch-strategy` sit on the property
//! (next to its `$ref`), so [`property`] returns the property as written and callers
//! [`resolve`] it to go further down.

use serde_json::Value;

/// The schema a `$ref` points to (the schema itself when it has none).
pub fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    let mut current = schema;
    // Definitions refer to each other, never to themselves directly; the bound keeps a
    // malformed document from looping.
    for _ in 0..16 {
        match current["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/definitions/"))
            .and_then(|name| doc["definitions"].get(name))
        {
            Some(next) => current = next,
            None => break,
        }
    }
    current
}

/// The schema of property `key` of an object schema, as written (not resolved).
pub fn property<'a>(doc: &'a Value, schema: &'a Value, key: &str) -> Option<&'a Value> {
    let resolved = resolve(doc, schema);
    resolved["properties"].get(key).or_else(|| {
        resolved
            .get("additionalProperties")
            .filter(|a| a.is_object())
    })
}

/// The schema of the items of a list schema.
pub fn items<'a>(doc: &'a Value, schema: &'a Value) -> Option<&'a Value> {
    resolve(doc, schema).get("items").filter(|i| i.is_object())
}

/// Whether a schema declares its fields: an object with `properties` and no escape hatch
/// (`x-kubernetes-preserve-unknown-fields`, free-form `additionalProperties`).
pub fn declares_fields(doc: &Value, schema: &Value) -> bool {
    let s = resolve(doc, schema);
    s["properties"].is_object()
        && s["x-kubernetes-preserve-unknown-fields"] != true
        && !s
            .get("additionalProperties")
            .is_some_and(|a| a != &Value::Bool(false))
}
