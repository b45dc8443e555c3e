//! Brings the cluster to the desired state, from whatever exists: nothing (create), a half-made
//! cluster (a killed apply run again), or a cluster that drifted or whose configuration changed
//! (update). Every step is idempotent: objects are found by name and labels before they are made,
//! and each wait checks what is, not what the last run did.
//!
//! Order (DESIGN.md §2): network, firewall, placement groups, load balancer and snapshot lookup
//! concurrently, one batched wait for their actions; missing control-plane servers together, one
//! batched wait; every node's Talos API through the load balancer; etcd bootstrapped on exactly
//! one node (the lowest number, and only when no etcd exists yet); etcd holding exactly the
//! control-plane members; `/readyz` and every control-plane node Ready. Then, one node at a time
//! and each gated on health: replacements of outdated nodes (new node first, then the old one
//! leaves), scale-down, Talos upgrades, and configuration changes.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use time::OffsetDateTime;

use crate::hcloud::labels::Role;
use crate::hcloud::load_balancers::TALOS_API_PORT;
use crate::hcloud::names::control_plane_server_name;
use crate::hcloud::servers::{Server, ServerSpec};
use crate::hcloud::{Action, Client};
use crate::kube::{KubeClient, KubeCredentials, KubeOptions};
use crate::talos::apid::{ApidClient, ClientOptions, Credentials};
use crate::talos::kubeconfig::{self, KubeconfigRequest};
use crate::talos::ops::{self, Budget, ControlPlane};
use crate::talos::secrets::SecretsBundle;
use crate::talos::talosconfig;
use crate::tfplugin::diag::Diagnostics;

use super::context::{Operation, failed, failure};
use super::health::{self, NodeAddress};
use super::infra::{self, Infra};
use super::machine;
use super::pki;
use super::spec::ClusterSpec;
use super::topology::{self, Member};

/// Validity of the credentials the provider mints for itself during one operation.
const OPERATION_CREDENTIALS_TTL: Duration = Duration::from_secs(6 * 3600);

/// What the apply found and left.
#[derive(Debug, Clone)]
pub struct Converged {
    /// The objects around the servers.
    pub infra: Infra,
    /// The control-plane servers, by number.
    pub members: Vec<Member>,
    /// Talos version each node reported, by node name.
    pub talos_versions: std::collections::BTreeMap<String, String>,
}

/// Whether this apply may bootstrap etcd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bootstrap {
    /// A create: bootstrap the lowest-numbered node if no etcd exists yet.
    Allowed,
    /// An update of a running cluster: never bootstrap (a second etcd cluster would split the
    /// control plane); a cluster without etcd is an error saying so.
    Forbidden,
}

/// The clients the health gates and node operations use, bound to the load balancer.
pub struct Clients {
    /// Talos API through the load balancer (replaced by [`Clients::reconnect`]).
    talos: std::sync::Mutex<ApidClient>,
    talos_endpoint: SocketAddr,
    talos_credentials: Credentials,
    /// Kubernetes API through the load balancer.
    pub kube: KubeClient,
}

impl Clients {
    /// Short-lived admin credentials minted from the secrets, for this operation only.
    ///
    /// # Errors
    /// When credentials cannot be minted or the clients built.
    pub async fn connect(
        secrets: &SecretsBundle,
        lb_ip: &str,
        cluster: &str,
    ) -> Result<Self, Diagnostics> {
        let now = OffsetDateTime::now_utc() - time::Duration::minutes(5);
        let ttl =
            time::Duration::try_from(OPERATION_CREDENTIALS_TTL).unwrap_or(time::Duration::hours(6));
        let server = format!("https://{lb_ip}:6443");
        // Mint before any await: the thread-local RNG must not live across one.
        let (talos_creds, minted) = {
            let mut rng = rand::rng();
            let talos_creds = talosconfig::issue_admin(secrets, now, ttl, &mut rng)
                .map_err(|e| failed("Cannot mint Talos credentials", &e))?;
            let minted = kubeconfig::mint(
                secrets,
                &KubeconfigRequest::admin(cluster, &server, ttl),
                now,
                &mut rng,
            )
            .map_err(|e| failed("Cannot mint Kubernetes credentials", &e))?;
            (talos_creds, minted)
        };
        let key = talos_creds
            .rustls_key_pem()
            .map_err(|e| failed("Cannot mint Talos credentials", &e))?;
        let ip: IpAddr = lb_ip
            .parse()
            .map_err(|e| failure("The load balancer has no usable IPv4", e))?;
        let talos_endpoint = SocketAddr::new(ip, TALOS_API_PORT);
        let talos_credentials = Credentials::Admin {
            ca: talos_creds.ca_pem.into_bytes(),
            crt: talos_creds.cert_pem.into_bytes(),
            key: key.into_bytes(),
        };
        let talos =
            ApidClient::connect(talos_endpoint, &talos_credentials, ClientOptions::default())
                .await
                .map_err(|e| failed("Cannot set up the Talos API client", &e))?;
        let kube = KubeClient::new(
            &KubeCredentials {
                server,
                ca_pem: minted.credentials.ca_pem,
                client_cert_pem: minted.credentials.cert_pem,
                client_key_pem: minted.credentials.key_pem,
            },
            KubeOptions::default(),
        )
        .map_err(|e| failed("Cannot set up the Kubernetes API client", &e))?;
        Ok(Clients {
            talos: std::sync::Mutex::new(talos),
            talos_endpoint,
            talos_credentials,
            kube,
        })
    }

