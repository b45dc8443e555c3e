//! `/load_balancers`: services with health checks, targets (server, label selector with
//! use_private_ip, ip), algorithm, networks, type, protection, per-service target health.

use hcloud::apis::load_balancers_api::*;
use hcloud::apis::networks_api::{CreateNetworkParams, create_network};
use hcloud::apis::servers_api::{AttachServerToNetworkParams, attach_server_to_network};
use hcloud::models;

use super::support::*;

fn tcp_service(port: i32) -> models::LoadBalancerService {
    models::LoadBalancerService {
        protocol: models::load_balancer_service::Protocol::Tcp,
        listen_port: port,
        destination_port: port,
        proxyprotocol: false,
        health_check: Box::new(models::LoadBalancerServiceHealthCheck {
            protocol: models::load_balancer_service_health_check::Protocol::Tcp,
            port,
            interval: 5,
            timeout: 3,
            retries: 3,
            http: None,
        }),
        http: None,
    }
}

fn selector_target(selector: &str) -> models::LoadBalancerAddTarget {
    models::LoadBalancerAddTarget {
        r#type: models::load_balancer_add_target::Type::LabelSelector,
        label_selector: Some(Box::new(models::LabelSelector {
            selector: selector.into(),
        })),
        use_private_ip: Some(true),
        ..Default::default()
    }
}

