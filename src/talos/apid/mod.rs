//! Client for the Talos API (apid): gRPC over mutual TLS on port 50000.
//!
//! One [`ApidClient`] holds one HTTP/2 connection to one endpoint, a node or a load balancer in
//! front of the control plane. Calls go to the node at the endpoint ([`ApidClient::direct`]) or
//! are forwarded by it to any node it can reach ([`ApidClient::node`], gRPC metadata
//! `node: <ip>`), so a single connection to the load balancer reaches every node.
//!
//! Every call has a deadline covering all its attempts ([`Rpc::default_deadline`], or
//! [`Node::with_deadline`]); transient failures are retried within it (see [`RetryPolicy`]);
//! dropping a call's future cancels it. Per-node failures that Talos reports inside a successful
//! reply come back as [`Error::Node`].
//!
//! ```no_run
//! # async fn example(ca: Vec<u8>, crt: Vec<u8>, key: Vec<u8>) -> Result<(), hk8s::talos::apid::Error> {
//! use hk8s::talos::apid::{ApidClient, ClientOptions, Credentials};
//! use std::time::Duration;
//!
//! let lb = "203.0.113.10:50000".parse().unwrap();
//! let client = ApidClient::connect(lb, &Credentials::Admin { ca, crt, key }, ClientOptions::default()).await?;
//! let version = client
//!     .node("10.0.1.2".parse().unwrap())
//!     .with_deadline(Duration::from_secs(10))
//!     .version()
//!     .await?;
//! println!("{} runs Talos {}", version.hostname, version.tag);
//! # Ok(()) }
//! ```
//!
//! The generated protobuf types stay inside this module: its API is made of domain types
//! ([`TalosVersion`], [`ApplyMode`], [`EtcdMember`], …), so callers never depend on the wire
//! format. The exception is [`tonic::Status`] and [`tonic::Code`] inside [`Error`]: wrapping
//! gRPC's own status would add nothing.

mod connector;
mod error;
mod etcd;
mod kubeconfig;
mod machine;
mod proto;
mod reply;
mod resources;
mod retry;
mod tls;
mod upgrade;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::TryFutureExt;
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Channel, Endpoint};

pub use error::{CredentialPart, Error, Rpc, Target};
pub use etcd::EtcdMember;
pub use machine::{
    AppliedMode, ApplyConfiguration, ApplyMode, ApplyOutcome, BootstrapOutcome, RebootMode,
    ResetOptions, TalosVersion,
};
pub use retry::RetryPolicy;
pub use tls::Credentials;
pub use upgrade::{UpgradeApi, UpgradeOutcome, UpgradeRequest};

use proto::machine::image_service_client::ImageServiceClient;
use proto::machine::lifecycle_service_client::LifecycleServiceClient;
use proto::machine::machine_service_client::MachineServiceClient;

/// The port apid listens on.
pub const APID_PORT: u16 = 50000;

/// How the client connects and retries; the defaults suit Talos.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Spacing of retries within a call's deadline.
    pub retry: RetryPolicy,
    /// How long opening a connection (TCP + TLS) may take before the attempt counts as
    /// `Unavailable` (and is retried if the call's deadline allows).
    pub connect_timeout: Duration,
    /// Largest gRPC message sent or accepted; apid allows 32 MiB.
    pub max_message_size: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            connect_timeout: Duration::from_secs(10),
            max_message_size: 32 * 1024 * 1024,
        }
    }
}

impl ClientOptions {
    /// Sets the retry policy.
    #[must_use]
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the connect timeout.
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }
}

/// A Talos API client for one endpoint. Cheap to clone; clones share the connection, and a
/// [`ApidClient::reconnect`] by one of them moves them all to a new one.
#[derive(Clone)]
pub struct ApidClient {
    channel: Arc<Mutex<Channel>>,
    endpoint: SocketAddr,
    options: Arc<ClientOptions>,
    tls: Arc<rustls::ClientConfig>,
    tls_failure: connector::TlsFailure,
}

impl std::fmt::Debug for ApidClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApidClient")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl ApidClient {
    /// Prepares a client for the apid at `endpoint` (usually port [`APID_PORT`]).
    ///
    /// Problems with the credentials are reported here. The connection itself is opened by
    /// the first call and re-opened whenever it breaks (a node rebooting), each time within
    /// that call's deadline and retry policy; so a client can be created before its node is up.
    /// With [`Credentials::Admin`] the server's certificate must name `endpoint`'s IP address:
    /// Talos puts the node's addresses in it, so a load balancer's IP must be listed in the
    /// control planes' `machine.certSANs`. The function is `async` because the connection's
    /// background task needs the Tokio runtime; it does no I/O.
    pub async fn connect(
        endpoint: SocketAddr,
        credentials: &Credentials,
        options: ClientOptions,
    ) -> Result<Self, Error> {
        let tls = tls::client_config(credentials)?;
        let tls_failure = connector::TlsFailure::default();
        let channel = open_channel(endpoint, &options, &tls, &tls_failure);
        Ok(Self {
            channel: Arc::new(Mutex::new(channel)),
            endpoint,
            options: Arc::new(options),
            tls,
            tls_failure,
        })
    }

    /// Moves this client and its clones to a new connection; calls in flight finish on the old
    /// one. Through a load balancer, which pins a connection to one target, the new connection
    /// may reach another node: a call whose node rebooted, left, or answers with another CA
    /// (reset to maintenance mode) then need not wait for keep-alive to notice. Does no I/O
    /// (the connection is opened by the next call).
    pub fn reconnect(&self) {
        let channel = open_channel(self.endpoint, &self.options, &self.tls, &self.tls_failure);
        *self.channel.lock().unwrap_or_else(PoisonError::into_inner) = channel;
    }

    /// The current connection.
    fn channel(&self) -> Channel {
        self.channel
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The endpoint this client talks to.
    #[must_use]
    pub fn endpoint(&self) -> SocketAddr {
        self.endpoint
    }

    /// Calls to `node`, forwarded by the endpoint (gRPC metadata `node`). The endpoint must be
    /// able to reach the node (Talos forwards to port 50000 of the given address).
    #[must_use]
    pub fn node(&self, node: IpAddr) -> Node {
        Node {
            client: self.clone(),
            node: Some(node),
            deadline: None,
        }
    }

    /// Calls served by the node at the endpoint itself, without forwarding. Use this for a
    /// node in maintenance mode, which does not forward.
    #[must_use]
    pub fn direct(&self) -> Node {
        Node {
            client: self.clone(),
            node: None,
            deadline: None,
        }
    }
}

