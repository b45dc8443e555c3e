//! `/networks`: subnets, routes, IP range, protection, private IP allocation, delete rules.

use hcloud::apis::networks_api::*;
use hcloud::apis::servers_api::{AttachServerToNetworkParams, attach_server_to_network};
use hcloud::models;

use super::support::*;

fn subnet(range: Option<&str>, zone: &str) -> models::Subnet {
    models::Subnet {
        ip_range: range.map(Into::into),
        network_zone: zone.into(),
        r#type: models::subnet::Type::Cloud,
        vswitch_id: None,
    }
}

async fn network(sim: &Sim, name: &str) -> models::Network {
    let request = models::CreateNetworkRequest {
        name: name.into(),
        ip_range: "10.0.0.0/16".into(),
        subnets: Some(vec![subnet(Some("10.0.1.0/24"), "eu-central")]),
        routes: Some(vec![models::Route {
            destination: "10.100.0.0/24".into(),
            gateway: "10.0.1.10".into(),
        }]),
        labels: Some([("hk8s.io/cluster".to_string(), "prod".to_string())].into()),
        ..Default::default()
    };
    *create_network(
        &sim.cfg,
        CreateNetworkParams {
            create_network_request: request,
        },
    )
    .await
    .unwrap()
    .network
    .unwrap()
}

