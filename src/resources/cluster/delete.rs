//! Destroy in reverse order of creation: servers (waiting until their network and firewall
//! detachments finished), the volumes the CSI driver made for the cluster, the API load balancer and any other load balancer labelled for the
//! cluster, the cloud controller's load balancers on the cluster network, firewalls, placement
//! groups, and the network (an existing network is kept; only the node subnet the cluster added
//! is removed). Everything is looked up by label, so a destroy that was interrupted finishes when
//! run again, and nothing labelled for the cluster is left.

use crate::hcloud::labels::Selector;
use crate::hcloud::{Client, Error, StepRetry};

use super::observe::{self, Observed};

/// What a destroy removed, for the log.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Removed {
    /// Servers.
    pub servers: usize,
    /// Volumes the CSI driver made for the cluster.
    pub volumes: usize,
    /// Load balancers (API, others labelled for the cluster, cloud controller's).
    pub load_balancers: usize,
    /// Firewalls.
    pub firewalls: usize,
    /// Placement groups.
    pub placement_groups: usize,
    /// Networks.
    pub networks: usize,
}

/// Deletes every object of `cluster`. `existing_network` is the network the cluster did not make
/// (kept; the cluster's node subnet is removed from it).
///
/// # Errors
/// The first Hetzner error; objects not yet deleted are found again by the next run.
pub async fn delete_cluster(
    client: &Client,
    cluster: &str,
    existing_network: Option<(i64, ipnet::Ipv4Net)>,
) -> Result<Removed, Error> {
    let observed: Observed = observe::observe(
        client,
        cluster,
        existing_network.map(|(id, _)| id),
        observe::Servers::All,
    )
    .await?;
    // Hetzner refuses to delete what carries its delete protection.
    super::protect::before_destroy(client, &observed, existing_network.is_none()).await?;
    let mut removed = Removed {
        servers: observed.server_ids.len(),
        ..Removed::default()
    };
    client.delete_servers(&observed.server_ids).await?;
    // Snapshot builds whose apply was killed (of any cluster: builds are shared); living builds
    // keep their heartbeat fresh and are left alone.
    crate::snapshot::lock::sweep(client).await?;
    // The CSI driver's volumes (labelled for the cluster by the hcloud-csi addon); deleting the
    // servers detached them.
    let volumes = client.list_volumes(&Selector::cluster(cluster)).await?;
    removed.volumes = volumes.len();
    client.delete_volumes(&volumes).await?;

    let load_balancers: Vec<i64> = observed
        .api_load_balancer
        .iter()
        .chain(&observed.other_load_balancers)
        .chain(&observed.ccm_load_balancers)
        .map(|lb| lb.id)
        .collect();
    removed.load_balancers = load_balancers.len();
    futures::future::try_join_all(
        load_balancers
            .iter()
            .map(|id| client.delete_load_balancer(*id)),
    )
    .await?;

    removed.firewalls = observed.firewalls.len();
    futures::future::try_join_all(
        observed
            .firewalls
            .iter()
            .map(|f| client.delete_firewall(f.id)),
    )
    .await?;
    removed.placement_groups = observed.placement_groups.len();
    futures::future::try_join_all(
        observed
            .placement_groups
            .iter()
            .map(|g| client.delete_placement_group(g.id)),
    )
    .await?;

    if let Some(network) = &observed.network {
        removed.networks = 1;
        client.delete_network(network.id).await?;
    }
    if let Some((id, subnet)) = existing_network {
        remove_subnet(client, id, subnet).await?;
    }
    Ok(removed)
}

/// Removes the cluster's node subnet from a network it did not make. A removal whose action
/// failed is checked, not trusted: a subnet still there is removed again, with backoff, at most
/// [`StepRetry::attempts`] times.
async fn remove_subnet(client: &Client, id: i64, subnet: ipnet::Ipv4Net) -> Result<(), Error> {
    let retry = StepRetry::for_poll_interval(client.poll_interval());
    let what = format!("remove subnet {subnet} from network {id}");
    let mut attempt = 0;
    loop {
        let present = client.get_network(id).await?.is_some_and(|network| {
            network
                .subnets
                .iter()
                .any(|s| s.ip_range == subnet.to_string())
        });
        if !present {
            return Ok(());
        }
        attempt += 1;
        let action = client.delete_subnet(id, subnet).await?;
        let settled = client.settle_actions(&what, vec![action]).await?;
        if settled.failed.is_empty() {
            return Ok(());
        }
        let last = Error::ActionsFailed {
            what: what.clone(),
            failures: settled.failed,
        };
        retry.again(client.deadline(), &what, attempt, last).await?;
    }
}
