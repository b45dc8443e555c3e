//! The day-2 operations of every kind: services, type changes, power, subnets, rules, firewall
//! targets, snapshots, lookups, and refusing objects that are not ours.

use hk8s::hcloud::catalog::{Architecture, NetworkZone};
use hk8s::hcloud::firewalls::FirewallTarget;
use hk8s::hcloud::labels::{self, Role, Selector};
use hk8s::hcloud::load_balancers::Service;
use hk8s::hcloud::networks::SubnetSpec;
use hk8s::hcloud::servers::ServerStatus;
use hk8s::hcloud::{Error, Pending};

use super::fixture::{ensure_control_plane, network_spec, talos_rule};
use super::support::{TALOS_VERSION, start};

#[tokio::test]
async fn load_balancer_services_type_and_targets_change_in_place() {
    let sim = start().await;
    let client = sim.client();
    let cp = ensure_control_plane(&client, "ops", 1).await.unwrap();
    client.wait_for_actions("create", cp.actions).await.unwrap();
    let id = cp.load_balancer;

    let mut extra = Service::tcp(8080);
    let a = client.add_service(id, &extra).await.unwrap();
    client
        .wait_for_actions("add service", vec![a])
        .await
        .unwrap();
    extra.destination_port = 8081;
    extra.health_check.port = 8081;
    let a = client.update_service(id, &extra).await.unwrap();
    client
        .wait_for_actions("update service", vec![a])
        .await
        .unwrap();
    let lb = client.get_load_balancer(id).await.unwrap().unwrap();
    let live = lb.services.iter().find(|s| s.listen_port == 8080).unwrap();
    assert_eq!(live.destination_port, 8081);

    let a = client.delete_service(id, 8080).await.unwrap();
    let b = client.change_load_balancer_type(id, "lb21").await.unwrap();
    client
        .wait_for_actions("delete service, change type", vec![a, b])
        .await
        .unwrap();
    let lb = client.get_load_balancer(id).await.unwrap().unwrap();
    assert_eq!(lb.load_balancer_type.name, "lb21");
    assert_eq!(lb.services.len(), 2);
    assert!(lb.public_ipv4().is_some());

    let target = lb.targets[0].clone();
    let a = client.remove_target(id, &target).await.unwrap();
    client
        .wait_for_actions("remove target", vec![a])
        .await
        .unwrap();
    let a = client.add_target(id, &target).await.unwrap();
    client
        .wait_for_actions("add target", vec![a])
        .await
        .unwrap();
    assert_eq!(
        client.get_load_balancer(id).await.unwrap().unwrap().targets,
        [target]
    );

    client.delete_load_balancer(id).await.unwrap();
    assert!(client.get_load_balancer(id).await.unwrap().is_none());
}

#[tokio::test]
async fn servers_power_cycle() {
    let sim = start().await;
    let client = sim.client();
    let cp = ensure_control_plane(&client, "power", 1).await.unwrap();
    client.wait_for_actions("create", cp.actions).await.unwrap();
    let id = cp.servers[0];
    let status = |s: Option<hk8s::hcloud::servers::Server>| s.unwrap().status;

    let a = client.shutdown_server(id).await.unwrap();
    client.wait_for_actions("shutdown", vec![a]).await.unwrap();
    assert_eq!(
        status(client.get_server(id).await.unwrap()),
        ServerStatus::Off
    );
    let a = client.poweron_server(id).await.unwrap();
    client.wait_for_actions("poweron", vec![a]).await.unwrap();
    assert_eq!(
        status(client.get_server(id).await.unwrap()),
        ServerStatus::Running
    );
    let a = client.poweroff_server(id).await.unwrap();
    client.wait_for_actions("poweroff", vec![a]).await.unwrap();
    assert_eq!(
        status(client.get_server(id).await.unwrap()),
        ServerStatus::Off
    );
    let server = client.get_server(id).await.unwrap().unwrap();
    assert_eq!(server.architecture(), Some(Architecture::Arm));
    assert!(server.public_ipv4().is_some());

    client.delete_servers(&[id]).await.unwrap();
    assert!(client.get_server(id).await.unwrap().is_none());
}

