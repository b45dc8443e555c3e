//! OpenAPI 3.0 schema objects to JSON Schema (draft 4, which they are a dialect of; like
//! hcloud-go, draft 4 takes `40.0` for a number, not an integer). The one
//! difference that matters for checking responses is `nullable: true`: JSON Schema has no such
//! keyword and would reject every `null` the description allows.

use serde_json::{Value, json};

/// Rewrites `schema` and every schema under it in place: `{type: T, nullable: true}` becomes
/// `{type: [T, "null"]}` (with `null` added to an `enum`), and a nullable schema without a
/// `type` (`allOf`/`$ref` to a component) becomes `anyOf: [{type: null}, schema]` (the
/// checker reports a failing non-null value where `schema` fails, see `Spec::validate`).
pub fn schema(schema: &mut Value) {
    let Value::Object(map) = schema else {
        return;
    };
    for key in ["properties", "patternProperties"] {
        if let Some(Value::Object(properties)) = map.get_mut(key) {
            properties.values_mut().for_each(self::schema);
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(sub) = map.get_mut(key) {
            self::schema(sub);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(list)) = map.get_mut(key) {
            list.iter_mut().for_each(self::schema);
        }
    }
    if map.remove("nullable") != Some(Value::Bool(true)) {
        return;
    }
    if let Some(Value::Array(values)) = map.get_mut("enum")
        && !values.contains(&Value::Null)
    {
        values.push(Value::Null);
    }
    match map.get_mut("type") {
        Some(Value::String(name)) => {
            let name = std::mem::take(name);
            map.insert("type".into(), json!([name, "null"]));
        }
        Some(_) => {}
        None => {
            let composed = ["$ref", "allOf", "anyOf", "oneOf"]
                .iter()
                .any(|k| map.contains_key(*k));
            if composed {
                let inner = Value::Object(std::mem::take(map));
                *schema = json!({"anyOf": [{"type": "null"}, inner]});
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_scalars_take_null() {
        let mut s = json!({"type": "object", "properties": {
            "a": {"type": "string", "nullable": true},
            "b": {"type": "string", "enum": ["x"], "nullable": true},
            "c": {"type": "integer"}}});
        schema(&mut s);
        assert_eq!(s["properties"]["a"], json!({"type": ["string", "null"]}));
        assert_eq!(
            s["properties"]["b"],
            json!({"type": ["string", "null"], "enum": ["x", null]})
        );
        assert_eq!(s["properties"]["c"], json!({"type": "integer"}));
    }

    #[test]
    fn nullable_compositions_become_any_of_null() {
        let mut s =
            json!({"type": "array", "items": {"allOf": [{"$ref": "#/x"}], "nullable": true}});
        schema(&mut s);
        assert_eq!(
            s["items"],
            json!({"anyOf": [{"type": "null"}, {"allOf": [{"$ref": "#/x"}]}]})
        );
    }

    #[test]
    fn a_property_named_like_a_keyword_is_a_schema_not_a_keyword() {
        let mut s = json!({"properties": {"nullable": {"type": "boolean"},
                                          "enum": {"type": "string", "nullable": true}}});
        schema(&mut s);
        assert_eq!(s["properties"]["nullable"], json!({"type": "boolean"}));
        assert_eq!(s["properties"]["enum"], json!({"type": ["string", "null"]}));
    }
}
