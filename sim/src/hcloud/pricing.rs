//! `GET /pricing`: the project's price list, and the price shapes `/server_types` and
//! `/load_balancer_types` embed, built from the same catalog so both always agree.
//!
//! Wire format as Hetzner sends it: every amount is an object of decimal strings, `net` with 10
//! decimals and `gross` (net plus the project owner's VAT) with 16; prices differ per location
//! ([`Location::price_percent`]); hourly rates are about 1/624 of the monthly price rounded up to
//! 0.0001 EUR, so 730 hours of hourly billing cost more than the month: `price_monthly` is the
//! monthly cap, what a resource kept for a whole month costs.

use axum::Router;
use axum::routing::get;
use serde_json::{Value, json};

use super::AppState;
use super::request::{Reply, ok};
use crate::catalog::{
    FLOATING_IPV4_MONTHLY_CENTS, FLOATING_IPV6_MONTHLY_CENTS, LOAD_BALANCER_TYPES, LOCATIONS,
    Location, PRIMARY_IPV4_MONTHLY_CENTS, SERVER_TYPES, monthly_price_cents,
};

/// VAT rate of the sim's project owner (a customer in Germany), in percent.
pub const VAT_PERCENT: i64 = 19;

/// Price routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/pricing", get(get_pricing))
}

/// Ten-thousandths of a euro (Hetzner's hourly rates have four decimals) in wire shape: `net`
/// with 10 decimals, `gross` with 16 (net plus VAT, exact: `net × (100 + VAT) / 100`).
pub fn price(net_ten_thousandths: i64) -> Value {
    let net = net_ten_thousandths;
    // In millionths of a euro, net × (1 + VAT/100) is a whole number.
    let gross = net * (100 + VAT_PERCENT);
    json!({
        "net": format!("{}.{:04}000000", net / 10_000, net % 10_000),
        "gross": format!("{}.{:06}0000000000", gross / 1_000_000, gross % 1_000_000),
    })
}

/// A monthly price in cents in wire shape.
fn monthly(cents: i64) -> Value {
    price(cents * 100)
}

/// The hourly rate of a resource whose monthly cap is `cents`: 1/624 of it, rounded up to
/// 0.0001 EUR (Hetzner's own ratio: 3.49 EUR a month is 0.0056 EUR an hour).
fn hourly(cents: i64) -> Value {
    price(hourly_ten_thousandths(cents))
}

fn hourly_ten_thousandths(cents: i64) -> i64 {
    (cents * 100 + 623) / 624
}

const TIB: i64 = 1 << 40;

/// The per-location prices of a server or load balancer type costing `eu_cents` a month in the EU.
pub fn prices(eu_cents: i64, locations: impl Iterator<Item = &'static Location>) -> Vec<Value> {
    locations
        .map(|l| {
            let cents = monthly_price_cents(eu_cents, l);
            json!({
                "location": l.name,
                "price_hourly": hourly(cents),
                "price_monthly": monthly(cents),
                "included_traffic": l.included_traffic_tib() * TIB,
                "price_per_tb_traffic": monthly(100),
            })
        })
        .collect()
}

fn primary_ips() -> Value {
    let per_location = |eu_cents: i64| -> Vec<Value> {
        LOCATIONS
            .iter()
            .map(|l| {
                let cents = monthly_price_cents(eu_cents, l);
                json!({"location": l.name, "price_hourly": hourly(cents), "price_monthly": monthly(cents)})
            })
            .collect()
    };
    json!([
        {"type": "ipv4", "prices": per_location(PRIMARY_IPV4_MONTHLY_CENTS)},
        {"type": "ipv6", "prices": per_location(0)},
    ])
}

fn floating_ips() -> Value {
    let per_location = |eu_cents: i64| -> Vec<Value> {
        LOCATIONS
            .iter()
            .map(|l| json!({"location": l.name, "price_monthly": monthly(monthly_price_cents(eu_cents, l))}))
            .collect()
    };
    json!([
        {"type": "ipv4", "prices": per_location(FLOATING_IPV4_MONTHLY_CENTS)},
        {"type": "ipv6", "prices": per_location(FLOATING_IPV6_MONTHLY_CENTS)},
    ])
}

/// The whole price list, as `GET /pricing` answers it.
pub fn pricing_json() -> Value {
    let server_types: Vec<Value> = SERVER_TYPES
        .iter()
        .map(|t| {
            let sold = LOCATIONS.iter().filter(|l| t.available_in(l));
            json!({"id": t.id, "name": t.name, "prices": prices(t.monthly_cents, sold)})
        })
        .collect();
    let load_balancer_types: Vec<Value> = LOAD_BALANCER_TYPES
        .iter()
        .map(|t| json!({"id": t.id, "name": t.name, "prices": prices(t.monthly_cents, LOCATIONS.iter())}))
        .collect();
    json!({"pricing": {
        "currency": "EUR",
        "vat_rate": format!("{VAT_PERCENT}.000000"),
        "image": {"price_per_gb_month": price(110)},
        "volume": {"price_per_gb_month": price(440)},
        "server_backup": {"percentage": "20.00"},
        "floating_ip": {"price_monthly": monthly(FLOATING_IPV4_MONTHLY_CENTS)},
        "floating_ips": floating_ips(),
        "primary_ips": primary_ips(),
        "server_types": server_types,
        "load_balancer_types": load_balancer_types,
    }})
}

async fn get_pricing() -> Reply {
    ok(pricing_json())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_decimal_strings_with_exact_vat() {
        assert_eq!(
            price(34_900),
            json!({"net": "3.4900000000", "gross": "4.1531000000000000"})
        );
        assert_eq!(
            price(56),
            json!({"net": "0.0056000000", "gross": "0.0066640000000000"})
        );
        assert_eq!(
            hourly(349),
            price(56),
            "3.49 EUR a month is 0.0056 EUR an hour"
        );
    }

    #[test]
    fn hourly_billing_for_a_month_exceeds_the_monthly_cap() {
        for cents in [50, 349, 539, 28_849] {
            let hour = hourly_ten_thousandths(cents);
            assert!(hour * 730 > cents * 100, "{cents}");
        }
    }

    #[test]
    fn the_price_list_agrees_with_the_server_types() {
        let list = pricing_json();
        let cx23 = list["pricing"]["server_types"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == "cx23")
            .unwrap();
        let locations: Vec<&str> = cx23["prices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["location"].as_str().unwrap())
            .collect();
        assert_eq!(
            locations,
            ["fsn1", "nbg1", "hel1"],
            "cx23 is sold in the EU only"
        );
        let t = crate::catalog::server_type("cx23").unwrap();
        let catalog = prices(
            t.monthly_cents,
            crate::catalog::LOCATIONS
                .iter()
                .filter(|l| t.available_in(l)),
        );
        assert_eq!(cx23["prices"], serde_json::Value::Array(catalog));
        let ash = list["pricing"]["primary_ips"][0]["prices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["location"] == "ash")
            .unwrap();
        assert_eq!(
            ash["price_monthly"]["net"], "0.5900000000",
            "US prices are higher"
        );
    }
}
