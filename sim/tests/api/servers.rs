//! `/servers`: create, get, list (filters, sort, pagination), update, delete, and their errors.

use hcloud::apis::servers_api::*;
use hcloud::models;

use super::support::*;

#[tokio::test]
async fn create_returns_create_and_start_actions_then_runs() {
    let sim = start().await;
    let created = create_server_labelled(&sim.cfg, "web-1", &[("role", "web")]).await;
    assert_eq!(created.server.name, "web-1");
    assert_eq!(created.server.status, models::server::Status::Initializing);
    assert_eq!(created.action.command, "create_server");
    assert_eq!(created.action.status, models::action::Status::Running);
    assert_eq!(created.next_actions.len(), 1);
    assert_eq!(created.next_actions[0].command, "start_server");
    assert!(
        created.root_password.is_some(),
        "no SSH key: a root password is generated"
    );
    assert_eq!(created.server.server_type.name, "cx23");
    assert_eq!(created.server.location.name, "fsn1");
    assert_eq!(
        created.server.image.as_ref().unwrap().name.as_deref(),
        Some("debian-12")
    );

    let done = wait_action(&sim.cfg, created.action.id).await;
    assert_eq!(done.status, models::action::Status::Success);
    assert_eq!(done.progress, 100);
    assert!(done.finished.is_some());
    wait_action(&sim.cfg, created.next_actions[0].id).await;
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
    assert_eq!(server.status, models::server::Status::Running);
    assert!(!server.locked);
    assert_eq!(server.labels.get("role").map(String::as_str), Some("web"));
}

#[tokio::test]
async fn every_server_gets_its_own_loopback_ipv4_and_ipv6_net() {
    let sim = start().await;
    let mut v4 = std::collections::HashSet::new();
    let mut v6 = std::collections::HashSet::new();
    for i in 0..5 {
        let s = create_server_labelled(&sim.cfg, &format!("n{i}"), &[])
            .await
            .server;
        let ip: std::net::Ipv4Addr = s.public_net.ipv4.unwrap().ip.parse().unwrap();
        assert!(
            ip.is_loopback() && ip != std::net::Ipv4Addr::LOCALHOST,
            "{ip}"
        );
        assert!(v4.insert(ip));
        let net = s.public_net.ipv6.unwrap().ip;
        assert!(
            net.starts_with("2001:db8:") && net.ends_with("::/64"),
            "{net}"
        );
        assert!(v6.insert(net));
    }
}

#[tokio::test]
async fn create_validates_input() {
    let sim = start().await;
    create_server_labelled(&sim.cfg, "dup", &[]).await;
    let dup = create_server(
        &sim.cfg,
        CreateServerParams {
            create_server_request: models::CreateServerRequest {
                name: "dup".into(),
                server_type: "cx23".into(),
                image: "debian-12".into(),
                ..Default::default()
            },
        },
    )
    .await;
    let (status, err) = api_error(dup);
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("uniqueness_error"))
    );

    let bad = |name: &str, server_type: &str, image: &str, user_data: Option<String>| {
        models::CreateServerRequest {
            name: name.into(),
            server_type: server_type.into(),
            image: image.into(),
            user_data,
            ..Default::default()
        }
    };
    for (request, field) in [
        (bad("ok", "cx99", "debian-12", None), "server_type"),
        (bad("ok", "cx23", "no-such-image", None), "image"),
        (bad("not_a_hostname!", "cx23", "debian-12", None), "name"),
        (
            bad("ok", "cx23", "debian-12", Some("x".repeat(32 * 1024 + 1))),
            "user_data",
        ),
    ] {
        let (status, err) = api_error(
            create_server(
                &sim.cfg,
                CreateServerParams {
                    create_server_request: request,
                },
            )
            .await,
        );
        assert_eq!(status, 400);
        assert_eq!(err["code"], "invalid_input");
        assert_eq!(err["details"]["fields"][0]["name"], field, "{err}");
    }
    // Exactly 32 KiB is accepted.
    let ok = bad(
        "max-user-data",
        "cx23",
        "debian-12",
        Some("x".repeat(32 * 1024)),
    );
    create_server(
        &sim.cfg,
        CreateServerParams {
            create_server_request: ok,
        },
    )
    .await
    .unwrap();
    // cax types are arm: the x86 image of the same name is not used, the arm one is.
    let arm = create_server(
        &sim.cfg,
        CreateServerParams {
            create_server_request: bad("arm-1", "cax11", "debian-12", None),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        arm.server.image.unwrap().architecture,
        models::Architecture::Arm
    );
}

