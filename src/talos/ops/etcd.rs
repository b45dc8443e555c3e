//! etcd membership: which member is which control plane, and waiting for the control planes
//! to be voting members. Removing members is in [`super::removal`].
//!
//! Members are matched to control planes by hostname (Talos names each member after its node)
//! or by the IP in a peer URL (`https://10.0.1.4:2380`, from `cluster.etcd.advertisedSubnets`),
//! so a node is recognised even if one of the two differs from what the caller expects. The
//! member list is asked of every given control plane at once and the first answer is used: any
//! member sees the whole cluster, and nodes that are down or not members yet must not hold the
//! wait up.

use std::fmt;
use std::net::IpAddr;

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::error::Error;
use super::poll::{Check, brief, poll, transient};
use crate::deadline::Deadline;
use crate::talos::apid::{ApidClient, EtcdMember};

/// A control plane node as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ControlPlane {
    /// Its hostname (the etcd member name and Kubernetes node name).
    pub name: String,
    /// Its private IP: what `node` routing and the etcd peer URLs use.
    pub ip: IpAddr,
}

impl ControlPlane {
    /// A control plane named `name` at `ip`.
    #[must_use]
    pub fn new(name: impl Into<String>, ip: IpAddr) -> Self {
        Self {
            name: name.into(),
            ip,
        }
    }

    /// Whether `member` is this node's etcd member (same hostname, or a peer URL on its IP).
    #[must_use]
    pub fn is(&self, member: &EtcdMember) -> bool {
        member.hostname == self.name
            || member
                .peer_urls
                .iter()
                .any(|url| url_host(url) == Some(self.ip))
    }
}

impl fmt::Display for ControlPlane {
    /// `cp-1 (10.0.1.2)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.name, self.ip)
    }
}

/// The host of a URL such as `https://10.0.1.4:2380` or `https://[fd00::4]:2380`, as an IP.
pub(crate) fn url_host(url: &str) -> Option<IpAddr> {
    let authority = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = authority.split('/').next().unwrap_or(authority);
    if let Some(bracketed) = authority.strip_prefix('[') {
        return bracketed.split_once(']')?.0.parse().ok();
    }
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host);
    host.parse().ok()
}

/// What [`wait_etcd_members`] waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Membership {
    /// The members are exactly the given control planes, all voting (no learners, nothing
    /// else): what a finished create, scale or upgrade must leave behind. A member that matches
    /// no given node (a leftover of a deleted server) keeps the wait pending and is named in the
    /// timeout, because it counts towards quorum while it cannot vote.
    Exactly,
    /// Every given control plane is a voting member; other members are tolerated.
    AtLeast,
}

/// Waits until etcd's member list matches `control_planes` as `membership` says, and returns it.
///
/// # Errors
/// [`Error::Timeout`] saying which members are there and which are awaited (e.g. `etcd members:
/// have cp-1 (10.0.1.2), cp-2 (10.0.1.3); waiting for cp-3 (10.0.1.4)`), or that no control
/// plane answered; [`Error::Cancelled`]; [`Error::Apid`] when the member list is refused for
/// good (permissions); [`Error::NoNodes`] when `control_planes` is empty.
pub async fn wait_etcd_members(
    client: &ApidClient,
    control_planes: &[ControlPlane],
    membership: Membership,
    budget: &Deadline,
) -> Result<Vec<EtcdMember>, Error> {
    if control_planes.is_empty() {
        return Err(Error::NoNodes {
            what: "waiting for etcd members",
        });
    }
    let what = format!(
        "etcd membership of {} control plane(s)",
        control_planes.len()
    );
    poll(budget, &what, &names(control_planes), || async {
        let members = match member_list(client, control_planes, budget).await {
            Ok(members) => members,
            Err(check) => return check,
        };
        match compare(&members, control_planes, membership) {
            None => Check::Done(members),
            Some(pending) => Check::pending(pending),
        }
    })
    .await
}

/// What is missing for `members` to match `expected`, or `None` when it matches.
fn compare(
    members: &[EtcdMember],
    expected: &[ControlPlane],
    membership: Membership,
) -> Option<String> {
    let mut have = Vec::new();
    let mut waiting = Vec::new();
    for node in expected {
        match members.iter().find(|m| node.is(m)) {
            Some(member) if member.is_learner => waiting.push(format!("{node} (learner)")),
            Some(_) => have.push(node.to_string()),
            None => waiting.push(node.to_string()),
        }
    }
    let unexpected: Vec<String> = members
        .iter()
        .filter(|m| !expected.iter().any(|node| node.is(m)))
        .map(describe_member)
        .collect();
    let extra_matters = membership == Membership::Exactly && !unexpected.is_empty();
    if waiting.is_empty() && !extra_matters {
        return None;
    }
    let mut pending = format!(
        "etcd members: have {}",
        if have.is_empty() {
            "none of them".to_owned()
        } else {
            have.join(", ")
        }
    );
    if !waiting.is_empty() {
        pending.push_str(&format!("; waiting for {}", waiting.join(", ")));
    }
    if extra_matters {
        pending.push_str(&format!(
            "; waiting for unexpected member(s) to leave: {}",
            unexpected.join(", ")
        ));
    }
    Some(pending)
}

