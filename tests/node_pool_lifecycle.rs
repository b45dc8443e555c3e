//! `hk8s_node_pool` end to end: real Terraform drives the provider against hk8s-sim, and the
//! tests check what a user would: the servers and placement groups in Hetzner, the nodes
//! Kubernetes reports Ready, empty plans after applies, and nothing left after destroy.
//! The scenarios test the provider's own logic and run with the newest CLI only.

mod cluster;
mod support;

use cluster::world::World;
use cluster::{assert_no_public_inbound, operator_talos, python, sha256_hex};
use cluster::{hcl, plan_is_empty};
use support::{Workdir, terraforms};

fn newest() -> support::Terraform {
    terraforms().into_iter().next().expect("a Terraform CLI")
}

fn config(world: &World, pools: &str) -> String {
    format!(
        "{}{pools}",
        hcl::cluster(&world.endpoint, "pools", 1, "v1.13.9", "1.35.0", "")
    )
}

/// Server names of pool `pool` of cluster `pools`, sorted by number.
fn pool_servers(world: &World, pool: &str) -> Vec<serde_json::Value> {
    let mut servers = world.list(
        &format!("/servers?label_selector=hk8s.io/cluster%3Dpools,hk8s.io/pool%3D{pool}"),
        "servers",
    );
    servers.sort_by_key(|s| {
        s["name"]
            .as_str()
            .and_then(|n| n.rsplit_once('-'))
            .and_then(|(_, i)| i.parse::<u32>().ok())
    });
    servers
}

