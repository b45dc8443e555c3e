//! Autoscaled node pools end to end: real Terraform drives the provider against hk8s-sim, whose
//! cluster-autoscaler stand-in runs only once the `cluster-autoscaler` add-on is deployed with a
//! configuration and token the sim accepts. The tests check what a user would: pods that fit
//! nowhere make the pool grow and then run, plans stay empty while the autoscaler works, Talos
//! upgrades reach the autoscaler's nodes and its new servers, idle nodes go back down to `min`,
//! and destroy leaves nothing, the autoscaler's servers included.

mod cluster;
mod support;

use base64::Engine as _;
use cluster::python;
use cluster::world::World;
use cluster::{hcl, plan_is_empty};
use serde_json::Value;
use support::{Workdir, terraforms};

fn newest() -> support::Terraform {
    terraforms().into_iter().next().expect("a Terraform CLI")
}

fn squash(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .split_whitespace()
    .collect::<Vec<_>>()
    .join(" ")
}

fn apply(w: &Workdir) -> String {
    w.run_ok(&["apply", "-auto-approve", "-no-color", "-input=false"])
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

const AUTOSCALER: &str = r#"
resource "hk8s_addon" "autoscaler" {
  cluster    = hk8s_cluster.main.connection
  name       = "cluster-autoscaler"
  timeout    = "2m"
  depends_on = [hk8s_node_pool.burst]
}
"#;

fn config(world: &World, talos: &str, max: u32, addon: &str) -> String {
    format!(
        r#"{cluster}{base}
resource "hk8s_node_pool" "burst" {{
  cluster     = hk8s_cluster.main.connection
  name        = "burst"
  server_type = "cx23"
  labels      = {{ "example.com/tier" = "burst" }}
  autoscaling = {{ min = 0, max = {max} }}
  timeouts    = {{ create = "3m", update = "3m", delete = "3m" }}
}}
{addon}"#,
        cluster = hcl::cluster(&world.endpoint, "grow", 1, talos, "1.35.0", ""),
        base = hcl::pool("base", "cx23", 1, ""),
    )
}

/// The pool `burst` as the state records it.
fn burst_state(w: &Workdir) -> Value {
    let state: Value =
        serde_json::from_str(&w.run_ok(&["show", "-json"])).expect("terraform show -json");
    state["values"]["root_module"]["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["address"] == "hk8s_node_pool.burst")
        .map(|r| r["values"].clone())
        .expect("the pool in state")
}

/// The Talos versions the state records for the pool's nodes, distinct and sorted.
fn burst_versions(w: &Workdir) -> String {
    let mut versions: Vec<String> = burst_state(w)["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["talos_version"].as_str().map(str::to_owned))
        .collect();
    versions.sort();
    versions.dedup();
    versions.join(" ")
}

/// The cluster, the fixed pool and the add-on, without the autoscaled pool.
fn without_pool(world: &World) -> String {
    format!(
        r#"{cluster}{base}
resource "hk8s_addon" "autoscaler" {{
  cluster = hk8s_cluster.main.connection
  name    = "cluster-autoscaler"
  timeout = "2m"
}}
"#,
        cluster = hcl::cluster(&world.endpoint, "grow", 1, "v1.13.10", "1.35.0", ""),
        base = hcl::pool("base", "cx23", 1, ""),
    )
}

/// The servers the autoscaler made for the pool (its node group's label).
fn group_servers(world: &World) -> Vec<Value> {
    world.list(
        "/servers?label_selector=hcloud/node-group%3Dgrow-burst",
        "servers",
    )
}

fn wait_for(world: &World, mut condition: impl FnMut() -> bool, what: &str) {
    let started = std::time::Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{what} never happened; the autoscaler: {:#}; its servers: {:?}",
            world.state()["kubernetes"][0]["autoscaler"],
            group_servers(world)
                .iter()
                .map(|s| format!("{} {}", s["name"], s["status"]))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

const KUBE: &str = "import sys, json, base64\nfrom kubernetes import client, config\nconfig.load_kube_config(sys.argv[1])\n";

/// Creates (or resizes) the Deployment `burst`: pods of 1.2 CPUs, one per cx23 worker.
fn burst(w: &Workdir, replicas: u32) {
    python::run(
        w,
        &format!(
            r#"{KUBE}apps = client.AppsV1Api()
body = {{'apiVersion': 'apps/v1', 'kind': 'Deployment', 'metadata': {{'name': 'burst', 'namespace': 'default'}},
  'spec': {{'replicas': {replicas}, 'selector': {{'matchLabels': {{'app': 'burst'}}}},
    'template': {{'metadata': {{'labels': {{'app': 'burst'}}}}, 'spec': {{'containers': [{{'name': 'web', 'image': 'nginx',
      'resources': {{'requests': {{'cpu': '1200m', 'memory': '256Mi'}}}}}}]}}}}}}}}
try:
    apps.create_namespaced_deployment('default', body)
except client.rest.ApiException as e:
    if e.status != 409:
        raise
    apps.patch_namespaced_deployment('burst', 'default', {{'spec': {{'replicas': {replicas}}}}})
"#
        ),
    );
}

/// `(running, pending)` pods of the Deployment `burst`, and the nodes they run on.
fn burst_pods(w: &Workdir) -> (usize, usize, Vec<String>) {
    let out = python::run(
        w,
        &format!(
            "{KUBE}pods = client.CoreV1Api().list_namespaced_pod('default', label_selector='app=burst').items\n\
print(json.dumps([[p.status.phase, p.spec.node_name or ''] for p in pods]))\n"
        ),
    )
    .unwrap_or_else(|| "[]".into());
    let pods: Vec<(String, String)> = serde_json::from_str(&out).expect("pods as JSON");
    let running = pods.iter().filter(|p| p.0 == "Running").count();
    let pending = pods.iter().filter(|p| p.0 == "Pending").count();
    (running, pending, pods.into_iter().map(|p| p.1).collect())
}

/// Why the `burst` pods are where they are (for failure messages).
fn pod_conditions(w: &Workdir) -> String {
    python::run(
        w,
        &format!(
            "{KUBE}pods = client.CoreV1Api().list_namespaced_pod('default', label_selector='app=burst').items\n\
print([(p.metadata.name, p.status.phase, p.spec.node_name, [(c.type, c.status, c.reason, c.message) for c in (p.status.conditions or [])]) for p in pods])\n\
v1 = client.CoreV1Api()\n\
[print(p.metadata.name, v1.read_namespaced_pod_log(p.metadata.name, 'kube-system')[-3000:]) for p in v1.list_namespaced_pod('kube-system').items if 'autoscaler' in p.metadata.name and not p.metadata.name.startswith('helm-')]\n"
        ),
    )
    .unwrap_or_default()
}

/// The arguments of the autoscaler's Deployment (what the chart rendered from the groups).
fn autoscaler_args(w: &Workdir) -> String {
    python::run(
        w,
        &format!(
            "{KUBE}ds = client.AppsV1Api().list_namespaced_deployment('kube-system').items\n\
print(' '.join(a for d in ds for c in d.spec.template.spec.containers for a in (c.command or []) + (c.args or [])))\n"
        ),
    )
    .unwrap_or_default()
}

/// The autoscaler's Hetzner configuration as the provider wrote it (`HCLOUD_CLUSTER_CONFIG`).
fn cluster_config(w: &Workdir) -> Value {
    let encoded = python::run(
        w,
        &format!(
            "{KUBE}s = client.CoreV1Api().read_namespaced_secret('hk8s-cluster-autoscaler', 'kube-system')\n\
print(base64.b64decode(s.data['HCLOUD_CLUSTER_CONFIG']).decode())\n"
        ),
    )
    .expect("the tools venv");
    let json = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .expect("the variable is base64");
    serde_json::from_slice(&json).expect("the variable is JSON")
}

fn snapshot_of(world: &World, version: &str) -> i64 {
    world
        .list(
            &format!("/images?type=snapshot&label_selector=hk8s.io/talos-version%3D{version}"),
            "images",
        )
        .iter()
        .find(|i| i["architecture"] == "x86")
        .and_then(|i| i["id"].as_i64())
        .expect("an x86 snapshot of the version")
}

#[test]
fn an_autoscaled_pool_grows_upgrades_shrinks_and_leaves_nothing() {
    if support::venv_python().is_none() {
        assert!(
            !support::tools_required(),
            "make test requires the tools venv"
        );
        return; // the scenario needs pods, made with the official Python client
    }
    let tf = newest();
    let world = World::start(83, &["v1.13.9", "v1.13.10"], |_| {});

    // The pool alone: a plan-time warning says what to add; the apply publishes the group.
    let w = Workdir::new(&tf, &config(&world, "v1.13.9", 4, ""));
    w.run_ok(&["init", "-no-color"]);
    apply(&w);
    let plan = squash(&w.run(&["plan", "-no-color", "-input=false"]));
    assert!(
        plan.contains("No cluster-autoscaler runs in the cluster")
            && plan.contains("name = \"cluster-autoscaler\""),
        "{plan}"
    );
    let written = cluster_config(&w);
    let group = &written["nodeConfigs"]["grow-burst"];
    assert_eq!(group["labels"]["example.com/tier"], "burst");
    assert_eq!(group["serverLabels"]["hk8s.io/pool"], "burst");
    assert_eq!(group["serverLabels"]["hk8s.io/cluster"], "grow");
    assert_eq!(
        written["imagesForArch"]["amd64"],
        snapshot_of(&world, "v1.13.9").to_string()
    );
    assert!(
        written["nodeConfigs"]["grow-base"].is_null(),
        "fixed pools are no group"
    );

    // With the add-on: no warning, an empty plan, no server yet (min 0, no pod waiting).
    w.write_main(&config(&world, "v1.13.9", 4, AUTOSCALER));
    apply(&w);
    let plan = squash(&w.run(&["plan", "-no-color", "-input=false"]));
    assert!(!plan.contains("No cluster-autoscaler"), "{plan}");
    plan_is_empty(&w);
    assert!(group_servers(&world).is_empty());

    // Pods that fit on no node: the pool grows (never beyond max) and they run.
    burst(&w, 4);
    wait_for(
        &world,
        || burst_pods(&w).0 == 4,
        &format!("every burst pod running ({})", pod_conditions(&w)),
    );
    let servers = group_servers(&world);
    assert!(
        (1..=4).contains(&servers.len()),
        "{} servers",
        servers.len()
    );
    for server in &servers {
        let name = server["name"].as_str().unwrap_or_default();
        assert!(name.starts_with("grow-burst-"), "{name}");
        assert_eq!(server["labels"]["hk8s.io/pool"], "burst");
        assert_eq!(server["image"]["id"], snapshot_of(&world, "v1.13.9"));
    }
    // The cluster firewall covers them (it applies by the cluster label they carry).
    cluster::assert_no_public_inbound(&world, "grow");
    let (_, _, nodes) = burst_pods(&w);
    assert!(
        nodes.iter().any(|n| n.starts_with("grow-burst-")),
        "{nodes:?}"
    );
    // Terraform does not fight it: the plan right after is empty and the pool reports them.
    plan_is_empty(&w);
    w.run_ok(&["apply", "-refresh-only", "-auto-approve", "-no-color"]);
    assert_eq!(
        burst_state(&w)["node_count"],
        group_servers(&world).len(),
        "refresh reports the autoscaler's nodes"
    );

    // Changing max updates the configuration in place.
    w.write_main(&config(&world, "v1.13.9", 5, AUTOSCALER));
    let plan = squash(&w.run(&["plan", "-no-color", "-input=false"]));
    assert!(
        plan.contains("0 to add, 1 to change, 0 to destroy"),
        "{plan}"
    );
    apply(&w);
    plan_is_empty(&w);
    wait_for(
        &world,
        || autoscaler_args(&w).contains("--nodes=0:5:cx23:fsn1:grow-burst"),
        "the autoscaler running with max 5",
    );

    // A Talos upgrade rolls the autoscaler's nodes, and its new servers boot the new snapshot.
    w.write_main(&config(&world, "v1.13.10", 5, AUTOSCALER));
    apply(&w);
    w.run_ok(&["apply", "-refresh-only", "-auto-approve", "-no-color"]);
    assert_eq!(burst_versions(&w), "v1.13.10");
    assert_eq!(
        cluster_config(&w)["imagesForArch"]["amd64"],
        snapshot_of(&world, "v1.13.10").to_string()
    );
    plan_is_empty(&w);

    // The pods gone, the idle nodes go back down to min (0).
    python::run(
        &w,
        &format!("{KUBE}client.AppsV1Api().delete_namespaced_deployment('burst', 'default')\n"),
    );
    wait_for(
        &world,
        || group_servers(&world).is_empty(),
        "the pool back at min",
    );
    plan_is_empty(&w);
    w.run_ok(&["apply", "-refresh-only", "-auto-approve", "-no-color"]);
    assert_eq!(burst_state(&w)["node_count"], 0);

    // Grown again, then the pool removed while the autoscaler runs with pods pending: its
    // servers go and no new one is made for the pool.
    burst(&w, 3);
    wait_for(
        &world,
        || !group_servers(&world).is_empty(),
        "the pool growing again",
    );
    w.write_main(&without_pool(&world));
    apply(&w);
    assert!(group_servers(&world).is_empty());
    // No autoscaled pool is left, so the chart renders no autoscaler at all; pods still wait,
    // and in ten of its scan intervals nothing is made for the pool.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert!(
        group_servers(&world).is_empty(),
        "a server was made for a removed pool"
    );
    assert_eq!(
        world.state()["kubernetes"][0]["autoscaler"]["enabled"],
        false
    );
    assert!(burst_pods(&w).1 > 0, "pods still wait for room");

    // Grown again, then destroyed: nothing is left, the autoscaler's servers included.
    w.write_main(&config(&world, "v1.13.10", 5, AUTOSCALER));
    apply(&w);
    wait_for(
        &world,
        || !group_servers(&world).is_empty(),
        "the pool growing once more",
    );
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        world.labelled("grow").is_empty(),
        "{:?}",
        world.labelled("grow")
    );
    assert!(group_servers(&world).is_empty());
}

#[test]
fn the_autoscaling_example_applies_as_written() {
    let tf = newest();
    let world = World::start(84, &["v1.13.9"], |_| {});
    let w = Workdir::from_example(&tf, "examples/autoscaling")
        .env("HCLOUD_TOKEN", cluster::world::TOKEN)
        .env("HCLOUD_ENDPOINT", &world.endpoint);
    w.run_ok(&["init", "-no-color"]);
    apply(&w);
    plan_is_empty(&w);
    // `min = 1`: the autoscaler brings the pool to it with no pod waiting.
    wait_for(
        &world,
        || {
            !world
                .list(
                    "/servers?label_selector=hcloud/node-group%3Dscale-elastic",
                    "servers",
                )
                .is_empty()
        },
        "the pool at min",
    );
    plan_is_empty(&w);
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        world.labelled("scale").is_empty(),
        "{:?}",
        world.labelled("scale")
    );
}
