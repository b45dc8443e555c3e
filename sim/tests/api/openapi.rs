//! Every family the sim models, read and written once over raw JSON, with the response checker
//! on: the test fails when any answer does not match Hetzner's OpenAPI description (the guard in
//! `support::Sim`), so a field of the wrong type, a missing required field, an enum value the
//! real API does not send or a wrong status shows up here even where no client decodes it.

use serde_json::{Value, json};

use super::support::*;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJGQ2VFSn5OQ8d1K3S2rAjAq2Gk6o7sFQy2kG0pZ4cS sweep";

/// `method path` with an optional JSON body: (status, JSON body or Null).
async fn call(sim: &Sim, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = sim
        .cfg
        .client
        .request(method.parse().unwrap(), format!("{}{path}", sim.endpoint()))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `method path` that must answer `expected`; its body.
async fn expect(sim: &Sim, expected: u16, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, value) = call(sim, method, path, body).await;
    assert_eq!(status, expected, "{method} {path}: {value}");
    value
}

async fn get(sim: &Sim, path: &str) -> Value {
    expect(sim, 200, "GET", path, None).await
}

/// Every list of the catalog and its first item.
async fn sweep_catalog(sim: &Sim) {
    for (list, key) in [
        ("server_types", "server_types"),
        ("locations", "locations"),
        ("datacenters", "datacenters"),
        ("load_balancer_types", "load_balancer_types"),
        ("isos", "isos"),
        ("images", "images"),
    ] {
        let all = get(sim, &format!("/{list}")).await;
        let id = all[key][0]["id"].as_i64().expect("a first item");
        get(sim, &format!("/{list}/{id}")).await;
    }
    get(sim, "/pricing").await;
    get(sim, "/images?type=system&architecture=arm").await;
}

