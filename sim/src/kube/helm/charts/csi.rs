//! `hcloud-csi` (`https://charts.hetzner.cloud`), as its chart renders it: the controller
//! Deployment `<fullname>-controller` (no tolerations unless `controller.tolerations`, the token
//! from `controller.hcloudToken`: a value (in a Secret the chart makes), a file, or the existing
//! Secret `hcloud`), its PodDisruptionBudget (`minAvailable: 1`, only with more than one replica:
//! a budget over a single replica would block every drain), the node DaemonSet
//! `<fullname>-node` (tolerating NoExecute/NoSchedule taints and `CriticalAddonsOnly` unless
//! `node.tolerations`, privileged), the `csi.hetzner.cloud` CSIDriver and one StorageClass per
//! `storageClasses` entry (provisioner `csi.hetzner.cloud`, `WaitForFirstConsumer`, expansion
//! allowed, the default-class annotation, `extraParameters` as parameters).

use serde_json::{Value, json};

use super::{Chart, Render, RenderError, labels, yaml};

/// The chart.
pub static CHART: Chart = Chart {
    name: "hcloud-csi",
    versions: &[
        ("2.18.0", "2.18.0"),
        ("2.18.1", "2.18.1"),
        ("2.18.2", "2.18.2"),
        ("2.18.3", "2.18.3"),
        ("2.19.0", "2.19.0"),
        ("2.19.1", "2.19.1"),
        ("2.20.0", "2.20.0"),
        ("2.20.1", "2.20.1"),
        ("2.20.2", "2.20.2"),
        ("2.21.0", "2.21.0"),
        ("2.21.1", "2.21.1"),
        ("2.21.2", "2.21.2"),
        ("2.22.0", "2.22.0"),
        ("2.22.1", "2.22.1"),
    ],
    defaults: || yaml(DEFAULTS),
    validate: super::no_schema,
    render,
    crds: super::no_crds,
};

const DEFAULTS: &str = r#"
global:
  imagePullSecrets: []
  enableProvidedByTopology: false
nameOverride: ""
fullnameOverride: ""
namespaceOverride: ""
commonLabels: {}
controller:
  image:
    hcloudCSIDriver:
      name: docker.io/hetznercloud/hcloud-csi-driver
      tag: v{{ .Chart.Version }}
  replicaCount: 1
  hcloudToken:
    value: ""
    file: ""
    existingSecret:
      name: hcloud
      key: token
  hcloudVolumeDefaultLocation: ""
  volumeExtraLabels: {}
  podDisruptionBudget:
    create: true
    minAvailable: 1
    maxUnavailable: ""
  affinity:
    nodeAffinity:
      preferredDuringSchedulingIgnoredDuringExecution:
        - weight: 1
          preference:
            matchExpressions:
              - key: "instance.hetzner.cloud/provided-by"
                operator: In
                values:
                  - "cloud"
  nodeSelector: {}
  tolerations: []
  priorityClassName: ""
  podLabels: {}
  extraEnvVars: []
node:
  image:
    hcloudCSIDriver:
      name: docker.io/hetznercloud/hcloud-csi-driver
      tag: v{{ .Chart.Version }}
  hostNetwork: false
  affinity:
    nodeAffinity:
      requiredDuringSchedulingIgnoredDuringExecution:
        nodeSelectorTerms:
          - matchExpressions:
              - key: "instance.hetzner.cloud/is-root-server"
                operator: NotIn
                values:
                  - "true"
              - key: "instance.hetzner.cloud/provided-by"
                operator: NotIn
                values:
                  - "robot"
  nodeSelector: {}
  tolerations: []
  priorityClassName: ""
  podLabels: {}
  kubeletDir: /var/lib/kubelet
serviceAccount:
  create: true
  name: ""
metrics:
  enabled: false
storageClasses:
  - name: hcloud-volumes
    defaultStorageClass: true
    reclaimPolicy: Delete
    annotations: {}
    extraParameters: {}
