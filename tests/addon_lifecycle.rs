//! A usable cluster and `hk8s_addon` end to end: real Terraform drives the provider against
//! hk8s-sim, whose helm-controller, cloud controller, CSI and metrics stand-ins act only when the
//! real components could (deployed, scheduled, given a valid token). The tests check what a user
//! would: releases and their workloads through the official Kubernetes Python client, volumes
//! and load balancers in Hetzner, empty plans after applies, nothing left after destroy.

mod cluster;
mod support;

use cluster::python;
use cluster::world::World;
use cluster::{hcl, plan_is_empty};
use support::{Workdir, terraforms};

fn newest() -> support::Terraform {
    terraforms().into_iter().next().expect("a Terraform CLI")
}

fn plan_text(w: &Workdir) -> String {
    let out = w.run(&["plan", "-no-color", "-input=false"]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn apply(w: &Workdir) -> String {
    let out = w.run_ok(&["apply", "-auto-approve", "-no-color", "-input=false"]);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn apply_fails(w: &Workdir) -> String {
    let out = w.run(&["apply", "-auto-approve", "-no-color", "-input=false"]);
    assert!(!out.status.success(), "the apply should fail");
    String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// The sim's chart repository (`/charts` beside `/v1`).
fn charts(world: &World) -> String {
    format!("{}/charts", world.endpoint.trim_end_matches("/v1"))
}

fn hello(world: &World, version: &str, replicas: u32) -> String {
    format!(
        r#"
resource "hk8s_addon" "hello" {{
  cluster   = hk8s_cluster.main.connection
  name      = "hello"
  namespace = "apps"
  version   = "{version}"
  chart     = {{ repository = "{repo}", name = "hello" }}
  values    = yamlencode({{ replicas = {replicas} }})
  timeout   = "2m"
  depends_on = [hk8s_node_pool.web]
}}
output "hello_revision" {{
  value = hk8s_addon.hello.revision
}}
"#,
        repo = charts(world)
    )
}

fn config(world: &World, name: &str, cluster_extra: &str, rest: &str) -> String {
    format!(
        "{}{}{rest}",
        hcl::cluster(&world.endpoint, name, 1, "v1.13.9", "1.35.0", cluster_extra),
        hcl::pool("web", "cx23", 1, "")
    )
}

/// `namespace/name` → ready replicas of that Deployment ("absent" when it does not exist).
fn deployment_ready(w: &Workdir, namespace: &str, name: &str) -> String {
    let script = format!(
        r#"import sys
from kubernetes import client, config
from kubernetes.client.rest import ApiException
config.load_kube_config(sys.argv[1])
try:
    d = client.AppsV1Api().read_namespaced_deployment('{name}', '{namespace}')
    print(d.status.ready_replicas or 0)
except ApiException as e:
    print('absent' if e.status == 404 else e.status)
"#
    );
    python::run(w, &script).unwrap_or_default()
}

#[test]
fn a_chart_is_installed_upgraded_repaired_imported_and_uninstalled() {
    let tf = newest();
    let world = World::start(62, &["v1.13.9"], |_| {});
    let w = Workdir::new(
        &tf,
        &config(&world, "charts", "", &hello(&world, "1.0.0", 1)),
    );
    w.run_ok(&["init", "-no-color"]);
    apply(&w);
    assert_eq!(w.run_ok(&["output", "-raw", "hello_revision"]), "1");
    if venv() {
        assert_eq!(deployment_ready(&w, "apps", "hello"), "1");
    }
    plan_is_empty(&w);

    // New values and version: an upgrade, revision 2.
    w.write_main(&config(&world, "charts", "", &hello(&world, "1.1.0", 2)));
    let plan = plan_text(&w);
    assert!(plan.contains("1 to change"), "{plan}");
    apply(&w);
    assert_eq!(w.run_ok(&["output", "-raw", "hello_revision"]), "2");
    if venv() {
        assert_eq!(deployment_ready(&w, "apps", "hello"), "2");
    }
    plan_is_empty(&w);

    // A version the repository does not have: helm's own error, not a timeout; the plan keeps
    // showing the change and the deployed release stays.
    w.write_main(&config(&world, "charts", "", &hello(&world, "9.9.9", 2)));
    let error = apply_fails(&w);
    assert!(
        error.contains("Addon \"hello\" failed to install") && error.contains("9.9.9"),
        "{error}"
    );
    assert!(plan_text(&w).contains("1 to change"));
    w.write_main(&config(&world, "charts", "", &hello(&world, "1.1.0", 2)));
    apply(&w);
    plan_is_empty(&w);

    // The HelmChart deleted outside Terraform: the plan recreates it.
    if venv() {
        python::run(
            &w,
            "import sys\nfrom kubernetes import client, config\nconfig.load_kube_config(sys.argv[1])\n\
client.CustomObjectsApi().delete_namespaced_custom_object('helm.cattle.io', 'v1', 'apps', 'helmcharts', 'hello')\n",
        );
        wait_for(
            || deployment_ready(&w, "apps", "hello") == "absent",
            "hello uninstalled",
        );
        assert!(plan_text(&w).contains("1 to add"));
        apply(&w);
        assert_eq!(deployment_ready(&w, "apps", "hello"), "2");
        plan_is_empty(&w);

        // Edited outside Terraform: the plan shows the values as they are now and puts them back.
        python::run(
            &w,
            "import sys\nfrom kubernetes import client, config\nconfig.load_kube_config(sys.argv[1])\n\
client.CustomObjectsApi().patch_namespaced_custom_object('helm.cattle.io', 'v1', 'apps', 'helmcharts', 'hello', {'spec': {'valuesContent': 'replicas: 3\\n'}})\n",
        );
        wait_for(
            || deployment_ready(&w, "apps", "hello") == "3",
            "hello scaled by hand",
        );
        let plan = plan_text(&w);
        assert!(
            plan.contains("changed outside Terraform") && plan.contains("1 to change"),
            "{plan}"
        );
        apply(&w);
        assert_eq!(deployment_ready(&w, "apps", "hello"), "2");
        plan_is_empty(&w);
    }

    // State lost, imported: the first apply sets the connection and changes nothing in the
    // cluster (same revision); then the plan is empty.
    let revision = w.run_ok(&["output", "-raw", "hello_revision"]);
    w.run_ok(&["state", "rm", "hk8s_addon.hello"]);
    w.run_ok(&[
        "import",
        "-no-color",
        "hk8s_addon.hello",
        "charts/apps/hello",
    ]);
    let plan = plan_text(&w);
    assert!(
        plan.contains("0 to add, 1 to change, 0 to destroy"),
        "{plan}"
    );
    apply(&w);
    assert_eq!(w.run_ok(&["output", "-raw", "hello_revision"]), revision);
    plan_is_empty(&w);

    // Removed from the configuration: uninstalled.
    w.write_main(&config(&world, "charts", "", ""));
    apply(&w);
    if venv() {
        assert_eq!(deployment_ready(&w, "apps", "hello"), "absent");
    }
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        world.labelled("charts").is_empty(),
        "{:?}",
        world.labelled("charts")
    );
}

#[test]
fn a_failing_chart_reports_helms_error_and_leaves_nothing() {
    let tf = newest();
    let world = World::start(63, &["v1.13.9"], |_| {});
    let broken = r#"
resource "hk8s_addon" "elsewhere" {
  cluster = hk8s_cluster.main.connection
  name    = "web"
  version = "18.2.0"
  chart   = { repository = "https://charts.bitnami.com/bitnami", name = "nginx" }
  timeout = "2m"
  depends_on = [hk8s_node_pool.web]
}
"#;
    let w = Workdir::new(&tf, &config(&world, "broken", "", broken));
    w.run_ok(&["init", "-no-color"]);
    let error = apply_fails(&w);
    assert!(
        error.contains("Addon \"web\" failed to install") && error.contains("failed to fetch"),
        "{error}"
    );
    // Wrong values for the chart's schema: helm's validation message.
    let wrong = hello(&world, "1.0.0", 1).replace("replicas = 1", "replicas = \"two\"");
    w.write_main(&config(&world, "broken", "", &wrong));
    let error = apply_fails(&w);
    assert!(error.contains("replicas"), "{error}");
    w.write_main(&config(&world, "broken", "", ""));
    apply(&w);
    if venv() {
        let charts = python::run(
            &w,
            "import sys\nfrom kubernetes import client, config\nconfig.load_kube_config(sys.argv[1])\n\
print(' '.join(sorted(c['metadata']['name'] for c in client.CustomObjectsApi().list_cluster_custom_object('helm.cattle.io', 'v1', 'helmcharts')['items'])))\n",
        )
        .unwrap_or_default();
        assert_eq!(
            charts,
            "hcloud-cloud-controller-manager kubelet-csr-approver"
        );
    }
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
}

fn venv() -> bool {
    support::venv_python().is_some()
}

fn wait_for(mut condition: impl FnMut() -> bool, what: &str) {
    let started = std::time::Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "{what} never happened"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

const STORAGE: &str = r#"
resource "hk8s_addon" "csi" {
  cluster    = hk8s_cluster.main.connection
  name       = "hcloud-csi"
  timeout    = "2m"
  depends_on = [hk8s_node_pool.web]
}
resource "hk8s_addon" "metrics" {
  cluster    = hk8s_cluster.main.connection
  name       = "metrics-server"
  timeout    = "2m"
  depends_on = [hk8s_node_pool.web]
}
"#;

#[test]
fn nodes_are_initialised_and_volumes_metrics_and_load_balancers_work() {
    let tf = newest();
    let world = World::start(64, &["v1.13.9"], |_| {});
    let w = Workdir::new(&tf, &config(&world, "store", "", STORAGE));
    w.run_ok(&["init", "-no-color"]);
    apply(&w);
    plan_is_empty(&w);
    let Some(python) = support::venv_python() else {
        return;
    };
    let _ = python;
    // Every node initialised by the cloud controller: providerID, no uninitialized taint.
    let nodes = python::run(
        &w,
        r#"import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
for n in sorted(client.CoreV1Api().list_node().items, key=lambda n: n.metadata.name):
    taints = [t.key for t in (n.spec.taints or [])]
    print(n.metadata.name, n.spec.provider_id, 'node.cloudprovider.kubernetes.io/uninitialized' in taints)
"#,
    )
    .unwrap_or_default();
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        assert!(fields[1].starts_with("hcloud://"), "{nodes}");
        assert_eq!(fields[2], "False", "{nodes}");
    }
    // A PVC of the default class bound to a Hetzner volume attached to the pod's node.
    if let Some(out) = python::run(
        &w,
        r#"import sys, time
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
v1.create_namespaced_persistent_volume_claim('default', {'apiVersion': 'v1', 'kind': 'PersistentVolumeClaim', 'metadata': {'name': 'data'}, 'spec': {'accessModes': ['ReadWriteOnce'], 'resources': {'requests': {'storage': '10Gi'}}}})
v1.create_namespaced_pod('default', {'apiVersion': 'v1', 'kind': 'Pod', 'metadata': {'name': 'db'}, 'spec': {'containers': [{'name': 'db', 'image': 'postgres:17', 'volumeMounts': [{'name': 'data', 'mountPath': '/data'}]}], 'volumes': [{'name': 'data', 'persistentVolumeClaim': {'claimName': 'data'}}]}})
for _ in range(600):
    p = v1.read_namespaced_pod('db', 'default')
    if p.status.phase == 'Running':
        break
    time.sleep(0.2)
print(p.status.phase, v1.read_namespaced_persistent_volume_claim('data', 'default').status.phase)
"#,
    ) {
        assert_eq!(out, "Running Bound");
    }
    let volumes = world.list("/volumes?label_selector=hk8s.io/cluster%3Dstore", "volumes");
    assert_eq!(volumes.len(), 1, "{volumes:?}");
    let worker = world.list("/servers?name=store-web-1", "servers");
    assert_eq!(
        volumes[0]["server"], worker[0]["id"],
        "attached to the pod's node"
    );
    // metrics-server answers the resource metrics API (what `kubectl top nodes` reads).
    let metrics = python::run(
        &w,
        "import sys\nfrom kubernetes import client, config\nconfig.load_kube_config(sys.argv[1])\n\
items = client.CustomObjectsApi().list_cluster_custom_object('metrics.k8s.io', 'v1beta1', 'nodes')['items']\n\
print(' '.join(sorted(i['metadata']['name'] for i in items)), all(i['usage']['cpu'] for i in items))\n",
    )
    .unwrap_or_default();
    assert_eq!(metrics, "store-cp-1 store-web-1 True");
    // A Service of type LoadBalancer gets a Hetzner load balancer and its address.
    let lb = cluster::kube::service_load_balancer(&world, &w);
    let ip = world
        .list("/load_balancers", "load_balancers")
        .into_iter()
        .find(|l| l["id"].as_i64() == Some(lb))
        .and_then(|l| l["public_net"]["ipv4"]["ip"].as_str().map(str::to_owned))
        .expect("the load balancer has a public IPv4");
    wait_for(
        || {
            python::run(
                &w,
                "import sys\nfrom kubernetes import client, config\nconfig.load_kube_config(sys.argv[1])\n\
s = client.CoreV1Api().read_namespaced_service('web', 'default')\n\
print((s.status.load_balancer.ingress or [None])[0] and s.status.load_balancer.ingress[0].ip)\n",
            )
            .unwrap_or_default()
                == ip
        },
        "the Service's external address",
    );
    // Destroy leaves nothing: no volume, no load balancer, nothing labelled for the cluster.
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        world.labelled("store").is_empty(),
        "{:?}",
        world.labelled("store")
    );
    assert!(
        world.list("/volumes", "volumes").is_empty(),
        "no volume is left"
    );
    assert!(
        world.list("/load_balancers", "load_balancers").is_empty(),
        "no load balancer is left"
    );
}

#[test]
fn cilium_is_installed_on_the_first_apply_and_none_stops_at_registered_nodes() {
    let tf = newest();
    let world = World::start(65, &["v1.13.9"], |_| {});
    let w = Workdir::new(&tf, &config(&world, "cil", "cni = \"cilium\"", ""));
    w.run_ok(&["init", "-no-color"]);
    apply(&w);
    plan_is_empty(&w);
    python::assert_ready_nodes(&w, &["cil-cp-1", "cil-web-1"]);
    if venv() {
        // The HelmChart took the release over from the bootstrap job.
        let releases = python::run(
            &w,
            "import sys\nfrom kubernetes import client, config\nconfig.load_kube_config(sys.argv[1])\n\
s = client.CoreV1Api().list_namespaced_secret('kube-system', label_selector='owner=helm,name=cilium,status=deployed').items\n\
print(' '.join(x.metadata.labels['version'] for x in s))\n",
        )
        .unwrap_or_default();
        assert_eq!(releases, "2");
    }
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);

    let w = Workdir::new(&tf, &config(&world, "bare", "cni = \"none\"", ""));
    w.run_ok(&["init", "-no-color"]);
    let out = apply(&w);
    assert!(out.contains("The cluster has no CNI yet"), "{out}");
    plan_is_empty(&w);
    python::assert_ready_nodes(&w, &[]);
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(world.labelled("bare").is_empty());
}

#[test]
fn the_addons_example_applies_as_written() {
    let tf = newest();
    let world = World::start(66, &["v1.13.9"], |_| {});
    let w = Workdir::from_example(&tf, "examples/addons")
        .env("HCLOUD_TOKEN", cluster::world::TOKEN)
        .env("HCLOUD_ENDPOINT", &world.endpoint);
    w.run_ok(&["init", "-no-color"]);
    apply(&w);
    plan_is_empty(&w);
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        world.labelled("addons").is_empty(),
        "{:?}",
        world.labelled("addons")
    );
    assert!(world.list("/load_balancers", "load_balancers").is_empty());
}
