//! The real `kubectl` (and the official Python client) against the sim's OpenAPI documents,
//! discovery, server-side tables and patches: `kubectl explain`, `kubectl api-resources` short
//! names, `kubectl get` columns, `kubectl apply` keeping what another manager added (strategic
//! merge patch by merge key), `kubectl set image`, `kubectl patch --type=json`, strict field
//! validation. Skipped loudly when `kubectl` is not installed (an error with
//! `HK8S_REQUIRE_TOOLS=1`).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

use super::support::{Cluster, Shape};

/// `kubectl`: `$HK8S_KUBECTL`, else `kubectl` on the PATH; `None` (skip) when absent.
fn kubectl_binary() -> Option<PathBuf> {
    let candidate = std::env::var_os("HK8S_KUBECTL")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|p| p.join("kubectl"))
                    .find(|p| p.is_file())
            })
        });
    if candidate.is_none() {
        assert!(
            std::env::var("HK8S_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "HK8S_REQUIRE_TOOLS=1 but kubectl is not installed"
        );
        eprintln!("\n!!! SKIPPED the kubectl checks: kubectl is not installed !!!\n");
    }
    candidate
}

/// kubectl with a kubeconfig and a discovery cache of its own.
struct Kubectl {
    binary: PathBuf,
    dir: tempfile::TempDir,
}

impl Kubectl {
    fn new(binary: PathBuf, kubeconfig: &str) -> Kubectl {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeconfig"), kubeconfig).unwrap();
        Kubectl { binary, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs kubectl off the async runtime (the sim keeps serving meanwhile).
    async fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new(&self.binary);
        command
            .arg("--kubeconfig")
            .arg(self.path("kubeconfig"))
            .arg("--cache-dir")
            .arg(self.path("cache"))
            .args(args)
            .env("HOME", self.dir.path());
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }

    /// Runs kubectl, which must succeed; its standard output.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "kubectl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs kubectl, which must fail; its standard error.
    async fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            !out.status.success(),
            "kubectl {args:?} succeeded: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    fn write(&self, name: &str, text: &str) -> String {
        let path = self.path(name);
        std::fs::write(&path, text).unwrap();
        path.to_string_lossy().into_owned()
    }
}