fn names(servers: &[serde_json::Value]) -> Vec<String> {
    servers
        .iter()
        .map(|s| s["name"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// Members of each placement group of pool `pool`, by group name.
fn groups(world: &World, pool: &str) -> Vec<(String, usize)> {
    let mut out: Vec<(String, usize)> = world
        .list(
            &format!(
                "/placement_groups?label_selector=hk8s.io/cluster%3Dpools,hk8s.io/pool%3D{pool}"
            ),
            "placement_groups",
        )
        .iter()
        .map(|g| {
            (
                g["name"].as_str().unwrap_or("?").to_owned(),
                g["servers"].as_array().map_or(0, Vec::len),
            )
        })
        .collect();
    out.sort();
    out
}

/// `kubernetes.io/arch`, `status.nodeInfo.architecture`, the `example.com/tier` label and the
/// taints of node NODE, as the Kubernetes Python client reads them.
const NODE_FACTS: &str = r#"
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
n = client.CoreV1Api().read_node("NODE")
taints = [f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}" for t in (n.spec.taints or []) if t.key.startswith("example.com/")]
print(n.metadata.labels.get("kubernetes.io/arch"), n.status.node_info.architecture, n.metadata.labels.get("example.com/tier"), " ".join(taints))
"#;

/// An amd64 and an arm64 pool in one cluster; the amd64 pool grows from 0 to 12 nodes in one
/// location (two placement groups) and shrinks to 2; destroy leaves nothing.
#[test]
fn pools_of_both_architectures_scale_and_are_destroyed() {
    let world = World::start(52, &["v1.13.9"], |_| {});
    let tf = newest();
    let pools = |amd: u32| {
        format!(
            "{}{}",
            hcl::pool("amd", "cx23", amd, ""),
            hcl::pool(
                "arm",
                "cax11",
                1,
                "  labels = { \"example.com/tier\" = \"arm\" }\n  taints = [\"example.com/arch=arm64:NoSchedule\"]"
            )
        )
    };
    let w = Workdir::new(&tf, &config(&world, &pools(0)));
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    let arm = pool_servers(&world, "arm");
    assert_eq!(names(&arm), ["pools-arm-1"]);
    assert_eq!(arm[0]["server_type"]["name"], "cax11");
    assert_eq!(arm[0]["labels"]["hk8s.io/role"], "worker");
    assert!(pool_servers(&world, "amd").is_empty());
    python::assert_ready_nodes(&w, &["pools-arm-1", "pools-cp-1"]);
    if let Some(node) = python::run(&w, NODE_FACTS.replace("NODE", "pools-arm-1").as_str()) {
        assert_eq!(
            node, "arm64 arm64 arm example.com/arch=arm64:NoSchedule",
            "architecture of the server type, the pool's label and taint"
        );
    }
    let image = arm[0]["image"]["id"]
        .as_i64()
        .expect("booted from an image");
    let snapshot = world.list("/images?type=snapshot&architecture=arm", "images");
    assert!(
        snapshot.iter().any(|i| i["id"].as_i64() == Some(image)),
        "the arm64 pool boots the arm snapshot"
    );
    plan_is_empty(&w);

    w.write_main(&config(&world, &pools(12)));
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    let amd = pool_servers(&world, "amd");
    let expected: Vec<String> = (1..=12).map(|i| format!("pools-amd-{i}")).collect();
    assert_eq!(names(&amd), expected);
    assert!(amd.iter().all(|s| s["location"]["name"] == "fsn1"));
    assert!(
        amd.iter()
            .all(|s| s["server_type"]["architecture"] == "x86")
    );
    assert_eq!(
        groups(&world, "amd"),
        [
            ("pools-amd-fsn1-1".to_owned(), 10),
            ("pools-amd-fsn1-2".to_owned(), 2)
        ]
    );
    let mut ready: Vec<String> = expected.clone();
    ready.extend(["pools-arm-1".to_owned(), "pools-cp-1".to_owned()]);
    ready.sort();
    python::assert_ready_nodes(&w, &ready.iter().map(String::as_str).collect::<Vec<_>>());
    assert_no_public_inbound(&world, "pools");
    plan_is_empty(&w);

    w.write_main(&config(&world, &pools(2)));
    let plan = w.run_ok(&["plan", "-no-color"]);
    assert!(plan.contains("Node pool scale-down"), "{plan}");
    assert!(plan.contains("pools-amd-12, pools-amd-11"), "{plan}");
    let applies = |world: &World| -> u64 {
        world.stats()["talos_requests"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(method, _)| method.contains("ApplyConfiguration"))
            .map(|(_, n)| n.as_u64().unwrap_or(0))
            .sum()
    };
    let before = applies(&world);
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    // The nodes that stay already run everything: the roll after the scale-down reads them
    // (version, configuration, kubelet) and leaves them alone.
    assert_eq!(
        applies(&world),
        before,
        "no configuration was applied to the nodes that stay"
    );
    assert_eq!(
        names(&pool_servers(&world, "amd")),
        ["pools-amd-1", "pools-amd-2"]
    );
    assert_eq!(groups(&world, "amd"), [("pools-amd-fsn1-1".to_owned(), 2)]);
    python::assert_ready_nodes(
        &w,
        &["pools-amd-1", "pools-amd-2", "pools-arm-1", "pools-cp-1"],
    );
    plan_is_empty(&w);

    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(world.labelled("pools"), Vec::<String>::new());
}

/// Two replicas spread over the pool's two nodes, guarded by a PodDisruptionBudget that needs
/// `min_available` of them; prints the nodes the pods run on once both run.
const WORKLOAD: &str = r#"
import sys, time
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
apps, core, policy = client.AppsV1Api(), client.CoreV1Api(), client.PolicyV1Api()
labels = {"app": "web"}
apps.create_namespaced_deployment("default", client.V1Deployment(
    metadata=client.V1ObjectMeta(name="web"),
    spec=client.V1DeploymentSpec(replicas=2,
        selector=client.V1LabelSelector(match_labels=labels),
        template=client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels=labels),
            spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx")],
                # No cloud controller runs in this test: nodes keep the uninitialized taint.
                tolerations=[client.V1Toleration(key="node.cloudprovider.kubernetes.io/uninitialized", operator="Exists")])))))
policy.create_namespaced_pod_disruption_budget("default", client.V1PodDisruptionBudget(
    metadata=client.V1ObjectMeta(name="web"),
    spec=client.V1PodDisruptionBudgetSpec(min_available=2, selector=client.V1LabelSelector(match_labels=labels))))
for _ in range(600):
    pods = core.list_namespaced_pod("default", label_selector="app=web").items
    running = [p for p in pods if p.status.phase == "Running"]
    if len(running) == 2:
        print(" ".join(sorted(p.spec.node_name for p in running)))
        break
    time.sleep(0.1)
"#;

const RELAX_BUDGET: &str = r#"
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
client.PolicyV1Api().patch_namespaced_pod_disruption_budget("web", "default", {"spec": {"minAvailable": 1}})
"#;

