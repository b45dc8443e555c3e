//! The official Kubernetes Python client (PyPI `kubernetes`, in `$HK8S_VENV`) reads the sim's
//! Node objects: architecture, capacity, allocatable and pod CIDRs parse and say what the Rust
//! tests check. Skipped loudly without `HK8S_VENV` (an error with `HK8S_REQUIRE_TOOLS=1`).

use std::net::Ipv4Addr;

use serde_json::Value;

use super::support::{Cluster, Shape, named_worker_config};

/// The nodes as the Python client parsed them, or `None` when the venv is not there.
fn python_nodes(kubeconfig: &str) -> Option<Vec<Value>> {
    let Some(venv) = std::env::var_os("HK8S_VENV") else {
        assert!(
            std::env::var("HK8S_REQUIRE_TOOLS").as_deref() != Ok("1"),
            "HK8S_REQUIRE_TOOLS=1 but HK8S_VENV is not set"
        );
        eprintln!("\n!!! SKIPPED the Python kubernetes-client check: HK8S_VENV is not set !!!\n");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubeconfig");
    std::fs::write(&path, kubeconfig).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/kube_nodes.py");
    let out = std::process::Command::new(std::path::Path::new(&venv).join("bin/python"))
        .arg(script)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[tokio::test]
async fn the_python_client_lists_nodes_with_arch_capacity_and_pod_cidrs() {
    let mut c = Cluster::start(
        Ipv4Addr::new(127, 38, 0, 1),
        Shape {
            workers: 1,
            flannel: true,
        },
    )
    .await;
    let arm = c
        .add_worker("prod-arm-1", "cax31", named_worker_config("prod-arm-1"))
        .await;
    c.boot(arm).await;
    let kubeconfig = c.kubeconfig();
    // The client blocks; run it off the runtime while the sim keeps serving.
    let nodes = tokio::task::spawn_blocking(move || python_nodes(&kubeconfig))
        .await
        .unwrap();
    let Some(nodes) = nodes else {
        c.stop().await;
        return;
    };
    let summary: Vec<(String, String, String, String, String, String)> = nodes
        .iter()
        .map(|n| {
            let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (
                s(&n["metadata"]["name"]),
                s(&n["metadata"]["labels"]["kubernetes.io/arch"]),
                s(&n["status"]["nodeInfo"]["architecture"]),
                s(&n["status"]["capacity"]["cpu"]),
                s(&n["status"]["allocatable"]["memory"]),
                s(&n["spec"]["podCIDR"]),
            )
        })
        .collect();
    let names: Vec<&str> = summary.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["prod-arm-1", "prod-cp-1", "prod-general-1"]);
    // cax31: 8 cores, 16 GB (16384Mi − 384Mi − 100Mi for a worker).
    assert_eq!(
        (
            summary[0].1.as_str(),
            summary[0].2.as_str(),
            summary[0].3.as_str(),
            summary[0].4.as_str()
        ),
        ("arm64", "arm64", "8", "15900Mi")
    );
    assert_eq!(
        (summary[1].1.as_str(), summary[1].3.as_str()),
        ("amd64", "2")
    );
    let mut cidrs: Vec<&str> = summary.iter().map(|s| s.5.as_str()).collect();
    assert!(
        cidrs
            .iter()
            .all(|c| c.starts_with("10.244.") && c.ends_with(".0/24")),
        "{cidrs:?}"
    );
    cidrs.sort();
    cidrs.dedup();
    assert_eq!(cidrs.len(), 3);
    for n in &nodes {
        assert_eq!(
            n["spec"]["podCIDRs"],
            serde_json::json!([n["spec"]["podCIDR"]])
        );
        assert_eq!(n["status"]["capacity"]["pods"], "110");
    }
    c.stop().await;
}
