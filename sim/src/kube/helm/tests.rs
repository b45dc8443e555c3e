//! The helm-controller stand-in and the job runner together with the workload controllers,
//! scheduler and Job controller, on hand-made nodes (no Talos, no HTTP).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};

use crate::kube::store::Store;
use crate::kube::workloads::{self, Tick};

const OWN: &str = "127.0.0.1:8080";
const NETWORK_NOT_READY: &str = "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized";
const TOLERATIONS: &str = r#"[{"key":"node.kubernetes.io/not-ready","operator":"Exists"},{"key":"node.cloudprovider.kubernetes.io/uninitialized","operator":"Exists"},{"key":"node-role.kubernetes.io/control-plane","operator":"Exists"},{"key":"CriticalAddonsOnly","operator":"Exists"}]"#;

/// A node: a control plane (`cp`) or worker, with a CNI or not, CCM-initialised or not.
fn node(name: &str, control_plane: bool, cni: bool, initialized: bool) -> Value {
    let mut labels = json!({"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"});
    let mut taints = Vec::new();
    if control_plane {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
        taints
            .push(json!({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}));
    }
    if !initialized {
        taints.push(json!({"key": "node.cloudprovider.kubernetes.io/uninitialized", "value": "true", "effect": "NoSchedule"}));
    }
    if !cni {
        taints.push(json!({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}));
    }
    let ready = if cni {
        json!({"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"})
    } else {
        json!({"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": NETWORK_NOT_READY})
    };
    json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels, "uid": format!("uid-{name}")},
           "spec": {"taints": taints}, "status": {"conditions": [ready]}})
}

struct Cluster {
    store: Store,
    nodes: Vec<Value>,
    now: u64,
}

impl Cluster {
    fn new(nodes: Vec<Value>) -> Cluster {
        let mut store = Store::default();
        store.ensure_defaults("2026-01-01T00:00:00Z", None);
        Cluster {
            store,
            nodes,
            now: 0,
        }
    }

    /// Runs the controllers for `seconds` of sim time, one pass per second.
    fn run(&mut self, seconds: u64) {
        for _ in 0..seconds {
            self.now += 1;
            let tick = Tick {
                now: Duration::from_secs(self.now),
                schedule_delay: Duration::from_secs(2),
                job_delay: Duration::from_secs(8),
                timestamp: format!(
                    "2026-01-01T00:{:02}:{:02}Z",
                    (self.now / 60) % 60,
                    self.now % 60
                ),
            };
            workloads::reconcile(&mut self.store, &self.nodes, &tick);
            super::reconcile(
                &mut self.store,
                &tick,
                Some(OWN.parse::<SocketAddr>().unwrap()),
            );
        }
    }

    fn put(&mut self, gv: &str, resource: &str, object: Value) {
        self.store.put(gv, resource, object, "2026-01-01T00:00:00Z");
    }

    /// helm-controller as the provider deploys it (contract item 1).
    fn deploy_controller(&mut self, job_image: &str) {
        let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "helm-controller", "namespace": "kube-system", "uid": "hc"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "helm-controller"}},
                "template": {"metadata": {"labels": {"app": "helm-controller"}},
                    "spec": {"hostNetwork": true, "serviceAccountName": "helm-controller",
                        "tolerations": serde_json::from_str::<Value>(TOLERATIONS).unwrap(),
                        "containers": [{"name": "helm-controller", "image": "rancher/helm-controller:v0.17.7",
                            "env": [{"name": "KUBERNETES_SERVICE_HOST", "value": "localhost"},
                                    {"name": "KUBERNETES_SERVICE_PORT", "value": "7445"},
                                    {"name": "DEFAULT_JOB_IMAGE", "value": job_image},
                                    {"name": "JOB_CLUSTER_ROLE", "value": "cluster-admin"},
                                    {"name": "JOB_TOLERATIONS", "value": TOLERATIONS}]}]}}}});
        self.put("apps/v1", "deployments", deployment);
        self.put(
            "v1",
            "serviceaccounts",
            json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "helm-controller", "namespace": "kube-system"}}),
        );
    }

    fn chart(&mut self, name: &str, spec: Value) {
        let chart = json!({"apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
            "metadata": {"name": name, "namespace": "kube-system"}, "spec": spec});
        self.put("helm.cattle.io/v1", "helmcharts", chart);
    }

    fn get(&self, gv: &str, resource: &str, ns: &str, name: &str) -> Value {
        self.store
            .get(gv, resource, ns, name)
            .cloned()
            .unwrap_or(Value::Null)
    }

    fn job(&self, name: &str) -> Value {
        self.get("batch/v1", "jobs", "kube-system", name)
    }

    fn job_pods(&self, job: &str) -> Vec<Value> {
        self.store
            .items("v1", "pods")
            .into_iter()
            .filter(|p| p["metadata"]["labels"]["job-name"] == job)
            .collect()
    }

    fn condition(job: &Value, kind: &str) -> bool {
        job["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["type"] == kind && c["status"] == "True")
    }

    fn revision(&self, ns: &str, name: &str) -> Option<u32> {
        super::release::current(&self.store, ns, name).map(|r| r.revision)
    }

    /// Every log line the runner recorded, newest runs included.
    fn logs(&self) -> String {
        self.store
            .pod_logs
            .values()
            .map(|l| format!("{}{}", l.previous.clone().unwrap_or_default(), l.current))
            .collect()
    }
}

