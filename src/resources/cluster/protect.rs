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
use crate::hcloud::{Client, Error};

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
    client.set_delete_protection(objects, want).await
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
