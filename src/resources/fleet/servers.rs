//! Servers created from machine configurations: the configuration becomes the server's user data
//! (base64 of gzip, within Hetzner's 32 KiB), every server of one call is created at once, and
//! the caller settles their actions (together with whatever else is running) in one wait.

use crate::hcloud::Action;
use crate::hcloud::labels::Labels;
use crate::hcloud::servers::{Server, ServerSpec};
use crate::talos::config::MachineConfig;
use crate::tfplugin::diag::Diagnostics;

use super::operation::{Operation, failed};

/// One server to create.
#[derive(Debug)]
pub struct NewServer {
    /// Server name = hostname = Kubernetes node name.
    pub name: String,
    /// Hetzner server type.
    pub server_type: String,
    /// Location.
    pub location: String,
    /// Labels (role, cluster, pool, PKI fingerprint, …).
    pub labels: Labels,
    /// Its Talos machine configuration.
    pub config: MachineConfig,
    /// Placement group, if any.
    pub placement_group: Option<i64>,
}

/// Creates (or adopts, when a server of that name with the same labels exists) every server at
/// once, attached to `network` and booting `image`; returns them and the actions to settle.
///
/// # Errors
/// A configuration that does not fit into user data, or the first server that cannot be made.
pub async fn create(
    op: &Operation,
    network: i64,
    image: i64,
    new: Vec<NewServer>,
) -> Result<(Vec<Server>, Vec<Action>), Diagnostics> {
    let mut specs = Vec::with_capacity(new.len());
    for server in new {
        let user_data = server.config.to_user_data().map_err(|e| {
            failed(
                format!("The machine configuration of {} does not fit", server.name),
                &e,
            )
        })?;
        specs.push(ServerSpec {
            name: server.name,
            server_type: server.server_type,
            image: image.to_string(),
            location: server.location,
            labels: server.labels,
            user_data: Some(user_data),
            networks: vec![network],
            firewalls: Vec::new(),
            placement_group: server.placement_group,
            enable_ipv4: true,
            enable_ipv6: true,
        });
    }
    let created = futures::future::join_all(specs.iter().map(|s| op.hcloud.ensure_server(s))).await;
    let mut servers = Vec::new();
    let mut actions = Vec::new();
    for (result, spec) in created.into_iter().zip(&specs) {
        let pending =
            result.map_err(|e| failed(format!("Cannot create server {}", spec.name), &e))?;
        servers.push(pending.value);
        actions.extend(pending.actions);
    }
    Ok((servers, actions))
}

/// Settles actions in one batched wait.
///
/// # Errors
/// The first action that failed, or the deadline.
pub async fn settle(op: &Operation, what: &str, actions: Vec<Action>) -> Result<(), Diagnostics> {
    op.hcloud
        .wait_for_actions(what, actions)
        .await
        .map_err(|e| failed(format!("Waiting for {what} failed"), &e))
}