    /// The Talos API client (one HTTP/2 connection through the load balancer).
    pub fn talos(&self) -> ApidClient {
        self.talos
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Opens a new connection through the load balancer. The balancer pins a connection to one
    /// target; when that node reboots or leaves, calls on the old connection can hang until
    /// keep-alive notices, while a new connection goes to a node that is up.
    pub async fn reconnect(&self) {
        match ApidClient::connect(
            self.talos_endpoint,
            &self.talos_credentials,
            ClientOptions::default(),
        )
        .await
        {
            Ok(client) => {
                *self
                    .talos
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = client;
            }
            Err(e) => tracing::warn!(error = %e, "cannot reconnect to the Talos API"),
        }
    }
}

fn lb_ip(infra: &Infra) -> Result<String, Diagnostics> {
    infra.public_ipv4().map(str::to_owned).ok_or_else(|| {
        failure(
            "The API load balancer has no public IPv4",
            format!(
                "load balancer {} has no public IPv4 address",
                infra.load_balancer.id
            ),
        )
    })
}

/// The address health gates use for a member: its private IP in the cluster network.
pub fn address(member: &Member, network: i64) -> Option<NodeAddress> {
    let ip = member.server.private_ip(network)?.parse().ok()?;
    Some(NodeAddress {
        name: member.name().to_owned(),
        ip,
    })
}

fn addresses(members: &[Member], network: i64) -> Result<Vec<NodeAddress>, Diagnostics> {
    members
        .iter()
        .map(|m| {
            address(m, network).ok_or_else(|| {
                failure(
                    "A control-plane server is not on the cluster network",
                    format!(
                        "server {} ({}) has no private IP in network {network}",
                        m.name(),
                        m.server.id
                    ),
                )
            })
        })
        .collect()
}

fn wait_failed(what: &str) -> impl Fn(super::poll::WaitError) -> Diagnostics + '_ {
    move |e| failure(what.to_owned(), e)
}

async fn list_members(op: &Operation, spec: &ClusterSpec) -> Result<Vec<Member>, Diagnostics> {
    let servers = op
        .hcloud
        .list_servers(&infra::control_plane_selector(&spec.name))
        .await
        .map_err(|e| failed("Cannot list the control-plane servers", &e))?;
    Ok(topology::members(&spec.name, servers))
}

