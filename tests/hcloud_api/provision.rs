//! `Client::provision`: servers whose actions fail are deleted and created again until they run,
//! a step that always fails stops after its tries naming the step and Hetzner's error, and a
//! location without capacity (`resource_unavailable`, as hk8s-sim's `location_disabled=` answers)
//! sends the server to the next placement.

use std::time::Duration;

use hk8s::hcloud::catalog::{Architecture, NetworkZone};
use hk8s::hcloud::labels::{self, Role, Selector};
use hk8s::hcloud::networks::{NetworkSpec, SubnetSpec};
use hk8s::hcloud::provision::{Placement, Provision, ServerRequest};
use hk8s::hcloud::servers::{ServerSpec, ServerStatus};
use hk8s::hcloud::{Client, Error, RetryPolicy, StepRetry};
use serde_json::Value;

use super::support::{Sim, TALOS_VERSION, cluster_labels, role_labels, start_with};

fn quick(attempts: u32) -> StepRetry {
    StepRetry {
        attempts,
        backoff: RetryPolicy {
            initial: Duration::from_millis(2),
            max: Duration::from_millis(10),
            max_attempts: attempts,
        },
    }
}

/// A network and the Talos image; their actions are settled but not judged (a failed action of
/// the sim leaves the object in place).
async fn ground(client: &Client, cluster: &str) -> (i64, String) {
    let network = client
        .ensure_network(&NetworkSpec {
            name: cluster.to_owned(),
            ip_range: "10.0.0.0/16".parse().unwrap(),
            subnets: vec![SubnetSpec {
                ip_range: "10.0.1.0/24".parse().unwrap(),
                network_zone: NetworkZone::EuCentral,
            }],
            labels: cluster_labels(cluster),
        })
        .await
        .unwrap();
    client
        .settle_actions("network", network.actions)
        .await
        .unwrap();
    let image = client
        .list_snapshots(
            &Selector::default().with(labels::TALOS_VERSION, TALOS_VERSION),
            Architecture::Arm,
        )
        .await
        .unwrap()[0]
        .id;
    (network.value.id, image.to_string())
}

fn request(cluster: &str, n: u32, network: i64, image: &str, locations: &[&str]) -> ServerRequest {
    ServerRequest {
        spec: ServerSpec {
            name: format!("{cluster}-cp-{n}"),
            server_type: "cax21".into(),
            image: image.to_owned(),
            location: locations[0].to_owned(),
            labels: role_labels(cluster, Role::ControlPlane),
            user_data: Some(format!("#node {n}")),
            networks: vec![network],
            firewalls: vec![],
            placement_group: None,
            enable_ipv4: true,
            enable_ipv6: false,
        },
        placements: locations
            .iter()
            .map(|l| Placement {
                location: (*l).to_owned(),
                placement_group: None,
            })
            .collect(),
    }
}

