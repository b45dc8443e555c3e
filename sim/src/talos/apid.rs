//! apid's MachineService as the sim serves it: Version, ApplyConfiguration (modes, dry run),
//! Bootstrap, etcd membership, Reset, Upgrade and Kubeconfig, with Talos's role rules
//! (`os:admin` may do everything, `os:reader`/`os:operator` only read) and `node` metadata
//! routing to another node of the same cluster (handled in-process: the sim knows every node).

use std::net::Ipv4Addr;
use std::pin::Pin;
use std::sync::Arc;

use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::TalosSim;
use super::config::{self, Role};
use super::kubeconfig;
use super::proto::common::{Data, Metadata};
use super::proto::machine::apply_configuration_request::Mode;
use super::proto::machine::machine_service_server::MachineService;
use super::proto::machine::*;
use super::state::{Node, Phase};

/// Who is calling: `None` on a maintenance-mode connection (no client certificate), otherwise the
/// roles (O=) of the verified client certificate.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Roles, or `None` for maintenance connections.
    pub roles: Option<Vec<String>>,
}

impl Caller {
    fn may_write(&self) -> bool {
        self.roles
            .as_ref()
            .is_none_or(|r| r.iter().any(|r| r == "os:admin"))
    }

    fn may_read(&self) -> bool {
        self.roles
            .as_ref()
            .is_none_or(|r| r.iter().any(|r| r.starts_with("os:")))
    }
}

/// MachineService of one node, for one connection.
#[derive(Clone)]
pub struct NodeApi {
    /// The sim.
    pub sim: Arc<TalosSim>,
    /// The node the connection reached.
    pub server_id: i64,
    /// The caller.
    pub caller: Caller,
}

type Fleet = super::state::Fleet;

impl NodeApi {
    /// The node a request is for: the `node` metadata's target (same cluster only), else this one.
    fn target<T>(&self, request: &Request<T>, write: bool) -> Result<i64, Status> {
        if write && !self.caller.may_write() {
            return Err(Status::permission_denied(
                "not authorized: this call needs role os:admin",
            ));
        }
        if !self.caller.may_read() {
            return Err(Status::permission_denied(
                "not authorized: no os:* role in the client certificate",
            ));
        }
        // `nodes` (one-to-many proxying) is served for a single target only.
        let mut targets = Vec::new();
        for value in request.metadata().get_all("nodes") {
            let text = value
                .to_str()
                .map_err(|_| Status::invalid_argument("nodes metadata is not text"))?;
            targets.extend(
                text.split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(str::to_string),
            );
        }
        if targets.len() > 1 {
            return Err(Status::unimplemented(format!(
                "the sim does not model proxying to several nodes at once (nodes metadata names {}); call each node with `node` metadata",
                targets.len()
            )));
        }
        let node = match (request.metadata().get("node"), targets.pop()) {
            (Some(node), _) => node
                .to_str()
                .map_err(|_| Status::invalid_argument("node metadata is not text"))?
                .to_string(),
            (None, Some(single)) => single,
            (None, None) => return Ok(self.server_id),
        };
        let text = node.as_str();
        let ip: Ipv4Addr = text.trim().parse().map_err(|_| {
            Status::invalid_argument(format!("node {text:?} is not an IPv4 address"))
        })?;
        let fleet = self.sim.lock();
        let me = fleet
            .nodes
            .get(&self.server_id)
            .ok_or_else(|| Status::unavailable("node is gone"))?;
        if me.ip == ip || me.private_ips().any(|p| p == ip) {
            return Ok(self.server_id);
        }
        if self.caller.roles.is_none() {
            return Err(Status::failed_precondition(
                "node routing is not available in maintenance mode",
            ));
        }
        let target = fleet.node_reached_from(me, ip).ok_or_else(|| {
            Status::unavailable(format!("connection to node {ip} failed: no route to host"))
        })?;
        if target.cluster_key() != me.cluster_key() {
            return Err(Status::unavailable(format!(
                "connection to node {ip} failed: certificate signed by unknown authority"
            )));
        }
        if !target.is_up() {
            return Err(Status::unavailable(format!(
                "connection to node {ip} failed: connection refused"
            )));
        }
        Ok(target.server_id)
    }

