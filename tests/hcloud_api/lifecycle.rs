//! Create → wait → list by labels → delete for a whole control plane, twice-run ensures, and the
//! batched waiter.

use hk8s::hcloud::labels::{Role, Selector};
use hk8s::hcloud::load_balancers::Target;

use super::fixture::{delete_control_plane, ensure_control_plane};
use super::support::start;

#[tokio::test]
async fn control_plane_objects_are_created_listed_and_deleted() {
    let sim = start().await;
    let client = sim.client();
    let cp = ensure_control_plane(&client, "prod", 3).await.unwrap();
    // 3 × (create_server, start_server) + firewall rules/apply + LB create: awaited together.
    // (Networks given at create attach within create_server, as on Hetzner.)
    assert!(cp.actions.len() >= 9, "{:?}", cp.actions);
    let polls_before = sim.requests("GET /actions").await;
    client
        .wait_for_actions("create control plane", cp.actions.clone())
        .await
        .unwrap();
    assert_eq!(
        sim.requests("GET /actions").await - polls_before,
        1,
        "all actions settle in one batched poll"
    );
    assert_eq!(sim.requests("GET /actions/{id}").await, 0);

    let selector = Selector::cluster("prod").role(Role::ControlPlane);
    let servers = client.list_servers(&selector).await.unwrap();
    assert_eq!(servers.len(), 3);
    for server in &servers {
        assert_eq!(format!("{:?}", server.status), "Running", "{}", server.name);
        assert!(server.private_ip(cp.network).is_some());
        assert_eq!(
            server.placement_group.as_ref().map(|p| p.id),
            Some(cp.placement_group)
        );
        assert!(
            server
                .public_net
                .firewalls
                .iter()
                .any(|f| f.id == cp.firewall),
            "firewall applies through its label selector"
        );
    }
    let networks = client
        .list_networks(&Selector::cluster("prod"))
        .await
        .unwrap();
    assert_eq!(networks.len(), 1);
    assert_eq!(networks[0].subnets[0].ip_range, "10.0.1.0/24");
    let lbs = client
        .list_load_balancers(&Selector::cluster("prod"))
        .await
        .unwrap();
    assert_eq!(lbs.len(), 1);
    let lb = &lbs[0];
    let ports: Vec<u16> = lb.services.iter().map(|s| s.listen_port).collect();
    assert_eq!(ports, [6443, 50000]);
    assert_eq!(lb.targets, [Target::private_selector(&selector)]);
    assert!(lb.private_ip(cp.network).is_some());
    assert_eq!(client.list_firewalls(&selector).await.unwrap().len(), 1);
    assert_eq!(
        client.list_placement_groups(&selector).await.unwrap()[0]
            .servers
            .len(),
        3
    );
    let state = sim.state().await;
    let user_data = state["servers"][0]["user_data"].as_str().unwrap();
    assert!(user_data.starts_with("#talos machine config"));

    delete_control_plane(&client, &cp).await.unwrap();
    for kind in [
        "servers",
        "networks",
        "firewalls",
        "load_balancers",
        "placement_groups",
    ] {
        assert!(
            sim.labelled(kind, "prod").await.is_empty(),
            "{kind} left behind"
        );
    }
    // Deleting what is gone is success.
    delete_control_plane(&client, &cp).await.unwrap();
}

#[tokio::test]
async fn ensure_twice_creates_no_duplicates() {
    let sim = start().await;
    let client = sim.client();
    let first = ensure_control_plane(&client, "prod", 3).await.unwrap();
    // Servers are created without a name lookup: one request each.
    assert_eq!(
        (
            sim.requests("POST /servers").await,
            sim.requests("GET /servers").await
        ),
        (3, 0)
    );
    // Second run while the first run's actions are still unsettled, as after a killed apply:
    // Hetzner says each name is taken, and the server of that name is adopted.
    let second = ensure_control_plane(&client, "prod", 3).await.unwrap();
    assert_eq!(
        (
            sim.requests("POST /servers").await,
            sim.requests("GET /servers").await
        ),
        (6, 3)
    );
    assert_eq!(
        (
            first.network,
            first.firewall,
            first.placement_group,
            first.load_balancer,
            &first.servers
        ),
        (
            second.network,
            second.firewall,
            second.placement_group,
            second.load_balancer,
            &second.servers
        )
    );
    client
        .wait_for_actions("second run", second.actions)
        .await
        .unwrap();
    let third = ensure_control_plane(&client, "prod", 3).await.unwrap();
    assert!(
        third.actions.is_empty(),
        "nothing to wait for once settled: {:?}",
        third.actions
    );
    for (kind, want) in [
        ("servers", 3),
        ("networks", 1),
        ("firewalls", 1),
        ("load_balancers", 1),
        ("placement_groups", 1),
    ] {
        assert_eq!(sim.labelled(kind, "prod").await.len(), want, "{kind}");
    }
    let lb = &sim.labelled("load_balancers", "prod").await[0];
    assert_eq!(lb["services"].as_array().unwrap().len(), 2);
    assert_eq!(lb["targets"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn waiter_polls_many_actions_in_batches_of_50() {
    let sim = start().await;
    let client = sim.client();
    // Three clusters (a placement group holds at most 10 servers): 27 × (create, start) plus
    // each cluster's LB and firewall actions: more than one batch of 50, less than two.
    let mut actions = Vec::new();
    for cluster in ["big", "big2", "big3"] {
        actions.extend(
            ensure_control_plane(&client, cluster, 9)
                .await
                .unwrap()
                .actions,
        );
    }
    let total = actions.len();
    assert!((51..=100).contains(&total), "{total}");
    let before = sim.requests("GET /actions").await;
    let settled = client
        .settle_actions("create 27 servers", actions)
        .await
        .unwrap();
    assert_eq!(settled.succeeded.len(), total);
    assert!(settled.failed.is_empty());
    assert_eq!(sim.requests("GET /actions").await - before, 2);
    assert_eq!(sim.requests("GET /actions/{id}").await, 0);
}

#[tokio::test]
async fn actions_the_api_does_not_know_fail_instead_of_hanging() {
    let sim = start().await;
    let client = sim.client();
    let ghost: hk8s::hcloud::Action = serde_json::from_value(serde_json::json!({
        "id": 987_654, "command": "create_server", "status": "running",
        "resources": [{"id": 5, "type": "server"}],
    }))
    .unwrap();
    let settled = client.settle_actions("ghost", vec![ghost]).await.unwrap();
    assert_eq!(settled.failed.len(), 1);
    assert_eq!(settled.failed[0].code, "not_found");
    assert_eq!(sim.requests("GET /actions").await, 3);
}
