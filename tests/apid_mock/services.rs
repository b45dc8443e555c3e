//! The mock's RPC handlers: they record each call and follow a per-test script.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use tokio::sync::Notify;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};

use super::proto::{common, google, machine};

/// One call the mock received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// E.g. `MachineService/Version`.
    pub method: &'static str,
    /// The `node` routing metadata, if sent.
    pub node: Option<String>,
    /// The salient part of the request (config, image, member id), or empty.
    pub argument: String,
}

/// What the mock saw and what it is told to do.
#[derive(Default)]
pub struct State {
    calls: Mutex<Vec<Call>>,
    failures: Mutex<HashMap<&'static str, VecDeque<Status>>>,
    node_errors: Mutex<HashMap<&'static str, (String, tonic::Code)>>,
    hanging: Mutex<HashSet<&'static str>>,
    bootstrapped: AtomicBool,
    installer_exit_code: AtomicI32,
    kubeconfig_archive: Mutex<Vec<u8>>,
    /// The version tag of the image the last successful `LifecycleService/Upgrade` installed;
    /// `Version` reports it after the next `Reboot` (until then, and without one, v1.13.9).
    installed: Mutex<Option<String>>,
    running: Mutex<Option<String>>,
    /// The etcd member a successful `Reset` takes out of `EtcdMemberList` (a graceful reset
    /// leaves etcd), if any.
    reset_removes: Mutex<Option<u64>>,
    removed: Mutex<HashSet<u64>>,
    /// Signalled when a call arrives.
    pub entered: Notify,
    /// Signalled when a hanging handler is dropped (the client went away).
    pub abandoned: Notify,
}

impl State {
    /// The next call to `method` fails with `status` (queue several for several calls).
    pub fn fail_next(&self, method: &'static str, status: Status) {
        let mut failures = self.failures.lock().unwrap();
        failures.entry(method).or_default().push_back(status);
    }

    /// Calls to `method` never answer.
    pub fn hang(&self, method: &'static str) {
        self.hanging.lock().unwrap().insert(method);
    }

    /// Replies to `method` report a node failure in their metadata.
    pub fn node_error(&self, method: &'static str, message: &str, code: tonic::Code) {
        let mut errors = self.node_errors.lock().unwrap();
        errors.insert(method, (message.to_owned(), code));
    }

    /// The installer's exit code for `LifecycleService/Upgrade`.
    pub fn installer_exit_code(&self, code: i32) {
        self.installer_exit_code.store(code, Ordering::SeqCst);
    }

    /// A successful `Reset` takes etcd member `id` out of the member list from then on.
    pub fn reset_removes(&self, id: u64) {
        *self.reset_removes.lock().unwrap() = Some(id);
    }

    /// The `.tar.gz` that `Kubeconfig` streams.
    pub fn kubeconfig_archive(&self, archive: Vec<u8>) {
        *self.kubeconfig_archive.lock().unwrap() = archive;
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    pub fn methods(&self) -> Vec<&'static str> {
        self.calls().into_iter().map(|c| c.method).collect()
    }
}

struct NotifyOnDrop(Arc<State>);

impl Drop for NotifyOnDrop {
    fn drop(&mut self) {
        self.0.abandoned.notify_one();
    }
}

#[derive(Clone)]
pub struct MockApid {
    state: Arc<State>,
}

impl MockApid {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }

    /// Records the call, then fails, hangs or returns the reply metadata as scripted.
    async fn enter<T>(
        &self,
        method: &'static str,
        request: &Request<T>,
        argument: String,
    ) -> Result<Option<common::Metadata>, Status> {
        let node = request
            .metadata()
            .get("node")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let hostname = format!("mock-{}", node.as_deref().unwrap_or("direct"));
        self.state.calls.lock().unwrap().push(Call {
            method,
            node,
            argument,
        });
        self.state.entered.notify_one();
        let failure = {
            let mut failures = self.state.failures.lock().unwrap();
            failures.get_mut(method).and_then(VecDeque::pop_front)
        };
        if let Some(status) = failure {
            return Err(status);
        }
        let hangs = self.state.hanging.lock().unwrap().contains(method);
        if hangs {
            let _abandoned = NotifyOnDrop(self.state.clone());
            std::future::pending::<()>().await;
        }
        let node_error = self.state.node_errors.lock().unwrap().get(method).cloned();
        let (error, status) = match node_error {
            Some((message, code)) => (
                message.clone(),
                Some(google::rpc::Status {
                    code: code as i32,
                    message,
                    details: vec![],
                }),
            ),
            None => (String::new(), None),
        };
        Ok(Some(common::Metadata {
            hostname,
            error,
            status,
        }))
    }
}

fn stream<T: Send + 'static>(items: Vec<T>) -> BoxStream<T> {
    futures::stream::iter(items.into_iter().map(Ok)).boxed()
}

