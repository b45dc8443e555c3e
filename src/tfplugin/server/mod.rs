//! Serving a provider: the go-plugin handshake, mTLS, the gRPC services and logging.
//!
//! [`serve`] is the whole lifecycle: check the handshake environment, bind a Unix socket, print
//! the handshake line (or, in debug mode, the `TF_REATTACH_PROVIDERS` value), serve
//! `tfplugin6.Provider` plus go-plugin's controller/stdio/broker and the health service, and
//! stop on `GRPCController.Shutdown` (or Ctrl-C in debug mode), removing the socket.

mod conn;
mod convert;
mod data_rpc;
mod go_plugin;
pub mod handshake;
pub mod logging;
mod provider_service;
mod reply;
mod resource_rpc;
mod rpc;
pub mod tls;

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use self::handshake::HandshakeError;
use self::tls::TlsError;
use crate::tfplugin::framework::Provider;
use crate::tfplugin::plugin_proto::grpc_broker_server::GrpcBrokerServer;
use crate::tfplugin::plugin_proto::grpc_controller_server::GrpcControllerServer;
use crate::tfplugin::plugin_proto::grpc_stdio_server::GrpcStdioServer;
use crate::tfplugin::proto::provider_server::ProviderServer;

/// Terraform allows messages up to 256 MiB; tonic's default is 4 MiB.
const MAX_MESSAGE_SIZE: usize = 256 << 20;
/// How long in-flight calls get to finish after shutdown (Terraform kills us after 2 s).
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// How to serve.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServeOptions {
    /// The provider's registry address, e.g. `registry.terraform.io/hk8s/hk8s` (debug mode
    /// prints it in `TF_REATTACH_PROVIDERS`; the usage message shows it).
    pub provider_address: String,
    /// Serve for a debugger (`--debug`): plaintext, print reattach info, stop on Ctrl-C.
    pub debug: bool,
}

impl ServeOptions {
    /// Normal (go-plugin) serving for `provider_address`.
    #[must_use]
    pub fn new(provider_address: impl Into<String>) -> Self {
        Self {
            provider_address: provider_address.into(),
            debug: false,
        }
    }

    /// Debug mode on or off.
    #[must_use]
    pub fn debug(mut self, debug: bool) -> Self {
        self.debug = debug;
        self
    }
}