"#;

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn storage_classes(r: &Render<'_>) -> Vec<Value> {
    super::list(r.get("storageClasses"))
        .iter()
        .map(|class| {
            let default = if super::truthy(&class["defaultStorageClass"]) {
                text(&class["defaultStorageClass"])
            } else {
                "false".to_string()
            };
            let annotations = super::with(
                &json!({"storageclass.kubernetes.io/is-default-class": default}),
                &class["annotations"],
            );
            let mut sc = json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {"name": class["name"], "annotations": annotations},
                "provisioner": "csi.hetzner.cloud", "volumeBindingMode": "WaitForFirstConsumer",
                "allowVolumeExpansion": true, "reclaimPolicy": text(&class["reclaimPolicy"])});
            if r.truthy("global.enableProvidedByTopology") {
                sc["allowedTopologies"] = json!([{"matchLabelExpressions": [
                    {"key": "instance.hetzner.cloud/provided-by", "values": ["cloud"]}]}]);
            }
            if super::truthy(&class["extraParameters"]) {
                let parameters: serde_json::Map<String, Value> = class["extraParameters"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), json!(text(v))))
                    .collect();
                sc["parameters"] = Value::Object(parameters);
            }
            sc
        })
        .collect()
}

fn token_env(r: &Render<'_>, fullname: &str) -> Value {
    if r.truthy("controller.hcloudToken.value") {
        json!({"name": "HCLOUD_TOKEN", "valueFrom": {"secretKeyRef": {"name": fullname, "key": "token"}}})
    } else if r.truthy("controller.hcloudToken.file") {
        json!({"name": "HCLOUD_TOKEN_FILE", "value": r.str("controller.hcloudToken.file")})
    } else {
        json!({"name": "HCLOUD_TOKEN", "valueFrom": {"secretKeyRef": {
            "name": r.str("controller.hcloudToken.existingSecret.name"),
            "key": r.str("controller.hcloudToken.existingSecret.key")}}})
    }
}

