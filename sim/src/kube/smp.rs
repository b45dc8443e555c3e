//! Strategic merge patch (`application/strategic-merge-patch+json`) of built-in kinds, following
//! the `x-kubernetes-patch-strategy` and `x-kubernetes-patch-merge-key` of the vendored OpenAPI
//! document: lists with the `merge` strategy merge by key (containers, env, ports, volumes by
//! `name`; primitive lists such as finalizers by value), other lists are replaced, maps merge,
//! `null` deletes. The directives kubectl sends are honoured: `$patch: replace|delete|merge`,
//! `$setElementOrder/<list>`, `$deleteFromPrimitiveList/<list>` and `$retainKeys`.

use serde_json::{Map, Value};

use super::openapi::schema::{items, property, resolve};

/// Why a patch cannot be applied, in apimachinery's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmpError {
    /// A directive with a value that is not the right shape.
    #[error("{0}")]
    BadFormat(&'static str),
    /// `$patch` with an unknown value.
    #[error("unknown patch type: {0}")]
    UnknownPatchType(String),
    /// A list element without the list's merge key.
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey {
        /// The element.
        map: String,
        /// The merge key.
        key: String,
    },
}

const BAD_PRIMITIVE_LIST: &str = "invalid patch format of primitive list";
const BAD_RETAIN_KEYS: &str = "invalid patch format of retainKeys";
const BAD_ELEMENT_ORDER: &str = "invalid patch format of setElementOrder list";

/// Applies `patch` to `original`, an object whose schema is `schema` (a definition of the
/// document); `None` as schema merges maps and replaces lists.
pub fn apply(original: &Value, patch: &Value, schema: Option<&Value>) -> Result<Value, SmpError> {
    let doc = &super::openapi::spec().v2;
    let Value::Object(patch) = patch else {
        return Err(SmpError::BadFormat("invalid JSON document"));
    };
    let mut out = match original {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    match merge_map(doc, schema, &mut out, patch)? {
        Outcome::Keep => Ok(Value::Object(out)),
        // `$patch: delete` at the top empties the object.
        Outcome::Delete => Ok(Value::Object(Map::new())),
    }
}

enum Outcome {
    Keep,
    Delete,
}

fn merge_map(
    doc: &Value,
    schema: Option<&Value>,
    original: &mut Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<Outcome, SmpError> {
    match patch.get("$patch").map(|v| v.as_str()) {
        None | Some(Some("merge")) => {}
        Some(Some("delete")) => return Ok(Outcome::Delete),
        Some(Some("replace")) => {
            let mut replaced = Map::new();
            let rest: Map<String, Value> = patch
                .iter()
                .filter(|(k, _)| k.as_str() != "$patch")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            merge_map(doc, schema, &mut replaced, &rest)?;
            *original = replaced;
            return Ok(Outcome::Keep);
        }
        Some(other) => {
            return Err(SmpError::UnknownPatchType(
                other.map_or_else(|| patch["$patch"].to_string(), str::to_string),
            ));
        }
    }
    if let Some(retain) = patch.get("$retainKeys") {
        let Some(keys) = retain.as_array() else {
            return Err(SmpError::BadFormat(BAD_RETAIN_KEYS));
        };
        let keys: Vec<&str> = keys.iter().filter_map(Value::as_str).collect();
        original.retain(|k, _| keys.contains(&k.as_str()));
    }
    let mut orders: Vec<(&str, &Vec<Value>)> = Vec::new();
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            let Some(remove) = value.as_array() else {
                return Err(SmpError::BadFormat(BAD_PRIMITIVE_LIST));
            };
            if let Some(Value::Array(list)) = original.get_mut(field) {
                list.retain(|v| !remove.contains(v));
            }
        } else if let Some(field) = key.strip_prefix("$setElementOrder/") {
            let Some(order) = value.as_array() else {
                return Err(SmpError::BadFormat(BAD_ELEMENT_ORDER));
            };
            orders.push((field, order));
        }
    }
    for (key, value) in patch {
        if key.starts_with('$') {
            continue;
        }
        let field_schema = schema.and_then(|s| property(doc, s, key));
        match value {
            Value::Null => {
                original.remove(key);
            }
            Value::Object(child_patch) => {
                let existing = original
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !existing.is_object() {
                    *existing = Value::Object(Map::new());
                }
                if let Value::Object(child) = existing
                    && let Outcome::Delete = merge_map(doc, field_schema, child, child_patch)?
                {
                    original.remove(key);
                }
            }
            Value::Array(list_patch) => {
                let strategy = field_schema
                    .and_then(|s| s["x-kubernetes-patch-strategy"].as_str())
                    .unwrap_or_default();
                let merged = if strategy.split(',').any(|s| s == "merge") {
                    let merge_key =
                        field_schema.and_then(|s| s["x-kubernetes-patch-merge-key"].as_str());
                    let item_schema = field_schema.and_then(|s| items(doc, s));
                    let current = match original.remove(key) {
                        Some(Value::Array(l)) => l,
                        _ => Vec::new(),
                    };
                    merge_list(doc, current, list_patch, merge_key, item_schema)?
                } else {
                    strip_directives(list_patch)
                };
                original.insert(key.clone(), Value::Array(merged));
            }
            scalar => {
                original.insert(key.clone(), scalar.clone());
            }
        }
    }
    for (field, order) in orders {
        let merge_key = schema
            .and_then(|s| property(doc, s, field))
            .and_then(|s| s["x-kubernetes-patch-merge-key"].as_str());
        if let Some(Value::Array(list)) = original.get_mut(field) {
            reorder(list, order, merge_key);
        }
    }
    Ok(Outcome::Keep)
}

