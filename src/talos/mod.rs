//! Talos Linux without talosctl. Knows nothing of Terraform.
//!
//! - [`version`]: Talos/Kubernetes versions, the version contract (what each Talos minor changes)
//!   and the support matrix.
//! - [`secrets`]: the cluster secrets bundle (`talosctl gen secrets`), built on [`pki`].
//! - [`config`]: machine configuration per contract with the Hetzner settings; [`patch`]:
//!   strategic-merge patches; [`userdata`]: `base64(gzip(config))` for Hetzner.
//! - [`talosconfig`], [`kubeconfig`]: client credentials minted locally.
//! - [`yaml`]: the ordered YAML value all of the above read and write.
//! - [`apid`]: the Talos API (apid) gRPC client.
//! - [`factory`]: the Image Factory (schematic ids, disk and installer image names).

pub mod apid;
pub mod config;
pub mod factory;
pub mod kubeconfig;
pub mod ops;
pub mod patch;
pub mod pki;
pub mod secrets;
pub mod talosconfig;
pub mod userdata;
pub mod version;
pub mod yaml;

#[cfg(test)]
mod test_tools;
