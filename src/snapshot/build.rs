//! Finding a Talos snapshot, and building it when it is missing.
//!
//! A build: a temporary ed25519 key; a small server of the right architecture created powered
//! off from Ubuntu with that key; rescue mode (`linux64`) with the key; power on; SSH as root
//! (retried while the rescue system boots); wipe the disk; stream the Image Factory image onto
//! it (`wget | xz -d | dd`, with `pipefail` so that a failed download cannot pass as an empty
//! disk); shut down; snapshot the disk with the key's labels; delete server and key. Every
//! failure deletes the server and key and names the step; a later apply starts over.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::hcloud::catalog::Architecture;
use crate::hcloud::images::Image;
use crate::hcloud::labels::{self, Labels};
use crate::hcloud::rescue::RescueServerSpec;
use crate::hcloud::servers::{Server, ServerStatus};
use crate::hcloud::{Client, Error as HcloudError};
use crate::talos::factory::Factory;

use super::lock::{self, HEARTBEAT_LABEL};
use super::ssh::{RescueKey, Shell, SshError};
use super::{BUILD_ROLE, SnapshotKey};

/// The system image build servers start from (only its rescue system is used).
const BASE_IMAGE: &str = "ubuntu-24.04";
/// How long the rescue system may take to accept SSH after power-on.
const SSH_WAIT: Duration = Duration::from_secs(5 * 60);
/// How long writing the image may take (a ~1 GiB download, decompressed onto the disk).
const WRITE_LIMIT: Duration = Duration::from_secs(30 * 60);
/// How long a short command may take.
const COMMAND_LIMIT: Duration = Duration::from_secs(2 * 60);
/// How long `shutdown now` is given to be sent and acknowledged (its session never ends cleanly).
const SHUTDOWN_SEND: Duration = Duration::from_secs(5);
/// How long the server may take to power off after `shutdown`.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(3 * 60);
/// Locations tried after the preferred one (snapshots are usable in every location).
const FALLBACK_LOCATIONS: [&str; 3] = ["fsn1", "nbg1", "hel1"];

/// Which step of a build failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Listing snapshots and builds.
    Lookup,
    /// Uploading the temporary SSH key.
    CreateKey,
    /// Creating the temporary server.
    CreateServer,
    /// Enabling rescue mode.
    EnableRescue,
    /// Powering on into rescue.
    PowerOn,
    /// Logging in over SSH.
    Ssh,
    /// Writing the image to the disk.
    WriteImage,
    /// Shutting the server down.
    Shutdown,
    /// Snapshotting the disk.
    CreateImage,
    /// Waiting for another apply's build.
    WaitForOther,
}

impl Step {
    fn describe(self) -> &'static str {
        match self {
            Step::Lookup => "look up snapshots and running builds",
            Step::CreateKey => "upload the temporary SSH key",
            Step::CreateServer => "create the temporary server",
            Step::EnableRescue => "enable rescue mode",
            Step::PowerOn => "power on into the rescue system",
            Step::Ssh => "log in to the rescue system over SSH",
            Step::WriteImage => "write the Image Factory image to the disk",
            Step::Shutdown => "shut the server down",
            Step::CreateImage => "snapshot the disk",
            Step::WaitForOther => "wait for another apply's build",
        }
    }
}

/// A build that failed.
#[derive(Debug, thiserror::Error)]
#[error("building the {key} snapshot failed at step \"{}\": {message}", .step.describe())]
pub struct BuildError {
    /// The snapshot.
    pub key: String,
    /// The step.
    pub step: Step,
    /// What went wrong.
    pub message: String,
}

/// Times one step's action (enable rescue, power on) is started before the build fails.
const ACTION_ATTEMPTS: u32 = 3;

/// Builds tried by one apply before it reports the last one's failure.
const BUILD_ATTEMPTS: u32 = 3;

/// What a build needs.
#[derive(Debug, Clone)]
pub struct Builder {
    /// The Hetzner project (its deadline bounds the whole build).
    pub hcloud: Client,
    /// Where images come from.
    pub factory: Factory,
    /// Where to put the temporary server first (the cluster's location).
    pub location: String,
}

