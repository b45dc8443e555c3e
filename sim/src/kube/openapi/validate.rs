//! Server-side field validation (`fieldValidation=Strict|Warn|Ignore`) of built-in kinds: the
//! fields of a request body that the kind's schema does not declare, named as the API server's
//! strict decoder names them (`spec.template.spec.containers[0].imagePullPolice`). `Strict`
//! refuses the request (400), `Warn` (the default) answers with a `Warning` header per field.
//! Custom resources and kinds missing from the document are not checked.

use serde_json::Value;

use super::schema::{declares_fields, items, property, resolve};

/// What a request asked for through `fieldValidation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Directive {
    /// Unknown fields are dropped silently.
    Ignore,
    /// Unknown fields are reported in `Warning` headers (the default).
    Warn,
    /// Unknown fields fail the request.
    Strict,
}

impl Directive {
    /// Reads the query parameter; `Err` carries the API server's message for a bad value.
    pub fn parse(value: Option<&str>) -> Result<Directive, String> {
        match value {
            None | Some("") | Some("Warn") => Ok(Directive::Warn),
            Some("Ignore") => Ok(Directive::Ignore),
            Some("Strict") => Ok(Directive::Strict),
            Some(other) => Err(format!(
                "fieldValidation must be one of \"Ignore\", \"Warn\", or \"Strict\", got {other:?}"
            )),
        }
    }
}

/// The undeclared fields of `body`, an object (or a merge/strategic patch of one) of kind
/// `kind` in `group_version`. Patch directives (`$patch`, `$setElementOrder/…`) are not fields.
pub fn unknown_fields(group_version: &str, kind: &str, body: &Value) -> Vec<String> {
    let spec = super::spec();
    let Some(definition) = spec.definition(group_version, kind) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(&spec.v2, definition, body, "", &mut out);
    out
}

fn walk(doc: &Value, schema: &Value, value: &Value, path: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let declared = declares_fields(doc, schema);
            let resolved = resolve(doc, schema);
            let map_values = resolved
                .get("additionalProperties")
                .filter(|a| a.is_object());
            for (key, child) in map {
                if key.starts_with('$') {
                    continue;
                }
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if let Some(values) = map_values {
                    walk(doc, values, child, &child_path, out);
                    continue;
                }
                match property(doc, schema, key) {
                    Some(p) => walk(doc, p, child, &child_path, out),
                    None if declared => out.push(child_path),
                    None => {}
                }
            }
        }
        Value::Array(list) => {
            if let Some(item) = items(doc, schema) {
                for (i, child) in list.iter().enumerate() {
                    walk(doc, item, child, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// The strict decoder's wording: `unknown field "spec.foo", unknown field "spec.bar"`.
pub fn strict_message(fields: &[String]) -> String {
    let list: Vec<String> = fields
        .iter()
        .map(|f| format!("unknown field {f:?}"))
        .collect();
    format!("strict decoding error: {}", list.join(", "))
}

/// Field validation of one write request: `Ok` with the `Warning` header values to add, or the
/// 400 reply of a `Strict` request with unknown fields. `existing_kind` is the kind of the object
/// a PATCH targets (patch bodies do not say it). JSON patches are not checked here.
// The error is the finished HTTP reply.
#[allow(clippy::result_large_err)]
pub fn request(
    method: &axum::http::Method,
    group_version: &str,
    existing_kind: Option<&str>,
    query: &[(String, String)],
    headers: &axum::http::HeaderMap,
    body: &[u8],
) -> Result<Vec<String>, axum::response::Response> {
    use axum::http::{Method, StatusCode};
    let bad_request =
        |message: &str| super::super::status(StatusCode::BAD_REQUEST, "BadRequest", message);
    if !matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
        return Ok(Vec::new());
    }
    let directive = Directive::parse(super::super::objects::query_value(query, "fieldValidation"))
        .map_err(|e| bad_request(&e))?;
    if directive == Directive::Ignore {
        return Ok(Vec::new());
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let is_apply = content_type.starts_with("application/apply-patch");
    let parsed: Option<Value> = if is_apply {
        std::str::from_utf8(body)
            .ok()
            .and_then(|t| serde_saphyr::from_str(t).ok())
    } else if content_type.starts_with("application/json-patch+json") {
        None
    } else {
        serde_json::from_slice(body).ok()
    };
    // Unreadable bodies are refused later with the handler's own message.
    let Some(parsed) = parsed else {
        return Ok(Vec::new());
    };
    let kind = match *method {
        Method::PATCH if !is_apply => existing_kind.map(str::to_string),
        _ => parsed["kind"]
            .as_str()
            .map(str::to_string)
            .or_else(|| existing_kind.map(str::to_string)),
    };
    let Some(kind) = kind else {
        return Ok(Vec::new());
    };
    let unknown = unknown_fields(group_version, &kind, &parsed);
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    if directive == Directive::Warn {
        return Ok(unknown
            .iter()
            .map(|f| format!("299 - {:?}", format!("unknown field {f:?}")))
            .collect());
    }
    let version = group_version.rsplit('/').next().unwrap_or(group_version);
    let message = if is_apply {
        let fields: Vec<String> = unknown
            .iter()
            .map(|f| format!(".{f}: field not declared in schema"))
            .collect();
        format!(
            "failed to create typed patch object ({group_version}, Kind={kind}): {}",
            fields.join(", ")
        )
    } else if *method == Method::PATCH {
        strict_message(&unknown)
    } else {
        format!(
            "{kind} in version {version:?} cannot be handled as a {kind}: {}",
            strict_message(&unknown)
        )
    };
    Err(bad_request(&message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_undeclared_fields_with_their_paths() {
        let d = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "w", "labels": {"any": "x"}},
            "spec": {"replicas": 1, "foo": 1, "selector": {"matchLabels": {"a": "b"}},
                "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [
                    {"name": "c", "image": "i", "env": [{"name": "A", "value": "1"}]},
                    {"name": "d", "image": "i", "imagePullPolice": "Always"}]}}}});
        assert_eq!(
            unknown_fields("apps/v1", "Deployment", &d),
            vec![
                "spec.foo".to_string(),
                "spec.template.spec.containers[1].imagePullPolice".to_string()
            ]
        );
    }

    #[test]
    fn free_form_maps_and_directives_are_not_unknown() {
        let cm = json!({"data": {"anything": "x"}, "metadata": {"annotations": {"k": "v"}}});
        assert!(unknown_fields("v1", "ConfigMap", &cm).is_empty());
        let patch = json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "c"}], "containers": [{"name": "c", "$patch": "delete"}]}}}});
        assert!(unknown_fields("apps/v1", "Deployment", &patch).is_empty());
        assert!(unknown_fields("example.com/v1", "Widget", &json!({"x": 1})).is_empty());
    }

    #[test]
    fn strict_message_lists_every_field() {
        assert_eq!(
            strict_message(&["spec.a".into(), "spec.b".into()]),
            "strict decoding error: unknown field \"spec.a\", unknown field \"spec.b\""
        );
        assert!(Directive::parse(Some("Loose")).is_err());
    }
}