/// Elements of a replaced list as stored: without `$patch` entries.
fn strip_directives(list: &[Value]) -> Vec<Value> {
    list.iter()
        .filter(|v| v.get("$patch").is_none())
        .cloned()
        .collect()
}

fn merge_list(
    doc: &Value,
    mut current: Vec<Value>,
    patch: &[Value],
    merge_key: Option<&str>,
    item_schema: Option<&Value>,
) -> Result<Vec<Value>, SmpError> {
    if patch.iter().any(|v| v["$patch"] == "replace") {
        let mut out = Vec::new();
        for item in patch.iter().filter(|v| v["$patch"] != "replace") {
            out.push(merged_new(doc, item, item_schema)?);
        }
        return Ok(out);
    }
    let Some(key) = merge_key else {
        // A primitive list merged by value: the patch's values are added once.
        for item in patch {
            if item.is_object() || item.is_array() {
                return Err(SmpError::BadFormat(BAD_PRIMITIVE_LIST));
            }
            if !current.contains(item) {
                current.push(item.clone());
            }
        }
        return Ok(current);
    };
    for item in patch {
        let Some(fields) = item.as_object() else {
            return Err(SmpError::BadFormat(BAD_PRIMITIVE_LIST));
        };
        let Some(id) = fields.get(key) else {
            return Err(SmpError::NoMergeKey {
                map: item.to_string(),
                key: key.to_string(),
            });
        };
        let position = current.iter().position(|c| c.get(key) == Some(id));
        if item["$patch"] == "delete" {
            current.retain(|c| c.get(key) != Some(id));
            continue;
        }
        match position {
            Some(i) => {
                if let Value::Object(existing) = &mut current[i] {
                    merge_map(doc, item_schema, existing, fields)?;
                }
            }
            None => current.push(merged_new(doc, item, item_schema)?),
        }
    }
    Ok(current)
}

/// A new list element: the patch element merged into nothing (directives and nulls resolved).
fn merged_new(doc: &Value, item: &Value, schema: Option<&Value>) -> Result<Value, SmpError> {
    match item {
        Value::Object(fields) => {
            let mut out = Map::new();
            merge_map(doc, schema, &mut out, fields)?;
            Ok(Value::Object(out))
        }
        other => Ok(other.clone()),
    }
}

/// `$setElementOrder`: the listed elements in that order; elements the patch did not list
/// (added by others) stay after the element they followed.
fn reorder(list: &mut Vec<Value>, order: &[Value], merge_key: Option<&str>) {
    let id = |v: &Value| -> Value {
        match merge_key {
            Some(k) => v.get(k).cloned().unwrap_or(Value::Null),
            None => v.clone(),
        }
    };
    let wanted: Vec<Value> = order.iter().map(&id).collect();
    let mut out: Vec<Value> = wanted
        .iter()
        .filter_map(|w| list.iter().find(|v| id(v) == *w).cloned())
        .collect();
    let mut previous: Option<Value> = None;
    for item in list.iter() {
        let item_id = id(item);
        if !wanted.contains(&item_id) {
            let at = previous
                .as_ref()
                .and_then(|p| out.iter().position(|o| id(o) == *p))
                .map_or(0, |i| i + 1);
            out.insert(at.min(out.len()), item.clone());
        }
        previous = Some(item_id);
    }
    *list = out;
}

