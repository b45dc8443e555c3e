//! Talos OS upgrades of one node, idempotent and health-gated.

use std::net::IpAddr;
use std::time::Duration;

use super::error::Error;
use super::etcd::{ControlPlane, Membership, wait_etcd_members};
use super::poll::{Check, brief, poll, transient};
use crate::deadline::Deadline;
use crate::talos::apid::{ApidClient, RebootMode, UpgradeApi, UpgradeRequest};
use crate::talos::version::{TalosVersion, VersionContract};

/// How long pulling and installing the image may take (the apid client's own default).
const UPGRADE_CALL_CAP: Duration = Duration::from_secs(600);

/// How many upgrade calls a node gets when a call is cut off (the node rebooted, the connection
/// broke) and the node still reports its old version afterwards.
const UPGRADE_CALL_ATTEMPTS: u32 = 3;

/// The installer image that upgrades a node to `version`.
///
/// With a schematic id (an Image Factory schematic: the system extensions and kernel arguments
/// the cluster's snapshots were built with) the image is
/// `factory.talos.dev/installer/<schematic>:<version>`, so that the upgraded node keeps the
/// same extensions as a freshly created one; the plain `ghcr.io/siderolabs/installer:<version>`
/// would silently drop them. Without a schematic the upstream image is used. All naming of
/// installer images is here so that both paths stay in one place.
#[must_use]
pub fn installer_image(schematic: Option<&str>, version: &TalosVersion) -> String {
    match schematic {
        Some(schematic) => format!("factory.talos.dev/installer/{schematic}:{version}"),
        None => format!("ghcr.io/siderolabs/installer:{version}"),
    }
}

/// The upgrade API a node of `contract` serves: Talos 1.13 replaced `MachineService.Upgrade`
/// by `ImageService.Pull` + `LifecycleService.Upgrade` (then `Reboot`). Decided by the version
/// the node runs *now*, since that is the API that answers.
#[must_use]
pub fn upgrade_api_for(contract: VersionContract) -> UpgradeApi {
    match contract {
        VersionContract::V1_12 => UpgradeApi::MachineService,
        VersionContract::V1_13 | VersionContract::V1_14 => UpgradeApi::Lifecycle,
    }
}

/// What [`upgrade_node`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeReport {
    /// The node.
    pub node: IpAddr,
    /// The version it reported before.
    pub from: String,
    /// The version it reports now (the target).
    pub to: String,
    /// `false` when it already ran the target version and was left alone.
    pub upgraded: bool,
}

