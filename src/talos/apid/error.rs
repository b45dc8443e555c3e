//! Errors of the apid client, and the names of the RPCs and targets they refer to.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// One Talos API call the client makes, named in errors and logs.
///
/// [`Rpc::default_deadline`] is the deadline a call gets unless the caller sets one with
/// [`Node::with_deadline`](super::Node::with_deadline).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rpc {
    /// `MachineService.Version`.
    Version,
    /// `MachineService.ApplyConfiguration`.
    ApplyConfiguration,
    /// `MachineService.Bootstrap`.
    Bootstrap,
    /// `MachineService.EtcdMemberList`.
    EtcdMemberList,
    /// `MachineService.EtcdLeaveCluster`.
    EtcdLeaveCluster,
    /// `MachineService.EtcdRemoveMemberByID`.
    EtcdRemoveMemberById,
    /// `MachineService.Reset`.
    Reset,
    /// `MachineService.Reboot`.
    Reboot,
    /// `MachineService.Kubeconfig`.
    Kubeconfig,
    /// `ImageService.Pull` (Talos 1.13+ upgrades).
    ImagePull,
    /// `LifecycleService.Upgrade` (Talos 1.13+ upgrades).
    LifecycleUpgrade,
    /// `MachineService.Upgrade` (the upgrade API of Talos 1.12 and older).
    MachineUpgrade,
    /// `cosi.resource.State.Get` (resources, as `talosctl get` reads them).
    ResourceGet,
}

impl Rpc {
    /// The gRPC method path, e.g. `/machine.MachineService/Version`.
    #[must_use]
    pub fn method(self) -> &'static str {
        match self {
            Self::Version => "/machine.MachineService/Version",
            Self::ApplyConfiguration => "/machine.MachineService/ApplyConfiguration",
            Self::Bootstrap => "/machine.MachineService/Bootstrap",
            Self::EtcdMemberList => "/machine.MachineService/EtcdMemberList",
            Self::EtcdLeaveCluster => "/machine.MachineService/EtcdLeaveCluster",
            Self::EtcdRemoveMemberById => "/machine.MachineService/EtcdRemoveMemberByID",
            Self::Reset => "/machine.MachineService/Reset",
            Self::Reboot => "/machine.MachineService/Reboot",
            Self::Kubeconfig => "/machine.MachineService/Kubeconfig",
            Self::ImagePull => "/machine.ImageService/Pull",
            Self::LifecycleUpgrade => "/machine.LifecycleService/Upgrade",
            Self::MachineUpgrade => "/machine.MachineService/Upgrade",
            Self::ResourceGet => "/cosi.resource.State/Get",
        }
    }

    /// Whether sending the call again after its connection broke mid-call cannot do anything
    /// twice: reads, and the pull of an image (pulled once, found the second time). Writes are
    /// not repeated blindly: the first may have been carried out before the connection broke.
    #[must_use]
    pub fn safe_to_repeat(self) -> bool {
        matches!(
            self,
            Self::Version
                | Self::EtcdMemberList
                | Self::Kubeconfig
                | Self::ResourceGet
                | Self::ImagePull
        )
    }

    /// How long a call may take, retries included, unless the caller says otherwise.
    ///
    /// Quick reads get 30 s; calls that make Talos do work (validate and apply a config, leave
    /// etcd, wipe disks) get minutes; `Bootstrap` gets 5 minutes because it is retried while etcd
    /// is not ready yet; pulling and installing an OS image gets 10 minutes.
    #[must_use]
    pub fn default_deadline(self) -> Duration {
        const SECOND: Duration = Duration::from_secs(1);
        match self {
            Self::Version | Self::EtcdMemberList | Self::Kubeconfig | Self::ResourceGet => {
                30 * SECOND
            }
            Self::Reboot | Self::EtcdRemoveMemberById => 60 * SECOND,
            Self::ApplyConfiguration | Self::EtcdLeaveCluster | Self::Reset => 120 * SECOND,
            Self::MachineUpgrade => 120 * SECOND,
            Self::Bootstrap => 300 * SECOND,
            Self::ImagePull | Self::LifecycleUpgrade => 600 * SECOND,
        }
    }
}

impl fmt::Display for Rpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Without the leading slash: "machine.MachineService/Version".
        f.write_str(&self.method()[1..])
    }
}

/// Where a call went: the endpoint connected to, and the node it was routed to, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    /// The apid endpoint the client is connected to (a node or a load balancer).
    pub endpoint: SocketAddr,
    /// The node the endpoint forwarded the call to (gRPC metadata `node`); `None` when the call
    /// was served by whichever node answers at the endpoint.
    pub node: Option<IpAddr>,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.node {
            Some(node) => write!(f, "node {node} via {}", self.endpoint),
            None => write!(f, "{}", self.endpoint),
        }
    }
}

