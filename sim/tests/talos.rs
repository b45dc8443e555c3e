//! Talos nodes of hk8s-sim driven over apid with plain tonic clients (the sim's own generated
//! stubs, not the provider's client): maintenance mode, config validation, mTLS and roles,
//! staged/dry-run applies, reset, upgrade, and firewall enforcement on the public address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hk8s_sim::talos::Ports;
use hk8s_sim::talos::pki;
use hk8s_sim::talos::proto::machine::image_service_client::ImageServiceClient;
use hk8s_sim::talos::proto::machine::lifecycle_service_client::LifecycleServiceClient;
use hk8s_sim::talos::proto::machine::machine_service_client::MachineServiceClient;
use hk8s_sim::talos::proto::machine::{
    ApplyConfigurationRequest, BootstrapRequest, RebootRequest, ResetRequest, UpgradeRequest,
};
use hk8s_sim::talos::proto::machine::{
    ImageServicePullRequest, InstallArtifactsSource, LifecycleServiceUpgradeRequest,
};
use hk8s_sim::{SimConfig, SimHandle, serve};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use serde_json::{Value, json};
use tokio::net::TcpSocket;
use tonic::transport::{Channel, Endpoint};

const TOKEN: &str = "talos-test";
const CONTROLPLANE: &str =
    include_str!("../../src/talos/testdata/golden/v1.13-controlplane-flannel.yaml");

struct Sim {
    handle: SimHandle,
    http: reqwest_client::Client,
    ports: Ports,
}

/// The hcloud crate's reqwest, without naming another dependency.
mod reqwest_client {
    pub type Client = hcloud::apis::configuration::Configuration;
}

