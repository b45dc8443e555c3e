//! Machine lifecycle calls: `Version`, `ApplyConfiguration`, `Bootstrap`, `Reset`, `Reboot`.

use std::time::Duration;

use super::Node;
use super::error::{Error, Rpc};
use super::proto::machine as wire;
use super::reply::{self, status_error};

/// What a node reports about itself (`Version`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalosVersion {
    /// The node's hostname, as Talos put it in the reply metadata (empty when the node answered
    /// directly and Talos did not fill it in).
    pub hostname: String,
    /// The release tag, e.g. `v1.13.9`.
    pub tag: String,
    /// The source commit.
    pub sha: String,
    /// The architecture, e.g. `amd64`.
    pub arch: String,
    /// The platform Talos detected, e.g. `hcloud`.
    pub platform: String,
    /// The platform mode, e.g. `cloud`, `metal`, `container`.
    pub platform_mode: String,
}

impl From<wire::Version> for TalosVersion {
    fn from(reply: wire::Version) -> Self {
        let version = reply.version.unwrap_or_default();
        let platform = reply.platform.unwrap_or_default();
        Self {
            hostname: reply.metadata.map(|m| m.hostname).unwrap_or_default(),
            tag: version.tag,
            sha: version.sha,
            arch: version.arch,
            platform: platform.name,
            platform_mode: platform.mode,
        }
    }
}

/// How a new machine config takes effect (`ApplyConfiguration` mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// Apply without reboot when possible, reboot otherwise (Talos decides).
    Auto,
    /// Apply without reboot; Talos refuses changes that need one.
    NoReboot,
    /// Apply and reboot.
    Reboot,
    /// Store the config and apply it at the next reboot.
    Staged,
    /// Apply without reboot and roll back after `timeout` unless confirmed by another apply.
    Try {
        /// How long the trial config stays before Talos rolls it back.
        timeout: Duration,
    },
}

/// The mode Talos says it actually used (for [`ApplyMode::Auto`], the one it picked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppliedMode {
    /// Applied; the node reboots.
    Reboot,
    /// Applied without reboot.
    NoReboot,
    /// Stored for the next reboot.
    Staged,
    /// Applied on trial.
    Try,
    /// Talos echoed `AUTO` (it normally names the mode it picked).
    Auto,
}

/// An `ApplyConfiguration` request.
#[derive(Debug, Clone, Copy)]
pub struct ApplyConfiguration<'a> {
    /// The complete machine config (YAML, possibly multi-document). Secret: never logged.
    pub config: &'a [u8],
    /// How it should take effect.
    pub mode: ApplyMode,
    /// Validate and report what would happen, without applying anything.
    pub dry_run: bool,
}

/// What Talos did with an applied config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyOutcome {
    /// The mode Talos used.
    pub mode: AppliedMode,
    /// Talos' human-readable explanation (for dry runs, the changes it would make).
    pub mode_details: String,
    /// Validation warnings about the config.
    pub warnings: Vec<String>,
}

/// The result of `Bootstrap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootstrapOutcome {
    /// This call bootstrapped etcd.
    Bootstrapped,
    /// etcd already had data (Talos answered `AlreadyExists`): an earlier call did it.
    AlreadyBootstrapped,
}

/// How a node reboots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RebootMode {
    /// Kexec into the new kernel where supported, else a normal reboot.
    #[default]
    Default,
    /// A full power cycle (skips kexec).
    Powercycle,
}

impl RebootMode {
    fn to_wire(self) -> wire::reboot_request::Mode {
        match self {
            Self::Default => wire::reboot_request::Mode::Default,
            Self::Powercycle => wire::reboot_request::Mode::Powercycle,
        }
    }
}

/// What `Reset` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetOptions {
    /// Leave etcd (with Talos' etcd health checks) and drain before wiping. Required for a
    /// control plane node that should leave a running cluster cleanly.
    pub graceful: bool,
    /// Reboot after wiping (else the node powers off).
    pub reboot: bool,
    /// Labels of the system disk partitions to wipe (e.g. `STATE`, `EPHEMERAL`); empty wipes
    /// all of them.
    pub system_partitions_to_wipe: Vec<String>,
}

impl Default for ResetOptions {
    /// Graceful, power off, wipe every system partition (like `talosctl reset`).
    fn default() -> Self {
        Self {
            graceful: true,
            reboot: false,
            system_partitions_to_wipe: Vec::new(),
        }
    }
}

impl Node {
    /// The node's Talos version and platform. Works in maintenance mode too.
    pub async fn version(&self) -> Result<TalosVersion, Error> {
        let (rpc, target) = (Rpc::Version, self.target());
        let reply = self
            .call(rpc, |remaining| {
                let mut service = self.machine_service();
                let request = self.request((), remaining);
                async move {
                    let reply = service
                        .version(request)
                        .await
                        .map_err(|status| status_error(rpc, target, status))?;
                    reply::single(rpc, target, reply.into_inner().messages)
                }
            })
            .await?;
        Ok(reply.into())
    }

