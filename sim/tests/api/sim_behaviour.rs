//! What makes the sim a sim: rate limit, faults, latency, `/_sim` endpoints, the state file, world
//! events, and label selectors checked against a reference matcher over the API.

use std::collections::BTreeMap;
use std::time::Duration;

use hcloud::apis::locations_api::{ListLocationsParams, list_locations};
use hcloud::apis::networks_api::{CreateNetworkParams, create_network};
use hcloud::apis::servers_api::*;
use hcloud::models;
use hk8s_sim::world::WorldEvent;
use proptest::prelude::*;

use super::support::*;

async fn raw_get(sim: &Sim, path: &str) -> (u16, reqwest_headers::Headers) {
    let resp = sim
        .cfg
        .client
        .get(format!("{}{path}", sim.endpoint()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let headers = reqwest_headers::Headers::from(resp.headers());
    (resp.status().as_u16(), headers)
}

mod reqwest_headers {
    /// The three rate-limit headers of a reply.
    #[derive(Debug)]
    pub struct Headers {
        pub limit: Option<u64>,
        pub remaining: Option<u64>,
        pub reset: Option<i64>,
    }

    impl Headers {
        pub fn from(map: &http_types::HeaderMap) -> Self {
            let get = |k: &str| map.get(k).and_then(|v| v.to_str().ok()).map(str::to_owned);
            Headers {
                limit: get("RateLimit-Limit").and_then(|v| v.parse().ok()),
                remaining: get("RateLimit-Remaining").and_then(|v| v.parse().ok()),
                reset: get("RateLimit-Reset").and_then(|v| v.parse().ok()),
            }
        }
    }

    /// The header map type of the client's responses (reqwest re-exports `http`).
    pub mod http_types {
        pub type HeaderMap = axum::http::HeaderMap;
    }
}

#[tokio::test]
async fn rate_limit_headers_and_429_when_the_bucket_is_empty() {
    let sim = start_with(|c| {
        c.rate_limit_per_hour = 5;
        c.clock = hk8s_sim::clock::Clock::manual();
    })
    .await;
    for expected_remaining in (0..5).rev() {
        let (status, headers) = raw_get(&sim, "/servers").await;
        assert_eq!(status, 200);
        assert_eq!(
            (headers.limit, headers.remaining),
            (Some(5), Some(expected_remaining))
        );
        assert!(headers.reset.is_some());
    }
    let (status, headers) = raw_get(&sim, "/servers").await;
    assert_eq!((status, headers.remaining), (429, Some(0)));
    let (code, err) = api_error(list_servers(&sim.cfg, ListServersParams::default()).await);
    assert_eq!(
        (code, err["code"].as_str()),
        (429, Some("rate_limit_exceeded"))
    );
    // One token comes back every 720 s at 5/h.
    sim.advance(720);
    assert_eq!(raw_get(&sim, "/servers").await.0, 200);
    let stats = sim.sim_json("/_sim/stats").await;
    assert_eq!(stats["total"], 8);
    assert_eq!(stats["rate_limited"], 2);
    assert_eq!(stats["requests"]["GET /servers"], 8);
}

#[tokio::test]
async fn faults_are_deterministic_for_a_seed() {
    let run = || async {
        let sim = start_with(|c| c.faults = "5xx=0.3,429burst=0.05,seed=9".parse().unwrap()).await;
        let mut statuses = Vec::new();
        for _ in 0..40 {
            statuses.push(
                match list_locations(&sim.cfg, ListLocationsParams::default()).await {
                    Ok(_) => 200,
                    Err(hcloud::apis::Error::ResponseError(rc)) => rc.status.as_u16(),
                    Err(e) => panic!("{e}"),
                },
            );
        }
        let injected = sim.sim_json("/_sim/stats").await["faults_injected"]
            .as_u64()
            .unwrap();
        (statuses, injected)
    };
    let (first, injected) = run().await;
    let (second, _) = run().await;
    assert_eq!(first, second);
    assert!(first.contains(&200));
    assert!(first.iter().any(|s| *s == 500 || *s == 503));
    assert_eq!(
        injected as usize,
        first.iter().filter(|s| **s != 200).count()
    );
}

#[tokio::test]
async fn injected_action_errors_and_locks() {
    let sim = start_with(|c| c.faults = "action_error=1".parse().unwrap()).await;
    let created = create_server_labelled(&sim.cfg, "doomed", &[]).await;
    let action = wait_action(&sim.cfg, created.action.id).await;
    assert_eq!(action.status, models::action::Status::Error);
    let error = action.error.unwrap();
    assert_eq!(
        (error.code.as_str(), error.message.as_str()),
        ("action_failed", "Action failed")
    );
    let server = get_server(
        &sim.cfg,
        GetServerParams {
            id: created.server.id,
        },
    )
    .await
    .unwrap()
    .server
    .unwrap();
    assert_eq!(server.status, models::server::Status::Off);

    let locked = start_with(|c| c.faults = "locked=1".parse().unwrap()).await;
    let server = running_server(&locked.cfg, "l").await;
    let (status, err) =
        api_error(power_off_server(&locked.cfg, PowerOffServerParams { id: server.id }).await);
    assert_eq!((status, err["code"].as_str()), (423, Some("locked")));
}

#[tokio::test]
async fn realistic_latency_follows_the_clock_and_time_scale() {
    let sim = start_realistic().await;
    let created = create_server_labelled(&sim.cfg, "slow", &[]).await;
    let get_action = |id| {
        hcloud::apis::actions_api::get_action(
            &sim.cfg,
            hcloud::apis::actions_api::GetActionParams { id },
        )
    };
    sim.advance(6);
    let half = get_action(created.action.id).await.unwrap().action;
    assert_eq!(half.status, models::action::Status::Running);
    assert_eq!(half.progress, 50, "6 s into a 12 s create");
    sim.advance(6);
    assert_eq!(
        get_action(created.action.id).await.unwrap().action.status,
        models::action::Status::Success
    );
    let booting = get_server(
        &sim.cfg,
        GetServerParams {
            id: created.server.id,
        },
    )
    .await
    .unwrap()
    .server
    .unwrap();
    assert_eq!(booting.status, models::server::Status::Starting);
    sim.advance(8);
    let running = get_server(
        &sim.cfg,
        GetServerParams {
            id: created.server.id,
        },
    )
    .await
    .unwrap()
    .server
    .unwrap();
    assert_eq!(running.status, models::server::Status::Running);

    let fast = start_with(|c| {
        c.latency = hk8s_sim::latency::LatencyMode::Realistic;
        c.time_scale = 0.5;
        c.clock = hk8s_sim::clock::Clock::manual();
    })
    .await;
    let created = create_server_labelled(&fast.cfg, "fast", &[]).await;
    fast.advance(6);
    let action = hcloud::apis::actions_api::get_action(
        &fast.cfg,
        hcloud::apis::actions_api::GetActionParams {
            id: created.action.id,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        action.action.status,
        models::action::Status::Success,
        "12 s × 0.5"
    );
}

#[tokio::test]
async fn sim_state_stats_and_reset() {
    let sim = start_with(|c| c.talos_versions = vec!["v1.13.9".into()]).await;
    let request = models::CreateServerRequest {
        name: "talos-1".into(),
        server_type: "cx23".into(),
        image: "debian-12".into(),
        user_data: Some("H4sIAAAAAAAA/0rOzytJzSsBAAAA//8BAAD//w==".into()),
        labels: Some([("hk8s.io/cluster".to_string(), "prod".to_string())].into()),
        ..Default::default()
    };
    create_server(
        &sim.cfg,
        CreateServerParams {
            create_server_request: request,
        },
    )
    .await
    .unwrap();
    let state = sim.sim_json("/_sim/state").await;
    for collection in [
        "servers",
        "networks",
        "firewalls",
        "load_balancers",
        "placement_groups",
        "images",
        "ssh_keys",
        "volumes",
        "actions",
    ] {
        assert!(state[collection].is_array(), "{collection}");
    }
    assert_eq!(
        state["servers"][0]["user_data"],
        "H4sIAAAAAAAA/0rOzytJzSsBAAAA//8BAAD//w=="
    );
    assert_eq!(state["servers"][0]["labels"]["hk8s.io/cluster"], "prod");
    assert_eq!(state["actions"].as_array().unwrap().len(), 2);
    let stats = sim.sim_json("/_sim/stats").await;
    assert_eq!(stats["requests"]["POST /servers"], 1);

    let reset = sim
        .cfg
        .client
        .post(format!("{}/_sim/reset", sim.root()))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status().as_u16(), 204);
    let state = sim.sim_json("/_sim/state").await;
    assert_eq!(state["servers"].as_array().unwrap().len(), 0);
    let images = state["images"].as_array().unwrap();
    assert!(
        images
            .iter()
            .any(|i| i["labels"]["hk8s.io/talos-version"] == "v1.13.9"),
        "Talos snapshots survive a reset"
    );
    assert_eq!(sim.sim_json("/_sim/stats").await["total"], 0);
}

#[tokio::test]
async fn state_file_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("world.json");
    let sim = start_with(|c| c.state_file = Some(path.clone())).await;
    let network = create_network(
        &sim.cfg,
        CreateNetworkParams {
            create_network_request: models::CreateNetworkRequest {
                name: "kept".into(),
                ip_range: "10.0.0.0/16".into(),
                ..Default::default()
            },
        },
    )
    .await
    .unwrap()
    .network
    .unwrap();
    let server = running_server(&sim.cfg, "kept").await;
    sim.handle.shutdown().await.unwrap();
    assert!(path.exists());

    let again = start_with(|c| c.state_file = Some(path.clone())).await;
    let restored = get_server(&again.cfg, GetServerParams { id: server.id })
        .await
        .unwrap()
        .server
        .unwrap();
    assert_eq!(restored.name, "kept");
    assert_eq!(restored.status, models::server::Status::Running);
    assert_eq!(restored.public_net.ipv4, server.public_net.ipv4);
    let net = hcloud::apis::networks_api::get_network(
        &again.cfg,
        hcloud::apis::networks_api::GetNetworkParams { id: network.id },
    )
    .await
    .unwrap();
    assert_eq!(net.network.unwrap().name, "kept");
    let fresh = create_server_labelled(&again.cfg, "fresh", &[])
        .await
        .server;
    assert!(fresh.id > server.id, "ids keep counting after a restore");
    assert_ne!(fresh.public_net.ipv4, server.public_net.ipv4);
}

#[tokio::test]
async fn world_events_announce_server_lifecycles() {
    let sim = start().await;
    let mut events = sim.handle.subscribe();
    let server = running_server(&sim.cfg, "watched").await;
    let ipv4 = server
        .public_net
        .ipv4
        .as_ref()
        .map(|ip| ip.ip.parse().unwrap());
    let mut statuses = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let WorldEvent::ServerStatus {
            id,
            ipv4: ip,
            status,
        } = event
        {
            assert_eq!((id, ip), (server.id, ipv4));
            statuses.push(status);
        }
    }
    assert_eq!(statuses, ["starting", "running"]);
    delete_server(&sim.cfg, DeleteServerParams { id: server.id })
        .await
        .unwrap();
    assert_eq!(
        events.try_recv().unwrap(),
        WorldEvent::ServerDeleted {
            id: server.id,
            ipv4
        }
    );
}

