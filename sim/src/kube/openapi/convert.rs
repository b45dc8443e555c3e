//! OpenAPI v2 → v3, the way kube-openapi's `openapiconv.ConvertV2ToV3` converts it: the
//! kube-apiserver publishes its aggregated servers that only serve v2 through that conversion,
//! and the sim publishes the vendored v2 document the same way, one document per group/version
//! (`/openapi/v3/apis/apps/v1`) holding that group/version's paths and the definitions they
//! reach. One deviation: v2 parameters shared through `#/parameters/…` are written inline, because
//! `ConvertV2ToV3` rewrites such references to `#/components/parameters/…` without converting the
//! shared parameters themselves (they would dangle).

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

const V2_DEFINITIONS: &str = "#/definitions/";
const V3_SCHEMAS: &str = "#/components/schemas/";
const OPERATIONS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch"];

/// The v3 document of one group/version key (`api/v1`, `apis/apps/v1`).
pub fn group_version_document(v2: &Value, key: &str) -> Value {
    let mut paths = Map::new();
    for (path, item) in v2["paths"].as_object().into_iter().flatten() {
        if super::path_key(path).as_deref() == Some(key) {
            paths.insert(path.clone(), path_item(v2, item));
        }
    }
    let paths = Value::Object(paths);
    let mut schemas = Map::new();
    let mut pending: Vec<String> = Vec::new();
    references(&paths, &mut pending);
    let mut seen = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(def) = v2["definitions"].get(&name) {
            let converted = schema(def);
            references(&converted, &mut pending);
            schemas.insert(name, converted);
        }
    }
    let mut security = Map::new();
    for (name, scheme) in v2["securityDefinitions"].as_object().into_iter().flatten() {
        let mut out = Map::new();
        for field in ["description", "type", "name", "in"] {
            if let Some(v) = scheme.get(field) {
                out.insert(field.into(), v.clone());
            }
        }
        extensions(scheme, &mut out);
        security.insert(name.clone(), Value::Object(out));
    }
    json!({
        "openapi": "3.0.0",
        "info": v2["info"],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": security},
    })
}

/// The definition names a converted value refers to.
fn references(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(name) = m
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(V3_SCHEMAS))
            {
                out.push(name.to_string());
            }
            m.values().for_each(|c| references(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| references(c, out)),
        _ => {}
    }
}

fn extensions(from: &Value, to: &mut Map<String, Value>) {
    for (k, v) in from.as_object().into_iter().flatten() {
        if k.starts_with("x-") {
            to.insert(k.clone(), v.clone());
        }
    }
}

fn path_item(v2: &Value, item: &Value) -> Value {
    let mut out = Map::new();
    for op in OPERATIONS {
        if let Some(operation) = item.get(*op) {
            out.insert((*op).into(), self::operation(v2, operation));
        }
    }
    if let Some(params) = item["parameters"].as_array() {
        let converted: Vec<Value> = params
            .iter()
            .map(|p| parameter(resolve_parameter(v2, p)))
            .collect();
        out.insert("parameters".into(), Value::Array(converted));
    }
    extensions(item, &mut out);
    Value::Object(out)
}

/// A parameter, with a shared `#/parameters/…` one written inline.
fn resolve_parameter<'a>(v2: &'a Value, p: &'a Value) -> &'a Value {
    p["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/parameters/"))
        .and_then(|name| v2["parameters"].get(name))
        .unwrap_or(p)
}

