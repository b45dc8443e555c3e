//! The Hetzner Go CLI (`hcloud`, Debian package `hcloud-cli`, built on hcloud-go like the CCM,
//! CSI driver and cluster-autoscaler) driven against hk8s-sim as a user's CI would: what it prints
//! is what it would print against the real API, and what the sim does not model fails with a
//! message saying so. One sim per test, each with its own public IPv4 block (127.85–127.89).
//! Skipped loudly without `hcloud` (an error under `HK8S_REQUIRE_TOOLS=1` or `CI`).

use std::net::Ipv4Addr;
use std::process::Command;
use std::time::Duration;

use hk8s_sim::clock::Clock;
use hk8s_sim::testing::OpenApiGuard;
use hk8s_sim::{SimConfig, SimHandle, serve};
use serde_json::Value;

const TOKEN: &str = "cli-token";

fn tools_required() -> bool {
    std::env::var("HK8S_REQUIRE_TOOLS").is_ok_and(|v| v == "1") || std::env::var("CI").is_ok()
}

/// Whether the CLI is installed; panics under `make test`/CI when it is not.
fn have_cli() -> bool {
    let found = Command::new("hcloud")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        let msg = "hcloud (the Hetzner Go CLI) not found: run the tests through `make test` \
                   (tools/bootstrap.sh installs hcloud-cli)";
        assert!(!tools_required(), "{msg}");
        eprintln!("SKIPPED: {msg}");
    }
    found
}

/// A sim and the CLI pointed at it.
struct Cli {
    sim: SimHandle,
    /// Fails the test when a response did not match the OpenAPI description (dropped last).
    _openapi: OpenApiGuard,
}

/// What one CLI run printed.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Cli {
    async fn start(base: Ipv4Addr, clock: Clock) -> Option<Cli> {
        if !have_cli() {
            return None;
        }
        let mut config = SimConfig::new(TOKEN);
        config.public_ipv4_base = base;
        config.clock = clock;
        config.check_openapi = true;
        let sim = serve(config).await.expect("sim starts");
        let _openapi = OpenApiGuard::new(&sim);
        Some(Cli { sim, _openapi })
    }

    /// Runs `hcloud args…` off the runtime (the sim keeps serving meanwhile).
    async fn run(&self, args: &[&str]) -> Run {
        let endpoint = self.sim.endpoint();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        tokio::task::spawn_blocking(move || {
            let out = Command::new("hcloud")
                .args(&args)
                .env("HCLOUD_ENDPOINT", endpoint)
                .env("HCLOUD_TOKEN", TOKEN)
                .env("HCLOUD_CONFIG", "/nonexistent/hcloud-cli.toml")
                .env_remove("HCLOUD_CONTEXT")
                .output()
                .expect("hcloud runs");
            Run {
                ok: out.status.success(),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        })
        .await
        .expect("hcloud thread")
    }

    /// Runs a command that must succeed; its standard output.
    async fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert!(
            run.ok,
            "hcloud {args:?} failed:\n{}\n{}",
            run.stdout, run.stderr
        );
        run.stdout
    }

    /// Runs a command with `-o json` and parses what it prints.
    async fn json(&self, args: &[&str]) -> Value {
        let mut with_output = args.to_vec();
        with_output.extend(["-o", "json"]);
        let out = self.ok(&with_output).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("hcloud {args:?}: {e}\n{out}"))
    }

    /// Runs a command that must fail; its error output.
    async fn fails(&self, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert!(!run.ok, "hcloud {args:?} succeeded:\n{}", run.stdout);
        run.stderr
    }

    async fn stop(self) {
        self.sim.shutdown().await.expect("sim stops");
    }
}

/// The row of a table whose first column is `id`.
fn row<'a>(table: &'a str, id: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(id))
        .unwrap_or_else(|| panic!("no row {id} in\n{table}"))
}

