//! `hcloud-cloud-controller-manager` (`https://charts.hetzner.cloud`), as its chart renders it:
//! a Deployment (or a DaemonSet with `kind: DaemonSet`) named after the chart, tolerating the
//! `uninitialized`, `CriticalAddonsOnly`, control-plane and `not-ready` (NoExecute) taints plus
//! `additionalTolerations`, on the host network only with `networking.enabled` (which also adds
//! `--allocate-node-cidrs`, `--cluster-cidr` and `HCLOUD_NETWORK` from the Secret), reading
//! `HCLOUD_TOKEN` from the Secret `hcloud`; its ServiceAccount and RBAC. Its pod template carries
//! only the selector labels, its Deployment no labels at all.

use serde_json::{Map, Value, json};

use super::{Chart, Render, RenderError, yaml};

/// The chart.
pub static CHART: Chart = Chart {
    name: "hcloud-cloud-controller-manager",
    versions: &[
        ("1.28.0", "v1.28.0"),
        ("1.29.0", "v1.29.0"),
        ("1.29.1", "v1.29.1"),
        ("1.29.2", "v1.29.2"),
        ("1.30.0", "v1.30.0"),
        ("1.30.1", "v1.30.1"),
        ("1.31.0", "v1.31.0"),
        ("1.31.1", "v1.31.1"),
        ("1.32.0", "v1.32.0"),
        ("1.33.0", "v1.33.0"),
        ("1.34.0", "v1.34.0"),
        ("1.35.0", "v1.35.0"),
    ],
    defaults: || yaml(DEFAULTS),
    validate: super::no_schema,
    render,
    crds: super::no_crds,
};

const DEFAULTS: &str = r#"
args:
  cloud-provider: hcloud
  allow-untagged-cloud: ""
  route-reconciliation-period: 30s
  webhook-secure-port: "0"
  feature-gates: "CloudControllerManagerWatchBasedRoutesReconciliation=true"
kind: Deployment
replicaCount: 1
env:
  HCLOUD_TOKEN:
    valueFrom:
      secretKeyRef:
        name: hcloud
        key: token
  ROBOT_USER:
    valueFrom:
      secretKeyRef:
        name: hcloud
        key: robot-user
        optional: true
  ROBOT_PASSWORD:
    valueFrom:
      secretKeyRef:
        name: hcloud
        key: robot-password
        optional: true
image:
  repository: docker.io/hetznercloud/hcloud-cloud-controller-manager
  tag: "v{{ $.Chart.Version }}"
monitoring:
  enabled: true
nameOverride: ~
networking:
  enabled: false
  clusterCIDR: 10.244.0.0/16
  network:
    valueFrom:
      secretKeyRef:
        name: hcloud
        key: network
resources:
  requests:
    cpu: 100m
    memory: 50Mi
podSecurityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  seccompProfile:
    type: RuntimeDefault
securityContext:
  readOnlyRootFilesystem: true
  allowPrivilegeEscalation: false
  capabilities:
    drop:
      - ALL
additionalTolerations: []
nodeSelector: {}
affinity: {}
priorityClassName: "system-cluster-critical"
robot:
  enabled: false
rbac:
  create: true
podLabels: {}
podAnnotations: {}
dnsPolicy: Default
"#;

/// `--key=value` (or `--key` for an empty value), sorted by key as `range` over a map does;
/// `null` values are left out.
fn args(r: &Render<'_>) -> Vec<Value> {
    let mut out: Vec<Value> = r
        .get("args")
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if super::truthy(v) {
                json!(format!("--{k}={text}"))
            } else {
                json!(format!("--{k}"))
            }
        })
        .collect();
    if r.truthy("networking.enabled") {
        out.push(json!("--allocate-node-cidrs=true"));
        out.push(json!(format!(
            "--cluster-cidr={}",
            r.str("networking.clusterCIDR")
        )));
    }
    if r.get("replicaCount").as_i64() == Some(1) {
        out.push(json!("--leader-elect=false"));
    }
    out
}

fn env(r: &Render<'_>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let entries: Map<String, Value> = r.get("env").as_object().cloned().unwrap_or_default();
    for (name, source) in entries {
        if source.is_null() {
            continue;
        }
        let mut var = json!({"name": name});
        if let Value::Object(fields) = source {
            for (k, v) in fields {
                var[k] = v;
            }
        }
        out.push(var);
    }
    if r.truthy("networking.enabled") {
        let mut var = json!({"name": "HCLOUD_NETWORK"});
        if let Value::Object(fields) = r.get("networking.network") {
            for (k, v) in fields {
                var[k] = v.clone();
            }
        }
        out.push(var);
    }
    if !r.truthy("monitoring.enabled") {
        out.push(json!({"name": "HCLOUD_METRICS_ENABLED", "value": "false"}));
    }
    if r.truthy("robot.enabled") {
        out.push(json!({"name": "ROBOT_ENABLED", "value": "true"}));
    }
    out
}

