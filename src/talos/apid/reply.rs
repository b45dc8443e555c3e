//! Turning gRPC results and Talos' `repeated` replies into typed results.
//!
//! Every Talos reply is a list of messages, one per node that answered, each with `metadata`
//! (hostname, and an error when that node failed). A call can therefore succeed at the gRPC level
//! and still carry a node's failure; [`check`] turns such a failure into [`Error::Node`].

use super::error::{Error, Rpc, Target};
use super::proto::{common, machine};
use super::tls::tls_error_in;

/// A reply message that carries Talos' per-node metadata.
pub(crate) trait NodeMessage {
    fn metadata(&self) -> Option<&common::Metadata>;
}

macro_rules! node_message {
    ($($ty:ty),* $(,)?) => {
        $(impl NodeMessage for $ty {
            fn metadata(&self) -> Option<&common::Metadata> {
                self.metadata.as_ref()
            }
        })*
    };
}

node_message!(
    common::Data,
    machine::Version,
    machine::ApplyConfiguration,
    machine::Bootstrap,
    machine::EtcdMembers,
    machine::EtcdLeaveCluster,
    machine::EtcdRemoveMemberById,
    machine::Reset,
    machine::Reboot,
    machine::Upgrade,
);

/// Returns an [`Error::Node`] if the message reports a failure of its node.
pub(crate) fn check<M: NodeMessage>(rpc: Rpc, target: Target, message: &M) -> Result<(), Error> {
    let Some(metadata) = message.metadata() else {
        return Ok(());
    };
    let status = metadata.status.as_ref().filter(|s| s.code != 0);
    if metadata.error.is_empty() && status.is_none() {
        return Ok(());
    }
    let code = status.map_or(tonic::Code::Unknown, |s| tonic::Code::from_i32(s.code));
    let message = match (metadata.error.is_empty(), status) {
        (false, _) | (true, None) => metadata.error.clone(),
        (true, Some(status)) => status.message.clone(),
    };
    Err(Error::Node {
        rpc,
        target,
        hostname: metadata.hostname.clone(),
        code,
        message,
    })
}

/// Checks every message and returns the first: through `node` routing (or at a node directly)
/// exactly one node answers. No message at all is an [`Error::UnexpectedReply`].
pub(crate) fn single<M: NodeMessage>(
    rpc: Rpc,
    target: Target,
    messages: Vec<M>,
) -> Result<M, Error> {
    all(rpc, target, &messages)?;
    messages.into_iter().next().ok_or(Error::UnexpectedReply {
        rpc,
        target,
        problem: "the reply holds no message",
    })
}

/// Checks every message; for calls whose reply carries nothing but the per-node status.
pub(crate) fn all<M: NodeMessage>(rpc: Rpc, target: Target, messages: &[M]) -> Result<(), Error> {
    messages.iter().try_for_each(|m| check(rpc, target, m))
}

/// Converts a failed call's gRPC status into the matching [`Error`].
pub(crate) fn status_error(rpc: Rpc, target: Target, status: tonic::Status) -> Error {
    if let Some(source) = tls_error_in(&status) {
        return Error::Tls {
            rpc,
            target,
            source,
        };
    }
    if status.code() == tonic::Code::Cancelled {
        return Error::Cancelled {
            rpc,
            target,
            status,
        };
    }
    Error::Status {
        rpc,
        target,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::talos::apid::proto::google;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    fn target() -> Target {
        Target {
            endpoint: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 50000),
            node: Some(IpAddr::V4(Ipv4Addr::new(10, 0, 1, 2))),
        }
    }

    fn bootstrap(metadata: Option<common::Metadata>) -> machine::Bootstrap {
        machine::Bootstrap { metadata }
    }

    #[test]
    fn messages_without_errors_pass() {
        let ok = common::Metadata {
            hostname: "cp-1".into(),
            ..Default::default()
        };
        all(
            Rpc::Bootstrap,
            target(),
            &[bootstrap(None), bootstrap(Some(ok))],
        )
        .unwrap();
    }

    #[test]
    fn metadata_error_becomes_a_node_error_with_the_status_code() {
        let failed = common::Metadata {
            hostname: "cp-1".into(),
            error: "bootstrap is not available yet".into(),
            status: Some(google::rpc::Status {
                code: tonic::Code::FailedPrecondition as i32,
                message: "bootstrap is not available yet".into(),
                details: vec![],
            }),
        };
        let err = single(Rpc::Bootstrap, target(), vec![bootstrap(Some(failed))]).unwrap_err();
        let Error::Node {
            hostname,
            code,
            message,
            ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(hostname, "cp-1");
        assert_eq!(*code, tonic::Code::FailedPrecondition);
        assert_eq!(message, "bootstrap is not available yet");
        assert!(err.to_string().contains("node 10.0.1.2"), "{err}");
    }

    #[test]
    fn metadata_error_without_status_is_unknown() {
        let failed = common::Metadata {
            error: "boom".into(),
            ..Default::default()
        };
        let err = check(Rpc::Reset, target(), &bootstrap(Some(failed))).unwrap_err();
        assert_eq!(err.grpc_code(), Some(tonic::Code::Unknown));
    }

    #[test]
    fn an_empty_reply_is_unexpected() {
        let err = single::<machine::Bootstrap>(Rpc::Version, target(), vec![]).unwrap_err();
        assert!(matches!(err, Error::UnexpectedReply { .. }), "{err:?}");
    }
}
