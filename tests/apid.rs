//! The apid client against an in-process mock apid over real (mutual) TLS on 127.0.0.1.

mod apid_mock;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use apid_mock::pki::{self, Ca, Leaf};
use apid_mock::server::{self, Running, ServerTls};
use hk8s::talos::apid::{
    ApidClient, AppliedMode, ApplyConfiguration, ApplyMode, BootstrapOutcome, ClientOptions,
    Credentials, Error, RebootMode, ResetOptions, RetryPolicy, Rpc, UpgradeApi, UpgradeOutcome,
    UpgradeRequest,
};
use tonic::{Code, Status};

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const NODE: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 1, 2));

/// Quick retries, so tests that retry do not wait; correctness never depends on them.
fn options() -> ClientOptions {
    ClientOptions::default().retry(RetryPolicy {
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(40),
    })
}

fn admin_credentials(ca: &Ca, client: &Leaf) -> Credentials {
    Credentials::Admin {
        ca: ca.pem().into_bytes(),
        crt: client.cert_pem.clone().into_bytes(),
        key: client.talos_key_pem().into_bytes(),
    }
}

fn mutual_tls(ca: &Ca, server_cert: &Leaf) -> ServerTls {
    ServerTls::Mutual {
        chain: vec![server_cert.cert_der.clone()],
        key: server_cert.key_der(),
        client_ca: ca.der(),
    }
}

/// A configured node at 127.0.0.1 and an admin client for it.
async fn configured_node() -> (Running, ApidClient) {
    let ca = Ca::new();
    let server = server::start(mutual_tls(&ca, &ca.server_cert(&[LOCALHOST]))).await;
    let credentials = admin_credentials(&ca, &ca.admin_client_cert());
    let client = ApidClient::connect(server.addr, &credentials, options())
        .await
        .unwrap();
    (server, client)
}

fn tls_error(err: &Error) -> &rustls::Error {
    match err {
        // A certificate of another CA says the node is not part of the cluster.
        Error::Tls { source, .. } | Error::NotInCluster { source, .. } => source,
        other => panic!("expected a TLS error, got {other:?}"),
    }
}

#[tokio::test]
async fn version_over_mutual_tls_with_a_talos_labelled_ed25519_key() {
    let (server, client) = configured_node().await;
    let version = client.direct().version().await.unwrap();
    assert_eq!(version.tag, "v1.13.9");
    assert_eq!(version.arch, "amd64");
    assert_eq!(version.platform, "hcloud");
    assert_eq!(version.hostname, "mock-direct");
    assert_eq!(server.state.calls()[0].node, None);
}

#[tokio::test]
async fn node_metadata_routes_the_call_through_one_endpoint() {
    let (server, client) = configured_node().await;
    let version = client.node(NODE).version().await.unwrap();
    let other = client.node(LOCALHOST).version().await.unwrap();
    assert_eq!(version.hostname, "mock-10.0.1.2");
    assert_eq!(other.hostname, "mock-127.0.0.1");
    let nodes: Vec<_> = server.state.calls().into_iter().map(|c| c.node).collect();
    assert_eq!(
        nodes,
        [Some("10.0.1.2".to_owned()), Some("127.0.0.1".to_owned())]
    );
}

#[tokio::test]
async fn a_client_certificate_from_another_ca_is_rejected() {
    let (os_ca, stranger_ca) = (Ca::new(), Ca::new());
    let server = server::start(mutual_tls(&os_ca, &os_ca.server_cert(&[LOCALHOST]))).await;
    let stranger = stranger_ca.admin_client_cert();
    let credentials = Credentials::Admin {
        ca: os_ca.pem().into_bytes(),
        crt: stranger.cert_pem.clone().into_bytes(),
        key: stranger.talos_key_pem().into_bytes(),
    };
    let client = ApidClient::connect(server.addr, &credentials, options())
        .await
        .unwrap();
    let err = client.direct().version().await.unwrap_err();
    assert!(
        matches!(tls_error(&err), rustls::Error::AlertReceived(_)),
        "{err:?}"
    );
    assert!(server.state.calls().is_empty());
    let failures = server.handshake_failures.lock().unwrap().clone();
    assert!(
        failures
            .iter()
            .any(|f| f.contains("invalid peer certificate")),
        "{failures:?}"
    );
}

