#![allow(dead_code)]
pub mod hcl;
pub mod kube;
pub mod python;
pub mod world;

/// From the Hetzner API's own view, no node accepts public inbound traffic: every server of the
/// cluster has a firewall of the cluster applied, and none of those opens anything inbound to
/// the whole internet (0.0.0.0/0 or ::/0).
pub fn assert_no_public_inbound(world: &world::World, cluster: &str) {
    let selector = format!("label_selector=hk8s.io/cluster%3D{cluster}");
    let firewalls = world.list(&format!("/firewalls?{selector}"), "firewalls");
    let servers = world.list(&format!("/servers?{selector}"), "servers");
    assert!(!servers.is_empty());
    for server in &servers {
        let name = server["name"].as_str().unwrap_or("?");
        let applied: Vec<i64> = server["public_net"]["firewalls"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["status"] == "applied")
            .filter_map(|f| f["id"].as_i64())
            .collect();
        assert!(
            !applied.is_empty(),
            "{name} has no firewall applied: {server:#}"
        );
        for id in applied {
            let firewall = firewalls
                .iter()
                .find(|f| f["id"].as_i64() == Some(id))
                .unwrap_or_else(|| panic!("{name}: firewall {id} is not the cluster's"));
            for rule in firewall["rules"].as_array().into_iter().flatten() {
                if rule["direction"] != "in" {
                    continue;
                }
                let sources: Vec<&str> = rule["source_ips"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s.as_str())
                    .collect();
                assert!(
                    !sources.iter().any(|s| *s == "0.0.0.0/0" || *s == "::/0"),
                    "{name}: firewall {} opens {rule} to everyone",
                    firewall["name"]
                );
            }
        }
    }
}

/// A Talos client through the cluster's load balancer with admin credentials minted from the
/// `secrets` in state, as an operator with talosctl would have.
pub fn operator_talos(
    world: &world::World,
    w: &crate::support::Workdir,
) -> hk8s::talos::apid::ApidClient {
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(w.path().join("terraform.tfstate")).unwrap())
            .unwrap();
    let attributes = state["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["type"] == "hk8s_cluster")
        .map(|r| &r["instances"][0]["attributes"])
        .expect("a cluster in state");
    let secrets =
        hk8s::talos::secrets::SecretsBundle::from_yaml(attributes["secrets"].as_str().unwrap())
            .unwrap();
    let credentials = hk8s::talos::talosconfig::issue_admin(
        &secrets,
        time::OffsetDateTime::now_utc() - time::Duration::minutes(5),
        time::Duration::hours(1),
        &mut rand::rng(),
    )
    .unwrap();
    let lb: std::net::IpAddr = attributes["endpoint"]
        .as_str()
        .unwrap()
        .trim_start_matches("https://")
        .trim_end_matches(":6443")
        .parse()
        .unwrap();
    let admin = hk8s::talos::apid::Credentials::Admin {
        ca: credentials.ca_pem.clone().into_bytes(),
        crt: credentials.cert_pem.clone().into_bytes(),
        key: credentials.rustls_key_pem().unwrap().into_bytes(),
    };
    world
        .block_on(hk8s::talos::apid::ApidClient::connect(
            std::net::SocketAddr::new(lb, 50000),
            &admin,
            hk8s::talos::apid::ClientOptions::default(),
        ))
        .unwrap()
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `terraform plan -detailed-exitcode` finds nothing to change.
pub fn plan_is_empty(w: &crate::support::Workdir) {
    let out = w.run(&["plan", "-detailed-exitcode", "-no-color", "-input=false"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "plan not empty:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Puts `server` (a `/servers` object) in the state a removal killed right after the node's
/// graceful reset leaves: labelled `hk8s.io/leaving` by hand, reset through Talos (it leaves
/// etcd and powers off), and waited for until Hetzner reports it off.
pub fn leave_half_way(
    world: &world::World,
    w: &crate::support::Workdir,
    server: &serde_json::Value,
) {
    let id = server["id"].as_i64().expect("server id");
    let name = server["name"].as_str().expect("server name");
    let mut labels = server["labels"].clone();
    labels["hk8s.io/leaving"] = serde_json::json!("true");
    let (status, _) = world.put(
        &format!("/servers/{id}"),
        &serde_json::json!({ "labels": labels }),
    );
    assert!(status < 300, "labelled by hand: {status}");
    let ip: std::net::IpAddr = server["private_net"][0]["ip"]
        .as_str()
        .expect("private IP")
        .parse()
        .expect("an address");
    let talos = operator_talos(world, w);
    world
        .block_on(
            talos
                .node(ip)
                .reset(&hk8s::talos::apid::ResetOptions::default()),
        )
        .expect("graceful reset");
    let started = std::time::Instant::now();
    while world.list(&format!("/servers?name={name}"), "servers")[0]["status"] != "off" {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the reset node never powered off"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