/// Starts the servers for `indices` at `locations` (not waiting), returning their actions.
async fn create_servers(
    op: &Operation,
    spec: &ClusterSpec,
    secrets: &SecretsBundle,
    infra: &Infra,
    image: i64,
    new: &[(u32, String)],
) -> Result<(Vec<Server>, Vec<Action>), Diagnostics> {
    let lb_ip = lb_ip(infra)?;
    let mut specs = Vec::new();
    for (index, location) in new {
        let name = control_plane_server_name(&spec.name, *index);
        let config = machine::control_plane_config(spec, secrets, &lb_ip, &name)
            .map_err(|e| failed("Cannot build a machine configuration", &e))?;
        let user_data = config.to_user_data().map_err(|e| {
            failed(
                format!("The machine configuration of {name} does not fit"),
                &e,
            )
        })?;
        specs.push(ServerSpec {
            name,
            server_type: spec.control_plane.server_type.clone(),
            image: image.to_string(),
            location: location.clone(),
            labels: {
                let mut labels = infra::role_labels(&spec.name, Role::ControlPlane);
                labels.insert(pki::PKI_LABEL.to_owned(), pki::fingerprint(secrets));
                labels
            },
            user_data: Some(user_data),
            networks: vec![infra.network.id],
            firewalls: Vec::new(),
            placement_group: infra.placement_groups.get(location).map(|g| g.id),
            enable_ipv4: true,
            enable_ipv6: true,
        });
    }
    let created = futures::future::join_all(specs.iter().map(|s| op.hcloud.ensure_server(s))).await;
    let mut servers = Vec::new();
    let mut actions = Vec::new();
    for (result, s) in created.into_iter().zip(&specs) {
        let pending = result.map_err(|e| failed(format!("Cannot create server {}", s.name), &e))?;
        servers.push(pending.value);
        actions.extend(pending.actions);
    }
    Ok((servers, actions))
}

/// Settles actions in one batched wait.
async fn settle(client: &Client, what: &str, actions: Vec<Action>) -> Result<(), Diagnostics> {
    client
        .wait_for_actions(what, actions)
        .await
        .map_err(|e| failed(format!("Waiting for {what} failed"), &e))
}