#[tokio::test]
async fn a_server_certificate_from_another_ca_fails_verification() {
    let (os_ca, impostor_ca) = (Ca::new(), Ca::new());
    let impostor_cert = impostor_ca.server_cert(&[LOCALHOST]);
    let server = server::start(ServerTls::Mutual {
        chain: vec![impostor_cert.cert_der.clone()],
        key: impostor_cert.key_der(),
        client_ca: os_ca.der(),
    })
    .await;
    let credentials = admin_credentials(&os_ca, &os_ca.admin_client_cert());
    let client = ApidClient::connect(server.addr, &credentials, options())
        .await
        .unwrap();
    let err = client.direct().version().await.unwrap_err();
    // Every Talos OS CA has the subject O=talos, so the verifier takes the impostor's CA for
    // the issuer and finds the signature wrong.
    assert!(
        matches!(
            tls_error(&err),
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::BadSignature | rustls::CertificateError::UnknownIssuer
            )
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("machine.MachineService/Version"),
        "{err}"
    );
    assert!(server.state.calls().is_empty());
}

#[tokio::test]
async fn a_server_certificate_for_another_ip_fails_verification() {
    let ca = Ca::new();
    let elsewhere = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let server = server::start(mutual_tls(&ca, &ca.server_cert(&[elsewhere]))).await;
    let credentials = admin_credentials(&ca, &ca.admin_client_cert());
    let client = ApidClient::connect(server.addr, &credentials, options())
        .await
        .unwrap();
    let err = client.direct().version().await.unwrap_err();
    assert!(
        matches!(
            tls_error(&err),
            rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForNameContext { .. }
            )
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn maintenance_mode_applies_a_config_to_a_self_signed_node_without_a_client_cert() {
    let cert = pki::maintenance_self_signed();
    let server = server::start(ServerTls::NoClientAuth {
        chain: vec![cert.cert_der.clone()],
        key: cert.key_der(),
    })
    .await;
    let client = ApidClient::connect(server.addr, &Credentials::Maintenance, options())
        .await
        .unwrap();
    let outcome = client
        .direct()
        .apply_configuration(ApplyConfiguration {
            config: b"version: v1alpha1\n",
            mode: ApplyMode::Auto,
            dry_run: false,
        })
        .await
        .unwrap();
    assert_eq!(outcome.mode, AppliedMode::NoReboot);
    assert_eq!(
        outcome.mode_details,
        "Applied configuration without a reboot"
    );
    assert_eq!(outcome.warnings, ["cluster.network: deprecated field"]);
    assert_eq!(server.state.calls()[0].argument, "version: v1alpha1\n");
}

#[tokio::test]
async fn admin_credentials_refuse_a_maintenance_node() {
    let cert = pki::maintenance_self_signed();
    let server = server::start(ServerTls::NoClientAuth {
        chain: vec![cert.cert_der.clone()],
        key: cert.key_der(),
    })
    .await;
    let ca = Ca::new();
    let credentials = admin_credentials(&ca, &ca.admin_client_cert());
    let client = ApidClient::connect(server.addr, &credentials, options())
        .await
        .unwrap();
    let err = client.direct().version().await.unwrap_err();
    tls_error(&err);
}

#[tokio::test]
async fn maintenance_credentials_refuse_a_configured_node_with_a_typed_tls_error() {
    let ca = Ca::new();
    let server = server::start(mutual_tls(&ca, &ca.server_cert(&[LOCALHOST]))).await;
    let client = ApidClient::connect(server.addr, &Credentials::Maintenance, options())
        .await
        .unwrap();
    let err = client.direct().version().await.unwrap_err();
    // A configured node demands a client certificate; TLS 1.3 says so with an alert after the
    // client's side of the handshake is done.
    assert!(
        matches!(tls_error(&err), rustls::Error::AlertReceived(_)),
        "{err:?}"
    );
    assert!(server.state.calls().is_empty());
}

#[tokio::test]
async fn failed_precondition_and_unavailable_are_retried_until_success() {
    let (server, client) = configured_node().await;
    let method = "MachineService/ApplyConfiguration";
    server.state.fail_next(
        method,
        Status::failed_precondition("another apply is in progress"),
    );
    server
        .state
        .fail_next(method, Status::unavailable("apid is starting"));
    let outcome = client
        .node(NODE)
        .apply_configuration(ApplyConfiguration {
            config: b"cfg",
            mode: ApplyMode::Try {
                timeout: Duration::from_secs(60),
            },
            dry_run: true,
        })
        .await
        .unwrap();
    assert_eq!(outcome.mode, AppliedMode::Try);
    assert_eq!(outcome.mode_details, "Dry run summary: no changes");
    assert_eq!(server.state.methods(), [method; 3]);
}

#[tokio::test]
async fn a_node_that_drops_connections_is_retried_until_it_serves() {
    let ca = Ca::new();
    let tls = mutual_tls(&ca, &ca.server_cert(&[LOCALHOST]));
    let server = server::start_dropping_connections(tls, 2).await;
    let credentials = admin_credentials(&ca, &ca.admin_client_cert());
    let client = ApidClient::connect(server.addr, &credentials, options())
        .await
        .unwrap();
    let version = client.node(NODE).version().await.unwrap();
    assert_eq!(version.tag, "v1.13.9");
    assert_eq!(server.state.methods(), ["MachineService/Version"]);
}

#[tokio::test]
async fn a_node_that_never_serves_ends_in_a_timeout_with_the_last_error() {
    let ca = Ca::new();
    let tls = mutual_tls(&ca, &ca.server_cert(&[LOCALHOST]));
    let server = server::start_dropping_connections(tls, usize::MAX).await;
    let credentials = admin_credentials(&ca, &ca.admin_client_cert());
    let client = ApidClient::connect(server.addr, &credentials, options())
        .await
        .unwrap();
    let err = client
        .node(NODE)
        .with_deadline(Duration::from_millis(500))
        .bootstrap()
        .await
        .unwrap_err();
    let Error::Timeout {
        rpc,
        attempts,
        last_error: Some(last),
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(*rpc, Rpc::Bootstrap);
    assert!(*attempts > 1, "{attempts}");
    assert_eq!(last.grpc_code(), Some(Code::Unavailable), "{last:?}");
}

#[tokio::test]
async fn invalid_argument_is_not_retried() {
    let (server, client) = configured_node().await;
    let method = "MachineService/ApplyConfiguration";
    server.state.fail_next(
        method,
        Status::invalid_argument("unknown keys found during decoding"),
    );
    let err = client
        .node(NODE)
        .apply_configuration(ApplyConfiguration {
            config: b"bogus: true",
            mode: ApplyMode::NoReboot,
            dry_run: false,
        })
        .await
        .unwrap_err();
    let Error::Status {
        rpc,
        target,
        status,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(*rpc, Rpc::ApplyConfiguration);
    assert_eq!(target.node, Some(NODE));
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(server.state.methods(), [method]);
    assert_eq!(
        err.to_string(),
        format!(
            "machine.MachineService/ApplyConfiguration on node 10.0.1.2 via {} failed: \
             InvalidArgument: unknown keys found during decoding",
            server.addr
        )
    );
}

#[tokio::test]
async fn bootstrap_already_exists_counts_as_done() {
    let (server, client) = configured_node().await;
    server.state.fail_next(
        "MachineService/Bootstrap",
        Status::failed_precondition("time is not in sync yet"),
    );
    let node = client.node(NODE);
    assert_eq!(
        node.bootstrap().await.unwrap(),
        BootstrapOutcome::Bootstrapped
    );
    assert_eq!(
        node.bootstrap().await.unwrap(),
        BootstrapOutcome::AlreadyBootstrapped
    );
    assert_eq!(server.state.methods(), ["MachineService/Bootstrap"; 3]);
}

#[tokio::test]
async fn a_call_past_its_deadline_is_a_timeout_naming_the_rpc() {
    let (server, client) = configured_node().await;
    server.state.hang("MachineService/EtcdMemberList");
    let err = client
        .node(NODE)
        .with_deadline(Duration::from_millis(300))
        .etcd_members()
        .await
        .unwrap_err();
    let Error::Timeout { rpc, deadline, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(*rpc, Rpc::EtcdMemberList);
    assert_eq!(*deadline, Duration::from_millis(300));
    let message = err.to_string();
    assert!(
        message.contains("machine.MachineService/EtcdMemberList"),
        "{message}"
    );
    assert!(message.contains("node 10.0.1.2"), "{message}");
}

#[tokio::test]
async fn dropping_a_call_cancels_it_on_the_server() {
    let (server, client) = configured_node().await;
    server.state.hang("MachineService/Version");
    let call = tokio::spawn(async move { client.node(NODE).version().await });
    server.state.entered.notified().await;
    call.abort();
    // The server's handler is dropped once the client resets the stream.
    server.state.abandoned.notified().await;
}

#[tokio::test]
async fn per_node_errors_in_reply_metadata_are_typed() {
    let (server, client) = configured_node().await;
    server.state.node_error(
        "MachineService/Reset",
        "failed to leave etcd",
        Code::Internal,
    );
    let err = client
        .node(NODE)
        .reset(&ResetOptions {
            system_partitions_to_wipe: vec!["STATE".into(), "EPHEMERAL".into()],
            ..ResetOptions::default()
        })
        .await
        .unwrap_err();
    let Error::Node {
        rpc,
        hostname,
        code,
        message,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(*rpc, Rpc::Reset);
    assert_eq!(hostname, "mock-10.0.1.2");
    assert_eq!(*code, Code::Internal);
    assert_eq!(message, "failed to leave etcd");
    assert_eq!(
        server.state.calls()[0].argument,
        r#"graceful=true reboot=false wipe=["STATE:true", "EPHEMERAL:true"]"#
    );
}

#[tokio::test]
async fn etcd_membership_calls() {
    let (server, client) = configured_node().await;
    let node = client.node(NODE);
    let members = node.etcd_members().await.unwrap();
    assert_eq!(members.len(), 2);
    assert_eq!(members[0].id, 11);
    assert_eq!(members[0].hostname, "cp-1");
    assert_eq!(members[0].peer_urls, ["https://cp-1:2380"]);
    assert!(members[1].is_learner);
    node.etcd_remove_member(22).await.unwrap();
    node.etcd_leave_cluster().await.unwrap();
    let calls = server.state.calls();
    assert_eq!(calls[1].argument, "22");
    assert_eq!(
        server.state.methods(),
        [
            "MachineService/EtcdMemberList",
            "MachineService/EtcdRemoveMemberByID",
            "MachineService/EtcdLeaveCluster"
        ]
    );
}

fn tar_gz(name: &str, content: &[u8]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    let mut header = tar::Header::new_gnu();
    header.set_size(content.len() as u64);
    header.set_mode(0o600);
    header.set_cksum();
    tar.append_data(&mut header, name, content).unwrap();
    let mut gz = tar.into_inner().unwrap();
    gz.flush().unwrap();
    gz.finish().unwrap()
}

#[tokio::test]
async fn kubeconfig_chunks_are_reassembled_and_unpacked() {
    let (server, client) = configured_node().await;
    let kubeconfig = b"apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n".repeat(20);
    server
        .state
        .kubeconfig_archive(tar_gz("kubeconfig", &kubeconfig));
    assert_eq!(client.node(NODE).kubeconfig().await.unwrap(), kubeconfig);
}

#[tokio::test]
async fn a_kubeconfig_archive_without_the_file_is_an_error() {
    let (server, client) = configured_node().await;
    server.state.kubeconfig_archive(tar_gz("talosconfig", b"x"));
    let err = client.node(NODE).kubeconfig().await.unwrap_err();
    assert!(matches!(err, Error::KubeconfigMissing { .. }), "{err:?}");
}

fn upgrade_to(api: UpgradeApi) -> UpgradeRequest {
    UpgradeRequest {
        image: "factory.talos.dev/installer/abc:v1.13.9".into(),
        api,
        reboot_mode: RebootMode::Powercycle,
    }
}

#[tokio::test]
async fn upgrade_on_talos_1_13_pulls_installs_and_reboots() {
    let (server, client) = configured_node().await;
    let outcome = client
        .node(NODE)
        .upgrade(&upgrade_to(UpgradeApi::Lifecycle))
        .await
        .unwrap();
    let pulled = "pulled/factory.talos.dev/installer/abc:v1.13.9";
    assert_eq!(
        outcome,
        UpgradeOutcome::Installed {
            image: pulled.into(),
            installer_output: vec!["installing".into(), "installed".into()],
        }
    );
    let calls = server.state.calls();
    let methods: Vec<_> = calls.iter().map(|c| c.method).collect();
    assert_eq!(
        methods,
        [
            "ImageService/Pull",
            "LifecycleService/Upgrade",
            "MachineService/Reboot"
        ]
    );
    assert_eq!(calls[0].argument, "factory.talos.dev/installer/abc:v1.13.9");
    assert_eq!(calls[1].argument, pulled);
    assert_eq!(calls[2].argument, "POWERCYCLE");
    assert!(calls.iter().all(|c| c.node.as_deref() == Some("10.0.1.2")));
}

#[tokio::test]
async fn a_failed_installer_stops_the_upgrade_before_the_reboot() {
    let (server, client) = configured_node().await;
    server.state.installer_exit_code(1);
    let err = client
        .node(NODE)
        .upgrade(&upgrade_to(UpgradeApi::Lifecycle))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::UpgradeFailed { exit_code: 1, .. }),
        "{err:?}"
    );
    assert_eq!(
        server.state.methods(),
        ["ImageService/Pull", "LifecycleService/Upgrade"]
    );
}

#[tokio::test]
async fn upgrade_on_talos_1_12_uses_machine_service_upgrade() {
    let (server, client) = configured_node().await;
    let outcome = client
        .node(NODE)
        .upgrade(&upgrade_to(UpgradeApi::MachineService))
        .await
        .unwrap();
    assert_eq!(
        outcome,
        UpgradeOutcome::Accepted {
            ack: "Upgrade request received".into()
        }
    );
    let calls = server.state.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, "MachineService/Upgrade");
    assert_eq!(calls[0].argument, "factory.talos.dev/installer/abc:v1.13.9");
}

#[tokio::test]
async fn reboot_sends_the_mode() {
    let (server, client) = configured_node().await;
    client.node(NODE).reboot(RebootMode::Default).await.unwrap();
    assert_eq!(server.state.calls()[0].argument, "DEFAULT");
}

/// A Lifecycle upgrade call cut off (the node rebooted, the connection broke) is not the end of
/// the upgrade: the node still reports its old version, so it is upgraded again, and the wait
/// ends when it reports the target.
#[tokio::test]
async fn an_upgrade_call_cut_off_is_made_again_while_the_node_runs_the_old_version() {
    let (server, client) = configured_node().await;
    server.state.fail_next(
        "LifecycleService/Upgrade",
        tonic::Status::cancelled("connection reset by peer"),
    );
    let report = upgrade_to_1_13_10(&client).await.unwrap();
    assert!(report.upgraded, "{report:?}");
    assert_eq!(report.to, "v1.13.10");
    let upgrades = calls(&server, "LifecycleService/Upgrade");
    assert_eq!(upgrades, 2, "{:?}", server.state.methods());
}

/// A node whose upgrade calls keep being cut off fails the upgrade after a few calls, naming
/// the upgrade, instead of calling forever.
#[tokio::test]
async fn an_upgrade_call_cut_off_every_time_fails_after_a_few_calls() {
    let (server, client) = configured_node().await;
    for _ in 0..5 {
        server.state.fail_next(
            "LifecycleService/Upgrade",
            tonic::Status::cancelled("connection reset by peer"),
        );
    }
    let err = upgrade_to_1_13_10(&client).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("upgrade of node 10.0.1.2 to v1.13.10"),
        "{err}"
    );
    let upgrades = calls(&server, "LifecycleService/Upgrade");
    assert_eq!(upgrades, 3, "{:?}", server.state.methods());
}

/// A graceful reset cut off while the leaving control plane is still an etcd member is made
/// again; the removal ends when the member is gone.
#[tokio::test]
async fn a_graceful_reset_cut_off_is_made_again_while_the_node_is_still_a_member() {
    use hk8s::talos::ops::{ControlPlane, RemovalPath, remove_control_plane};
    let (server, client) = configured_node().await;
    server.state.reset_removes(22);
    server.state.fail_next(
        "MachineService/Reset",
        tonic::Status::cancelled("connection reset by peer"),
    );
    let leaving = ControlPlane::new("cp-2", IpAddr::V4(Ipv4Addr::new(10, 0, 1, 3)));
    let staying = [ControlPlane::new("cp-1", NODE)];
    let budget = hk8s::deadline::Deadline::after(std::time::Duration::from_secs(60));
    let removal = remove_control_plane(&client, &leaving, &staying, &budget)
        .await
        .unwrap();
    assert_eq!(removal.path, RemovalPath::Left);
    assert_eq!(removal.member_id, Some(22));
    let resets = calls(&server, "MachineService/Reset");
    assert_eq!(resets, 2, "{:?}", server.state.methods());
}

/// `upgrade_node` of the mock's node to v1.13.10 (upstream installer), within a minute.
async fn upgrade_to_1_13_10(
    client: &hk8s::talos::apid::ApidClient,
) -> Result<hk8s::talos::ops::UpgradeReport, hk8s::talos::ops::Error> {
    let target: hk8s::talos::version::TalosVersion = "v1.13.10".parse().unwrap();
    let budget = hk8s::deadline::Deadline::after(std::time::Duration::from_secs(60));
    hk8s::talos::ops::upgrade_node(
        client,
        NODE,
        &target,
        "ghcr.io/siderolabs/installer:v1.13.10",
        None,
        &budget,
    )
    .await
}

/// How many calls of `method` the mock received.
fn calls(server: &Running, method: &str) -> usize {
    server
        .state
        .methods()
        .iter()
        .filter(|m| **m == method)
        .count()
}