#[tokio::test]
async fn api_load_balancer_lifecycle() {
    let sim = start().await;
    let network = create_network(
        &sim.cfg,
        CreateNetworkParams {
            create_network_request: models::CreateNetworkRequest {
                name: "net".into(),
                ip_range: "10.0.0.0/16".into(),
                subnets: Some(vec![models::Subnet {
                    ip_range: Some("10.0.1.0/24".into()),
                    network_zone: "eu-central".into(),
                    r#type: models::subnet::Type::Cloud,
                    vswitch_id: None,
                }]),
                ..Default::default()
            },
        },
    )
    .await
    .unwrap()
    .network
    .unwrap();
    let cp = running_server(&sim.cfg, "cp-1").await;
    let labels = models::ReplaceServerRequest {
        name: None,
        labels: Some([("role".to_string(), "cp".to_string())].into()),
    };
    hcloud::apis::servers_api::replace_server(
        &sim.cfg,
        hcloud::apis::servers_api::ReplaceServerParams {
            id: cp.id,
            replace_server_request: labels,
        },
    )
    .await
    .unwrap();

    // A private-IP target needs the load balancer in a network.
    let orphan = create_load_balancer(
        &sim.cfg,
        CreateLoadBalancerParams {
            create_load_balancer_request: models::CreateLoadBalancerRequest {
                name: "orphan".into(),
                load_balancer_type: "lb11".into(),
                location: Some("fsn1".into()),
                targets: Some(vec![selector_target("role=cp")]),
                ..Default::default()
            },
        },
    )
    .await;
    assert_eq!(
        api_error(orphan).1["code"],
        "load_balancer_not_attached_to_network"
    );

    let created = create_load_balancer(
        &sim.cfg,
        CreateLoadBalancerParams {
            create_load_balancer_request: models::CreateLoadBalancerRequest {
                name: "api".into(),
                load_balancer_type: "lb11".into(),
                location: Some("fsn1".into()),
                network: Some(network.id),
                services: Some(vec![tcp_service(6443)]),
                targets: Some(vec![selector_target("role=cp")]),
                algorithm: Some(Box::new(models::LoadBalancerAlgorithm {
                    r#type: models::load_balancer_algorithm::Type::RoundRobin,
                })),
                labels: Some([("hk8s.io/cluster".to_string(), "prod".to_string())].into()),
                ..Default::default()
            },
        },
    )
    .await
    .unwrap();
    assert_eq!(created.action.command, "create_load_balancer");
    wait_action(&sim.cfg, created.action.id).await;
    let lb = *created.load_balancer;
    let ipv4: std::net::Ipv4Addr = lb
        .public_net
        .ipv4
        .ip
        .clone()
        .flatten()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        ipv4.is_loopback()
            && ipv4
                != cp
                    .public_net
                    .ipv4
                    .as_ref()
                    .unwrap()
                    .ip
                    .parse::<std::net::Ipv4Addr>()
                    .unwrap()
    );
    assert_eq!(lb.private_net[0].ip.as_deref(), Some("10.0.1.1"));
    assert_eq!(lb.load_balancer_type.name, "lb11");

    // The server is not in the network yet: unhealthy; once attached: healthy.
    let health = |lb: &models::LoadBalancer| {
        lb.targets[0].targets.clone().unwrap()[0]
            .health_status
            .clone()
            .unwrap()[0]
            .status
    };
    assert_eq!(
        health(&lb),
        Some(models::load_balancer_target_health_status::Status::Unhealthy)
    );
    let attach = attach_server_to_network(
        &sim.cfg,
        AttachServerToNetworkParams {
            id: cp.id,
            attach_server_to_network_request: models::AttachServerToNetworkRequest {
                network: network.id,
                ..Default::default()
            },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, attach.action.id).await;
    let lb = get_load_balancer(&sim.cfg, GetLoadBalancerParams { id: lb.id })
        .await
        .unwrap()
        .load_balancer;
    assert_eq!(
        health(&lb),
        Some(models::load_balancer_target_health_status::Status::Healthy)
    );
    assert!(
        lb.targets[0].health_status.is_none(),
        "selector targets report health per matched server"
    );

    let id = lb.id;
    let add = add_service(
        &sim.cfg,
        AddServiceParams {
            id,
            load_balancer_service: tcp_service(50000),
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, add.action.id).await;
    assert_eq!(
        api_error(
            add_service(
                &sim.cfg,
                AddServiceParams {
                    id,
                    load_balancer_service: tcp_service(50000)
                }
            )
            .await
        )
        .1["code"],
        "source_port_already_used"
    );
    let update = update_service(
        &sim.cfg,
        UpdateServiceParams {
            id,
            update_load_balancer_service: models::UpdateLoadBalancerService {
                listen_port: 50000,
                destination_port: Some(50001),
                ..Default::default()
            },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, update.action.id).await;
    let ip_target = models::LoadBalancerAddTarget {
        r#type: models::load_balancer_add_target::Type::Ip,
        ip: Some(Box::new(models::LoadBalancerTargetIp {
            ip: "203.0.113.5".into(),
        })),
        ..Default::default()
    };
    let added = add_target(
        &sim.cfg,
        AddTargetParams {
            id,
            load_balancer_add_target: ip_target,
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, added.action.id).await;
    let server_target = models::LoadBalancerAddTarget {
        r#type: models::load_balancer_add_target::Type::Server,
        server: Some(Box::new(models::ResourceId { id: cp.id })),
        use_private_ip: Some(true),
        ..Default::default()
    };
    let added = add_target(
        &sim.cfg,
        AddTargetParams {
            id,
            load_balancer_add_target: server_target,
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, added.action.id).await;
    let algo = change_algorithm(
        &sim.cfg,
        ChangeAlgorithmParams {
            id,
            body: models::LoadBalancerAlgorithm {
                r#type: models::load_balancer_algorithm::Type::LeastConnections,
            },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, algo.action.id).await;
    let bigger = change_type_of_load_balancer(
        &sim.cfg,
        ChangeTypeOfLoadBalancerParams {
            id,
            change_type_of_load_balancer_request: models::ChangeTypeOfLoadBalancerRequest {
                load_balancer_type: "lb21".into(),
            },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, bigger.action.id).await;
    let lb = get_load_balancer(&sim.cfg, GetLoadBalancerParams { id })
        .await
        .unwrap()
        .load_balancer;
    assert_eq!(lb.services.len(), 2);
    assert_eq!(lb.services[1].destination_port, 50001);
    assert_eq!(lb.targets.len(), 3);
    assert_eq!(
        lb.algorithm.r#type,
        models::load_balancer_algorithm::Type::LeastConnections
    );
    assert_eq!(lb.load_balancer_type.name, "lb21");
    let server = hcloud::apis::servers_api::get_server(
        &sim.cfg,
        hcloud::apis::servers_api::GetServerParams { id: cp.id },
    )
    .await
    .unwrap()
    .server
    .unwrap();
    assert_eq!(server.load_balancers, Some(vec![id]));

    // (Deleting the network would detach the load balancer: see
    // `networks::deleting_a_network_detaches_its_servers_and_load_balancers`.)
    let removed = remove_target(
        &sim.cfg,
        RemoveTargetParams {
            id,
            remove_target_request: models::RemoveTargetRequest {
                r#type: models::remove_target_request::Type::Ip,
                ip: Some(Box::new(models::LoadBalancerTargetIp {
                    ip: "203.0.113.5".into(),
                })),
                ..Default::default()
            },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, removed.action.id).await;
    let deleted = delete_service(
        &sim.cfg,
        DeleteServiceParams {
            id,
            delete_service_request: models::DeleteServiceRequest { listen_port: 50000 },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, deleted.action.id).await;
    let protect = change_load_balancer_protection(
        &sim.cfg,
        ChangeLoadBalancerProtectionParams {
            id,
            change_load_balancer_protection_request: models::ChangeLoadBalancerProtectionRequest {
                delete: Some(true),
            },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, protect.action.id).await;
    assert_eq!(
        api_error(delete_load_balancer(&sim.cfg, DeleteLoadBalancerParams { id }).await).1["code"],
        "protected"
    );
    let unprotect = change_load_balancer_protection(
        &sim.cfg,
        ChangeLoadBalancerProtectionParams {
            id,
            change_load_balancer_protection_request: models::ChangeLoadBalancerProtectionRequest {
                delete: Some(false),
            },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, unprotect.action.id).await;
    let detach = detach_load_balancer_from_network(
        &sim.cfg,
        DetachLoadBalancerFromNetworkParams {
            id,
            detach_load_balancer_from_network_request:
                models::DetachLoadBalancerFromNetworkRequest {
                    network: network.id,
                },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, detach.action.id).await;
    let listed = list_load_balancers(
        &sim.cfg,
        ListLoadBalancersParams {
            label_selector: Some("hk8s.io/cluster=prod".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(listed.load_balancers.len(), 1);
    delete_load_balancer(&sim.cfg, DeleteLoadBalancerParams { id })
        .await
        .unwrap();
    assert_eq!(
        api_error(get_load_balancer(&sim.cfg, GetLoadBalancerParams { id }).await).0,
        404
    );
    let actions = list_actions_for_load_balancer(
        &sim.cfg,
        ListActionsForLoadBalancerParams {
            id: lb.id,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(api_error(actions).0, 404);
}

#[tokio::test]
async fn attach_action_and_public_interface() {
    let sim = start().await;
    let network = create_network(
        &sim.cfg,
        CreateNetworkParams {
            create_network_request: models::CreateNetworkRequest {
                name: "n".into(),
                ip_range: "10.0.0.0/16".into(),
                subnets: Some(vec![models::Subnet {
                    ip_range: Some("10.0.2.0/24".into()),
                    network_zone: "us-east".into(),
                    r#type: models::subnet::Type::Cloud,
                    vswitch_id: None,
                }]),
                ..Default::default()
            },
        },
    )
    .await
    .unwrap()
    .network
    .unwrap();
    let created = create_load_balancer(
        &sim.cfg,
        CreateLoadBalancerParams {
            create_load_balancer_request: models::CreateLoadBalancerRequest {
                name: "lb".into(),
                load_balancer_type: "lb11".into(),
                network_zone: Some("us-east".into()),
                ..Default::default()
            },
        },
    )
    .await
    .unwrap();
    let id = created.load_balancer.id;
    assert_eq!(created.load_balancer.location.name, "ash");
    // Without a network the public interface must stay.
    let refused = disable_public_interface_of_load_balancer(
        &sim.cfg,
        DisablePublicInterfaceOfLoadBalancerParams { id },
    )
    .await;
    assert_eq!(
        api_error(refused).1["code"],
        "load_balancer_not_attached_to_network"
    );
    let attach = attach_load_balancer_to_network(
        &sim.cfg,
        AttachLoadBalancerToNetworkParams {
            id,
            attach_load_balancer_to_network_request: models::AttachLoadBalancerToNetworkRequest {
                network: network.id,
                ip: Some("10.0.2.5".into()),
                ip_range: None,
            },
        },
    )
    .await
    .unwrap();
    assert_eq!(attach.action.command, "attach_load_balancer_to_network");
    wait_action(&sim.cfg, attach.action.id).await;
    let disabled = disable_public_interface_of_load_balancer(
        &sim.cfg,
        DisablePublicInterfaceOfLoadBalancerParams { id },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, disabled.action.id).await;
    let lb = get_load_balancer(&sim.cfg, GetLoadBalancerParams { id })
        .await
        .unwrap()
        .load_balancer;
    assert!(!lb.public_net.enabled);
    assert_eq!(lb.private_net[0].ip.as_deref(), Some("10.0.2.5"));
    let enabled = enable_public_interface_of_load_balancer(
        &sim.cfg,
        EnablePublicInterfaceOfLoadBalancerParams { id },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, enabled.action.id).await;
    assert!(
        get_load_balancer(&sim.cfg, GetLoadBalancerParams { id })
            .await
            .unwrap()
            .load_balancer
            .public_net
            .enabled
    );
    let listed = list_load_balancer_actions(
        &sim.cfg,
        ListLoadBalancerActionsParams {
            sort: Some(vec!["id:desc".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let commands: Vec<_> = listed.actions.iter().map(|a| a.command.as_str()).collect();
    assert_eq!(
        commands,
        [
            "enable_public_interface",
            "disable_public_interface",
            "attach_load_balancer_to_network",
            "create_load_balancer"
        ]
    );
    let one = get_load_balancer_action(
        &sim.cfg,
        GetLoadBalancerActionParams {
            id: listed.actions[0].id,
        },
    )
    .await
    .unwrap();
    assert_eq!(one.action.command, "enable_public_interface");
}