#[tokio::test]
async fn every_family_answers_as_the_openapi_description_says() {
    let sim = start().await;
    sweep_catalog(&sim).await;

    let key = expect(
        &sim,
        201,
        "POST",
        "/ssh_keys",
        Some(json!({"name": "sweep", "public_key": KEY})),
    )
    .await;
    let key_id = key["ssh_key"]["id"].as_i64().unwrap();
    let pg = expect(
        &sim,
        201,
        "POST",
        "/placement_groups",
        Some(json!({"name": "pg", "type": "spread"})),
    )
    .await;
    let pg_id = pg["placement_group"]["id"].as_i64().unwrap();
    let net = expect(
        &sim,
        201,
        "POST",
        "/networks",
        Some(json!({"name": "net", "ip_range": "10.0.0.0/16",
        "subnets": [{"type": "cloud", "ip_range": "10.0.1.0/24", "network_zone": "eu-central"}]})),
    )
    .await;
    let net_id = net["network"]["id"].as_i64().unwrap();
    let fw = expect(&sim, 201, "POST", "/firewalls", Some(json!({"name": "fw", "rules": [
        {"direction": "in", "protocol": "tcp", "port": "22", "source_ips": ["0.0.0.0/0", "::/0"]}]}))).await;
    let fw_id = fw["firewall"]["id"].as_i64().unwrap();
    let server = expect(
        &sim,
        201,
        "POST",
        "/servers",
        Some(json!({"name": "sweep", "server_type": "cx23",
        "image": "debian-12", "location": "fsn1", "ssh_keys": [key_id], "networks": [net_id],
        "placement_group": pg_id, "firewalls": [{"firewall": fw_id}], "labels": {"team": "a"}})),
    )
    .await;
    let id = server["server"]["id"].as_i64().unwrap();
    get(&sim, &format!("/actions?id={}", server["action"]["id"])).await;
    get(&sim, &format!("/servers/{id}")).await;
    get(&sim, "/servers?label_selector=team%3Da").await;
    get(&sim, &format!("/servers/{id}/actions")).await;
    get(&sim, "/servers/actions?status=success").await;
    get(&sim, &format!("/servers/{id}/metrics?type=cpu,disk,network&start=2020-01-01T00:00:00Z&end=2100-01-01T00:00:00Z")).await;

    let action = |name: &str| format!("/servers/{id}/actions/{name}");
    expect(&sim, 201, "POST", &action("enable_backup"), None).await;
    expect(&sim, 201, "POST", &action("disable_backup"), None).await;
    let iso = get(&sim, "/isos?architecture=x86").await["isos"][0]["id"].clone();
    expect(
        &sim,
        201,
        "POST",
        &action("attach_iso"),
        Some(json!({"iso": iso})),
    )
    .await;
    get(&sim, &format!("/servers/{id}")).await;
    expect(&sim, 201, "POST", &action("detach_iso"), None).await;
    let ip =
        get(&sim, &format!("/servers/{id}")).await["server"]["public_net"]["ipv4"]["ip"].clone();
    expect(
        &sim,
        201,
        "POST",
        &action("change_dns_ptr"),
        Some(json!({"ip": ip, "dns_ptr": "sweep.example.com"})),
    )
    .await;
    expect(
        &sim,
        201,
        "POST",
        &action("enable_rescue"),
        Some(json!({"type": "linux64"})),
    )
    .await;
    expect(&sim, 201, "POST", &action("disable_rescue"), None).await;
    expect(
        &sim,
        201,
        "POST",
        &action("change_protection"),
        Some(json!({"delete": true, "rebuild": true})),
    )
    .await;
    expect(
        &sim,
        201,
        "POST",
        &action("change_protection"),
        Some(json!({"delete": false, "rebuild": false})),
    )
    .await;
    let image = expect(
        &sim,
        201,
        "POST",
        &action("create_image"),
        Some(json!({"type": "snapshot", "description": "sweep"})),
    )
    .await;
    let image_id = image["image"]["id"].as_i64().unwrap();
    get(&sim, &format!("/images/{image_id}")).await;
    expect(
        &sim,
        200,
        "PUT",
        &format!("/images/{image_id}"),
        Some(json!({"description": "swept"})),
    )
    .await;
    expect(&sim, 201, "POST", &action("poweroff"), None).await;
    get(&sim, &format!("/servers/{id}")).await;

    let volume = expect(
        &sim,
        201,
        "POST",
        "/volumes",
        Some(json!({"name": "vol", "size": 10, "location": "fsn1"})),
    )
    .await;
    let volume_id = volume["volume"]["id"].as_i64().unwrap();
    expect(
        &sim,
        201,
        "POST",
        &format!("/volumes/{volume_id}/actions/attach"),
        Some(json!({"server": id})),
    )
    .await;
    get(&sim, &format!("/volumes/{volume_id}")).await;
    get(&sim, "/volumes").await;
    expect(
        &sim,
        201,
        "POST",
        &format!("/volumes/{volume_id}/actions/detach"),
        None,
    )
    .await;
    expect(
        &sim,
        201,
        "POST",
        &format!("/volumes/{volume_id}/actions/resize"),
        Some(json!({"size": 20})),
    )
    .await;

    let floating = expect(
        &sim,
        201,
        "POST",
        "/floating_ips",
        Some(json!({"type": "ipv4", "home_location": "fsn1"})),
    )
    .await;
    let floating_id = floating["floating_ip"]["id"].as_i64().unwrap();
    expect(
        &sim,
        201,
        "POST",
        &format!("/floating_ips/{floating_id}/actions/assign"),
        Some(json!({"server": id})),
    )
    .await;
    get(&sim, &format!("/floating_ips/{floating_id}")).await;
    get(&sim, "/floating_ips").await;
    get(&sim, &format!("/servers/{id}")).await;

    let primary = expect(
        &sim,
        201,
        "POST",
        "/primary_ips",
        Some(json!({"name": "pip", "type": "ipv4",
        "assignee_type": "server", "location": "fsn1"})),
    )
    .await;
    let primary_id = primary["primary_ip"]["id"].as_i64().unwrap();
    get(&sim, &format!("/primary_ips/{primary_id}")).await;
    get(&sim, "/primary_ips").await;

    let lb = expect(&sim, 201, "POST", "/load_balancers", Some(json!({"name": "lb", "load_balancer_type": "lb11",
        "location": "fsn1", "network": net_id,
        "services": [{"protocol": "tcp", "listen_port": 6443, "destination_port": 6443},
                     {"protocol": "http", "listen_port": 80, "destination_port": 8080,
                      "health_check": {"protocol": "http", "port": 8080, "interval": 15, "timeout": 10, "retries": 3,
                                       "http": {"path": "/healthz"}}}],
        "targets": [{"type": "server", "server": {"id": id}, "use_private_ip": true},
                    {"type": "label_selector", "label_selector": {"selector": "team=a"}}]}))).await;
    let lb_id = lb["load_balancer"]["id"].as_i64().unwrap();
    get(&sim, &format!("/load_balancers/{lb_id}")).await;
    get(&sim, "/load_balancers").await;
    get(&sim, &format!("/load_balancers/{lb_id}/metrics?type=open_connections&start=2020-01-01T00:00:00Z&end=2100-01-01T00:00:00Z")).await;

    // Hetzner's errors are checked too: unknown ids, bad input, unmodelled families.
    expect(&sim, 404, "GET", "/servers/999999", None).await;
    expect(
        &sim,
        400,
        "POST",
        "/ssh_keys",
        Some(json!({"name": "no key"})),
    )
    .await;
    expect(&sim, 404, "GET", "/storage_boxes", None).await;
    expect(&sim, 410, "GET", "/actions", None).await;

    for path in [
        format!("/load_balancers/{lb_id}"),
        format!("/floating_ips/{floating_id}"),
        format!("/primary_ips/{primary_id}"),
        format!("/volumes/{volume_id}"),
        format!("/images/{image_id}"),
        format!("/servers/{id}"),
    ] {
        let (status, body) = call(&sim, "DELETE", &path, None).await;
        assert!(
            (200..300).contains(&status),
            "DELETE {path}: {status} {body}"
        );
    }
    for path in [
        format!("/placement_groups/{pg_id}"),
        format!("/firewalls/{fw_id}"),
        format!("/networks/{net_id}"),
        format!("/ssh_keys/{key_id}"),
    ] {
        expect(&sim, 204, "DELETE", &path, None).await;
    }
    sim.openapi.assert_clean();
}
