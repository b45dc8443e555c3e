//! `/volumes`: create (in a location or for a server), the `creating` → `available` action,
//! lists with filters and pages, update, attach/detach/resize/protection, delete rules, and the
//! servers' `volumes` field.

use hcloud::apis::servers_api::{DeleteServerParams, GetServerParams, delete_server, get_server};
use hcloud::apis::volumes_api::*;
use hcloud::models;

use super::support::*;

async fn volume(sim: &Sim, name: &str, size: i32, labels: &[(&str, &str)]) -> models::Volume {
    let request = models::CreateVolumeRequest {
        name: name.into(),
        size,
        location: Some("fsn1".into()),
        labels: Some(
            labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..Default::default()
    };
    let created = create_volume(
        &sim.cfg,
        CreateVolumeParams {
            create_volume_request: request,
        },
    )
    .await
    .unwrap();
    assert_eq!(created.action.command, "create_volume");
    assert!(created.next_actions.is_empty());
    wait_action(&sim.cfg, created.action.id).await;
    *created.volume
}

async fn get(sim: &Sim, id: i64) -> models::Volume {
    *get_volume(&sim.cfg, GetVolumeParams { id })
        .await
        .unwrap()
        .volume
}

#[tokio::test]
async fn a_volume_is_creating_until_its_action_finishes() {
    let sim = start_realistic().await;
    let request = models::CreateVolumeRequest {
        name: "data".into(),
        size: 10,
        location: Some("nbg1".into()),
        format: Some("ext4".into()),
        ..Default::default()
    };
    let created = create_volume(
        &sim.cfg,
        CreateVolumeParams {
            create_volume_request: request,
        },
    )
    .await
    .unwrap();
    let v = &created.volume;
    assert_eq!(v.status, models::volume::Status::Creating);
    assert_eq!(v.location.name, "nbg1");
    assert_eq!(v.format.as_deref(), Some("ext4"));
    assert_eq!(v.server, None);
    assert_eq!(
        v.linux_device,
        format!("/dev/disk/by-id/scsi-0HC_Volume_{}", v.id)
    );
    assert_eq!(created.action.status, models::action::Status::Running);
    sim.advance(10);
    assert_eq!(
        get(&sim, v.id).await.status,
        models::volume::Status::Available
    );
}

#[tokio::test]
async fn create_validates_size_name_format_and_placement() {
    let sim = start().await;
    let try_create = |request: models::CreateVolumeRequest| {
        let cfg = sim.cfg.clone();
        async move {
            api_error(
                create_volume(
                    &cfg,
                    CreateVolumeParams {
                        create_volume_request: request,
                    },
                )
                .await,
            )
        }
    };
    let base = models::CreateVolumeRequest {
        name: "data".into(),
        size: 10,
        location: Some("fsn1".into()),
        ..Default::default()
    };
    let (status, error) = try_create(models::CreateVolumeRequest {
        size: 9,
        ..base.clone()
    })
    .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("invalid_input"))
    );
    assert_eq!(error["details"]["fields"][0]["name"], "size");
    let (_, error) = try_create(models::CreateVolumeRequest {
        size: 10_241,
        ..base.clone()
    })
    .await;
    assert_eq!(error["details"]["fields"][0]["name"], "size");
    let (_, error) = try_create(models::CreateVolumeRequest {
        name: "-bad".into(),
        ..base.clone()
    })
    .await;
    assert_eq!(error["details"]["fields"][0]["name"], "name");
    let (_, error) = try_create(models::CreateVolumeRequest {
        format: Some("btrfs".into()),
        ..base.clone()
    })
    .await;
    assert_eq!(error["details"]["fields"][0]["name"], "format");
    let (_, error) = try_create(models::CreateVolumeRequest {
        location: None,
        ..base.clone()
    })
    .await;
    assert_eq!(error["details"]["fields"][0]["name"], "location");
    let (_, error) = try_create(models::CreateVolumeRequest {
        automount: Some(true),
        ..base.clone()
    })
    .await;
    assert_eq!(error["details"]["fields"][0]["name"], "automount");

    volume(&sim, "data", 10, &[]).await;
    let (status, error) = try_create(base.clone()).await;
    assert_eq!(
        (status, error["code"].as_str()),
        (409, Some("uniqueness_error"))
    );

    // A server in fsn1 takes no volume from hel1.
    let server = running_server(&sim.cfg, "web").await;
    let (status, error) = try_create(models::CreateVolumeRequest {
        name: "elsewhere".into(),
        location: Some("hel1".into()),
        server: Some(server.id),
        ..base
    })
    .await;
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("invalid_input"))
    );
}