#[tokio::test]
async fn a_server_with_a_network_is_listed_and_described_with_its_primary_ips() {
    let Some(cli) = Cli::start(Ipv4Addr::new(127, 85, 0, 1), Clock::real()).await else {
        return;
    };
    cli.ok(&[
        "network",
        "create",
        "--name",
        "ci",
        "--ip-range",
        "10.0.0.0/16",
    ])
    .await;
    cli.ok(&[
        "network",
        "add-subnet",
        "ci",
        "--type",
        "cloud",
        "--network-zone",
        "eu-central",
        "--ip-range",
        "10.0.1.0/24",
    ])
    .await;
    let created = cli
        .ok(&[
            "server",
            "create",
            "--name",
            "web-1",
            "--type",
            "cx23",
            "--image",
            "debian-12",
            "--location",
            "fsn1",
            "--network",
            "ci",
        ])
        .await;
    assert!(created.contains("IPv4: 127.85.0.1"), "{created}");
    assert!(created.contains("10.0.1.1 (ci)"), "{created}");

    let list = cli.ok(&["server", "list"]).await;
    let server = cli.json(&["server", "describe", "web-1"]).await;
    let id = server["id"].as_i64().unwrap().to_string();
    let line = row(&list, &id);
    for column in [
        "web-1",
        "running",
        "127.85.0.1",
        "10.0.1.1 (ci)",
        "fsn1-dc14",
    ] {
        assert!(line.contains(column), "{column} missing in {line}");
    }
    assert_eq!(server["server_type"]["disk"], 40);
    let text = cli.ok(&["server", "describe", "web-1"]).await;
    assert!(text.contains("Disk:\t\t40 GB"), "{text}");
    assert!(
        text.contains("DNS:\tstatic.1.0.85.127.clients.your-server.de"),
        "{text}"
    );

    // public_net ids are primary IPs that exist and say whose they are.
    let ipv4 = server["public_net"]["ipv4"]["id"].as_i64().unwrap();
    let ipv6 = server["public_net"]["ipv6"]["id"].as_i64().unwrap();
    let primary = cli
        .json(&["primary-ip", "describe", &ipv4.to_string()])
        .await;
    assert_eq!(primary["ip"], "127.85.0.1");
    assert_eq!(primary["type"], "ipv4");
    assert_eq!(primary["assignee_id"].as_i64(), server["id"].as_i64());
    assert_eq!(primary["auto_delete"], true);
    let table = cli.ok(&["primary-ip", "list"]).await;
    assert!(row(&table, &ipv4.to_string()).contains("Server web-1"));
    assert!(row(&table, &ipv6.to_string()).contains("ipv6"));

    // Deleting the server takes its auto-delete primary IPs with it.
    cli.ok(&["server", "delete", "web-1"]).await;
    let after = cli.ok(&["primary-ip", "list"]).await;
    assert_eq!(
        after.lines().count(),
        1,
        "only the header expected:\n{after}"
    );
    cli.stop().await;
}

#[tokio::test]
async fn the_catalog_reads_as_the_real_one() {
    let Some(cli) = Cli::start(Ipv4Addr::new(127, 85, 1, 1), Clock::real()).await else {
        return;
    };
    let types = cli.ok(&["server-type", "list"]).await;
    let cx23 = types.lines().find(|l| l.contains(" cx23 ")).unwrap();
    for column in ["2", "shared", "4.0 GB", "40 GB", "local"] {
        assert!(cx23.contains(column), "{column} missing in {cx23}");
    }
    let described = cli.ok(&["server-type", "describe", "cax21"]).await;
    assert!(described.contains("Cores:\t\t4"), "{described}");
    assert!(described.contains("Disk:\t\t80 GB"), "{described}");
    let locations = cli.ok(&["location", "list"]).await;
    assert!(locations.contains("fsn1") && locations.contains("eu-central"));
    let datacenters = cli.ok(&["datacenter", "list"]).await;
    assert!(datacenters.contains("fsn1-dc14"), "{datacenters}");
    let isos = cli.ok(&["iso", "list"]).await;
    assert!(isos.contains("virtio-win-0.1.262.iso"), "{isos}");
    cli.stop().await;
}

