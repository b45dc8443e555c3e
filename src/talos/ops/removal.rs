//! Taking members out of etcd without losing quorum: a control plane that leaves, and
//! leftover members of nodes that no longer exist.

use std::net::IpAddr;
use std::time::Duration;

use futures::future::join_all;

use super::error::Error;
use super::etcd::{ControlPlane, describe_member, member_list, url_host};
use super::poll::{Check, brief, poll, transient, unreachable};
use crate::deadline::Deadline;
use crate::talos::apid::{self, ApidClient, EtcdMember, ResetOptions};

/// How long the graceful reset call may take (Talos leaves etcd and drains before answering).
const RESET_CALL_CAP: Duration = Duration::from_secs(120);

/// How many graceful reset calls a leaving node gets when a call is cut off (a reboot, a broken
/// connection) and the node is still an etcd member afterwards.
const RESET_CALL_ATTEMPTS: u32 = 3;

/// How a control plane left etcd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalPath {
    /// The node was reset gracefully and left etcd by itself.
    Left,
    /// The node could not be reached; another member removed it by id.
    RemovedById,
    /// It was not a member any more (a re-run, or it never joined): nothing was done.
    AlreadyGone,
}

/// The result of [`remove_control_plane`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Removal {
    /// The etcd member id it had, when it still was a member.
    pub member_id: Option<u64>,
    /// How it left.
    pub path: RemovalPath,
}

/// Takes control plane `node` out of etcd without losing quorum, leaving `remaining` (the
/// control planes that stay) as the cluster.
///
/// 1. Refuses ([`Error::LastEtcdMember`]) if no other member would remain.
/// 2. If the member list (asked of `remaining`, or of `node` when none of them answers) no longer
///    holds `node`, returns [`RemovalPath::AlreadyGone`]: re-running a removal is a no-op.
///    Refuses ([`Error::WouldLoseQuorum`]) if fewer of the members left behind answer than their
///    quorum needs (e.g. removing a live member of three while another is down): remove the
///    dead member first.
/// 3. Resets `node` gracefully (`Reset{graceful: true}`: Talos leaves etcd after checking the
///    cluster stays healthy, then wipes and powers off the node). If `node` cannot be reached
///    (gone, off), one of `remaining` removes its member by id instead (`NotFound` there counts
///    as done).
/// 4. Waits until the member list no longer holds it.
///
/// The caller deletes the Kubernetes node and the server afterwards.
///
/// # Errors
/// [`Error::LastEtcdMember`]; [`Error::WouldLoseQuorum`]; [`Error::Apid`] when the reset is refused or no remaining member
/// can remove the member; [`Error::Timeout`] / [`Error::Cancelled`] naming what was pending.
pub async fn remove_control_plane(
    client: &ApidClient,
    node: &ControlPlane,
    remaining: &[ControlPlane],
    budget: &Deadline,
) -> Result<Removal, Error> {
    let others: Vec<ControlPlane> = remaining.iter().filter(|n| *n != node).cloned().collect();
    if others.is_empty() {
        return Err(Error::LastEtcdMember {
            node: node.to_string(),
        });
    }
    let label = node.to_string();
    let mut everyone = others.clone();
    everyone.push(node.clone());
    let members = poll(budget, "etcd member list", &label, || async {
        match member_list::<Vec<EtcdMember>>(client, &others, budget).await {
            Ok(members) => Check::Done(members),
            // The remaining members may all be down while the leaving one still answers.
            Err(_) => match member_list(client, &everyone, budget).await {
                Ok(members) => Check::Done(members),
                Err(check) => check,
            },
        }
    })
    .await?;
    let Some(member) = members.iter().find(|m| node.is(m)).cloned() else {
        tracing::info!(node = %label, "not an etcd member any more; nothing to remove");
        return Ok(Removal {
            member_id: None,
            path: RemovalPath::AlreadyGone,
        });
    };
    if members.iter().all(|m| m.id == member.id) {
        return Err(Error::LastEtcdMember { node: label });
    }
    check_quorum_after(client, &member, &members, &others, budget, &label).await?;

    let mut attempt = 1;
    let path = loop {
        let reset = reset_gracefully(client, node, &member, budget, &label).await;
        match reset {
            Ok(()) => break RemovalPath::Left,
            Err(err) if unreachable(&err) => {
                tracing::info!(node = %label, error = %brief(&err), "node unreachable; removing its etcd member from another control plane");
                remove_by_id(client, &others, member.id, budget, &label).await?;
                break RemovalPath::RemovedById;
            }
            // Cut off: the node may have left already. If it is still a member, it is asked
            // again (a node that went away meanwhile is removed by a peer on the next round).
            Err(err) if transient(&err) && attempt < RESET_CALL_ATTEMPTS => {
                tracing::info!(node = %label, attempt, error = %brief(&err), "graceful reset cut off; checking etcd membership");
                let members = poll(budget, "etcd member list", &label, || async {
                    match member_list::<Vec<EtcdMember>>(client, &others, budget).await {
                        Ok(members) => Check::Done(members),
                        Err(check) => check,
                    }
                })
                .await?;
                if !members.iter().any(|m| m.id == member.id) {
                    break RemovalPath::Left;
                }
                attempt += 1;
            }
            Err(err) => {
                return Err(Error::apid(
                    format!("graceful reset of control plane {label}"),
                    err,
                ));
            }
        }
    };

    let what = format!("etcd member of {label} to be removed");
    poll(budget, &what, &label, || async {
        let members = match member_list(client, &others, budget).await {
            Ok(members) => members,
            Err(check) => return check,
        };
        if members.iter().any(|m| m.id == member.id) {
            Check::pending(format!(
                "etcd members still include {}",
                describe_member(&member)
            ))
        } else {
            Check::Done(())
        }
    })
    .await?;
    Ok(Removal {
        member_id: Some(member.id),
        path,
    })
}

