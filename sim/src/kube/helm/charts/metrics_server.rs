//! `metrics-server` (`https://kubernetes-sigs.github.io/metrics-server/`): the Deployment and
//! Service `<fullname>` (port 443 to the pod's `https`), RBAC, and the APIService
//! `v1beta1.metrics.k8s.io` pointing at the Service (which makes the API server serve
//! `metrics.k8s.io/v1beta1`).

use serde_json::{Value, json};

use super::{Chart, Render, RenderError, labels, yaml};

/// The chart.
pub static CHART: Chart = Chart {
    name: "metrics-server",
    versions: &[("3.12.2", "0.7.2"), ("3.13.0", "0.8.0")],
    defaults: || yaml(DEFAULTS),
    validate: super::no_schema,
    render,
    crds: super::no_crds,
};

const DEFAULTS: &str = r#"
image:
  repository: registry.k8s.io/metrics-server/metrics-server
  tag: ""
nameOverride: ""
fullnameOverride: ""
serviceAccount:
  create: true
  name: ""
rbac:
  create: true
apiService:
  create: true
  annotations: {}
  insecureSkipTLSVerify: true
  caBundle: ""
hostNetwork:
  enabled: false
replicas: 1
podLabels: {}
priorityClassName: system-cluster-critical
containerPort: 10250
defaultArgs:
  - --cert-dir=/tmp
  - --kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname
  - --kubelet-use-node-status-port
  - --metric-resolution=15s
args: []
service:
  type: ClusterIP
  port: 443
nodeSelector: {}
tolerations: []
affinity: {}
"#;

fn render(r: &Render<'_>) -> Result<Vec<Value>, RenderError> {
    let fullname = r.fullname(CHART.name);
    let name = r.name(CHART.name);
    let ns = r.namespace;
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
        "" => format!("v{}", r.app_version),
        t => t.to_string(),
    };
    let mut args = super::list(r.get("defaultArgs"));
    args.push(json!(format!("--secure-port={}", r.get("containerPort"))));
    args.extend(super::list(r.get("args")));
    let mut spec = json!({"serviceAccountName": account,
        "containers": [{"name": "metrics-server", "image": format!("{}:{tag}", r.str("image.repository")),
            "args": args, "ports": [{"name": "https", "containerPort": r.get("containerPort"), "protocol": "TCP"}]}],
        "volumes": [{"name": "tmp", "emptyDir": {}}]});
    super::set_if(&mut spec, "priorityClassName", r.get("priorityClassName"));
    super::set_if(&mut spec, "nodeSelector", r.get("nodeSelector"));
    super::set_if(&mut spec, "tolerations", r.get("tolerations"));
    super::set_if(&mut spec, "affinity", r.get("affinity"));
    if r.truthy("hostNetwork.enabled") {
        spec["hostNetwork"] = json!(true);
    }
    let mut objects = Vec::new();
    if r.truthy("serviceAccount.create") {
        objects.push(super::service_account(&account, ns, &object_labels));
    }
    if r.truthy("rbac.create") {
        objects.push(super::cluster_role("system:metrics-server", &object_labels, json!([
            {"apiGroups": [""], "resources": ["nodes/metrics"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["pods", "nodes", "namespaces", "configmaps"], "verbs": ["get", "list", "watch"]}])));
        objects.push(super::cluster_role_binding(
            &format!("system:{fullname}"),
            "system:metrics-server",
            &account,
            ns,
            &object_labels,
        ));
        objects.push(super::cluster_role_binding(
            &format!("{fullname}:system:auth-delegator"),
            "system:auth-delegator",
            &account,
            ns,
            &object_labels,
        ));
    }
    objects.push(super::service(
        &fullname,
        ns,
        &object_labels,
        &selector,
        r.str("service.type"),
        json!([{"name": "https", "port": r.get("service.port"), "protocol": "TCP", "targetPort": "https"}]),
    ));
    objects.push(super::deployment(
        &fullname,
        ns,
        &object_labels,
        r.get("replicas"),
        &selector,
        &super::with(&selector, r.get("podLabels")),
        spec,
    ));
    if r.truthy("apiService.create") {
        let mut api = json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
            "metadata": super::meta("v1beta1.metrics.k8s.io", None, &object_labels),
            "spec": {"group": "metrics.k8s.io", "groupPriorityMinimum": 100, "version": "v1beta1", "versionPriority": 100,
                     "service": {"name": fullname, "namespace": ns, "port": r.get("service.port")}}});
        if r.truthy("apiService.insecureSkipTLSVerify") {
            api["spec"]["insecureSkipTLSVerify"] = json!(true);
        }
        if r.truthy("apiService.caBundle") {
            api["spec"]["caBundle"] = r.get("apiService.caBundle").clone();
        }
        objects.push(api);
    }
    Ok(objects)
}