#[tokio::test]
async fn subnets_and_firewall_rules_and_targets() {
    let sim = start().await;
    let client = sim.client();
    let network = client
        .ensure_network(&network_spec("net"))
        .await
        .unwrap()
        .wait(&client, "network")
        .await
        .unwrap();
    let extra = SubnetSpec {
        ip_range: "10.0.2.0/24".parse().unwrap(),
        network_zone: NetworkZone::EuCentral,
    };
    let a = client.add_subnet(network.id, &extra).await.unwrap();
    client
        .wait_for_actions("add subnet", vec![a])
        .await
        .unwrap();
    let net = client.get_network(network.id).await.unwrap().unwrap();
    assert_eq!(net.subnets.len(), 2);
    let a = client
        .delete_subnet(network.id, extra.ip_range)
        .await
        .unwrap();
    client
        .wait_for_actions("delete subnet", vec![a])
        .await
        .unwrap();
    assert_eq!(
        client
            .get_network(network.id)
            .await
            .unwrap()
            .unwrap()
            .subnets
            .len(),
        1
    );

    // A network that lost its subnet gets it back from ensure.
    let a = client
        .delete_subnet(network.id, "10.0.1.0/24".parse().unwrap())
        .await
        .unwrap();
    client
        .wait_for_actions("delete subnet", vec![a])
        .await
        .unwrap();
    let repaired = client.ensure_network(&network_spec("net")).await.unwrap();
    assert_eq!(repaired.actions.len(), 1, "add_subnet started");
    repaired.wait(&client, "repair").await.unwrap();
    assert_eq!(
        client
            .get_network(network.id)
            .await
            .unwrap()
            .unwrap()
            .subnets
            .len(),
        1
    );

    let cp = ensure_control_plane(&client, "net", 1).await.unwrap();
    client.wait_for_actions("create", cp.actions).await.unwrap();
    let rules = vec![talos_rule("198.51.100.0/24"), talos_rule("192.0.2.0/24")];
    let actions = client
        .set_firewall_rules(cp.firewall, &rules)
        .await
        .unwrap();
    client.wait_for_actions("set rules", actions).await.unwrap();
    let fw = client.get_firewall(cp.firewall).await.unwrap().unwrap();
    assert_eq!(fw.rules, rules);

    let direct = FirewallTarget::Server(cp.servers[0]);
    let actions = client
        .apply_firewall(cp.firewall, std::slice::from_ref(&direct))
        .await
        .unwrap();
    assert!(!actions.is_empty());
    client.wait_for_actions("apply", actions).await.unwrap();
    // Applying again is a no-op, not `firewall_already_applied`.
    assert!(
        client
            .apply_firewall(cp.firewall, std::slice::from_ref(&direct))
            .await
            .unwrap()
            .is_empty()
    );
    let actions = client
        .remove_firewall(cp.firewall, std::slice::from_ref(&direct))
        .await
        .unwrap();
    client.wait_for_actions("remove", actions).await.unwrap();
    assert!(
        client
            .remove_firewall(cp.firewall, &[direct])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        client
            .get_firewall(cp.firewall)
            .await
            .unwrap()
            .unwrap()
            .applied_to
            .len(),
        1
    );

    client.delete_firewall(cp.firewall).await.unwrap();
    assert!(client.get_firewall(cp.firewall).await.unwrap().is_none());
}

#[tokio::test]
async fn snapshots_are_found_by_labels_and_architecture() {
    let sim = start().await;
    let client = sim.client();
    let talos = Selector::default().with(labels::TALOS_VERSION, TALOS_VERSION);
    for arch in [Architecture::X86, Architecture::Arm] {
        let found = client.list_snapshots(&talos, arch).await.unwrap();
        assert_eq!(found.len(), 1, "{arch}");
        assert_eq!(found[0].architecture(), Some(arch));
        assert!(found[0].is_available());
    }
    let missing = Selector::default().with(labels::TALOS_VERSION, "v0.0.1");
    assert!(
        client
            .list_snapshots(&missing, Architecture::X86)
            .await
            .unwrap()
            .is_empty()
    );

    let cp = ensure_control_plane(&client, "img", 1).await.unwrap();
    client.wait_for_actions("create", cp.actions).await.unwrap();
    let labels = Selector::cluster("img")
        .with(labels::TALOS_VERSION, "v9.9.9")
        .labels();
    let image = client
        .create_snapshot(cp.servers[0], "test snapshot", &labels)
        .await
        .unwrap()
        .wait(&client, "snapshot")
        .await
        .unwrap();
    let found = client
        .list_snapshots(&Selector::from(&labels), Architecture::Arm)
        .await
        .unwrap();
    assert_eq!(found.iter().map(|i| i.id).collect::<Vec<_>>(), [image.id]);
    assert!(found[0].is_available());
    client.delete_image(image.id).await.unwrap();
    assert!(client.get_image(image.id).await.unwrap().is_none());
    client.delete_image(image.id).await.unwrap();
}