/// The part of [`Credentials::Admin`](super::Credentials::Admin) a problem was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialPart {
    /// The OS CA certificate that must have issued the server's certificate.
    Ca,
    /// The client certificate (chain).
    Certificate,
    /// The client private key.
    Key,
}

impl fmt::Display for CredentialPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ca => "CA certificate",
            Self::Certificate => "client certificate",
            Self::Key => "client key",
        })
    }
}

/// Everything that can go wrong talking to apid.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A part of the admin credentials is not PEM of the expected kind (or holds nothing).
    #[error("the Talos API {part} is not valid PEM")]
    InvalidPem {
        /// Which part.
        part: CredentialPart,
        /// What the PEM parser said.
        #[source]
        source: rustls::pki_types::pem::Error,
    },

    /// rustls refused the credentials (e.g. a key that does not match the certificate, a key
    /// type it cannot sign with, a CA certificate it cannot parse).
    #[error("the Talos API {part} was rejected by the TLS library")]
    RejectedCredentials {
        /// Which part.
        part: CredentialPart,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },

    /// The TLS handshake failed: the server's certificate was not issued by the OS CA or does
    /// not name the endpoint's IP address, or the server refused the client certificate.
    /// Not retried, except that a certificate from another CA (see [`Error::is_foreign_node`])
    /// makes the call reconnect a few times, since a load balancer may route elsewhere.
    #[error("TLS with {target} failed during {rpc}{}", foreign_hint(source))]
    Tls {
        /// The call that needed the connection.
        rpc: Rpc,
        /// Where it went.
        target: Target,
        /// The TLS error (e.g. `InvalidCertificate(UnknownIssuer)`, `AlertReceived(..)`).
        #[source]
        source: rustls::Error,
    },

    /// The call failed with a gRPC status that is not worth retrying (e.g. `InvalidArgument`
    /// for a machine config that does not validate, `PermissionDenied`, `Unimplemented`), or a
    /// retryable one that [`Error::Timeout`] does not cover.
    #[error("{rpc} on {target} failed: {:?}: {}", status.code(), status.message())]
    Status {
        /// The call.
        rpc: Rpc,
        /// Where it went.
        target: Target,
        /// The gRPC status as received.
        #[source]
        status: tonic::Status,
    },

    /// The call succeeded at the gRPC level, but a reply message carried an error for the node
    /// (Talos sets `metadata.error` when the node behind the proxy failed).
    #[error("{rpc} on {target} failed on node {hostname:?}: {code:?}: {message}")]
    Node {
        /// The call.
        rpc: Rpc,
        /// Where it went.
        target: Target,
        /// The hostname Talos put in the reply metadata (may be empty).
        hostname: String,
        /// The gRPC code from the reply metadata (`Unknown` when Talos sent only a message).
        code: tonic::Code,
        /// The error message from the reply metadata.
        message: String,
    },

    /// The call's deadline passed (locally, or the server said `DeadlineExceeded`), or no
    /// further retry fits before it.
    #[error("{rpc} on {target} did not complete within {deadline:?} ({attempts} attempt(s))")]
    Timeout {
        /// The call.
        rpc: Rpc,
        /// Where it went.
        target: Target,
        /// The deadline the call had.
        deadline: Duration,
        /// How many attempts were made.
        attempts: u32,
        /// The error of the last failed attempt, when there was one.
        #[source]
        last_error: Option<Box<Error>>,
    },

    /// The server or the transport cancelled the call before its deadline.
    #[error("{rpc} on {target} was cancelled")]
    Cancelled {
        /// The call.
        rpc: Rpc,
        /// Where it went.
        target: Target,
        /// The `Cancelled` status as received.
        #[source]
        status: tonic::Status,
    },

    /// The node that answered is not part of the cluster this client's CA belongs to: its
    /// certificate is another CA's (a node reset to maintenance mode, or another cluster's node,
    /// e.g. behind a load balancer). Reconnecting did not reach another node.
    #[error(
        "{rpc} on {target}: the node that answered at {} is not part of this cluster (its \
         certificate: {source}); a load balancer still routes to it (e.g. a node reset or \
         leaving), the node is in maintenance mode, or the endpoint belongs to another cluster",
        target.endpoint
    )]
    NotInCluster {
        /// The call.
        rpc: Rpc,
        /// Where it went.
        target: Target,
        /// The TLS error (`InvalidCertificate(UnknownIssuer)`, …).
        #[source]
        source: rustls::Error,
    },

    /// The reply was well-formed gRPC but not what the Talos API promises (no messages, a
    /// stream that ends before its result, an oversized stream).
    #[error("{rpc} on {target} returned an unexpected reply: {problem}")]
    UnexpectedReply {
        /// The call.
        rpc: Rpc,
        /// Where it went.
        target: Target,
        /// What was wrong.
        problem: &'static str,
    },

    /// `LifecycleService.Upgrade` finished with a non-zero exit code: the installer failed and
    /// the node keeps running its current version.
    #[error("upgrade on {target} failed: the installer exited with code {exit_code}")]
    UpgradeFailed {
        /// Where it went.
        target: Target,
        /// The installer's exit code.
        exit_code: i32,
    },

    /// The `Kubeconfig` stream was not a readable `.tar.gz`.
    #[error("the kubeconfig archive from {target} cannot be read")]
    KubeconfigArchive {
        /// Where it came from.
        target: Target,
        /// The gzip or tar error.
        #[source]
        source: std::io::Error,
    },

    /// The `Kubeconfig` archive holds no file named `kubeconfig`.
    #[error("the kubeconfig archive from {target} holds no `kubeconfig` file")]
    KubeconfigMissing {
        /// Where it came from.
        target: Target,
    },
}

