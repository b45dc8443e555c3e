//! `/images` (system images, Talos snapshots, updates, protection), `/ssh_keys`, `/placement_groups`.

use hcloud::apis::images_api::*;
use hcloud::apis::placement_groups_api::*;
use hcloud::apis::ssh_keys_api::*;
use hcloud::models;

use super::support::*;

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJGQ2VFSn5OQ8d1K3S2rAjAq2Gk6o7sFQy2kG0pZ4cS hk8s";
const OTHER_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ2hKcQj1Tn2u3o3h7yS6Zx3x5bYkq8hQ9Q6yQ6l5yq0 other";

#[tokio::test]
async fn system_images_and_talos_snapshots() {
    let sim = start_with(|c| c.talos_versions = vec!["v1.13.9".into(), "v1.12.11".into()]).await;
    let system = list_images(
        &sim.cfg,
        ListImagesParams {
            r#type: Some(vec!["system".into()]),
            architecture: Some("arm".into()),
            per_page: Some(50),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .images;
    let names: Vec<_> = system.iter().filter_map(|i| i.name.clone()).collect();
    assert!(
        names.contains(&"debian-12".to_string()) && names.contains(&"ubuntu-24.04".to_string())
    );
    assert!(
        system
            .iter()
            .all(|i| i.architecture == models::Architecture::Arm)
    );

    let talos = list_images(&sim.cfg, ListImagesParams {
        label_selector: Some("hk8s.io/talos-version=v1.13.9,hk8s.io/schematic=376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4b".into()),
        ..Default::default()
    })
    .await
    .unwrap()
    .images;
    assert_eq!(talos.len(), 2, "one snapshot per architecture");
    let mut arches: Vec<_> = talos.iter().map(|i| i.architecture).collect();
    arches.sort_by_key(|a| format!("{a:?}"));
    assert_eq!(
        arches,
        [models::Architecture::Arm, models::Architecture::X86]
    );
    assert!(
        talos
            .iter()
            .all(|i| i.r#type == models::image::Type::Snapshot
                && i.status == models::image::Status::Available)
    );

    // A server can boot from it.
    let arm_snapshot = talos
        .iter()
        .find(|i| i.architecture == models::Architecture::Arm)
        .unwrap();
    let request = models::CreateServerRequest {
        name: "cp".into(),
        server_type: "cax21".into(),
        image: arm_snapshot.id.to_string(),
        ..Default::default()
    };
    let server = hcloud::apis::servers_api::create_server(
        &sim.cfg,
        hcloud::apis::servers_api::CreateServerParams {
            create_server_request: request,
        },
    )
    .await
    .unwrap();
    assert_eq!(server.server.image.unwrap().id, arm_snapshot.id);
    let mismatch = models::CreateServerRequest {
        name: "x86".into(),
        server_type: "cx23".into(),
        image: arm_snapshot.id.to_string(),
        ..Default::default()
    };
    let err = api_error(
        hcloud::apis::servers_api::create_server(
            &sim.cfg,
            hcloud::apis::servers_api::CreateServerParams {
                create_server_request: mismatch,
            },
        )
        .await,
    );
    assert_eq!(err.1["details"]["fields"][0]["name"], "image");
    assert_eq!(err.1["message"], "image has incompatible architecture");

    // Snapshots can be relabelled, protected and deleted; system images cannot be deleted.
    let id = talos[0].id;
    let updated = replace_image(
        &sim.cfg,
        ReplaceImageParams {
            id,
            replace_image_request: models::ReplaceImageRequest {
                description: Some("renamed".into()),
                labels: Some([("a".to_string(), "b".to_string())].into()),
                ..Default::default()
            },
        },
    )
    .await
    .unwrap()
    .image
    .unwrap();
    assert_eq!(
        (updated.description.as_str(), updated.labels["a"].as_str()),
        ("renamed", "b")
    );
    let protect = change_image_protection(
        &sim.cfg,
        ChangeImageProtectionParams {
            id,
            change_image_protection_request: models::ChangeImageProtectionRequest {
                delete: Some(true),
            },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, protect.action.id).await;
    assert_eq!(
        api_error(delete_image(&sim.cfg, DeleteImageParams { id }).await).1["code"],
        "protected"
    );
    let unprotect = change_image_protection(
        &sim.cfg,
        ChangeImageProtectionParams {
            id,
            change_image_protection_request: models::ChangeImageProtectionRequest {
                delete: Some(false),
            },
        },
    )
    .await
    .unwrap();
    wait_action(&sim.cfg, unprotect.action.id).await;
    delete_image(&sim.cfg, DeleteImageParams { id })
        .await
        .unwrap();
    assert_eq!(
        api_error(get_image(&sim.cfg, GetImageParams { id }).await).0,
        404
    );
    assert_eq!(
        api_error(delete_image(&sim.cfg, DeleteImageParams { id: system[0].id }).await).0,
        422
    );
}

#[tokio::test]
async fn ssh_keys_lifecycle() {
    let sim = start().await;
    let create = |name: &str, key: &str| CreateSshKeyParams {
        create_ssh_key_request: models::CreateSshKeyRequest {
            name: name.into(),
            public_key: key.into(),
            labels: Some([("k".to_string(), "v".to_string())].into()),
        },
    };
    let key = create_ssh_key(&sim.cfg, create("me", KEY))
        .await
        .unwrap()
        .ssh_key;
    assert_eq!(key.fingerprint.split(':').count(), 16);
    assert_eq!(
        api_error(create_ssh_key(&sim.cfg, create("me", OTHER_KEY)).await).1["code"],
        "uniqueness_error"
    );
    assert_eq!(
        api_error(create_ssh_key(&sim.cfg, create("again", KEY)).await).1["code"],
        "uniqueness_error"
    );
    assert_eq!(
        api_error(create_ssh_key(&sim.cfg, create("bad", "not a key")).await).1["code"],
        "invalid_input"
    );
    let by_print = list_ssh_keys(
        &sim.cfg,
        ListSshKeysParams {
            fingerprint: Some(key.fingerprint.clone()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(by_print.ssh_keys.len(), 1);
    let renamed = replace_ssh_key(
        &sim.cfg,
        ReplaceSshKeyParams {
            id: key.id,
            replace_ssh_key_request: models::ReplaceSshKeyRequest {
                name: Some("you".into()),
                labels: None,
            },
        },
    )
    .await
    .unwrap();
    assert_eq!(renamed.ssh_key.name, "you");
    // A server created with a key gets no root password.
    let request = models::CreateServerRequest {
        name: "keyed".into(),
        server_type: "cx23".into(),
        image: "ubuntu-24.04".into(),
        ssh_keys: Some(vec!["you".into()]),
        ..Default::default()
    };
    let server = hcloud::apis::servers_api::create_server(
        &sim.cfg,
        hcloud::apis::servers_api::CreateServerParams {
            create_server_request: request,
        },
    )
    .await
    .unwrap();
    assert_eq!(server.root_password, None);
    delete_ssh_key(&sim.cfg, DeleteSshKeyParams { id: key.id })
        .await
        .unwrap();
    assert_eq!(
        api_error(get_ssh_key(&sim.cfg, GetSshKeyParams { id: key.id }).await).0,
        404
    );
}

#[tokio::test]
async fn placement_groups_lifecycle() {
    let sim = start().await;
    let create = |name: &str| CreatePlacementgroupParams {
        create_placementgroup_request: models::CreatePlacementgroupRequest {
            name: name.into(),
            r#type: models::create_placementgroup_request::Type::Spread,
            labels: Some([("pool".to_string(), "a".to_string())].into()),
        },
    };
    let pg = create_placementgroup(&sim.cfg, create("pg"))
        .await
        .unwrap()
        .placement_group;
    assert_eq!(pg.servers, Vec::<i64>::new());
    assert_eq!(
        api_error(create_placementgroup(&sim.cfg, create("pg")).await).1["code"],
        "uniqueness_error"
    );
    let listed = list_placement_groups(
        &sim.cfg,
        ListPlacementGroupsParams {
            label_selector: Some("pool=a".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(listed.placement_groups.len(), 1);
    let renamed = replace_placementgroup(
        &sim.cfg,
        ReplacePlacementgroupParams {
            id: pg.id,
            replace_placementgroup_request: models::ReplacePlacementgroupRequest {
                name: Some("pg2".into()),
                labels: None,
            },
        },
    )
    .await
    .unwrap();
    assert_eq!(renamed.placement_group.name, "pg2");
    delete_placementgroup(&sim.cfg, DeletePlacementgroupParams { id: pg.id })
        .await
        .unwrap();
    assert_eq!(
        api_error(get_placementgroup(&sim.cfg, GetPlacementgroupParams { id: pg.id }).await).0,
        404
    );
}