fn own_repo() -> String {
    format!("http://{OWN}/charts")
}

#[test]
fn without_a_running_controller_nothing_happens_and_helmcharts_are_not_served() {
    let mut c = Cluster::new(vec![node("cp", true, true, true)]);
    c.chart("web", json!({"chart": "hello", "repo": own_repo()}));
    c.run(60);
    assert!(!crate::kube::crds::served(
        &c.store,
        "helm.cattle.io/v1",
        "helmcharts"
    ));
    assert!(c.store.items("batch/v1", "jobs").is_empty());
    // A controller whose pod cannot schedule (no toleration for the control-plane taint) does
    // not run either.
    c.deploy_controller("rancher/klipper-helm:v0.13.3-build20260727");
    let mut deployment = c.get("apps/v1", "deployments", "kube-system", "helm-controller");
    deployment["spec"]["template"]["spec"]["tolerations"] = json!([]);
    c.put("apps/v1", "deployments", deployment);
    c.run(30);
    assert!(!crate::kube::crds::served(
        &c.store,
        "helm.cattle.io/v1",
        "helmcharts"
    ));
    let pod = &c.store.items("v1", "pods")[0];
    assert_eq!(pod["status"]["conditions"][0]["reason"], "Unschedulable");
    assert!(
        pod["status"]["conditions"][0]["message"]
            .as_str()
            .unwrap()
            .contains("untolerated taint {node-role.kubernetes.io/control-plane: }"),
        "{pod}"
    );
}

