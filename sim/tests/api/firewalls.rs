//! `/firewalls`: rules, apply_to_resources (servers and label selectors), remove_from_resources,
//! set_rules, `applied_to`.

use hcloud::apis::firewalls_api::*;
use hcloud::apis::servers_api::{GetServerParams, get_server};
use hcloud::models;

use super::support::*;

fn tcp_in(port: &str) -> models::Rule {
    models::Rule {
        direction: models::rule::Direction::In,
        protocol: models::rule::Protocol::Tcp,
        port: Some(Some(port.into())),
        source_ips: Some(vec!["0.0.0.0/0".into(), "::/0".into()]),
        ..Default::default()
    }
}

fn by_selector(selector: &str) -> models::FirewallResource {
    models::FirewallResource {
        r#type: models::firewall_resource::Type::LabelSelector,
        label_selector: Some(Box::new(models::LabelSelector {
            selector: selector.into(),
        })),
        server: None,
    }
}

fn by_server(id: i64) -> models::FirewallResource {
    models::FirewallResource {
        r#type: models::firewall_resource::Type::Server,
        server: Some(Box::new(models::ResourceId { id })),
        label_selector: None,
    }
}

#[tokio::test]
async fn lifecycle_with_selectors_and_servers() {
    let sim = start().await;
    let web = create_server_labelled(&sim.cfg, "web", &[("role", "web")])
        .await
        .server;
    let db = create_server_labelled(&sim.cfg, "db", &[("role", "db")])
        .await
        .server;
    let created = create_firewall(
        &sim.cfg,
        CreateFirewallParams {
            create_firewall_request: models::CreateFirewallRequest {
                name: "fw".into(),
                labels: Some([("hk8s.io/cluster".to_string(), "prod".to_string())].into()),
                rules: Some(vec![tcp_in("6443")]),
                apply_to: Some(vec![by_selector("role=web")]),
            },
        },
    )
    .await
    .unwrap();
    let fw = *created.firewall.unwrap();
    for action in created.actions.unwrap() {
        wait_action(&sim.cfg, action.id).await;
    }
    assert_eq!(fw.rules[0].port.as_deref(), Some("6443"));
    assert_eq!(
        fw.applied_to[0].label_selector.clone().unwrap().selector,
        "role=web"
    );
    let applied = get_firewall(&sim.cfg, GetFirewallParams { id: fw.id })
        .await
        .unwrap()
        .firewall;
    let expanded = applied.applied_to[0].applied_to_resources.clone().unwrap();
    assert_eq!(expanded[0].server.clone().unwrap().id, web.id);
    let server = get_server(&sim.cfg, GetServerParams { id: web.id })
        .await
        .unwrap()
        .server
        .unwrap();
    assert_eq!(server.public_net.firewalls.unwrap()[0].id, Some(fw.id));

    let apply = apply_to_resources(
        &sim.cfg,
        ApplyToResourcesParams {
            id: fw.id,
            apply_to_resources_request: models::ApplyToResourcesRequest {
                apply_to: vec![by_server(db.id)],
            },
        },
    )
    .await
    .unwrap();
    assert_eq!(apply.actions[0].command, "apply_firewall");
    wait_action(&sim.cfg, apply.actions[0].id).await;
    let again = apply_to_resources(
        &sim.cfg,
        ApplyToResourcesParams {
            id: fw.id,
            apply_to_resources_request: models::ApplyToResourcesRequest {
                apply_to: vec![by_server(db.id)],
            },
        },
    )
    .await;
    assert_eq!(api_error(again).1["code"], "firewall_already_applied");

    let rules = set_rules(
        &sim.cfg,
        SetRulesParams {
            id: fw.id,
            set_rules_request: models::SetRulesRequest {
                rules: vec![tcp_in("50000"), tcp_in("6443")],
            },
        },
    )
    .await
    .unwrap();
    for action in &rules.actions {
        wait_action(&sim.cfg, action.id).await;
    }
    assert_eq!(
        get_firewall(&sim.cfg, GetFirewallParams { id: fw.id })
            .await
            .unwrap()
            .firewall
            .rules
            .len(),
        2
    );
    let bad_rule = models::Rule {
        port: None,
        ..tcp_in("1")
    };
    let invalid = set_rules(
        &sim.cfg,
        SetRulesParams {
            id: fw.id,
            set_rules_request: models::SetRulesRequest {
                rules: vec![bad_rule],
            },
        },
    )
    .await;
    assert_eq!(api_error(invalid).1["code"], "invalid_input");

    let (status, err) =
        api_error(delete_firewall(&sim.cfg, DeleteFirewallParams { id: fw.id }).await);
    assert_eq!(
        (status, err["code"].as_str()),
        (422, Some("resource_in_use"))
    );
    let removed = remove_from_resources(
        &sim.cfg,
        RemoveFromResourcesParams {
            id: fw.id,
            remove_from_resources_request: models::RemoveFromResourcesRequest {
                remove_from: vec![by_server(db.id), by_selector("role=web")],
            },
        },
    )
    .await
    .unwrap();
    for action in &removed.actions {
        assert_eq!(action.command, "remove_firewall");
        wait_action(&sim.cfg, action.id).await;
    }
    let listed = list_firewalls(
        &sim.cfg,
        ListFirewallsParams {
            label_selector: Some("hk8s.io/cluster".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(listed.firewalls.len(), 1);
    assert!(listed.firewalls[0].applied_to.is_empty());
    delete_firewall(&sim.cfg, DeleteFirewallParams { id: fw.id })
        .await
        .unwrap();
    assert_eq!(
        api_error(get_firewall(&sim.cfg, GetFirewallParams { id: fw.id }).await).0,
        404
    );
}