/// `(name, status, location)` of every server of the sim.
async fn servers(sim: &Sim) -> Vec<(String, String, String)> {
    let state = sim.state().await;
    let mut out: Vec<(String, String, String)> = state["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s: &Value| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
                s["location"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn servers_whose_actions_fail_are_created_again_until_they_run() {
    let sim = start_with(|c| c.faults = "action_error=0.2,seed=5".parse().unwrap()).await;
    let client = sim.client();
    let (network, image) = ground(&client, "again").await;
    let done = client
        .provision(
            Provision {
                what: "servers".into(),
                create: (1..=3)
                    .map(|n| request("again", n, network, &image, &["fsn1"]))
                    .collect(),
                ..Provision::default()
            },
            // A server fails a try with p = 1 - 0.8² = 0.36: twelve tries in a row, never.
            &quick(12),
        )
        .await
        .unwrap();
    assert_eq!(done.created.len(), 3);
    assert!(done.fallbacks.is_empty());
    let all = servers(&sim).await;
    assert_eq!(
        all,
        (1..=3)
            .map(|n| (format!("again-cp-{n}"), "running".into(), "fsn1".into()))
            .collect::<Vec<_>>(),
        "only the three servers, all running (the failed ones were deleted)"
    );
    let creates = sim.requests("POST /servers").await;
    assert_eq!(
        creates > 3,
        !done.retried.is_empty(),
        "a server is created again exactly when an action failed ({creates} creates, {:?})",
        done.retried
    );
    assert!(
        done.retried
            .iter()
            .all(|f| f.code == "action_failed" && f.command.ends_with("_server")),
        "{:?}",
        done.retried
    );
}

#[tokio::test]
async fn a_create_that_keeps_failing_stops_naming_the_step_and_the_error() {
    let sim = start_with(|c| c.faults = "action_error=1,seed=1".parse().unwrap()).await;
    let client = sim.client();
    let (network, image) = ground(&client, "doomed").await;
    let err = client
        .provision(
            Provision {
                what: "servers".into(),
                create: vec![request("doomed", 1, network, &image, &["fsn1"])],
                ..Provision::default()
            },
            &quick(3),
        )
        .await
        .unwrap_err();
    let Error::StepFailed { what, attempts, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(what, "create server doomed-cp-1 in fsn1");
    assert_eq!(*attempts, 3);
    let text = err.to_string();
    assert!(text.contains("action_failed: Action failed"), "{text}");
    assert!(text.contains("(create_server)"), "{text}");
    assert_eq!(sim.requests("POST /servers").await, 3, "three tries");
    // The two servers of the failed tries were deleted; the last one stays for the next apply.
    assert_eq!(servers(&sim).await.len(), 1);
}

#[tokio::test]
async fn a_location_without_capacity_sends_servers_to_the_next_one() {
    let sim = start_with(|c| {
        c.faults = "location_disabled=fsn1".parse().unwrap();
    })
    .await;
    let client = sim.client();
    let (network, image) = ground(&client, "moved").await;

    // Hetzner's own answer, byte for byte what real projects see.
    let refused = client
        .ensure_server(&request("moved", 9, network, &image, &["fsn1"]).spec)
        .await
        .unwrap_err();
    let Error::Api {
        status,
        code,
        message,
        ..
    } = &refused
    else {
        panic!("{refused:?}")
    };
    assert_eq!(
        (*status, code.as_str(), message.as_str()),
        (412, "resource_unavailable", "server location disabled")
    );
    assert!(refused.is_unavailable());

    let done = client
        .provision(
            Provision {
                what: "servers".into(),
                create: vec![
                    request("moved", 1, network, &image, &["fsn1", "nbg1", "hel1"]),
                    request("moved", 2, network, &image, &["hel1", "fsn1"]),
                ],
                ..Provision::default()
            },
            &quick(4),
        )
        .await
        .unwrap();
    assert_eq!(
        servers(&sim).await,
        [
            ("moved-cp-1".into(), "running".into(), "nbg1".into()),
            ("moved-cp-2".into(), "running".into(), "hel1".into()),
        ]
    );
    assert_eq!(done.fallbacks.len(), 1, "{:?}", done.fallbacks);
    let fallback = &done.fallbacks[0];
    assert_eq!(
        (
            fallback.server.as_str(),
            fallback.from.as_str(),
            fallback.to.as_str()
        ),
        ("moved-cp-1", "fsn1", "nbg1")
    );
    assert_eq!(
        fallback.reason,
        "resource_unavailable: server location disabled"
    );

    // With nowhere else to go, the error names every refusal.
    let err = client
        .provision(
            Provision {
                what: "servers".into(),
                create: vec![request("moved", 3, network, &image, &["fsn1"])],
                ..Provision::default()
            },
            &quick(4),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoLocation { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("moved-cp-3: fsn1: resource_unavailable: server location disabled"),
        "{err}"
    );
}

#[tokio::test]
async fn servers_that_are_off_are_powered_on_again_until_they_run() {
    let sim = start_with(|c| c.faults = "action_error=0.3,seed=9".parse().unwrap()).await;
    let client = sim.client();
    let (network, image) = ground(&client, "dark").await;
    let first = client
        .provision(
            Provision {
                what: "servers".into(),
                create: vec![request("dark", 1, network, &image, &["fsn1"])],
                ..Provision::default()
            },
            &quick(20),
        )
        .await
        .unwrap();
    let id = first.created[0].id;
    // Power-offs fail too: the sim puts the status back, so try until it is off.
    let mut server = client.get_server(id).await.unwrap().unwrap();
    for _ in 0..20 {
        if server.status == ServerStatus::Off {
            break;
        }
        let off = client.poweroff_server(id).await.unwrap();
        let _ = client.settle_actions("power off", vec![off]).await.unwrap();
        server = client.get_server(id).await.unwrap().unwrap();
    }
    assert_eq!(server.status, ServerStatus::Off);
    client
        .provision(
            Provision {
                what: "servers".into(),
                power_on: vec![server],
                ..Provision::default()
            },
            &quick(20),
        )
        .await
        .unwrap();
    assert_eq!(
        servers(&sim).await,
        [("dark-cp-1".into(), "running".into(), "fsn1".into())]
    );
}
