use super::*;
use crate::hcloud::ClientConfig;
use crate::hcloud::Token;
use crate::hcloud::pricing::PriceCache;
use crate::tfplugin::diag::Diagnostics;

/// A price list in the API's shape: cpx11 costs more in ash than in fsn1, cx23 is EU-only, and
/// one type has a price with more decimals than cents.
fn prices_in(currency: &str) -> PriceList {
    let located = |location: &str, net: &str| {
        serde_json::json!({"location": location,
            "price_hourly": {"net": "0.0100000000", "gross": "0.0119000000000000"},
            "price_monthly": {"net": net, "gross": "0"},
            "included_traffic": 21_990_232_555_520_i64,
            "price_per_tb_traffic": {"net": "1.0000000000", "gross": "1.1900000000000000"}})
    };
    let reply = serde_json::json!({"pricing": {
        "currency": currency, "vat_rate": "19.000000",
        "primary_ips": [
            {"type": "ipv4", "prices": [located("fsn1", "0.5000000000"), located("nbg1", "0.5000000000"), located("ash", "0.6000000000")]},
            {"type": "ipv6", "prices": [located("fsn1", "0.0000000000")]}],
        "server_types": [
            {"id": 1, "name": "cx23", "prices": [located("fsn1", "3.4900000000"), located("nbg1", "3.4900000000")]},
            {"id": 2, "name": "cpx11", "prices": [located("fsn1", "3.8500000000"), located("ash", "4.4900000000")]},
            {"id": 3, "name": "tiny", "prices": [located("fsn1", "0.0033333333")]}],
        "load_balancer_types": [
            {"id": 1, "name": "lb11", "prices": [located("fsn1", "5.3900000000"), located("ash", "6.3100000000")]},
            {"id": 2, "name": "lb21", "prices": [located("fsn1", "16.4000000000")]}]
    }});
    PriceList::from_json(reply.to_string().as_bytes()).expect("price list")
}

fn prices() -> PriceList {
    prices_in("EUR")
}

fn servers(server_type: &str, locations: &[&str], count: u32) -> Servers {
    Servers {
        server_type: server_type.to_owned(),
        locations: locations.iter().map(|l| (*l).to_owned()).collect(),
        count,
    }
}

fn lb(t: &str, location: &str) -> Option<LoadBalancer> {
    Some(LoadBalancer {
        load_balancer_type: t.to_owned(),
        location: location.to_owned(),
    })
}

#[test]
fn servers_are_priced_where_the_round_robin_puts_them() {
    // 3 cpx11 over fsn1, ash: two in fsn1, one in ash; each with its IPv4; lb11 in fsn1.
    let bill = Bill {
        servers: servers("cpx11", &["fsn1", "ash"], 3),
        load_balancer: lb("lb11", "fsn1"),
    };
    // 2 × (3.85 + 0.50) + (4.49 + 0.60) + 5.39
    assert_eq!(estimate(&prices(), &bill), Ok(Cost::from_cents(1918)));
    let one = Bill {
        servers: servers("cpx11", &["ash", "fsn1"], 1),
        load_balancer: None,
    };
    assert_eq!(estimate(&prices(), &one), Ok(Cost::from_cents(509)));
}

#[test]
fn the_sum_is_rounded_once() {
    // 0.0033333333 a month each: 0.00 alone, 0.01 for three (0.0099999999 + IPv4s).
    let cost = pool_estimate(&prices(), "tiny", &["fsn1".to_owned()], 3).unwrap();
    assert_eq!(
        cost,
        Cost::from_cents(151),
        "3 × 0.0033333333 + 3 × 0.50 = 1.5099999999"
    );
}

#[test]
fn an_empty_pool_costs_nothing() {
    assert_eq!(
        pool_estimate(&prices(), "cx23", &["fsn1".to_owned()], 0),
        Ok(Cost::from_cents(0))
    );
    assert_eq!(
        pool_estimate(
            &prices(),
            "cx23",
            &["fsn1".to_owned(), "nbg1".to_owned()],
            5
        ),
        Ok(Cost::from_cents(5 * 399))
    );
}

#[test]
fn what_is_not_priced_is_an_error() {
    let err = pool_estimate(&prices(), "cx23", &["ash".to_owned()], 1).unwrap_err();
    assert!(
        err.to_string()
            .contains("no price for server type cx23 in ash"),
        "{err}"
    );
    assert!(matches!(
        pool_estimate(&prices(), "cx23", &[], 2),
        Err(EstimateError::NoLocation { .. })
    ));
    assert_eq!(
        pool_estimate(&prices_in("USD"), "cx23", &["fsn1".to_owned()], 1)
            .unwrap_err()
            .to_string(),
        "Hetzner states this project's prices in USD, not in EUR"
    );
}

