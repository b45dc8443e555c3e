//! `longhorn` (`https://charts.longhorn.io`): the DaemonSet `longhorn-manager` (privileged, host
//! paths: its namespace must allow privileged pods, e.g. the label
//! `pod-security.kubernetes.io/enforce: privileged`, or Pod Security admission refuses its pods),
//! the Deployments `longhorn-driver-deployer` and `longhorn-ui`, Services, RBAC and the
//! `longhorn.io` CRDs (templates of the release). Its pre-delete hook is not modelled.

use serde_json::{Value, json};

use super::{Chart, Render, RenderError, labels, yaml};

/// The chart.
pub static CHART: Chart = Chart {
    name: "longhorn",
    versions: &[
        ("1.9.1", "v1.9.1"),
        ("1.10.0", "v1.10.0"),
        ("1.10.1", "v1.10.1"),
    ],
    defaults: || yaml(DEFAULTS),
    validate: super::no_schema,
    render,
    crds: super::no_crds,
};

const DEFAULTS: &str = r#"
namespaceOverride: ""
longhornManager:
  priorityClass: ~
  tolerations: []
  nodeSelector: {}
longhornDriver:
  tolerations: []
  nodeSelector: {}
longhornUI:
  replicas: 2
  tolerations: []
  nodeSelector: {}
persistence:
  defaultClass: true
  defaultClassReplicaCount: 3
  reclaimPolicy: Delete
"#;

fn render(r: &Render<'_>) -> Result<Vec<Value>, RenderError> {
    let ns = match r.str("namespaceOverride") {
        "" => r.namespace,
        n => n,
    };
    let base = labels(&[
        ("app.kubernetes.io/name", "longhorn"),
        ("app.kubernetes.io/instance", r.release),
        ("app.kubernetes.io/version", r.app_version),
    ]);
    let app = |name: &str| super::with(&base, &labels(&[("app", name)]));
    let image = |name: &str| format!("longhornio/{name}:{}", r.app_version);
    let mut objects: Vec<Value> = [
        ("Volume", "volumes"),
        ("Engine", "engines"),
        ("Replica", "replicas"),
        ("Setting", "settings"),
        ("Node", "nodes"),
        ("EngineImage", "engineimages"),
        ("InstanceManager", "instancemanagers"),
    ]
    .iter()
    .map(|(kind, plural)| {
        let mut crd = super::crd("longhorn.io", kind, plural, "v1beta2", true);
        crd["metadata"]["labels"] = base.clone();
        crd
    })
    .collect();
    objects.push(super::service_account(
        "longhorn-service-account",
        ns,
        &base,
    ));
    objects.push(super::cluster_role(
        "longhorn-role",
        &base,
        json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]),
    ));
    objects.push(super::cluster_role_binding(
        "longhorn-bind",
        "longhorn-role",
        "longhorn-service-account",
        ns,
        &base,
    ));
    let mut manager = json!({"serviceAccountName": "longhorn-service-account",
        "containers": [{"name": "longhorn-manager", "image": image("longhorn-manager"),
                        "securityContext": {"privileged": true},
                        "ports": [{"containerPort": 9500, "name": "manager"}]}],
        "volumes": [{"name": "boot", "hostPath": {"path": "/boot/"}},
                    {"name": "dev", "hostPath": {"path": "/dev/"}},
                    {"name": "proc", "hostPath": {"path": "/proc/"}},
                    {"name": "longhorn", "hostPath": {"path": "/var/lib/longhorn/"}}]});
    super::set_if(
        &mut manager,
        "tolerations",
        r.get("longhornManager.tolerations"),
    );
    super::set_if(
        &mut manager,
        "nodeSelector",
        r.get("longhornManager.nodeSelector"),
    );
    let manager_selector = labels(&[("app", "longhorn-manager")]);
    objects.push(super::daemon_set(
        "longhorn-manager",
        ns,
        &app("longhorn-manager"),
        &manager_selector,
        &app("longhorn-manager"),
        manager,
    ));
    let mut driver = json!({"serviceAccountName": "longhorn-service-account",
        "containers": [{"name": "longhorn-driver-deployer", "image": image("longhorn-manager")}]});
    super::set_if(
        &mut driver,
        "tolerations",
        r.get("longhornDriver.tolerations"),
    );
    super::set_if(
        &mut driver,
        "nodeSelector",
        r.get("longhornDriver.nodeSelector"),
    );
    objects.push(super::deployment(
        "longhorn-driver-deployer",
        ns,
        &base,
        &json!(1),
        &labels(&[("app", "longhorn-driver-deployer")]),
        &app("longhorn-driver-deployer"),
        driver,
    ));
    let mut ui = json!({"containers": [{"name": "longhorn-ui", "image": image("longhorn-ui"),
        "ports": [{"containerPort": 8000, "name": "http"}]}]});
    super::set_if(&mut ui, "tolerations", r.get("longhornUI.tolerations"));
    super::set_if(&mut ui, "nodeSelector", r.get("longhornUI.nodeSelector"));
    objects.push(super::deployment(
        "longhorn-ui",
        ns,
        &app("longhorn-ui"),
        r.get("longhornUI.replicas"),
        &labels(&[("app", "longhorn-ui")]),
        &app("longhorn-ui"),
        ui,
    ));
    objects.push(super::service(
        "longhorn-backend",
        ns,
        &app("longhorn-manager"),
        &manager_selector,
        "ClusterIP",
        json!([{"name": "manager", "port": 9500, "targetPort": "manager"}]),
    ));
    objects.push(super::service(
        "longhorn-frontend",
        ns,
        &app("longhorn-ui"),
        &labels(&[("app", "longhorn-ui")]),
        "ClusterIP",
        json!([{"name": "http", "port": 80, "targetPort": "http"}]),
    ));
    objects.push(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "longhorn-storageclass", "namespace": ns, "labels": base},
        "data": {"storageclass.yaml": format!(
            "kind: StorageClass\napiVersion: storage.k8s.io/v1\nmetadata:\n  name: longhorn\n  annotations:\n    storageclass.kubernetes.io/is-default-class: \"{}\"\nprovisioner: driver.longhorn.io\nallowVolumeExpansion: true\nreclaimPolicy: \"{}\"\nvolumeBindingMode: Immediate\nparameters:\n  numberOfReplicas: \"{}\"\n",
            r.get("persistence.defaultClass"), r.str("persistence.reclaimPolicy"), r.get("persistence.defaultClassReplicaCount"))}}));
    Ok(objects)
}