/// A connection to `endpoint` opened lazily by the first call and re-opened by tonic whenever it
/// breaks.
fn open_channel(
    endpoint: SocketAddr,
    options: &ClientOptions,
    tls: &Arc<rustls::ClientConfig>,
    tls_failure: &connector::TlsFailure,
) -> Channel {
    // The URI only feeds HTTP/2's :scheme and :authority; the connector dials `endpoint`.
    let uri = http::Uri::builder()
        .scheme("https")
        .authority(endpoint.to_string())
        .path_and_query("/")
        .build()
        .expect("a socket address is a valid URI authority");
    Endpoint::from(uri)
        .connect_timeout(options.connect_timeout)
        // Notice a node that vanished (reboot, reset) instead of waiting on a dead socket.
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10))
        .connect_with_connector_lazy(connector::TlsConnector::new(
            tls.clone(),
            endpoint,
            tls_failure.clone(),
        ))
}

/// Calls to one node (see [`ApidClient::node`] and [`ApidClient::direct`]).
///
/// The RPC methods live in the `machine`, `etcd`, `upgrade` and `kubeconfig` submodules.
#[derive(Debug, Clone)]
pub struct Node {
    client: ApidClient,
    node: Option<IpAddr>,
    deadline: Option<Duration>,
}

impl Node {
    /// Gives every call made through this value `deadline` (retries included) instead of its
    /// [`Rpc::default_deadline`]. For the multi-step upgrade, each step gets `deadline`.
    /// Deadlines beyond a year are shortened to a year.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Where calls go.
    #[must_use]
    pub fn target(&self) -> Target {
        Target {
            endpoint: self.client.endpoint,
            node: self.node,
        }
    }

    /// Runs one attempt after another under `rpc`'s deadline and the retry policy.
    async fn call<T, F, Fut>(&self, rpc: Rpc, attempt: F) -> Result<T, Error>
    where
        F: FnMut(Duration) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let deadline = self.deadline.unwrap_or_else(|| rpc.default_deadline());
        let mut attempt = attempt;
        retry::with_retries(
            &self.client.options.retry,
            rpc,
            self.target(),
            deadline,
            |remaining| {
                attempt(remaining).map_err(|err| {
                    let err = self.with_tls_cause(err);
                    if err.is_foreign_node()
                        || err.is_forwarding_refused()
                        || err.is_broken_connection()
                    {
                        self.client.reconnect();
                    }
                    err
                })
            },
        )
        .await
        .inspect_err(|err| {
            // No answer at all within the deadline: the connection may be pinned to a node
            // that vanished without closing it. The next call starts on a new one.
            if matches!(
                err,
                Error::Timeout {
                    last_error: None,
                    ..
                }
            ) {
                self.client.reconnect();
            }
        })
    }

    /// A transport failure of a connection broken by TLS (see [`connector::TlsFailure`]) becomes
    /// [`Error::Tls`]. Statuses the server sent carry no source and are left alone.
    fn with_tls_cause(&self, err: Error) -> Error {
        match err {
            Error::Status {
                rpc,
                target,
                status,
            } if std::error::Error::source(&status).is_some() => {
                match self.client.tls_failure.get() {
                    Some(source) => Error::Tls {
                        rpc,
                        target,
                        source,
                    },
                    None => Error::Status {
                        rpc,
                        target,
                        status,
                    },
                }
            }
            other => other,
        }
    }

    /// Wraps `message` with the `node` routing metadata and the time left as `grpc-timeout`.
    fn request<T>(&self, message: T, remaining: Duration) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(remaining);
        if let Some(node) = self.node {
            let value = AsciiMetadataValue::try_from(node.to_string())
                .expect("an IP address is valid ASCII metadata");
            request.metadata_mut().insert("node", value);
        }
        request
    }

    fn machine_service(&self) -> MachineServiceClient<Channel> {
        let limit = self.client.options.max_message_size;
        MachineServiceClient::new(self.client.channel())
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
    }

    fn image_service(&self) -> ImageServiceClient<Channel> {
        let limit = self.client.options.max_message_size;
        ImageServiceClient::new(self.client.channel())
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
    }

    fn lifecycle_service(&self) -> LifecycleServiceClient<Channel> {
        let limit = self.client.options.max_message_size;
        LifecycleServiceClient::new(self.client.channel())
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
    }
}
