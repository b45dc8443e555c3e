//! Read-only catalog: server types, locations, datacenters, load balancer types.

use hcloud::apis::datacenters_api::*;
use hcloud::apis::load_balancer_types_api::*;
use hcloud::apis::locations_api::*;
use hcloud::apis::server_types_api::*;
use hcloud::models;

use super::support::*;

#[tokio::test]
async fn server_types_are_the_real_catalog() {
    let sim = start().await;
    let page = |page| ListServerTypesParams {
        page: Some(page),
        per_page: Some(50),
        ..Default::default()
    };
    let types = list_server_types(&sim.cfg, page(1))
        .await
        .unwrap()
        .server_types;
    let names: Vec<_> = types.iter().map(|t| t.name.as_str()).collect();
    for expected in [
        "cx23", "cx33", "cx43", "cx53", "cpx11", "cpx21", "cpx31", "cpx41", "cpx51", "cax11",
        "cax21", "cax31", "cax41", "ccx13", "ccx23", "ccx33", "ccx43", "ccx53", "ccx63",
    ] {
        assert!(names.contains(&expected), "{expected} missing");
    }
    let cax21 = types.iter().find(|t| t.name == "cax21").unwrap();
    assert_eq!(
        (cax21.architecture, cax21.cores, cax21.memory, cax21.disk),
        (models::Architecture::Arm, 4, 8.0, 80.0)
    );
    assert!(
        cax21
            .locations
            .iter()
            .all(|l| ["fsn1", "nbg1", "hel1"].contains(&l.name.as_str()))
    );
    let ccx63 = get_server_type(
        &sim.cfg,
        GetServerTypeParams {
            id: types.iter().find(|t| t.name == "ccx63").unwrap().id,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (ccx63.server_type.cores, ccx63.server_type.cpu_type),
        (48, models::server_type::CpuType::Dedicated)
    );
    let by_name = list_server_types(
        &sim.cfg,
        ListServerTypesParams {
            name: Some("cpx31".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(by_name.server_types.len(), 1);
}

#[tokio::test]
async fn locations_datacenters_and_lb_types() {
    let sim = start().await;
    let locations = list_locations(&sim.cfg, ListLocationsParams::default())
        .await
        .unwrap()
        .locations;
    let zones: Vec<_> = locations
        .iter()
        .map(|l| (l.name.as_str(), l.network_zone.as_str()))
        .collect();
    assert_eq!(
        zones,
        [
            ("fsn1", "eu-central"),
            ("nbg1", "eu-central"),
            ("hel1", "eu-central"),
            ("ash", "us-east"),
            ("hil", "us-west"),
            ("sin", "ap-southeast")
        ]
    );
    let hel1 = get_location(
        &sim.cfg,
        GetLocationParams {
            id: locations[2].id,
        },
    )
    .await
    .unwrap()
    .location;
    assert_eq!(hel1.country, "FI");
    let dcs = list_data_centers(&sim.cfg, ListDataCentersParams::default())
        .await
        .unwrap();
    assert_eq!(dcs.datacenters.len(), 6);
    assert_eq!(
        dcs.datacenters
            .iter()
            .find(|d| d.id == dcs.recommendation)
            .unwrap()
            .location
            .name,
        "fsn1"
    );
    let dc = get_data_center(
        &sim.cfg,
        GetDataCenterParams {
            id: dcs.recommendation,
        },
    )
    .await
    .unwrap()
    .datacenter;
    assert_eq!(dc.name, "fsn1-dc14");
    let lbs = list_load_balancer_types(&sim.cfg, ListLoadBalancerTypesParams::default())
        .await
        .unwrap()
        .load_balancer_types;
    assert_eq!(
        lbs.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["lb11", "lb21", "lb31"]
    );
    let lb31 = get_load_balancer_type(&sim.cfg, GetLoadBalancerTypeParams { id: lbs[2].id })
        .await
        .unwrap();
    assert_eq!(lb31.load_balancer_type.unwrap().max_targets, 150);
    assert_eq!(
        api_error(get_location(&sim.cfg, GetLocationParams { id: 999 }).await).0,
        404
    );
}

/// `GET /pricing` parses with the client generated from Hetzner's own API description (every
/// field of that schema is required), and agrees with the prices the catalog endpoints embed.
#[tokio::test]
async fn the_price_list_has_hetzners_shape_and_matches_the_catalog() {
    let sim = start().await;
    let pricing = hcloud::apis::pricing_api::list_prices(&sim.cfg)
        .await
        .unwrap()
        .pricing;
    assert_eq!(
        (pricing.currency.as_str(), pricing.vat_rate.as_str()),
        ("EUR", "19.000000")
    );
    let ipv4 = pricing
        .primary_ips
        .iter()
        .find(|p| p.r#type == models::IpType::Ipv4)
        .expect("primary IPv4 prices");
    let fsn1 = ipv4.prices.iter().find(|p| p.location == "fsn1").unwrap();
    assert_eq!(
        (
            fsn1.price_monthly.net.as_str(),
            fsn1.price_monthly.gross.as_str()
        ),
        ("0.5000000000", "0.5950000000000000")
    );
    let types = list_server_types(
        &sim.cfg,
        ListServerTypesParams {
            per_page: Some(50),
            ..Default::default()
        },
    )
    .await
    .unwrap()
    .server_types;
    assert_eq!(pricing.server_types.len(), types.len());
    for listed in &types {
        let priced = pricing
            .server_types
            .iter()
            .find(|p| p.name == listed.name)
            .unwrap_or_else(|| panic!("{} has no price", listed.name));
        assert_eq!(priced.id, listed.id);
        assert_eq!(priced.prices, listed.prices, "{}", listed.name);
    }
    let cpx31 = |location: &str| {
        pricing
            .server_types
            .iter()
            .find(|t| t.name == "cpx31")
            .and_then(|t| t.prices.iter().find(|p| p.location == location))
            .map(|p| p.price_monthly.net.clone())
            .unwrap()
    };
    assert_ne!(cpx31("fsn1"), cpx31("ash"), "prices differ per location");
    let lbs = list_load_balancer_types(&sim.cfg, ListLoadBalancerTypesParams::default())
        .await
        .unwrap()
        .load_balancer_types;
    for listed in &lbs {
        let priced = pricing
            .load_balancer_types
            .iter()
            .find(|p| p.name == listed.name)
            .unwrap();
        assert_eq!(priced.prices, listed.prices, "{}", listed.name);
    }
}
