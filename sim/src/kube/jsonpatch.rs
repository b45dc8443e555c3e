//! JSON patch (RFC 6902, `application/json-patch+json`): `add`, `remove`, `replace`, `move`,
//! `copy` and `test`, applied in order, all or nothing. Errors carry the wording of the
//! evanphx/json-patch library the API server uses (`testing value /spec/replicas failed: test
//! failed`).

use serde_json::Value;

/// Why a patch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonPatchError {
    /// The body is not a list of operations (the API server answers 400).
    #[error("{0}")]
    Decode(String),
    /// An operation does not apply to the document (the API server answers 422).
    #[error("{0}")]
    Apply(String),
}

/// Applies the operations of `patch` (the request body) to `doc`.
pub fn apply(doc: &Value, patch: &[u8]) -> Result<Value, JsonPatchError> {
    let ops: Vec<Value> =
        serde_json::from_slice(patch).map_err(|e| JsonPatchError::Decode(e.to_string()))?;
    let mut doc = doc.clone();
    for op in &ops {
        let kind = op["op"].as_str().unwrap_or_default();
        let path = || -> Result<Vec<String>, JsonPatchError> {
            pointer(op["path"].as_str().ok_or_else(|| {
                JsonPatchError::Apply(format!("{kind} operation does not apply: missing path"))
            })?)
        };
        let from = || -> Result<Vec<String>, JsonPatchError> {
            pointer(op["from"].as_str().ok_or_else(|| {
                JsonPatchError::Apply(format!("{kind} operation does not apply: missing from"))
            })?)
        };
        let raw_path = op["path"].as_str().unwrap_or_default();
        let value = || {
            op.get("value").cloned().ok_or_else(|| {
                JsonPatchError::Apply(format!("{kind} operation does not apply: missing value"))
            })
        };
        match kind {
            "add" => add(&mut doc, &path()?, value()?).map_err(|_| {
                JsonPatchError::Apply(format!(
                    "add operation does not apply: doc is missing path: \"{raw_path}\": missing value"
                ))
            })?,
            "remove" => {
                remove(&mut doc, &path()?).ok_or_else(|| {
                    JsonPatchError::Apply(format!(
                        "remove operation does not apply: doc is missing path: \"{raw_path}\": missing value"
                    ))
                })?;
            }
            "replace" => {
                let target = get_mut(&mut doc, &path()?).ok_or_else(|| {
                    JsonPatchError::Apply(format!(
                        "replace operation does not apply: doc is missing key: {raw_path}: missing value"
                    ))
                })?;
                *target = value()?;
            }
            "move" | "copy" => {
                let raw_from = op["from"].as_str().unwrap_or_default();
                let from = from()?;
                let missing = || {
                    JsonPatchError::Apply(format!(
                        "{kind} operation does not apply: doc is missing from path: {raw_from}: missing value"
                    ))
                };
                let moved = if kind == "move" {
                    remove(&mut doc, &from).ok_or_else(missing)?
                } else {
                    get(&doc, &from).cloned().ok_or_else(missing)?
                };
                add(&mut doc, &path()?, moved).map_err(|_| {
                    JsonPatchError::Apply(format!(
                        "{kind} operation does not apply: doc is missing destination path: {raw_path}: missing value"
                    ))
                })?;
            }
            "test" => {
                let expected = value()?;
                if get(&doc, &path()?) != Some(&expected) {
                    return Err(JsonPatchError::Apply(format!(
                        "testing value {raw_path} failed: test failed"
                    )));
                }
            }
            other => {
                return Err(JsonPatchError::Apply(format!("Unexpected kind: {other}")));
            }
        }
    }
    Ok(doc)
}

/// The reference tokens of a JSON pointer (`/a/b~1c` → `["a", "b/c"]`).
fn pointer(path: &str) -> Result<Vec<String>, JsonPatchError> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(JsonPatchError::Apply(format!(
            "JSON pointer must be empty or start with a \"/\": {path}"
        )));
    };
    Ok(rest
        .split('/')
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect())
}