#[tokio::test]
async fn create_get_list_update() {
    let sim = start().await;
    let net = network(&sim, "prod").await;
    assert_eq!(net.ip_range, "10.0.0.0/16");
    assert_eq!(net.subnets[0].gateway, "10.0.0.1");
    assert_eq!(net.subnets[0].ip_range.as_deref(), Some("10.0.1.0/24"));
    assert_eq!(net.routes[0].destination, "10.100.0.0/24");
    let got = get_network(&sim.cfg, GetNetworkParams { id: net.id })
        .await
        .unwrap()
        .network
        .unwrap();
    assert_eq!(got.name, "prod");
    let listed = list_networks(
        &sim.cfg,
        ListNetworksParams {
            label_selector: Some("hk8s.io/cluster=prod".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(listed.networks.len(), 1);
    let renamed = replace_network(
        &sim.cfg,
        ReplaceNetworkParams {
            id: net.id,
            replace_network_request: models::ReplaceNetworkRequest {
                name: Some("prod-2".into()),
                ..Default::default()
            },
        },
    )
    .await
    .unwrap();
    assert_eq!(renamed.network.unwrap().name, "prod-2");

    let dup = models::CreateNetworkRequest {
        name: "prod-2".into(),
        ip_range: "10.1.0.0/16".into(),
        ..Default::default()
    };
    assert_eq!(
        api_error(
            create_network(
                &sim.cfg,
                CreateNetworkParams {
                    create_network_request: dup
                }
            )
            .await
        )
        .1["code"],
        "uniqueness_error"
    );
    let public = models::CreateNetworkRequest {
        name: "pub".into(),
        ip_range: "8.8.0.0/16".into(),
        ..Default::default()
    };
    let (status, err) = api_error(
        create_network(
            &sim.cfg,
            CreateNetworkParams {
                create_network_request: public,
            },
        )
        .await,
    );
    assert_eq!(
        (status, err["details"]["fields"][0]["name"].as_str()),
        (400, Some("ip_range"))
    );
}

#[tokio::test]
async fn subnet_route_and_range_actions() {
    let sim = start().await;
    let net = network(&sim, "n").await;
    let id = net.id;
    let added = add_subnet_to_network(
        &sim.cfg,
        AddSubnetToNetworkParams {
            id,
            subnet: subnet(None, "us-east"),
        },
    )
    .await
    .unwrap();
    assert_eq!(added.action.command, "add_subnet");
    wait_action(&sim.cfg, added.action.id).await;
    let overlapping = add_subnet_to_network(
        &sim.cfg,
        AddSubnetToNetworkParams {
            id,
            subnet: subnet(Some("10.0.1.0/25"), "eu-central"),
        },
    )
    .await;
    assert_eq!(api_error(overlapping).1["code"], "networks_overlap");
    let route = models::Route {
        destination: "10.200.0.0/24".into(),
        gateway: "10.0.1.20".into(),
    };
    let a = add_route_to_network(
        &sim.cfg,
        AddRouteToNetworkParams {
            id,
            route: route.clone(),
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, a.action.id).await;
    let d = delete_route_from_network(&sim.cfg, DeleteRouteFromNetworkParams { id, route })
        .await
        .unwrap();
    wait_action(&sim.cfg, d.action.id).await;
    let grow = change_ip_range_of_network(
        &sim.cfg,
        ChangeIpRangeOfNetworkParams {
            id,
            change_ip_range_of_network_request: models::ChangeIpRangeOfNetworkRequest {
                ip_range: "10.0.0.0/15".into(),
            },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, grow.action.id).await;
    let got = get_network(&sim.cfg, GetNetworkParams { id })
        .await
        .unwrap()
        .network
        .unwrap();
    assert_eq!(got.ip_range, "10.0.0.0/15");
    assert_eq!(got.subnets.len(), 2);
    assert_eq!(
        got.subnets[1].ip_range.as_deref(),
        Some("10.0.0.0/24"),
        "first free /24 is picked"
    );
    assert_eq!(got.subnets[1].network_zone, "us-east");
    assert_eq!(got.routes.len(), 1);
    let deleted = delete_subnet_from_network(
        &sim.cfg,
        DeleteSubnetFromNetworkParams {
            id,
            delete_subnet_from_network_request: models::DeleteSubnetFromNetworkRequest {
                ip_range: "10.0.0.0/24".into(),
            },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, deleted.action.id).await;
    let listed = list_actions_for_network(
        &sim.cfg,
        ListActionsForNetworkParams {
            id,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let commands: Vec<_> = listed.actions.iter().map(|a| a.command.as_str()).collect();
    assert_eq!(
        commands,
        [
            "add_subnet",
            "add_route",
            "delete_route",
            "change_ip_range",
            "delete_subnet"
        ]
    );
}

#[tokio::test]
async fn busy_subnets_and_protected_networks_cannot_be_deleted() {
    let sim = start().await;
    let net = network(&sim, "busy").await;
    let server = running_server(&sim.cfg, "member").await;
    let attach = attach_server_to_network(
        &sim.cfg,
        AttachServerToNetworkParams {
            id: server.id,
            attach_server_to_network_request: models::AttachServerToNetworkRequest {
                network: net.id,
                ..Default::default()
            },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, attach.action.id).await;
    let got = get_network(&sim.cfg, GetNetworkParams { id: net.id })
        .await
        .unwrap()
        .network
        .unwrap();
    assert_eq!(got.servers, [server.id]);
    let busy_subnet = delete_subnet_from_network(
        &sim.cfg,
        DeleteSubnetFromNetworkParams {
            id: net.id,
            delete_subnet_from_network_request: models::DeleteSubnetFromNetworkRequest {
                ip_range: "10.0.1.0/24".into(),
            },
        },
    )
    .await;
    assert_eq!(api_error(busy_subnet).1["code"], "resource_in_use");

    let other = network(&sim, "quiet").await;
    let protect = change_network_protection(
        &sim.cfg,
        ChangeNetworkProtectionParams {
            id: other.id,
            change_network_protection_request: models::ChangeNetworkProtectionRequest {
                delete: Some(true),
            },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, protect.action.id).await;
    assert_eq!(
        api_error(delete_network(&sim.cfg, DeleteNetworkParams { id: other.id }).await).1["code"],
        "protected"
    );
    let unprotect = change_network_protection(
        &sim.cfg,
        ChangeNetworkProtectionParams {
            id: other.id,
            change_network_protection_request: models::ChangeNetworkProtectionRequest {
                delete: Some(false),
            },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, unprotect.action.id).await;
    delete_network(&sim.cfg, DeleteNetworkParams { id: other.id })
        .await
        .unwrap();
    assert_eq!(
        api_error(get_network(&sim.cfg, GetNetworkParams { id: other.id }).await).0,
        404
    );
}

/// "Deletes a Network. Attached resources will be detached automatically." (Hetzner's
/// description of `DELETE /networks/{id}`): a network with a server and a load balancer in it
/// goes, and both lose their interface in it while keeping their others.
#[tokio::test]
async fn deleting_a_network_detaches_its_servers_and_load_balancers() {
    let sim = start().await;
    let doomed = network(&sim, "doomed").await;
    let kept = network(&sim, "kept").await;
    let server = running_server(&sim.cfg, "member").await;
    for net in [doomed.id, kept.id] {
        let attach = attach_server_to_network(
            &sim.cfg,
            AttachServerToNetworkParams {
                id: server.id,
                attach_server_to_network_request: models::AttachServerToNetworkRequest {
                    network: net,
                    ..Default::default()
                },
            },
        )
        .await
        .unwrap();
        wait_action(&sim.cfg, attach.action.id).await;
    }
    let client = &sim.cfg.client;
    let url = |path: &str| format!("{}{path}", sim.endpoint());
    let lb: serde_json::Value = client
        .post(url("/load_balancers"))
        .bearer_auth(TOKEN)
        .json(
            &serde_json::json!({"name": "lb", "load_balancer_type": "lb11", "location": "fsn1",
                                  "network": doomed.id}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lb_id = lb["load_balancer"]["id"].as_i64().expect("a load balancer");
    assert_eq!(lb["load_balancer"]["private_net"][0]["network"], doomed.id);

    delete_network(&sim.cfg, DeleteNetworkParams { id: doomed.id })
        .await
        .expect("a network with attached resources is deleted");
    assert_eq!(
        api_error(get_network(&sim.cfg, GetNetworkParams { id: doomed.id }).await).0,
        404
    );
    let server = hcloud::apis::servers_api::get_server(
        &sim.cfg,
        hcloud::apis::servers_api::GetServerParams { id: server.id },
    )
    .await
    .unwrap()
    .server
    .unwrap();
    let networks: Vec<Option<i64>> = server.private_net.iter().map(|p| p.network).collect();
    assert_eq!(networks, [Some(kept.id)]);
    let lb: serde_json::Value = client
        .get(url(&format!("/load_balancers/{lb_id}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(lb["load_balancer"]["private_net"], serde_json::json!([]));
    let kept = get_network(&sim.cfg, GetNetworkParams { id: kept.id })
        .await
        .unwrap()
        .network
        .unwrap();
    assert_eq!(kept.servers, [server.id]);
}
