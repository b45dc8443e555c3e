//! `kubelet-csr-approver` (`https://postfinance.github.io/kubelet-csr-approver`): the Deployment
//! `<fullname>` (2 replicas with leader election by default; more than one replica without it
//! fails the template as the chart does), tolerating the control-plane taint; its Service,
//! ServiceAccount and RBAC.

use serde_json::{Value, json};

use super::{Chart, Render, RenderError, labels, yaml};

/// The chart.
pub static CHART: Chart = Chart {
    name: "kubelet-csr-approver",
    versions: &[
        ("1.2.10", "v1.2.10"),
        ("1.2.11", "v1.2.11"),
        ("1.2.12", "v1.2.12"),
        ("1.2.13", "v1.2.13"),
        ("1.2.14", "v1.2.14"),
    ],
    defaults: || yaml(DEFAULTS),
    validate: super::no_schema,
    render,
    crds: super::no_crds,
};

const DEFAULTS: &str = r#"
providerRegex: ""
maxExpirationSeconds: ""
bypassDnsResolution: false
allowedDnsNames: 1
ignoreNonSystemNode: false
skipDenyStep: false
bypassHostnameCheck: false
providerIpPrefixes: []
loggingLevel: 0
leaderElection: true
replicas: 2
namespace: ""
image:
  repository: ghcr.io/postfinance/kubelet-csr-approver
  tag: ""
nameOverride: ""
fullnameOverride: ""
metrics:
  enable: true
  serviceType: ClusterIP
  port: 8080
serviceAccount:
  create: true
  name: ""
podLabels: {}
priorityClassName: ""
nodeSelector: {}
tolerations:
  - effect: NoSchedule
    key: node-role.kubernetes.io/control-plane
    operator: Equal
affinity: {}
env: []
"#;

fn render(r: &Render<'_>) -> Result<Vec<Value>, RenderError> {
    if r.get("replicas").as_i64().unwrap_or(0) > 1 && !r.truthy("leaderElection") {
        return Err("execution error at (kubelet-csr-approver/templates/deployment.yaml:10:4): leaderElection needs to be enabled in order to use more than 1 replica".into());
    }
    let fullname = r.fullname(CHART.name);
    let name = r.name(CHART.name);
    let ns = match r.str("namespace") {
        "" => r.namespace,
        n => n,
    };
    let chart_label = format!("{}-{}", CHART.name, r.version);
    let selector = labels(&[
        ("app.kubernetes.io/name", &name),
        ("app.kubernetes.io/instance", r.release),
    ]);
    let object_labels = super::with(
        &selector,
        &labels(&[
            ("helm.sh/chart", &chart_label),
            ("app.kubernetes.io/version", r.app_version),
            ("app.kubernetes.io/managed-by", "Helm"),
        ]),
    );
    let account = match r.str("serviceAccount.name") {
        "" => fullname.clone(),
        n => n.to_string(),
    };
    let tag = match r.str("image.tag") {
        "" => r.app_version,
        t => t,
    };
    let mut env = Vec::new();
    if r.truthy("providerRegex") {
        env.push(json!({"name": "PROVIDER_REGEX", "value": r.str("providerRegex")}));
    }
    if r.truthy("providerIpPrefixes") {
        let prefixes: Vec<String> = super::list(r.get("providerIpPrefixes"))
            .iter()
            .filter_map(|p| p.as_str().map(str::to_string))
            .collect();
        env.push(json!({"name": "PROVIDER_IP_PREFIXES", "value": prefixes.join(",")}));
    }
    if r.truthy("bypassDnsResolution") {
        env.push(json!({"name": "BYPASS_DNS_RESOLUTION", "value": "true"}));
    }
    env.extend(super::list(r.get("env")));
    let mut args = vec![
        json!("-metrics-bind-address"),
        json!(format!(":{}", r.get("metrics.port"))),
        json!("-health-probe-bind-address"),
        json!(":8081"),
    ];
    if r.truthy("leaderElection") {
        args.push(json!("-leader-election"));
    }
    let mut spec = json!({"serviceAccountName": account, "securityContext": {},
        "containers": [{"name": CHART.name, "image": format!("{}:{tag}", r.str("image.repository")),
            "args": args, "env": env,
            "securityContext": {"runAsUser": 65532, "runAsGroup": 65532, "runAsNonRoot": true, "privileged": false,
                                "allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                                "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}}]});
    super::set_if(&mut spec, "nodeSelector", r.get("nodeSelector"));
    super::set_if(&mut spec, "priorityClassName", r.get("priorityClassName"));
    super::set_if(&mut spec, "affinity", r.get("affinity"));
    super::set_if(&mut spec, "tolerations", r.get("tolerations"));
    let mut objects = Vec::new();
    if r.truthy("serviceAccount.create") {
        objects.push(super::service_account(&account, ns, &object_labels));
    }
    objects.push(super::cluster_role(&fullname, &object_labels, json!([
        {"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": ["certificates.k8s.io"], "resources": ["certificatesigningrequests/approval"], "verbs": ["update"]}])));
    objects.push(super::cluster_role_binding(
        &fullname,
        &fullname,
        &account,
        ns,
        &object_labels,
    ));
    if r.truthy("metrics.enable") {
        objects.push(super::service(&fullname, ns, &object_labels, &selector, r.str("metrics.serviceType"),
            json!([{"name": "metrics", "port": r.get("metrics.port"), "targetPort": "metrics", "protocol": "TCP"}])));
    }
    objects.push(super::deployment(
        &fullname,
        ns,
        &object_labels,
        r.get("replicas"),
        &selector,
        &super::with(&selector, r.get("podLabels")),
        spec,
    ));
    Ok(objects)
}