/// `Reset{graceful: true}` of `node`, after a quick look that it answers at all, so that an
/// unreachable node does not hold the reset call (and its longer limit) up before the fallback.
async fn reset_gracefully(
    client: &ApidClient,
    node: &ControlPlane,
    member: &EtcdMember,
    budget: &Deadline,
    label: &str,
) -> Result<(), apid::Error> {
    let reachable = client
        .node(node.ip)
        .with_deadline(budget.check_deadline())
        .version()
        .await;
    match reachable {
        Err(err) if unreachable(&err) => Err(err),
        _ => {
            tracing::info!(node = %label, member = %format!("{:x}", member.id), "resetting control plane gracefully (it leaves etcd)");
            client
                .node(node.ip)
                .with_deadline(budget.call_deadline(RESET_CALL_CAP))
                .reset(&ResetOptions::default())
                .await
        }
    }
}

/// Fails with [`Error::WouldLoseQuorum`] unless enough of the members left after removing
/// `leaving` answer for them to keep quorum. A member answers when its node answers `Version` at
/// the address of the matching control plane, else at its peer URLs' addresses.
async fn check_quorum_after(
    client: &ApidClient,
    leaving: &EtcdMember,
    members: &[EtcdMember],
    others: &[ControlPlane],
    budget: &Deadline,
    label: &str,
) -> Result<(), Error> {
    let left: Vec<&EtcdMember> = members.iter().filter(|m| m.id != leaving.id).collect();
    let probes = left.iter().map(|member| {
        let addresses: Vec<IpAddr> = match others.iter().find(|cp| cp.is(member)) {
            Some(cp) => vec![cp.ip],
            None => member
                .peer_urls
                .iter()
                .filter_map(|u| url_host(u))
                .collect(),
        };
        async move {
            for ip in addresses {
                let answer = client
                    .node(ip)
                    .with_deadline(budget.check_deadline())
                    .version()
                    .await;
                if answer.is_ok() {
                    return true;
                }
            }
            false
        }
    });
    let answers = join_all(probes).await;
    let silent: Vec<String> = left
        .iter()
        .zip(&answers)
        .filter(|(_, answered)| !**answered)
        .map(|(member, _)| describe_member(member))
        .collect();
    let answering = left.len() - silent.len();
    let quorum = left.len() / 2 + 1;
    if answering < quorum {
        return Err(Error::WouldLoseQuorum {
            node: label.to_owned(),
            members_left: left.len(),
            answering,
            silent,
        });
    }
    Ok(())
}