#[test]
fn the_warning_says_by_how_much_and_which_way() {
    let w = change_warning(Cost::from_cents(3000), Cost::from_cents(4234)).unwrap();
    assert_eq!(
        w.detail,
        "Monthly cost rises by 12.34 EUR (from 30.00 to 42.34 EUR, excluding VAT)."
    );
    assert!(!w.is_error());
    let w = change_warning(Cost::from_cents(4234), Cost::from_cents(3000)).unwrap();
    assert_eq!(
        w.detail,
        "Monthly cost falls by 12.34 EUR (from 42.34 to 30.00 EUR, excluding VAT)."
    );
    let w = change_warning(Cost::from_cents(5), Cost::from_cents(0)).unwrap();
    assert!(
        w.detail.contains("falls by 0.05 EUR (from 0.05 to 0.00"),
        "{}",
        w.detail
    );
    assert!(change_warning(Cost::from_cents(100), Cost::from_cents(100)).is_none());
}

#[test]
fn costs_are_exact_decimals_in_state() {
    let value = Cost::from_cents(4234).to_value();
    assert_eq!(value, Value::Number("42.34".parse().unwrap()));
    assert_eq!(Cost::from_value(&value), Some(Cost::from_cents(4234)));
    assert_eq!(Cost::from_cents(100).to_value(), Value::from(1));
    assert_eq!(Cost::from_value(&Value::Null), None);
    assert_eq!(Cost::from_value(&Value::Unknown), None);
    assert_eq!(Cost::from_cents(-1234).to_string(), "-12.34");
}

fn cluster(server_type: Value, count: i64, cost: Value) -> Value {
    Value::object([
        ("name", Value::from("prod")),
        ("location", Value::from("fsn1")),
        (
            "control_plane",
            Value::object([
                ("server_type", server_type),
                ("count", Value::from(count)),
                ("locations", Value::List(vec![Value::from("fsn1")])),
            ]),
        ),
        (
            "api_load_balancer",
            Value::object([
                ("type", Value::from("lb11")),
                ("location", Value::from("fsn1")),
            ]),
        ),
        (ATTRIBUTE, cost),
    ])
}

fn change(planned: Value) -> PlannedChange {
    PlannedChange {
        planned,
        requires_replace: Vec::new(),
        diagnostics: Diagnostics::new(),
    }
}

/// Runs the plan with `prices` (as [`plan`] does once it has fetched them).
fn planned(
    prior: &Value,
    planned: Value,
    prices: Result<Option<&PriceList>, String>,
) -> PlannedChange {
    let mut change = change(planned);
    if let Next::Estimate(bill) = plan_without_prices(Kind::Cluster, prior, &mut change) {
        plan_with_prices(Kind::Cluster, prior, &mut change, &bill, prices);
    }
    change
}

fn cost_of(change: &PlannedChange) -> &Value {
    change.planned.get(ATTRIBUTE).unwrap()
}

#[test]
fn create_plans_the_estimate() {
    let list = prices();
    let c = planned(
        &Value::Null,
        cluster(Value::from("cx23"), 3, Value::Unknown),
        Ok(Some(&list)),
    );
    // 3 × (3.49 + 0.50) + 5.39
    assert_eq!(cost_of(&c), &Cost::from_cents(1736).to_value());
    assert!(c.diagnostics.is_empty(), "no warning on create");
}

#[test]
fn an_unchanged_bill_keeps_the_prior_value_without_prices() {
    let prior = cluster(Value::from("cx23"), 3, Value::from(99));
    let mut c = change(cluster(Value::from("cx23"), 3, Value::from(99)));
    assert_eq!(
        plan_without_prices(Kind::Cluster, &prior, &mut c),
        Next::Done
    );
    assert_eq!(
        cost_of(&c),
        &Value::from(99),
        "no price list needed, no diff"
    );
}

#[test]
fn a_changed_bill_is_estimated_with_a_warning() {
    let list = prices();
    let prior = cluster(Value::from("cx23"), 1, Cost::from_cents(938).to_value());
    let c = planned(
        &prior,
        cluster(Value::from("cx23"), 3, Cost::from_cents(938).to_value()),
        Ok(Some(&list)),
    );
    assert_eq!(cost_of(&c), &Cost::from_cents(1736).to_value());
    let details: Vec<&str> = c.diagnostics.iter().map(|d| d.detail.as_str()).collect();
    assert_eq!(
        details,
        ["Monthly cost rises by 7.98 EUR (from 9.38 to 17.36 EUR, excluding VAT)."]
    );
}

#[test]
fn unknown_inputs_make_it_unknown() {
    let prior = cluster(Value::from("cx23"), 1, Cost::from_cents(938).to_value());
    let mut c = change(cluster(Value::Unknown, 1, Cost::from_cents(938).to_value()));
    assert_eq!(
        plan_without_prices(Kind::Cluster, &prior, &mut c),
        Next::Done
    );
    assert_eq!(cost_of(&c), &Value::Unknown);
}

#[test]
fn without_a_token_a_new_bill_is_unknown() {
    let prior = cluster(Value::from("cx23"), 1, Cost::from_cents(938).to_value());
    let c = planned(
        &prior,
        cluster(Value::from("cx33"), 1, Value::Unknown),
        Ok(None),
    );
    assert_eq!(cost_of(&c), &Value::Unknown);
    assert!(c.diagnostics.is_empty());
}

