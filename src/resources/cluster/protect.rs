//! `delete_protection` in Hetzner itself: with `delete_protection = true` the cluster's servers,
//! API load balancer and (own) network carry Hetzner's delete protection, so a deletion outside
//! Terraform (console, `hcloud` CLI, another tool) is refused with the API's `protected` error
//! too. Turning it off lifts it. Firewalls and placement groups have no such protection in the
//! Hetzner API; an existing network (`network.existing_network_id`) is not the cluster's and is
//! left as it is.
//!
//! The apply sets protection after the cluster converged (new servers included); servers the
//! provider itself deletes (scale-down, replacement) are unprotected just before, and destroy
//! lifts whatever protection is left before deleting.

use crate::hcloud::protection::Protectable;
use crate::hcloud::servers::Server;
use crate::hcloud::{Action, Client, Error};

use super::converge::Converged;
use super::observe::Observed;
use super::spec::ClusterSpec;

/// An object and whether it is delete-protected now.
type Current = (Protectable, bool);

/// The cluster's protectable objects after an apply.
fn converged_objects(spec: &ClusterSpec, converged: &Converged) -> Vec<Current> {
    let mut objects: Vec<Current> = converged
        .members
        .iter()
        .map(|m| (Protectable::Server(m.server.id), m.server.protection.delete))
        .collect();
    let lb = &converged.infra.load_balancer;
    objects.push((Protectable::LoadBalancer(lb.id), lb.protection.delete));
    if spec.network.existing_network_id.is_none() {
        let network = &converged.infra.network;
        objects.push((Protectable::Network(network.id), network.protection.delete));
    }
    objects
}

/// Gives every object `want` as its delete protection (only those that differ get an action)
/// and waits for the actions.
async fn set(client: &Client, objects: &[Current], want: bool) -> Result<(), Error> {
    let changing: Vec<Protectable> = objects
        .iter()
        .filter(|(_, now)| *now != want)
        .map(|(object, _)| *object)
        .collect();
    if changing.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = changing.iter().map(ToString::to_string).collect();
    tracing::info!(objects = %names.join(", "), protect = want, "changing Hetzner delete protection");
    let actions: Vec<Action> = futures::future::try_join_all(
        changing
            .iter()
            .map(|object| client.change_delete_protection(*object, want)),
    )
    .await?;
    let what = if want {
        "turn on delete protection"
    } else {
        "lift delete protection"
    };
    client
        .wait_for_actions(&format!("{what} of {}", names.join(", ")), actions)
        .await
}

/// After an apply: the cluster's objects carry Hetzner's delete protection exactly when
/// `delete_protection` is true.
///
/// # Errors
/// The Hetzner error of a `change_protection` action.
pub async fn after_apply(
    client: &Client,
    spec: &ClusterSpec,
    converged: &Converged,
) -> Result<(), Error> {
    set(
        client,
        &converged_objects(spec, converged),
        spec.delete_protection,
    )
    .await
}

/// Before a destroy: lifts the protection of everything `observed` that has it (an own network
/// only), so that the deletions that follow are not refused.
///
/// # Errors
/// The Hetzner error of a `change_protection` action.
pub async fn before_destroy(
    client: &Client,
    observed: &Observed,
    own_network: bool,
) -> Result<(), Error> {
    let mut objects: Vec<Current> = observed
        .members
        .iter()
        .map(|m| (Protectable::Server(m.server.id), m.server.protection.delete))
        .collect();
    for lb in observed
        .api_load_balancer
        .iter()
        .chain(&observed.other_load_balancers)
    {
        objects.push((Protectable::LoadBalancer(lb.id), lb.protection.delete));
    }
    if own_network && let Some(network) = &observed.network {
        objects.push((Protectable::Network(network.id), network.protection.delete));
    }
    set(client, &objects, false).await
}

/// Deletes servers the provider decided to remove, lifting their delete protection first.
///
/// # Errors
/// The Hetzner error of the protection change or the deletion.
pub async fn delete_servers(client: &Client, servers: &[&Server]) -> Result<(), Error> {
    let objects: Vec<Current> = servers
        .iter()
        .map(|s| (Protectable::Server(s.id), s.protection.delete))
        .collect();
    set(client, &objects, false).await?;
    let ids: Vec<i64> = servers.iter().map(|s| s.id).collect();
    match client.delete_servers(&ids).await {
        // Protected since they were listed (e.g. by hand): lift it and delete once more.
        Err(e) if e.code() == Some("protected") => {
            let all: Vec<Current> = servers
                .iter()
                .map(|s| (Protectable::Server(s.id), true))
                .collect();
            set(client, &all, false).await?;
            client.delete_servers(&ids).await
        }
        other => other,
    }
}
