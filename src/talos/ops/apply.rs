//! Applying a machine configuration with the mode the change needs.
//!
//! Talos decides whether a change can be applied live: `AUTO` picks `NO_REBOOT` when it can and
//! `REBOOT` otherwise, and a dry run reports that choice without applying anything. So every
//! apply starts with a dry run ([`dry_run`]), which also lets a plan warn in advance which
//! nodes will reboot. The real apply then names the mode explicitly, so a change that has come
//! to need a reboot in between is refused (`NO_REBOOT`) rather than rebooting a node the caller
//! was told would not. Trying `NO_REBOOT` first and reading its refusal was not used: Talos
//! refuses with `InvalidArgument` (and hk8s-sim with `FailedPrecondition`, which the apid
//! client retries as "busy"), so the refusal cannot be told apart from other failures reliably.

use std::net::IpAddr;
use std::time::Duration;

use super::error::Error;
use super::poll::{Check, brief, poll, transient};
use crate::deadline::Deadline;
use crate::talos::apid::{self, ApidClient, ApplyConfiguration, ApplyMode};

/// How long one `ApplyConfiguration` may take (Talos validates the config and applies it).
const APPLY_CALL_CAP: Duration = Duration::from_secs(120);

/// What to do when a change can only take effect with a reboot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RebootPolicy {
    /// Apply with a reboot and wait until the node runs the new configuration.
    Reboot,
    /// Store the configuration; it takes effect at the node's next reboot.
    Stage,
    /// Apply nothing and fail with [`Error::RebootRequired`].
    Refuse,
}

/// How a configuration took effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeMode {
    /// Applied live; the node kept running.
    NoReboot,
    /// Applied with a reboot; the node is back and runs the new configuration.
    Rebooted,
    /// Stored for the next reboot ([`RebootPolicy::Stage`]); the node still runs the old one.
    Staged,
}

/// The result of [`apply_config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedChange {
    /// The node.
    pub node: IpAddr,
    /// How the configuration took effect.
    pub mode: ChangeMode,
    /// Talos' description of what it did.
    pub details: String,
    /// Talos' validation warnings about the configuration.
    pub warnings: Vec<String>,
}

/// What applying a configuration would do, from a dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyPlan {
    /// Whether the change can only take effect with a reboot.
    pub needs_reboot: bool,
    /// Talos' description (real Talos includes a diff of the configuration, which can hold
    /// secrets: show it only where the configuration itself could be shown).
    pub details: String,
    /// Validation warnings.
    pub warnings: Vec<String>,
}

/// Asks `node` what applying `config` would do (`ApplyConfiguration{mode: AUTO, dry_run}`),
/// without changing anything. Waits while the node is unreachable or busy.
///
/// # Errors
/// [`Error::Apid`] when the configuration is refused (`InvalidArgument` with Talos' reasons);
/// [`Error::Timeout`] / [`Error::Cancelled`].
pub async fn dry_run(
    client: &ApidClient,
    node: IpAddr,
    config: &[u8],
    budget: &Deadline,
) -> Result<ApplyPlan, Error> {
    let what = format!("dry run of a configuration on node {node}");
    poll(budget, &what, &node.to_string(), || async {
        match dry_run_once(client, node, config, budget).await {
            Ok(plan) => Check::Done(plan),
            Err(err) => Check::from_error(format!("dry run on node {node}"), err),
        }
    })
    .await
}

async fn dry_run_once(
    client: &ApidClient,
    node: IpAddr,
    config: &[u8],
    budget: &Deadline,
) -> Result<ApplyPlan, apid::Error> {
    let outcome = client
        .node(node)
        .with_deadline(budget.check_deadline())
        .apply_configuration(ApplyConfiguration {
            config,
            mode: ApplyMode::Auto,
            dry_run: true,
        })
        .await?;
    Ok(ApplyPlan {
        // AUTO always comes back resolved; anything but NO_REBOOT is treated as a reboot.
        needs_reboot: outcome.mode != apid::AppliedMode::NoReboot,
        details: outcome.mode_details,
        warnings: outcome.warnings,
    })
}

/// The first line of a dry run's details that says what Talos would do, without the diff that
/// follows it (which can hold secrets).
fn summary(details: &str) -> String {
    details
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with("Dry run summary"))
        .unwrap_or("Talos gave no details")
        .to_owned()
}

