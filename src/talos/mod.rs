//! Talos Linux without talosctl: versions and the version contract, the secrets bundle (PKI),
//! machine configuration per contract, strategic-merge patches, Hetzner user data, and client
//! credentials (talosconfig, admin kubeconfig). Knows nothing of Terraform.

pub mod apid;
pub mod config;
pub mod patch;
pub mod pki;
pub mod secrets;
pub mod userdata;
pub mod version;
pub mod yaml;

#[cfg(test)]
mod test_tools;