/// The whole apply: see the module documentation.
///
/// # Errors
/// A diagnostic saying which step failed and what was pending; everything made so far stays and
/// the next apply continues from it.
pub async fn converge(
    op: &Operation,
    spec: &ClusterSpec,
    secrets: &SecretsBundle,
    bootstrap: Bootstrap,
) -> Result<(Converged, Clients), Diagnostics> {
    let architecture = spec.control_plane.architecture;
    let (ensured, image) = tokio::join!(
        infra::ensure(&op.hcloud, spec),
        infra::find_snapshot(&op.hcloud, spec, architecture)
    );
    let (infra, actions) = ensured.map_err(|e| {
        failed(
            "Cannot set up the cluster network, firewall or load balancer",
            &e,
        )
    })?;
    // Servers attach to the network when they are created, so its actions settle first; the load
    // balancer and firewall actions run on while the servers are created and settle with them.
    let (network_actions, infra_actions): (Vec<Action>, Vec<Action>) = actions
        .into_iter()
        .partition(|a| !a.resources.is_empty() && a.resources.iter().all(|r| r.kind == "network"));
    settle(&op.hcloud, "the cluster network", network_actions).await?;
    // Only needed when a server must be created: an update of running nodes needs no snapshot.
    let image = image.map_err(|e| failed("No Talos image to boot the control plane from", &e));

    // Servers made with other secrets come from a create that Terraform never recorded: they
    // hold nothing yet and are replaced. During an update they would be a foreign control plane.
    let mut members = list_members(op, spec).await?;
    let ours = pki::fingerprint(secrets);
    let foreign: Vec<&Member> = members
        .iter()
        .filter(|m| m.server.labels.get(pki::PKI_LABEL) != Some(&ours))
        .collect();
    if !foreign.is_empty() {
        let names: Vec<&str> = foreign.iter().map(|m| m.name()).collect();
        let running: Vec<&str> = foreign
            .iter()
            .filter(|m| m.server.labels.contains_key(pki::COMPLETE_LABEL))
            .map(|m| m.name())
            .collect();
        if !running.is_empty() && bootstrap == Bootstrap::Allowed {
            return Err(failure(
                "A cluster with this name already runs",
                format!(
                    "{} belong to a running cluster named {:?} whose secrets this \
                     configuration does not have. Import it (terraform import <address> {}) with \
                     its `secrets`, or choose another name.",
                    running.join(", "),
                    spec.name,
                    spec.name
                ),
            ));
        }
        if bootstrap == Bootstrap::Forbidden {
            return Err(failure(
                "Control-plane servers with other Talos secrets",
                format!(
                    "{} carry a {} label that does not match this cluster's secrets; the provider \
                     cannot manage them. Delete them or set `secrets` to the bundle they were made with.",
                    names.join(", "),
                    pki::PKI_LABEL
                ),
            ));
        }
        tracing::info!(servers = %names.join(", "), "replacing servers left by an earlier create whose secrets were never recorded");
        let servers: Vec<&Server> = foreign.iter().map(|m| &m.server).collect();
        super::protect::delete_servers(&op.hcloud, &servers)
            .await
            .map_err(|e| failed("Cannot delete servers left by an earlier create", &e))?;
        members = list_members(op, spec).await?;
    }

    // Servers: power on what is off, create what is missing (all at once), one wait together
    // with the load balancer and firewall.
    let mut actions = infra_actions;
    for member in members.iter().filter(|m| m.is_off()) {
        tracing::info!(
            node = member.name(),
            "powering on a control-plane server that is off"
        );
        actions.push(
            op.hcloud
                .poweron_server(member.server.id)
                .await
                .map_err(|e| failed(format!("Cannot power on {}", member.name()), &e))?,
        );
    }
    let missing = (spec.control_plane.count as usize).saturating_sub(members.len());
    let mut new_names = Vec::new();
    if missing > 0 {
        let mut planned_locations = Vec::new();
        let new: Vec<(u32, String)> = topology::free_indices(&members, missing)
            .into_iter()
            .map(|index| {
                let location = topology::next_location(spec, &members, &planned_locations);
                planned_locations.push(location.clone());
                (index, location)
            })
            .collect();
        let (servers, created) =
            create_servers(op, spec, secrets, &infra, image.clone()?, &new).await?;
        new_names.extend(servers.iter().map(|s| s.name.clone()));
        actions.extend(created);
    }
    settle(
        &op.hcloud,
        "the control-plane servers, firewall and load balancer",
        actions,
    )
    .await?;
    if !new_names.is_empty() {
        members = list_members(op, spec).await?;
    }

    let lb_ip = lb_ip(&infra)?;
    let clients = Clients::connect(secrets, &lb_ip, &spec.name).await?;
    let nodes = addresses(&members, infra.network.id)?;
    health::wait_talos_api(op, &clients, &nodes)
        .await
        .map_err(wait_failed("The control plane's Talos API did not come up"))?;

    let all_new = members.iter().all(|m| new_names.contains(&m.server.name));
    if !health::etcd_exists(op, &clients, &nodes).await {
        match bootstrap {
            Bootstrap::Allowed => {}
            Bootstrap::Forbidden if all_new => {
                tracing::warn!("no control-plane node survived: bootstrapping a new etcd cluster");
            }
            Bootstrap::Forbidden => {
                return Err(failure(
                    "etcd has no quorum",
                    format!(
                        "none of the control-plane nodes ({}) answers for etcd, and some of them \
                         existed before this apply, so the provider does not bootstrap a second \
                         etcd cluster over them. Restore the missing nodes or etcd from a snapshot.",
                        nodes
                            .iter()
                            .map(|n| n.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        let first = &nodes[0];
        let outcome = health::bootstrap(op, &clients, first)
            .await
            .map_err(wait_failed("etcd could not be bootstrapped"))?;
        tracing::info!(node = %first.name, ?outcome, "etcd bootstrap");
    }
    health::wait_etcd_members(op, &clients, &nodes)
        .await
        .map_err(wait_failed("etcd did not gain every control-plane member"))?;
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    health::wait_kubernetes(op, &clients.kube, &names)
        .await
        .map_err(wait_failed("Kubernetes did not become ready"))?;

    // One node at a time: replace outdated nodes, then remove extra ones.
    while let Some(outdated) = members.iter().find(|m| !m.is_current(spec)).cloned() {
        let location = topology::next_location(spec, &members, &[]);
        let index = topology::free_indices(&members, 1)[0];
        tracing::info!(old = outdated.name(), new_index = index, %location, "replacing a control-plane node");
        let (_, created) = create_servers(
            op,
            spec,
            secrets,
            &infra,
            image.clone()?,
            &[(index, location)],
        )
        .await?;
        settle(&op.hcloud, "the replacement control-plane server", created).await?;
        members = list_members(op, spec).await?;
        gate(op, &clients, &members, &infra).await?;
        remove_member(op, &clients, &members, &outdated, &infra).await?;
        members = list_members(op, spec).await?;
        gate(op, &clients, &members, &infra).await?;
    }
    while members.len() > spec.control_plane.count as usize {
        let Some(leaving) = topology::next_to_remove(spec, &members).cloned() else {
            break;
        };
        remove_member(op, &clients, &members, &leaving, &infra).await?;
        members = list_members(op, spec).await?;
        gate(op, &clients, &members, &infra).await?;
    }

    if bootstrap == Bootstrap::Forbidden {
        super::roll::roll(op, &clients, spec, secrets, &infra, &members).await?;
    }
    mark_complete(op, &mut members).await?;
    let nodes = addresses(&members, infra.network.id)?;
    let versions = health::wait_talos_api(op, &clients, &nodes)
        .await
        .map_err(wait_failed(
            "The control plane's Talos API stopped answering",
        ))?;
    let talos_versions = nodes.iter().map(|n| n.name.clone()).zip(versions).collect();
    Ok((
        Converged {
            infra,
            members,
            talos_versions,
        },
        clients,
    ))
}

/// Labels every member as part of a cluster an apply completed (see [`pki::COMPLETE_LABEL`]).
async fn mark_complete(op: &Operation, members: &mut [Member]) -> Result<(), Diagnostics> {
    for member in members.iter_mut() {
        if member.server.labels.contains_key(pki::COMPLETE_LABEL) {
            continue;
        }
        let mut labels = member.server.labels.clone();
        labels.insert(pki::COMPLETE_LABEL.to_owned(), "true".to_owned());
        member.server = op
            .hcloud
            .set_server_labels(member.server.id, &labels)
            .await
            .map_err(|e| failed(format!("Cannot label server {}", member.name()), &e))?;
    }
    Ok(())
}

/// Health gate after a change: every node's Talos API, etcd membership, Kubernetes readiness.
///
/// # Errors
/// What was not healthy.
pub async fn gate(
    op: &Operation,
    clients: &Clients,
    members: &[Member],
    infra: &Infra,
) -> Result<(), Diagnostics> {
    let nodes = addresses(members, infra.network.id)?;
    health::wait_talos_api(op, clients, &nodes)
        .await
        .map_err(wait_failed(
            "A control-plane node's Talos API did not answer",
        ))?;
    health::wait_etcd_members(op, clients, &nodes)
        .await
        .map_err(wait_failed("etcd membership did not settle"))?;
    let names: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
    health::wait_kubernetes(op, &clients.kube, &names)
        .await
        .map_err(wait_failed("Kubernetes did not become ready"))
}

/// Takes one control-plane node out: it leaves etcd gracefully (Talos reset), its Kubernetes node
/// is deleted, then its server. A node that cannot be reached is removed from etcd by a peer.
///
/// # Errors
/// When the removal would lose quorum or a step fails.
pub async fn remove_member(
    op: &Operation,
    clients: &Clients,
    members: &[Member],
    leaving: &Member,
    infra: &Infra,
) -> Result<(), Diagnostics> {
    let remaining: Vec<&Member> = members
        .iter()
        .filter(|m| m.index != leaving.index)
        .collect();
    if remaining.is_empty() {
        return Err(failure(
            "Cannot remove the last control-plane node",
            format!("{} is the only etcd member left", leaving.name()),
        ));
    }
    tracing::info!(node = leaving.name(), "control-plane node leaving etcd");
    let remaining_nodes: Vec<ControlPlane> = remaining
        .iter()
        .filter_map(|m| address(m, infra.network.id))
        .map(|a| ControlPlane::new(a.name, a.ip))
        .collect();
    // A node that has no private address any more is already gone: a peer removes its member.
    let node = address(leaving, infra.network.id).map_or_else(
        || ControlPlane::new(leaving.name(), std::net::IpAddr::from([0, 0, 0, 0])),
        |a| ControlPlane::new(a.name, a.ip),
    );
    let removal = ops::remove_control_plane(
        &clients.talos(),
        &node,
        &remaining_nodes,
        &Budget::new(op.remaining(), op.cancel.clone()),
    )
    .await
    .map_err(|e| failed(format!("{} could not leave etcd", leaving.name()), &e))?;
    tracing::info!(node = leaving.name(), ?removal, "left etcd");
    clients
        .kube
        .delete_node(leaving.name())
        .await
        .map_err(|e| {
            failed(
                format!("Cannot delete the Kubernetes node {}", leaving.name()),
                &e,
            )
        })?;
    super::protect::delete_servers(&op.hcloud, &[&leaving.server])
        .await
        .map_err(|e| failed(format!("Cannot delete server {}", leaving.name()), &e))?;
    clients.reconnect().await;
    Ok(())
}