fn index(list: &[Value], token: &str, allow_end: bool) -> Option<usize> {
    if allow_end && token == "-" {
        return Some(list.len());
    }
    if token.len() > 1 && token.starts_with('0') {
        return None;
    }
    let i: usize = token.parse().ok()?;
    let limit = if allow_end {
        list.len()
    } else {
        list.len().saturating_sub(1)
    };
    (i <= limit && (allow_end || !list.is_empty())).then_some(i)
}

fn get<'a>(doc: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(doc, |v, t| match v {
        Value::Object(m) => m.get(t),
        Value::Array(l) => l.get(index(l, t, false)?),
        _ => None,
    })
}

fn get_mut<'a>(doc: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(doc, |v, t| match v {
        Value::Object(m) => m.get_mut(t),
        Value::Array(l) => {
            let i = index(l, t, false)?;
            l.get_mut(i)
        }
        _ => None,
    })
}

fn add(doc: &mut Value, path: &[String], value: Value) -> Result<(), ()> {
    let Some((last, parent)) = path.split_last() else {
        *doc = value;
        return Ok(());
    };
    match get_mut(doc, parent).ok_or(())? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(l) => {
            let i = index(l, last, true).ok_or(())?;
            l.insert(i, value);
            Ok(())
        }
        _ => Err(()),
    }
}

fn remove(doc: &mut Value, path: &[String]) -> Option<Value> {
    let (last, parent) = path.split_last()?;
    match get_mut(doc, parent)? {
        Value::Object(m) => m.remove(last),
        Value::Array(l) => {
            let i = index(l, last, false)?;
            Some(l.remove(i))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn applies_every_operation_in_order() {
        let doc =
            json!({"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 1, "list": [1, 2]}});
        let patch = json!([
            {"op": "test", "path": "/spec/replicas", "value": 1},
            {"op": "replace", "path": "/spec/replicas", "value": 3},
            {"op": "add", "path": "/metadata/labels/b~1c", "value": "2"},
            {"op": "add", "path": "/spec/list/-", "value": 3},
            {"op": "add", "path": "/spec/list/0", "value": 0},
            {"op": "remove", "path": "/metadata/labels/a"},
            {"op": "copy", "from": "/spec/replicas", "path": "/spec/copied"},
            {"op": "move", "from": "/spec/copied", "path": "/spec/moved"},
        ]);
        let out = apply(&doc, patch.to_string().as_bytes()).unwrap();
        assert_eq!(
            out,
            json!({"metadata": {"labels": {"b/c": "2"}}, "spec": {"replicas": 3, "list": [0, 1, 2, 3], "moved": 3}})
        );
    }

    #[test]
    fn failures_use_the_libraries_words() {
        let doc = json!({"spec": {"replicas": 1}});
        let err = |p: Value| {
            apply(&doc, p.to_string().as_bytes())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(json!([{"op": "test", "path": "/spec/replicas", "value": 2}])),
            "testing value /spec/replicas failed: test failed"
        );
        assert_eq!(
            err(json!([{"op": "remove", "path": "/spec/x"}])),
            "remove operation does not apply: doc is missing path: \"/spec/x\": missing value"
        );
        assert_eq!(
            err(json!([{"op": "replace", "path": "/spec/x", "value": 1}])),
            "replace operation does not apply: doc is missing key: /spec/x: missing value"
        );
        assert_eq!(
            err(json!([{"op": "frobnicate", "path": "/spec"}])),
            "Unexpected kind: frobnicate"
        );
        assert!(matches!(apply(&doc, b"{}"), Err(JsonPatchError::Decode(_))));
    }

    proptest! {
        #[test]
        fn never_panics(body in "[\\[\\]{}\",:a-z0-9/~\\- ]{0,80}", path in "(/[a-z0-9~\\-]{0,3}){0,4}") {
            let doc = json!({"a": [1, {"b": 2}], "c": {"d": null}});
            let _ = apply(&doc, body.as_bytes());
            for op in ["add", "remove", "replace", "move", "copy", "test"] {
                let patch = json!([{"op": op, "path": path, "from": path, "value": 1}]);
                let _ = apply(&doc, patch.to_string().as_bytes());
            }
        }
    }
}
