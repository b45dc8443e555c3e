//! Servers created from machine configurations and seen running: the configuration becomes the
//! server's user data (base64 of gzip, within Hetzner's 32 KiB), every server of one call is
//! created at once and awaited in one batched wait together with the caller's other actions;
//! failed create/start actions are retried and a location without capacity falls back to the
//! next allowed one (`hcloud::provision`), which the user learns from a warning.

use crate::hcloud::labels::Labels;
use crate::hcloud::provision::{Placement, Provision, Provisioned, ServerRequest};
use crate::hcloud::servers::{Server, ServerSpec};
use crate::hcloud::{Action, Error, StepRetry};
use crate::talos::config::MachineConfig;
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};

use super::operation::{Operation, chain, failed};

/// One server to create.
#[derive(Debug)]
pub struct NewServer {
    /// Server name = hostname = Kubernetes node name.
    pub name: String,
    /// Hetzner server type.
    pub server_type: String,
    /// Labels (role, cluster, pool, PKI fingerprint, …).
    pub labels: Labels,
    /// Its Talos machine configuration.
    pub config: MachineConfig,
    /// Where it may go, preferred first (one network zone); the next is tried only when a
    /// location has no capacity.
    pub placements: Vec<Placement>,
}

/// What one [`provision`] call does besides creating servers.
#[derive(Debug)]
pub struct Batch<'a> {
    /// What the batch is, for logs and errors (`the control-plane servers`).
    pub what: &'a str,
    /// One of the servers it creates, for errors (`a control-plane server`).
    pub kind: &'a str,
    /// The network every new server joins.
    pub network: i64,
    /// The snapshot new servers boot (`None` when nothing is created).
    pub image: Option<i64>,
    /// Existing servers that are off, to power on.
    pub power_on: Vec<Server>,
    /// Other actions to settle in the same wait; their failures come back in the result.
    pub alongside: Vec<Action>,
    /// The attribute listing the allowed locations, named when none has capacity.
    pub locations_attribute: AttributePath,
}

fn request(server: NewServer, network: i64, image: i64) -> Result<ServerRequest, Diagnostics> {
    let user_data = server.config.to_user_data().map_err(|e| {
        failed(
            format!("The machine configuration of {} does not fit", server.name),
            &e,
        )
    })?;
    let first = server.placements.first().cloned().ok_or_else(|| {
        Diagnostics::from(Diagnostic::error(
            format!("No location for server {}", server.name),
            "the configuration allows no location for this server",
        ))
    })?;
    Ok(ServerRequest {
        spec: ServerSpec {
            name: server.name,
            server_type: server.server_type,
            image: image.to_string(),
            location: first.location,
            labels: server.labels,
            user_data: Some(user_data),
            networks: vec![network],
            firewalls: Vec::new(),
            placement_group: first.placement_group,
            enable_ipv4: true,
            enable_ipv6: true,
        },
        placements: server.placements,
    })
}

/// Creates (or adopts, when a server of that name with the same labels exists) every server in
/// `new` and powers on `batch.power_on`, and waits until they run, together with
/// `batch.alongside`. A server that went to another location than its preferred one becomes a
/// warning in `warnings`.
///
/// # Errors
/// A configuration that does not fit into user data; a server whose step kept failing; no
/// location with capacity (at `batch.locations_attribute`); the deadline.
pub async fn provision(
    op: &Operation,
    batch: Batch<'_>,
    new: Vec<NewServer>,
    warnings: &mut Vec<Diagnostic>,
) -> Result<Provisioned, Diagnostics> {
    let mut types: Vec<String> = new.iter().map(|s| s.server_type.clone()).collect();
    types.sort();
    types.dedup();
    let create = match (new.is_empty(), batch.image) {
        (true, _) => Vec::new(),
        (false, Some(image)) => new
            .into_iter()
            .map(|server| request(server, batch.network, image))
            .collect::<Result<_, _>>()?,
        (false, None) => {
            return Err(Diagnostic::error(
                format!("No Talos image to create {}", batch.what),
                "no snapshot was found for the servers to create",
            )
            .into());
        }
    };
    let done = op
        .hcloud
        .provision(
            Provision {
                what: batch.what.to_owned(),
                create,
                power_on: batch.power_on,
                alongside: batch.alongside,
            },
            &StepRetry::for_poll_interval(op.hcloud.poll_interval()),
        )
        .await
        .map_err(|e| match e {
            Error::NoLocation { .. } => Diagnostic::error(
                format!("No location has capacity for {}", batch.kind),
                format!(
                    "server type {}: {}. {} lists where these nodes may go; locations of the same \
                     network zone can be added there, or another server type chosen.",
                    types.join(", "),
                    chain(&e),
                    batch.locations_attribute
                ),
            )
            .at(batch.locations_attribute.clone())
            .into(),
            e => failed(format!("Creating {} failed", batch.what), &e),
        })?;
    for fallback in &done.fallbacks {
        warnings.push(Diagnostic::warning(
            format!(
                "{} was created in {} instead of {}",
                fallback.server, fallback.to, fallback.from
            ),
            format!(
                "Hetzner refused to create it in {} ({}), so it went to the next location in {}. \
                 It stays there; nodes created later spread over the configured locations again.",
                fallback.from, fallback.reason, batch.locations_attribute
            ),
        ));
    }
    Ok(done)
}
