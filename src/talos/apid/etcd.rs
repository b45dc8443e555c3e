//! etcd membership calls: `EtcdMemberList`, `EtcdLeaveCluster`, `EtcdRemoveMemberByID`.

use super::Node;
use super::error::{Error, Rpc};
use super::proto::machine as wire;
use super::reply::{self, status_error};

/// One member of the etcd cluster, as a control plane node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdMember {
    /// The member ID (what [`Node::etcd_remove_member`] takes).
    pub id: u64,
    /// The member's name: the node's hostname.
    pub hostname: String,
    /// URLs the member uses to talk to its peers.
    pub peer_urls: Vec<String>,
    /// URLs the member serves clients on.
    pub client_urls: Vec<String>,
    /// A learner is still catching up and does not vote yet.
    pub is_learner: bool,
}

impl From<wire::EtcdMember> for EtcdMember {
    fn from(member: wire::EtcdMember) -> Self {
        Self {
            id: member.id,
            hostname: member.hostname,
            peer_urls: member.peer_urls,
            client_urls: member.client_urls,
            is_learner: member.is_learner,
        }
    }
}

impl Node {
    /// The members of the etcd cluster, as seen through this control plane node's etcd client
    /// (the cluster's view, not only the local member).
    pub async fn etcd_members(&self) -> Result<Vec<EtcdMember>, Error> {
        let (rpc, target) = (Rpc::EtcdMemberList, self.target());
        let reply = self
            .call(rpc, |remaining| {
                let mut service = self.machine_service();
                let request = self.request(
                    wire::EtcdMemberListRequest { query_local: false },
                    remaining,
                );
                async move {
                    let reply = service
                        .etcd_member_list(request)
                        .await
                        .map_err(|status| status_error(rpc, target, status))?;
                    reply::single(rpc, target, reply.into_inner().messages)
                }
            })
            .await?;
        Ok(reply.members.into_iter().map(EtcdMember::from).collect())
    }

    /// Makes this control plane node leave the etcd cluster (Talos checks that the cluster
    /// stays healthy without it).
    pub async fn etcd_leave_cluster(&self) -> Result<(), Error> {
        let (rpc, target) = (Rpc::EtcdLeaveCluster, self.target());
        self.call(rpc, |remaining| {
            let mut service = self.machine_service();
            let request = self.request(wire::EtcdLeaveClusterRequest {}, remaining);
            async move {
                let reply = service
                    .etcd_leave_cluster(request)
                    .await
                    .map_err(|status| status_error(rpc, target, status))?;
                reply::all(rpc, target, &reply.into_inner().messages)
            }
        })
        .await
    }

    /// Removes the member `member_id` from the etcd cluster, through this (other) control plane
    /// node: for members whose node is gone and cannot leave by itself.
    pub async fn etcd_remove_member(&self, member_id: u64) -> Result<(), Error> {
        let (rpc, target) = (Rpc::EtcdRemoveMemberById, self.target());
        self.call(rpc, |remaining| {
            let mut service = self.machine_service();
            let request = self.request(wire::EtcdRemoveMemberByIdRequest { member_id }, remaining);
            async move {
                let reply = service
                    .etcd_remove_member_by_id(request)
                    .await
                    .map_err(|status| status_error(rpc, target, status))?;
                reply::all(rpc, target, &reply.into_inner().messages)
            }
        })
        .await
    }
}