#[tokio::test]
async fn catalog_lookups() {
    let sim = start().await;
    let client = sim.client();
    let cax = client.server_type("cax21").await.unwrap().unwrap();
    assert_eq!(cax.name, "cax21");
    assert_eq!(cax.architecture(), Some(Architecture::Arm));
    assert!(cax.offered_in("fsn1"));
    assert!(client.server_type("nope99").await.unwrap().is_none());
    let locations = client.locations().await.unwrap();
    let fsn1 = locations.iter().find(|l| l.name == "fsn1").unwrap();
    assert_eq!(fsn1.network_zone, "eu-central");
}

#[tokio::test]
async fn objects_without_our_labels_are_never_adopted() {
    let sim = start().await;
    let client = sim.client();
    let mut foreign = network_spec("shared");
    foreign.labels = Selector::cluster("someone-else").labels();
    client
        .ensure_network(&foreign)
        .await
        .unwrap()
        .wait(&client, "x")
        .await
        .unwrap();
    let err = client
        .ensure_network(&network_spec("shared"))
        .await
        .unwrap_err();
    let Error::NameTaken {
        kind,
        name,
        expected,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*kind, name.as_str()), ("network", "shared"));
    assert_eq!(expected, "hk8s.io/cluster=shared");
    assert!(err.to_string().contains("does not adopt"));
    let group: Pending<_> = client
        .ensure_placement_group("g", &Selector::cluster("a").role(Role::Worker).labels())
        .await
        .unwrap();
    assert!(group.actions.is_empty());
    assert!(matches!(
        client
            .ensure_placement_group("g", &Selector::cluster("b").labels())
            .await,
        Err(Error::NameTaken { .. })
    ));
}

#[tokio::test]
async fn pool_placement_groups_are_created_first_and_adopted_or_refused_when_taken() {
    let sim = start().await;
    let client = sim.client();
    let ours = Selector::cluster("a").role(Role::Worker).labels();
    let made = client.create_placement_group("a-w-1", &ours).await.unwrap();
    assert_eq!(
        (
            sim.requests("POST /placement_groups").await,
            sim.requests("GET /placement_groups").await
        ),
        (1, 0),
        "a new group costs one request"
    );
    let again = client.create_placement_group("a-w-1", &ours).await.unwrap();
    assert_eq!(again.value.id, made.value.id);
    let err = client
        .create_placement_group("a-w-1", &Selector::cluster("b").labels())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::NameTaken { kind: "placement group", name, .. } if name == "a-w-1"),
        "{err:?}"
    );
}

#[tokio::test]
async fn listing_reads_every_page() {
    let sim = start().await;
    let client = sim.client();
    for n in 0..57 {
        let mut spec = network_spec(&format!("many-{n}"));
        spec.labels = Selector::cluster("many").labels();
        spec.subnets.clear();
        client
            .ensure_network(&spec)
            .await
            .unwrap()
            .wait(&client, "net")
            .await
            .unwrap();
    }
    let before = sim.requests("GET /networks").await;
    let all = client
        .list_networks(&Selector::cluster("many"))
        .await
        .unwrap();
    assert_eq!(all.len(), 57);
    let mut ids: Vec<i64> = all.iter().map(|n| n.id).collect();
    ids.dedup();
    assert_eq!(ids.len(), 57, "no page read twice");
    assert_eq!(sim.requests("GET /networks").await - before, 2, "50 + 7");
}
