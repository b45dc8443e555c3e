//! Server actions: power, rescue, images, rebuild, type change, networks, placement groups,
//! protection, and the per-server action lists.

use hcloud::apis::actions_api::{GetMultipleActionsParams, get_multiple_actions};
use hcloud::apis::images_api::{GetImageParams, get_image};
use hcloud::apis::networks_api::{CreateNetworkParams, create_network};
use hcloud::apis::placement_groups_api::{CreatePlacementgroupParams, create_placementgroup};
use hcloud::apis::servers_api::*;
use hcloud::models;

use super::support::*;

async fn status(sim: &Sim, id: i64) -> models::server::Status {
    get_server(&sim.cfg, GetServerParams { id })
        .await
        .unwrap()
        .server
        .unwrap()
        .status
}

#[tokio::test]
async fn power_actions_move_the_server_through_its_states() {
    let sim = start().await;
    let id = running_server(&sim.cfg, "p").await.id;
    let off = power_off_server(&sim.cfg, PowerOffServerParams { id })
        .await
        .unwrap()
        .action;
    assert_eq!(off.command, "stop_server");
    assert_eq!(off.resources[0].id, id);
    assert_eq!(off.resources[0].r#type, "server");
    wait_action(&sim.cfg, off.id).await;
    assert_eq!(status(&sim, id).await, models::server::Status::Off);
    let on = power_on_server(&sim.cfg, PowerOnServerParams { id })
        .await
        .unwrap()
        .action;
    assert_eq!(on.command, "start_server");
    wait_action(&sim.cfg, on.id).await;
    assert_eq!(status(&sim, id).await, models::server::Status::Running);
    let shutdown = shutdown_server(&sim.cfg, ShutdownServerParams { id })
        .await
        .unwrap()
        .action;
    assert_eq!(shutdown.command, "shutdown_server");
    wait_action(&sim.cfg, shutdown.id).await;
    assert_eq!(status(&sim, id).await, models::server::Status::Off);
    let on = power_on_server(&sim.cfg, PowerOnServerParams { id })
        .await
        .unwrap()
        .action;
    wait_action(&sim.cfg, on.id).await;
    let reboot = soft_reboot_server(&sim.cfg, SoftRebootServerParams { id })
        .await
        .unwrap()
        .action;
    assert_eq!(reboot.command, "reboot_server");
    wait_action(&sim.cfg, reboot.id).await;
    let reset = reset_server(&sim.cfg, ResetServerParams { id })
        .await
        .unwrap()
        .action;
    assert_eq!(reset.command, "reset_server");
    wait_action(&sim.cfg, reset.id).await;
    assert_eq!(status(&sim, id).await, models::server::Status::Running);

    // Every action is listed for the server, newest last, and can be polled in one batch.
    let listed = list_actions_for_server(
        &sim.cfg,
        ListActionsForServerParams {
            id,
            per_page: Some(50),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let commands: Vec<_> = listed.actions.iter().map(|a| a.command.as_str()).collect();
    assert_eq!(
        commands,
        [
            "create_server",
            "start_server",
            "stop_server",
            "start_server",
            "shutdown_server",
            "start_server",
            "reboot_server",
            "reset_server"
        ]
    );
    let ids: Vec<i64> = listed.actions.iter().map(|a| a.id).collect();
    let batch = get_multiple_actions(
        &sim.cfg,
        GetMultipleActionsParams {
            id: ids[..3].to_vec(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        batch.actions.iter().map(|a| a.id).collect::<Vec<_>>(),
        ids[..3]
    );
    let one = get_action_for_server(
        &sim.cfg,
        GetActionForServerParams {
            id,
            action_id: ids[2],
        },
    )
    .await
    .unwrap();
    assert_eq!(one.action.command, "stop_server");
}

#[tokio::test]
async fn rescue_image_and_rebuild() {
    let sim = start().await;
    let server = running_server(&sim.cfg, "r").await;
    let id = server.id;
    let rescue = enable_rescue_mode_for_server(
        &sim.cfg,
        EnableRescueModeForServerParams {
            id,
            enable_rescue_mode_for_server_request: models::EnableRescueModeForServerRequest {
                ssh_keys: None,
                r#type: None,
            },
        },
    )
    .await
    .unwrap();
    assert!(!rescue.root_password.unwrap_or_default().is_empty());
    wait_action(&sim.cfg, rescue.action.unwrap().id).await;
    assert!(
        get_server(&sim.cfg, GetServerParams { id })
            .await
            .unwrap()
            .server
            .unwrap()
            .rescue_enabled
    );
    let disable = disable_rescue_mode_for_server(&sim.cfg, DisableRescueModeForServerParams { id })
        .await
        .unwrap();
    wait_action(&sim.cfg, disable.action.id).await;
    assert!(
        !get_server(&sim.cfg, GetServerParams { id })
            .await
            .unwrap()
            .server
            .unwrap()
            .rescue_enabled
    );

    let snapshot = create_image_from_server(
        &sim.cfg,
        CreateImageFromServerParams {
            id,
            create_image_from_server_request: models::CreateImageFromServerRequest {
                description: Some("talos v1.13.9".into()),
                labels: Some([("hk8s.io/talos-version".to_string(), "v1.13.9".to_string())].into()),
                r#type: Some(models::create_image_from_server_request::Type::Snapshot),
            },
        },
    )
    .await
    .unwrap();
    let image = snapshot.image.unwrap();
    assert_eq!(image.status, models::image::Status::Creating);
    assert_eq!(image.created_from.as_ref().unwrap().id, id);
    wait_action(&sim.cfg, snapshot.action.unwrap().id).await;
    let image = *get_image(&sim.cfg, GetImageParams { id: image.id })
        .await
        .unwrap()
        .image
        .unwrap();
    assert_eq!(image.status, models::image::Status::Available);
    assert_eq!(image.r#type, models::image::Type::Snapshot);
    assert_eq!(image.architecture, models::Architecture::X86);
    assert_eq!(image.labels["hk8s.io/talos-version"], "v1.13.9");

    let rebuild = rebuild_server_from_image(
        &sim.cfg,
        RebuildServerFromImageParams {
            id,
            rebuild_server_from_image_request: models::RebuildServerFromImageRequest {
                image: image.id.to_string(),
            },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, rebuild.action.unwrap().id).await;
    let rebuilt = get_server(&sim.cfg, GetServerParams { id })
        .await
        .unwrap()
        .server
        .unwrap();
    assert_eq!(rebuilt.image.unwrap().id, image.id);
    assert_eq!(rebuilt.status, models::server::Status::Running);
}

#[tokio::test]
async fn change_type_needs_a_stopped_server_of_the_same_architecture() {
    let sim = start().await;
    let id = running_server(&sim.cfg, "t").await.id;
    let change = |server_type: &str| ChangeTypeOfServerParams {
        id,
        change_type_of_server_request: models::ChangeTypeOfServerRequest {
            server_type: server_type.into(),
            upgrade_disk: true,
        },
    };
    let (status_code, err) = api_error(change_type_of_server(&sim.cfg, change("cx33")).await);
    assert_eq!(
        (status_code, err["code"].as_str()),
        (422, Some("server_not_stopped"))
    );
    let off = power_off_server(&sim.cfg, PowerOffServerParams { id })
        .await
        .unwrap();
    wait_action(&sim.cfg, off.action.id).await;
    assert_eq!(
        api_error(change_type_of_server(&sim.cfg, change("cax21")).await).1["code"],
        "invalid_input"
    );
    let ok = change_type_of_server(&sim.cfg, change("cx33"))
        .await
        .unwrap();
    assert_eq!(ok.action.command, "change_server_type");
    wait_action(&sim.cfg, ok.action.id).await;
    let server = get_server(&sim.cfg, GetServerParams { id })
        .await
        .unwrap()
        .server
        .unwrap();
    assert_eq!(
        (server.server_type.name.as_str(), server.primary_disk_size),
        ("cx33", 80)
    );
}

#[tokio::test]
async fn attach_and_detach_network_allocate_private_ips() {
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
    let a = running_server(&sim.cfg, "a").await.id;
    let b = running_server(&sim.cfg, "b").await.id;
    let attach = |id, ip: Option<&str>| AttachServerToNetworkParams {
        id,
        attach_server_to_network_request: models::AttachServerToNetworkRequest {
            network: network.id,
            ip: ip.map(Into::into),
            ..Default::default()
        },
    };
    let action = attach_server_to_network(&sim.cfg, attach(a, None))
        .await
        .unwrap()
        .action;
    assert_eq!(action.command, "attach_to_network");
    wait_action(&sim.cfg, action.id).await;
    let action = attach_server_to_network(&sim.cfg, attach(b, Some("10.0.1.77")))
        .await
        .unwrap()
        .action;
    wait_action(&sim.cfg, action.id).await;
    let ip_of = |s: models::Server| s.private_net[0].ip.clone().unwrap();
    assert_eq!(
        ip_of(
            *get_server(&sim.cfg, GetServerParams { id: a })
                .await
                .unwrap()
                .server
                .unwrap()
        ),
        "10.0.1.1"
    );
    assert_eq!(
        ip_of(
            *get_server(&sim.cfg, GetServerParams { id: b })
                .await
                .unwrap()
                .server
                .unwrap()
        ),
        "10.0.1.77"
    );
    assert_eq!(
        api_error(attach_server_to_network(&sim.cfg, attach(a, None)).await).1["code"],
        "server_already_attached"
    );
    let c = running_server(&sim.cfg, "c").await.id;
    assert_eq!(
        api_error(attach_server_to_network(&sim.cfg, attach(c, Some("10.0.1.77"))).await).1["code"],
        "ip_not_available"
    );

    let detach = detach_server_from_network(
        &sim.cfg,
        DetachServerFromNetworkParams {
            id: a,
            detach_server_from_network_request: models::DetachServerFromNetworkRequest {
                network: network.id,
            },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, detach.action.id).await;
    assert!(
        get_server(&sim.cfg, GetServerParams { id: a })
            .await
            .unwrap()
            .server
            .unwrap()
            .private_net
            .is_empty()
    );
}

#[tokio::test]
async fn placement_groups_hold_at_most_ten_servers() {
    let sim = start().await;
    let pg = create_placementgroup(
        &sim.cfg,
        CreatePlacementgroupParams {
            create_placementgroup_request: models::CreatePlacementgroupRequest {
                name: "spread".into(),
                r#type: models::create_placementgroup_request::Type::Spread,
                labels: None,
            },
        },
    )
    .await
    .unwrap()
    .placement_group;
    for i in 0..10 {
        let request = models::CreateServerRequest {
            name: format!("pg-{i}"),
            server_type: "cx23".into(),
            image: "debian-12".into(),
            placement_group: Some(pg.id),
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
    }
    let eleventh = models::CreateServerRequest {
        name: "pg-10".into(),
        server_type: "cx23".into(),
        image: "debian-12".into(),
        placement_group: Some(pg.id),
        ..Default::default()
    };
    let (status_code, err) = api_error(
        create_server(
            &sim.cfg,
            CreateServerParams {
                create_server_request: eleventh,
            },
        )
        .await,
    );
    assert_eq!(
        (status_code, err["code"].as_str()),
        (422, Some("placement_group_member_limit_reached"))
    );
    assert_eq!(
        err["message"],
        format!(
            "placement group with ID {} contains already 10 servers",
            pg.id
        )
    );

    // Through the action: a stopped server can join, the group is full, so it is refused too.
    let loner = running_server(&sim.cfg, "loner").await.id;
    let off = power_off_server(&sim.cfg, PowerOffServerParams { id: loner })
        .await
        .unwrap();
    wait_action(&sim.cfg, off.action.id).await;
    let add = AddServerToPlacementGroupParams {
        id: loner,
        add_server_to_placement_group_request: models::AddServerToPlacementGroupRequest {
            placement_group: pg.id,
        },
    };
    assert_eq!(
        api_error(add_server_to_placement_group(&sim.cfg, add.clone()).await).1["code"],
        "placement_group_member_limit_reached"
    );
    let member = list_servers(
        &sim.cfg,
        ListServersParams {
            name: Some("pg-0".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .servers[0]
        .id;
    let removed =
        remove_from_placement_group(&sim.cfg, RemoveFromPlacementGroupParams { id: member })
            .await
            .unwrap();
    assert_eq!(removed.action.command, "remove_from_placement_group");
    wait_action(&sim.cfg, removed.action.id).await;
    let added = add_server_to_placement_group(&sim.cfg, add).await.unwrap();
    wait_action(&sim.cfg, added.action.id).await;
    let server = get_server(&sim.cfg, GetServerParams { id: loner })
        .await
        .unwrap()
        .server
        .unwrap();
    assert_eq!(server.placement_group.unwrap().unwrap().id, pg.id);
}

#[tokio::test]
async fn action_lists_filter_and_sort() {
    let sim = start().await;
    let a = running_server(&sim.cfg, "a").await.id;
    let off = power_off_server(&sim.cfg, PowerOffServerParams { id: a })
        .await
        .unwrap();
    // Still running in this reply; the status filter sees it as running until the next request.
    assert_eq!(off.action.status, models::action::Status::Running);
    let all = list_server_actions(
        &sim.cfg,
        ListServerActionsParams {
            sort: Some(vec!["command:asc".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let commands: Vec<_> = all.actions.iter().map(|x| x.command.as_str()).collect();
    assert_eq!(commands, ["create_server", "start_server", "stop_server"]);
    let one = get_server_action(&sim.cfg, GetServerActionParams { id: off.action.id })
        .await
        .unwrap();
    assert_eq!(one.action.status, models::action::Status::Success);
    let failed = list_server_actions(
        &sim.cfg,
        ListServerActionsParams {
            status: Some(vec!["error".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(failed.actions.is_empty());
    let bad_sort = list_server_actions(
        &sim.cfg,
        ListServerActionsParams {
            sort: Some(vec!["colour".into()]),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(
        api_error(bad_sort).1["details"]["fields"][0]["name"],
        "sort"
    );
    let unknown = get_server_action(&sim.cfg, GetServerActionParams { id: 1 }).await;
    assert_eq!(api_error(unknown).0, 404);
}