/// A scale-down whose drain a PodDisruptionBudget blocks fails naming the budget and deletes
/// nothing; once the budget allows it, the next apply finishes the job.
#[test]
fn a_drain_blocked_by_a_disruption_budget_fails_then_finishes() {
    let world = World::start(53, &["v1.13.9"], |_| {});
    let tf = newest();
    let pool = |count: u32| {
        hcl::pool(
            "web",
            "cx23",
            count,
            "  update_strategy = { drain_timeout = \"10s\" }",
        )
    };
    let w = Workdir::new(&tf, &config(&world, &pool(2)));
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    let Some(placed) = python::run(&w, WORKLOAD) else {
        return; // no Python tools: HK8S_REQUIRE_TOOLS makes that an error elsewhere
    };
    assert_eq!(placed, "pools-web-1 pools-web-2", "one replica per node");

    w.write_main(&config(&world, &pool(1)));
    let out = w.run(&["apply", "-auto-approve", "-no-color"]);
    // Terraform wraps diagnostics: compare with whitespace collapsed.
    let stderr = String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(!out.status.success(), "the drain cannot finish");
    assert!(
        stderr.contains("Draining node pools-web-2 did not finish"),
        "{stderr}"
    );
    assert!(
        stderr.contains("The disruption budget web needs 2 healthy pods"),
        "{stderr}"
    );
    assert_eq!(
        names(&pool_servers(&world, "web")),
        ["pools-web-1", "pools-web-2"]
    );

    python::run(&w, RELAX_BUDGET);
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    assert_eq!(names(&pool_servers(&world, "web")), ["pools-web-1"]);
    let evictions = world.stats()["kube_requests"]["POST pods/eviction"]
        .as_u64()
        .unwrap_or(0);
    assert!(evictions >= 1, "the drain went through the eviction API");
    plan_is_empty(&w);
    // A pool destroyed alone drains onto the rest of the cluster.
    let spare = hcl::pool("spare", "cx23", 1, "");
    w.write_main(&config(&world, &format!("{}{spare}", pool(1))));
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    let before = world.stats()["kube_requests"]["POST pods/eviction"]
        .as_u64()
        .unwrap_or(0);
    w.write_main(&config(&world, &spare));
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    assert!(pool_servers(&world, "web").is_empty());
    let evictions = world.stats()["kube_requests"]["POST pods/eviction"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        evictions >= before + 2,
        "both pods of the pool were evicted: {before} → {evictions}"
    );
    // The whole cluster goes: no other node could take the pods, so nothing is drained.
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(world.labelled("pools"), Vec::<String>::new());
    let after = world.stats()["kube_requests"]["POST pods/eviction"]
        .as_u64()
        .unwrap_or(0);
    assert_eq!(
        after, evictions,
        "destroying the whole cluster drains nothing"
    );
}

fn server_ids(world: &World, pool: &str) -> Vec<i64> {
    pool_servers(world, pool)
        .iter()
        .filter_map(|s| s["id"].as_i64())
        .collect()
}