#[tokio::test]
async fn a_placement_group_holding_servers_is_refused_at_once_not_retried() {
    let Some(cli) = Cli::start(Ipv4Addr::new(127, 86, 0, 1), Clock::real()).await else {
        return;
    };
    cli.ok(&[
        "placement-group",
        "create",
        "--name",
        "spread",
        "--type",
        "spread",
    ])
    .await;
    cli.ok(&[
        "server",
        "create",
        "--name",
        "db-1",
        "--type",
        "cx23",
        "--image",
        "debian-12",
        "--placement-group",
        "spread",
    ])
    .await;
    // hcloud-go retries `conflict` for minutes; the refusal must come back as a final error.
    let error = cli.fails(&["placement-group", "delete", "spread"]).await;
    assert!(error.contains("resource_in_use"), "{error}");
    cli.ok(&["server", "delete", "db-1"]).await;
    cli.ok(&["placement-group", "delete", "spread"]).await;
    cli.stop().await;
}

#[tokio::test]
async fn unknown_resources_and_unmodelled_families_fail_with_clear_messages() {
    let Some(cli) = Cli::start(Ipv4Addr::new(127, 86, 1, 1), Clock::real()).await else {
        return;
    };
    let missing = cli.fails(&["server", "describe", "nope"]).await;
    assert!(missing.contains("server not found: nope"), "{missing}");
    let missing = cli.fails(&["primary-ip", "describe", "424242"]).await;
    assert!(missing.contains("Primary IP not found"), "{missing}");
    let refused = cli
        .fails(&[
            "certificate",
            "create",
            "--name",
            "managed",
            "--type",
            "managed",
            "--domain",
            "example.com",
        ])
        .await;
    assert!(refused.contains("not modelled by hk8s-sim"), "{refused}");
    assert!(refused.contains("(not_found)"), "{refused}");
    cli.stop().await;
}

#[tokio::test]
async fn a_primary_ip_moves_between_powered_off_servers_with_its_reverse_dns() {
    let Some(cli) = Cli::start(Ipv4Addr::new(127, 87, 0, 1), Clock::real()).await else {
        return;
    };
    for name in ["a", "b"] {
        cli.ok(&[
            "server",
            "create",
            "--name",
            name,
            "--type",
            "cx23",
            "--image",
            "debian-12",
            "--location",
            "fsn1",
        ])
        .await;
    }
    let a = cli.json(&["server", "describe", "a"]).await;
    let ip_id = a["public_net"]["ipv4"]["id"].as_i64().unwrap().to_string();
    cli.ok(&[
        "server",
        "set-rdns",
        "a",
        "--ip",
        "127.87.0.1",
        "--hostname",
        "a.example.com",
    ])
    .await;
    cli.ok(&["primary-ip", "update", &ip_id, "--auto-delete=false"])
        .await;

    let running = cli.fails(&["primary-ip", "unassign", &ip_id]).await;
    assert!(running.contains("server_not_stopped"), "{running}");
    cli.ok(&["server", "poweroff", "a"]).await;
    cli.ok(&["server", "poweroff", "b"]).await;
    cli.ok(&["primary-ip", "unassign", &ip_id]).await;
    let has_one = cli
        .fails(&["primary-ip", "assign", &ip_id, "--server", "b"])
        .await;
    assert!(has_one.contains("server_has_ipv4"), "{has_one}");
    let b = cli.json(&["server", "describe", "b"]).await;
    let b_ip = b["public_net"]["ipv4"]["id"].as_i64().unwrap().to_string();
    cli.ok(&["primary-ip", "unassign", &b_ip]).await;
    cli.ok(&["primary-ip", "assign", &ip_id, "--server", "b"])
        .await;

    let b = cli.ok(&["server", "describe", "b"]).await;
    assert!(b.contains("IP:\t\t127.87.0.1"), "{b}");
    assert!(b.contains("DNS:\ta.example.com"), "{b}");
    let a = cli.ok(&["server", "describe", "a"]).await;
    assert!(a.contains("No Primary IPv4"), "{a}");

    cli.ok(&["primary-ip", "enable-protection", &ip_id]).await;
    let protected = cli.fails(&["primary-ip", "delete", &ip_id]).await;
    assert!(protected.contains("(protected)"), "{protected}");
    cli.ok(&["primary-ip", "disable-protection", &ip_id]).await;
    // Deleting b keeps the moved primary IP: its auto-delete is off.
    cli.ok(&["server", "delete", "b"]).await;
    let kept = cli.json(&["primary-ip", "describe", &ip_id]).await;
    assert_eq!(kept["assignee_id"], Value::Null);
    assert_eq!(kept["ip"], "127.87.0.1");
    cli.ok(&["primary-ip", "delete", &ip_id]).await;
    cli.stop().await;
}

