//! `podinfo` (`https://stefanprodan.github.io/podinfo`), the demo chart people try Helm with: a
//! Deployment and a ClusterIP Service `<fullname>` (the release name when it contains `podinfo`,
//! else `<release>-podinfo`), `replicaCount` replicas serving HTTP on 9898.

use serde_json::{Value, json};

use super::{Chart, Render, RenderError, labels, yaml};

/// The chart.
pub static CHART: Chart = Chart {
    name: "podinfo",
    versions: &[("6.9.0", "6.9.0"), ("6.9.1", "6.9.1"), ("6.9.2", "6.9.2")],
    defaults: || yaml(DEFAULTS),
    validate: super::no_schema,
    render,
    crds: super::no_crds,
};

const DEFAULTS: &str = r#"
replicaCount: 1
image:
  repository: ghcr.io/stefanprodan/podinfo
  tag: ""
fullnameOverride: ""
service:
  type: ClusterIP
  httpPort: 9898
"#;

fn render(r: &Render<'_>) -> Result<Vec<Value>, RenderError> {
    let fullname = match r.str("fullnameOverride") {
        "" if r.release.contains("podinfo") => r.release.to_string(),
        "" => format!("{}-podinfo", r.release),
        name => name.to_string(),
    };
    let tag = match r.str("image.tag") {
        "" => r.app_version,
        t => t,
    };
    let chart_label = format!("podinfo-{}", r.version);
    let object_labels = labels(&[
        ("app.kubernetes.io/name", &fullname),
        ("app.kubernetes.io/version", r.app_version),
        ("helm.sh/chart", &chart_label),
    ]);
    let selector = labels(&[("app.kubernetes.io/name", &fullname)]);
    let port = r.get("service.httpPort").as_i64().unwrap_or(9898);
    let spec = json!({"containers": [{"name": "podinfo",
        "image": format!("{}:{tag}", r.str("image.repository")),
        "command": ["./podinfo", format!("--port={port}")],
        "ports": [{"name": "http", "containerPort": port}]}]});
    Ok(vec![
        super::service(
            &fullname,
            r.namespace,
            &object_labels,
            &selector,
            r.str("service.type"),
            json!([{"name": "http", "port": port, "targetPort": "http"}]),
        ),
        super::deployment(
            &fullname,
            r.namespace,
            &object_labels,
            r.get("replicaCount"),
            &selector,
            &selector,
            spec,
        ),
    ])
}
