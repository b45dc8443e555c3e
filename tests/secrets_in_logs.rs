//! A full lifecycle under `TF_LOG=trace` (Terraform's core and the provider, everything they log)
//! leaves no secret in the log: create a cluster with a pool and the CSI driver (which generates
//! a LUKS passphrase), scale the pool, upgrade Talos, refresh, destroy; then the log is searched
//! for the Hetzner token, every value of the cluster's secrets bundle (CA and service-account
//! keys, bootstrap token, encryption secrets, the cluster secret), PEM material in any encoding,
//! the admin kubeconfig's and talosconfig's credentials, and the passphrase.

mod cluster;
mod support;

use cluster::hcl;
use cluster::world::{TOKEN, World};
use serde_json::Value;
use support::{Workdir, terraforms};

const CSI: &str = r#"
resource "hk8s_addon" "csi" {
  cluster    = hk8s_cluster.main.connection
  name       = "hcloud-csi"
  timeout    = "2m"
  depends_on = [hk8s_node_pool.web]
}
"#;

fn config(world: &World, talos: &str, workers: u32) -> String {
    format!(
        "{}{}{CSI}",
        hcl::cluster(&world.endpoint, "sec", 1, talos, "1.35.0", ""),
        hcl::pool("web", "cx23", workers, "")
    )
}

/// Attributes of the resource `kind.name` in the state file.
fn attributes(w: &Workdir, kind: &str) -> Value {
    let state = std::fs::read_to_string(w.path().join("terraform.tfstate")).expect("state");
    let state: Value = serde_json::from_str(&state).expect("state JSON");
    state["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["type"] == kind))
        .map(|r| r["instances"][0]["attributes"].clone())
        .unwrap_or_else(|| panic!("no {kind} in state"))
}

/// Every value of the secrets bundle's YAML (`key: value` lines) long enough to be a secret.
fn bundle_values(bundle: &str) -> Vec<String> {
    bundle
        .lines()
        .filter_map(|line| {
            line.split_once(": ")
                .map(|(_, v)| v.trim().trim_matches('"'))
        })
        .filter(|v| v.len() >= 16)
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_full_lifecycle_under_tf_log_trace_logs_no_secret() {
    let Some(tf) = terraforms().into_iter().next() else {
        return;
    };
    let world = World::start(91, &["v1.13.9"], |_| {});
    let log = tempfile::NamedTempFile::new().expect("log file");
    let w = Workdir::new(&tf, &config(&world, "v1.13.9", 1))
        .env("TF_LOG", "trace")
        .env("TF_LOG_PATH", &log.path().display().to_string());
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    let cluster = attributes(&w, "hk8s_cluster");
    let addon = attributes(&w, "hk8s_addon");

    w.write_main(&config(&world, "v1.13.9", 2));
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    w.write_main(&config(&world, "v1.13.10", 2));
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    w.run_ok(&["plan", "-refresh-only", "-no-color"]);
    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        world.labelled("sec").is_empty(),
        "{:?}",
        world.labelled("sec")
    );

    let logged = std::fs::read_to_string(log.path()).expect("log");
    // The log is the real one: both Terraform's core and the provider wrote to it, at trace.
    for sign in [
        "[TRACE]",
        "waiting for Hetzner actions",
        "ApplyResourceChange",
    ] {
        assert!(logged.contains(sign), "the log has no {sign:?}");
    }
    let bundle = cluster["secrets"].as_str().expect("secrets in state");
    let mut secrets: Vec<(String, String)> = bundle_values(bundle)
        .into_iter()
        .map(|v| ("a value of the secrets bundle".to_owned(), v))
        .collect();
    assert!(
        secrets.len() >= 8,
        "the bundle's values were found: {secrets:?}"
    );
    let passphrase = addon["encryption_passphrase"]
        .as_str()
        .expect("the CSI addon's passphrase");
    secrets.push(("the LUKS passphrase".into(), passphrase.to_owned()));
    secrets.push(("the Hetzner token".into(), TOKEN.to_owned()));
    for attribute in ["client_key", "kubeconfig", "talosconfig"] {
        let text = cluster[attribute].as_str().expect(attribute);
        // Each credential's longest line: a key or certificate, in whatever encoding it has.
        let longest = text
            .lines()
            .map(|l| l.trim().rsplit(' ').next().unwrap_or(""))
            .max_by_key(|l| l.len())
            .unwrap_or_default();
        assert!(longest.len() >= 40, "{attribute}: {longest}");
        secrets.push((attribute.into(), longest.to_owned()));
    }
    // PEM, raw or base64 (`-----BEGIN` is `LS0tLS1CRUdJTi` in base64).
    secrets.push(("PEM material".into(), "PRIVATE KEY".into()));
    secrets.push(("base64 PEM material".into(), "LS0tLS1CRUdJTi".into()));
    for (what, secret) in secrets {
        if let Some(at) = logged.find(&secret) {
            let line = logged[..at].lines().count();
            panic!("the TF_LOG=trace log holds {what} (line {line})");
        }
    }
}