#[tonic::async_trait]
impl machine::machine_service_server::MachineService for MockApid {
    async fn version(
        &self,
        request: Request<()>,
    ) -> Result<Response<machine::VersionResponse>, Status> {
        let metadata = self
            .enter("MachineService/Version", &request, String::new())
            .await?;
        Ok(Response::new(machine::VersionResponse {
            messages: vec![machine::Version {
                metadata,
                version: Some(machine::VersionInfo {
                    tag: self
                        .state
                        .running
                        .lock()
                        .unwrap()
                        .clone()
                        .unwrap_or_else(|| "v1.13.9".into()),
                    sha: "abc123".into(),
                    arch: "amd64".into(),
                    ..Default::default()
                }),
                platform: Some(machine::PlatformInfo {
                    name: "hcloud".into(),
                    mode: "cloud".into(),
                }),
                features: None,
            }],
        }))
    }

    async fn apply_configuration(
        &self,
        request: Request<machine::ApplyConfigurationRequest>,
    ) -> Result<Response<machine::ApplyConfigurationResponse>, Status> {
        let config = String::from_utf8_lossy(&request.get_ref().data).into_owned();
        let metadata = self
            .enter("MachineService/ApplyConfiguration", &request, config)
            .await?;
        let asked = request.get_ref().mode();
        // Like Talos, AUTO resolves to a concrete mode (here: no reboot needed).
        let used = match asked {
            machine::apply_configuration_request::Mode::Auto => {
                machine::apply_configuration_request::Mode::NoReboot
            }
            other => other,
        };
        let details = if request.get_ref().dry_run {
            "Dry run summary: no changes"
        } else {
            "Applied configuration without a reboot"
        };
        Ok(Response::new(machine::ApplyConfigurationResponse {
            messages: vec![machine::ApplyConfiguration {
                metadata,
                warnings: vec!["cluster.network: deprecated field".into()],
                mode: used.into(),
                mode_details: details.into(),
            }],
        }))
    }

    async fn bootstrap(
        &self,
        request: Request<machine::BootstrapRequest>,
    ) -> Result<Response<machine::BootstrapResponse>, Status> {
        let metadata = self
            .enter("MachineService/Bootstrap", &request, String::new())
            .await?;
        if self.state.bootstrapped.swap(true, Ordering::SeqCst) {
            return Err(Status::already_exists("etcd data directory is not empty"));
        }
        Ok(Response::new(machine::BootstrapResponse {
            messages: vec![machine::Bootstrap { metadata }],
        }))
    }

    async fn etcd_member_list(
        &self,
        request: Request<machine::EtcdMemberListRequest>,
    ) -> Result<Response<machine::EtcdMemberListResponse>, Status> {
        let metadata = self
            .enter("MachineService/EtcdMemberList", &request, String::new())
            .await?;
        let member = |id, hostname: &str, is_learner| machine::EtcdMember {
            id,
            hostname: hostname.into(),
            peer_urls: vec![format!("https://{hostname}:2380")],
            client_urls: vec![format!("https://{hostname}:2379")],
            is_learner,
        };
        Ok(Response::new(machine::EtcdMemberListResponse {
            messages: vec![machine::EtcdMembers {
                metadata,
                legacy_members: vec![],
                members: [member(11, "cp-1", false), member(22, "cp-2", true)]
                    .into_iter()
                    .filter(|m| !self.state.removed.lock().unwrap().contains(&m.id))
                    .collect(),
            }],
        }))
    }

    async fn etcd_leave_cluster(
        &self,
        request: Request<machine::EtcdLeaveClusterRequest>,
    ) -> Result<Response<machine::EtcdLeaveClusterResponse>, Status> {
        let metadata = self
            .enter("MachineService/EtcdLeaveCluster", &request, String::new())
            .await?;
        Ok(Response::new(machine::EtcdLeaveClusterResponse {
            messages: vec![machine::EtcdLeaveCluster { metadata }],
        }))
    }

    async fn etcd_remove_member_by_id(
        &self,
        request: Request<machine::EtcdRemoveMemberByIdRequest>,
    ) -> Result<Response<machine::EtcdRemoveMemberByIdResponse>, Status> {
        let id = request.get_ref().member_id.to_string();
        let metadata = self
            .enter("MachineService/EtcdRemoveMemberByID", &request, id)
            .await?;
        Ok(Response::new(machine::EtcdRemoveMemberByIdResponse {
            messages: vec![machine::EtcdRemoveMemberById { metadata }],
        }))
    }

