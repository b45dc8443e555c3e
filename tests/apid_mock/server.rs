//! A mock apid on 127.0.0.1:0: tonic services behind a tokio-rustls acceptor.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::ReceiverStream;

use super::proto::machine::image_service_server::ImageServiceServer;
use super::proto::machine::lifecycle_service_server::LifecycleServiceServer;
use super::proto::machine::machine_service_server::MachineServiceServer;
use super::services::{MockApid, State};

/// How the mock server does TLS.
pub enum ServerTls {
    /// Like a configured node: a certificate chain, and client certificates must chain to
    /// `client_ca`.
    Mutual {
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        client_ca: CertificateDer<'static>,
    },
    /// Like a node in maintenance mode: no client certificate asked for.
    NoClientAuth {
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    },
}

/// A running mock; stops when dropped.
pub struct Running {
    pub addr: SocketAddr,
    pub state: Arc<State>,
    /// TLS handshakes the server refused, with rustls' reason.
    pub handshake_failures: Arc<Mutex<Vec<String>>>,
    task: JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn server_config(tls: ServerTls) -> rustls::ServerConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let mut config = match tls {
        ServerTls::Mutual {
            chain,
            key,
            client_ca,
        } => {
            let mut roots = RootCertStore::empty();
            roots.add(client_ca).unwrap();
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
            builder
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)
                .unwrap()
        }
        ServerTls::NoClientAuth { chain, key } => builder
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    config
}

/// Starts the mock on an ephemeral loopback port.
pub async fn start(tls: ServerTls) -> Running {
    start_dropping_connections(tls, 0).await
}

/// Starts the mock, closing the first `dropped` TCP connections before the TLS handshake, as a
/// node that is still booting does.
pub async fn start_dropping_connections(tls: ServerTls, dropped: usize) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config(tls)));
    let state = Arc::new(State::default());
    let handshake_failures = Arc::new(Mutex::new(Vec::new()));
    let (connections, incoming) = tokio::sync::mpsc::channel(16);
    let failures = handshake_failures.clone();
    let accept_loop = async move {
        let mut to_drop = dropped;
        while let Ok((tcp, _)) = listener.accept().await {
            if to_drop > 0 {
                to_drop -= 1;
                drop(tcp);
                continue;
            }
            let (acceptor, connections, failures) =
                (acceptor.clone(), connections.clone(), failures.clone());
            tokio::spawn(async move {
                match acceptor.accept(tcp).await {
                    Ok(tls) => {
                        let _ = connections.send(Ok::<_, io::Error>(Tls(tls))).await;
                    }
                    Err(err) => failures.lock().unwrap().push(err.to_string()),
                }
            });
        }
    };
    let mock = MockApid::new(state.clone());
    let serve = tonic::transport::Server::builder()
        .add_service(MachineServiceServer::new(mock.clone()))
        .add_service(ImageServiceServer::new(mock.clone()))
        .add_service(LifecycleServiceServer::new(mock))
        .serve_with_incoming(ReceiverStream::new(incoming));
    let task = tokio::spawn(async move {
        tokio::select! {
            () = accept_loop => {}
            result = serve => result.unwrap(),
        }
    });
    Running {
        addr,
        state,
        handshake_failures,
        task,
    }
}

/// A server-side TLS stream tonic can serve (tonic only knows rustls streams with its own TLS
/// features, which the crate does not enable).
struct Tls(tokio_rustls::server::TlsStream<TcpStream>);

impl tonic::transport::server::Connected for Tls {
    type ConnectInfo = ();
    fn connect_info(&self) {}
}

impl AsyncRead for Tls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Tls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
