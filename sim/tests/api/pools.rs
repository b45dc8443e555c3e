//! What a worker pool relies on, in Hetzner's own words: server types of both architectures, each
//! available (or deprecated) per location; snapshots that only boot on their architecture; spread
//! placement groups of at most 10; firewalls that follow server labels.

use serde_json::{Value, json};

use super::support::*;

/// `method path` on the API or the sim's own endpoints: (status, JSON body or Null).
async fn raw(sim: &Sim, method: &str, url: String, body: Option<Value>) -> (u16, Value) {
    let mut request = sim
        .cfg
        .client
        .request(method.parse().unwrap(), url)
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn api(sim: &Sim, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    raw(sim, method, format!("{}{path}", sim.endpoint()), body).await
}

async fn location_entry(sim: &Sim, server_type: &str, location: &str) -> Value {
    let (_, types) = api(
        sim,
        "GET",
        &format!("/server_types?name={server_type}"),
        None,
    )
    .await;
    types["server_types"][0]["locations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == location)
        .cloned()
        .unwrap_or(Value::Null)
}

fn server(name: &str, server_type: &str, location: &str, image: Value) -> Value {
    json!({"name": name, "server_type": server_type, "location": location, "image": image})
}

#[tokio::test]
async fn server_types_have_an_architecture_and_a_state_per_location() {
    let sim = start().await;
    let (_, types) = api(&sim, "GET", "/server_types?per_page=50", None).await;
    for t in types["server_types"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let expected = if name.starts_with("cax") {
            "arm"
        } else {
            "x86"
        };
        assert_eq!(t["architecture"], expected, "{name}");
        for l in t["locations"].as_array().unwrap() {
            assert_eq!(
                (&l["available"], &l["recommended"], &l["deprecation"]),
                (&json!(true), &json!(true), &Value::Null),
                "{name} in {l}"
            );
        }
    }

    // A deprecation announced for cx33 in fsn1 only: listed there, still orderable until
    // `unavailable_after`, and not recommended.
    let url = |t: &str, l: &str| {
        format!(
            "{}/_sim/server_types/{t}/locations/{l}/deprecation",
            sim.root()
        )
    };
    let later = json!({"announced": "2026-01-01T00:00:00+00:00", "unavailable_after": "2099-01-01T00:00:00+00:00"});
    assert_eq!(
        raw(&sim, "POST", url("cx33", "fsn1"), Some(later)).await.0,
        204
    );
    let fsn1 = location_entry(&sim, "cx33", "fsn1").await;
    assert_eq!(
        fsn1,
        json!({"id": 1, "name": "fsn1", "available": true, "recommended": false,
               "deprecation": {"announced": "2026-01-01T00:00:00+00:00", "unavailable_after": "2099-01-01T00:00:00+00:00"}})
    );
    assert!(location_entry(&sim, "cx33", "nbg1").await["deprecation"].is_null());
    let image = json!("debian-12");
    assert_eq!(
        api(
            &sim,
            "POST",
            "/servers",
            Some(server("a", "cx33", "fsn1", image.clone()))
        )
        .await
        .0,
        201
    );

    // Past `unavailable_after` it is not available there and cannot be placed; nbg1 still sells it.
    let past = json!({"announced": "2025-01-01T00:00:00+00:00", "unavailable_after": "2025-06-01T00:00:00+00:00"});
    assert_eq!(
        raw(&sim, "POST", url("cx33", "fsn1"), Some(past)).await.0,
        204
    );
    assert_eq!(
        location_entry(&sim, "cx33", "fsn1").await["available"],
        false
    );
    let (status, refused) = api(
        &sim,
        "POST",
        "/servers",
        Some(server("b", "cx33", "fsn1", image.clone())),
    )
    .await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (412, &json!("resource_unavailable"))
    );
    assert_eq!(refused["error"]["message"], "error during placement");
    assert_eq!(
        api(
            &sim,
            "POST",
            "/servers",
            Some(server("b", "cx33", "nbg1", image.clone()))
        )
        .await
        .0,
        201
    );
    // A type not sold in a location cannot be placed there either.
    let (status, refused) = api(
        &sim,
        "POST",
        "/servers",
        Some(server("c", "cax11", "ash", image.clone())),
    )
    .await;
    assert_eq!(
        (status, &refused["error"]["message"]),
        (412, &json!("error during placement"))
    );
    // Withdrawn, and a malformed announcement is refused.
    assert_eq!(
        raw(&sim, "POST", url("cx33", "fsn1"), Some(Value::Null))
            .await
            .0,
        204
    );
    assert_eq!(
        location_entry(&sim, "cx33", "fsn1").await["available"],
        true
    );
    assert_eq!(
        raw(
            &sim,
            "POST",
            url("cx33", "fsn1"),
            Some(json!({"announced": "soon"}))
        )
        .await
        .0,
        400
    );
    assert_eq!(
        raw(&sim, "POST", url("cx33", "ash"), Some(Value::Null))
            .await
            .0,
        400
    );
}

#[tokio::test]
async fn a_location_out_of_capacity_shows_its_types_unavailable() {
    let sim = start_with(|c| {
        c.faults = "location_disabled=nbg1".parse().unwrap();
    })
    .await;
    let nbg1 = location_entry(&sim, "cax21", "nbg1").await;
    assert_eq!(
        (&nbg1["available"], &nbg1["recommended"]),
        (&json!(false), &json!(false))
    );
    assert_eq!(
        location_entry(&sim, "cax21", "fsn1").await["available"],
        true
    );
}

#[tokio::test]
async fn snapshots_boot_only_on_their_architecture() {
    let sim = start_with(|c| c.talos_versions = vec!["v1.13.9".into()]).await;
    let (_, images) = api(
        &sim,
        "GET",
        "/images?type=snapshot&label_selector=hk8s.io/talos-version%3Dv1.13.9",
        None,
    )
    .await;
    let by_arch = |arch: &str| {
        images["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["architecture"] == arch)
            .unwrap()["id"]
            .clone()
    };
    let (x86, arm) = (by_arch("x86"), by_arch("arm"));
    let incompatible = json!({"code": "invalid_input", "message": "image has incompatible architecture",
        "details": {"fields": [{"name": "image", "messages": ["image has incompatible architecture"]}]}});
    for (name, server_type, image) in [("arm-x86", "cax11", &x86), ("x86-arm", "cpx21", &arm)] {
        let (status, body) = api(
            &sim,
            "POST",
            "/servers",
            Some(server(name, server_type, "fsn1", image.clone())),
        )
        .await;
        assert_eq!((status, &body["error"]), (400, &incompatible), "{name}");
    }
    let (status, created) = api(
        &sim,
        "POST",
        "/servers",
        Some(server("arm", "cax11", "fsn1", arm.clone())),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["server"]["image"]["architecture"], "arm");
    let id = created["server"]["id"].as_i64().unwrap();
    let (status, body) = api(
        &sim,
        "POST",
        &format!("/servers/{id}/actions/rebuild"),
        Some(json!({"image": x86})),
    )
    .await;
    assert_eq!((status, &body["error"]), (400, &incompatible));
    // Other validation errors name their fields as Hetzner does.
    let (_, body) = api(
        &sim,
        "POST",
        "/servers",
        Some(server("-bad", "cx23", "fsn1", json!("debian-12"))),
    )
    .await;
    assert_eq!(body["error"]["message"], "invalid input in field 'name'");
}

#[tokio::test]
async fn spread_groups_refuse_an_eleventh_server_and_firewalls_follow_labels() {
    let sim = start().await;
    let (_, group) = api(
        &sim,
        "POST",
        "/placement_groups",
        Some(json!({"name": "prod-general-fsn1-1", "type": "spread"})),
    )
    .await;
    let pg = group["placement_group"]["id"].as_i64().unwrap();
    for i in 0..10 {
        let mut body = server(&format!("w{i}"), "cx23", "fsn1", json!("debian-12"));
        body["placement_group"] = json!(pg);
        assert_eq!(api(&sim, "POST", "/servers", Some(body)).await.0, 201);
    }
    let mut body = server("w10", "cx23", "fsn1", json!("debian-12"));
    body["placement_group"] = json!(pg);
    let (status, refused) = api(&sim, "POST", "/servers", Some(body)).await;
    assert_eq!(status, 422);
    assert_eq!(
        refused["error"],
        json!({"code": "placement_group_member_limit_reached",
               "message": format!("placement group with ID {pg} contains already 10 servers"), "details": {}})
    );

    // A firewall applied by label selector covers a server as soon as its labels match, and
    // no longer once they do not.
    let (_, fw) = api(
        &sim,
        "POST",
        "/firewalls",
        Some(json!({"name": "prod-nodes", "rules": [],
            "apply_to": [{"type": "label_selector", "label_selector": {"selector": "hk8s.io/cluster=prod"}}]})),
    )
    .await;
    let fw = fw["firewall"]["id"].as_i64().unwrap();
    let mut body = server("prod-general-1", "cax11", "fsn1", json!("debian-12"));
    body["labels"] = json!({"hk8s.io/cluster": "prod", "hk8s.io/pool": "general"});
    let (_, created) = api(&sim, "POST", "/servers", Some(body)).await;
    let id = created["server"]["id"].as_i64().unwrap();
    assert_eq!(
        created["server"]["public_net"]["firewalls"],
        json!([{"id": fw, "status": "applied"}])
    );
    let relabel = |labels: Value| json!({"labels": labels});
    let (_, updated) = api(
        &sim,
        "PUT",
        &format!("/servers/{id}"),
        Some(relabel(json!({"hk8s.io/cluster": "other"}))),
    )
    .await;
    assert_eq!(updated["server"]["public_net"]["firewalls"], json!([]));
    api(
        &sim,
        "PUT",
        &format!("/servers/{id}"),
        Some(relabel(json!({"hk8s.io/cluster": "prod"}))),
    )
    .await;
    let (_, listed) = api(
        &sim,
        "GET",
        "/servers?label_selector=hk8s.io/cluster%3Dprod",
        None,
    )
    .await;
    assert_eq!(
        listed["servers"][0]["public_net"]["firewalls"],
        json!([{"id": fw, "status": "applied"}])
    );
}