#[tokio::test]
async fn created_for_a_server_it_attaches_and_the_server_lists_it() {
    let sim = start().await;
    let server = running_server(&sim.cfg, "db").await;
    let request = models::CreateVolumeRequest {
        name: "db-data".into(),
        size: 20,
        server: Some(server.id),
        automount: Some(false),
        ..Default::default()
    };
    let created = create_volume(
        &sim.cfg,
        CreateVolumeParams {
            create_volume_request: request,
        },
    )
    .await
    .unwrap();
    assert_eq!(created.volume.location.name, server.location.name);
    assert_eq!(created.volume.server, Some(server.id));
    let commands: Vec<&str> = created
        .next_actions
        .iter()
        .map(|a| a.command.as_str())
        .collect();
    assert_eq!(commands, ["attach_volume"]);
    let resources: Vec<(i64, &str)> = created.next_actions[0]
        .resources
        .iter()
        .map(|r| (r.id, r.r#type.as_str()))
        .collect();
    assert_eq!(
        resources,
        [(created.volume.id, "volume"), (server.id, "server")]
    );
    wait_action(&sim.cfg, created.next_actions[0].id).await;
    let server_now = get_server(&sim.cfg, GetServerParams { id: server.id })
        .await
        .unwrap()
        .server
        .unwrap();
    assert_eq!(server_now.volumes, Some(vec![created.volume.id]));

    // Deleting the server detaches the volume; the volume stays.
    let deleted = delete_server(&sim.cfg, DeleteServerParams { id: server.id })
        .await
        .unwrap();
    wait_action(&sim.cfg, deleted.action.unwrap().id).await;
    let v = get(&sim, created.volume.id).await;
    assert_eq!(v.server, None);
}

#[tokio::test]
async fn list_filters_sorts_and_paginates() {
    let sim = start().await;
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        let owner = if i == 1 { "other" } else { "prod" };
        volume(&sim, name, 10, &[("cluster", owner)]).await;
    }
    let names = |volumes: &[models::Volume]| -> Vec<String> {
        volumes.iter().map(|v| v.name.clone()).collect()
    };
    let selected = list_volumes(
        &sim.cfg,
        ListVolumesParams {
            label_selector: Some("cluster=prod".into()),
            sort: Some(vec!["name:desc".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(names(&selected.volumes), ["c", "a"]);
    let by_name = list_volumes(
        &sim.cfg,
        ListVolumesParams {
            name: Some("b".into()),
            status: Some(vec!["available".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(names(&by_name.volumes), ["b"]);
    let page = list_volumes(
        &sim.cfg,
        ListVolumesParams {
            page: Some(2),
            per_page: Some(2),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(names(&page.volumes), ["c"]);
    assert_eq!(page.meta.pagination.total_entries, Some(3));
    assert_eq!(page.meta.pagination.previous_page, Some(1));
    let (status, _) = api_error(
        list_volumes(
            &sim.cfg,
            ListVolumesParams {
                status: Some(vec!["gone".into()]),
                ..Default::default()
            },
        )
        .await,
    );
    assert_eq!(status, 400);
}

#[tokio::test]
async fn attach_detach_resize_protect_and_delete() {
    let sim = start().await;
    let server = running_server(&sim.cfg, "app").await;
    let v = volume(&sim, "app-data", 10, &[]).await;

    let renamed = replace_volume(
        &sim.cfg,
        ReplaceVolumeParams {
            id: v.id,
            replace_volume_request: models::ReplaceVolumeRequest {
                name: Some("app-data-1".into()),
                labels: Some([("tier".to_string(), "db".to_string())].into()),
            },
        },
    )
    .await
    .unwrap();
    assert_eq!(renamed.volume.name, "app-data-1");
    assert_eq!(renamed.volume.labels["tier"], "db");

    let attached = attach_volume_to_server(
        &sim.cfg,
        AttachVolumeToServerParams {
            id: v.id,
            attach_volume_to_server_request: models::AttachVolumeToServerRequest {
                server: server.id,
                automount: None,
            },
        },
    )
    .await
    .unwrap();
    assert_eq!(attached.action.command, "attach_volume");
    wait_action(&sim.cfg, attached.action.id).await;
    assert_eq!(get(&sim, v.id).await.server, Some(server.id));

    // Attached: a second attach and a delete are refused with Hetzner's codes.
    let (status, error) = api_error(
        attach_volume_to_server(
            &sim.cfg,
            AttachVolumeToServerParams {
                id: v.id,
                attach_volume_to_server_request: models::AttachVolumeToServerRequest {
                    server: server.id,
                    automount: None,
                },
            },
        )
        .await,
    );
    assert_eq!(
        (status, error["code"].as_str()),
        (422, Some("volume_already_attached"))
    );
    let (status, error) = api_error(delete_volume(&sim.cfg, DeleteVolumeParams { id: v.id }).await);
    assert_eq!(
        (status, error["code"].as_str()),
        (422, Some("service_error"))
    );
    assert_eq!(
        error["message"],
        format!("volume with ID '{}' is still attached to a server", v.id)
    );

    // Resize grows only.
    let resized = resize_volume(
        &sim.cfg,
        ResizeVolumeParams {
            id: v.id,
            resize_volume_request: models::ResizeVolumeRequest { size: 30.0 },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, resized.action.id).await;
    assert_eq!(get(&sim, v.id).await.size, 30.0);
    let (status, error) = api_error(
        resize_volume(
            &sim.cfg,
            ResizeVolumeParams {
                id: v.id,
                resize_volume_request: models::ResizeVolumeRequest { size: 20.0 },
            },
        )
        .await,
    );
    assert_eq!(
        (status, error["code"].as_str()),
        (400, Some("invalid_input"))
    );

    let detached = detach_volume(&sim.cfg, DetachVolumeParams { id: v.id })
        .await
        .unwrap();
    wait_action(&sim.cfg, detached.action.id).await;
    assert_eq!(get(&sim, v.id).await.server, None);

    let protected = change_volume_protection(
        &sim.cfg,
        ChangeVolumeProtectionParams {
            id: v.id,
            change_volume_protection_request: models::ChangeVolumeProtectionRequest {
                delete: Some(true),
            },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, protected.action.id).await;
    assert!(get(&sim, v.id).await.protection.delete);
    let (status, error) = api_error(delete_volume(&sim.cfg, DeleteVolumeParams { id: v.id }).await);
    assert_eq!((status, error["code"].as_str()), (403, Some("protected")));
    change_volume_protection(
        &sim.cfg,
        ChangeVolumeProtectionParams {
            id: v.id,
            change_volume_protection_request: models::ChangeVolumeProtectionRequest {
                delete: Some(false),
            },
        },
    )
    .await
    .unwrap();

    let actions = list_actions_for_volume(
        &sim.cfg,
        ListActionsForVolumeParams {
            id: v.id,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let commands: Vec<&str> = actions.actions.iter().map(|a| a.command.as_str()).collect();
    assert_eq!(
        commands,
        [
            "create_volume",
            "attach_volume",
            "resize_volume",
            "detach_volume",
            "change_protection",
            "change_protection"
        ]
    );

    delete_volume(&sim.cfg, DeleteVolumeParams { id: v.id })
        .await
        .unwrap();
    let (status, error) = api_error(get_volume(&sim.cfg, GetVolumeParams { id: v.id }).await);
    assert_eq!((status, error["code"].as_str()), (404, Some("not_found")));
}