/// What a certificate from another CA means for the user.
fn foreign_hint(source: &rustls::Error) -> &'static str {
    if certificate_from_another_ca(source) {
        ": the server's certificate was not issued by this cluster's CA, so the node that \
         answered is not part of this cluster (e.g. a node reset to maintenance mode that a load \
         balancer still routes to, or another cluster's node)"
    } else {
        ""
    }
}

fn certificate_from_another_ca(source: &rustls::Error) -> bool {
    use rustls::CertificateError;
    matches!(
        source,
        rustls::Error::InvalidCertificate(
            CertificateError::UnknownIssuer | CertificateError::BadSignature
        )
    )
}

impl Error {
    /// Whether the server answered with a certificate this client's CA did not issue (or that
    /// does not name the endpoint): a node that is not part of the cluster. Waiting never makes
    /// it one; through a load balancer, a new connection may reach a node that is.
    #[must_use]
    pub fn is_foreign_node(&self) -> bool {
        match self {
            Self::Tls { source, .. } => certificate_from_another_ca(source),
            Self::NotInCluster { .. } => true,
            _ => false,
        }
    }

    /// Whether the node that answered could not forward the call because the two do not trust
    /// each other (Talos words it as Go's x509 error): either the forwarding node is not part of
    /// the cluster any more (reset, leaving; a new connection through a load balancer reaches
    /// another node) or the target is not part of it yet (still in maintenance mode; waiting
    /// helps). The message names the target.
    #[must_use]
    pub fn is_forwarding_refused(&self) -> bool {
        matches!(self, Self::Status { status, .. }
            if status.code() == tonic::Code::Unavailable
                && status.message().contains("certificate signed by unknown authority"))
    }

    /// Whether the connection broke while the call was in flight (the node behind it rebooted
    /// or vanished, or a load balancer's target did): tonic reports that as `Unknown` carrying
    /// the transport error, as `Internal` carrying an HTTP/2 error (a GOAWAY that arrived while
    /// the call was open), or as `Cancelled` carrying it when the node closed the connection
    /// gracefully (a reboot), not as a status the server sent (which carries no source).
    #[must_use]
    pub fn is_broken_connection(&self) -> bool {
        match self {
            Self::Status { status, .. } => {
                matches!(status.code(), tonic::Code::Unknown | tonic::Code::Internal)
                    && std::error::Error::source(status).is_some()
            }
            Self::Cancelled { status, .. } => std::error::Error::source(status).is_some(),
            _ => false,
        }
    }

    /// This error as [`Error::NotInCluster`], when it says the node is not part of the cluster.
    #[must_use]
    pub fn into_not_in_cluster(self) -> Self {
        match self {
            Self::Tls {
                rpc,
                target,
                source,
            } if certificate_from_another_ca(&source) => Self::NotInCluster {
                rpc,
                target,
                source,
            },
            other => other,
        }
    }

    /// The gRPC code behind this error, when it came from a gRPC status (directly or in a
    /// node's reply metadata); a [`Error::Timeout`] reports `DeadlineExceeded`.
    #[must_use]
    pub fn grpc_code(&self) -> Option<tonic::Code> {
        match self {
            Self::Status { status, .. } | Self::Cancelled { status, .. } => Some(status.code()),
            Self::Node { code, .. } => Some(*code),
            Self::Timeout { .. } => Some(tonic::Code::DeadlineExceeded),
            _ => None,
        }
    }

    /// Where the failed call went, for errors that come from a call.
    #[must_use]
    pub fn target(&self) -> Option<Target> {
        match self {
            Self::Tls { target, .. }
            | Self::NotInCluster { target, .. }
            | Self::Status { target, .. }
            | Self::Node { target, .. }
            | Self::Timeout { target, .. }
            | Self::Cancelled { target, .. }
            | Self::UnexpectedReply { target, .. }
            | Self::UpgradeFailed { target, .. }
            | Self::KubeconfigArchive { target, .. }
            | Self::KubeconfigMissing { target } => Some(*target),
            Self::InvalidPem { .. } | Self::RejectedCredentials { .. } => None,
        }
    }
}