/// Serving failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The handshake environment is wrong.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The Unix socket could not be created.
    #[error("creating the plugin socket in {dir}")]
    Socket {
        /// The directory.
        dir: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Installing a signal handler failed.
    #[error("installing the signal handler")]
    Signal(#[source] std::io::Error),
    /// Writing the handshake line to stdout failed.
    #[error("writing the handshake to stdout")]
    Stdout(#[source] std::io::Error),
    /// The gRPC server failed.
    #[error("serving gRPC")]
    Grpc(#[source] tonic::transport::Error),
}

/// Serves `provider` until Terraform shuts it down; returns the process exit code (0 after a
/// clean shutdown, 1 on error — with a human explanation on stderr).
pub async fn serve<P: Provider>(provider: P, options: ServeOptions) -> i32 {
    match run(provider, &options).await {
        Ok(()) => 0,
        Err(ServeError::Handshake(HandshakeError::NotLaunchedByTerraform)) => {
            let binary = std::env::args()
                .next()
                .unwrap_or_else(|| "this program".to_owned());
            eprint!(
                "{}",
                handshake::not_a_command_message(&binary, &options.provider_address)
            );
            1
        }
        Err(error) => {
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
            tracing::error!(error = %message, "provider failed");
            eprintln!("Error: {message}");
            1
        }
    }
}

async fn run<P: Provider>(provider: P, options: &ServeOptions) -> Result<(), ServeError> {
    let (socket_dir, client_cert_pem) = if options.debug {
        (std::env::temp_dir(), None)
    } else {
        let request = handshake::read_environment(|key| std::env::var(key).ok())?;
        (request.socket_dir, request.client_cert_pem)
    };

    let shutdown = CancellationToken::new();
    watch_signals(options.debug, shutdown.clone())?;

    let tls = match &client_cert_pem {
        Some(pem) => {
            let identity = tls::generate_server_identity()?;
            let config = tls::server_config(&identity, pem)?;
            Some((
                tokio_rustls::TlsAcceptor::from(Arc::new(config)),
                identity.cert,
            ))
        }
        None => None,
    };

    let (listener, socket) = conn::bind(&socket_dir).map_err(|source| ServeError::Socket {
        dir: socket_dir.clone(),
        source,
    })?;
    let socket_path = socket.path.display().to_string();

    let service = provider_service::ProviderService::new(provider);
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_service_status("plugin", tonic_health::ServingStatus::Serving)
        .await;
    let router = tonic::transport::Server::builder()
        .add_service(
            ProviderServer::new(service)
                .max_decoding_message_size(MAX_MESSAGE_SIZE)
                .max_encoding_message_size(MAX_MESSAGE_SIZE),
        )
        .add_service(health_service)
        .add_service(GrpcControllerServer::new(go_plugin::Controller {
            shutdown: shutdown.clone(),
        }))
        .add_service(GrpcStdioServer::new(go_plugin::Stdio {
            shutdown: shutdown.clone(),
        }))
        .add_service(GrpcBrokerServer::new(go_plugin::Broker {
            shutdown: shutdown.clone(),
        }));

    let acceptor = tls.as_ref().map(|(acceptor, _)| acceptor.clone());
    let incoming = conn::incoming(listener, acceptor, shutdown.clone());
    let mut server = tokio::spawn(
        router.serve_with_incoming_shutdown(incoming, shutdown.clone().cancelled_owned()),
    );

    announce(
        options,
        &socket_path,
        tls.as_ref().map(|(_, cert)| cert.as_ref()),
    )?;
    tracing::info!(socket = %socket_path, tls = tls.is_some(), debug = options.debug, "serving");

    let result = tokio::select! {
        () = shutdown.cancelled() => {
            // Give in-flight calls (including the Shutdown reply) a moment, then stop waiting:
            // streams such as GRPCStdio never end on their own.
            match tokio::time::timeout(SHUTDOWN_GRACE, &mut server).await {
                Ok(Ok(Err(error))) => Err(ServeError::Grpc(error)),
                _ => Ok(()),
            }
        }
        finished = &mut server => match finished {
            Ok(Err(error)) => Err(ServeError::Grpc(error)),
            _ => Ok(()),
        },
    };
    server.abort();
    drop(socket);
    tracing::debug!("stopped");
    result
}

/// Prints the go-plugin handshake line, or the reattach instructions in debug mode.
fn announce(
    options: &ServeOptions,
    socket_path: &str,
    server_cert: Option<&[u8]>,
) -> Result<(), ServeError> {
    let mut stdout = std::io::stdout().lock();
    let text = if options.debug {
        let reattach = reattach_json(&options.provider_address, std::process::id(), socket_path);
        format!(
            "Provider started in debug mode. To attach Terraform (or OpenTofu), export this in the \
             shell where you run it:\n\n\tTF_REATTACH_PROVIDERS='{reattach}'\n\nPress Ctrl-C to stop.\n"
        )
    } else {
        format!("{}\n", handshake::handshake_line(socket_path, server_cert))
    };
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(ServeError::Stdout)
}

/// The `TF_REATTACH_PROVIDERS` JSON for one provider.
#[must_use]
pub fn reattach_json(provider_address: &str, pid: u32, socket_path: &str) -> String {
    serde_json::json!({
        provider_address: {
            "Protocol": "grpc",
            "ProtocolVersion": handshake::PLUGIN_PROTOCOL_VERSION,
            "Pid": pid,
            "Test": true,
            "Addr": { "Network": "unix", "String": socket_path },
        }
    })
    .to_string()
}

/// SIGINT: ignored when Terraform runs us (it forwards Ctrl-C as StopProvider), stops a debug
/// server. SIGTERM stops either, so the socket is cleaned up.
fn watch_signals(debug: bool, shutdown: CancellationToken) -> Result<(), ServeError> {
    let mut interrupt = signal(SignalKind::interrupt()).map_err(ServeError::Signal)?;
    let mut terminate = signal(SignalKind::terminate()).map_err(ServeError::Signal)?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(()) = interrupt.recv() => {
                    if debug {
                        shutdown.cancel();
                        break;
                    }
                    tracing::debug!("ignoring SIGINT: Terraform stops providers through StopProvider");
                }
                Some(()) = terminate.recv() => {
                    shutdown.cancel();
                    break;
                }
                else => break,
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reattach_json_has_terraforms_shape() {
        let json: serde_json::Value = serde_json::from_str(&reattach_json(
            "registry.terraform.io/a/b",
            42,
            "/tmp/s.sock",
        ))
        .unwrap();
        let entry = &json["registry.terraform.io/a/b"];
        assert_eq!(entry["Protocol"], "grpc");
        assert_eq!(entry["ProtocolVersion"], 6);
        assert_eq!(entry["Pid"], 42);
        assert_eq!(entry["Test"], true);
        assert_eq!(entry["Addr"]["Network"], "unix");
        assert_eq!(entry["Addr"]["String"], "/tmp/s.sock");
    }
}
