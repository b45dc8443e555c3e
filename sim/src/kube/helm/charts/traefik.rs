//! `traefik` (`https://traefik.github.io/charts`): the Deployment and the Service of type
//! `LoadBalancer` `<fullname>` (ports `web` 80 and `websecure` 443), the IngressClass `traefik`,
//! RBAC, and the CRDs of its `crds/` directory (installed when missing, never upgraded or
//! removed). Its `app.kubernetes.io/instance` label is `<release>-<namespace>`, as the chart
//! writes it.

use serde_json::{Value, json};

use super::{Chart, Render, RenderError, labels, yaml};

/// The chart.
pub static CHART: Chart = Chart {
    name: "traefik",
    versions: &[
        ("35.0.0", "v3.3.5"),
        ("36.2.0", "v3.4.1"),
        ("37.3.0", "v3.6.0"),
    ],
    defaults: || yaml(DEFAULTS),
    validate: super::no_schema,
    render,
    crds,
};

const DEFAULTS: &str = r#"
image:
  registry: docker.io
  repository: traefik
  tag: ""
deployment:
  enabled: true
  kind: Deployment
  replicas: 1
  podLabels: {}
ingressClass:
  enabled: true
  isDefaultClass: true
  name: ""
service:
  enabled: true
  type: LoadBalancer
  annotations: {}
  labels: {}
ports:
  web:
    port: 8000
    expose:
      default: true
    exposedPort: 80
  websecure:
    port: 8443
    expose:
      default: true
    exposedPort: 443
hostNetwork: false
nodeSelector: {}
tolerations: []
instanceLabelOverride: ""
nameOverride: ""
fullnameOverride: ""
namespaceOverride: ""
"#;

fn crds() -> Vec<Value> {
    [
        ("IngressRoute", "ingressroutes"),
        ("IngressRouteTCP", "ingressroutetcps"),
        ("IngressRouteUDP", "ingressrouteudps"),
        ("Middleware", "middlewares"),
        ("MiddlewareTCP", "middlewaretcps"),
        ("ServersTransport", "serverstransports"),
        ("ServersTransportTCP", "serverstransporttcps"),
        ("TLSOption", "tlsoptions"),
        ("TLSStore", "tlsstores"),
        ("TraefikService", "traefikservices"),
    ]
    .iter()
    .map(|(kind, plural)| super::crd("traefik.io", kind, plural, "v1alpha1", true))
    .collect()
}

fn render(r: &Render<'_>) -> Result<Vec<Value>, RenderError> {
    let fullname = r.fullname(CHART.name);
    let name = r.name(CHART.name);
    let ns = match r.str("namespaceOverride") {
        "" => r.namespace,
        n => n,
    };
    let instance = match r.str("instanceLabelOverride") {
        "" => format!("{}-{}", r.release, ns),
        i => i.to_string(),
    };
    let chart_label = format!("{}-{}", CHART.name, r.version);
    let selector = labels(&[
        ("app.kubernetes.io/name", &name),
        ("app.kubernetes.io/instance", &instance),
    ]);
    let object_labels = super::with(
        &selector,
        &labels(&[
            ("helm.sh/chart", &chart_label),
            ("app.kubernetes.io/managed-by", "Helm"),
        ]),
    );
    let tag = match r.str("image.tag") {
        "" => r.app_version,
        t => t,
    };
    let mut objects = vec![
        super::service_account(&fullname, ns, &object_labels),
        super::cluster_role(
            &format!("{fullname}-{ns}"),
            &object_labels,
            json!([
            {"apiGroups": ["", "networking.k8s.io", "traefik.io"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]),
        ),
        super::cluster_role_binding(
            &format!("{fullname}-{ns}"),
            &format!("{fullname}-{ns}"),
            &fullname,
            ns,
            &object_labels,
        ),
    ];
    let ports: Vec<(String, Value)> = r
        .get("ports")
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if r.truthy("deployment.enabled") {
        let mut spec = json!({"serviceAccountName": fullname, "terminationGracePeriodSeconds": 60,
            "containers": [{"name": name, "image": format!("{}/{}:{tag}", r.str("image.registry"), r.str("image.repository")),
                "args": ["--entryPoints.web.address=:8000/tcp", "--entryPoints.websecure.address=:8443/tcp", "--providers.kubernetescrd", "--providers.kubernetesingress"],
                "ports": ports.iter().map(|(n, p)| json!({"name": n, "containerPort": p["port"], "protocol": "TCP"})).collect::<Vec<_>>(),
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": true}}],
            "securityContext": {"runAsGroup": 65532, "runAsNonRoot": true, "runAsUser": 65532}});
        if r.truthy("hostNetwork") {
            spec["hostNetwork"] = json!(true);
        }
        super::set_if(&mut spec, "nodeSelector", r.get("nodeSelector"));
        super::set_if(&mut spec, "tolerations", r.get("tolerations"));
        let pod_labels = super::with(&object_labels, r.get("deployment.podLabels"));
        let workload = if r.str("deployment.kind") == "DaemonSet" {
            super::daemon_set(&fullname, ns, &object_labels, &selector, &pod_labels, spec)
        } else {
            super::deployment(
                &fullname,
                ns,
                &object_labels,
                r.get("deployment.replicas"),
                &selector,
                &pod_labels,
                spec,
            )
        };
        objects.push(workload);
    }
    if r.truthy("service.enabled") {
        let service_ports: Vec<Value> = ports
            .iter()
            .filter(|(_, p)| p["expose"]["default"] == true)
            .map(|(n, p)| json!({"port": p["exposedPort"], "name": n, "targetPort": n, "protocol": "TCP"}))
            .collect();
        let mut svc = super::service(
            &fullname,
            ns,
            &super::with(&object_labels, r.get("service.labels")),
            &selector,
            r.str("service.type"),
            Value::Array(service_ports),
        );
        super::set_if(
            &mut svc["metadata"],
            "annotations",
            r.get("service.annotations"),
        );
        objects.push(svc);
    }
    if r.truthy("ingressClass.enabled") {
        let class = match r.str("ingressClass.name") {
            "" => fullname.clone(),
            n => n.to_string(),
        };
        objects.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": class, "labels": object_labels,
                         "annotations": {"ingressclass.kubernetes.io/is-default-class": r.get("ingressClass.isDefaultClass").to_string()}},
            "spec": {"controller": "traefik.io/ingress-controller"}}));
    }
    Ok(objects)
}