#[test]
fn a_hello_chart_installs_upgrades_and_uninstalls_through_jobs() {
    let mut c = Cluster::new(vec![
        node("cp", true, true, true),
        node("w1", false, true, true),
    ]);
    c.deploy_controller("rancher/klipper-helm:v0.13.3-build20260727");
    c.run(5);
    assert!(crate::kube::crds::served(
        &c.store,
        "helm.cattle.io/v1",
        "helmcharts"
    ));
    assert!(crate::kube::crds::served(
        &c.store,
        "helm.cattle.io/v1",
        "helmchartconfigs"
    ));
    c.chart("web", json!({"chart": "hello", "repo": own_repo(), "version": "1.0.0",
        "targetNamespace": "apps", "createNamespace": true, "valuesContent": "replicas: 2\n", "backOffLimit": 2}));
    c.run(3);
    let chart = c.get("helm.cattle.io/v1", "helmcharts", "kube-system", "web");
    assert_eq!(chart["status"]["jobName"], "helm-install-web");
    assert_eq!(chart["metadata"]["finalizers"][0], super::FINALIZER);
    assert_eq!(c.job("helm-install-web")["status"]["active"], 1);
    c.run(15);
    assert!(
        Cluster::condition(&c.job("helm-install-web"), "Complete"),
        "{}",
        c.job("helm-install-web")
    );
    assert_eq!(c.revision("apps", "web"), Some(1));
    let deployment = c.get("apps/v1", "deployments", "apps", "web");
    assert_eq!(deployment["spec"]["replicas"], 2);
    assert_eq!(
        deployment["metadata"]["annotations"]["meta.helm.sh/release-name"],
        "web"
    );
    let secret = c.get("v1", "secrets", "apps", "sh.helm.release.v1.web.v1");
    assert_eq!(secret["metadata"]["labels"]["status"], "deployed");
    c.run(10);
    assert_eq!(
        c.revision("apps", "web"),
        Some(1),
        "a done job is not run again"
    );
    assert_eq!(
        c.store
            .items("v1", "pods")
            .iter()
            .filter(|p| p["metadata"]["namespace"] == "apps" && p["status"]["phase"] == "Running")
            .count(),
        2
    );

    // Upgrade: new values and version, a new job, revision 2.
    let mut chart = c.get("helm.cattle.io/v1", "helmcharts", "kube-system", "web");
    chart["spec"]["valuesContent"] = json!("replicas: 3\n");
    chart["spec"]["version"] = json!("1.1.0");
    c.put("helm.cattle.io/v1", "helmcharts", chart);
    c.run(20);
    assert_eq!(c.revision("apps", "web"), Some(2));
    assert_eq!(
        c.get("apps/v1", "deployments", "apps", "web")["spec"]["replicas"],
        3
    );
    assert_eq!(
        c.get("v1", "secrets", "apps", "sh.helm.release.v1.web.v1")["metadata"]["labels"]["status"],
        "superseded"
    );
    let view = super::release(&c.store, "hello").unwrap();
    assert_eq!(
        (view.version.as_str(), view.values["replicas"].as_i64()),
        ("1.1.0", Some(3))
    );
    c.run(20);
    assert_eq!(
        c.revision("apps", "web"),
        Some(2),
        "klipper-helm v0.13 labels the hash: no loop"
    );

    // Uninstall: the delete job, then the release, its objects and the chart are gone.
    let mut chart = c.get("helm.cattle.io/v1", "helmcharts", "kube-system", "web");
    chart["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:10:00Z");
    c.put("helm.cattle.io/v1", "helmcharts", chart);
    c.run(3);
    assert_eq!(c.job("helm-delete-web")["status"]["active"], 1);
    c.run(15);
    assert!(
        c.get("helm.cattle.io/v1", "helmcharts", "kube-system", "web")
            .is_null()
    );
    assert!(c.get("apps/v1", "deployments", "apps", "web").is_null());
    assert!(c.revision("apps", "web").is_none());
    assert!(
        c.get("v1", "secrets", "kube-system", "chart-values-web")
            .is_null()
    );
    assert_eq!(c.store.helm_jobs.get("install"), Some(&1));
    assert_eq!(c.store.helm_jobs.get("upgrade"), Some(&1));
    assert_eq!(c.store.helm_jobs.get("delete"), Some(&1));
}

#[test]
fn klipper_helm_before_v0_13_makes_helm_controller_v0_17_7_upgrade_for_ever() {
    let mut c = Cluster::new(vec![node("cp", true, true, true)]);
    c.deploy_controller("rancher/klipper-helm:v0.9.10-build20251111");
    c.run(5);
    c.chart(
        "web",
        json!({"chart": "hello", "repo": own_repo(), "targetNamespace": "kube-system"}),
    );
    c.run(60);
    assert!(
        c.revision("kube-system", "web").unwrap() >= 3,
        "{:?}",
        c.revision("kube-system", "web")
    );
}

