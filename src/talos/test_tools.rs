//! Test helpers that check our output with independent tools (OpenSSL, the Kubernetes Python
//! client). Compiled only for tests.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Path of the OpenSSL binary used to cross-check certificates.
pub(crate) const OPENSSL: &str = "/usr/bin/openssl";

/// Runs `openssl <args>` with `stdin`, returning stdout; panics with stderr on failure.
pub(crate) fn openssl(args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(OPENSSL)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl must be installed at /usr/bin/openssl");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `openssl x509 -text -noout` of a PEM certificate.
pub(crate) fn x509_text(cert_pem: &str) -> String {
    openssl(&["x509", "-text", "-noout"], cert_pem)
}

/// Writes `contents` to `dir/name` and returns the path.
pub(crate) fn write(dir: &Path, name: &str, contents: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// `openssl verify -CAfile ca leaf` succeeds (with `-x509_strict`).
pub(crate) fn assert_chain_verifies(ca_pem: &str, leaf_pem: &str) {
    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "ca.pem", ca_pem);
    let leaf = write(dir.path(), "leaf.pem", leaf_pem);
    let out = openssl(
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            ca.to_str().unwrap(),
            leaf.to_str().unwrap(),
        ],
        "",
    );
    assert!(out.trim_end().ends_with(": OK"), "{out}");
}