impl Builder {
    /// The id of an available snapshot for `key`: found, or waited for while another apply
    /// builds it, or built here.
    ///
    /// # Errors
    /// The step that failed.
    pub async fn ensure(&self, key: &SnapshotKey) -> Result<i64, BuildError> {
        let fail = |step: Step, message: String| BuildError {
            key: key.to_string(),
            step,
            message,
        };
        let deadline = self.hcloud.deadline().clone();
        let started = Instant::now();
        // Builds killed with their apply leave a server and a key that cost money; every
        // apply about to create servers clears them (two list requests), found snapshot or not.
        let mut swept = false;
        let mut living_builds: Option<Vec<crate::hcloud::servers::Server>> = None;
        let mut attempts = 0;
        loop {
            if deadline.is_expired() || deadline.is_cancelled() {
                return Err(fail(
                    Step::WaitForOther,
                    "the operation's time ran out".to_owned(),
                ));
            }
            if !swept {
                swept = true;
                let found = lock::sweep(&self.hcloud)
                    .await
                    .map_err(|e| fail(Step::Lookup, e.to_string()))?;
                if found.deleted > 0 {
                    tracing::info!(
                        deleted = found.deleted,
                        "cleaned up after interrupted snapshot builds"
                    );
                }
                living_builds = Some(found.living_of(&key.labels()));
            }
            // Builds first, snapshots second: a builder deletes its server only once the
            // snapshot is available, so a build that ends between the two lists still shows
            // up here, as its snapshot.
            let builds = match living_builds.take() {
                Some(builds) => builds,
                None => self
                    .hcloud
                    .list_servers(&key.build_selector())
                    .await
                    .map_err(|e| fail(Step::Lookup, e.to_string()))?,
            };
            let snapshots = self
                .hcloud
                .list_snapshots(&key.snapshot_selector(), key.architecture)
                .await
                .map_err(|e| fail(Step::Lookup, e.to_string()))?;
            if let Some(ready) = snapshots.iter().find(|i| i.is_available()) {
                return Ok(ready.id);
            }
            if let Some(creating) = snapshots.iter().find(|i| i.status == "creating") {
                tracing::info!(snapshot = creating.id, %key, elapsed_s = started.elapsed().as_secs(), "waiting for the snapshot being created");
                deadline.sleep(self.hcloud.poll_interval() * 5).await;
                continue;
            }
            if let Some(other) = builds.first() {
                if lock::is_stale(&other.labels) {
                    swept = false;
                    continue;
                }
                tracing::info!(server = %other.name, %key, elapsed_s = started.elapsed().as_secs(), remaining_s = deadline.time_left().as_secs(), "another apply is building the snapshot; waiting for it");
                // Two list requests a round: a tenth of the action polling rate keeps a
                // five-minute wait near a hundred requests.
                deadline.sleep(self.hcloud.poll_interval() * 10).await;
                continue;
            }
            attempts += 1;
            match self.build(key).await {
                Ok(Some(id)) => return Ok(id),
                Ok(None) => continue, // another apply took the lock first
                // A failed action (Hetzner fails a few in a hundred), a download broken off, a
                // rescue system that never answered: the build cleaned up after itself, so a
                // new one starts from nothing.
                Err(e) if attempts < BUILD_ATTEMPTS && !deadline.is_expired() => {
                    tracing::info!(%key, step = e.step.describe(), error = %e.message, attempt = attempts, of = BUILD_ATTEMPTS, "the snapshot build failed; building again");
                }
                Err(mut e) => {
                    if attempts > 1 {
                        e.message = format!("{} ({attempts} builds tried)", e.message);
                    }
                    return Err(e);
                }
            }
        }
    }

    /// One build; `Ok(None)` when another apply created the build server first.
    async fn build(&self, key: &SnapshotKey) -> Result<Option<i64>, BuildError> {
        let started = Instant::now();
        let progress = |step: Step| {
            tracing::info!(%key, step = step.describe(), elapsed_s = started.elapsed().as_secs(), "building a Talos snapshot");
        };
        let fail = |step: Step, message: String| BuildError {
            key: key.to_string(),
            step,
            message,
        };
        let mut labels = key.labels();
        labels.insert(labels::ROLE.to_owned(), BUILD_ROLE.to_owned());
        labels.insert(HEARTBEAT_LABEL.to_owned(), lock::now().to_string());

        progress(Step::CreateKey);
        let ssh_key = RescueKey::generate().map_err(|e| fail(Step::CreateKey, e.to_string()))?;
        let public = ssh_key
            .public_openssh()
            .map_err(|e| fail(Step::CreateKey, e.to_string()))?;
        let key_name = format!("{}-{:08x}", key.build_name(), rand::random::<u32>());
        let uploaded = self
            .hcloud
            .create_ssh_key(&key_name, &public, &labels)
            .await
            .map_err(|e| fail(Step::CreateKey, e.to_string()))?;

        progress(Step::CreateServer);
        let server = match self.create_server(key, &labels, uploaded.id).await {
            Ok(server) => server,
            Err(e) => {
                let lost = e.is_uniqueness();
                let _ = self.hcloud.delete_ssh_key(uploaded.id).await;
                if lost {
                    tracing::info!(%key, "another apply started the same build; waiting for it");
                    return Ok(None);
                }
                return Err(fail(Step::CreateServer, e.to_string()));
            }
        };
        let stop = CancellationToken::new();
        lock::keep_alive(self.hcloud.clone(), server.clone(), stop.clone());
        let result = self
            .write_and_snapshot(key, &server, &ssh_key, uploaded.id, &progress)
            .await;
        stop.cancel();
        // Cleanup runs whatever happened; its own failure is left to the next apply's sweep.
        if let Err(e) = self.hcloud.delete_servers(&[server.id]).await {
            tracing::warn!(server = %server.name, error = %e, "the build server could not be deleted; the next build's sweep deletes it");
        }
        if let Err(e) = self.hcloud.delete_ssh_key(uploaded.id).await {
            tracing::warn!(key = %key_name, error = %e, "the build's SSH key could not be deleted; the next build's sweep deletes it");
        }
        let image = result.map_err(|(step, message)| fail(step, message))?;
        tracing::info!(%key, snapshot = image.id, elapsed_s = started.elapsed().as_secs(), "Talos snapshot built");
        Ok(Some(image.id))
    }