/// A label selector requirement, rendered to text and evaluated independently of the sim.
#[derive(Debug, Clone)]
enum Req {
    Eq(&'static str, &'static str, bool),
    Ne(&'static str, &'static str),
    Exists(&'static str),
    NotExists(&'static str),
    In(&'static str, Vec<&'static str>),
    NotIn(&'static str, Vec<&'static str>),
}

const KEYS: [&str; 3] = ["env", "hk8s.io/role", "tier"];
const VALUES: [&str; 3] = ["a", "b", "c-1"];

impl Req {
    fn render(&self) -> String {
        match self {
            Req::Eq(k, v, double) => format!("{k}{}{v}", if *double { "==" } else { "=" }),
            Req::Ne(k, v) => format!("{k}!={v}"),
            Req::Exists(k) => (*k).to_string(),
            Req::NotExists(k) => format!("!{k}"),
            Req::In(k, vs) => format!("{k} in ({})", vs.join(",")),
            Req::NotIn(k, vs) => format!("{k} notin ({})", vs.join(", ")),
        }
    }

    fn reference(&self, labels: &BTreeMap<String, String>) -> bool {
        let get = |k: &str| labels.get(k).map(String::as_str);
        match self {
            Req::Eq(k, v, _) => get(k) == Some(*v),
            Req::Ne(k, v) => get(k) != Some(*v),
            Req::Exists(k) => get(k).is_some(),
            Req::NotExists(k) => get(k).is_none(),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
        }
    }
}

fn req() -> impl Strategy<Value = Req> {
    let key = proptest::sample::select(KEYS.to_vec());
    let value = proptest::sample::select(VALUES.to_vec());
    let values = proptest::sample::subsequence(VALUES.to_vec(), 1..=3);
    prop_oneof![
        (key.clone(), value.clone(), any::<bool>()).prop_map(|(k, v, d)| Req::Eq(k, v, d)),
        (key.clone(), value).prop_map(|(k, v)| Req::Ne(k, v)),
        key.clone().prop_map(Req::Exists),
        key.clone().prop_map(Req::NotExists),
        (key.clone(), values.clone()).prop_map(|(k, vs)| Req::In(k, vs)),
        (key, values).prop_map(|(k, vs)| Req::NotIn(k, vs)),
    ]
}

/// Every combination of labels over KEYS × (absent or one of VALUES), capped to keep it small.
fn population() -> Vec<BTreeMap<String, String>> {
    let mut out = vec![BTreeMap::new()];
    for key in KEYS {
        let mut next = Vec::new();
        for labels in &out {
            next.push(labels.clone());
            for value in VALUES {
                let mut with = labels.clone();
                with.insert(key.to_string(), value.to_string());
                next.push(with);
            }
        }
        out = next;
    }
    out.into_iter().step_by(3).collect()
}

#[test]
fn label_selectors_over_the_api_match_a_reference_matcher() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let population = population();
    let (sim, ids) = runtime.block_on(async {
        let sim = start().await;
        let mut ids = BTreeMap::new();
        for (i, labels) in population.iter().enumerate() {
            let pairs: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let id = create_server_labelled(&sim.cfg, &format!("p{i}"), &pairs)
                .await
                .server
                .id;
            ids.insert(id, labels.clone());
        }
        (sim, ids)
    });
    let config = ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(reqs in proptest::collection::vec(req(), 1..4))| {
        let selector = reqs.iter().map(Req::render).collect::<Vec<_>>().join(",");
        let expected: Vec<i64> = ids.iter().filter(|(_, l)| reqs.iter().all(|r| r.reference(l))).map(|(id, _)| *id).collect();
        let got = runtime.block_on(async {
            let mut got = Vec::new();
            for page in 1.. {
                let params = ListServersParams { label_selector: Some(selector.clone()), page: Some(page), per_page: Some(50), ..Default::default() };
                let reply = list_servers(&sim.cfg, params).await.unwrap();
                got.extend(reply.servers.iter().map(|s| s.id));
                if reply.meta.pagination.next_page.is_none() {
                    break;
                }
            }
            got
        });
        prop_assert_eq!(got, expected, "selector {}", selector);
    });
    drop(sim);
    runtime.shutdown_timeout(Duration::from_secs(1));
}

