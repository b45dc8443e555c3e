//! Credentials end to end, with every Terraform CLI the suite supports: the quickstart (its
//! `hk8s_kubeconfig` data source feeding an output) plans empty right after its apply, the
//! kubeconfig it gives works against the cluster, and after the state is lost `terraform import`
//! (the CLI command) adopts the cluster with the same configuration plus `secrets`: the apply
//! after it sends Hetzner no mutating request and the plan after that is empty.

mod cluster;
mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cluster::world::{TOKEN, World};
use support::{Terraform, Workdir, terraforms};

/// The data source's `ttl` in examples/quickstart; its credentials change every half of it.
const QUICKSTART_TTL: Duration = Duration::from_secs(8 * 3600);

/// examples/quickstart/main.tf as a user has it, made lean for the test machine: one control
/// plane instead of three, and fast polling for the sim's scaled-down latency. Everything else
/// (the provider configured from HCLOUD_* variables, the data source and its output) is the
/// example's own text.
fn quickstart() -> String {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart/main.tf"),
    )
    .expect("examples/quickstart/main.tf");
    let mut lean = text.clone();
    for (from, to) in [
        (
            "provider \"hk8s\" {}",
            "provider \"hk8s\" {\n  poll_interval = \"100ms\"\n}",
        ),
        ("    count       = 3\n", "    count       = 1\n"),
        (
            "    locations   = [\"fsn1\", \"nbg1\", \"hel1\"]\n",
            "    locations   = [\"fsn1\"]\n",
        ),
    ] {
        assert!(
            lean.contains(from),
            "examples/quickstart/main.tf no longer has {from:?}"
        );
        lean = lean.replace(from, to);
    }
    assert!(
        lean.contains("data \"hk8s_kubeconfig\" \"admin\"")
            && lean.contains("data.hk8s_kubeconfig.admin.kubeconfig"),
        "the quickstart feeds an output from the data source:\n{text}"
    );
    lean
}

/// The renewal window (half the TTL, counted from the Unix epoch) of the instant.
fn window(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).expect("after 1970").as_secs() / (QUICKSTART_TTL.as_secs() / 2)
}

/// `plan -detailed-exitcode` exits 0. The data source renews its credentials when a new renewal
/// window starts (every 4 hours of wall-clock time): a plan that straddles that boundary since
/// `since` shows the renewal, as it should, and is checked again after an apply.
fn assert_plan_empty(w: &Workdir, since: SystemTime) {
    let plan = || w.run(&["plan", "-detailed-exitcode", "-no-color", "-input=false"]);
    let mut out = plan();
    if out.status.code() == Some(2) && window(since) != window(SystemTime::now()) {
        w.run_ok(&["apply", "-auto-approve", "-no-color"]);
        out = plan();
    }
    assert_eq!(
        out.status.code(),
        Some(0),
        "the plan is not empty:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Hetzner requests other than GET (by route) between two `/_sim/stats` snapshots.
fn mutating_requests(before: &serde_json::Value, after: &serde_json::Value) -> Vec<String> {
    let count =
        |stats: &serde_json::Value, route: &str| stats["requests"][route].as_u64().unwrap_or(0);
    after["requests"]
        .as_object()
        .expect("stats list requests")
        .keys()
        .filter(|route| !route.starts_with("GET "))
        .filter(|route| count(after, route) > count(before, route))
        .map(|route| format!("{route} ×{}", count(after, route) - count(before, route)))
        .collect()
}

fn quickstart_plans_empty_and_survives_a_lost_state(tf: &Terraform, block: u8) {
    let world = World::start(block, &["v1.13.9"], |_| {});
    let env = |w: Workdir| {
        w.env("HCLOUD_ENDPOINT", &world.endpoint)
            .env("HCLOUD_TOKEN", TOKEN)
    };
    let original = env(Workdir::new(tf, &quickstart()));
    let started = SystemTime::now();
    original.run_ok(&["apply", "-auto-approve", "-no-color"]);
    assert_plan_empty(&original, started);
    // The data source's kubeconfig (the `kubeconfig` output) works against the cluster.
    cluster::python::assert_ready_nodes(&original, &["prod-cp-1"]);

    // The state is lost; the cluster is imported by name with its secrets in the configuration.
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(original.path().join("terraform.tfstate")).expect("state"),
    )
    .expect("state JSON");
    let secrets = state["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["type"] == "hk8s_cluster")
        .and_then(|r| r["instances"][0]["attributes"]["secrets"].as_str())
        .expect("secrets in state")
        .to_owned();
    let with_secrets = quickstart().replace(
        "  kubernetes_version = \"1.35.0\"\n",
        "  kubernetes_version = \"1.35.0\"\n  secrets            = file(\"${path.module}/secrets.yaml\")\n",
    );
    assert_ne!(
        with_secrets,
        quickstart(),
        "secrets added to the quickstart"
    );
    let adopted = env(Workdir::new(tf, &with_secrets));
    std::fs::write(adopted.path().join("secrets.yaml"), &secrets).expect("write secrets.yaml");
    let imported = adopted.run_ok(&["import", "-no-color", "hk8s_cluster.main", "prod"]);
    assert!(imported.contains("Import successful"), "{imported}");

    let before = world.stats();
    let started = SystemTime::now();
    adopted.run_ok(&["apply", "-auto-approve", "-no-color"]);
    let after = world.stats();
    assert_eq!(
        mutating_requests(&before, &after),
        Vec::<String>::new(),
        "the apply after the import changed Hetzner objects"
    );
    assert!(
        after["requests"]["GET /servers"].as_u64() > before["requests"]["GET /servers"].as_u64(),
        "the apply read the cluster: {after}"
    );
    assert_plan_empty(&adopted, started);
    cluster::python::assert_ready_nodes(&adopted, &["prod-cp-1"]);

    adopted.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        world.labelled("prod").is_empty(),
        "{:?}",
        world.labelled("prod")
    );
}

#[test]
fn quickstart_plans_empty_and_is_imported_with_terraform_1_15() {
    if let Some(tf) = terraforms()
        .into_iter()
        .find(|t| t.label == "terraform-1.15")
    {
        quickstart_plans_empty_and_survives_a_lost_state(&tf, 36);
    }
}

#[test]
fn quickstart_plans_empty_and_is_imported_with_terraform_1_11() {
    if let Some(tf) = terraforms()
        .into_iter()
        .find(|t| t.label == "terraform-1.11")
    {
        quickstart_plans_empty_and_survives_a_lost_state(&tf, 37);
    }
}