/// Applies `config` (a complete machine configuration) to `node` with the mode the change
/// needs: live when Talos can, otherwise as `policy` says. With [`RebootPolicy::Reboot`] the
/// call returns once the node is back and a dry run of `config` finds nothing left that needs a
/// reboot, i.e. it runs the new configuration (whether or not its downtime was observed).
/// Applying the configuration a node already runs is a live no-op. After a reboot of a control
/// plane, gate the next node on [`wait_etcd_members`](super::wait_etcd_members) (see
/// [`rolling()`](super::rolling())).
///
/// The configuration is secret: it is never logged.
///
/// # Errors
/// [`Error::RebootRequired`] under [`RebootPolicy::Refuse`]; [`Error::Apid`] when Talos refuses
/// the configuration; [`Error::Timeout`] / [`Error::Cancelled`] naming what was pending.
pub async fn apply_config(
    client: &ApidClient,
    node: IpAddr,
    config: &[u8],
    policy: RebootPolicy,
    budget: &Deadline,
) -> Result<AppliedChange, Error> {
    let mut unknown = 0;
    loop {
        match apply_once(client, node, config, policy, budget).await {
            // The connection broke with the apply in flight (the node rebooted, or the load
            // balancer's target did): it may or may not have been applied. The next round's
            // dry run reads what the node runs now and applies only what is still missing (the
            // same configuration again is a live no-op).
            Err(Error::Apid { source, .. })
                if source.is_broken_connection() && unknown < MAX_UNKNOWN_OUTCOMES =>
            {
                unknown += 1;
                tracing::debug!(%node, error = %source, "the apply's outcome is unknown: reading the node's configuration again");
            }
            other => return other,
        }
    }
}

/// How often [`apply_config`] starts over after an apply whose outcome is unknown.
const MAX_UNKNOWN_OUTCOMES: u32 = 3;

async fn apply_once(
    client: &ApidClient,
    node: IpAddr,
    config: &[u8],
    policy: RebootPolicy,
    budget: &Deadline,
) -> Result<AppliedChange, Error> {
    let plan = dry_run(client, node, config, budget).await?;
    let (mode, change) = match (plan.needs_reboot, policy) {
        (false, _) => (ApplyMode::NoReboot, ChangeMode::NoReboot),
        (true, RebootPolicy::Reboot) => (ApplyMode::Reboot, ChangeMode::Rebooted),
        (true, RebootPolicy::Stage) => (ApplyMode::Staged, ChangeMode::Staged),
        (true, RebootPolicy::Refuse) => {
            return Err(Error::RebootRequired {
                node,
                details: summary(&plan.details),
            });
        }
    };
    tracing::info!(%node, mode = ?change, "applying machine configuration");
    let outcome = client
        .node(node)
        .with_deadline(budget.call_deadline(APPLY_CALL_CAP))
        .apply_configuration(ApplyConfiguration {
            config,
            mode,
            dry_run: false,
        })
        .await
        .map_err(|err| Error::apid(format!("apply of the configuration to node {node}"), err))?;

    if change == ChangeMode::Rebooted {
        let what = format!("node {node} to reboot into its new configuration");
        poll(budget, &what, &node.to_string(), || async {
            match dry_run_once(client, node, config, budget).await {
                Ok(plan) if !plan.needs_reboot => Check::Done(()),
                Ok(_) => {
                    Check::pending(format!("node {node} still runs its previous configuration"))
                }
                Err(err) if transient(&err) => Check::Pending {
                    state: format!("node {node} (rebooting): {}", brief(&err)),
                    error: Some(err),
                },
                Err(err) => Check::Failed(Error::apid(
                    format!("check of the configuration on node {node} after its reboot"),
                    err,
                )),
            }
        })
        .await?;
    }
    Ok(AppliedChange {
        node,
        mode: change,
        details: outcome.mode_details,
        warnings: outcome.warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_skips_the_header_and_drops_the_diff() {
        let talos = "Dry run summary:\nApplied configuration with a reboot (skipped in dry-run).\n\nConfig diff:\n-  key: secret\n";
        assert_eq!(
            summary(talos),
            "Applied configuration with a reboot (skipped in dry-run)."
        );
        assert_eq!(summary(""), "Talos gave no details");
    }
}
