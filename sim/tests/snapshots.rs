//! Building Talos snapshots the way the provider does, by hand through the Hetzner API, the
//! Image Factory stand-in and the rescue system's SSH server: what boots is what was written to
//! the disk (never the labels), pipelines fail as bash's do, and the faults of the path.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use hk8s_sim::catalog::DEFAULT_TALOS_SCHEMATIC;
use hk8s_sim::testing::TestSim;
use russh::ChannelMsg;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};
use serde_json::{Value, json};

struct Trusting;

impl russh::client::Handler for Trusting {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

fn new_key() -> PrivateKey {
    let seed: [u8; 32] = rand::random();
    PrivateKey::from(russh::keys::ssh_key::private::Ed25519Keypair::from_seed(
        &seed,
    ))
}

fn openssh(key: &PrivateKey) -> String {
    key.public_key()
        .to_openssh()
        .expect("an OpenSSH public key")
}

/// What one `exec` gave: exit status (none when the connection closed without one), stdout,
/// stderr.
#[derive(Debug)]
struct Exec {
    status: Option<u32>,
    stdout: String,
    stderr: String,
}

enum Login<'a> {
    Key(&'a PrivateKey),
    Password(&'a str),
}

async fn session(
    ip: Ipv4Addr,
    login: Login<'_>,
) -> Result<russh::client::Handle<Trusting>, String> {
    let config = Arc::new(russh::client::Config::default());
    let mut handle = russh::client::connect(config, (ip, 22), Trusting)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let auth = match login {
        Login::Key(k) => {
            handle
                .authenticate_publickey(
                    "root",
                    PrivateKeyWithHashAlg::new(Arc::new(k.clone()), None),
                )
                .await
        }
        Login::Password(p) => handle.authenticate_password("root", p).await,
    }
    .map_err(|e| format!("auth: {e}"))?;
    if !auth.success() {
        return Err("authentication refused".into());
    }
    Ok(handle)
}

async fn exec(ip: Ipv4Addr, key: &PrivateKey, command: &str) -> Exec {
    let handle = session(ip, Login::Key(key))
        .await
        .expect("root logs in with the rescue key");
    let mut channel = handle
        .channel_open_session()
        .await
        .expect("a session channel");
    channel.exec(true, command).await.expect("exec");
    let mut out = Exec {
        status: None,
        stdout: String::new(),
        stderr: String::new(),
    };
    while let Some(msg) = channel.wait().await {
        match msg {
            ChannelMsg::Data { data } => out.stdout.push_str(&String::from_utf8_lossy(&data)),
            ChannelMsg::ExtendedData { data, .. } => {
                out.stderr.push_str(&String::from_utf8_lossy(&data));
            }
            ChannelMsg::ExitStatus { exit_status } => out.status = Some(exit_status),
            ChannelMsg::Close => break,
            _ => {}
        }
    }
    out
}

/// A server of `server_type` from ubuntu-24.04, created off, booted into the rescue system with
/// `key`; its id, address and root password once SSH answers.
async fn rescue_server(
    sim: &TestSim,
    name: &str,
    server_type: &str,
    key: &PrivateKey,
) -> (i64, Ipv4Addr, String) {
    let ssh_key = sim
        .hcloud(
            "POST",
            "/ssh_keys",
            Some(json!({"name": format!("{name}-key"), "public_key": openssh(key)})),
        )
        .await;
    let server = sim
        .hcloud(
            "POST",
            "/servers",
            Some(
                json!({"name": name, "server_type": server_type, "image": "ubuntu-24.04",
                        "location": "fsn1", "start_after_create": false}),
            ),
        )
        .await;
    let id = server["server"]["id"].as_i64().expect("a server id");
    let ip: Ipv4Addr = server["server"]["public_net"]["ipv4"]["ip"]
        .as_str()
        .and_then(|ip| ip.parse().ok())
        .expect("a public IPv4");
    wait_status(sim, id, "off").await;
    let rescue = sim
        .hcloud(
            "POST",
            &format!("/servers/{id}/actions/enable_rescue"),
            Some(json!({"type": "linux64", "ssh_keys": [ssh_key["ssh_key"]["id"]]})),
        )
        .await;
    let password = rescue["root_password"]
        .as_str()
        .expect("a root password")
        .to_string();
    sim.hcloud("POST", &format!("/servers/{id}/actions/poweron"), None)
        .await;
    wait_status(sim, id, "running").await;
    sim.eventually("the rescue SSH server", || async {
        tokio::net::TcpStream::connect((ip, 22))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    let server = sim.hcloud("GET", &format!("/servers/{id}"), None).await;
    assert_eq!(
        server["server"]["rescue_enabled"], false,
        "booting into rescue consumes it"
    );
    (id, ip, password)
}

async fn wait_status(sim: &TestSim, id: i64, status: &str) {
    sim.eventually(&format!("server {id} {status}"), || async {
        let s = sim.hcloud("GET", &format!("/servers/{id}"), None).await;
        (s["server"]["status"] == status).then_some(())
    })
    .await;
}

fn write_command(
    sim: &TestSim,
    schematic: &str,
    version: &str,
    arch: &str,
    pipefail: bool,
) -> String {
    format!(
        "{}wget -q --timeout=5 --tries=3 -O - '{}/image/{schematic}/{version}/hcloud-{arch}.raw.xz' | xz -cd | dd of=/dev/sda bs=4M status=none && sync",
        if pipefail { "set -euo pipefail; " } else { "" },
        sim.handle.image_factory_url()
    )
}

/// Powers the rescue system off from inside and snapshots the disk with `labels`; the image id.
async fn snapshot(sim: &TestSim, id: i64, ip: Ipv4Addr, key: &PrivateKey, labels: Value) -> i64 {
    let down = exec(ip, key, "shutdown now").await;
    assert_eq!(
        down.status, None,
        "shutdown ends the session without an exit status"
    );
    wait_status(sim, id, "off").await;
    let reply = sim
        .hcloud(
            "POST",
            &format!("/servers/{id}/actions/create_image"),
            Some(json!({"type": "snapshot", "description": "talos", "labels": labels})),
        )
        .await;
    let image = reply["image"]["id"].as_i64().expect("an image id");
    sim.eventually("the snapshot", || async {
        let i = sim.hcloud("GET", &format!("/images/{image}"), None).await;
        (i["image"]["status"] == "available").then_some(())
    })
    .await;
    image
}

async fn boot(sim: &TestSim, name: &str, image: i64, server_type: &str) -> i64 {
    let server = sim
        .hcloud(
            "POST",
            "/servers",
            Some(json!({"name": name, "server_type": server_type, "image": image, "location": "fsn1"})),
        )
        .await;
    let id = server["server"]["id"].as_i64().expect("a server id");
    wait_status(sim, id, "running").await;
    id
}

async fn node(sim: &TestSim, server: i64) -> Option<Value> {
    sim.state().await["talos_nodes"]
        .as_array()?
        .iter()
        .find(|n| n["server_id"] == server)
        .cloned()
}

async fn maintenance_node(sim: &TestSim, server: i64) -> Value {
    sim.eventually("a Talos node in maintenance mode", || async {
        node(sim, server)
            .await
            .filter(|n| n["mode"] == "maintenance")
    })
    .await
}

/// A server whose disk holds no Talos for its architecture never gets a node (several passes of
/// the sim's loop after it runs).
async fn assert_no_node(sim: &TestSim, server: i64) {
    for _ in 0..10 {
        sim.hcloud("GET", "/servers", None).await;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(
        node(sim, server).await,
        None,
        "nothing boots from that disk"
    );
}

#[tokio::test]
async fn a_snapshot_boots_what_was_written_whatever_its_labels_say() {
    let sim = TestSim::start(70, &[], |_| {}).await;
    let snapshots = sim.hcloud("GET", "/images?type=snapshot", None).await;
    assert_eq!(
        snapshots["images"],
        json!([]),
        "no --talos-snapshots: no Talos snapshot at all"
    );
    let key = new_key();
    let (id, ip, _) = rescue_server(&sim, "build-amd64", "cx23", &key).await;
    let wrote = exec(
        ip,
        &key,
        &write_command(&sim, DEFAULT_TALOS_SCHEMATIC, "v1.13.9", "amd64", true),
    )
    .await;
    assert_eq!((wrote.status, wrote.stderr.as_str()), (Some(0), ""));
    let image = snapshot(
        &sim,
        id,
        ip,
        &key,
        json!({"hk8s.io/talos-version": "v1.14.0"}),
    )
    .await;
    let server = boot(&sim, "node-1", image, "cx23").await;
    let node = maintenance_node(&sim, server).await;
    assert_eq!(
        node["version"], "v1.13.9",
        "the label said v1.14.0, the disk holds v1.13.9"
    );
    assert_eq!(node["schematic"], DEFAULT_TALOS_SCHEMATIC);
    assert_eq!(sim.stats().await["factory_downloads"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn openssh_logs_in_with_the_key_and_a_wrong_key_is_refused() {
    let sim = TestSim::start(71, &[], |c| c.faults = "seed=1".parse().unwrap()).await;
    let key = new_key();
    let (_, ip, password) = rescue_server(&sim, "build-arm", "cax11", &key).await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("id_ed25519");
    let pem = key
        .to_openssh(russh::keys::ssh_key::LineEnding::LF)
        .expect("an OpenSSH private key");
    std::fs::write(&path, pem.as_bytes()).expect("key written");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("mode");
    let ssh = |cmd: &str| {
        std::process::Command::new("ssh")
            .args([
                "-i",
                path.to_str().unwrap_or_default(),
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "LogLevel=ERROR",
            ])
            .arg(format!("root@{ip}"))
            .arg(cmd)
            .output()
            .expect("ssh runs")
    };
    let uname = tokio::task::block_in_place(|| ssh("uname -m"));
    assert_eq!(
        (
            uname.status.code(),
            String::from_utf8_lossy(&uname.stdout).as_ref()
        ),
        (Some(0), "aarch64\n")
    );
    let unknown = tokio::task::block_in_place(|| ssh("fdisk -l /dev/sda"));
    assert_eq!(unknown.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("fdisk: command not found"));
    let other = new_key();
    assert_eq!(
        session(ip, Login::Key(&other)).await.err().as_deref(),
        Some("authentication refused")
    );
    assert_eq!(
        session(ip, Login::Password("wrong")).await.err().as_deref(),
        Some("authentication refused")
    );
    assert!(
        session(ip, Login::Password(&password)).await.is_ok(),
        "the root password logs in"
    );
    let vda = exec(ip, &key, "dd of=/dev/vda bs=4M").await;
    assert_eq!(vda.status, Some(1));
    assert_eq!(
        vda.stderr,
        "dd: failed to open '/dev/vda': No such file or directory\n"
    );
}

#[tokio::test]
async fn without_pipefail_a_failed_download_leaves_an_empty_disk_that_boots_nothing() {
    let sim = TestSim::start(72, &[], |_| {}).await;
    let key = new_key();
    let (id, ip, _) = rescue_server(&sim, "build-trap", "cx23", &key).await;
    // v1.99.9 is no version the factory serves: wget fails, xz reads nothing, dd writes nothing.
    let failing = format!(
        "blkdiscard -f /dev/sda && {}",
        write_command(&sim, DEFAULT_TALOS_SCHEMATIC, "v1.99.9", "amd64", false)
    );
    let trap = exec(ip, &key, &failing).await;
    assert_eq!(
        trap.status,
        Some(0),
        "without pipefail the pipeline is dd's: {trap:?}"
    );
    assert_eq!(trap.stderr, "xz: (stdin): File format not recognized\n");
    let strict = exec(
        ip,
        &key,
        &write_command(&sim, DEFAULT_TALOS_SCHEMATIC, "v1.99.9", "amd64", true),
    )
    .await;
    // pipefail: the rightmost failure, xz's (wget's own is 8: see the fault test).
    assert_eq!(
        strict.status,
        Some(1),
        "with pipefail the pipeline fails: {strict:?}"
    );
    let image = snapshot(
        &sim,
        id,
        ip,
        &key,
        json!({"hk8s.io/talos-version": "v1.99.9"}),
    )
    .await;
    let server = boot(&sim, "node-empty", image, "cx23").await;
    assert_no_node(&sim, server).await;
}

#[tokio::test]
async fn an_arm64_image_on_an_x86_server_boots_nothing_and_a_custom_schematic_boots_its_own() {
    let sim = TestSim::start(73, &[], |_| {}).await;
    let http = reqwest::Client::new();
    let posted: Value = http
        .post(format!("{}/schematics", sim.handle.image_factory_url()))
        .body("customization:\n  systemExtensions:\n    officialExtensions:\n      - siderolabs/iscsi-tools\n      - siderolabs/util-linux-tools\n")
        .send()
        .await
        .expect("POST /schematics")
        .json()
        .await
        .expect("JSON");
    let schematic = posted["id"].as_str().expect("an id").to_string();
    assert_eq!(
        schematic,
        "613e1592b2da41ae5e265e8789429f22e121aab91cb4deb6bc3c0b6262961245"
    );
    let unknown = http
        .post(format!("{}/schematics", sim.handle.image_factory_url()))
        .body("customization: {systemExtension: {}}")
        .send()
        .await
        .expect("POST /schematics");
    assert_eq!(unknown.status(), 400);
    let key = new_key();
    let (id, ip, _) = rescue_server(&sim, "build-custom", "cx23", &key).await;
    let wrote = exec(
        ip,
        &key,
        &write_command(&sim, &schematic, "v1.13.9", "arm64", true),
    )
    .await;
    assert_eq!(wrote.status, Some(0), "{wrote:?}");
    let image = snapshot(&sim, id, ip, &key, json!({})).await;
    // The server has an x86 type, so the snapshot is an x86 image holding arm64 Talos.
    let wrong = boot(&sim, "node-wrong-arch", image, "cx23").await;
    assert_no_node(&sim, wrong).await;
    // Written again for amd64, the custom schematic boots.
    sim.hcloud(
        "POST",
        &format!("/servers/{id}/actions/enable_rescue"),
        Some(json!({"type": "linux64"})),
    )
    .await;
    let rescue = sim.hcloud("GET", &format!("/servers/{id}"), None).await;
    assert_eq!(rescue["server"]["rescue_enabled"], true);
    let with_key = sim.hcloud("GET", "/ssh_keys", None).await["ssh_keys"][0]["id"].clone();
    sim.hcloud(
        "POST",
        &format!("/servers/{id}/actions/enable_rescue"),
        Some(json!({"type": "linux64", "ssh_keys": [with_key]})),
    )
    .await;
    sim.hcloud("POST", &format!("/servers/{id}/actions/poweron"), None)
        .await;
    sim.eventually("the rescue SSH server again", || async {
        tokio::net::TcpStream::connect((ip, 22))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    let wrote = exec(
        ip,
        &key,
        &write_command(&sim, &schematic, "v1.13.9", "amd64", true),
    )
    .await;
    assert_eq!(wrote.status, Some(0), "{wrote:?}");
    let image = snapshot(&sim, id, ip, &key, json!({})).await;
    let server = boot(&sim, "node-custom", image, "cx23").await;
    let node = maintenance_node(&sim, server).await;
    assert_eq!(
        (node["version"].as_str(), node["schematic"].as_str()),
        (Some("v1.13.9"), Some(schematic.as_str()))
    );
}

#[tokio::test]
async fn faults_break_downloads_and_snapshots_and_delay_ssh() {
    let clock = hk8s_sim::clock::Clock::manual();
    let sim = TestSim::start(74, &[], |c| {
        c.faults = "factory_download_error=1,create_image_error=1,rescue_ssh_refused=30,seed=3"
            .parse()
            .expect("a fault spec");
        c.clock = clock.clone();
    })
    .await;
    let key = new_key();
    // rescue_server waits for the SSH port, which stays closed for 30 sim seconds.
    let waiter = async {
        for _ in 0..20 {
            sim.hcloud("GET", "/servers", None).await;
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
        let listening = sim.state().await["rescue_systems"][0]["ssh_listening"].clone();
        assert_eq!(listening, false, "refused during the first 30 s after boot");
        clock.advance(Duration::from_secs(31));
    };
    let ((id, ip, _), ()) = tokio::join!(rescue_server(&sim, "build-faults", "cx23", &key), waiter);
    let url = format!(
        "{}/image/{DEFAULT_TALOS_SCHEMATIC}/v1.13.9/hcloud-amd64.raw.xz",
        sim.handle.image_factory_url()
    );
    for _ in 0..4 {
        // 500 (wget: 8) or a broken stream (wget: 4 once its one try is used up).
        let broken = exec(
            ip,
            &key,
            &format!("set -o pipefail; wget -q --tries=1 -O - {url} | true"),
        )
        .await;
        assert!(
            matches!(broken.status, Some(4 | 8)),
            "every download fails: {broken:?}"
        );
    }
    let written = exec(
        ip,
        &key,
        &write_command(&sim, DEFAULT_TALOS_SCHEMATIC, "v1.13.9", "amd64", true),
    )
    .await;
    assert_eq!(
        written.status,
        Some(1),
        "xz gets a broken stream or nothing: {written:?}"
    );
    let down = exec(ip, &key, "poweroff").await;
    assert_eq!(down.status, None);
    wait_status(&sim, id, "off").await;
    let reply = sim
        .hcloud(
            "POST",
            &format!("/servers/{id}/actions/create_image"),
            Some(json!({"type": "snapshot"})),
        )
        .await;
    let (image, action) = (
        reply["image"]["id"].as_i64(),
        reply["action"]["id"].as_i64(),
    );
    let action = action.expect("an action id");
    let finished = sim
        .eventually("create_image to finish", || async {
            let a = sim.hcloud("GET", &format!("/actions/{action}"), None).await;
            (a["action"]["status"] != "running").then_some(a)
        })
        .await;
    assert_eq!(finished["action"]["status"], "error");
    let (status, _) = sim
        .try_hcloud(
            "GET",
            &format!("/images/{}", image.unwrap_or_default()),
            None,
        )
        .await;
    assert_eq!(status, 404, "a failed create_image leaves no image");
}