#[tokio::test]
async fn unknown_token_is_unauthorized() {
    let sim = start().await;
    let cfg = client_config(&sim.endpoint(), "wrong");
    let (status, err) = api_error(list_servers(&cfg, ListServersParams::default()).await);
    assert_eq!((status, err["code"].as_str()), (401, Some("unauthorized")));
}

#[tokio::test]
async fn list_filters_by_name_label_selector_and_status() {
    let sim = start().await;
    create_server_labelled(&sim.cfg, "a", &[("env", "prod"), ("tier", "web")]).await;
    create_server_labelled(&sim.cfg, "b", &[("env", "prod"), ("tier", "db")]).await;
    let c = create_server_labelled(&sim.cfg, "c", &[("env", "dev")]).await;
    let names =
        |servers: Vec<models::Server>| servers.into_iter().map(|s| s.name).collect::<Vec<_>>();
    let list = |selector: &str| ListServersParams {
        label_selector: Some(selector.into()),
        ..Default::default()
    };
    assert_eq!(
        names(
            list_servers(&sim.cfg, list("env=prod"))
                .await
                .unwrap()
                .servers
        ),
        ["a", "b"]
    );
    assert_eq!(
        names(
            list_servers(&sim.cfg, list("env=prod,tier!=web"))
                .await
                .unwrap()
                .servers
        ),
        ["b"]
    );
    assert_eq!(
        names(
            list_servers(&sim.cfg, list("tier in (web,db)"))
                .await
                .unwrap()
                .servers
        ),
        ["a", "b"]
    );
    assert_eq!(
        names(list_servers(&sim.cfg, list("!tier")).await.unwrap().servers),
        ["c"]
    );
    assert_eq!(
        names(
            list_servers(&sim.cfg, list("env notin (prod)"))
                .await
                .unwrap()
                .servers
        ),
        ["c"]
    );
    let by_name = ListServersParams {
        name: Some("b".into()),
        ..Default::default()
    };
    assert_eq!(
        names(list_servers(&sim.cfg, by_name).await.unwrap().servers),
        ["b"]
    );
    let (status, err) = api_error(list_servers(&sim.cfg, list("a in b")).await);
    assert_eq!(
        (status, err["details"]["fields"][0]["name"].as_str()),
        (400, Some("label_selector"))
    );

    // Power one server off: the status filter sees it.
    wait_action(&sim.cfg, c.action.id).await;
    wait_action(&sim.cfg, c.next_actions[0].id).await;
    let off = power_off_server(&sim.cfg, PowerOffServerParams { id: c.server.id })
        .await
        .unwrap();
    wait_action(&sim.cfg, off.action.id).await;
    let stopped = ListServersParams {
        status: Some(vec!["off".into()]),
        ..Default::default()
    };
    assert_eq!(
        names(list_servers(&sim.cfg, stopped).await.unwrap().servers),
        ["c"]
    );
}

#[tokio::test]
async fn list_sorts_and_paginates() {
    let sim = start().await;
    for i in 0..7 {
        create_server_labelled(&sim.cfg, &format!("s{i}"), &[]).await;
    }
    let page = |page, sort: &str| ListServersParams {
        page: Some(page),
        per_page: Some(3),
        sort: Some(vec![sort.into()]),
        ..Default::default()
    };
    let first = list_servers(&sim.cfg, page(1, "name:desc")).await.unwrap();
    assert_eq!(
        first
            .servers
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["s6", "s5", "s4"]
    );
    let p = &first.meta.pagination;
    assert_eq!(
        (
            p.page,
            p.per_page,
            p.previous_page,
            p.next_page,
            p.last_page,
            p.total_entries
        ),
        (1, 3, None, Some(2), Some(3), Some(7))
    );
    let last = list_servers(&sim.cfg, page(3, "name:desc")).await.unwrap();
    assert_eq!(
        last.servers
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["s0"]
    );
    assert_eq!(
        (
            last.meta.pagination.previous_page,
            last.meta.pagination.next_page
        ),
        (Some(2), None)
    );
    let too_big = ListServersParams {
        per_page: Some(51),
        ..Default::default()
    };
    assert_eq!(
        api_error(list_servers(&sim.cfg, too_big).await).1["code"],
        "invalid_input"
    );
}