/// The header and rows of `kubectl get` output, split into columns.
fn columns(output: &str) -> Vec<Vec<String>> {
    output
        .lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: IMAGE
        env:
        - {name: A, value: \"1\"}
        ports:
        - {containerPort: 80}
";

#[tokio::test]
async fn kubectl_explains_lists_short_names_and_prints_server_side_tables() {
    let c = Cluster::start(
        Ipv4Addr::new(127, 94, 0, 1),
        Shape {
            workers: 1,
            flannel: true,
        },
    )
    .await;
    let Some(binary) = kubectl_binary() else {
        c.stop().await;
        return;
    };
    let k = Kubectl::new(binary, &c.kubeconfig());

    let explained = k.ok(&["explain", "deployment.spec.strategy"]).await;
    assert!(
        explained.contains("KIND:       Deployment") || explained.contains("KIND: Deployment"),
        "{explained}"
    );
    assert!(
        explained.contains("FIELD: strategy <DeploymentStrategy>"),
        "{explained}"
    );
    assert!(explained.contains("rollingUpdate"), "{explained}");
    let recursive = k
        .ok(&["explain", "pods.spec.containers.env", "--recursive"])
        .await;
    assert!(recursive.contains("valueFrom"), "{recursive}");

    let resources = columns(&k.ok(&["api-resources"]).await);
    let row = |name: &str| {
        resources
            .iter()
            .find(|r| r.first().map(String::as_str) == Some(name))
            .unwrap_or_else(|| panic!("no {name} in api-resources: {resources:?}"))
            .clone()
    };
    for (name, short) in [
        ("deployments", "deploy"),
        ("pods", "po"),
        ("services", "svc"),
        ("configmaps", "cm"),
        ("namespaces", "ns"),
        ("nodes", "no"),
        ("daemonsets", "ds"),
        ("statefulsets", "sts"),
    ] {
        assert_eq!(row(name)[1], short, "{name}");
    }
    // Short names and the `all` category resolve.
    k.ok(&["get", "no"]).await;
    k.ok(&["get", "all", "-A"]).await;

    let nodes = columns(&k.ok(&["get", "nodes"]).await);
    assert_eq!(nodes[0], ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
    assert_eq!(nodes.len(), 3, "{nodes:?}");
    let control_plane = nodes
        .iter()
        .find(|r| r[2] == "control-plane")
        .unwrap_or_else(|| panic!("no control-plane role: {nodes:?}"));
    assert_eq!(control_plane[1], "Ready");
    assert!(control_plane[4].starts_with("v1."), "{control_plane:?}");
    let wide = columns(&k.ok(&["get", "nodes", "-o", "wide"]).await);
    assert_eq!(wide[0][5..7], ["INTERNAL-IP", "EXTERNAL-IP"]);

    let namespaces = columns(&k.ok(&["get", "ns"]).await);
    assert_eq!(namespaces[0], ["NAME", "STATUS", "AGE"]);
    assert!(
        namespaces
            .iter()
            .any(|r| r[0] == "kube-system" && r[1] == "Active"),
        "{namespaces:?}"
    );

    // What the sim does not model says so.
    let unknown = k.fails(&["get", "widgets.example.com"]).await;
    assert!(
        unknown.contains("the server doesn't have a resource type"),
        "{unknown}"
    );
    let scale = k
        .fails(&["scale", "deployment/nothing", "--replicas=2"])
        .await;
    assert!(
        scale.contains("not found") || scale.contains("not modelled by hk8s-sim"),
        "{scale}"
    );
    c.stop().await;
}

#[tokio::test]
async fn kubectl_apply_set_image_and_json_patch_keep_what_others_added() {
    let c = Cluster::start(
        Ipv4Addr::new(127, 95, 0, 1),
        Shape {
            workers: 1,
            flannel: true,
        },
    )
    .await;
    let Some(binary) = kubectl_binary() else {
        c.stop().await;
        return;
    };
    let k = Kubectl::new(binary, &c.kubeconfig());
    let path = "/apis/apps/v1/namespaces/default/deployments/web";
    let manifest = k.write("web.yaml", &DEPLOYMENT.replace("IMAGE", "nginx:1.27"));
    k.ok(&["apply", "-f", &manifest]).await;

    // Another manager adds a sidecar and an env var to the live object.
    let added = c
        .kube_raw(
            "PATCH",
            path,
            "application/strategic-merge-patch+json",
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "app", "env": [{"name": "B", "value": "2"}]},
                {"name": "sidecar", "image": "envoy:1.30"}]}}}})
            .to_string()
            .into_bytes(),
        )
        .await;
    assert_eq!(added.status, 200, "{:?}", added.body);

    // The edited manifest is applied: the image changes, the others' additions stay.
    let edited = k.write("web2.yaml", &DEPLOYMENT.replace("IMAGE", "nginx:1.28"));
    k.ok(&["apply", "-f", &edited]).await;
    let live = c.get(path).await;
    let containers = &live["spec"]["template"]["spec"]["containers"];
    assert_eq!(containers[0]["name"], "app");
    assert_eq!(containers[0]["image"], "nginx:1.28");
    assert_eq!(
        containers[0]["env"],
        json!([{"name": "A", "value": "1"}, {"name": "B", "value": "2"}])
    );
    assert_eq!(containers[0]["ports"][0]["containerPort"], 80);
    assert_eq!(
        (&containers[1]["name"], &containers[1]["image"]),
        (&json!("sidecar"), &json!("envoy:1.30"))
    );

    k.ok(&["set", "image", "deployment/web", "sidecar=envoy:1.31"])
        .await;
    let live = c.get(path).await;
    let images: Vec<&str> = live["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["image"].as_str().unwrap())
        .collect();
    assert_eq!(images, ["nginx:1.28", "envoy:1.31"]);

    k.ok(&["patch", "deployment", "web", "--type=json", "-p", r#"[{"op":"test","path":"/spec/replicas","value":1},{"op":"replace","path":"/spec/replicas","value":3}]"#]).await;
    assert_eq!(c.get(path).await["spec"]["replicas"], 3);
    let failed = k
        .fails(&[
            "patch",
            "deployment",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"test","path":"/spec/replicas","value":1}]"#,
        ])
        .await;
    assert!(
        failed.contains("the server rejected our request due to an error in our request"),
        "{failed}"
    );

    // `--validate=strict` (kubectl's default) is checked by the server against the schema.
    let typo = k.write(
        "typo.yaml",
        &DEPLOYMENT
            .replace("IMAGE", "nginx:1.28")
            .replace("name: web\n", "name: typo\n")
            .replace(
                "        ports:",
                "        imagePullPolice: Always\n        ports:",
            ),
    );
    let refused = k.fails(&["apply", "--validate=strict", "-f", &typo]).await;
    assert!(
        refused.contains(r#"strict decoding error: unknown field "spec.template.spec.containers[0].imagePullPolice""#),
        "{refused}"
    );
    assert_eq!(
        c.kube(
            "GET",
            "/apis/apps/v1/namespaces/default/deployments/typo",
            None
        )
        .await
        .status,
        404
    );

    let deployments = columns(&k.ok(&["get", "deploy"]).await);
    assert_eq!(
        deployments[0],
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(deployments[1][0], "web");

    // Custom resources cannot be strategic-merge-patched, as on a real API server.
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}});
    let created = c
        .kube(
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            Some(crd),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let widget = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {"size": 1}});
    let created = c
        .kube(
            "POST",
            "/apis/example.com/v1/namespaces/default/widgets",
            Some(widget),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let smp = c
        .kube_raw(
            "PATCH",
            "/apis/example.com/v1/namespaces/default/widgets/w",
            "application/strategic-merge-patch+json",
            b"{\"spec\":{\"size\":2}}".to_vec(),
        )
        .await;
    assert_eq!(smp.status, 415, "{:?}", smp.body);
    assert_eq!(smp.body["reason"], "UnsupportedMediaType");
    let merged = k
        .ok(&[
            "patch",
            "widget",
            "w",
            "--type=merge",
            "-p",
            r#"{"spec":{"size":2}}"#,
        ])
        .await;
    assert!(merged.contains("patched"), "{merged}");

    python_patches(&c, &k).await;
    c.stop().await;
}

/// The Python client's `patch_namespaced_deployment` with a dict (strategic merge patch) and a
/// list (JSON patch), when `HK8S_VENV` is set.
async fn python_patches(c: &Cluster, k: &Kubectl) {
    let Some(venv) = std::env::var_os("HK8S_VENV") else {
        assert!(
            std::env::var("HK8S_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "HK8S_REQUIRE_TOOLS=1 but HK8S_VENV is not set"
        );
        eprintln!("\n!!! SKIPPED the Python patch check: HK8S_VENV is not set !!!\n");
        return;
    };
    let python = Path::new(&venv).join("bin/python");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/kube_patch.py");
    let kubeconfig = k.path("kubeconfig");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(kubeconfig)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        parsed["containers"],
        json!([["app", "nginx:1.29"], ["sidecar", "envoy:1.31"]])
    );
    assert_eq!(parsed["replicas"], 2);
    let live = c
        .get("/apis/apps/v1/namespaces/default/deployments/web")
        .await;
    assert_eq!(live["spec"]["replicas"], 2);
}
