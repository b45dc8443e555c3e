//! Checks with the official Kubernetes Python client (PyPI `kubernetes`, in the tools venv) using
//! the cluster's `kubeconfig` output, as a user would.

use crate::support::{Workdir, venv_python};

/// Runs `script` with the cluster's kubeconfig path as `sys.argv[1]`; its stdout (`None` without the
/// tools venv).
pub fn run(w: &Workdir, script: &str) -> Option<String> {
    let python = venv_python()?;
    let kubeconfig = w.run_ok(&["output", "-raw", "kubeconfig"]);
    let path = w.path().join("kubeconfig.yaml");
    std::fs::write(&path, kubeconfig).expect("write kubeconfig");
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The client lists exactly `expected` as Ready nodes.
pub fn assert_ready_nodes(w: &Workdir, expected: &[&str]) {
    let script = "import sys\nfrom kubernetes import client, config\nconfig.load_kube_config(sys.argv[1])\nprint(' '.join(sorted(n.metadata.name for n in client.CoreV1Api().list_node().items if any(c.type == 'Ready' and c.status == 'True' for c in n.status.conditions))))\n";
    if let Some(out) = run(w, script) {
        assert_eq!(out, expected.join(" "));
    }
}

/// Every node's kubelet reports `version`.
pub fn assert_kubelet_versions(w: &Workdir, version: &str) {
    let script = "import sys\nfrom kubernetes import client, config\nconfig.load_kube_config(sys.argv[1])\nprint(' '.join(sorted(set(n.status.node_info.kubelet_version for n in client.CoreV1Api().list_node().items))))\n";
    if let Some(out) = run(w, script) {
        assert_eq!(out, version);
    }
}
