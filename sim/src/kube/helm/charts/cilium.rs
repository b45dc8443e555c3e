//! `cilium` (`https://helm.cilium.io`): the agent DaemonSet `cilium` and the `cilium-envoy`
//! DaemonSet (host network, tolerating every taint), the `cilium-operator` Deployment (host
//! network, 2 replicas that must not share a node), their ServiceAccounts, RBAC and the
//! `cilium-config` ConfigMap.

use serde_json::{Value, json};

use super::{Chart, Render, RenderError, labels, yaml};

/// The chart.
pub static CHART: Chart = Chart {
    name: "cilium",
    versions: &[
        ("1.18.0", "1.18.0"),
        ("1.18.1", "1.18.1"),
        ("1.18.2", "1.18.2"),
        ("1.18.3", "1.18.3"),
        ("1.18.4", "1.18.4"),
    ],
    defaults: || yaml(DEFAULTS),
    validate: super::no_schema,
    render,
    crds: super::no_crds,
};

const DEFAULTS: &str = r#"
image:
  repository: quay.io/cilium/cilium
  tag: ""
k8sServiceHost: ""
k8sServicePort: ""
kubeProxyReplacement: "false"
ipam:
  mode: cluster-pool
cgroup:
  autoMount:
    enabled: true
  hostRoot: /run/cilium/cgroupv2
securityContext:
  privileged: false
tolerations:
  - operator: Exists
nodeSelector:
  kubernetes.io/os: linux
priorityClassName: ""
envoy:
  enabled: ~
  tolerations:
    - operator: Exists
operator:
  enabled: true
  replicas: 2
  hostNetwork: true
  tolerations:
    - operator: Exists
  nodeSelector:
    kubernetes.io/os: linux
  affinity:
    podAntiAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        - topologyKey: kubernetes.io/hostname
          labelSelector:
            matchLabels:
              io.cilium/app: operator
hubble:
  enabled: true
  relay:
    enabled: false
  ui:
    enabled: false
"#;

fn render(r: &Render<'_>) -> Result<Vec<Value>, RenderError> {
    let ns = r.namespace;
    let tag = match r.str("image.tag") {
        "" => format!("v{}", r.app_version),
        t => t.to_string(),
    };
    let agent_labels = labels(&[
        ("k8s-app", "cilium"),
        ("app.kubernetes.io/part-of", "cilium"),
        ("app.kubernetes.io/name", "cilium-agent"),
    ]);
    let none = json!({});
    let mut objects = vec![
        super::service_account("cilium", ns, &none),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cilium-config", "namespace": ns},
               "data": {"ipam": r.str("ipam.mode"), "kube-proxy-replacement": r.get("kubeProxyReplacement").to_string().trim_matches('"'),
                        "k8s-service-host": r.str("k8sServiceHost"), "k8s-service-port": r.get("k8sServicePort").to_string().trim_matches('"'),
                        "cgroup-root": r.str("cgroup.hostRoot")}}),
        super::cluster_role(
            "cilium",
            &none,
            json!([{"apiGroups": [""], "resources": ["nodes", "pods", "services", "endpoints", "namespaces"], "verbs": ["get", "list", "watch"]}]),
        ),
        super::cluster_role_binding("cilium", "cilium", "cilium", ns, &none),
    ];
    let mut agent = json!({"serviceAccountName": "cilium", "hostNetwork": true,
        "priorityClassName": "system-node-critical",
        "tolerations": r.get("tolerations"),
        "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"k8s-app": "cilium"}}}]}},
        "containers": [{"name": "cilium-agent", "image": format!("{}:{tag}", r.str("image.repository")),
            "command": ["cilium-agent"], "args": ["--config-dir=/tmp/cilium/config-map"],
            "securityContext": {"privileged": r.get("securityContext.privileged")}}],
        "volumes": [{"name": "bpf-maps", "hostPath": {"path": "/sys/fs/bpf", "type": "DirectoryOrCreate"}},
                    {"name": "cilium-run", "hostPath": {"path": "/var/run/cilium", "type": "DirectoryOrCreate"}}]});
    super::set_if(&mut agent, "nodeSelector", r.get("nodeSelector"));
    objects.push(super::daemon_set(
        "cilium",
        ns,
        &agent_labels,
        &labels(&[("k8s-app", "cilium")]),
        &agent_labels,
        agent,
    ));
    if r.get("envoy.enabled") != &Value::Bool(false) {
        let envoy_labels = labels(&[
            ("k8s-app", "cilium-envoy"),
            ("app.kubernetes.io/part-of", "cilium"),
            ("app.kubernetes.io/name", "cilium-envoy"),
            ("name", "cilium-envoy"),
        ]);
        objects.push(super::service_account("cilium-envoy", ns, &none));
        objects.push(super::daemon_set(
            "cilium-envoy",
            ns,
            &envoy_labels,
            &labels(&[("k8s-app", "cilium-envoy")]),
            &envoy_labels,
            json!({"serviceAccountName": "cilium-envoy", "hostNetwork": true,
                   "priorityClassName": "system-node-critical",
                   "tolerations": r.get("envoy.tolerations"),
                   "nodeSelector": {"kubernetes.io/os": "linux"},
                   "containers": [{"name": "cilium-envoy", "image": "quay.io/cilium/cilium-envoy:v1.34.10"}]}),
        ));
    }
    if r.truthy("operator.enabled") {
        let operator_labels = labels(&[
            ("io.cilium/app", "operator"),
            ("name", "cilium-operator"),
            ("app.kubernetes.io/part-of", "cilium"),
            ("app.kubernetes.io/name", "cilium-operator"),
        ]);
        let mut spec = json!({"serviceAccountName": "cilium-operator",
            "hostNetwork": r.get("operator.hostNetwork"),
            "priorityClassName": "system-cluster-critical",
            "tolerations": r.get("operator.tolerations"),
            "containers": [{"name": "cilium-operator",
                "image": format!("quay.io/cilium/operator-generic:{tag}"),
                "command": ["cilium-operator-generic"]}]});
        super::set_if(&mut spec, "nodeSelector", r.get("operator.nodeSelector"));
        super::set_if(&mut spec, "affinity", r.get("operator.affinity"));
        objects.push(super::service_account("cilium-operator", ns, &none));
        objects.push(super::cluster_role(
            "cilium-operator",
            &none,
            json!([{"apiGroups": ["cilium.io"], "resources": ["*"], "verbs": ["*"]}]),
        ));
        objects.push(super::cluster_role_binding(
            "cilium-operator",
            "cilium-operator",
            "cilium-operator",
            ns,
            &none,
        ));
        objects.push(super::deployment(
            "cilium-operator",
            ns,
            &operator_labels,
            r.get("operator.replicas"),
            &labels(&[("io.cilium/app", "operator"), ("name", "cilium-operator")]),
            &operator_labels,
            spec,
        ));
    }
    Ok(objects)
}
