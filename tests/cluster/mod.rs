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
