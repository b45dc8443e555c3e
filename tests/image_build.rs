//! Talos snapshots built by the provider, end to end: real Terraform against an hk8s-sim that
//! starts with no Talos snapshot at all. The builds go through the sim's rescue systems (SSH on
//! port 22 of each server's loopback address) and its Image Factory stand-in, whose disk images
//! decide what a snapshot boots, whatever its labels say.

mod cluster;
mod support;

use std::time::{Duration, Instant};

use cluster::plan_is_empty;
use cluster::world::{TOKEN, World};
use serde_json::Value;
use support::{Workdir, terraforms};

const SCHEMATIC_ISCSI: &str = "customization:\n  systemExtensions:\n    officialExtensions:\n      - siderolabs/iscsi-tools\n";

fn newest() -> Option<support::Terraform> {
    // Rescue systems listen on port 22: without the right to bind it, no build can run.
    // (Tests probe at once: only a refusal of the privilege counts, not the address in use.)
    if std::net::TcpListener::bind("127.75.255.254:22")
        .is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied)
    {
        support::missing_tool(
            "the right to bind port 22 (root or CAP_NET_BIND_SERVICE, for the sim's rescue SSH servers)",
        );
        return None;
    }
    terraforms().into_iter().next()
}

/// A provider block pointing at the sim and its Image Factory, and a cluster `name` whose
/// control plane is `server_type`; `extra` goes inside the cluster block, `rest` after it.
fn config(world: &World, name: &str, server_type: &str, extra: &str, rest: &str) -> String {
    format!(
        r#"
terraform {{
  required_providers {{
    hk8s = {{ source = "hk8s/hk8s" }}
  }}
}}
provider "hk8s" {{
  hcloud_endpoint   = "{endpoint}"
  hcloud_token      = "{TOKEN}"
  image_factory_url = "{factory}"
  poll_interval     = "100ms"
}}
resource "hk8s_cluster" "main" {{
  name               = "{name}"
  location           = "fsn1"
  talos_version      = "v1.13.9"
  kubernetes_version = "1.35.0"
  control_plane = {{
    server_type = "{server_type}"
    count       = 1
  }}
  timeouts = {{ create = "5m", update = "5m", delete = "3m" }}
{extra}
}}
{rest}
"#,
        endpoint = world.endpoint,
        factory = world.factory,
    )
}

fn pool(name: &str, server_type: &str) -> String {
    format!(
        r#"
resource "hk8s_node_pool" "{name}" {{
  cluster     = hk8s_cluster.main.connection
  name        = "{name}"
  server_type = "{server_type}"
  node_count  = 1
  timeouts    = {{ create = "5m", update = "5m", delete = "3m" }}
}}
"#
    )
}

fn snapshots(world: &World) -> Vec<Value> {
    world.list("/images?type=snapshot", "images")
}

/// The `hk8s.io/schematic` label value of a schematic id.
fn label_of(schematic: &str) -> String {
    hk8s::hcloud::labels::schematic_value(schematic)
}

/// (arch label, schematic label) of every snapshot, sorted.
fn snapshot_keys(world: &World) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = snapshots(world)
        .iter()
        .map(|i| {
            let label = |k: &str| i["labels"][k].as_str().unwrap_or("(none)").to_owned();
            (label("hk8s.io/arch"), label("hk8s.io/schematic"))
        })
        .collect();
    keys.sort();
    keys
}