/// Unknown endpoints, and methods a path does not take, answer Hetzner's JSON `not_found` error
/// saying the sim does not model them, never an empty 404 or 405.
#[tokio::test]
async fn unknown_endpoints_and_methods_answer_hetzners_not_found() {
    let sim = start().await;
    for (method, path) in [
        (reqwest::Method::GET, "/zones"),
        (reqwest::Method::POST, "/servers/1/actions/request_console"),
        (
            reqwest::Method::POST,
            "/load_balancers/1/actions/change_dns_ptr",
        ),
        (reqwest::Method::PATCH, "/servers"),
        (reqwest::Method::DELETE, "/server_types"),
    ] {
        let resp = sim
            .cfg
            .client
            .request(method.clone(), format!("{}{path}", sim.endpoint()))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404, "{method} {path}");
        let body: serde_json::Value = resp.json().await.expect("a JSON error");
        assert_eq!(
            body["error"]["code"], "not_found",
            "{method} {path}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("hk8s-sim does not model")
                || message.contains("is not modelled by hk8s-sim"),
            "{message}"
        );
    }
}

/// Every test sim checks its answers against Hetzner's OpenAPI description; `/_sim/openapi`
/// says so and lists nothing after a round of creates, actions, errors and deletes.
#[tokio::test]
async fn responses_are_checked_against_the_openapi_description() {
    let sim = start().await;
    let created = create_server_labelled(&sim.cfg, "checked", &[("team", "a")]).await;
    wait_action(&sim.cfg, created.action.id).await;
    let id = created.server.id;
    let action = power_off_server(&sim.cfg, PowerOffServerParams { id })
        .await
        .expect("poweroff");
    wait_action(&sim.cfg, action.action.id).await;
    let missing = get_server(&sim.cfg, GetServerParams { id: id + 1000 }).await;
    assert_eq!(api_error(missing).0, 404);
    delete_server(&sim.cfg, DeleteServerParams { id })
        .await
        .expect("delete");
    let (status, _) = raw_get(&sim, "/no_such_family").await;
    assert_eq!(status, 404);
    let report = sim.sim_json("/_sim/openapi").await;
    assert_eq!(report["enabled"], true, "{report}");
    assert_eq!(report["total"], 0, "{report}");
    assert_eq!(report["violations"], serde_json::json!([]), "{report}");
    sim.openapi.assert_clean();
}