/// The schema SMP follows for a kind, `None` when the kind is not built in (custom resources
/// cannot be strategic-merge-patched).
pub fn schema_for(group_version: &str, kind: &str) -> Option<&'static Value> {
    let spec = super::openapi::spec();
    spec.definition(group_version, kind)
        .map(|d| resolve(&spec.v2, d))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "finalizers": ["a"]},
            "spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                "template": {"spec": {"containers": [
                    {"name": "app", "image": "nginx:1", "env": [{"name": "A", "value": "1"}], "ports": [{"containerPort": 80}]},
                    {"name": "sidecar", "image": "envoy:1"}]}}}})
    }

    fn smp(original: &Value, patch: Value) -> Value {
        apply(original, &patch, schema_for("apps/v1", "Deployment")).unwrap()
    }

    #[test]
    fn containers_merge_by_name_and_keep_the_others() {
        let out = smp(
            &deployment(),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2", "env": [{"name": "B", "value": "2"}]}]}}}}),
        );
        let containers = &out["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["image"], "nginx:2");
        assert_eq!(
            containers[0]["env"],
            json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
        );
        assert_eq!(containers[0]["ports"], json!([{"containerPort": 80}]));
        assert_eq!(containers[1]["name"], "sidecar");
    }

    #[test]
    fn delete_and_replace_directives() {
        let out = smp(
            &deployment(),
            json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}),
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let out = smp(
            &deployment(),
            json!({"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "only", "image": "x"}]}}}}),
        );
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"],
            json!([{"name": "only", "image": "x"}])
        );
        let out = smp(
            &deployment(),
            json!({"spec": {"strategy": {"$patch": "replace", "type": "Recreate"}}}),
        );
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
        let out = smp(
            &deployment(),
            json!({"spec": {"strategy": {"$patch": "delete"}}}),
        );
        assert!(out["spec"].get("strategy").is_none());
    }

    #[test]
    fn retain_keys_clears_what_a_new_strategy_type_does_not_use() {
        let out = smp(
            &deployment(),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
        );
        assert_eq!(out["spec"]["strategy"], json!({"type": "Recreate"}));
    }

    #[test]
    fn primitive_lists_merge_by_value_and_delete_from_primitive_list() {
        let out = smp(
            &deployment(),
            json!({"metadata": {"finalizers": ["b", "a"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
        let out = smp(
            &deployment(),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
        );
        assert_eq!(out["metadata"]["finalizers"], json!([]));
    }

    #[test]
    fn set_element_order_orders_and_keeps_server_only_elements() {
        let out = smp(
            &deployment(),
            json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "new"}, {"name": "app"}],
                "containers": [{"name": "new", "image": "n"}]}}}}),
        );
        let names: Vec<&str> = out["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["new", "app", "sidecar"]);
    }

    #[test]
    fn lists_without_a_strategy_are_replaced_and_null_deletes() {
        let svc = json!({"spec": {"selector": {"a": "b"}, "externalIPs": ["1.2.3.4"]}});
        let out = apply(
            &svc,
            &json!({"spec": {"externalIPs": ["5.6.7.8"], "selector": null}}),
            schema_for("v1", "Service"),
        )
        .unwrap();
        assert_eq!(out, json!({"spec": {"externalIPs": ["5.6.7.8"]}}));
    }

    #[test]
    fn malformed_directives_are_errors() {
        let d = deployment();
        let s = schema_for("apps/v1", "Deployment");
        assert_eq!(
            apply(&d, &json!({"spec": {"$patch": "explode"}}), s),
            Err(SmpError::UnknownPatchType("explode".into()))
        );
        assert!(matches!(
            apply(
                &d,
                &json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
                s
            ),
            Err(SmpError::NoMergeKey { .. })
        ));
        assert_eq!(
            apply(&d, &json!({"spec": {"$retainKeys": "type"}}), s),
            Err(SmpError::BadFormat(BAD_RETAIN_KEYS))
        );
    }

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            prop::sample::select(vec!["name", "$patch", "delete", "replace", "merge", "x"])
                .prop_map(|s| json!(s)),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop::sample::select(vec![
                        "spec",
                        "template",
                        "containers",
                        "name",
                        "env",
                        "$patch",
                        "$retainKeys",
                        "$setElementOrder/containers",
                        "$deleteFromPrimitiveList/finalizers",
                        "metadata",
                        "finalizers",
                        "strategy",
                        "image",
                    ])
                    .prop_map(str::to_string),
                    inner,
                    0..4,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_json(original in arbitrary_json(), patch in arbitrary_json()) {
            let _ = apply(&original, &patch, schema_for("apps/v1", "Deployment"));
            let _ = apply(&original, &patch, None);
        }
    }
}