fn render(r: &Render<'_>) -> Result<Vec<Value>, RenderError> {
    let fullname = r.fullname(CHART.name);
    let name = r.name(CHART.name);
    let ns = match r.str("namespaceOverride") {
        "" => r.namespace,
        n => n,
    };
    let chart_label = format!("{}-{}", CHART.name, r.version);
    let standard = super::with(
        &labels(&[
            ("app.kubernetes.io/name", &name),
            ("helm.sh/chart", &chart_label),
            ("app.kubernetes.io/instance", r.release),
            ("app.kubernetes.io/managed-by", "Helm"),
        ]),
        r.get("commonLabels"),
    );
    let component =
        |c: &str| super::with(&standard, &labels(&[("app.kubernetes.io/component", c)]));
    let selector = |c: &str| {
        labels(&[
            ("app.kubernetes.io/name", &name),
            ("app.kubernetes.io/instance", r.release),
            ("app.kubernetes.io/component", c),
        ])
    };
    let image = |part: &str| {
        format!(
            "{}:{}",
            r.str(&format!("{part}.image.hcloudCSIDriver.name")),
            r.str(&format!("{part}.image.hcloudCSIDriver.tag"))
                .replace("{{ .Chart.Version }}", r.version)
        )
    };
    let controller_name = format!("{fullname}-controller");
    let account = match r.str("serviceAccount.name") {
        "" => controller_name.clone(),
        n => n.to_string(),
    };
    let mut objects = Vec::new();
    if r.truthy("serviceAccount.create") {
        objects.push(super::service_account(
            &account,
            ns,
            &component("controller"),
        ));
    }
    if r.truthy("controller.hcloudToken.value") {
        objects.push(json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": super::meta(&fullname, Some(ns), &standard),
            "data": {"token": crate::talos::pki::base64_of(r.str("controller.hcloudToken.value"))}}));
    }
    objects.extend(storage_classes(r));
    objects.push(super::cluster_role(&controller_name, &component("controller"), json!([
        {"apiGroups": [""], "resources": ["persistentvolumes"], "verbs": ["get", "list", "watch", "update", "patch", "create", "delete"]},
        {"apiGroups": [""], "resources": ["persistentvolumeclaims"], "verbs": ["get", "list", "watch", "update"]},
        {"apiGroups": ["storage.k8s.io"], "resources": ["volumeattachments", "storageclasses", "csinodes"], "verbs": ["get", "list", "watch", "update", "patch"]}])));
    objects.push(super::cluster_role_binding(
        &controller_name,
        &controller_name,
        &account,
        ns,
        &component("controller"),
    ));
    let mut env = vec![
        json!({"name": "CSI_ENDPOINT", "value": "unix:///run/csi/socket"}),
        json!({"name": "ENABLE_METRICS", "value": r.truthy("metrics.enabled").to_string()}),
        json!({"name": "KUBE_NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}}),
        token_env(r, &fullname),
    ];
    if r.truthy("controller.hcloudVolumeDefaultLocation") {
        env.push(json!({"name": "HCLOUD_VOLUME_DEFAULT_LOCATION", "value": r.str("controller.hcloudVolumeDefaultLocation")}));
    }
    if let Some(extra) = r
        .get("controller.volumeExtraLabels")
        .as_object()
        .filter(|m| !m.is_empty())
    {
        let joined: Vec<String> = extra
            .iter()
            .map(|(k, v)| format!("{k}={}", text(v)))
            .collect();
        env.push(json!({"name": "HCLOUD_VOLUME_EXTRA_LABELS", "value": joined.join(",")}));
    }
    env.extend(super::list(r.get("controller.extraEnvVars")));
    let mut controller = json!({"serviceAccountName": account, "securityContext": {"fsGroup": 1001},
        "containers": [
            {"name": "csi-attacher", "image": "registry.k8s.io/sig-storage/csi-attacher:v4.11.0"},
            {"name": "csi-resizer", "image": "registry.k8s.io/sig-storage/csi-resizer:v2.1.0"},
            {"name": "csi-provisioner", "image": "registry.k8s.io/sig-storage/csi-provisioner:v6.2.0"},
            {"name": "liveness-probe", "image": "registry.k8s.io/sig-storage/livenessprobe:v2.18.0"},
            {"name": "hcloud-csi-driver", "image": image("controller"), "args": ["-controller"], "env": env}],
        "volumes": [{"name": "socket-dir", "emptyDir": {}}]});
    super::set_if(&mut controller, "affinity", r.get("controller.affinity"));
    super::set_if(
        &mut controller,
        "nodeSelector",
        r.get("controller.nodeSelector"),
    );
    super::set_if(
        &mut controller,
        "tolerations",
        r.get("controller.tolerations"),
    );
    super::set_if(
        &mut controller,
        "priorityClassName",
        r.get("controller.priorityClassName"),
    );
    let mut deployment = super::deployment(
        &controller_name,
        ns,
        &super::with(
            &component("controller"),
            &labels(&[("app", "hcloud-csi-controller")]),
        ),
        r.get("controller.replicaCount"),
        &selector("controller"),
        &super::with(&component("controller"), r.get("controller.podLabels")),
        controller,
    );
    deployment["spec"]["strategy"] = json!({"type": "RollingUpdate"});
    objects.push(deployment);
    let replicas = r.get("controller.replicaCount");
    let replicas = replicas
        .as_i64()
        .or_else(|| replicas.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0);
    if r.truthy("controller.podDisruptionBudget.create") && replicas > 1 {
        let mut spec = json!({"selector": {"matchLabels": selector("controller")}});
        if r.truthy("controller.podDisruptionBudget.minAvailable") {
            spec["minAvailable"] = r.get("controller.podDisruptionBudget.minAvailable").clone();
        }
        if r.truthy("controller.podDisruptionBudget.maxUnavailable") {
            spec["maxUnavailable"] = r
                .get("controller.podDisruptionBudget.maxUnavailable")
                .clone();
        }
        objects.push(json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": super::meta(&controller_name, Some(ns), &component("controller")), "spec": spec}));
    }
    let tolerations = if r.truthy("node.tolerations") {
        r.get("node.tolerations").clone()
    } else {
        json!([{"effect": "NoExecute", "operator": "Exists"}, {"effect": "NoSchedule", "operator": "Exists"},
               {"key": "CriticalAddonsOnly", "operator": "Exists"}])
    };
    let kubelet = r.str("node.kubeletDir");
    let mut node = json!({"tolerations": tolerations, "securityContext": {"fsGroup": 1001},
        "containers": [
            {"name": "csi-node-driver-registrar", "image": "registry.k8s.io/sig-storage/csi-node-driver-registrar:v2.16.0"},
            {"name": "liveness-probe", "image": "registry.k8s.io/sig-storage/livenessprobe:v2.18.0"},
            {"name": "hcloud-csi-driver", "image": image("node"), "securityContext": {"privileged": true},
             "env": [{"name": "CSI_ENDPOINT", "value": "unix:///run/csi/socket"},
                     {"name": "ENABLE_METRICS", "value": r.truthy("metrics.enabled").to_string()}]}],
        "volumes": [{"name": "kubelet-dir", "hostPath": {"path": kubelet, "type": "Directory"}},
                    {"name": "plugin-dir", "hostPath": {"path": format!("{kubelet}/plugins/csi.hetzner.cloud/"), "type": "DirectoryOrCreate"}},
                    {"name": "registration-dir", "hostPath": {"path": format!("{kubelet}/plugins_registry/"), "type": "Directory"}},
                    {"name": "device-dir", "hostPath": {"path": "/dev", "type": "Directory"}}]});
    if r.truthy("node.hostNetwork") {
        node["hostNetwork"] = json!(true);
    }
    super::set_if(&mut node, "affinity", r.get("node.affinity"));
    super::set_if(&mut node, "nodeSelector", r.get("node.nodeSelector"));
    super::set_if(
        &mut node,
        "priorityClassName",
        r.get("node.priorityClassName"),
    );
    objects.push(super::daemon_set(
        &format!("{fullname}-node"),
        ns,
        &super::with(&component("node"), &labels(&[("app", "hcloud-csi")])),
        &selector("node"),
        &super::with(&component("node"), r.get("node.podLabels")),
        node,
    ));
    objects.push(
        json!({"apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver",
        "metadata": {"name": "csi.hetzner.cloud"},
        "spec": {"attachRequired": true, "fsGroupPolicy": "File", "podInfoOnMount": true,
                 "seLinuxMount": true, "volumeLifecycleModes": ["Persistent"]}}),
    );
    Ok(objects)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_classes_render_as_the_chart_does() {
        let mut values = (CHART.defaults)();
        values["storageClasses"] = json!([
            {"name": "hcloud-volumes", "defaultStorageClass": true, "reclaimPolicy": "Delete"},
            {"name": "hcloud-volumes-encrypted", "reclaimPolicy": "Retain",
             "extraParameters": {"csi.storage.k8s.io/node-publish-secret-name": "encryption-secret",
                                 "csi.storage.k8s.io/node-publish-secret-namespace": "kube-system"}}]);
        let objects = render(&Render {
            release: "hcloud-csi",
            namespace: "kube-system",
            version: "2.22.0",
            app_version: "2.22.0",
            values: &values,
        })
        .unwrap();
        let classes: Vec<&Value> = objects
            .iter()
            .filter(|o| o["kind"] == "StorageClass")
            .collect();
        assert_eq!(classes.len(), 2);
        assert_eq!(
            classes[0]["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"],
            "true"
        );
        assert_eq!(
            classes[1]["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"],
            "false"
        );
        assert_eq!(classes[1]["provisioner"], "csi.hetzner.cloud");
        assert_eq!(classes[1]["volumeBindingMode"], "WaitForFirstConsumer");
        assert_eq!(classes[1]["reclaimPolicy"], "Retain");
        assert_eq!(
            classes[1]["parameters"]["csi.storage.k8s.io/node-publish-secret-name"],
            "encryption-secret"
        );
        assert!(classes[0].get("parameters").is_none());
        let names: Vec<&str> = objects
            .iter()
            .filter(|o| o["kind"] == "Deployment" || o["kind"] == "DaemonSet")
            .filter_map(|o| o["metadata"]["name"].as_str())
            .collect();
        assert_eq!(names, ["hcloud-csi-controller", "hcloud-csi-node"]);
    }

    /// The chart makes the controller's budget only for more than one replica (a budget of
    /// `minAvailable: 1` over a single replica would refuse every eviction, so no drain of its
    /// node could finish).
    #[test]
    fn the_controller_budget_needs_more_than_one_replica() {
        let budgets = |replicas: Value| {
            let mut values = (CHART.defaults)();
            values["controller"]["replicaCount"] = replicas;
            render(&Render {
                release: "hcloud-csi",
                namespace: "kube-system",
                version: "2.22.0",
                app_version: "2.22.0",
                values: &values,
            })
            .unwrap()
            .into_iter()
            .filter(|o| o["kind"] == "PodDisruptionBudget")
            .map(|o| o["spec"]["minAvailable"].clone())
            .collect::<Vec<_>>()
        };
        assert!(budgets(json!(1)).is_empty(), "the default: one replica");
        assert_eq!(budgets(json!(2)), [json!(1)]);
        assert_eq!(budgets(json!("3")), [json!(1)]);
    }
}