fn operation(v2: &Value, op: &Value) -> Value {
    let mut out = Map::new();
    for field in [
        "description",
        "tags",
        "summary",
        "deprecated",
        "operationId",
        "externalDocs",
    ] {
        if let Some(v) = op.get(field) {
            out.insert(field.into(), v.clone());
        }
    }
    let mut parameters = Vec::new();
    for p in op["parameters"].as_array().into_iter().flatten() {
        let p = resolve_parameter(v2, p);
        if p["name"] == "body" && p.get("schema").is_some() {
            let body_schema = schema(&p["schema"]);
            let content: Map<String, Value> = op["consumes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|c| (c.to_string(), json!({"schema": body_schema})))
                .collect();
            let mut body = Map::new();
            if op.get("consumes").is_some() {
                body.insert("content".into(), Value::Object(content));
            }
            out.insert("requestBody".into(), Value::Object(body));
        } else {
            parameters.push(parameter(p));
        }
    }
    if !parameters.is_empty() {
        out.insert("parameters".into(), Value::Array(parameters));
    }
    let mut responses = Map::new();
    for (code, response) in op["responses"].as_object().into_iter().flatten() {
        if code.starts_with("x-") {
            responses.insert(code.clone(), response.clone());
            continue;
        }
        let mut r = Map::new();
        if let Some(d) = response.get("description") {
            r.insert("description".into(), d.clone());
        }
        if let Some(s) = response.get("schema") {
            let converted = schema(s);
            let content: Map<String, Value> = op["produces"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(|p| (p.to_string(), json!({"schema": converted})))
                .collect();
            if op.get("produces").is_some() {
                r.insert("content".into(), Value::Object(content));
            }
        }
        extensions(response, &mut r);
        responses.insert(code.clone(), Value::Object(r));
    }
    out.insert("responses".into(), Value::Object(responses));
    extensions(op, &mut out);
    Value::Object(out)
}

/// `ConvertParameter`: a simple-typed v2 parameter gets a schema of its type.
fn parameter(p: &Value) -> Value {
    let mut out = Map::new();
    for field in ["name", "description", "in"] {
        if let Some(v) = p.get(field) {
            out.insert(field.into(), v.clone());
        }
    }
    for flag in ["required", "allowEmptyValue"] {
        if p[flag] == true {
            out.insert(flag.into(), json!(true));
        }
    }
    let s = match p.get("schema") {
        Some(s) => schema(s),
        None => {
            let mut s = Map::new();
            for field in ["type", "format"] {
                if let Some(v) = p.get(field) {
                    s.insert(field.into(), v.clone());
                }
            }
            if p["uniqueItems"] == true {
                s.insert("uniqueItems".into(), json!(true));
            }
            Value::Object(s)
        }
    };
    out.insert("schema".into(), s);
    extensions(p, &mut out);
    Value::Object(out)
}

/// `ConvertSchema` with `WrapRefs`: references move to `#/components/schemas/`, and a reference
/// with siblings (a description, a default, extensions) is wrapped in `allOf`.
pub fn schema(v2: &Value) -> Value {
    let Value::Object(m) = v2 else {
        return v2.clone();
    };
    let mut out = Map::new();
    for (k, v) in m {
        let converted = match k.as_str() {
            "$ref" => match v.as_str().and_then(|r| r.split_once(V2_DEFINITIONS)) {
                Some((_, name)) => json!(format!("{V3_SCHEMAS}{name}")),
                None => v.clone(),
            },
            "properties" => Value::Object(
                v.as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, s)| (name.clone(), schema(s)))
                    .collect(),
            ),
            "items" | "additionalItems" | "additionalProperties" if v.is_object() => schema(v),
            "items" | "allOf" | "anyOf" | "oneOf" if v.is_array() => {
                Value::Array(v.as_array().into_iter().flatten().map(schema).collect())
            }
            _ => v.clone(),
        };
        out.insert(k.clone(), converted);
    }
    if out.len() > 1
        && let Some(reference) = out.remove("$ref")
    {
        out.insert("allOf".into(), json!([{"$ref": reference}]));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_with_siblings_is_wrapped_in_all_of() {
        let v2 = json!({"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentStrategy", "description": "d", "x-kubernetes-patch-strategy": "retainKeys"});
        assert_eq!(
            schema(&v2),
            json!({"allOf": [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentStrategy"}], "description": "d", "x-kubernetes-patch-strategy": "retainKeys"})
        );
        assert_eq!(
            schema(&json!({"$ref": "#/definitions/X"})),
            json!({"$ref": "#/components/schemas/X"})
        );
    }

    #[test]
    fn the_apps_document_has_its_paths_and_reachable_schemas() {
        let doc = group_version_document(&super::super::spec().v2, "apis/apps/v1");
        assert_eq!(doc["openapi"], "3.0.0");
        let paths = doc["paths"].as_object().unwrap();
        assert!(paths.keys().all(|p| p.starts_with("/apis/apps/v1/")));
        let patch = &paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert!(
            patch["requestBody"]["content"]["application/strategic-merge-patch+json"]["schema"]
                .is_object()
        );
        let names: Vec<&str> = patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        assert!(names.contains(&"fieldValidation"), "{names:?}");
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "Deployment"
        );
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        assert!(schemas.contains_key("io.k8s.api.apps.v1.Deployment"));
        assert!(schemas.contains_key("io.k8s.api.core.v1.PodSpec"));
        assert!(!schemas.contains_key("io.k8s.api.batch.v1.Job"));
        let text = serde_json::to_string(&doc).unwrap();
        assert!(!text.contains("#/definitions/") && !text.contains("#/parameters/"));
    }
}