/// What a build leaves when it does not clean up: its servers and SSH keys.
fn build_leftovers(world: &World) -> Vec<String> {
    let selector = "label_selector=hk8s.io/role%3Dimage-build";
    let mut found: Vec<String> = world
        .list(&format!("/servers?{selector}"), "servers")
        .iter()
        .map(|s| format!("server {}", s["name"].as_str().unwrap_or("?")))
        .collect();
    found.extend(
        world
            .list(&format!("/ssh_keys?{selector}"), "ssh_keys")
            .iter()
            .map(|k| format!("ssh_key {}", k["name"].as_str().unwrap_or("?"))),
    );
    found.extend(
        world
            .list("/ssh_keys", "ssh_keys")
            .iter()
            .filter(|k| {
                k["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with("hk8s-image-"))
            })
            .map(|k| format!("ssh_key {}", k["name"].as_str().unwrap_or("?"))),
    );
    found.sort();
    found.dedup();
    found
}

fn downloads(world: &World) -> u64 {
    world.stats()["factory_downloads"].as_u64().unwrap_or(0)
}

/// The snapshot each server of cluster `name` booted from.
fn booted_images(world: &World, name: &str) -> Vec<(String, i64)> {
    let mut out: Vec<(String, i64)> = world
        .list(
            &format!("/servers?label_selector=hk8s.io/cluster%3D{name}"),
            "servers",
        )
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap_or("?").to_owned(),
                s["image"]["id"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    out.sort();
    out
}

/// The schematic each Talos node of the sim runs, by server name.
fn node_schematics(world: &World) -> Vec<(String, String)> {
    let state = world.state();
    let mut out: Vec<(String, String)> = state["talos_nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|n| {
            (
                n["hostname"].as_str().unwrap_or("?").to_owned(),
                n["schematic"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

/// An arm64 control plane and an amd64 pool (its architecture listed in `image.architectures`,
/// so both build during the cluster's create) build exactly two snapshots and boot from them; a
/// second cluster reuses them; destroy leaves the snapshots and nothing of the builds.
#[test]
fn missing_snapshots_are_built_once_and_shared() {
    let Some(tf) = newest() else { return };
    let world = World::start(75, &[], |_| {});
    assert!(
        snapshots(&world).is_empty(),
        "the sim starts with no snapshot"
    );
    let first = Workdir::new(
        &tf,
        &config(
            &world,
            "first",
            "cax21",
            "  image = { architectures = [\"amd64\"] }\n",
            &pool("amd", "cx23"),
        ),
    );
    first.run_ok(&["apply", "-auto-approve", "-no-color"]);
    let default = label_of(hk8s::talos::factory::DEFAULT_SCHEMATIC);
    assert_eq!(
        snapshot_keys(&world),
        [
            ("amd64".to_owned(), default.clone()),
            ("arm64".to_owned(), default.clone())
        ],
        "one snapshot per architecture, labelled"
    );
    assert_eq!(downloads(&world), 2, "each image downloaded once");
    let ids: Vec<i64> = snapshots(&world)
        .iter()
        .filter_map(|i| i["id"].as_i64())
        .collect();
    for (server, image) in booted_images(&world, "first") {
        assert!(ids.contains(&image), "{server} boots a built snapshot");
    }
    for snapshot in snapshots(&world) {
        assert_eq!(snapshot["labels"]["hk8s.io/talos-version"], "v1.13.9");
        assert!(
            snapshot["description"]
                .as_str()
                .is_some_and(|d| d.contains("Talos v1.13.9") && d.contains("built by hk8s")),
            "{snapshot}"
        );
    }
    assert!(
        build_leftovers(&world).is_empty(),
        "{:?}",
        build_leftovers(&world)
    );
    plan_is_empty(&first);

    let second = Workdir::new(&tf, &config(&world, "second", "cax11", "", ""));
    second.run_ok(&["apply", "-auto-approve", "-no-color"]);
    assert_eq!(snapshots(&world).len(), 2, "the second cluster reuses them");
    assert_eq!(downloads(&world), 2);

    second.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    first.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(world.labelled("first").is_empty() && world.labelled("second").is_empty());
    assert_eq!(
        snapshots(&world).len(),
        2,
        "snapshots are kept for the next cluster"
    );
    assert!(build_leftovers(&world).is_empty());
}

/// Two applies at once that need the same snapshot build it once.
#[test]
fn concurrent_applies_build_each_snapshot_once() {
    let Some(tf) = newest() else { return };
    // The rescue systems refuse SSH for their first 20 s (sim time scaled): the builder retries.
    let world = World::start(76, &[], |c| {
        c.faults = "rescue_ssh_refused=2000".parse().expect("fault spec");
    });
    let a = Workdir::new(&tf, &config(&world, "one", "cx33", "", ""));
    let b = Workdir::new(
        &tf,
        &config(
            &world,
            "two",
            "cx33",
            "  image = { keep_snapshots = false }\n",
            "",
        ),
    );
    let mut first = a.spawn(&["apply", "-auto-approve", "-no-color"]);
    let mut second = b.spawn(&["apply", "-auto-approve", "-no-color"]);
    assert!(first.wait().expect("terraform runs").success());
    assert!(second.wait().expect("terraform runs").success());
    let default = label_of(hk8s::talos::factory::DEFAULT_SCHEMATIC);
    assert_eq!(snapshot_keys(&world), [("amd64".to_owned(), default)]);
    assert_eq!(downloads(&world), 1, "one build for both applies");
    assert!(build_leftovers(&world).is_empty());
    plan_is_empty(&a);
    plan_is_empty(&b);
    a.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert_eq!(snapshots(&world).len(), 1, "kept by default");
    b.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        snapshots(&world).is_empty(),
        "image.keep_snapshots = false deletes what no server boots from"
    );
}

/// A build that fails deletes its server and key, leaves no image, and says which step failed.
#[test]
fn failed_builds_name_the_step_and_leave_nothing() {
    let Some(tf) = newest() else { return };
    for (block, fault, step, detail) in [
        (
            79,
            "create_image_error=1",
            "failed at step \"snapshot the disk\"",
            "create_image",
        ),
        (
            80,
            "factory_download_error=1",
            "failed at step \"write the Image Factory image to the disk\"",
            "hcloud-amd64.raw.xz",
        ),
    ] {
        let world = World::start(block, &[], |c| {
            c.faults = fault.parse().expect("fault spec");
        });
        let w = Workdir::new(&tf, &config(&world, "failing", "cx33", "", ""));
        let out = w.run(&["apply", "-auto-approve", "-no-color"]);
        // Terraform wraps diagnostics in a box: words only.
        let stderr = String::from_utf8_lossy(&out.stderr)
            .replace('│', " ")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        assert!(!out.status.success(), "{fault}: the apply fails");
        assert!(
            stderr.contains(step) && stderr.contains(detail),
            "{fault}: {stderr}"
        );
        assert!(
            build_leftovers(&world).is_empty(),
            "{fault}: {:?}",
            build_leftovers(&world)
        );
        assert!(snapshots(&world).is_empty(), "{fault}: no image is left");
        assert!(
            world
                .list(
                    "/servers?label_selector=hk8s.io/cluster%3Dfailing",
                    "servers"
                )
                .is_empty(),
            "{fault}: no control plane was created without an image"
        );
        w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    }
}

/// An apply killed while its build server runs: the next apply deletes that server and key once
/// their heartbeat is stale, builds again and finishes.
#[test]
fn a_killed_build_is_cleaned_up_and_redone() {
    let Some(tf) = newest() else { return };
    let world = World::start(77, &[], |_| {});
    let w = Workdir::new(&tf, &config(&world, "killed", "cx33", "", ""));
    let mut child = w.spawn(&["apply", "-auto-approve", "-no-color"]);
    let started = Instant::now();
    while !build_leftovers(&world)
        .iter()
        .any(|o| o.starts_with("server "))
    {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no build server was created"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Workdir::kill(&mut child);
    let left = build_leftovers(&world);
    assert!(
        left.iter()
            .any(|o| o.starts_with("server hk8s-image-v1-13-9-")),
        "{left:?}"
    );

    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    assert!(
        build_leftovers(&world).is_empty(),
        "{:?}",
        build_leftovers(&world)
    );
    assert_eq!(snapshots(&world).len(), 1);
    plan_is_empty(&w);
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(world.labelled("killed").is_empty());
}

/// A schematic with an extension gets its own snapshot and installer, for the control plane and
/// a pool alike; changing it replaces every node with one booted from the new schematic's
/// snapshot.
#[test]
fn a_custom_schematic_gets_its_own_snapshots_installer_and_roll() {
    let Some(tf) = newest() else { return };
    let world = World::start(78, &[], |_| {});
    let with_schematic = |schematic: &str| {
        config(
            &world,
            "custom",
            "cx33",
            &format!("  image = {{ schematic = {schematic:?} }}\n"),
            &pool("web", "cx23"),
        )
    };
    let w = Workdir::new(&tf, &with_schematic(SCHEMATIC_ISCSI));
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    let keys = snapshot_keys(&world);
    assert_eq!(keys.len(), 1, "{keys:?}");
    let (arch, iscsi_label) = &keys[0];
    assert_eq!(arch, "amd64");
    // The label holds the id's first 63 characters (Hetzner's longest label value).
    let iscsi = &node_schematics(&world)[0].1.clone();
    assert_eq!(&label_of(iscsi), iscsi_label);
    assert_ne!(iscsi, hk8s::talos::factory::DEFAULT_SCHEMATIC);
    let both = |schematic: &str| {
        vec![
            ("custom-cp-1".to_owned(), schematic.to_owned()),
            ("custom-web-1".to_owned(), schematic.to_owned()),
        ]
    };
    assert_eq!(
        node_schematics(&world),
        both(iscsi),
        "the control plane and the pool run the image written from the schematic"
    );
    for server in world.list(
        "/servers?label_selector=hk8s.io/cluster%3Dcustom",
        "servers",
    ) {
        assert_eq!(
            server["labels"]["hk8s.io/schematic"],
            label_of(iscsi).as_str()
        );
    }
    plan_is_empty(&w);

    // A patch upgrade goes through the schematic's installer: the node keeps its extension.
    w.write_main(&with_schematic(SCHEMATIC_ISCSI).replace("v1.13.9", "v1.13.10"));
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    assert_eq!(
        node_schematics(&world),
        both(iscsi),
        "both upgraded with the schematic's installer"
    );
    plan_is_empty(&w);

    // Another schematic: a new snapshot, and the node replaced by one booted from it.
    let util = "customization:\n  systemExtensions:\n    officialExtensions:\n      - siderolabs/util-linux-tools\n";
    w.write_main(&with_schematic(util).replace("v1.13.9", "v1.13.10"));
    let (_, plan) = w.plan_json(&[]);
    let warnings = support::plan_diagnostics(&plan);
    assert!(
        warnings.iter().any(|d| d["summary"]
            .as_str()
            .is_some_and(|s| s.contains("replacement"))
            && d["detail"]
                .as_str()
                .is_some_and(|t| t.contains("custom-cp-1"))),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|d| d["summary"]
            .as_str()
            .is_some_and(|s| s.contains("node pool"))
            && d["detail"]
                .as_str()
                .is_some_and(|t| t.contains("custom-web-1 will be replaced"))),
        "{warnings:?}"
    );
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    let nodes = node_schematics(&world);
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    assert!(
        nodes
            .iter()
            .all(|(name, _)| name != "custom-cp-1" && name != "custom-web-1"),
        "every node was replaced: {nodes:?}"
    );
    assert!(
        nodes.iter().all(|(_, s)| s == &nodes[0].1 && s != iscsi),
        "the new nodes run the new schematic: {nodes:?}"
    );
    // The upgrade created no server, so it built nothing: v1.13.9 with iscsi-tools (the first
    // node), v1.13.10 with util-linux-tools (its replacement).
    let mut built: Vec<(String, String)> = snapshots(&world)
        .iter()
        .map(|i| {
            (
                i["labels"]["hk8s.io/talos-version"]
                    .as_str()
                    .unwrap_or("?")
                    .to_owned(),
                i["labels"]["hk8s.io/schematic"]
                    .as_str()
                    .unwrap_or("?")
                    .to_owned(),
            )
        })
        .collect();
    built.sort();
    assert_eq!(
        built,
        [
            ("v1.13.10".to_owned(), label_of(&nodes[0].1)),
            ("v1.13.9".to_owned(), label_of(iscsi))
        ]
    );
    plan_is_empty(&w);
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(build_leftovers(&world).is_empty());
}