fn render(r: &Render<'_>) -> Result<Vec<Value>, RenderError> {
    let name = r.name(CHART.name);
    let ns = r.namespace;
    let selector = super::labels(&[
        ("app.kubernetes.io/name", &name),
        ("app.kubernetes.io/instance", r.release),
    ]);
    let pod_labels = super::with(&selector, r.get("podLabels"));
    let mut tolerations = vec![
        json!({"key": "node.cloudprovider.kubernetes.io/uninitialized", "value": "true", "effect": "NoSchedule"}),
        json!({"key": "CriticalAddonsOnly", "operator": "Exists"}),
        json!({"key": "node-role.kubernetes.io/master", "effect": "NoSchedule", "operator": "Exists"}),
        json!({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule", "operator": "Exists"}),
        json!({"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"}),
    ];
    tolerations.extend(super::list(r.get("additionalTolerations")));
    let tag = r
        .str("image.tag")
        .replace("{{ $.Chart.Version }}", r.version);
    let mut container = json!({"name": "hcloud-cloud-controller-manager",
        "securityContext": r.get("securityContext"), "args": args(r), "env": env(r),
        "image": format!("{}:{tag}", r.str("image.repository")),
        "ports": if r.truthy("monitoring.enabled") { json!([{"name": "metrics", "containerPort": 8233}]) } else { json!([]) },
        "resources": r.get("resources")});
    super::set_if(&mut container, "volumeMounts", r.get("extraVolumeMounts"));
    let mut spec = json!({"serviceAccountName": name, "dnsPolicy": r.get("dnsPolicy"),
        "tolerations": tolerations, "containers": [container]});
    super::set_if(&mut spec, "securityContext", r.get("podSecurityContext"));
    super::set_if(&mut spec, "nodeSelector", r.get("nodeSelector"));
    super::set_if(&mut spec, "priorityClassName", r.get("priorityClassName"));
    super::set_if(&mut spec, "volumes", r.get("extraVolumes"));
    if r.truthy("networking.enabled") {
        spec["hostNetwork"] = json!(true);
    }
    let none = json!({});
    let mut objects = vec![super::service_account(&name, ns, &none)];
    if r.truthy("rbac.create") {
        let role = format!("system:{name}");
        objects.push(super::cluster_role(
            &role,
            &none,
            json!([
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["*"]},
            {"apiGroups": [""], "resources": ["services/status"], "verbs": ["patch", "update"]}]),
        ));
        objects.push(super::cluster_role_binding(
            &format!("system:{name}:restricted"),
            &role,
            &name,
            ns,
            &none,
        ));
    }
    if r.str("kind") == "DaemonSet" {
        objects.push(super::daemon_set(
            &name,
            ns,
            &none,
            &selector,
            &pod_labels,
            spec,
        ));
    } else {
        super::set_if(&mut spec, "affinity", r.get("affinity"));
        let mut deployment = super::deployment(
            &name,
            ns,
            &none,
            r.get("replicaCount"),
            &selector,
            &pod_labels,
            spec,
        );
        deployment["spec"]["revisionHistoryLimit"] = json!(2);
        objects.push(deployment);
    }
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networking_puts_the_pod_on_the_host_network_with_the_cluster_cidr() {
        let mut values = (CHART.defaults)();
        let render = |values: &Value| {
            super::render(&Render {
                release: "hcloud-cloud-controller-manager",
                namespace: "kube-system",
                version: "1.35.0",
                app_version: "v1.35.0",
                values,
            })
            .unwrap()
        };
        let plain = render(&values);
        let deploy = plain.iter().find(|o| o["kind"] == "Deployment").unwrap();
        assert!(deploy["spec"]["template"]["spec"]["hostNetwork"].is_null());
        assert_eq!(
            deploy["spec"]["template"]["spec"]["containers"][0]["image"],
            "docker.io/hetznercloud/hcloud-cloud-controller-manager:v1.35.0"
        );
        values["networking"]["enabled"] = json!(true);
        values["networking"]["clusterCIDR"] = json!("10.0.16.0/20");
        let networked = render(&values);
        let deploy = networked
            .iter()
            .find(|o| o["kind"] == "Deployment")
            .unwrap();
        let spec = &deploy["spec"]["template"]["spec"];
        assert_eq!(spec["hostNetwork"], true);
        let args = spec["containers"][0]["args"].as_array().unwrap();
        assert!(args.contains(&json!("--cluster-cidr=10.0.16.0/20")));
        assert!(args.contains(&json!("--allow-untagged-cloud")));
        let env = spec["containers"][0]["env"].as_array().unwrap();
        assert!(
            env.iter().any(|e| e["name"] == "HCLOUD_NETWORK"
                && e["valueFrom"]["secretKeyRef"]["key"] == "network")
        );
        assert_eq!(spec["tolerations"].as_array().unwrap().len(), 5);
    }
}