    async fn reset(
        &self,
        request: Request<machine::ResetRequest>,
    ) -> Result<Response<machine::ResetResponse>, Status> {
        let r = request.get_ref();
        let labels: Vec<_> = r
            .system_partitions_to_wipe
            .iter()
            .map(|p| format!("{}:{}", p.label, p.wipe))
            .collect();
        let argument = format!(
            "graceful={} reboot={} wipe={labels:?}",
            r.graceful, r.reboot
        );
        let metadata = self
            .enter("MachineService/Reset", &request, argument)
            .await?;
        if let Some(id) = *self.state.reset_removes.lock().unwrap() {
            self.state.removed.lock().unwrap().insert(id);
        }
        Ok(Response::new(machine::ResetResponse {
            messages: vec![machine::Reset {
                metadata,
                actor_id: "actor".into(),
            }],
        }))
    }

    async fn reboot(
        &self,
        request: Request<machine::RebootRequest>,
    ) -> Result<Response<machine::RebootResponse>, Status> {
        let mode = request.get_ref().mode().as_str_name().to_owned();
        let metadata = self.enter("MachineService/Reboot", &request, mode).await?;
        let installed = self.state.installed.lock().unwrap().take();
        if installed.is_some() {
            *self.state.running.lock().unwrap() = installed;
        }
        Ok(Response::new(machine::RebootResponse {
            messages: vec![machine::Reboot {
                metadata,
                actor_id: "actor".into(),
            }],
        }))
    }

    async fn upgrade(
        &self,
        request: Request<machine::UpgradeRequest>,
    ) -> Result<Response<machine::UpgradeResponse>, Status> {
        let image = request.get_ref().image.clone();
        let metadata = self
            .enter("MachineService/Upgrade", &request, image)
            .await?;
        Ok(Response::new(machine::UpgradeResponse {
            messages: vec![machine::Upgrade {
                metadata,
                ack: "Upgrade request received".into(),
                actor_id: "actor".into(),
            }],
        }))
    }

    async fn kubeconfig(
        &self,
        request: Request<()>,
    ) -> Result<Response<BoxStream<common::Data>>, Status> {
        let metadata = self
            .enter("MachineService/Kubeconfig", &request, String::new())
            .await?;
        let archive = self.state.kubeconfig_archive.lock().unwrap().clone();
        // Small chunks, so reassembly is really exercised.
        let chunks = archive
            .chunks(7)
            .map(|bytes| common::Data {
                metadata: metadata.clone(),
                bytes: bytes.to_vec(),
            })
            .collect();
        Ok(Response::new(stream(chunks)))
    }
}

#[tonic::async_trait]
impl machine::image_service_server::ImageService for MockApid {
    async fn pull(
        &self,
        request: Request<machine::ImageServicePullRequest>,
    ) -> Result<Response<BoxStream<machine::ImageServicePullResponse>>, Status> {
        let image = request.get_ref().image_ref.clone();
        let containerd = request.get_ref().containerd.unwrap_or_default();
        if containerd.namespace() != common::ContainerdNamespace::NsSystem {
            return Err(Status::invalid_argument(
                "upgrades pull into the system namespace",
            ));
        }
        self.enter("ImageService/Pull", &request, image.clone())
            .await?;
        use machine::image_service_pull_response::Response as Pull;
        let progress = machine::ImageServicePullProgress {
            layer_id: "sha256:layer".into(),
            progress: None,
        };
        Ok(Response::new(stream(vec![
            machine::ImageServicePullResponse {
                response: Some(Pull::PullProgress(progress)),
            },
            machine::ImageServicePullResponse {
                response: Some(Pull::Name(format!("pulled/{image}"))),
            },
        ])))
    }
}

#[tonic::async_trait]
impl machine::lifecycle_service_server::LifecycleService for MockApid {
    async fn upgrade(
        &self,
        request: Request<machine::LifecycleServiceUpgradeRequest>,
    ) -> Result<Response<BoxStream<machine::LifecycleServiceUpgradeResponse>>, Status> {
        let image = request
            .get_ref()
            .source
            .as_ref()
            .map(|s| s.image_name.clone())
            .unwrap_or_default();
        self.enter("LifecycleService/Upgrade", &request, image.clone())
            .await?;
        use machine::lifecycle_service_install_progress::Response as Progress;
        let reply = |progress| machine::LifecycleServiceUpgradeResponse {
            progress: Some(machine::LifecycleServiceInstallProgress {
                response: Some(progress),
            }),
        };
        let exit_code = self.state.installer_exit_code.load(Ordering::SeqCst);
        if exit_code == 0 {
            *self.state.installed.lock().unwrap() =
                image.rsplit_once(':').map(|(_, tag)| tag.to_owned());
        }
        Ok(Response::new(stream(vec![
            reply(Progress::Message("installing".into())),
            reply(Progress::Message("installed".into())),
            reply(Progress::ExitCode(exit_code)),
        ])))
    }
}
