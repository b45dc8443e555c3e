use super::*;

fn server(name: &str, location: &str, server_type: &str, labels: &[(&str, &str)]) -> Server {
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v)))
        .collect();
    serde_json::from_value(serde_json::json!({
        "id": 1,
        "name": name,
        "status": "running",
        "labels": labels,
        "public_net": {"ipv4": null, "ipv6": null, "firewalls": []},
        "private_net": [],
        "server_type": {"name": server_type, "architecture": "x86"},
        "location": {"name": location},
    }))
    .expect("a server")
}

fn pool(specs: &[(&str, &str)]) -> Vec<PoolNode> {
    let servers = specs
        .iter()
        .map(|(name, location)| server(name, location, "cx23", &[(DISK_ENCRYPTION_LABEL, "luks2")]))
        .collect();
    nodes("prod", "web", servers)
}

static DEFAULT_IMAGE: std::sync::LazyLock<crate::resources::fleet::image::ImageSpec> =
    std::sync::LazyLock::new(Default::default);

fn wanted(locations: &[String]) -> Wanted<'_> {
    Wanted {
        server_type: "cx23",
        locations,
        disk_encryption: true,
        image: &DEFAULT_IMAGE,
        autoscaled: false,
    }
}

#[test]
fn numbers_come_from_names_of_this_pool_only() {
    assert_eq!(index_of("prod", "web", "prod-web-12"), Some(12));
    assert_eq!(index_of("prod", "web", "prod-web-012"), None);
    assert_eq!(index_of("prod", "web", "prod-web-0"), None);
    assert_eq!(index_of("prod", "web", "prod-webx-1"), None);
    assert_eq!(index_of("prod", "web", "prod-cp-1"), None);
    assert_eq!(index_of("prod", "we", "prod-web-1"), None);
}

#[test]
fn new_nodes_take_the_smallest_free_numbers_and_spread_round_robin() {
    let nodes = pool(&[("prod-web-1", "fsn1"), ("prod-web-3", "fsn1")]);
    assert_eq!(free_indices(&nodes, 3), vec![2, 4, 5]);
    let locations = vec!["fsn1".to_owned(), "nbg1".to_owned()];
    assert_eq!(
        next_locations(&wanted(&locations), &nodes, &[], 3),
        vec!["nbg1", "nbg1", "fsn1"]
    );
}

#[test]
fn scale_down_removes_leaving_then_outdated_then_highest_numbers() {
    let mut servers: Vec<Server> = (1..=4)
        .map(|i| {
            server(
                &format!("prod-web-{i}"),
                "fsn1",
                "cx23",
                &[(DISK_ENCRYPTION_LABEL, "luks2")],
            )
        })
        .collect();
    servers[0].server_type.name = "cx33".to_owned();
    servers[1]
        .labels
        .insert(LEAVING_LABEL.to_owned(), "true".to_owned());
    let nodes = nodes("prod", "web", servers);
    let locations = vec!["fsn1".to_owned()];
    let order: Vec<&str> = to_remove(&wanted(&locations), &nodes, 1)
        .iter()
        .map(|n| n.name())
        .collect();
    assert_eq!(order, vec!["prod-web-2", "prod-web-1", "prod-web-4"]);
    assert!(to_remove(&wanted(&locations), &nodes, 4).is_empty());
}

#[test]
fn eleven_servers_in_one_location_need_two_placement_groups() {
    let locations: Vec<String> = std::iter::repeat_n("fsn1".to_owned(), 12).collect();
    let choices = assign_groups("prod", "web", &[], &locations);
    let first = GroupChoice::New("prod-web-fsn1-1".to_owned());
    let second = GroupChoice::New("prod-web-fsn1-2".to_owned());
    assert_eq!(choices.iter().filter(|c| **c == first).count(), 10);
    assert_eq!(choices.iter().filter(|c| **c == second).count(), 2);
}

#[test]
fn existing_groups_with_room_are_filled_before_new_ones_are_made() {
    let group = |id: i64, name: &str, members: usize| PlacementGroup {
        id,
        name: name.to_owned(),
        labels: [(LOCATION_LABEL.to_owned(), "fsn1".to_owned())].into(),
        servers: (0..members as i64).collect(),
    };
    let groups = vec![
        group(7, "prod-web-fsn1-1", 10),
        group(8, "prod-web-fsn1-3", 9),
    ];
    let choices = assign_groups(
        "prod",
        "web",
        &groups,
        &["fsn1".to_owned(), "fsn1".to_owned()],
    );
    assert_eq!(
        choices,
        vec![
            GroupChoice::Existing(8),
            GroupChoice::New("prod-web-fsn1-2".to_owned())
        ]
    );
}

#[test]
fn the_autoscalers_servers_are_members_after_the_numbered_ones() {
    let group = node_group_name("prod", "web");
    let servers = vec![
        server(
            "prod-web-7fa3c2",
            "fsn1",
            "cx23",
            &[(NODE_GROUP_LABEL, &group)],
        ),
        server("prod-web-2", "fsn1", "cx23", &[]),
        // Digits only, as a random hex can be: the label decides, not the name.
        server(
            "prod-web-123456",
            "fsn1",
            "cx23",
            &[(NODE_GROUP_LABEL, &group)],
        ),
        // Another group's server that happens to carry the pool's labels is not one.
        server(
            "prod-web-ab12",
            "fsn1",
            "cx23",
            &[(NODE_GROUP_LABEL, "prod-webx")],
        ),
    ];
    let nodes = nodes("prod", "web", servers);
    let names: Vec<(&str, u32)> = nodes.iter().map(|n| (n.name(), n.index)).collect();
    assert_eq!(
        names,
        vec![
            ("prod-web-2", 2),
            ("prod-web-123456", 0),
            ("prod-web-7fa3c2", 0)
        ]
    );
    assert_eq!(free_indices(&nodes, 2), vec![1, 3]);
}