#[test]
fn job_pods_need_a_node_they_tolerate_and_a_pod_network_unless_on_the_host_network() {
    // No CNI and no CCM yet: nodes carry not-ready and uninitialized taints.
    let mut c = Cluster::new(vec![
        node("cp", true, false, false),
        node("w1", false, false, false),
    ]);
    c.deploy_controller("rancher/klipper-helm:v0.13.3-build20260727");
    c.run(5);
    assert!(
        crate::kube::crds::served(&c.store, "helm.cattle.io/v1", "helmcharts"),
        "host-network controller runs without a CNI"
    );

    // helm-controller's own job: tolerated (JOB_TOLERATIONS), but no pod network: it stays in
    // ContainerCreating with the kubelet's event, and never completes.
    c.chart("cilium", json!({"chart": "cilium", "repo": "https://helm.cilium.io/", "version": "1.18.4", "targetNamespace": "kube-system"}));
    c.run(60);
    let pods = c.job_pods("helm-install-cilium");
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0]["status"]["phase"], "Pending");
    assert_eq!(
        pods[0]["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "ContainerCreating"
    );
    let events = c.store.items("v1", "events");
    assert!(
        events.iter().any(|e| e["reason"] == "NetworkNotReady"
            && e["message"]
                .as_str()
                .unwrap()
                .starts_with("network is not ready: container runtime network not ready")),
        "{events:?}"
    );
    assert!(!Cluster::condition(
        &c.job("helm-install-cilium"),
        "Complete"
    ));

    // A bootstrap job as the provider makes it: klipper-helm on the host network.
    let values = "ipam:\n  mode: kubernetes\noperator:\n  replicas: 1\n";
    c.put("v1", "secrets", json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "boot-values", "namespace": "kube-system"},
        "data": {"values-01_HelmChart.yaml": crate::talos::pki::base64_of(values)}}));
    c.put("batch/v1", "jobs", json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "boot-cilium", "namespace": "kube-system", "uid": "boot"},
        "spec": {"backoffLimit": 3, "template": {"spec": {"restartPolicy": "OnFailure", "hostNetwork": true,
            "tolerations": serde_json::from_str::<Value>(TOLERATIONS).unwrap(),
            "containers": [{"name": "helm", "image": "rancher/klipper-helm:v0.13.3-build20260727", "args": ["install", "--version", "1.18.4"],
                "env": [{"name": "NAME", "value": "cilium"}, {"name": "CHART", "value": "cilium/cilium"},
                        {"name": "REPO", "value": "https://helm.cilium.io/"}, {"name": "TARGET_NAMESPACE", "value": "kube-system"}],
                "volumeMounts": [{"name": "values", "mountPath": "/config"}]}],
            "volumes": [{"name": "values", "secret": {"secretName": "boot-values"}}]}}}}));
    c.run(20);
    assert!(
        Cluster::condition(&c.job("boot-cilium"), "Complete"),
        "{}",
        c.logs()
    );
    let release = super::release(&c.store, "cilium").unwrap();
    assert_eq!(
        (release.revision, release.values["ipam"]["mode"].as_str()),
        (1, Some("kubernetes"))
    );
    // Cilium's agent runs on every node (host network, tolerating everything); one operator.
    c.run(5);
    let agents = workloads::running_pods(&c.store, "kube-system", "k8s-app=cilium");
    assert_eq!(agents.len(), 2);
    assert_eq!(
        c.get("apps/v1", "deployments", "kube-system", "cilium-operator")["spec"]["replicas"],
        1
    );

    // Once the CNI runs (nodes Ready), helm-controller's job gets its network and upgrades the
    // release the bootstrap job made.
    // (The first job finds revision 1 where it expected none and does nothing; helm-controller
    // sees no release with its hash and runs the job again, expecting revision 1.)
    c.nodes = vec![
        node("cp", true, true, false),
        node("w1", false, true, false),
    ];
    c.run(40);
    assert!(
        Cluster::condition(&c.job("helm-install-cilium"), "Complete"),
        "{}\n{:?}\n{}",
        c.logs(),
        c.job_pods("helm-install-cilium"),
        c.job("helm-install-cilium")
    );
    assert_eq!(c.revision("kube-system", "cilium"), Some(2));
}

#[test]
fn a_job_whose_pod_cannot_schedule_never_completes() {
    // Workers not initialised by a CCM and a controller without JOB_TOLERATIONS: its jobs
    // tolerate nothing, and the control plane is tainted.
    let mut c = Cluster::new(vec![
        node("cp", true, true, false),
        node("w1", false, true, false),
    ]);
    c.deploy_controller("rancher/klipper-helm:v0.13.3-build20260727");
    let mut deployment = c.get("apps/v1", "deployments", "kube-system", "helm-controller");
    let env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array_mut()
        .unwrap();
    env.retain(|e| e["name"] != "JOB_TOLERATIONS");
    c.put("apps/v1", "deployments", deployment);
    c.run(5);
    c.chart("web", json!({"chart": "hello", "repo": own_repo()}));
    c.run(120);
    let job = c.job("helm-install-web");
    assert_eq!(job["status"]["active"], 1);
    assert!(!Cluster::condition(&job, "Complete") && !Cluster::condition(&job, "Failed"));
    let pod = &c.job_pods("helm-install-web")[0];
    let scheduled = &pod["status"]["conditions"][0];
    assert_eq!(
        (scheduled["type"].as_str(), scheduled["status"].as_str()),
        (Some("PodScheduled"), Some("False"))
    );
    assert!(
        scheduled["message"]
            .as_str()
            .unwrap()
            .starts_with("0/2 nodes are available:"),
        "{scheduled}"
    );
    assert!(c.revision("kube-system", "web").is_none());

    // A bootstrap chart selects control-plane=true, which Talos's "" never matches.
    let mut c = Cluster::new(vec![node("cp", true, true, true)]);
    c.deploy_controller("rancher/klipper-helm:v0.13.3-build20260727");
    c.run(5);
    c.chart(
        "web",
        json!({"chart": "hello", "repo": own_repo(), "bootstrap": true}),
    );
    c.run(60);
    let pod = &c.job_pods("helm-install-web")[0];
    assert!(
        pod["status"]["conditions"][0]["message"]
            .as_str()
            .unwrap()
            .contains("didn't match Pod's node affinity/selector")
    );
}

