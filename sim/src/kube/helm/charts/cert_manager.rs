//! `cert-manager` (`https://charts.jetstack.io`): the Deployments `<fullname>`,
//! `<fullname>-cainjector` and `<fullname>-webhook` with their Services and ServiceAccounts, and
//! its six CRDs when `crds.enabled` (or the older `installCRDs`) asks for them, kept on uninstall
//! with `crds.keep` (`helm.sh/resource-policy: keep`). The `startupapicheck` hook is not
//! modelled.

use serde_json::{Value, json};

use super::{Chart, Render, RenderError, labels, yaml};

/// The chart.
pub static CHART: Chart = Chart {
    name: "cert-manager",
    versions: &[
        ("v1.18.2", "v1.18.2"),
        ("v1.19.0", "v1.19.0"),
        ("v1.19.1", "v1.19.1"),
    ],
    defaults: || yaml(DEFAULTS),
    validate: super::no_schema,
    render,
    crds: super::no_crds,
};

const DEFAULTS: &str = r#"
global:
  priorityClassName: ""
installCRDs: false
crds:
  enabled: false
  keep: true
replicaCount: 1
nameOverride: ""
fullnameOverride: ""
image:
  repository: quay.io/jetstack/cert-manager-controller
nodeSelector:
  kubernetes.io/os: linux
tolerations: []
podLabels: {}
webhook:
  replicaCount: 1
  nodeSelector:
    kubernetes.io/os: linux
  tolerations: []
cainjector:
  enabled: true
  replicaCount: 1
  nodeSelector:
    kubernetes.io/os: linux
  tolerations: []
startupapicheck:
  enabled: true
"#;

fn crds(keep: bool) -> Vec<Value> {
    [
        (
            "cert-manager.io",
            "CertificateRequest",
            "certificaterequests",
            true,
        ),
        ("cert-manager.io", "Certificate", "certificates", true),
        ("acme.cert-manager.io", "Challenge", "challenges", true),
        ("cert-manager.io", "ClusterIssuer", "clusterissuers", false),
        ("cert-manager.io", "Issuer", "issuers", true),
        ("acme.cert-manager.io", "Order", "orders", true),
    ]
    .iter()
    .map(|(group, kind, plural, namespaced)| {
        let mut crd = super::crd(group, kind, plural, "v1", *namespaced);
        crd["metadata"]["labels"] = labels(&[("app.kubernetes.io/name", "cert-manager")]);
        if keep {
            crd["metadata"]["annotations"] = json!({"helm.sh/resource-policy": "keep"});
        }
        crd
    })
    .collect()
}

fn render(r: &Render<'_>) -> Result<Vec<Value>, RenderError> {
    let fullname = r.fullname(CHART.name);
    let ns = r.namespace;
    let chart_label = format!("{}-{}", CHART.name, r.version);
    let mut objects = Vec::new();
    if r.truthy("crds.enabled") || r.truthy("installCRDs") {
        objects.extend(crds(r.truthy("crds.keep")));
    }
    let parts = [
        (
            "controller",
            fullname.clone(),
            "cert-manager",
            "replicaCount",
            "",
            9402,
            "cert-manager-controller",
        ),
        (
            "cainjector",
            format!("{fullname}-cainjector"),
            "cainjector",
            "cainjector.replicaCount",
            "cainjector.",
            0,
            "cert-manager-cainjector",
        ),
        (
            "webhook",
            format!("{fullname}-webhook"),
            "webhook",
            "webhook.replicaCount",
            "webhook.",
            443,
            "cert-manager-webhook",
        ),
    ];
    for (component, name, app, replicas, prefix, port, image) in parts {
        if component == "cainjector" && !r.truthy("cainjector.enabled") {
            continue;
        }
        let selector = labels(&[
            ("app.kubernetes.io/name", app),
            ("app.kubernetes.io/instance", r.release),
            ("app.kubernetes.io/component", component),
        ]);
        let object_labels = super::with(
            &selector,
            &labels(&[
                ("app", app),
                ("app.kubernetes.io/version", r.version),
                ("app.kubernetes.io/managed-by", "Helm"),
                ("helm.sh/chart", &chart_label),
            ]),
        );
        let mut spec = json!({"serviceAccountName": name, "enableServiceLinks": false,
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": format!("cert-manager-{component}"),
                            "image": format!("quay.io/jetstack/{image}:{}", r.version)}]});
        super::set_if(
            &mut spec,
            "nodeSelector",
            r.get(&format!("{prefix}nodeSelector")),
        );
        super::set_if(
            &mut spec,
            "tolerations",
            r.get(&format!("{prefix}tolerations")),
        );
        super::set_if(
            &mut spec,
            "priorityClassName",
            r.get("global.priorityClassName"),
        );
        objects.push(super::service_account(&name, ns, &object_labels));
        if port != 0 {
            objects.push(super::service(&name, ns, &object_labels, &selector, "ClusterIP",
                json!([{"name": if port == 443 { "https" } else { "tcp-prometheus-servicemonitor" }, "port": port, "protocol": "TCP"}])));
        }
        let pod_labels = super::with(&object_labels, r.get("podLabels"));
        objects.push(super::deployment(
            &name,
            ns,
            &object_labels,
            r.get(replicas),
            &selector,
            &pod_labels,
            spec,
        ));
    }
    Ok(objects)
}