    /// Sends a machine config. Retried while Talos is busy (`FailedPrecondition`, e.g. another
    /// apply in progress) or unreachable; a config Talos rejects fails with `InvalidArgument`.
    pub async fn apply_configuration(
        &self,
        apply: ApplyConfiguration<'_>,
    ) -> Result<ApplyOutcome, Error> {
        let (rpc, target) = (Rpc::ApplyConfiguration, self.target());
        let (mode, try_mode_timeout) = match apply.mode {
            ApplyMode::Auto => (wire::apply_configuration_request::Mode::Auto, None),
            ApplyMode::NoReboot => (wire::apply_configuration_request::Mode::NoReboot, None),
            ApplyMode::Reboot => (wire::apply_configuration_request::Mode::Reboot, None),
            ApplyMode::Staged => (wire::apply_configuration_request::Mode::Staged, None),
            ApplyMode::Try { timeout } => (
                wire::apply_configuration_request::Mode::Try,
                Some(prost_types::Duration {
                    seconds: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
                    nanos: timeout.subsec_nanos().cast_signed(),
                }),
            ),
        };
        let message = wire::ApplyConfigurationRequest {
            data: apply.config.to_vec(),
            mode: mode.into(),
            dry_run: apply.dry_run,
            try_mode_timeout,
        };
        let reply = self
            .call(rpc, |remaining| {
                let mut service = self.machine_service();
                let request = self.request(message.clone(), remaining);
                async move {
                    let reply = service
                        .apply_configuration(request)
                        .await
                        .map_err(|status| status_error(rpc, target, status))?;
                    reply::single(rpc, target, reply.into_inner().messages)
                }
            })
            .await?;
        use wire::apply_configuration_request::Mode;
        let mode = match Mode::try_from(reply.mode) {
            Ok(Mode::Reboot) => AppliedMode::Reboot,
            Ok(Mode::NoReboot) => AppliedMode::NoReboot,
            Ok(Mode::Staged) => AppliedMode::Staged,
            Ok(Mode::Try) => AppliedMode::Try,
            Ok(Mode::Auto) => AppliedMode::Auto,
            Err(_) => {
                return Err(Error::UnexpectedReply {
                    rpc,
                    target,
                    problem: "the reply names an unknown apply mode",
                });
            }
        };
        Ok(ApplyOutcome {
            mode,
            mode_details: reply.mode_details,
            warnings: reply.warnings,
        })
    }

    /// Bootstraps etcd on this (control plane) node. Retried while Talos is not ready for it
    /// (`FailedPrecondition`); `AlreadyExists` means it was done before and counts as success.
    pub async fn bootstrap(&self) -> Result<BootstrapOutcome, Error> {
        let (rpc, target) = (Rpc::Bootstrap, self.target());
        let result = self
            .call(rpc, |remaining| {
                let mut service = self.machine_service();
                let request = self.request(wire::BootstrapRequest::default(), remaining);
                async move {
                    let reply = service
                        .bootstrap(request)
                        .await
                        .map_err(|status| status_error(rpc, target, status))?;
                    reply::all(rpc, target, &reply.into_inner().messages)
                }
            })
            .await;
        match result {
            Ok(()) => Ok(BootstrapOutcome::Bootstrapped),
            Err(err) if err.grpc_code() == Some(tonic::Code::AlreadyExists) => {
                Ok(BootstrapOutcome::AlreadyBootstrapped)
            }
            Err(err) => Err(err),
        }
    }

    /// Wipes the node (see [`ResetOptions`]). Talos answers before it starts; the node then
    /// goes away.
    pub async fn reset(&self, options: &ResetOptions) -> Result<(), Error> {
        let (rpc, target) = (Rpc::Reset, self.target());
        let message = wire::ResetRequest {
            graceful: options.graceful,
            reboot: options.reboot,
            system_partitions_to_wipe: options
                .system_partitions_to_wipe
                .iter()
                .map(|label| wire::ResetPartitionSpec {
                    label: label.clone(),
                    wipe: true,
                })
                .collect(),
            ..Default::default()
        };
        self.call(rpc, |remaining| {
            let mut service = self.machine_service();
            let request = self.request(message.clone(), remaining);
            async move {
                let reply = service
                    .reset(request)
                    .await
                    .map_err(|status| status_error(rpc, target, status))?;
                reply::all(rpc, target, &reply.into_inner().messages)
            }
        })
        .await
    }

    /// Reboots the node. Talos answers before it goes down.
    pub async fn reboot(&self, mode: RebootMode) -> Result<(), Error> {
        let (rpc, target) = (Rpc::Reboot, self.target());
        let message = wire::RebootRequest {
            mode: mode.to_wire().into(),
        };
        self.call(rpc, |remaining| {
            let mut service = self.machine_service();
            let request = self.request(message.clone(), remaining);
            async move {
                let reply = service
                    .reboot(request)
                    .await
                    .map_err(|status| status_error(rpc, target, status))?;
                reply::all(rpc, target, &reply.into_inner().messages)
            }
        })
        .await
    }
}