    /// Creates the build server in the first (server type, location) that has capacity.
    async fn create_server(
        &self,
        key: &SnapshotKey,
        labels: &Labels,
        ssh_key: i64,
    ) -> Result<Server, HcloudError> {
        let types: &[&str] = match key.architecture {
            Architecture::X86 => &["cx23", "cpx11"],
            Architecture::Arm => &["cax11"],
        };
        let mut locations = vec![self.location.as_str()];
        locations.extend(FALLBACK_LOCATIONS.iter().filter(|l| **l != self.location));
        let mut last = None;
        for server_type in types {
            let info = self.hcloud.server_type(server_type).await?;
            for location in &locations {
                if info.as_ref().is_some_and(|i| {
                    i.capacity_in(location).is_some_and(|c| {
                        !matches!(c, crate::hcloud::lookups::Capacity::Deprecated { .. })
                    })
                }) {
                    continue;
                }
                let spec = RescueServerSpec {
                    name: key.build_name(),
                    server_type: (*server_type).to_owned(),
                    image: BASE_IMAGE.to_owned(),
                    location: (*location).to_owned(),
                    labels: labels.clone(),
                    ssh_key,
                };
                match self.hcloud.create_rescue_server(&spec).await {
                    Ok(pending) => {
                        let id = pending.value.id;
                        if let Err(e) = self
                            .hcloud
                            .wait_for_actions(
                                &format!("create server {}", spec.name),
                                pending.actions,
                            )
                            .await
                        {
                            let _ = self.hcloud.delete_servers(&[id]).await;
                            return Err(e);
                        }
                        return Ok(pending.value);
                    }
                    Err(e) if e.is_unavailable() => last = Some(e),
                    Err(e) => return Err(e),
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            HcloudError::Config(format!(
                "none of the server types {} is offered in {}",
                types.join(", "),
                locations.join(", ")
            ))
        }))
    }

    /// Starts an action and waits for it; an action that fails (Hetzner fails a few in a
    /// hundred) is started again, up to [`ACTION_ATTEMPTS`] times.
    async fn act<F, Fut>(&self, what: &str, start: F) -> Result<(), HcloudError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<crate::hcloud::actions::Action, HcloudError>>,
    {
        let mut attempt = 1;
        loop {
            let action = start().await?;
            match self.hcloud.wait_for_actions(what, vec![action]).await {
                Err(HcloudError::ActionsFailed { .. }) if attempt < ACTION_ATTEMPTS => {
                    tracing::info!(
                        what,
                        attempt,
                        of = ACTION_ATTEMPTS,
                        "the build's action failed; starting it again"
                    );
                    attempt += 1;
                }
                other => return other.map(|_| ()),
            }
        }
    }

