//! The real kubectl driven against a simulated cluster as a user would, with the cluster's
//! kubeconfig: the imperative `kubectl create` commands of the common kinds (which kubectl 1.32
//! sends as protobuf, and Debian's 1.20 as JSON), read back with `kubectl get -o json`, then
//! label, annotate, get nodes and pods, and delete. Skipped loudly without kubectl (an error
//! under `HK8S_REQUIRE_TOOLS=1` or `CI`; `tools/bootstrap.sh` installs it).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;

use base64::Engine as _;
use serde_json::Value;

use super::support::{Cluster, Shape};

fn tools_required() -> bool {
    std::env::var("HK8S_REQUIRE_TOOLS").is_ok_and(|v| v == "1") || std::env::var("CI").is_ok()
}

/// Whether kubectl is installed; panics under `make test`/CI when it is not.
fn have_kubectl() -> bool {
    let found = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let msg = "kubectl not found: run the tests through `make test` \
                   (tools/bootstrap.sh installs kubernetes-client)";
        assert!(!tools_required(), "{msg}");
        eprintln!("\n!!! SKIPPED: {msg} !!!\n");
    }
    found
}

/// What one kubectl run printed.
#[derive(Debug)]
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// kubectl with its own kubeconfig and an empty home (no discovery cache from other runs).
struct Kubectl {
    home: tempfile::TempDir,
    kubeconfig: PathBuf,
}

impl Kubectl {
    fn new(cluster: &Cluster) -> Kubectl {
        let home = tempfile::tempdir().unwrap();
        let kubeconfig = home.path().join("kubeconfig");
        std::fs::write(&kubeconfig, cluster.kubeconfig()).unwrap();
        Kubectl { home, kubeconfig }
    }

    /// Runs `kubectl args…` off the runtime (the sim keeps serving meanwhile).
    async fn run(&self, args: &[&str]) -> Run {
        let mut command = Command::new("kubectl");
        command
            // Global flags first: whatever follows a `--` belongs to the container.
            .arg("--request-timeout=60s")
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.home.path())
            .env_remove("KUBECTL_KUBERC");
        let line = args.join(" ");
        tokio::task::spawn_blocking(move || {
            let out = command.output().expect("kubectl runs");
            let run = Run {
                ok: out.status.success(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            };
            eprintln!("$ kubectl {line}\n{}{}", run.stdout, run.stderr);
            run
        })
        .await
        .expect("kubectl thread")
    }

    /// Runs a command that must succeed.
    async fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert!(run.ok, "kubectl {} failed: {}", args.join(" "), run.stderr);
        run.stdout
    }

    /// `kubectl get … -o json`, parsed.
    async fn json(&self, args: &[&str]) -> Value {
        let mut args = args.to_vec();
        args.extend(["-o", "json"]);
        let out = self.ok(&args).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }
}

/// `args` in the test's namespace (`-n` first, so that it stays a flag after a `--`).
fn in_team<'a>(args: &[&'a str]) -> Vec<&'a str> {
    [&["-n", "team-a"][..], args].concat()
}