/// Talos version each of `nodes` runs, from the sim's view of the nodes.
fn talos_versions(world: &World, nodes: &[String]) -> Vec<String> {
    let state = world.state();
    nodes
        .iter()
        .map(|name| {
            state["talos_nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|n| n["hostname"] == name.as_str())
                .and_then(|n| n["version"].as_str())
                .unwrap_or("?")
                .to_owned()
        })
        .collect()
}

/// A `server_type` change replaces the nodes surge first; a Talos upgrade of the cluster rolls
/// the pool after the control plane; a pool whose state was lost is imported and the apply after
/// it changes no server.
#[test]
fn pool_rolls_server_type_and_talos_and_is_imported() {
    let world = World::start(54, &["v1.13.9", "v1.13.10"], |_| {});
    let tf = newest();
    let config = |talos: &str, server_type: &str| {
        format!(
            "{}{}",
            hcl::cluster(&world.endpoint, "pools", 1, talos, "1.35.0", ""),
            hcl::pool("web", server_type, 2, "")
        )
    };
    let w = Workdir::new(&tf, &config("v1.13.9", "cx23"));
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    assert_eq!(
        names(&pool_servers(&world, "web")),
        ["pools-web-1", "pools-web-2"]
    );
    let first_ids = server_ids(&world, "web");

    w.write_main(&config("v1.13.9", "cx33"));
    let plan = w.run_ok(&["plan", "-no-color"]);
    assert!(plan.contains("Rolling update of the node pool"), "{plan}");
    assert!(!plan.contains("must be replaced"), "{plan}");
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    let servers = pool_servers(&world, "web");
    // pools-web-3 joined before pools-web-1 left; the second replacement took the number
    // pools-web-1 freed (new nodes take the smallest free numbers).
    assert_eq!(names(&servers), ["pools-web-1", "pools-web-3"]);
    assert!(!server_ids(&world, "web").contains(&first_ids[0]));
    assert!(servers.iter().all(|s| s["server_type"]["name"] == "cx33"));
    python::assert_ready_nodes(&w, &["pools-cp-1", "pools-web-1", "pools-web-3"]);
    plan_is_empty(&w);

    w.write_main(&config("v1.13.10", "cx33"));
    let plan = w.run_ok(&["plan", "-no-color"]);
    assert!(
        plan.contains("cluster.talos_version: v1.13.9 → v1.13.10"),
        "{plan}"
    );
    let before = server_ids(&world, "web");
    // pools-web-1 as a roll interrupted after its drain leaves it (cordoned, annotated);
    // pools-web-3 cordoned by hand.
    let marked = python::run(&w, CORDON_AS_INTERRUPTED_ROLL);
    if marked.is_some() {
        assert_eq!(
            python::run(&w, SCHEDULING).as_deref(),
            Some("pools-web-1 cordoned marked; pools-web-3 cordoned unmarked")
        );
    }
    let puts = |world: &World| {
        world.stats()["requests"]["PUT /servers/{id}"]
            .as_u64()
            .unwrap_or(0)
    };
    let puts_before = puts(&world);
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    assert_eq!(
        puts(&world),
        puts_before,
        "the roll marks the nodes it drains in Kubernetes, spending no Hetzner request"
    );
    if marked.is_some() {
        assert_eq!(
            python::run(&w, SCHEDULING).as_deref(),
            Some("pools-web-1 schedulable unmarked; pools-web-3 cordoned unmarked"),
            "the node the roll drained is uncordoned, the one cordoned by hand stays so"
        );
        python::run(&w, UNCORDON_WEB_3);
    }
    let all: Vec<String> = ["pools-cp-1", "pools-web-1", "pools-web-3"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    assert_eq!(talos_versions(&world, &all), ["v1.13.10"; 3]);
    assert_eq!(
        server_ids(&world, "web"),
        before,
        "an upgrade keeps the servers"
    );
    python::assert_ready_nodes(&w, &["pools-cp-1", "pools-web-1", "pools-web-3"]);
    plan_is_empty(&w);

    w.run_ok(&["state", "rm", "hk8s_node_pool.web"]);
    w.run_ok(&["import", "-no-color", "hk8s_node_pool.web", "pools/web"]);
    let plan = w.run_ok(&["plan", "-no-color"]);
    assert!(!plan.contains("must be replaced"), "{plan}");
    assert!(!plan.contains("Rolling update"), "{plan}");
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    assert_eq!(
        server_ids(&world, "web"),
        before,
        "the import changed no server"
    );
    plan_is_empty(&w);

    // Labels and taints apply in place.
    w.write_main(&format!(
        "{}{}",
        hcl::cluster(&world.endpoint, "pools", 1, "v1.13.10", "1.35.0", ""),
        hcl::pool(
            "web",
            "cx33",
            2,
            "  labels = { \"example.com/tier\" = \"web\" }\n  taints = [\"example.com/arch=amd64:NoSchedule\"]"
        )
    ));
    let plan = collapsed(w.run_ok(&["plan", "-no-color"]).as_bytes());
    assert!(
        plan.contains("Configuration change applied to running nodes"),
        "{plan}"
    );
    assert!(!plan.contains("Rolling update"), "{plan}");
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    assert_eq!(server_ids(&world, "web"), before, "labels change no server");
    if let Some(node) = python::run(&w, NODE_FACTS.replace("NODE", "pools-web-3").as_str()) {
        assert_eq!(node, "amd64 amd64 web example.com/arch=amd64:NoSchedule");
    }
    plan_is_empty(&w);
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(world.labelled("pools"), Vec::<String>::new());
}

const CORDON_AS_INTERRUPTED_ROLL: &str = r#"
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
core = client.CoreV1Api()
core.patch_node("pools-web-1", {"spec": {"unschedulable": True},
    "metadata": {"annotations": {"hk8s.io/upgrading": "true"}}})
core.patch_node("pools-web-3", {"spec": {"unschedulable": True}})
print("marked")
"#;

const SCHEDULING: &str = r#"
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
core = client.CoreV1Api()
out = []
for name in ["pools-web-1", "pools-web-3"]:
    node = core.read_node(name)
    marked = "hk8s.io/upgrading" in (node.metadata.annotations or {})
    out.append(f"{name} {'cordoned' if node.spec.unschedulable else 'schedulable'} {'marked' if marked else 'unmarked'}")
print("; ".join(out))
"#;

const UNCORDON_WEB_3: &str = r#"
import sys
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
client.CoreV1Api().patch_node("pools-web-3", {"spec": {"unschedulable": None}})
print("ok")
"#;

/// Terraform and the provider killed with SIGKILL while a pool scales up, then applied again:
/// exactly the configured nodes, no duplicate server, an empty plan.
#[test]
fn scale_up_killed_midway_converges_without_duplicates() {
    let world = World::start(55, &["v1.13.9"], |_| {});
    let tf = newest();
    let w = Workdir::new(&tf, &config(&world, &hcl::pool("web", "cx23", 1, "")));
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    w.write_main(&config(&world, &hcl::pool("web", "cx23", 4, "")));
    let mut child = w.spawn(&["apply", "-auto-approve", "-no-color"]);
    let started = std::time::Instant::now();
    while pool_servers(&world, "web").len() < 2 {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "no server was created"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Workdir::kill(&mut child);

    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    assert_eq!(
        names(&pool_servers(&world, "web")),
        ["pools-web-1", "pools-web-2", "pools-web-3", "pools-web-4"]
    );
    plan_is_empty(&w);
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(world.labelled("pools"), Vec::<String>::new());
}

fn collapsed(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A location without capacity: the plan warns that the type cannot be ordered there, the apply
/// puts the nodes in the next listed location and says so, and a pool with no location that can
/// take it fails naming the type and the locations tried.
#[test]
fn capacity_shortage_warns_at_plan_and_moves_nodes_at_apply() {
    let world = World::start(56, &["v1.13.9"], |c| {
        c.faults = "location_disabled=hel1".parse().expect("fault spec");
    });
    let tf = newest();
    let web = hcl::pool("web", "cx23", 2, "  locations = [\"hel1\", \"fsn1\"]");
    let w = Workdir::new(&tf, &config(&world, &web));
    let plan = collapsed(w.run(&["plan", "-no-color"]).stdout.as_slice());
    assert!(
        plan.contains("Server type cx23 cannot be ordered everywhere"),
        "{plan}"
    );
    assert!(plan.contains("not available now in hel1"), "{plan}");
    let applied = w.run(&["apply", "-auto-approve", "-no-color"]);
    assert!(applied.status.success(), "{}", collapsed(&applied.stderr));
    let out = collapsed(&applied.stdout);
    assert!(
        out.contains("was created in fsn1 instead of hel1"),
        "the apply says where the node went: {out}"
    );
    let servers = pool_servers(&world, "web");
    assert_eq!(servers.len(), 2);
    assert!(servers.iter().all(|s| s["location"]["name"] == "fsn1"));
    plan_is_empty(&w);

    let stuck = hcl::pool("stuck", "cx23", 1, "  locations = [\"hel1\"]");
    w.write_main(&config(&world, &format!("{web}{stuck}")));
    let failed = w.run(&["apply", "-auto-approve", "-no-color"]);
    assert!(!failed.status.success());
    let err = collapsed(&failed.stderr);
    assert!(
        err.contains("No location has capacity for a pool server"),
        "{err}"
    );
    assert!(
        err.contains("server type cx23") && err.contains("hel1"),
        "{err}"
    );
    assert!(pool_servers(&world, "stuck").is_empty());
    w.write_main(&config(&world, &web));
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(world.labelled("pools"), Vec::<String>::new());
}

/// Hetzner's delete protection follows `delete_protection`, and destroy is refused while it is
/// set; a server deleted outside Terraform shows in the plan and the apply recreates it.
#[test]
fn protection_and_drift_of_a_pool() {
    let world = World::start(57, &["v1.13.9"], |_| {});
    let tf = newest();
    let pool = |protect: bool| {
        hcl::pool(
            "web",
            "cx23",
            2,
            &format!("  delete_protection = {protect}"),
        )
    };
    let w = Workdir::new(&tf, &config(&world, &pool(true)));
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    assert!(
        pool_servers(&world, "web")
            .iter()
            .all(|s| s["protection"]["delete"] == true)
    );
    let destroy = w.run(&["destroy", "-auto-approve", "-no-color"]);
    assert!(!destroy.status.success());
    assert!(
        collapsed(&destroy.stderr).contains("destroying it is refused"),
        "{}",
        collapsed(&destroy.stderr)
    );
    assert_eq!(pool_servers(&world, "web").len(), 2);

    w.write_main(&config(&world, &pool(false)));
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    let servers = pool_servers(&world, "web");
    assert!(servers.iter().all(|s| s["protection"]["delete"] == false));
    let gone = servers[1]["id"].as_i64().expect("id");
    let (status, _) = world.delete(&format!("/servers/{gone}"));
    assert!(status < 300, "deleted by hand: {status}");
    let plan = w.run(&["plan", "-detailed-exitcode", "-no-color"]);
    assert_eq!(
        plan.status.code(),
        Some(2),
        "the plan shows the missing node"
    );
    assert!(
        collapsed(&plan.stdout).contains("node_count"),
        "{}",
        collapsed(&plan.stdout)
    );
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    assert_eq!(
        names(&pool_servers(&world, "web")),
        ["pools-web-1", "pools-web-2"]
    );
    python::assert_ready_nodes(&w, &["pools-cp-1", "pools-web-1", "pools-web-2"]);
    plan_is_empty(&w);

    // A server powered off outside Terraform: the plan shows it, the apply powers it on.
    let off = pool_servers(&world, "web")[0]["id"].as_i64().expect("id");
    let (status, _) = world.post(&format!("/servers/{off}/actions/poweroff"));
    assert!(status < 300, "powered off by hand: {status}");
    let started = std::time::Instant::now();
    while pool_servers(&world, "web")[0]["status"] != "off" {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "never off"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let plan = w.run(&["plan", "-detailed-exitcode", "-no-color"]);
    assert_eq!(
        plan.status.code(),
        Some(2),
        "the plan shows the node that is off"
    );
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    let servers = pool_servers(&world, "web");
    assert_eq!(servers[0]["id"].as_i64(), Some(off), "the same server");
    assert_eq!(servers[0]["status"], "running");
    python::assert_ready_nodes(&w, &["pools-cp-1", "pools-web-1", "pools-web-2"]);
    plan_is_empty(&w);

    // A scale-down interrupted right after a node's reset: labelled leaving, reset (Talos powers
    // it off), not yet deleted. The refresh no longer counts it, yet the plan finishes the
    // removal, and the apply deletes that server and makes a new one, never powering it on.
    let half = pool_servers(&world, "web")[1].clone();
    let half_id = half["id"].as_i64().expect("id");
    cluster::leave_half_way(&world, &w, &half);
    let plan = w.run(&["plan", "-detailed-exitcode", "-no-color"]);
    assert_eq!(plan.status.code(), Some(2), "the plan finishes the removal");
    let shown = collapsed(&plan.stdout);
    assert!(
        shown.contains("Unfinished node removal") && shown.contains("pools-web-2"),
        "{shown}"
    );
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    let servers = pool_servers(&world, "web");
    assert_eq!(names(&servers), ["pools-web-1", "pools-web-2"]);
    assert_ne!(servers[1]["id"].as_i64(), Some(half_id), "a new server");
    python::assert_ready_nodes(&w, &["pools-cp-1", "pools-web-1", "pools-web-2"]);
    plan_is_empty(&w);

    // A node's configuration changed out of band (as `talosctl apply-config` would).
    let node_ip: std::net::IpAddr = pool_servers(&world, "web")[0]["private_net"][0]["ip"]
        .as_str()
        .expect("private IP")
        .parse()
        .expect("an address");
    let talos = operator_talos(&world, &w);
    let generated = world
        .block_on(talos.node(node_ip).machine_config())
        .expect("config");
    let text = String::from_utf8(generated.clone()).expect("YAML");
    let by_hand = text.replacen(
        "    features:\n",
        "    features:\n        nodeAddressSortAlgorithm: v2\n",
        1,
    );
    assert_ne!(by_hand, text);
    world
        .block_on(
            talos
                .node(node_ip)
                .apply_configuration(hk8s::talos::apid::ApplyConfiguration {
                    config: by_hand.as_bytes(),
                    mode: hk8s::talos::apid::ApplyMode::Auto,
                    dry_run: false,
                }),
        )
        .expect("applied by hand");
    let plan = w.run(&["plan", "-detailed-exitcode", "-no-color"]);
    assert_eq!(plan.status.code(), Some(2), "the plan shows the drift");
    let shown = collapsed(&plan.stdout);
    assert!(
        shown.contains("Node configuration changed outside Terraform")
            && shown.contains("pools-web-1"),
        "{shown}"
    );
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    let running = world
        .block_on(talos.node(node_ip).machine_config())
        .expect("config");
    assert_eq!(sha256_hex(&running), sha256_hex(&generated), "put back");
    plan_is_empty(&w);
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(world.labelled("pools"), Vec::<String>::new());
}