    async fn write_and_snapshot(
        &self,
        key: &SnapshotKey,
        server: &Server,
        ssh_key: &RescueKey,
        ssh_key_id: i64,
        progress: &impl Fn(Step),
    ) -> Result<Image, (Step, String)> {
        let api = |step: Step| move |e: HcloudError| (step, e.to_string());
        progress(Step::EnableRescue);
        self.act("enable rescue", || {
            self.hcloud.enable_rescue(server.id, ssh_key_id)
        })
        .await
        .map_err(api(Step::EnableRescue))?;

        progress(Step::PowerOn);
        self.act("power on", || self.hcloud.poweron_server(server.id))
            .await
            .map_err(api(Step::PowerOn))?;

        progress(Step::Ssh);
        let ip: IpAddr = server.public_ipv4().and_then(|ip| ip.parse().ok()).ok_or((
            Step::Ssh,
            format!("server {} has no public IPv4", server.name),
        ))?;
        let shell = self.login(SocketAddr::new(ip, 22), ssh_key).await?;

        progress(Step::WriteImage);
        // Discard is an optimisation (a sparse snapshot); dd overwrites what it cannot discard.
        match shell
            .run("blkdiscard --force /dev/sda", COMMAND_LIMIT)
            .await
        {
            Ok(out) if !out.success() => {
                tracing::info!(stderr = %out.stderr, "blkdiscard failed; the image is written over the old data");
            }
            Ok(_) => {}
            Err(e) => return Err((Step::WriteImage, e.to_string())),
        }
        let url = self
            .factory
            .disk_image_url(&key.schematic, &key.version, key.arch());
        let write = format!(
            "set -o pipefail && wget --quiet --output-document=- '{url}' | xz --decompress --stdout | dd of=/dev/sda bs=4M conv=sparse status=none && sync"
        );
        let out = shell
            .run(&write, WRITE_LIMIT)
            .await
            .map_err(|e| (Step::WriteImage, e.to_string()))?;
        if !out.success() {
            return Err((
                Step::WriteImage,
                format!(
                    "downloading {url} onto /dev/sda exited with {}: {}",
                    out.status.map_or("no status".to_owned(), |s| s.to_string()),
                    if out.stderr.is_empty() {
                        "(no output)"
                    } else {
                        &out.stderr
                    }
                ),
            ));
        }

        progress(Step::Shutdown);
        // The connection dies under the command (or hangs until TCP gives up): its result says
        // nothing, the server's status does. A few seconds let the command reach the server.
        let _ = shell.run("shutdown now", SHUTDOWN_SEND).await;
        shell.close().await;
        self.wait_off(server).await?;

        progress(Step::CreateImage);
        let description = format!(
            "Talos {} for {} (Image Factory schematic {}), built by hk8s",
            key.version,
            key.arch().as_str(),
            key.schematic
        );
        let pending = self
            .hcloud
            .create_snapshot(server.id, &description, &key.labels())
            .await
            .map_err(api(Step::CreateImage))?;
        if let Err(e) = self
            .hcloud
            .wait_for_actions("create image", pending.actions)
            .await
        {
            // A failed snapshot may linger as an image: never leave one that looks usable.
            let _ = self.hcloud.delete_image(pending.value.id).await;
            return Err((Step::CreateImage, e.to_string()));
        }
        Ok(pending.value)
    }

    /// Logs in, retrying while the rescue system boots.
    async fn login(&self, addr: SocketAddr, key: &RescueKey) -> Result<Shell, (Step, String)> {
        let deadline = self.hcloud.deadline().limited_to(SSH_WAIT);
        let started = Instant::now();
        let mut last: Option<SshError> = None;
        loop {
            if deadline.is_expired() || deadline.is_cancelled() {
                return Err((
                    Step::Ssh,
                    format!(
                        "{addr} did not accept SSH within {}s (the rescue system should be up a minute after power-on); last: {}",
                        SSH_WAIT.as_secs(),
                        last.map_or("no attempt".to_owned(), |e| e.to_string())
                    ),
                ));
            }
            match Shell::connect(addr, key, deadline.call_deadline(Duration::from_secs(30))).await {
                Ok(shell) => return Ok(shell),
                Err(e) => {
                    tracing::info!(%addr, error = %e, elapsed_s = started.elapsed().as_secs(), remaining_s = deadline.time_left().as_secs(), "the rescue system does not accept SSH yet");
                    last = Some(e);
                }
            }
            deadline
                .sleep(self.hcloud.poll_interval().max(Duration::from_millis(200)))
                .await;
        }
    }

    /// Waits for the server to be off after `shutdown`; forces it off when it takes too long.
    async fn wait_off(&self, server: &Server) -> Result<(), (Step, String)> {
        let deadline = self.hcloud.deadline().limited_to(SHUTDOWN_WAIT);
        loop {
            let now = self
                .hcloud
                .get_server(server.id)
                .await
                .map_err(|e| (Step::Shutdown, e.to_string()))?
                .ok_or((
                    Step::Shutdown,
                    format!("server {} disappeared", server.name),
                ))?;
            if now.status == ServerStatus::Off {
                return Ok(());
            }
            if deadline.is_expired() {
                let action = self
                    .hcloud
                    .poweroff_server(server.id)
                    .await
                    .map_err(|e| (Step::Shutdown, e.to_string()))?;
                return self
                    .hcloud
                    .wait_for_actions("power off", vec![action])
                    .await
                    .map_err(|e| (Step::Shutdown, e.to_string()));
            }
            deadline.sleep(self.hcloud.poll_interval()).await;
        }
    }
}