impl Sim {
    async fn start(ports: Ports) -> Sim {
        let mut config = SimConfig::new(TOKEN);
        config.talos_versions = vec!["v1.13.9".into()];
        config.talos_ports = ports;
        let handle = serve(config).await.unwrap();
        let http = hcloud::apis::configuration::Configuration::new();
        Sim {
            handle,
            http,
            ports,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.handle.endpoint());
        let client = &self.http.client;
        let req = match method {
            "POST" => client.post(url).json(&body.unwrap_or(json!({}))),
            _ => client.get(url),
        };
        let resp = req.bearer_auth(TOKEN).send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Creates a server from the Talos snapshot; returns (id, public IPv4).
    async fn server(&self, name: &str, user_data: Option<&str>) -> (i64, Ipv4Addr) {
        let images = self
            .call("GET", "/images?type=snapshot&architecture=x86", None)
            .await;
        let image = images["images"][0]["id"].as_i64().unwrap();
        let mut body =
            json!({"name": name, "server_type": "cx23", "location": "fsn1", "image": image});
        if let Some(u) = user_data {
            body["user_data"] = json!(u);
        }
        let created = self.call("POST", "/servers", Some(body)).await;
        let ip = created["server"]["public_net"]["ipv4"]["ip"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        (created["server"]["id"].as_i64().unwrap(), ip)
    }

    fn apid(&self, ip: Ipv4Addr) -> SocketAddr {
        SocketAddr::new(IpAddr::V4(ip), self.ports.apid)
    }

    async fn state(&self) -> Value {
        self.sim_json("/_sim/state").await
    }

    async fn stats(&self) -> Value {
        self.sim_json("/_sim/stats").await
    }

    async fn sim_json(&self, path: &str) -> Value {
        let url = format!("http://{}{path}", self.handle.addr());
        serde_json::from_str(
            &self
                .http
                .client
                .get(url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        )
        .unwrap()
    }
}

#[derive(Debug)]
struct AcceptAnyServer;

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// Maintenance mode: no client certificate, server not verified.
fn maintenance_tls() -> Arc<ClientConfig> {
    let mut c = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyServer))
        .with_no_client_auth();
    c.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(c)
}

/// The OS CA (cert, key) of the fixture config.
fn os_ca() -> (String, String) {
    let doc: Value = serde_saphyr::from_multiple::<Value>(CONTROLPLANE)
        .unwrap()
        .remove(0);
    let crt = pki::unwrap_base64_pem(doc["machine"]["ca"]["crt"].as_str().unwrap(), "crt").unwrap();
    let key = pki::unwrap_base64_pem(doc["machine"]["ca"]["key"].as_str().unwrap(), "key").unwrap();
    (crt, key)
}

/// mTLS with a client certificate of `role` from the fixture's OS CA.
fn admin_tls(role: &str) -> Arc<ClientConfig> {
    let (crt, key) = os_ca();
    let (client_crt, client_key) = pki::issue_client(&crt, &key, "", role).unwrap();
    let mut roots = RootCertStore::empty();
    roots
        .add(pki::certificate_der(&crt, "ca").unwrap())
        .unwrap();
    let chain = vec![pki::certificate_der(&client_crt, "client").unwrap()];
    let block = pki::decode_pem(&client_key, "key").unwrap();
    let key = PrivateKeyDer::try_from(block.der).unwrap();
    let mut c = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .unwrap();
    c.alpn_protocols = vec![b"h2".to_vec()];
    Arc::new(c)
}

/// A channel to apid at `addr`, connecting from `source` (a loopback address) if given.
async fn channel(
    addr: SocketAddr,
    tls: Arc<ClientConfig>,
    source: Option<Ipv4Addr>,
) -> Result<Channel, tonic::transport::Error> {
    Endpoint::from_static("http://talos")
        .connect_timeout(Duration::from_secs(2))
        .connect_with_connector(tower::service_fn(move |_| {
            let tls = tls.clone();
            async move {
                let socket = TcpSocket::new_v4()?;
                if let Some(src) = source {
                    socket.bind(SocketAddr::new(IpAddr::V4(src), 0))?;
                }
                let tcp = socket.connect(addr).await?;
                let name = ServerName::IpAddress(addr.ip().into());
                let stream = tokio_rustls::TlsConnector::from(tls)
                    .connect(name, tcp)
                    .await?;
                Ok::<_, std::io::Error>(TokioIo::new(stream))
            }
        }))
        .await
}

/// Polls until `Version` answers on a channel built with `tls`.
async fn wait_up(sim: &Sim, ip: Ipv4Addr, tls: Arc<ClientConfig>) -> MachineServiceClient<Channel> {
    for _ in 0..200 {
        sim.call("GET", "/servers", None).await;
        if let Ok(ch) = channel(sim.apid(ip), tls.clone(), None).await {
            let mut client = MachineServiceClient::new(ch);
            if client.version(()).await.is_ok() {
                return client;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let last = match channel(sim.apid(ip), tls, None).await {
        Ok(ch) => format!(
            "{:?}",
            MachineServiceClient::new(ch).version(()).await.err()
        ),
        Err(e) => format!("connect: {e:?}"),
    };
    panic!("node {ip} never answered: {last}");
}

fn apply(config: &str, mode: i32, dry_run: bool) -> ApplyConfigurationRequest {
    ApplyConfigurationRequest {
        data: config.as_bytes().to_vec(),
        mode,
        dry_run,
        try_mode_timeout: None,
    }
}

#[tokio::test]
async fn maintenance_mode_accepts_a_valid_config_then_requires_admin_mtls() {
    let sim = Sim::start(Ports {
        apid: 52010,
        kube: 8460,
    })
    .await;
    let (_, ip) = sim.server("prod-cp-1", None).await;
    let mut maintenance = wait_up(&sim, ip, maintenance_tls()).await;
    assert_eq!(sim.state().await["talos_nodes"][0]["mode"], "maintenance");

    // Invalid configs are refused with the reason: schema, then semantics.
    let unknown_field = CONTROLPLANE.replacen("debug: false", "debug: false\nnotAField: 1", 1);
    let err = maintenance
        .apply_configuration(apply(&unknown_field, 1, false))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("schema"), "{}", err.message());
    let bad_token =
        CONTROLPLANE.replacen("token: qw8e7r.zyxwvutsrq987654", "token: not-a-token", 1);
    let err = maintenance
        .apply_configuration(apply(&bad_token, 1, false))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(err.message().contains("machine.token"), "{}", err.message());

    // A valid config takes the node out of maintenance mode.
    let reply = maintenance
        .apply_configuration(apply(CONTROLPLANE, 1, false))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        reply.messages[0].mode, 0,
        "maintenance applies install and reboot"
    );
    let mut admin = wait_up(&sim, ip, admin_tls("os:admin")).await;
    let state = sim.state().await;
    assert_eq!(state["talos_nodes"][0]["mode"], "configured");
    assert_eq!(state["talos_nodes"][0]["role"], "controlplane");

    // Without a client certificate the configured node refuses the connection.
    let refused = match channel(sim.apid(ip), maintenance_tls(), None).await {
        Ok(ch) => MachineServiceClient::new(ch).version(()).await.is_err(),
        Err(_) => true,
    };
    assert!(
        refused,
        "a configured node must require a client certificate"
    );

    // os:reader may read but not write.
    let mut reader = MachineServiceClient::new(
        channel(sim.apid(ip), admin_tls("os:reader"), None)
            .await
            .unwrap(),
    );
    assert_eq!(
        reader.version(()).await.unwrap().into_inner().messages[0]
            .version
            .as_ref()
            .unwrap()
            .tag,
        "v1.13.9"
    );
    let denied = reader
        .bootstrap(BootstrapRequest::default())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);

    // Every call counts in `/_sim/stats` by method, refused ones included.
    let talos = &sim.stats().await["talos_requests"];
    assert_eq!(talos["/machine.MachineService/ApplyConfiguration"], 3);
    assert_eq!(talos["/machine.MachineService/Bootstrap"], 1);

    // Dry run and staged applies leave the running config alone.
    let hash = state["talos_nodes"][0]["config_hash"].clone();
    let changed = CONTROLPLANE.replacen("hk8s.io/pool: general", "hk8s.io/pool: other", 1);
    let dry = admin
        .apply_configuration(apply(&changed, 1, true))
        .await
        .unwrap()
        .into_inner();
    assert!(dry.messages[0].mode_details.starts_with("Dry run"));
    admin
        .apply_configuration(apply(&changed, 3, false))
        .await
        .unwrap();
    let state = sim.state().await;
    assert_eq!(state["talos_nodes"][0]["config_hash"], hash);
    assert!(state["talos_nodes"][0]["staged_config_hash"].is_string());

    // Bootstrap once; again is AlreadyExists.
    admin.bootstrap(BootstrapRequest::default()).await.unwrap();
    let again = admin
        .bootstrap(BootstrapRequest::default())
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::AlreadyExists);
    sim.handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn upgrade_reports_the_new_version_and_reset_reboots_into_the_user_data() {
    let sim = Sim::start(Ports {
        apid: 52030,
        kube: 8480,
    })
    .await;
    use base64::Engine;
    let user_data = base64::engine::general_purpose::STANDARD.encode(CONTROLPLANE);
    let (_, ip) = sim.server("prod-cp-1", Some(&user_data)).await;
    let mut admin = wait_up(&sim, ip, admin_tls("os:admin")).await;

    let upgrade = UpgradeRequest { image: "factory.talos.dev/installer/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba:v1.13.10".into(), ..Default::default() };
    // MachineService.Upgrade is deprecated for LifecycleService.Upgrade (1.13+) but still served.
    #[allow(deprecated)]
    admin.upgrade(upgrade).await.unwrap();
    let mut admin = wait_up(&sim, ip, admin_tls("os:admin")).await;
    let version = admin.version(()).await.unwrap().into_inner();
    assert_eq!(
        version.messages[0].version.as_ref().unwrap().tag,
        "v1.13.10"
    );

    assert_eq!(
        sim.state().await["talos_nodes"][0]["schematic"],
        hk8s_sim::catalog::DEFAULT_TALOS_SCHEMATIC
    );

    // The 1.13+ path: pull the installer, then LifecycleService.Upgrade from it. The installer
    // of a schematic posted to the sim's Image Factory; one it never saw does not exist.
    let posted: Value = sim
        .http
        .client
        .post(format!("{}/schematics", sim.handle.image_factory_url()))
        .body("customization: {systemExtensions: {officialExtensions: [siderolabs/qemu-guest-agent]}}")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let schematic = posted["id"].as_str().unwrap().to_string();
    let factory = sim.handle.image_factory_url().replace("http://", "");
    let installer = format!("{factory}/installer/{schematic}:v1.13.11");
    let channel_to = || channel(sim.apid(ip), admin_tls("os:admin"), None);
    let unknown = format!("factory.talos.dev/installer/{}:v1.13.11", "ab".repeat(32));
    let missing = ImageServiceClient::new(channel_to().await.unwrap())
        .pull(ImageServicePullRequest {
            containerd: None,
            image_ref: unknown.clone(),
        })
        .await
        .unwrap_err();
    assert!(
        missing
            .message()
            .starts_with(&format!("failed to pull image {unknown:?}"))
            && missing.message().ends_with("not found"),
        "{missing:?}"
    );
    let mut lifecycle = LifecycleServiceClient::new(channel_to().await.unwrap());
    let source = Some(InstallArtifactsSource {
        image_name: installer.clone(),
    });
    let not_pulled = lifecycle
        .upgrade(LifecycleServiceUpgradeRequest {
            containerd: None,
            source: source.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(not_pulled.code(), tonic::Code::FailedPrecondition);
    let mut images = ImageServiceClient::new(channel_to().await.unwrap());
    let mut pulled = images
        .pull(ImageServicePullRequest {
            containerd: None,
            image_ref: installer.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    while pulled.message().await.unwrap().is_some() {}
    let mut progress = lifecycle
        .upgrade(LifecycleServiceUpgradeRequest {
            containerd: None,
            source,
        })
        .await
        .unwrap()
        .into_inner();
    while progress.message().await.unwrap().is_some() {}
    // Installed, not running: the new version boots at the reboot the client asks for next.
    let running = admin.version(()).await.unwrap().into_inner();
    assert_eq!(
        running.messages[0].version.as_ref().unwrap().tag,
        "v1.13.10"
    );
    admin.reboot(RebootRequest::default()).await.unwrap();
    let mut admin = wait_up(&sim, ip, admin_tls("os:admin")).await;
    let mut reported = String::new();
    for _ in 0..200 {
        reported = admin.version(()).await.unwrap().into_inner().messages[0]
            .version
            .as_ref()
            .unwrap()
            .tag
            .clone();
        if reported == "v1.13.11" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(reported, "v1.13.11");
    assert_eq!(sim.state().await["talos_nodes"][0]["schematic"], schematic);

    admin.bootstrap(BootstrapRequest::default()).await.unwrap();
    let last_member = admin
        .reset(ResetRequest {
            graceful: true,
            reboot: true,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(last_member.code(), tonic::Code::FailedPrecondition);
    admin
        .reset(ResetRequest {
            graceful: false,
            reboot: true,
            ..Default::default()
        })
        .await
        .unwrap();
    // STATE is wiped: the node reads its user data again and is configured from it.
    wait_up(&sim, ip, admin_tls("os:admin")).await;
    assert_eq!(sim.state().await["talos_nodes"][0]["mode"], "configured");
    sim.handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn firewalls_filter_the_public_address_by_port_and_source() {
    let sim = Sim::start(Ports {
        apid: 52020,
        kube: 8470,
    })
    .await;
    let (id, ip) = sim.server("fw-node", None).await;
    wait_up(&sim, ip, maintenance_tls()).await;
    let allowed = Ipv4Addr::new(127, 0, 0, 7);
    let denied = Ipv4Addr::new(127, 0, 0, 8);
    sim.call(
        "POST",
        "/firewalls",
        Some(json!({
            "name": "talos-api",
            "rules": [{"direction": "in", "protocol": "tcp", "port": "50000", "source_ips": [format!("{allowed}/32")]},
                      {"direction": "in", "protocol": "tcp", "port": "6443", "source_ips": ["0.0.0.0/0"]}],
            "apply_to": [{"type": "server", "server": {"id": id}}],
        })),
    )
    .await;
    sim.call("GET", "/servers", None).await;
    let from_allowed = channel(sim.apid(ip), maintenance_tls(), Some(allowed))
        .await
        .unwrap();
    MachineServiceClient::new(from_allowed)
        .version(())
        .await
        .unwrap();
    let blocked = match channel(sim.apid(ip), maintenance_tls(), Some(denied)).await {
        Ok(ch) => MachineServiceClient::new(ch).version(()).await.is_err(),
        Err(_) => true,
    };
    assert!(blocked, "a source outside the rule's CIDR must be filtered");
    sim.handle.shutdown().await.unwrap();
}

/// The configuration without its `VolumeConfig` documents (no disk encryption).
fn without_volume_configs(config: &str) -> String {
    config
        .split("---\n")
        .filter(|doc| !doc.contains("kind: VolumeConfig"))
        .collect::<Vec<_>>()
        .join("---\n")
}

#[tokio::test]
async fn disk_encryption_is_checked_formatted_once_and_reported() {
    let sim = Sim::start(Ports {
        apid: 52040,
        kube: 8490,
    })
    .await;
    assert!(CONTROLPLANE.contains("nodeID: {}"), "the fixture encrypts");
    use base64::Engine;
    let user_data = base64::engine::general_purpose::STANDARD.encode(CONTROLPLANE);
    let (_, ip) = sim.server("prod-cp-1", Some(&user_data)).await;
    let mut admin = wait_up(&sim, ip, admin_tls("os:admin")).await;
    let state = sim.state().await;
    let volumes = &state["talos_nodes"][0]["volumes"];
    for name in ["STATE", "EPHEMERAL"] {
        assert_eq!(volumes[name]["encrypted"], true, "{volumes}");
        assert_eq!(volumes[name]["encryption"]["provider"], "luks2");
        assert_eq!(
            volumes[name]["encryption"]["keys"],
            json!([{"slot": 0, "type": "nodeID"}])
        );
    }

    // What Talos refuses, the sim refuses: schema first, then Talos's own checks.
    let refused = [
        (
            CONTROLPLANE.replace("provider: luks2", "provider: luks1"),
            "schema",
        ),
        (CONTROLPLANE.replace("nodeID: {}", "password: {}"), "schema"),
        (
            CONTROLPLANE.replacen("name: EPHEMERAL", "name: DATA", 1),
            "only [\"STATE\" \"EPHEMERAL\" \"IMAGECACHE\"] volumes are supported",
        ),
        (
            CONTROLPLANE.replacen("name: EPHEMERAL", "name: STATE", 1),
            "duplicate document: VolumeConfig/STATE",
        ),
        (
            CONTROLPLANE.replace("          nodeID: {}\n", ""),
            "at least one encryption key type must be specified for slot 0",
        ),
    ];
    for (config, expected) in refused {
        let err = admin
            .apply_configuration(apply(&config, 1, false))
            .await
            .unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{expected}");
        assert!(err.message().contains(expected), "{}", err.message());
        assert!(
            !err.message().contains("BEGIN"),
            "no key material echoed: {}",
            err.message()
        );
    }

    // A formatted partition keeps its encryption: asking for none is refused, naming both.
    let plain = without_volume_configs(CONTROLPLANE);
    let err = admin
        .apply_configuration(apply(&plain, 1, false))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition);
    assert!(
        err.message().contains(
            "STATE is luks2 with nodeID@0 key(s), the configuration asks for not encrypted"
        ),
        "{}",
        err.message()
    );

    // A reset wipes STATE and EPHEMERAL; the node boots from its user data again (as on the
    // hcloud platform) and formats them anew, as that configuration says.
    admin
        .reset(ResetRequest {
            graceful: false,
            reboot: true,
            ..Default::default()
        })
        .await
        .unwrap();
    wait_up(&sim, ip, admin_tls("os:admin")).await;
    let volumes = sim.state().await["talos_nodes"][0]["volumes"].clone();
    for name in ["STATE", "EPHEMERAL"] {
        assert_eq!(volumes[name]["encrypted"], true, "{volumes}");
    }
    sim.handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn running_machine_configuration_is_served_as_the_cosi_resource() {
    use hk8s_sim::talos::proto::cosi::resource::state_client::StateClient;
    use hk8s_sim::talos::proto::cosi::resource::{GetRequest, MachineConfigSpec};
    use prost::Message as _;

    let sim = Sim::start(Ports {
        apid: 52050,
        kube: 8500,
    })
    .await;
    let (_, ip) = sim.server("prod-cp-1", None).await;
    let get = |id: &str| GetRequest {
        namespace: "config".into(),
        r#type: "MachineConfigs.config.talos.dev".into(),
        id: id.into(),
        options: None,
    };
    let config_of =
        |reply: tonic::Response<hk8s_sim::talos::proto::cosi::resource::GetResponse>| {
            let spec = reply.into_inner().resource.unwrap().spec.unwrap();
            MachineConfigSpec::decode(spec.proto_spec.as_slice())
                .unwrap()
                .yaml_marshalled
        };

    // Maintenance mode serves no resources.
    wait_up(&sim, ip, maintenance_tls()).await;
    let mut maintenance = StateClient::new(
        channel(sim.apid(ip), maintenance_tls(), None)
            .await
            .unwrap(),
    );
    let err = maintenance.get(get("v1alpha1")).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unimplemented, "{}", err.message());
    MachineServiceClient::new(
        channel(sim.apid(ip), maintenance_tls(), None)
            .await
            .unwrap(),
    )
    .apply_configuration(apply(CONTROLPLANE, 1, false))
    .await
    .unwrap();
    let mut admin = wait_up(&sim, ip, admin_tls("os:admin")).await;

    // The active configuration, byte for byte as submitted; os:admin only.
    let mut state = StateClient::new(
        channel(sim.apid(ip), admin_tls("os:admin"), None)
            .await
            .unwrap(),
    );
    assert_eq!(
        config_of(state.get(get("v1alpha1")).await.unwrap()),
        CONTROLPLANE.as_bytes()
    );
    let mut reader = StateClient::new(
        channel(sim.apid(ip), admin_tls("os:reader"), None)
            .await
            .unwrap(),
    );
    let denied = reader.get(get("v1alpha1")).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied);
    let mut other = get("v1alpha1");
    other.r#type = "Members.cluster.talos.dev".into();
    assert_eq!(
        state.get(other).await.unwrap_err().code(),
        tonic::Code::Unimplemented
    );
    assert_eq!(
        state.get(get("nope")).await.unwrap_err().code(),
        tonic::Code::NotFound
    );

    // A staged configuration is persistent but not active yet.
    let staged = CONTROLPLANE.replacen("hk8s.io/pool: general", "hk8s.io/pool: other", 1);
    admin
        .apply_configuration(apply(&staged, 3, false))
        .await
        .unwrap();
    assert_eq!(
        config_of(state.get(get("v1alpha1")).await.unwrap()),
        CONTROLPLANE.as_bytes()
    );
    assert_eq!(
        config_of(state.get(get("persistent")).await.unwrap()),
        staged.as_bytes()
    );
    sim.handle.shutdown().await.unwrap();
}

/// `/_sim/state` entry of the node of server `id`, once `ready` holds for it (or panics).
async fn node_until(sim: &Sim, id: i64, ready: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..400 {
        sim.call("GET", "/servers", None).await;
        let state = sim.state().await;
        if let Some(node) = state["talos_nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|n| n["server_id"] == id))
        {
            if ready(node) {
                return node.clone();
            }
            last = node.clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("node of server {id} never got there: {last:#}");
}

fn wipe(labels: &[&str]) -> Vec<hk8s_sim::talos::proto::machine::ResetPartitionSpec> {
    labels
        .iter()
        .map(
            |label| hk8s_sim::talos::proto::machine::ResetPartitionSpec {
                label: (*label).to_owned(),
                wipe: true,
            },
        )
        .collect()
}

#[tokio::test]
async fn reset_reboots_or_powers_off_as_its_reboot_flag_says_and_rereads_user_data() {
    let sim = Sim::start(Ports {
        apid: 52060,
        kube: 8505,
    })
    .await;
    let (id, ip) = sim.server("reset-cp-1", Some(CONTROLPLANE)).await;
    let mut admin = wait_up(&sim, ip, admin_tls("os:admin")).await;
    let configured = node_until(&sim, id, |n| n["mode"] == "configured").await;

    // Partitions the sim does not know are refused as Talos refuses them.
    let unknown = admin
        .reset(ResetRequest {
            reboot: true,
            system_partitions_to_wipe: wipe(&["DATA"]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::Unknown, "{unknown:?}");
    assert!(
        unknown.message().contains("\"DATA\""),
        "{}",
        unknown.message()
    );

    // EPHEMERAL only: STATE (the configuration) survives the reboot.
    admin
        .reset(ResetRequest {
            reboot: true,
            system_partitions_to_wipe: wipe(&["EPHEMERAL"]),
            ..Default::default()
        })
        .await
        .unwrap();
    // (The reset put the node into its reboot synchronously: the next answer is after it.)
    let mut admin = wait_up(&sim, ip, admin_tls("os:admin")).await;
    let node = node_until(&sim, id, |n| n["mode"] == "configured").await;
    assert_eq!(node["config_hash"], configured["config_hash"]);

    // Everything wiped, reboot: STATE is empty, so the node reads the server's user data again,
    // as Talos on hcloud does, and comes back configured (not in maintenance mode).
    admin
        .reset(ResetRequest {
            reboot: true,
            ..Default::default()
        })
        .await
        .unwrap();
    // (The reset put the node into its reboot synchronously: the next answer is after it.)
    let mut admin = wait_up(&sim, ip, admin_tls("os:admin")).await;
    let node = node_until(&sim, id, |n| n["mode"] == "configured").await;
    assert_eq!(node["config_hash"], configured["config_hash"]);

    // reboot = false: the reset ends in a shutdown; the server is off in the Hetzner API.
    admin.reset(ResetRequest::default()).await.unwrap();
    node_until(&sim, id, |n| n["mode"] == "down").await;
    let server = sim.call("GET", &format!("/servers/{id}"), None).await;
    assert_eq!(server["server"]["status"], "off");
    let halted = match channel(sim.apid(ip), admin_tls("os:admin"), None).await {
        Ok(ch) => MachineServiceClient::new(ch).version(()).await.is_err(),
        Err(_) => true,
    };
    assert!(halted, "a halted node does not answer");
    // Powered on again, it boots from the user data once more.
    sim.call("POST", &format!("/servers/{id}/actions/poweron"), None)
        .await;
    wait_up(&sim, ip, admin_tls("os:admin")).await;
    node_until(&sim, id, |n| n["mode"] == "configured").await;
    sim.handle.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_second_sim_on_the_same_public_ipv4_block_is_refused_naming_the_flag() {
    let base = Ipv4Addr::new(127, 30, 0, 1);
    let ports = Ports {
        apid: 52070,
        kube: 8510,
    };
    let config = |eager: bool| {
        let mut config = SimConfig::new(TOKEN);
        config.talos_versions = vec!["v1.13.9".into()];
        config.talos_ports = ports;
        config.public_ipv4_base = base;
        config.claim_ipv4_block_at_start = eager;
        config
    };
    let first = serve(config(true)).await.unwrap();

    // As the hk8s-sim binary does: the second one does not start.
    let refused = match serve(config(true)).await {
        Ok(_) => panic!("a second sim on {base} must not start"),
        Err(e) => e.to_string(),
    };
    assert!(
        refused.contains("--public-ipv4-base") && refused.contains("127.30.0.1"),
        "{refused}"
    );

    // In-process sims claim the block when their first node listens: that node fails loudly.
    let second = Sim {
        handle: serve(config(false)).await.unwrap(),
        http: hcloud::apis::configuration::Configuration::new(),
        ports,
    };
    let (id, _) = second.server("late-node", None).await;
    let node = node_until(&second, id, |n| !n["listen_error"].is_null()).await;
    let error = node["listen_error"].as_str().unwrap();
    assert!(error.contains("--public-ipv4-base"), "{error}");
    second.handle.shutdown().await.unwrap();
    first.shutdown().await.unwrap();
}
