//! The admin kubeconfig a control plane returns from the `Kubeconfig` RPC: a fresh client
//! certificate from the cluster's Kubernetes CA (CN=admin, O=system:masters), the cluster
//! endpoint as server, packed as Talos does (a .tar.gz holding one file, `kubeconfig`).

use std::io::Write;

use super::config::NodeConfig;
use super::pki::{self, PkiError};

/// Why the archive could not be made.
#[derive(Debug, thiserror::Error)]
pub enum KubeconfigError {
    /// The configuration has no Kubernetes CA key (a worker).
    #[error("no Kubernetes CA key on this node")]
    NoCaKey,
    /// Issuing the client certificate failed.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// Packing failed.
    #[error("cannot pack kubeconfig")]
    Pack(#[source] std::io::Error),
}

/// The kubeconfig YAML.
pub fn admin_kubeconfig(cfg: &NodeConfig) -> Result<String, KubeconfigError> {
    let key = cfg.kube_ca_key.as_deref().ok_or(KubeconfigError::NoCaKey)?;
    let (crt, client_key) = pki::issue_client(&cfg.kube_ca_crt, key, "admin", "system:masters")?;
    let name = &cfg.cluster_name;
    Ok(format!(
        "apiVersion: v1\nkind: Config\nclusters:\n    - name: {name}\n      cluster:\n        server: {server}\n        certificate-authority-data: {ca}\nusers:\n    - name: admin@{name}\n      user:\n        client-certificate-data: {crt}\n        client-key-data: {key}\ncontexts:\n    - context:\n        cluster: {name}\n        namespace: default\n        user: admin@{name}\n      name: admin@{name}\ncurrent-context: admin@{name}\n",
        server = cfg.endpoint,
        ca = pki::base64_of(&cfg.kube_ca_crt),
        crt = pki::base64_of(&crt),
        key = pki::base64_of(&client_key),
    ))
}

/// The `.tar.gz` holding `kubeconfig`.
pub fn admin_archive(cfg: &NodeConfig) -> Result<Vec<u8>, KubeconfigError> {
    let text = admin_kubeconfig(cfg)?;
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(text.len() as u64);
    header.set_mode(0o600);
    header.set_cksum();
    tar.append_data(&mut header, "kubeconfig", text.as_bytes())
        .map_err(KubeconfigError::Pack)?;
    let mut gz = tar.into_inner().map_err(KubeconfigError::Pack)?;
    gz.flush().map_err(KubeconfigError::Pack)?;
    gz.finish().map_err(KubeconfigError::Pack)
}