#[tokio::test]
async fn a_floating_ip_moves_within_its_network_zone_and_outlives_its_server() {
    let Some(cli) = Cli::start(Ipv4Addr::new(127, 88, 1, 1), Clock::real()).await else {
        return;
    };
    cli.ok(&[
        "server",
        "create",
        "--name",
        "edge",
        "--type",
        "cx23",
        "--image",
        "debian-12",
        "--location",
        "fsn1",
    ])
    .await;
    cli.ok(&[
        "floating-ip",
        "create",
        "--type",
        "ipv4",
        "--home-location",
        "nbg1",
        "--name",
        "vip",
    ])
    .await;
    let vip = cli.json(&["floating-ip", "describe", "vip"]).await;
    let address = vip["ip"].as_str().unwrap().to_string();
    cli.ok(&["floating-ip", "assign", "vip", "edge"]).await;
    cli.ok(&[
        "floating-ip",
        "set-rdns",
        "vip",
        "--ip",
        &address,
        "--hostname",
        "vip.example.com",
    ])
    .await;
    let table = cli.ok(&["floating-ip", "list"]).await;
    let line = row(&table, &vip["id"].as_i64().unwrap().to_string());
    for column in ["vip", "nbg1", "edge", "vip.example.com"] {
        assert!(line.contains(column), "{column} missing in {line}");
    }
    let server = cli.json(&["server", "describe", "edge"]).await;
    assert_eq!(server["public_net"]["floating_ips"][0], vip["id"]);

    // Another network zone cannot take it.
    cli.ok(&[
        "floating-ip",
        "create",
        "--type",
        "ipv4",
        "--home-location",
        "ash",
        "--name",
        "far",
    ])
    .await;
    let far = cli.fails(&["floating-ip", "assign", "far", "edge"]).await;
    assert!(far.contains("invalid input in field 'server'"), "{far}");

    cli.ok(&["server", "delete", "edge"]).await;
    let kept = cli.json(&["floating-ip", "describe", "vip"]).await;
    assert_eq!(kept["server"], Value::Null);
    cli.ok(&["floating-ip", "enable-protection", "vip", "delete"])
        .await;
    let protected = cli.fails(&["floating-ip", "delete", "vip"]).await;
    assert!(protected.contains("(protected)"), "{protected}");
    cli.stop().await;
}