#[test]
fn catalog_charts_deploy_their_workloads() {
    let mut c = Cluster::new(vec![
        node("cp", true, true, true),
        node("w1", false, true, true),
    ]);
    c.deploy_controller("rancher/klipper-helm:v0.13.3-build20260727");
    c.put("v1", "secrets", json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "hcloud", "namespace": "kube-system"},
        "data": {"token": crate::talos::pki::base64_of("t"), "network": crate::talos::pki::base64_of("1")}}));
    c.run(5);
    c.chart("hcloud-csi", json!({"chart": "hcloud-csi", "repo": "https://charts.hetzner.cloud", "version": "2.22.0",
        "targetNamespace": "kube-system", "valuesContent": "storageClasses:\n  - name: hcloud-volumes\n    defaultStorageClass: true\n    reclaimPolicy: Delete\n"}));
    c.chart("metrics-server", json!({"chart": "metrics-server", "repo": "https://kubernetes-sigs.github.io/metrics-server/",
        "version": "3.13.0", "targetNamespace": "kube-system"}));
    c.chart("hcloud-cloud-controller-manager", json!({"chart": "hcloud-cloud-controller-manager", "repo": "https://charts.hetzner.cloud",
        "version": "1.35.0", "targetNamespace": "kube-system", "valuesContent": "networking:\n  enabled: true\n  clusterCIDR: 10.0.16.0/20\n"}));
    c.run(30);
    assert_eq!(
        c.get("storage.k8s.io/v1", "storageclasses", "", "hcloud-volumes")["provisioner"],
        "csi.hetzner.cloud"
    );
    assert!(crate::kube::crds::served(
        &c.store,
        "metrics.k8s.io/v1beta1",
        "nodes"
    ));
    assert_eq!(
        c.get(
            "apiregistration.k8s.io/v1",
            "apiservices",
            "",
            "v1beta1.metrics.k8s.io"
        )["spec"]["service"]["name"],
        "metrics-server"
    );
    assert_eq!(
        workloads::running_pods(
            &c.store,
            "kube-system",
            "app.kubernetes.io/instance=hcloud-csi,app.kubernetes.io/component=node"
        )
        .len(),
        2
    );
    assert_eq!(
        workloads::running_pods(
            &c.store,
            "kube-system",
            "app.kubernetes.io/instance=metrics-server"
        )
        .len(),
        1
    );
    let ccm = workloads::running_pods(
        &c.store,
        "kube-system",
        "app.kubernetes.io/name=hcloud-cloud-controller-manager",
    );
    assert_eq!(ccm.len(), 1);
    assert_eq!(ccm[0]["spec"]["hostNetwork"], true);
    assert_eq!(
        super::release(&c.store, "hcloud-cloud-controller-manager")
            .unwrap()
            .values["networking"]["clusterCIDR"],
        "10.0.16.0/20"
    );

    // Longhorn's manager is privileged: without the namespace label Pod Security refuses it.
    c.chart(
        "longhorn",
        json!({"chart": "longhorn", "repo": "https://charts.longhorn.io", "version": "1.10.1",
        "targetNamespace": "longhorn-system", "createNamespace": true}),
    );
    c.run(30);
    let manager = c.get(
        "apps/v1",
        "daemonsets",
        "longhorn-system",
        "longhorn-manager",
    );
    assert_eq!(manager["status"]["currentNumberScheduled"], 0);
    // The control plane's taint keeps it off there.
    assert_eq!(manager["status"]["desiredNumberScheduled"], 1);
    assert!(c.store.items("v1", "events").iter().any(|e| {
        e["reason"] == "FailedCreate"
            && e["message"]
                .as_str()
                .unwrap()
                .contains("violates PodSecurity \"baseline:latest\"")
    }));
    let mut ns = c.get("v1", "namespaces", "", "longhorn-system");
    ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] = json!("privileged");
    c.put("v1", "namespaces", ns);
    c.run(5);
    assert_eq!(
        workloads::running_pods(&c.store, "longhorn-system", "app=longhorn-manager").len(),
        1
    );
}