    fn meta(node: &Node) -> Option<Metadata> {
        Some(Metadata {
            hostname: node.hostname(),
            ..Default::default()
        })
    }

    fn up_node(fleet: &mut Fleet, id: i64) -> Result<&mut Node, Status> {
        fleet
            .nodes
            .get_mut(&id)
            .filter(|n| n.is_up())
            .ok_or_else(|| Status::unavailable("node is not running"))
    }

    fn configured_only(&self, fleet: &Fleet, id: i64) -> Result<(), Status> {
        match fleet.nodes.get(&id) {
            Some(n) if n.config.is_some() => Ok(()),
            Some(_) => Err(Status::unimplemented(
                "API is not implemented in maintenance mode",
            )),
            None => Err(Status::unavailable("node is gone")),
        }
    }

    /// The schematic an installer image installs (see [`crate::factory::installer_schematic`]);
    /// containerd's error for a factory installer of a schematic the factory does not know. Takes
    /// the world lock: call it before locking the fleet.
    pub(crate) fn installer_schematic(&self, image: &str) -> Result<Option<String>, Status> {
        let world = self
            .sim
            .world
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        crate::factory::installer_schematic(&world, image).map_err(Status::unknown)
    }

    /// Checks an installer image and installs it: the node's next boot runs its version (and
    /// schematic, when the sim knows which the image installs); `reboot` starts that boot now.
    pub(crate) fn start_upgrade(
        &self,
        node: &mut Node,
        image: &str,
        schematic: Option<String>,
        reboot: bool,
    ) -> Result<(), Status> {
        let version = image
            .rsplit_once(':')
            .map(|(_, tag)| tag.to_string())
            .filter(|t| t.starts_with('v'))
            .ok_or_else(|| {
                Status::invalid_argument(format!("installer image {image:?} has no version tag"))
            })?;
        if let Some(cfg) = &node.config {
            config::parse(&cfg.yaml, &version).map_err(|e| {
                Status::failed_precondition(format!(
                    "the current configuration is not valid for {version}: {e}"
                ))
            })?;
        }
        node.pending_version = Some(version);
        node.pending_schematic = schematic;
        if reboot {
            self.reboot(node);
        }
        Ok(())
    }

    /// The node a request is for (see `target`), for the other services of this module's crate.
    pub(crate) fn routed<T>(&self, request: &Request<T>, write: bool) -> Result<i64, Status> {
        self.target(request, write)
    }

    /// `Unimplemented` in maintenance mode, for the other services of this crate.
    pub(crate) fn configured(&self, fleet: &Fleet, id: i64) -> Result<(), Status> {
        self.configured_only(fleet, id)
    }

    pub(crate) fn up(fleet: &mut Fleet, id: i64) -> Result<&mut Node, Status> {
        Self::up_node(fleet, id)
    }

    fn reboot(&self, node: &mut Node) {
        let delay = self.sim.boot_duration("talos_reboot");
        node.phase = Phase::Rebooting {
            until: self.sim.now() + delay,
        };
        node.tls = None;
    }
}

/// What a `Reset` wipes of the system disk, checked as Talos checks the request.
struct Wipe {
    /// STATE (the machine configuration).
    state: bool,
}

