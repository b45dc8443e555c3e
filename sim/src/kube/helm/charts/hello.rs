//! `hello` from the sim's own repository ([`crate::chartrepo`]): a Deployment named after the
//! release, `replicas` from the values, checked against the chart's `values.schema.json` with
//! the messages of Helm's schema validator.

use serde_json::{Value, json};

use super::{Chart, Render, RenderError, labels, yaml};
use crate::chartrepo::{HELLO, HELLO_VALUES, HELLO_VERSIONS};

/// The chart.
pub static CHART: Chart = Chart {
    name: HELLO,
    versions: HELLO_VERSIONS,
    defaults: || yaml(HELLO_VALUES),
    validate,
    render,
    crds: super::no_crds,
};

/// The JSON Schema type name of a value, as Helm's validator reports it.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `values.schema.json`: `replicas` required, an integer of at least 0; `image.repository` and
/// `image.tag` strings, `image.args` a list of strings.
fn validate(values: &Value) -> Result<(), RenderError> {
    let mut problems = Vec::new();
    match values.get("replicas") {
        None => problems.push("- at '': missing property 'replicas'".to_string()),
        Some(r) if type_name(r) != "integer" => problems.push(format!(
            "- at '/replicas': got {}, want integer",
            type_name(r)
        )),
        Some(r) if r.as_i64().is_some_and(|n| n < 0) => {
            problems.push(format!("- at '/replicas': minimum: got {r}, want 0"))
        }
        Some(_) => {}
    }
    let image = &values["image"];
    if !image.is_null() && !image.is_object() {
        problems.push(format!(
            "- at '/image': got {}, want object",
            type_name(image)
        ));
    }
    for key in ["repository", "tag"] {
        if let Some(v) = image.get(key).filter(|v| !v.is_string()) {
            problems.push(format!(
                "- at '/image/{key}': got {}, want string",
                type_name(v)
            ));
        }
    }
    if let Some(args) = image.get("args") {
        match args.as_array() {
            None => problems.push(format!(
                "- at '/image/args': got {}, want array",
                type_name(args)
            )),
            Some(list) => {
                for (i, a) in list.iter().enumerate().filter(|(_, a)| !a.is_string()) {
                    problems.push(format!(
                        "- at '/image/args/{i}': got {}, want string",
                        type_name(a)
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(format!(
        "values don't meet the specifications of the schema(s) in the following chart(s):\n{HELLO}:\n{}\n",
        problems.join("\n")
    ))
}

fn render(r: &Render<'_>) -> Result<Vec<Value>, RenderError> {
    let tag = match r.str("image.tag") {
        "" => r.app_version,
        t => t,
    };
    let chart_label = format!("{HELLO}-{}", r.version);
    let object_labels = labels(&[
        ("app.kubernetes.io/name", HELLO),
        ("app.kubernetes.io/instance", r.release),
        ("app.kubernetes.io/version", r.app_version),
        ("app.kubernetes.io/managed-by", "Helm"),
        ("helm.sh/chart", &chart_label),
    ]);
    let selector = labels(&[
        ("app.kubernetes.io/name", HELLO),
        ("app.kubernetes.io/instance", r.release),
    ]);
    let pod_labels = super::with(
        &selector,
        &labels(&[("app.kubernetes.io/managed-by", "Helm")]),
    );
    let spec = json!({"containers": [{"name": "hello",
        "image": format!("{}:{tag}", r.str("image.repository")),
        "args": r.get("image.args"),
        "ports": [{"name": "http", "containerPort": 8080}]}]});
    Ok(vec![super::deployment(
        r.release,
        r.namespace,
        &object_labels,
        r.get("replicas"),
        &selector,
        &pod_labels,
        spec,
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_refuses_what_helm_refuses_with_its_words() {
        let defaults = (CHART.defaults)();
        assert!(validate(&defaults).is_ok());
        let mut bad = defaults.clone();
        bad["replicas"] = json!("three");
        assert_eq!(
            validate(&bad).unwrap_err(),
            "values don't meet the specifications of the schema(s) in the following chart(s):\nhello:\n- at '/replicas': got string, want integer\n"
        );
        bad["replicas"] = json!(-1);
        assert!(
            validate(&bad)
                .unwrap_err()
                .contains("- at '/replicas': minimum: got -1, want 0")
        );
        bad["replicas"] = json!(1.5);
        assert!(
            validate(&bad)
                .unwrap_err()
                .contains("got number, want integer")
        );
        let rendered = render(&Render {
            release: "web",
            namespace: "apps",
            version: "1.1.0",
            app_version: "1.1.0",
            values: &defaults,
        })
        .unwrap();
        assert_eq!(rendered[0]["metadata"]["name"], "web");
        assert_eq!(rendered[0]["spec"]["replicas"], 1);
        assert_eq!(
            rendered[0]["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/instance"],
            "web"
        );
    }
}