#[tokio::test]
async fn kubectl_creates_the_common_kinds_and_reads_them_back() {
    if !have_kubectl() {
        return;
    }
    let c = Cluster::start(
        Ipv4Addr::new(127, 90, 0, 1),
        Shape {
            workers: 1,
            flannel: true,
        },
    )
    .await;
    // The configs use an external cloud provider: nodes are tainted until the CCM runs.
    c.install_ccm().await;
    let k = Kubectl::new(&c);
    eprintln!("{}", k.ok(&["version", "--client"]).await);

    assert_eq!(
        k.ok(&["create", "namespace", "team-a"]).await.trim(),
        "namespace/team-a created"
    );
    let namespace = k.json(&["get", "namespace", "team-a"]).await;
    assert_eq!(namespace["metadata"]["name"], "team-a");
    assert!(
        namespace["metadata"]["uid"]
            .as_str()
            .is_some_and(|u| !u.is_empty())
    );
    assert!(
        namespace["metadata"]["creationTimestamp"].is_string(),
        "{namespace}"
    );

    k.ok(&in_team(&[
        "create",
        "configmap",
        "settings",
        "--from-literal=mode=fast",
        "--from-literal=level=3",
    ]))
    .await;
    let cm = k.json(&in_team(&["get", "configmap", "settings"])).await;
    assert_eq!(
        cm["data"],
        serde_json::json!({"mode": "fast", "level": "3"})
    );
    assert_eq!(cm["metadata"]["namespace"], "team-a");

    k.ok(&in_team(&[
        "create",
        "secret",
        "generic",
        "db",
        "--from-literal=password=s3cr3t!",
    ]))
    .await;
    let secret = k.json(&in_team(&["get", "secret", "db"])).await;
    let password = secret["data"]["password"].as_str().expect("data.password");
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(password)
            .unwrap(),
        b"s3cr3t!"
    );

    k.ok(&in_team(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.27",
        "--replicas=2",
        "--port=8080",
    ]))
    .await;
    let deploy = k.json(&in_team(&["get", "deployment", "web"])).await;
    assert_eq!(deploy["spec"]["replicas"], 2);
    assert_eq!(deploy["spec"]["selector"]["matchLabels"]["app"], "web");
    assert_eq!(
        deploy["spec"]["template"]["metadata"]["labels"]["app"],
        "web"
    );
    let container = &deploy["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx:1.27");
    assert_eq!(container["ports"][0]["containerPort"], 8080);

    k.ok(&in_team(&[
        "create",
        "service",
        "clusterip",
        "web",
        "--tcp=80:8080",
    ]))
    .await;
    let service = k.json(&in_team(&["get", "service", "web"])).await;
    assert_eq!(service["spec"]["type"], "ClusterIP");
    assert_eq!(service["spec"]["selector"]["app"], "web");
    let port = &service["spec"]["ports"][0];
    assert_eq!(
        (&port["port"], &port["targetPort"]),
        (&Value::from(80), &Value::from(8080))
    );
    assert_eq!(port["name"], "80-8080");

    k.ok(&in_team(&[
        "create",
        "job",
        "once",
        "--image=busybox:1.37",
        "--",
        "sh",
        "-c",
        "echo hi",
    ]))
    .await;
    let job = k.json(&in_team(&["get", "job", "once"])).await;
    let pod_spec = &job["spec"]["template"]["spec"];
    assert_eq!(pod_spec["restartPolicy"], "Never");
    assert_eq!(
        pod_spec["containers"][0]["command"],
        serde_json::json!(["sh", "-c", "echo hi"])
    );

    k.ok(&in_team(&["create", "serviceaccount", "builder"]))
        .await;
    let sa = k
        .json(&in_team(&["get", "serviceaccount", "builder"]))
        .await;
    assert_eq!(sa["metadata"]["name"], "builder");

    k.ok(&in_team(&[
        "create",
        "role",
        "reader",
        "--verb=get,list",
        "--resource=pods,configmaps",
    ]))
    .await;
    let role = k.json(&in_team(&["get", "role", "reader"])).await;
    assert_eq!(
        role["rules"][0]["verbs"],
        serde_json::json!(["get", "list"])
    );
    assert_eq!(
        role["rules"][0]["resources"],
        serde_json::json!(["pods", "configmaps"])
    );
    k.ok(&in_team(&[
        "create",
        "rolebinding",
        "reader",
        "--role=reader",
        "--serviceaccount=team-a:builder",
    ]))
    .await;
    let binding = k.json(&in_team(&["get", "rolebinding", "reader"])).await;
    assert_eq!(binding["roleRef"]["kind"], "Role");
    assert_eq!(binding["roleRef"]["name"], "reader");
    assert_eq!(
        binding["subjects"],
        serde_json::json!([{"kind": "ServiceAccount", "name": "builder", "namespace": "team-a"}])
    );

    // Creating what exists is refused as the API server refuses it.
    let again = k.run(&["create", "namespace", "team-a"]).await;
    assert!(!again.ok);
    assert!(
        again
            .stderr
            .contains("Error from server (AlreadyExists): namespaces \"team-a\" already exists"),
        "{}",
        again.stderr
    );

    k.ok(&in_team(&[
        "label",
        "configmap",
        "settings",
        "tier=backend",
    ]))
    .await;
    k.ok(&in_team(&[
        "annotate",
        "configmap",
        "settings",
        "owner=team-a",
    ]))
    .await;
    let cm = k.json(&in_team(&["get", "configmap", "settings"])).await;
    assert_eq!(cm["metadata"]["labels"]["tier"], "backend");
    assert_eq!(cm["metadata"]["annotations"]["owner"], "team-a");
    assert_eq!(cm["data"]["mode"], "fast");

    let nodes = k.json(&["get", "nodes"]).await;
    let mut names: Vec<&str> = nodes["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["metadata"]["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["prod-cp-1", "prod-general-1"]);
    // The scheduler and the kubelet act as the (manual) clock moves.
    c.advance(60).await;
    let pods = k.json(&["get", "pods", "-A"]).await;
    let on_worker = |pods: &Value| -> Vec<String> {
        pods["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["metadata"]["namespace"] == "team-a")
            .filter(|p| p["spec"]["nodeName"] == "prod-general-1")
            .filter_map(|p| p["metadata"]["name"].as_str().map(str::to_string))
            .collect()
    };
    let web_pods = on_worker(&pods);
    assert!(
        !web_pods.is_empty(),
        "the deployment's pods run on the worker: {pods}"
    );

    // A drain evicts through `pods/{name}/eviction` (an Eviction body, protobuf from kubectl 1.32).
    let drained = k
        .ok(&[
            "drain",
            "prod-general-1",
            "--ignore-daemonsets",
            "--delete-emptydir-data",
            "--timeout=60s",
        ])
        .await;
    // The last line says "drained" (kubectl 1.32) or "evicted" (1.20).
    let last = drained.lines().last().unwrap_or_default();
    assert!(
        ["node/prod-general-1 drained", "node/prod-general-1 evicted"].contains(&last),
        "{drained}"
    );
    for pod in &web_pods {
        assert!(drained.contains(&format!("pod/{pod} evicted")), "{drained}");
    }
    let node = k.json(&["get", "node", "prod-general-1"]).await;
    assert_eq!(node["spec"]["unschedulable"], true);
    let pods = k.json(&["get", "pods", "-A"]).await;
    for pod in &web_pods {
        assert!(!on_worker(&pods).contains(pod), "{pod} outlived the drain");
    }

    assert_eq!(
        k.ok(&in_team(&["delete", "configmap", "settings"]))
            .await
            .trim(),
        "configmap \"settings\" deleted"
    );
    let gone = k.run(&in_team(&["get", "configmap", "settings"])).await;
    assert!(
        gone.stderr
            .contains("Error from server (NotFound): configmaps \"settings\" not found"),
        "{}",
        gone.stderr
    );
    k.ok(&["delete", "namespace", "team-a"]).await;
    let gone = k.run(&in_team(&["get", "secret", "db"])).await;
    assert!(!gone.ok, "the namespace's secret outlived it");
    c.stop().await;
}