/// `cp-9 (member 1a2b, https://10.0.1.9:2380)`.
pub(crate) fn describe_member(member: &EtcdMember) -> String {
    format!(
        "{} (member {:x}, {})",
        if member.hostname.is_empty() {
            "<unnamed>"
        } else {
            &member.hostname
        },
        member.id,
        member.peer_urls.join(" ")
    )
}

/// `cp-1 (10.0.1.2), cp-2 (10.0.1.3)`.
fn names(nodes: &[ControlPlane]) -> String {
    nodes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The member list from the first of `asked` to answer; otherwise the check result saying why
/// nobody did (pending while the errors are transient).
pub(crate) async fn member_list<T>(
    client: &ApidClient,
    asked: &[ControlPlane],
    budget: &Deadline,
) -> Result<Vec<EtcdMember>, Check<T>> {
    let mut calls: FuturesUnordered<_> = asked
        .iter()
        .map(|node| {
            let call = client.node(node.ip).with_deadline(budget.check_deadline());
            async move { (node, call.etcd_members().await) }
        })
        .collect();
    let mut failures = Vec::new();
    let mut last_error = None;
    while let Some((node, result)) = calls.next().await {
        match result {
            Ok(members) => return Ok(members),
            Err(err) if transient(&err) => {
                failures.push(format!("{node}: {}", brief(&err)));
                last_error = Some(err);
            }
            Err(err) => {
                return Err(Check::Failed(Error::apid(
                    format!("etcd member list from {node}"),
                    err,
                )));
            }
        }
    }
    Err(Check::Pending {
        state: format!(
            "etcd member list: no control plane answered ({})",
            failures.join("; ")
        ),
        error: last_error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: u64, hostname: &str, ip: &str, learner: bool) -> EtcdMember {
        EtcdMember {
            id,
            hostname: hostname.into(),
            peer_urls: vec![format!("https://{ip}:2380")],
            client_urls: vec![],
            is_learner: learner,
        }
    }

    fn cp(name: &str, ip: &str) -> ControlPlane {
        ControlPlane::new(name, ip.parse().unwrap())
    }

    #[test]
    fn peer_url_hosts_parse_for_both_families() {
        assert_eq!(url_host("https://10.0.1.4:2380"), "10.0.1.4".parse().ok());
        assert_eq!(url_host("https://[fd00::4]:2380"), "fd00::4".parse().ok());
        assert_eq!(url_host("https://10.0.1.4"), "10.0.1.4".parse().ok());
        assert_eq!(url_host("https://etcd.example:2380"), None);
    }

    #[test]
    fn members_match_by_hostname_or_peer_ip() {
        let node = cp("cp-1", "10.0.1.2");
        assert!(node.is(&member(1, "cp-1", "10.9.9.9", false)));
        assert!(node.is(&member(1, "renamed", "10.0.1.2", false)));
        assert!(!node.is(&member(1, "cp-2", "10.0.1.3", false)));
    }

    #[test]
    fn pending_names_what_is_there_and_what_is_awaited() {
        let expected = [
            cp("cp-1", "10.0.1.2"),
            cp("cp-2", "10.0.1.3"),
            cp("cp-3", "10.0.1.4"),
        ];
        let members = [
            member(1, "cp-1", "10.0.1.2", false),
            member(2, "cp-2", "10.0.1.3", false),
        ];
        assert_eq!(
            compare(&members, &expected, Membership::Exactly).as_deref(),
            Some(
                "etcd members: have cp-1 (10.0.1.2), cp-2 (10.0.1.3); waiting for cp-3 (10.0.1.4)"
            )
        );
    }

    #[test]
    fn learners_are_not_members_yet_and_extras_matter_only_for_exactly() {
        let expected = [cp("cp-1", "10.0.1.2"), cp("cp-2", "10.0.1.3")];
        let with_learner = [
            member(1, "cp-1", "10.0.1.2", false),
            member(2, "cp-2", "10.0.1.3", true),
        ];
        assert!(
            compare(&with_learner, &expected, Membership::AtLeast)
                .unwrap()
                .contains("waiting for cp-2 (10.0.1.3) (learner)")
        );
        let with_extra = [
            member(1, "cp-1", "10.0.1.2", false),
            member(2, "cp-2", "10.0.1.3", false),
            member(0x1a, "cp-9", "10.0.1.9", false),
        ];
        assert_eq!(compare(&with_extra, &expected, Membership::AtLeast), None);
        assert_eq!(
            compare(&with_extra, &expected, Membership::Exactly).as_deref(),
            Some(
                "etcd members: have cp-1 (10.0.1.2), cp-2 (10.0.1.3); waiting for unexpected member(s) to leave: cp-9 (member 1a, https://10.0.1.9:2380)"
            )
        );
    }
}
