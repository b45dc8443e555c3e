//! OS upgrades, through the API the node's Talos version offers.
//!
//! Talos 1.13 replaced `MachineService.Upgrade` (pull, install and reboot in one call) with
//! `ImageService.Pull` + `LifecycleService.Upgrade` (install only) followed by a separate
//! `Reboot`, which is what `talosctl upgrade` does from 1.13 on. The caller knows the node's
//! version contract and says which API to use; nothing is guessed from a failed call.

use super::Node;
use super::error::{Error, Rpc};
use super::machine::RebootMode;
use super::proto::{common, machine as wire};
use super::reply::{self, status_error};

/// Which upgrade API the node speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpgradeApi {
    /// Talos 1.13 and later: `ImageService.Pull`, `LifecycleService.Upgrade`, then `Reboot`.
    Lifecycle,
    /// Talos 1.12 and older: `MachineService.Upgrade`, after which the node reboots by itself.
    MachineService,
}

/// An upgrade to perform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// The installer image, e.g. `factory.talos.dev/installer/<schematic>:v1.13.9`.
    pub image: String,
    /// The API to use (from the node's current Talos version).
    pub api: UpgradeApi,
    /// How the node reboots into the new version.
    pub reboot_mode: RebootMode,
}

/// What the node reported about an upgrade it accepted. The node reboots afterwards in both
/// cases; waiting for it to come back is the caller's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpgradeOutcome {
    /// [`UpgradeApi::Lifecycle`]: the image was pulled and installed, and a reboot requested.
    Installed {
        /// The pulled image, as containerd names it.
        image: String,
        /// The installer's progress messages.
        installer_output: Vec<String>,
    },
    /// [`UpgradeApi::MachineService`]: the node accepted the upgrade and carries it out alone.
    Accepted {
        /// Talos' acknowledgement message.
        ack: String,
    },
}

/// The containerd instance `talosctl upgrade` uses by default (`--namespace system`).
fn system_containerd() -> common::ContainerdInstance {
    common::ContainerdInstance {
        driver: common::ContainerDriver::Cri.into(),
        namespace: common::ContainerdNamespace::NsSystem.into(),
    }
}

impl Node {
    /// Upgrades the node's OS to `request.image` (see [`UpgradeApi`] for the calls made). Each
    /// call has its own deadline ([`Node::with_deadline`] sets all of them).
    pub async fn upgrade(&self, request: &UpgradeRequest) -> Result<UpgradeOutcome, Error> {
        match request.api {
            UpgradeApi::Lifecycle => {
                let image = self.pull_image(&request.image).await?;
                let installer_output = self.install_upgrade(&image).await?;
                self.reboot(request.reboot_mode).await?;
                Ok(UpgradeOutcome::Installed {
                    image,
                    installer_output,
                })
            }
            UpgradeApi::MachineService => self.legacy_upgrade(request).await,
        }
    }

    /// `ImageService.Pull`: returns the pulled image's name once the stream reports it.
    async fn pull_image(&self, image: &str) -> Result<String, Error> {
        use wire::image_service_pull_response::Response;
        let (rpc, target) = (Rpc::ImagePull, self.target());
        let message = wire::ImageServicePullRequest {
            containerd: Some(system_containerd()),
            image_ref: image.to_owned(),
        };
        self.call(rpc, |remaining| {
            let mut service = self.image_service();
            let request = self.request(message.clone(), remaining);
            async move {
                let failed = |status| status_error(rpc, target, status);
                let mut stream = service.pull(request).await.map_err(failed)?.into_inner();
                while let Some(reply) = stream.message().await.map_err(failed)? {
                    if let Some(Response::Name(name)) = reply.response {
                        return Ok(name);
                    }
                }
                Err(Error::UnexpectedReply {
                    rpc,
                    target,
                    problem: "the pull stream ended before naming the pulled image",
                })
            }
        })
        .await
    }

    /// `LifecycleService.Upgrade`: installs the pulled image; returns the installer's output.
    async fn install_upgrade(&self, image_name: &str) -> Result<Vec<String>, Error> {
        use wire::lifecycle_service_install_progress::Response;
        let (rpc, target) = (Rpc::LifecycleUpgrade, self.target());
        let message = wire::LifecycleServiceUpgradeRequest {
            containerd: Some(system_containerd()),
            source: Some(wire::InstallArtifactsSource {
                image_name: image_name.to_owned(),
            }),
        };
        self.call(rpc, |remaining| {
            let mut service = self.lifecycle_service();
            let request = self.request(message.clone(), remaining);
            async move {
                let failed = |status| status_error(rpc, target, status);
                let mut stream = service.upgrade(request).await.map_err(failed)?.into_inner();
                let mut output = Vec::new();
                while let Some(reply) = stream.message().await.map_err(failed)? {
                    match reply.progress.and_then(|p| p.response) {
                        Some(Response::Message(line)) => output.push(line),
                        Some(Response::ExitCode(0)) => return Ok(output),
                        Some(Response::ExitCode(exit_code)) => {
                            return Err(Error::UpgradeFailed { target, exit_code });
                        }
                        None => {}
                    }
                }
                Err(Error::UnexpectedReply {
                    rpc,
                    target,
                    problem: "the upgrade stream ended without an exit code",
                })
            }
        })
        .await
    }

    /// `MachineService.Upgrade` (Talos 1.12 and older).
    async fn legacy_upgrade(&self, upgrade: &UpgradeRequest) -> Result<UpgradeOutcome, Error> {
        let (rpc, target) = (Rpc::MachineUpgrade, self.target());
        let reboot_mode = match upgrade.reboot_mode {
            RebootMode::Default => wire::upgrade_request::RebootMode::Default,
            RebootMode::Powercycle => wire::upgrade_request::RebootMode::Powercycle,
        };
        let message = wire::UpgradeRequest {
            image: upgrade.image.clone(),
            reboot_mode: reboot_mode.into(),
            ..Default::default()
        };
        let reply = self
            .call(rpc, |remaining| {
                let mut service = self.machine_service();
                let request = self.request(message.clone(), remaining);
                async move {
                    #[allow(deprecated)] // The only upgrade API Talos 1.12 has.
                    let reply = service
                        .upgrade(request)
                        .await
                        .map_err(|status| status_error(rpc, target, status))?;
                    reply::single(rpc, target, reply.into_inner().messages)
                }
            })
            .await?;
        Ok(UpgradeOutcome::Accepted { ack: reply.ack })
    }
}
