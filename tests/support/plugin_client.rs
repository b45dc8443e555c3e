// A minimal go-plugin/tfplugin6 client, shared by tests/handshake.rs and benches/startup.rs
// (both `include!` it): start the provider like Terraform does, parse the handshake line, connect
// over the Unix socket with automatic mTLS and make raw unary calls with hand-written messages.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

const BINARY: &str = env!("CARGO_BIN_EXE_terraform-provider-hk8s");
const COOKIE: (&str, &str) = (
    "TF_PLUGIN_MAGIC_COOKIE",
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
);

// ---- minimal hand-written protobuf messages for the calls the test makes ----

/// `tfplugin6.GetProviderSchema.Request` / `plugin.Empty`.
#[derive(Clone, PartialEq, prost::Message)]
struct Empty {}

/// `tfplugin6.GetProviderSchema.Response` (only the provider schema).
#[derive(Clone, PartialEq, prost::Message)]
struct GetProviderSchemaResponse {
    #[prost(message, optional, tag = "1")]
    provider: Option<SchemaMsg>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct SchemaMsg {
    #[prost(message, optional, tag = "2")]
    block: Option<BlockMsg>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct BlockMsg {
    #[prost(message, repeated, tag = "2")]
    attributes: Vec<AttributeMsg>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct AttributeMsg {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(bytes = "vec", tag = "2")]
    r#type: Vec<u8>,
    #[prost(bool, tag = "5")]
    optional: bool,
    #[prost(bool, tag = "7")]
    sensitive: bool,
}

async fn unary<Req, Resp>(
    channel: Channel,
    path: &'static str,
    request: Req,
) -> Result<Resp, tonic::Status>
where
    Req: prost::Message + Send + Sync + 'static,
    Resp: prost::Message + Default + Send + Sync + 'static,
{
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let codec = tonic_prost::ProstCodec::<Req, Resp>::default();
    let path = http::uri::PathAndQuery::from_static(path);
    Ok(grpc
        .unary(tonic::Request::new(request), path, codec)
        .await?
        .into_inner())
}

// ---- process handling ----

/// The provider process; killed if a test fails before it exits.
struct Provider {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Provider {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Provider {
        let mut command = Command::new(BINARY);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for key in [
            "TF_PLUGIN_MAGIC_COOKIE",
            "PLUGIN_CLIENT_CERT",
            "PLUGIN_PROTOCOL_VERSIONS",
            "TF_LOG",
            "TF_LOG_PROVIDER",
        ] {
            command.env_remove(key);
        }
        command.envs(env.iter().copied());
        let mut child = command.spawn().expect("start the provider");
        let stdout = child.stdout.take().unwrap();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Provider { child, lines }
    }

    /// The next stdout line (generous timeout: only a hung provider hits it).
    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(60))
            .expect("a line on stdout")
    }

    /// Waits for exit up to `limit`; returns the exit code.
    fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

/// A certificate like the one Terraform generates for automatic mTLS: ECDSA P-521, self-signed,
/// CA:TRUE, SAN localhost.
fn terraform_like_client_cert() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "HashiCorp");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "localhost");
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::DigitalSignature,
        rcgen::KeyUsagePurpose::KeyEncipherment,
        rcgen::KeyUsagePurpose::KeyCertSign,
    ];
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    ];
    let cert = params.self_signed(&key).unwrap();
    let der = cert.der().clone();
    (
        cert.pem(),
        der,
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

/// The parts of `1|6|unix|/path|grpc|cert`.
struct Handshake {
    socket: PathBuf,
    server_cert: Option<CertificateDer<'static>>,
}

fn parse_handshake(line: &str) -> Handshake {
    let parts: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(parts.len(), 6, "handshake line {line:?}");
    assert_eq!(
        &parts[..3],
        ["1", "6", "unix"],
        "core version, protocol 6, unix network"
    );
    assert_eq!(parts[4], "grpc");
    let server_cert = (!parts[5].is_empty()).then(|| {
        assert!(!parts[5].ends_with('='), "base64 must be unpadded");
        let der = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(parts[5])
            .expect("base64 cert");
        CertificateDer::from(der)
    });
    Handshake {
        socket: PathBuf::from(parts[3]),
        server_cert,
    }
}

/// Connects a tonic channel over the Unix socket, with TLS when a client identity is given.
#[derive(Clone)]
struct UnixConnector {
    socket: PathBuf,
    tls: Option<Arc<rustls::ClientConfig>>,
}

type Connecting =
    Pin<Box<dyn std::future::Future<Output = std::io::Result<TokioIo<Box<dyn Io>>>> + Send>>;

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin> Io for T {}

impl tonic::codegen::Service<Uri> for UnixConnector {
    type Response = TokioIo<Box<dyn Io>>;
    type Error = std::io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let stream = UnixStream::connect(&this.socket).await?;
            let io: Box<dyn Io> = match this.tls {
                None => Box::new(stream),
                Some(config) => {
                    let connector = tokio_rustls::TlsConnector::from(config);
                    let name = ServerName::try_from("localhost").unwrap();
                    Box::new(connector.connect(name, stream).await?)
                }
            };
            Ok(TokioIo::new(io))
        })
    }
}

fn client_tls(
    server_cert: &CertificateDer<'static>,
    client_cert: CertificateDer<'static>,
    client_key: PrivateKeyDer<'static>,
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server_cert.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![client_cert], client_key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(config)
}

async fn channel(
    socket: &Path,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<Channel, tonic::transport::Error> {
    Endpoint::from_static("http://localhost")
        .connect_with_connector(UnixConnector {
            socket: socket.to_owned(),
            tls,
        })
        .await
}

async fn provider_schema(channel: Channel) -> Result<GetProviderSchemaResponse, tonic::Status> {
    unary(channel, "/tfplugin6.Provider/GetProviderSchema", Empty {}).await
}

fn assert_token_sensitive(response: &GetProviderSchemaResponse) {
    let block = response
        .provider
        .as_ref()
        .and_then(|s| s.block.as_ref())
        .expect("provider schema block");
    let token = block
        .attributes
        .iter()
        .find(|a| a.name == "hcloud_token")
        .expect("hcloud_token attribute");
    assert!(token.sensitive, "hcloud_token must be sensitive");
    assert!(token.optional);
    assert_eq!(token.r#type, br#""string""#);
}

async fn shutdown_and_expect_exit(provider: &mut Provider, channel: Channel, socket: &Path) {
    let _: Empty = unary(channel, "/plugin.GRPCController/Shutdown", Empty {})
        .await
        .expect("Shutdown");
    // Terraform kills the plugin 2 s after asking it to shut down.
    assert_eq!(
        provider.wait_exit(Duration::from_secs(2)),
        Some(0),
        "exit code 0 within 2 s"
    );
    assert!(
        !socket.exists(),
        "socket {} removed on exit",
        socket.display()
    );
}

