//! The built provider binary speaks go-plugin the way Terraform expects: refuses to run by hand,
//! negotiates protocol 6, serves gRPC over a Unix socket with automatic mTLS (Terraform's P-521
//! CA:TRUE client certificate), shuts down on `GRPCController.Shutdown`, and prints reattach
//! information in debug mode.

include!("support/plugin_client.rs");

// ---- tests ----

#[test]
fn refuses_to_run_without_terraform() {
    let output = Command::new(BINARY)
        .env_remove("TF_PLUGIN_MAGIC_COOKIE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Terraform provider plugin"), "{stderr}");
    assert!(stderr.contains("dev_overrides"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn refuses_protocol_5_only() {
    let output = Command::new(BINARY)
        .env(COOKIE.0, COOKIE.1)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("speaks only version 6"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_over_mtls_with_a_terraform_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (pem, cert, key) = terraform_like_client_cert();
    let mut provider = Provider::start(
        &[],
        &[
            COOKIE,
            ("PLUGIN_PROTOCOL_VERSIONS", "5,6"),
            ("PLUGIN_CLIENT_CERT", &pem),
            ("PLUGIN_UNIX_SOCKET_DIR", dir.path().to_str().unwrap()),
        ],
    );
    let handshake = parse_handshake(&provider.next_line());
    assert!(
        handshake.socket.starts_with(dir.path()),
        "socket in PLUGIN_UNIX_SOCKET_DIR"
    );
    let server_cert = handshake
        .server_cert
        .expect("a server certificate in the handshake");

    let channel = channel(&handshake.socket, Some(client_tls(&server_cert, cert, key)))
        .await
        .unwrap();
    assert_token_sensitive(&provider_schema(channel.clone()).await.unwrap());

    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let status = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "plugin".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    shutdown_and_expect_exit(&mut provider, channel, &handshake.socket).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn rejects_a_different_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (pem, _, _) = terraform_like_client_cert();
    let (_, other_cert, other_key) = terraform_like_client_cert();
    let provider = Provider::start(
        &[],
        &[
            COOKIE,
            ("PLUGIN_PROTOCOL_VERSIONS", "6"),
            ("PLUGIN_CLIENT_CERT", &pem),
            ("PLUGIN_UNIX_SOCKET_DIR", dir.path().to_str().unwrap()),
        ],
    );
    let handshake = parse_handshake(&provider.next_line());
    let server_cert = handshake.server_cert.unwrap();
    let tls = client_tls(&server_cert, other_cert, other_key);
    // With TLS 1.3 the server's verdict on the client certificate arrives after the client's
    // handshake completes, so the failure may show at connect or at the first call.
    let result = match channel(&handshake.socket, Some(tls)).await {
        Err(_) => Err(()),
        Ok(channel) => provider_schema(channel).await.map(|_| ()).map_err(|_| ()),
    };
    assert!(
        result.is_err(),
        "a client with another certificate must not get an answer"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serves_plaintext_without_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let mut provider = Provider::start(
        &[],
        &[
            COOKIE,
            ("PLUGIN_UNIX_SOCKET_DIR", dir.path().to_str().unwrap()),
        ],
    );
    let line = provider.next_line();
    let handshake = parse_handshake(&line);
    assert!(
        handshake.server_cert.is_none(),
        "no certificate when serving plaintext: {line}"
    );
    let channel = channel(&handshake.socket, None).await.unwrap();
    assert_token_sensitive(&provider_schema(channel.clone()).await.unwrap());
    shutdown_and_expect_exit(&mut provider, channel, &handshake.socket).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn debug_mode_prints_reattach_information() {
    let provider = Provider::start(&["--debug"], &[]);
    let line = loop {
        let line = provider.next_line();
        if let Some(rest) = line.trim().strip_prefix("TF_REATTACH_PROVIDERS=") {
            break rest.trim_matches('\'').to_owned();
        }
    };
    let json: serde_json::Value = serde_json::from_str(&line).expect("reattach JSON");
    let entry = &json["registry.terraform.io/hk8s/hk8s"];
    assert_eq!(entry["Protocol"], "grpc");
    assert_eq!(entry["ProtocolVersion"], 6);
    assert_eq!(entry["Pid"], provider.child.id());
    assert_eq!(entry["Test"], true);
    assert_eq!(entry["Addr"]["Network"], "unix");
    let socket = PathBuf::from(entry["Addr"]["String"].as_str().unwrap());
    // The debug server is plaintext and answers.
    let channel = channel(&socket, None).await.unwrap();
    assert_token_sensitive(&provider_schema(channel).await.unwrap());
}

fn send_sigint(provider: &Provider) {
    let status = Command::new("kill")
        .args(["-INT", &provider.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn ignores_sigint_when_run_by_terraform() {
    let dir = tempfile::tempdir().unwrap();
    let mut provider = Provider::start(
        &[],
        &[
            COOKIE,
            ("PLUGIN_UNIX_SOCKET_DIR", dir.path().to_str().unwrap()),
        ],
    );
    let handshake = parse_handshake(&provider.next_line());
    // Terraform forwards Ctrl-C as StopProvider; the signal itself must not end the process.
    send_sigint(&provider);
    let channel = channel(&handshake.socket, None).await.unwrap();
    assert_token_sensitive(&provider_schema(channel.clone()).await.unwrap());
    // A process ended by SIGINT has no exit code, so this also proves the signal was ignored.
    shutdown_and_expect_exit(&mut provider, channel, &handshake.socket).await;
}

#[test]
fn debug_mode_stops_on_ctrl_c() {
    let mut provider = Provider::start(&["--debug"], &[]);
    let socket = loop {
        let line = provider.next_line();
        if let Some(rest) = line.trim().strip_prefix("TF_REATTACH_PROVIDERS=") {
            let json: serde_json::Value = serde_json::from_str(rest.trim_matches('\'')).unwrap();
            break PathBuf::from(
                json["registry.terraform.io/hk8s/hk8s"]["Addr"]["String"]
                    .as_str()
                    .unwrap(),
            );
        }
    };
    assert!(socket.exists());
    send_sigint(&provider);
    assert_eq!(provider.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(!socket.exists(), "socket removed");
}

#[test]
fn version_and_help() {
    let output = Command::new(BINARY).arg("--version").output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("terraform-provider-hk8s "));
    let output = Command::new(BINARY).arg("--help").output().unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("--debug"));
    let output = Command::new(BINARY).arg("--bogus").output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let mut stderr = String::new();
    output
        .stderr
        .as_slice()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(stderr.contains("--bogus"));
}