#[tokio::test]
async fn an_uploaded_certificate_serves_an_https_service_and_stays_while_used() {
    let Some(cli) = Cli::start(Ipv4Addr::new(127, 88, 2, 1), Clock::real()).await else {
        return;
    };
    let generated = rcgen::generate_simple_self_signed(vec!["shop.example.com".to_string()])
        .expect("self-signed certificate");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
    let other = rcgen::KeyPair::generate().unwrap();
    let wrong_key = dir.path().join("wrong.pem");
    std::fs::write(&wrong_key, other.serialize_pem()).unwrap();
    let (cert, key, wrong_key) = (
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
        wrong_key.to_str().unwrap(),
    );

    let mismatch = cli
        .fails(&[
            "certificate",
            "create",
            "--name",
            "shop",
            "--cert-file",
            cert,
            "--key-file",
            wrong_key,
        ])
        .await;
    assert!(mismatch.contains("private_key"), "{mismatch}");
    cli.ok(&[
        "certificate",
        "create",
        "--name",
        "shop",
        "--cert-file",
        cert,
        "--key-file",
        key,
    ])
    .await;
    let shop = cli.json(&["certificate", "describe", "shop"]).await;
    assert_eq!(shop["domain_names"][0], "shop.example.com");
    assert_eq!(shop["type"], "uploaded");
    let id = shop["id"].as_i64().unwrap().to_string();

    cli.ok(&[
        "load-balancer",
        "create",
        "--name",
        "lb",
        "--type",
        "lb11",
        "--location",
        "fsn1",
    ])
    .await;
    let unknown = cli
        .fails(&[
            "load-balancer",
            "add-service",
            "lb",
            "--protocol",
            "https",
            "--http-certificates",
            "424242",
        ])
        .await;
    assert!(
        unknown.contains("certificate with ID '424242' not found"),
        "{unknown}"
    );
    cli.ok(&[
        "load-balancer",
        "add-service",
        "lb",
        "--protocol",
        "https",
        "--http-certificates",
        &id,
    ])
    .await;
    let used = cli.json(&["certificate", "describe", "shop"]).await;
    assert_eq!(used["used_by"][0]["type"], "load_balancer");
    let in_use = cli.fails(&["certificate", "delete", "shop"]).await;
    assert!(in_use.contains("resource_in_use"), "{in_use}");
    let lb = cli.json(&["load-balancer", "describe", "lb"]).await;
    let created = lb["created"].as_str().unwrap().replace("+00:00", "Z");
    let metrics = cli
        .json(&[
            "load-balancer",
            "metrics",
            "lb",
            "--type",
            "bandwidth",
            "--start",
            &created,
            "--end",
            "2099-01-01T00:00:00Z",
        ])
        .await;
    let text = metrics.to_string();
    assert!(
        text.contains("bandwidth.in") && text.contains("bandwidth.out"),
        "{text}"
    );
    let bad = cli
        .fails(&[
            "load-balancer",
            "metrics",
            "lb",
            "--type",
            "cpu",
            "--start",
            &created,
            "--end",
            "2099-01-01T00:00:00Z",
        ])
        .await;
    assert!(bad.contains("invalid input in field 'type'"), "{bad}");
    cli.ok(&["load-balancer", "delete", "lb"]).await;
    cli.ok(&["certificate", "delete", "shop"]).await;
    cli.stop().await;
}

#[tokio::test]
async fn change_type_cannot_shrink_a_disk() {
    let Some(cli) = Cli::start(Ipv4Addr::new(127, 88, 0, 1), Clock::real()).await else {
        return;
    };
    cli.ok(&[
        "server",
        "create",
        "--name",
        "big",
        "--type",
        "cx33",
        "--image",
        "debian-12",
    ])
    .await;
    cli.ok(&["server", "poweroff", "big"]).await;
    let refused = cli
        .fails(&["server", "change-type", "big", "cx23", "--keep-disk"])
        .await;
    assert!(refused.contains("invalid_server_type"), "{refused}");
    let still = cli.json(&["server", "describe", "big"]).await;
    assert_eq!(still["server_type"]["name"], "cx33");
    assert_eq!(still["primary_disk_size"], 80);
    // Up with the disk kept small, then back down again: the disk never grew, so that fits.
    cli.ok(&["server", "change-type", "big", "cx43", "--keep-disk"])
        .await;
    cli.ok(&["server", "change-type", "big", "cx33", "--keep-disk"])
        .await;
    cli.stop().await;
}