#[test]
fn unknown_charts_versions_and_repositories_fail_with_helms_words() {
    let cases = [
        (
            json!({"chart": "nope", "repo": own_repo()}),
            "Error: INSTALLATION FAILED: chart \"nope\" matching  not found in bad index. (try 'helm repo update'): no chart name found",
        ),
        (
            json!({"chart": "hello", "repo": own_repo(), "version": "9.9.9"}),
            "Error: INSTALLATION FAILED: chart \"hello\" matching 9.9.9 not found in bad index. (try 'helm repo update'): no chart version found for hello-9.9.9",
        ),
        (
            json!({"chart": "ingress-nginx", "repo": "https://kubernetes.github.io/ingress-nginx"}),
            "Error: looks like \"https://kubernetes.github.io/ingress-nginx\" is not a valid chart repository or cannot be reached: failed to fetch https://kubernetes.github.io/ingress-nginx/index.yaml : 404 Not Found",
        ),
        (
            json!({"chart": "hello", "repo": own_repo(), "valuesContent": "replicas: three\n"}),
            "Error: INSTALLATION FAILED: values don't meet the specifications of the schema(s) in the following chart(s):\nhello:\n- at '/replicas': got string, want integer",
        ),
        (
            json!({"chart": "hello", "repo": own_repo(), "targetNamespace": "missing"}),
            "Error: INSTALLATION FAILED: create: failed to create: namespaces \"missing\" not found",
        ),
    ];
    for (spec, error) in cases {
        let mut c = Cluster::new(vec![node("cp", true, true, true)]);
        c.deploy_controller("rancher/klipper-helm:v0.13.3-build20260727");
        c.run(5);
        let mut spec = spec;
        spec["backOffLimit"] = json!(2);
        c.chart("bad", spec);
        // First attempt: the error is in the container's log and the pod restarts.
        c.run(15);
        assert!(c.logs().contains(error), "{error}\n---\n{}", c.logs());
        let pod = &c.job_pods("helm-install-bad")[0];
        assert_eq!(
            pod["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"], 1,
            "{pod}"
        );
        assert!(!Cluster::condition(&c.job("helm-install-bad"), "Failed"));
        // After backoffLimit restarts the Job fails, its pod is gone, the chart says so.
        c.run(60);
        let job = c.job("helm-install-bad");
        let failed = job["status"]["conditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["type"] == "Failed")
            .unwrap()
            .clone();
        assert_eq!(
            (failed["reason"].as_str(), failed["message"].as_str()),
            (
                Some("BackoffLimitExceeded"),
                Some("Job has reached the specified backoff limit")
            )
        );
        assert!(c.job_pods("helm-install-bad").is_empty());
        let chart = c.get("helm.cattle.io/v1", "helmcharts", "kube-system", "bad");
        assert_eq!(
            chart["status"]["conditions"][1]["status"], "True",
            "{chart}"
        );
        assert_eq!(chart["status"]["conditions"][1]["reason"], "Job failed");
        assert!(c.revision("kube-system", "bad").is_none());
    }
}

#[test]
fn a_bare_chart_name_with_a_repository_is_refused_as_helm_refuses_it() {
    let mut c = Cluster::new(vec![node("cp", true, true, true)]);
    c.put("batch/v1", "jobs", json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "boot", "namespace": "kube-system", "uid": "boot"},
        "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "hostNetwork": true,
            "tolerations": [{"operator": "Exists"}],
            "containers": [{"name": "helm", "image": "rancher/klipper-helm:v0.9.10-build20251111", "args": ["install"],
                "terminationMessagePolicy": "FallbackToLogsOnError",
                "env": [{"name": "NAME", "value": "cilium"}, {"name": "CHART", "value": "cilium"},
                        {"name": "REPO", "value": "https://helm.cilium.io/"}, {"name": "TARGET_NAMESPACE", "value": "kube-system"}]}]}}}}));
    c.run(30);
    let job = c.job("boot");
    assert!(Cluster::condition(&job, "Failed"), "{job}");
    let pod = &c.job_pods("boot")[0];
    assert_eq!(pod["status"]["phase"], "Failed");
    // klipper-helm wrote its termination log before Helm failed, so that is the termination
    // message; Helm's error is in the log.
    let message = pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"]
        .as_str()
        .unwrap();
    assert_eq!(message, "Installing helm chart\n");
    assert!(c.logs().ends_with("Error: INSTALLATION FAILED: non-absolute URLs should be in form of repo_name/path_to_chart, got: cilium\n"), "{}", c.logs());
}