#[test]
fn a_failed_fetch_warns_and_keeps_an_unchanged_bill() {
    // After an import or a failed estimate the prior value is null: kept while the bill is the
    // same, so a failing price list never makes a plan non-empty.
    let prior = cluster(Value::from("cx23"), 1, Value::Null);
    let c = planned(
        &prior,
        cluster(Value::from("cx23"), 1, Value::Null),
        Err("GET /pricing: HTTP transport error".to_owned()),
    );
    assert_eq!(cost_of(&c), &Value::Null);
    let d = c.diagnostics.iter().next().unwrap();
    assert_eq!(d.summary, "Cannot estimate the monthly cost");
    assert!(d.detail.contains("GET /pricing"), "{}", d.detail);
    let c = planned(
        &prior,
        cluster(Value::from("cx23"), 3, Value::Null),
        Err("GET /pricing: HTTP transport error".to_owned()),
    );
    assert_eq!(cost_of(&c), &Value::Unknown, "the apply tries again");
}

#[test]
fn an_unpriced_item_is_null_with_a_warning() {
    let list = prices();
    let c = planned(
        &Value::Null,
        cluster(Value::from("cpx31"), 1, Value::Unknown),
        Ok(Some(&list)),
    );
    assert_eq!(cost_of(&c), &Value::Null);
    assert!(
        c.diagnostics
            .iter()
            .any(|d| d.detail.contains("no server type cpx31")),
        "{:?}",
        c.diagnostics
    );
}

#[test]
fn an_unset_load_balancer_is_the_default_one_in_the_cluster_location() {
    let mut value = cluster(Value::from("cx23"), 1, Value::Unknown);
    value.set_at_path(&AttributePath::root("api_load_balancer"), Value::Null);
    let bill = Kind::Cluster.bill(&value).unwrap();
    assert_eq!(bill.load_balancer, lb("lb11", "fsn1"));
    assert_eq!(
        bill,
        Kind::Cluster
            .bill(&cluster(Value::from("cx23"), 1, Value::Null))
            .unwrap(),
        "the same bill as the planned default"
    );
}

#[test]
fn a_pool_bill_is_its_servers() {
    let pool = Value::object([
        ("server_type", Value::from("cpx11")),
        (
            "locations",
            Value::List(vec![Value::from("fsn1"), Value::from("ash")]),
        ),
        ("node_count", Value::from(2)),
        (ATTRIBUTE, Value::Unknown),
    ]);
    let bill = Kind::Pool.bill(&pool).unwrap();
    assert_eq!(bill.servers, servers("cpx11", &["fsn1", "ash"], 2));
    assert_eq!(bill.load_balancer, None);
    let mut autoscaled = pool.clone();
    autoscaled.set_at_path(&AttributePath::root("node_count"), Value::Unknown);
    assert_eq!(Kind::Pool.bill(&autoscaled), None);
}

fn data(prices: PriceList) -> ProviderData {
    ProviderData {
        hcloud_token: None,
        hcloud_endpoint: "http://127.0.0.1:9/v1".to_owned(),
        poll_interval: std::time::Duration::from_secs(1),
        image_factory: crate::talos::factory::Factory::default(),
        prices: PriceCache::holding(prices),
        request_budget: std::sync::Arc::default(),
    }
}

fn client() -> Client {
    // Nothing listens on the discard port: every price comes from the cache.
    Client::new(ClientConfig::new(Token::new("t")).endpoint("http://127.0.0.1:9/v1")).unwrap()
}

#[tokio::test]
async fn apply_computes_what_the_plan_left_unknown_and_keeps_the_rest() {
    let data = data(prices());
    let mut state = cluster(Value::from("cx23"), 3, Value::Unknown);
    assert!(
        settle(Kind::Cluster, &data, &client(), &mut state)
            .await
            .is_none()
    );
    assert_eq!(
        state.get(ATTRIBUTE),
        Some(&Cost::from_cents(1736).to_value())
    );
    // The same as the plan computes for the same inputs.
    let list = prices();
    let c = planned(
        &Value::Null,
        cluster(Value::from("cx23"), 3, Value::Unknown),
        Ok(Some(&list)),
    );
    assert_eq!(cost_of(&c), state.get(ATTRIBUTE).unwrap());

    let mut planned_value = cluster(Value::from("cx23"), 3, Value::from(7));
    assert!(
        settle(Kind::Cluster, &data, &client(), &mut planned_value)
            .await
            .is_none()
    );
    assert_eq!(
        planned_value.get(ATTRIBUTE),
        Some(&Value::from(7)),
        "kept as planned"
    );

    let mut unpriced = cluster(Value::from("cpx31"), 1, Value::Unknown);
    let warning = settle(Kind::Cluster, &data, &client(), &mut unpriced)
        .await
        .unwrap();
    assert_eq!(unpriced.get(ATTRIBUTE), Some(&Value::Null));
    assert!(warning.detail.contains("cpx31"), "{}", warning.detail);
}