/// Upgrades `node` to `target` with the installer `image` (see [`installer_image`]).
///
/// - If the node already reports `target`, nothing is installed and nothing reboots: re-running
///   a roll that stopped halfway skips the nodes that are done.
/// - Otherwise the upgrade goes through the API the node's current version offers
///   ([`upgrade_api_for`]); the node reboots, and the wait ends when it answers again reporting
///   `target` (waiting on the reported version rather than on seeing the node go away, which a
///   fast reboot can hide).
/// - With `etcd_gate` (the cluster's control planes, for a control plane node) the upgrade is
///   done only when every one of them is a voting etcd member again: the next node may then go
///   down without risking quorum. The gate also runs when the node was already upgraded, since
///   an interrupted earlier run may not have passed it.
///
/// # Errors
/// [`Error::NodeVersion`] when the node runs a version this provider has no upgrade path for;
/// [`Error::Apid`] when the upgrade is refused or the installer fails; [`Error::Timeout`] /
/// [`Error::Cancelled`] naming what was pending (e.g. `node 10.0.1.4 reports v1.13.9; waiting
/// for v1.14.0`).
pub async fn upgrade_node(
    client: &ApidClient,
    node: IpAddr,
    target: &TalosVersion,
    image: &str,
    etcd_gate: Option<&[ControlPlane]>,
    budget: &Deadline,
) -> Result<UpgradeReport, Error> {
    let label = node.to_string();
    let target_tag = target.to_string();
    let current = version_of(client, node, "Talos version before the upgrade", budget).await?;

    let upgraded = current != target_tag;
    if upgraded {
        let contract = current
            .parse::<TalosVersion>()
            .and_then(|version| version.contract())
            .map_err(|source| Error::NodeVersion {
                node,
                reported: current.clone(),
                source,
            })?;
        let request = UpgradeRequest {
            image: image.to_owned(),
            api: upgrade_api_for(contract),
            reboot_mode: RebootMode::Default,
        };
        tracing::info!(%node, from = %current, to = %target_tag, image, api = ?request.api, "upgrading Talos");
        let mut attempt = 1;
        loop {
            let call = client
                .node(node)
                .with_deadline(budget.call_deadline(UPGRADE_CALL_CAP))
                .upgrade(&request)
                .await;
            match call {
                Ok(_) => break,
                // Cut off: the call may or may not have reached the node. What it runs once it
                // answers again tells: the target (done, the wait below passes) or the old
                // version (the upgrade never started, or a reboot cut it short: call again).
                Err(err) if transient(&err) && attempt < UPGRADE_CALL_ATTEMPTS => {
                    tracing::info!(%node, attempt, error = %brief(&err), "upgrade call cut off; asking the node what it runs");
                    let now = version_of(
                        client,
                        node,
                        "Talos version after a cut-off upgrade call",
                        budget,
                    )
                    .await?;
                    if now == target_tag {
                        break;
                    }
                    attempt += 1;
                }
                Err(err) => {
                    return Err(Error::apid(
                        format!("upgrade of node {node} to {target_tag}"),
                        err,
                    ));
                }
            }
        }

        let what = format!("node {node} to reboot into Talos {target_tag}");
        poll(budget, &what, &label, || async {
            let result = client
                .node(node)
                .with_deadline(budget.check_deadline())
                .version()
                .await;
            match result {
                Ok(version) if version.tag == target_tag => Check::Done(()),
                Ok(version) => Check::pending(format!(
                    "node {node} reports {}; waiting for {target_tag}",
                    version.tag
                )),
                Err(err) => {
                    Check::from_error(format!("node {node} (rebooting into {target_tag})"), err)
                }
            }
        })
        .await?;
    } else {
        tracing::info!(%node, version = %target_tag, "already runs the target Talos version");
    }

    if let Some(control_planes) = etcd_gate {
        wait_etcd_members(client, control_planes, Membership::AtLeast, budget).await?;
    }
    Ok(UpgradeReport {
        node,
        from: current,
        to: target_tag,
        upgraded,
    })
}

/// The Talos version `node` reports, waiting through transient failures (`what` names the wait).
async fn version_of(
    client: &ApidClient,
    node: IpAddr,
    what: &str,
    budget: &Deadline,
) -> Result<String, Error> {
    poll(budget, what, &node.to_string(), || async {
        let result = client
            .node(node)
            .with_deadline(budget.check_deadline())
            .version()
            .await;
        match result {
            Ok(version) => Check::Done(version.tag),
            Err(err) => Check::from_error(format!("Version of node {node}"), err),
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installer_images_come_from_the_factory_when_a_schematic_is_given() {
        let version: TalosVersion = "v1.14.0".parse().unwrap();
        assert_eq!(
            installer_image(Some("3765"), &version),
            "factory.talos.dev/installer/3765:v1.14.0"
        );
        assert_eq!(
            installer_image(None, &version),
            "ghcr.io/siderolabs/installer:v1.14.0"
        );
    }

    #[test]
    fn the_lifecycle_api_starts_with_talos_1_13() {
        assert_eq!(
            upgrade_api_for(VersionContract::V1_12),
            UpgradeApi::MachineService
        );
        assert_eq!(
            upgrade_api_for(VersionContract::V1_13),
            UpgradeApi::Lifecycle
        );
        assert_eq!(
            upgrade_api_for(VersionContract::V1_14),
            UpgradeApi::Lifecycle
        );
    }
}