#[tokio::test]
async fn isos_backups_and_metrics_of_a_server() {
    let clock = Clock::manual();
    let Some(cli) = Cli::start(Ipv4Addr::new(127, 89, 0, 1), clock.clone()).await else {
        return;
    };
    cli.ok(&[
        "server",
        "create",
        "--name",
        "m",
        "--type",
        "cx23",
        "--image",
        "debian-12",
    ])
    .await;
    let arm_iso = cli
        .fails(&[
            "server",
            "attach-iso",
            "m",
            "FreeBSD-14.2-RELEASE-arm64-aarch64-disc1.iso",
        ])
        .await;
    assert!(arm_iso.contains("incompatible architecture"), "{arm_iso}");
    cli.ok(&["server", "attach-iso", "m", "virtio-win-0.1.262.iso"])
        .await;
    cli.ok(&["server", "enable-backup", "m"]).await;
    let described = cli.json(&["server", "describe", "m"]).await;
    assert_eq!(described["iso"]["name"], "virtio-win-0.1.262.iso");
    assert_eq!(described["backup_window"], "22-02");
    cli.ok(&["server", "detach-iso", "m"]).await;
    cli.ok(&["server", "disable-backup", "m"]).await;
    let described = cli.json(&["server", "describe", "m"]).await;
    assert_eq!(described["iso"], Value::Null);
    assert_eq!(described["backup_window"], Value::Null);

    // An hour of a running server: samples from its creation on, none in the future.
    let created = described["created"].as_str().unwrap().to_string();
    clock.advance(Duration::from_secs(3600));
    let start = created.replace("+00:00", "Z");
    let far_end = "2099-01-01T00:00:00Z";
    let metrics = cli
        .json(&[
            "server", "metrics", "m", "--type", "cpu", "--start", &start, "--end", far_end,
        ])
        .await;
    let values = metrics["time_series"]["cpu"]["values"]
        .as_array()
        .cloned()
        .or_else(|| {
            metrics["metrics"]["time_series"]["cpu"]["values"]
                .as_array()
                .cloned()
        })
        .unwrap_or_else(|| panic!("no cpu series in {metrics}"));
    assert!(
        !values.is_empty() && values.len() <= 500,
        "{}",
        values.len()
    );
    for sample in &values {
        let percent: f64 = sample[1].as_str().unwrap().parse().unwrap();
        assert!((0.0..=200.0).contains(&percent), "{sample}");
    }
    let bad = cli
        .fails(&[
            "server", "metrics", "m", "--type", "ram", "--start", &start, "--end", far_end,
        ])
        .await;
    assert!(bad.contains("invalid input in field 'type'"), "{bad}");
    cli.stop().await;
}

/// The official Python client (in `$HK8S_VENV`) where the CLI has no command: listing actions
/// without ids is gone from the real API, and primary IPs parse into its models.
#[tokio::test]
async fn the_python_client_sees_the_removed_actions_list_and_primary_ips() {
    let Some(cli) = Cli::start(Ipv4Addr::new(127, 89, 1, 1), Clock::real()).await else {
        return;
    };
    let Some(venv) = std::env::var_os("HK8S_VENV") else {
        assert!(
            !tools_required(),
            "HK8S_REQUIRE_TOOLS=1 but HK8S_VENV is not set"
        );
        eprintln!("SKIPPED the Python hcloud check: HK8S_VENV is not set");
        cli.stop().await;
        return;
    };
    cli.ok(&[
        "server",
        "create",
        "--name",
        "py",
        "--type",
        "cx23",
        "--image",
        "debian-12",
    ])
    .await;
    let script = r#"
import sys
from hcloud import APIException, Client
client = Client(token=sys.argv[2], api_endpoint=sys.argv[1])
try:
    client.actions.get_all()
    print("listed")
except APIException as e:
    print(e.code)
ips = client.primary_ips.get_all()
server = client.servers.get_by_name("py")
print(sorted(ip.type for ip in ips if ip.assignee_id == server.id))
print(server.public_net.primary_ipv4.id == [ip.id for ip in ips if ip.type == "ipv4"][0])
"#;
    let python = std::path::Path::new(&venv).join("bin/python");
    let endpoint = cli.sim.endpoint();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .args(["-c", script, &endpoint, TOKEN])
            .output()
            .expect("python runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        ["deprecated_api_endpoint", "['ipv4', 'ipv6']", "True"]
    );
    cli.stop().await;
}
