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
async fn networks_in_use_or_protected_cannot_be_deleted() {
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
    let (status, err) =
        api_error(delete_network(&sim.cfg, DeleteNetworkParams { id: net.id }).await);
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("resource_in_use"))
    );
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