#[tokio::test]
async fn update_renames_and_relabels() {
    let sim = start().await;
    let a = create_server_labelled(&sim.cfg, "a", &[("x", "1")])
        .await
        .server;
    create_server_labelled(&sim.cfg, "b", &[]).await;
    let request = models::ReplaceServerRequest {
        name: Some("a2".into()),
        labels: Some([("y".to_string(), "2".to_string())].into()),
    };
    let updated = replace_server(
        &sim.cfg,
        ReplaceServerParams {
            id: a.id,
            replace_server_request: request,
        },
    )
    .await
    .unwrap();
    let server = updated.server.unwrap();
    assert_eq!(server.name, "a2");
    assert_eq!(server.labels, [("y".to_string(), "2".to_string())].into());
    let clash = models::ReplaceServerRequest {
        name: Some("b".into()),
        labels: None,
    };
    let (status, err) = api_error(
        replace_server(
            &sim.cfg,
            ReplaceServerParams {
                id: a.id,
                replace_server_request: clash,
            },
        )
        .await,
    );
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("uniqueness_error"))
    );
}

#[tokio::test]
async fn delete_is_refused_while_locked_or_protected_then_succeeds() {
    let sim = start_realistic().await;
    let created = create_server_labelled(&sim.cfg, "gone", &[]).await;
    let id = created.server.id;
    // The create action is still running (the manual clock has not moved): the server is locked.
    let (status, err) = api_error(delete_server(&sim.cfg, DeleteServerParams { id }).await);
    assert_eq!((status, err["code"].as_str()), (423, Some("locked")));
    let server = get_server(&sim.cfg, GetServerParams { id })
        .await
        .unwrap()
        .server
        .unwrap();
    assert!(server.locked);
    assert_eq!(server.status, models::server::Status::Initializing);
    sim.advance(3600);
    wait_action(&sim.cfg, created.action.id).await;
    wait_action(&sim.cfg, created.next_actions[0].id).await;

    let protect = models::ChangeServerProtectionRequest {
        delete: Some(true),
        rebuild: Some(true),
    };
    let action = change_server_protection(
        &sim.cfg,
        ChangeServerProtectionParams {
            id,
            change_server_protection_request: protect,
        },
    )
    .await
    .unwrap();
    sim.advance(60);
    wait_action(&sim.cfg, action.action.id).await;
    let (status, err) = api_error(delete_server(&sim.cfg, DeleteServerParams { id }).await);
    assert_eq!((status, err["code"].as_str()), (403, Some("protected")));

    let unprotect = models::ChangeServerProtectionRequest {
        delete: Some(false),
        rebuild: Some(false),
    };
    let action = change_server_protection(
        &sim.cfg,
        ChangeServerProtectionParams {
            id,
            change_server_protection_request: unprotect,
        },
    )
    .await
    .unwrap();
    sim.advance(60);
    wait_action(&sim.cfg, action.action.id).await;
    let deleted = delete_server(&sim.cfg, DeleteServerParams { id })
        .await
        .unwrap();
    let action = deleted.action.expect("delete returns an action");
    assert_eq!(action.command, "delete_server");
    sim.advance(60);
    assert_eq!(
        wait_action(&sim.cfg, action.id).await.status,
        models::action::Status::Success
    );
    let (status, err) = api_error(get_server(&sim.cfg, GetServerParams { id }).await);
    assert_eq!((status, err["code"].as_str()), (404, Some("not_found")));
}