impl Wipe {
    /// The partitions a request wipes: every one when `system_partitions_to_wipe` is empty, else
    /// those listed (the sim models STATE and EPHEMERAL; Talos wipes a listed partition whatever
    /// its `wipe` flag says). `maintenance` is a node without configuration.
    fn of(request: &ResetRequest, maintenance: bool) -> Result<Self, Status> {
        use reset_request::WipeMode;
        let mode = WipeMode::try_from(request.mode)
            .map_err(|_| Status::invalid_argument(format!("unknown wipe mode {}", request.mode)))?;
        let partitions = &request.system_partitions_to_wipe;
        if let Some(device) = request.user_disks_to_wipe.first() {
            // Servers in the sim have no disk but the system disk.
            return Err(Status::unknown(format!(
                "reset user disk failed: device {device} wasn't found"
            )));
        }
        if mode == WipeMode::UserDisks {
            if !partitions.is_empty() {
                return Err(Status::unknown(
                    "reset failed: invalid input, wipe mode USER_DISKS doesn't support SystemPartitionsToWipe parameter",
                ));
            }
            return Err(Status::unimplemented(
                "the sim does not model user disks: wipe mode USER_DISKS (use ALL or SYSTEM_DISK)",
            ));
        }
        if partitions.is_empty() {
            return Ok(Wipe { state: true });
        }
        if maintenance {
            return Err(Status::unknown(
                "system partitions to wipe params is not supported in the maintenance mode",
            ));
        }
        let mut wipe = Wipe { state: false };
        for spec in partitions {
            match spec.label.as_str() {
                "STATE" => wipe.state = true,
                "EPHEMERAL" => {}
                "META" | "EFI" | "BIOS" | "BOOT" => {
                    return Err(Status::unimplemented(format!(
                        "the sim models wiping the STATE and EPHEMERAL partitions only, not {}",
                        spec.label
                    )));
                }
                other => {
                    return Err(Status::unknown(format!(
                        "failed to get volume status with label {other:?}: resource VolumeStatuses.block.talos.dev(runtime/{other}) doesn't exist"
                    )));
                }
            }
        }
        Ok(wipe)
    }
}