/// `EtcdRemoveMemberByID` through the first of `others` that accepts it (`NotFound`: gone
/// already, which is what we want).
async fn remove_by_id(
    client: &ApidClient,
    others: &[ControlPlane],
    member_id: u64,
    budget: &Deadline,
    label: &str,
) -> Result<(), Error> {
    let what = format!("removal of the etcd member of {label} by id");
    poll(budget, &what, label, || async {
        let mut failures = Vec::new();
        let mut last_error: Option<apid::Error> = None;
        for other in others {
            let result = client
                .node(other.ip)
                .with_deadline(budget.check_deadline())
                .etcd_remove_member(member_id)
                .await;
            match result {
                Ok(()) => return Check::Done(()),
                Err(err) if err.grpc_code() == Some(tonic::Code::NotFound) => {
                    return Check::Done(());
                }
                Err(err) if transient(&err) => {
                    failures.push(format!("{other}: {}", brief(&err)));
                    last_error = Some(err);
                }
                Err(err) => {
                    return Check::Failed(Error::apid(
                        format!("removal of etcd member {member_id:x} through {other}"),
                        err,
                    ));
                }
            }
        }
        Check::Pending {
            state: format!(
                "no remaining control plane could remove member {member_id:x}: {}",
                failures.join("; ")
            ),
            error: last_error,
        }
    })
    .await
}

/// What [`remove_dead_members`] did with the members that match none of the control planes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadMembers {
    /// Removed: no node answers at any address of their peer URLs (a deleted or dead server).
    pub removed: Vec<EtcdMember>,
    /// Left alone: their node answers, so it is alive though the caller did not list it.
    pub alive: Vec<EtcdMember>,
}

/// Removes etcd members that belong to none of `control_planes` and whose node is dead, such as
/// the member of a server deleted behind Terraform's back: it still counts towards quorum and
/// can never vote, so one more failure would stop the cluster.
///
/// A member is only removed when no address of its peer URLs answers `Version` (a member
/// without any address counts as dead); a live node the caller did not list is reported in
/// [`DeadMembers::alive`] and left alone. Nothing is removed when no member is one of
/// `control_planes` (the list is then probably wrong, and every member would look foreign).
/// `control_planes` must list every control plane server that exists, running or not: an
/// unlisted node that is merely powered off looks dead too.
///
/// # Errors
/// [`Error::NoKnownMember`]; [`Error::Apid`] when a removal is refused; [`Error::Timeout`] /
/// [`Error::Cancelled`]; [`Error::NoNodes`] when `control_planes` is empty.
pub async fn remove_dead_members(
    client: &ApidClient,
    control_planes: &[ControlPlane],
    budget: &Deadline,
) -> Result<DeadMembers, Error> {
    if control_planes.is_empty() {
        return Err(Error::NoNodes {
            what: "removing dead etcd members",
        });
    }
    let label = control_planes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let members = poll(budget, "etcd member list", &label, || async {
        match member_list(client, control_planes, budget).await {
            Ok(members) => Check::Done(members),
            Err(check) => check,
        }
    })
    .await?;
    if !members
        .iter()
        .any(|m| control_planes.iter().any(|cp| cp.is(m)))
    {
        return Err(Error::NoKnownMember {
            members: members
                .iter()
                .map(describe_member)
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let mut outcome = DeadMembers::default();
    for member in members
        .into_iter()
        .filter(|m| !control_planes.iter().any(|cp| cp.is(m)))
    {
        let mut answers = false;
        for ip in member.peer_urls.iter().filter_map(|url| url_host(url)) {
            let result = client
                .node(ip)
                .with_deadline(budget.check_deadline())
                .version()
                .await;
            if result.is_ok() {
                answers = true;
                break;
            }
        }
        let description = describe_member(&member);
        if answers {
            tracing::warn!(member = %description, "etcd member of an unlisted node that is alive; left alone");
            outcome.alive.push(member);
        } else {
            tracing::info!(member = %description, "removing the etcd member of a node that no longer answers");
            remove_by_id(client, control_planes, member.id, budget, &description).await?;
            outcome.removed.push(member);
        }
    }
    Ok(outcome)
}
