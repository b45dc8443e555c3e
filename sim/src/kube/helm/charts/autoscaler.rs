//! `cluster-autoscaler` (`https://kubernetes.github.io/autoscaler`): the Deployment
//! `<release>-<cloudProvider>-cluster-autoscaler` (rendered only when `autoDiscovery.clusterName`
//! or `autoscalingGroups` names what to scale, as the chart's template does), its ServiceAccount
//! and RBAC. `extraEnv`/`extraArgs` end up on the container, `podAnnotations` on the pod
//! template, `updateStrategy` as the Deployment's strategy.

use serde_json::{Value, json};

use super::{Chart, Render, RenderError, labels, yaml};

/// The chart.
pub static CHART: Chart = Chart {
    name: "cluster-autoscaler",
    versions: &[("9.59.0", "1.34.1")],
    defaults: || yaml(DEFAULTS),
    validate: super::no_schema,
    render,
    crds: super::no_crds,
};

const DEFAULTS: &str = r#"
cloudProvider: aws
autoDiscovery:
  clusterName: ""
autoscalingGroups: []
extraArgs:
  logtostderr: true
  stderrthreshold: info
  v: 4
extraEnv: {}
extraEnvSecrets: {}
envFromSecret: ""
image:
  repository: registry.k8s.io/autoscaling/cluster-autoscaler
  tag: v1.34.1
replicaCount: 1
nameOverride: ""
fullnameOverride: ""
nodeSelector: {}
tolerations: []
podLabels: {}
podAnnotations: {}
updateStrategy: {}
rbac:
  create: true
  serviceAccount:
    create: true
    name: ""
priorityClassName: system-cluster-critical
"#;

fn render(r: &Render<'_>) -> Result<Vec<Value>, RenderError> {
    let chart_name = format!("{}-{}", r.str("cloudProvider"), CHART.name);
    let fullname = r.fullname(&chart_name);
    let name = r.name(&chart_name);
    let ns = r.namespace;
    let selector = labels(&[
        ("app.kubernetes.io/instance", r.release),
        ("app.kubernetes.io/name", &name),
    ]);
    let chart_label = format!("{}-{}", CHART.name, r.version);
    let object_labels = super::with(
        &selector,
        &labels(&[
            ("app.kubernetes.io/managed-by", "Helm"),
            ("helm.sh/chart", &chart_label),
        ]),
    );
    let account = match r.str("rbac.serviceAccount.name") {
        "" => fullname.clone(),
        n => n.to_string(),
    };
    let mut objects = Vec::new();
    if r.truthy("rbac.serviceAccount.create") {
        objects.push(super::service_account(&account, ns, &object_labels));
    }
    if r.truthy("rbac.create") {
        objects.push(super::cluster_role(&fullname, &object_labels, json!([
            {"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["get", "list", "watch", "update"]}])));
        objects.push(super::cluster_role_binding(
            &fullname,
            &fullname,
            &account,
            ns,
            &object_labels,
        ));
    }
    if !(r.truthy("autoDiscovery.clusterName") || r.truthy("autoscalingGroups")) {
        return Ok(objects);
    }
    let mut command = vec![
        json!("./cluster-autoscaler"),
        json!(format!("--cloud-provider={}", r.str("cloudProvider"))),
    ];
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for group in super::list(r.get("autoscalingGroups")) {
        // The chart's hetzner branch names the server type and location of each group too.
        let nodes = if r.str("cloudProvider") == "hetzner" {
            format!(
                "--nodes={}:{}:{}:{}:{}",
                group["minSize"],
                group["maxSize"],
                text(&group["instanceType"]),
                text(&group["region"]),
                text(&group["name"])
            )
        } else {
            format!(
                "--nodes={}:{}:{}",
                group["minSize"],
                group["maxSize"],
                text(&group["name"])
            )
        };
        command.push(json!(nodes));
    }
    // As the chart: "everything after the first _ is ignored", so one map can carry a flag
    // several times (`nodes_web`, `nodes_batch`); a null value is a flag without one.
    for (k, v) in r.get("extraArgs").as_object().into_iter().flatten() {
        let flag = k.split('_').next().unwrap_or(k);
        command.push(if v.is_null() {
            json!(format!("--{flag}"))
        } else {
            json!(format!("--{flag}={}", text(v)))
        });
    }
    let mut env: Vec<Value> = r
        .get("extraEnv")
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    // `extraEnvSecrets: {NAME: {name, key}}`; the Secret's name defaults to the fullname.
    for (k, v) in r.get("extraEnvSecrets").as_object().into_iter().flatten() {
        let secret = v["name"].as_str().unwrap_or(&fullname).to_string();
        env.push(
            json!({"name": k, "valueFrom": {"secretKeyRef": {"name": secret, "key": v["key"]}}}),
        );
    }
    let mut container = json!({"name": name,
        "image": format!("{}:{}", r.str("image.repository"), r.str("image.tag")),
        "command": command, "env": env});
    if r.truthy("envFromSecret") {
        container["envFrom"] = json!([{"secretRef": {"name": r.str("envFromSecret")}}]);
    }
    let mut spec = json!({"serviceAccountName": account, "containers": [container]});
    super::set_if(&mut spec, "priorityClassName", r.get("priorityClassName"));
    super::set_if(&mut spec, "nodeSelector", r.get("nodeSelector"));
    super::set_if(&mut spec, "tolerations", r.get("tolerations"));
    let mut deployment = super::deployment(
        &fullname,
        ns,
        &object_labels,
        r.get("replicaCount"),
        &selector,
        &super::with(&selector, r.get("podLabels")),
        spec,
    );
    // As the chart's template: `updateStrategy` as the Deployment's strategy, `podAnnotations`
    // on the pod template (a changed annotation rolls the pods).
    super::set_if(&mut deployment["spec"], "strategy", r.get("updateStrategy"));
    super::set_if(
        &mut deployment["spec"]["template"]["metadata"],
        "annotations",
        r.get("podAnnotations"),
    );
    objects.push(deployment);
    Ok(objects)
}