type DataStream = Pin<Box<dyn Stream<Item = Result<Data, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl MachineService for NodeApi {
    async fn version(&self, request: Request<()>) -> Result<Response<VersionResponse>, Status> {
        let id = self.target(&request, false)?;
        let fleet = self.sim.lock();
        let node = fleet
            .nodes
            .get(&id)
            .filter(|n| n.is_up())
            .ok_or_else(|| Status::unavailable("node is not running"))?;
        let info = VersionInfo {
            tag: node.version.clone(),
            sha: "hk8s-sim".into(),
            built: String::new(),
            go_version: "go1.25".into(),
            os: "linux".into(),
            arch: "amd64".into(),
        };
        let platform = PlatformInfo {
            name: "hcloud".into(),
            mode: "cloud".into(),
        };
        Ok(Response::new(VersionResponse {
            messages: vec![Version {
                metadata: Self::meta(node),
                version: Some(info),
                platform: Some(platform),
                features: None,
            }],
        }))
    }

    async fn apply_configuration(
        &self,
        request: Request<ApplyConfigurationRequest>,
    ) -> Result<Response<ApplyConfigurationResponse>, Status> {
        let id = self.target(&request, true)?;
        let req = request.into_inner();
        let text = String::from_utf8(req.data)
            .map_err(|_| Status::invalid_argument("configuration is not UTF-8 text"))?;
        let mode = Mode::try_from(req.mode).unwrap_or(Mode::Reboot);
        let mut fleet = self.sim.lock();
        let node = Self::up_node(&mut fleet, id)?;
        let new = config::parse(&text, &node.version)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        if let Some(formatted) = &node.volumes {
            let changes = new.volumes.changes_from(formatted);
            if !changes.is_empty() {
                return Err(Status::failed_precondition(format!(
                    "hk8s-sim does not model changing the encryption of provisioned volumes ({}): \
                     Talos cannot re-encrypt a partition and would fail to open it at the next boot \
                     (block dev type mismatch); reset the node with its STATE and EPHEMERAL wiped, \
                     or reinstall it",
                    changes.join("; ")
                )));
            }
        }
        let needs_reboot = node
            .config
            .as_ref()
            .is_none_or(|old| old.needs_reboot_for(&new));
        let (applied, details) = match mode {
            _ if node.config.is_none() => (
                Mode::Reboot,
                "Applied configuration; the node installs and reboots out of maintenance mode",
            ),
            Mode::Staged => (
                Mode::Staged,
                "Staged configuration to be applied after the next reboot",
            ),
            Mode::Reboot => (Mode::Reboot, "Applied configuration with a reboot"),
            Mode::Auto if needs_reboot => (
                Mode::Reboot,
                "Applied configuration with a reboot: the changed fields need one",
            ),
            Mode::Auto | Mode::NoReboot => {
                (Mode::NoReboot, "Applied configuration without a reboot")
            }
            Mode::Try => (
                Mode::Try,
                "Applied configuration in try mode; it rolls back unless confirmed",
            ),
        };
        if matches!(mode, Mode::NoReboot | Mode::Try) && needs_reboot {
            return Err(Status::failed_precondition(
                "configuration change requires a reboot (machine type, cluster identity or CA changed); use mode auto or reboot",
            ));
        }
        if !req.dry_run {
            match applied {
                Mode::Staged => node.staged = Some(new),
                Mode::Reboot if node.config.is_none() => {
                    node.config = Some(new);
                    self.reboot(node);
                }
                Mode::Reboot => {
                    node.staged = Some(new);
                    self.reboot(node);
                }
                Mode::Try => {
                    let timeout = req
                        .try_mode_timeout
                        .map_or(60.0, |d| d.seconds as f64 + f64::from(d.nanos) / 1e9);
                    let rollback_at = self.sim.now()
                        + self
                            .sim
                            .scaled(std::time::Duration::from_secs_f64(timeout.max(0.0)));
                    node.try_rollback = node.config.take().map(|old| (old, rollback_at));
                    node.config = Some(new);
                    node.tls = None;
                }
                _ => {
                    node.config = Some(new);
                    node.tls = None;
                }
            }
        }
        let details = if req.dry_run {
            format!("Dry run: {details}")
        } else {
            details.to_string()
        };
        let node = fleet
            .nodes
            .get(&id)
            .ok_or_else(|| Status::unavailable("node is gone"))?;
        Ok(Response::new(ApplyConfigurationResponse {
            messages: vec![ApplyConfiguration {
                metadata: Self::meta(node),
                warnings: vec![],
                mode: applied as i32,
                mode_details: details,
            }],
        }))
    }

    async fn bootstrap(
        &self,
        request: Request<BootstrapRequest>,
    ) -> Result<Response<BootstrapResponse>, Status> {
        let id = self.target(&request, true)?;
        let mut fleet = self.sim.lock();
        self.configured_only(&fleet, id)?;
        let now = self.sim.now();
        let node = Self::up_node(&mut fleet, id)?;
        if !node.is_control_plane() {
            return Err(Status::failed_precondition(
                "bootstrap is only possible on control plane nodes",
            ));
        }
        if node.services_ready_at > now {
            return Err(Status::failed_precondition(
                "etcd is not ready yet: the node is still starting its services",
            ));
        }
        let key = node.cluster_key().unwrap_or_default();
        let meta = Self::meta(node);
        if fleet.clusters.get(&key).is_some_and(|c| c.bootstrapped) {
            return Err(Status::already_exists(
                "etcd data directory is not empty: the cluster is bootstrapped already",
            ));
        }
        let member = fleet.member_id();
        let cluster = fleet.clusters.entry(key).or_default();
        cluster.bootstrapped = true;
        cluster.members.insert(id, member);
        Ok(Response::new(BootstrapResponse {
            messages: vec![Bootstrap { metadata: meta }],
        }))
    }

    async fn etcd_member_list(
        &self,
        request: Request<EtcdMemberListRequest>,
    ) -> Result<Response<EtcdMemberListResponse>, Status> {
        let id = self.target(&request, false)?;
        let fleet = self.sim.lock();
        self.configured_only(&fleet, id)?;
        let node = fleet
            .nodes
            .get(&id)
            .filter(|n| n.is_up())
            .ok_or_else(|| Status::unavailable("node is not running"))?;
        if !node.is_control_plane() {
            return Err(Status::failed_precondition(
                "etcd is not running on worker nodes",
            ));
        }
        let key = node.cluster_key().unwrap_or_default();
        let cluster = fleet
            .clusters
            .get(&key)
            .filter(|c| c.members.contains_key(&id))
            .ok_or_else(|| {
                Status::failed_precondition(
                    "etcd is not running on this node (not bootstrapped or not joined yet)",
                )
            })?;
        if !fleet.has_quorum(&key) {
            return Err(Status::unavailable(
                "etcdserver: no leader (the cluster has lost quorum)",
            ));
        }
        let members = cluster
            .members
            .iter()
            .map(|(sid, mid)| {
                let peer = fleet.nodes.get(sid);
                let ip = peer
                    .map(|p| p.private_ips().next().unwrap_or(p.ip).to_string())
                    .unwrap_or_default();
                EtcdMember {
                    id: *mid,
                    hostname: peer.map(Node::hostname).unwrap_or_default(),
                    peer_urls: vec![format!("https://{ip}:2380")],
                    client_urls: vec![format!("https://{ip}:2379")],
                    is_learner: false,
                }
            })
            .collect();
        Ok(Response::new(EtcdMemberListResponse {
            messages: vec![EtcdMembers {
                metadata: Self::meta(node),
                legacy_members: vec![],
                members,
            }],
        }))
    }

    async fn etcd_leave_cluster(
        &self,
        request: Request<EtcdLeaveClusterRequest>,
    ) -> Result<Response<EtcdLeaveClusterResponse>, Status> {
        let id = self.target(&request, true)?;
        let mut fleet = self.sim.lock();
        self.configured_only(&fleet, id)?;
        let node = Self::up_node(&mut fleet, id)?;
        node.etcd_left = true;
        let key = node.cluster_key().unwrap_or_default();
        let meta = Self::meta(node);
        let removed = fleet
            .clusters
            .get_mut(&key)
            .and_then(|c| c.members.remove(&id));
        if removed.is_none() {
            return Err(Status::failed_precondition(
                "this node is not an etcd member",
            ));
        }
        Ok(Response::new(EtcdLeaveClusterResponse {
            messages: vec![EtcdLeaveCluster { metadata: meta }],
        }))
    }

    async fn etcd_remove_member_by_id(
        &self,
        request: Request<EtcdRemoveMemberByIdRequest>,
    ) -> Result<Response<EtcdRemoveMemberByIdResponse>, Status> {
        let id = self.target(&request, true)?;
        let member_id = request.get_ref().member_id;
        let mut fleet = self.sim.lock();
        self.configured_only(&fleet, id)?;
        let node = Self::up_node(&mut fleet, id)?;
        let key = node.cluster_key().unwrap_or_default();
        let meta = Self::meta(node);
        if !fleet.has_quorum(&key) {
            return Err(Status::unavailable(
                "etcdserver: no leader (the cluster has lost quorum)",
            ));
        }
        let cluster = fleet
            .clusters
            .get_mut(&key)
            .ok_or_else(|| Status::failed_precondition("etcd is not bootstrapped"))?;
        let server = cluster
            .members
            .iter()
            .find(|(_, m)| **m == member_id)
            .map(|(s, _)| *s)
            .ok_or_else(|| Status::not_found(format!("etcd member {member_id:x} not found")))?;
        cluster.members.remove(&server);
        if let Some(n) = fleet.nodes.get_mut(&server) {
            n.etcd_left = true;
        }
        Ok(Response::new(EtcdRemoveMemberByIdResponse {
            messages: vec![EtcdRemoveMemberById { metadata: meta }],
        }))
    }

    async fn reset(
        &self,
        request: Request<ResetRequest>,
    ) -> Result<Response<ResetResponse>, Status> {
        let id = self.target(&request, true)?;
        let graceful = request.get_ref().graceful;
        let reboot = request.get_ref().reboot;
        let mut fleet = self.sim.lock();
        let node = Self::up_node(&mut fleet, id)?;
        let wipe = Wipe::of(request.get_ref(), node.config.is_none())?;
        let key = node.cluster_key();
        if let Some(key) = key.clone() {
            let members = fleet
                .clusters
                .get(&key)
                .map(|c| c.members.clone())
                .unwrap_or_default();
            if graceful && members.contains_key(&id) {
                if members.len() == 1 {
                    return Err(Status::failed_precondition(
                        "graceful reset of the last etcd member would destroy the cluster; reset with graceful=false",
                    ));
                }
                if let Some(c) = fleet.clusters.get_mut(&key) {
                    c.members.remove(&id);
                }
            }
        }
        let node = Self::up_node(&mut fleet, id)?;
        let meta = Self::meta(node);
        let hostname = node.hostname();
        if wipe.state {
            node.config = None;
            node.staged = None;
            node.try_rollback = None;
        }
        // etcd's data lives on EPHEMERAL; a wiped STATE loses the membership too. Either way the
        // node may join again once it runs a configuration of the cluster.
        // A wiped STATE is formatted anew, with the encryption of the next configuration.
        if wipe.state {
            node.volumes = None;
        }
        node.etcd_left = false;
        node.kube_registered = false;
        if reboot {
            // Comes back up reading its STATE, or (wiped) the server's user data again.
            self.reboot(node);
        } else {
            // Talos's reset sequence ends in `Shutdown`: the machine powers off.
            node.phase = Phase::Halting {
                until: self.sim.now() + self.sim.duration("talos_reset"),
            };
            node.tls = None;
        }
        if let Some(key) = key
            && let Some(c) = fleet.clusters.get_mut(&key)
        {
            c.kube.remove_node(&hostname);
        }
        Ok(Response::new(ResetResponse {
            messages: vec![Reset {
                metadata: meta,
                actor_id: String::new(),
            }],
        }))
    }

    async fn upgrade(
        &self,
        request: Request<UpgradeRequest>,
    ) -> Result<Response<UpgradeResponse>, Status> {
        let id = self.target(&request, true)?;
        let image = request.get_ref().image.clone();
        let schematic = self.installer_schematic(&image)?;
        let mut fleet = self.sim.lock();
        let node = Self::up_node(&mut fleet, id)?;
        // MachineService.Upgrade reboots by itself once the image is installed.
        self.start_upgrade(node, &image, schematic, true)?;
        let meta = Self::meta(node);
        Ok(Response::new(UpgradeResponse {
            messages: vec![Upgrade {
                metadata: meta,
                ack: "Upgrade request received".into(),
                actor_id: String::new(),
            }],
        }))
    }

    async fn reboot(
        &self,
        request: Request<RebootRequest>,
    ) -> Result<Response<RebootResponse>, Status> {
        let id = self.target(&request, true)?;
        let mut fleet = self.sim.lock();
        let node = fleet
            .nodes
            .get_mut(&id)
            .ok_or_else(|| Status::unavailable("node is gone"))?;
        let meta = Self::meta(node);
        // A node already on its way down (MachineService.Upgrade) reboots once.
        if !matches!(node.phase, Phase::Rebooting { .. }) {
            let node = Self::up_node(&mut fleet, id)?;
            self.reboot(node);
        }
        Ok(Response::new(RebootResponse {
            messages: vec![Reboot {
                metadata: meta,
                actor_id: String::new(),
            }],
        }))
    }

    async fn kubeconfig(&self, request: Request<()>) -> Result<Response<DataStream>, Status> {
        let id = self.target(&request, true)?;
        let fleet = self.sim.lock();
        self.configured_only(&fleet, id)?;
        let node = fleet
            .nodes
            .get(&id)
            .filter(|n| n.is_up())
            .ok_or_else(|| Status::unavailable("node is not running"))?;
        let cfg = node
            .config
            .as_ref()
            .filter(|c| c.role == Role::Controlplane)
            .ok_or_else(|| {
                Status::failed_precondition("kubeconfig is only available on control plane nodes")
            })?;
        let archive =
            kubeconfig::admin_archive(cfg).map_err(|e| Status::internal(e.to_string()))?;
        let data = Data {
            metadata: Self::meta(node),
            bytes: archive,
        };
        Ok(Response::new(Box::pin(tokio_stream::once(Ok(data)))))
    }
}
