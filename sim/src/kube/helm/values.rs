//! Helm values: reading values files, `--set` / `--set-string` arguments (the common subset of
//! Helm's `strvals`: dotted paths, `name[index]`, comma-separated assignments, `\,` escapes,
//! typed values for `--set`), and coalescing user values over a chart's defaults as Helm does
//! (maps merge key by key, anything else replaces, a `null` from the user removes the default).

use serde_json::{Map, Value};

/// Merges `overlay` over `base` (the user supplied values of later files win over earlier ones).
pub fn merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, o) => *b = o.clone(),
    }
}

/// The values a release renders with: the chart's `defaults` with the user's `config` coalesced
/// over them (`null` deletes a default key).
pub fn coalesce(defaults: &Value, config: &Value) -> Value {
    let mut out = defaults.clone();
    coalesce_into(&mut out, config);
    out
}

fn coalesce_into(out: &mut Value, config: &Value) {
    let Value::Object(config) = config else {
        return;
    };
    if !out.is_object() {
        *out = Value::Object(Map::new());
    }
    let Value::Object(target) = out else { return };
    for (k, v) in config {
        if v.is_null() {
            target.remove(k);
            continue;
        }
        match target.get_mut(k) {
            Some(existing) if existing.is_object() && v.is_object() => coalesce_into(existing, v),
            _ => {
                target.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Why a values file or `--set` argument was refused (Helm's own words where it has them).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValuesError {
    /// A values file that is not a YAML mapping.
    #[error("failed to parse {file}: {reason}")]
    File {
        /// The file (`/config/values-01.yaml`).
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// A `--set` argument without `=`.
    #[error("failed parsing --set data: key {0:?} has no value")]
    Set(String),
}

/// Reads one values file (`path` for messages); an empty file is no values.
pub fn parse_file(path: &str, text: &str) -> Result<Value, ValuesError> {
    if text.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let value: Value = serde_saphyr::from_str(text).map_err(|e| ValuesError::File {
        file: path.to_string(),
        reason: e.to_string(),
    })?;
    match value {
        Value::Null => Ok(Value::Object(Map::new())),
        Value::Object(_) => Ok(value),
        _ => Err(ValuesError::File {
            file: path.to_string(),
            reason: "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal array into Go value of type map[string]interface {}".into(),
        }),
    }
}

/// A `--set` value as Helm types it: integers, `true`/`false`, `null`, else a string.
fn typed(text: &str) -> Value {
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        _ => text
            .parse::<i64>()
            .ok()
            .filter(|_| !(text.len() > 1 && text.starts_with('0')))
            .map(Value::from)
            .unwrap_or_else(|| Value::String(text.to_string())),
    }
}

/// Splits `a=1,b=x\,y` into assignments, honouring `\,`.
fn split_assignments(input: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut chars = input.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                current.push(',');
                chars.next();
            }
            ',' => out.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    out.push(current);
    out.into_iter().filter(|a| !a.is_empty()).collect()
}

/// Sets `value` at a dotted path with optional `[index]` segments.
fn set_at(target: &mut Value, path: &str, value: Value) {
    let mut cur = target;
    let segments: Vec<&str> = path.split('.').collect();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        let (key, index) = match segment.split_once('[') {
            Some((k, rest)) => (k, rest.trim_end_matches(']').parse::<usize>().ok()),
            None => (*segment, None),
        };
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let Value::Object(map) = cur else { return };
        let slot = map.entry(key.to_string()).or_insert(Value::Null);
        let slot = match index {
            Some(index) => {
                if !slot.is_array() {
                    *slot = Value::Array(Vec::new());
                }
                let Value::Array(list) = slot else { return };
                while list.len() <= index {
                    list.push(Value::Null);
                }
                &mut list[index]
            }
            None => slot,
        };
        if last {
            *slot = value;
            return;
        }
        cur = slot;
    }
}

/// Applies one `--set` (`typed`) or `--set-string` argument to `values`.
pub fn apply_set(
    values: &mut Value,
    argument: &str,
    typed_values: bool,
) -> Result<(), ValuesError> {
    for assignment in split_assignments(argument) {
        let Some((path, raw)) = assignment.split_once('=') else {
            return Err(ValuesError::Set(assignment));
        };
        let value = if typed_values {
            typed(raw)
        } else {
            Value::String(raw.to_string())
        };
        set_at(values, path, value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn user_values_coalesce_over_defaults_and_lists_replace() {
        let defaults = json!({"a": {"b": 1, "c": [1, 2]}, "d": "x", "e": true});
        let config = json!({"a": {"c": [3]}, "d": null, "f": 2});
        assert_eq!(
            coalesce(&defaults, &config),
            json!({"a": {"b": 1, "c": [3]}, "e": true, "f": 2})
        );
        let mut files = json!({"a": {"b": 1}});
        merge(&mut files, &json!({"a": {"c": 2}, "l": [1]}));
        assert_eq!(files, json!({"a": {"b": 1, "c": 2}, "l": [1]}));
    }

    #[test]
    fn set_arguments_follow_helm_typing() {
        let mut v = json!({});
        apply_set(&mut v, "a.b=1,c=true,d=x\\,y,list[1]=z,zero=007", true).unwrap();
        assert_eq!(
            v,
            json!({"a": {"b": 1}, "c": true, "d": "x,y", "list": [null, "z"], "zero": "007"})
        );
        apply_set(&mut v, "a.b=1", false).unwrap();
        assert_eq!(v["a"]["b"], "1");
        assert!(apply_set(&mut v, "novalue", true).is_err());
        assert_eq!(parse_file("f", "").unwrap(), json!({}));
        assert!(parse_file("f", "- a\n").is_err());
    }
}
