use super::*;

/// A `GET /pricing` reply in the API's shape (gross with 16 decimals, a Swiss VAT rate, US prices
/// above EU ones, a type sold in the EU only, the fields hk8s does not read).
const REPLY: &str = r#"{"pricing": {
  "currency": "EUR", "vat_rate": "8.100000",
  "image": {"price_per_gb_month": {"net": "0.0110000000", "gross": "0.0118910000000000"}},
  "volume": {"price_per_gb_month": {"net": "0.0440000000", "gross": "0.0475640000000000"}},
  "server_backup": {"percentage": "20.00"},
  "floating_ip": {"price_monthly": {"net": "3.0000000000", "gross": "3.2430000000000000"}},
  "floating_ips": [{"type": "ipv4", "prices": [{"location": "fsn1", "price_monthly": {"net": "3.0000000000", "gross": "3.2430000000000000"}}]}],
  "primary_ips": [
    {"type": "ipv4", "prices": [
      {"location": "fsn1", "price_hourly": {"net": "0.0008000000", "gross": "0.0008648000000000"}, "price_monthly": {"net": "0.5000000000", "gross": "0.5405000000000000"}},
      {"location": "ash", "price_hourly": {"net": "0.0010000000", "gross": "0.0010810000000000"}, "price_monthly": {"net": "0.6000000000", "gross": "0.6486000000000000"}}]},
    {"type": "ipv6", "prices": [
      {"location": "fsn1", "price_hourly": {"net": "0.0000000000", "gross": "0.0000000000000000"}, "price_monthly": {"net": "0.0000000000", "gross": "0.0000000000000000"}}]}],
  "server_types": [
    {"id": 1, "name": "cx23", "prices": [
      {"location": "fsn1", "price_hourly": {"net": "0.0056000000", "gross": "0.0060536000000000"}, "price_monthly": {"net": "3.4900000000", "gross": "3.7726900000000000"}, "included_traffic": 21990232555520, "price_per_tb_traffic": {"net": "1.0000000000", "gross": "1.0810000000000000"}}]},
    {"id": 11, "name": "cpx11", "prices": [
      {"location": "fsn1", "price_hourly": {"net": "0.0063000000", "gross": "0.0068103000000000"}, "price_monthly": {"net": "3.8500000000", "gross": "4.1618500000000000"}, "included_traffic": 21990232555520, "price_per_tb_traffic": {"net": "1.0000000000", "gross": "1.0810000000000000"}},
      {"location": "ash", "price_hourly": {"net": "0.0072000000", "gross": "0.0077832000000000"}, "price_monthly": {"net": "4.4900000000", "gross": "4.8536900000000000"}, "included_traffic": 1099511627776, "price_per_tb_traffic": {"net": "1.0000000000", "gross": "1.0810000000000000"}}]}],
  "load_balancer_types": [
    {"id": 1, "name": "lb11", "prices": [
      {"location": "fsn1", "price_hourly": {"net": "0.0087000000", "gross": "0.0094047000000000"}, "price_monthly": {"net": "5.3900000000", "gross": "5.8265900000000000"}, "included_traffic": 21990232555520, "price_per_tb_traffic": {"net": "1.0000000000", "gross": "1.0810000000000000"}}]}]
}}"#;

fn list() -> PriceList {
    PriceList::from_json(REPLY.as_bytes()).expect("the reply parses")
}

#[test]
fn amounts_parse_exactly() {
    let m = |s: &str| s.parse::<Money>().unwrap();
    assert_eq!(m("3.4900000000"), Money::from_cents(349));
    assert_eq!(m("3.49"), m("3.4900000000"));
    assert_eq!(m("12"), Money::from_cents(1200));
    assert_eq!(
        m("0.0056000000").cents(),
        1,
        "half a cent and more rounds up"
    );
    assert_eq!(m("0.0049999999").cents(), 0);
    assert_eq!(m("0.0050000000").cents(), 1);
    // Gross amounts carry 16 decimals: the 11th decides the rounding of the 10th.
    assert_eq!(m("0.00000000005"), m("0.0000000001"));
    assert_eq!(m("0.00000000004999"), Money::default());
    for bad in [
        "",
        "-1.00",
        "1,00",
        ".5",
        "1.2.3",
        "abc",
        "1e3",
        "99999999999999999.0",
    ] {
        assert!(bad.parse::<Money>().is_err(), "{bad:?} parsed");
    }
}

#[test]
fn sums_and_display_in_cents() {
    let total = Money::from_cents(349)
        .times(3)
        .and_then(|m| m.plus(Money::from_cents(539)))
        .unwrap();
    assert_eq!(total.cents(), 1586);
    assert_eq!(total.to_string(), "15.86");
    assert_eq!(Money::from_cents(5).to_string(), "0.05");
    assert_eq!(Money(i64::MAX).times(2), None);
}

#[test]
fn monthly_prices_per_location() {
    let prices = list();
    assert_eq!(prices.currency, "EUR");
    assert_eq!(
        prices.server_monthly("cx23", "fsn1"),
        Ok(Money::from_cents(349))
    );
    assert_eq!(
        prices.server_monthly("cpx11", "ash"),
        Ok(Money::from_cents(449)),
        "the US price, not the EU one"
    );
    assert_eq!(
        prices.load_balancer_monthly("lb11", "fsn1"),
        Ok(Money::from_cents(539))
    );
    assert_eq!(
        prices.primary_ipv4_monthly("fsn1"),
        Ok(Money::from_cents(50))
    );
    assert_eq!(
        prices.primary_ipv4_monthly("ash"),
        Ok(Money::from_cents(60))
    );
}

#[test]
fn missing_prices_say_what_is_priced() {
    let prices = list();
    let err = prices.server_monthly("cx23", "ash").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Hetzner's price list has no price for server type cx23 in ash; it is priced in fsn1"
    );
    let err = prices.server_monthly("cx99", "fsn1").unwrap_err();
    assert_eq!(
        err.to_string(),
        "Hetzner's price list has no server type cx99; it prices cpx11, cx23"
    );
    assert!(matches!(
        prices.load_balancer_monthly("lb21", "fsn1"),
        Err(PriceError::Unknown { .. })
    ));
    assert!(matches!(
        prices.primary_ipv4_monthly("sin"),
        Err(PriceError::NotInLocation { .. })
    ));
}

#[test]
fn a_malformed_reply_is_an_error() {
    let bad_amount = REPLY.replace("\"3.4900000000\"", "\"3,49\"");
    let err = PriceList::from_json(bad_amount.as_bytes()).unwrap_err();
    assert!(
        err.to_string().contains("\"3,49\" is not an amount"),
        "{err}"
    );
    assert!(PriceList::from_json(br#"{"pricing": {"currency": "EUR"}}"#).is_err());
}

#[tokio::test]
async fn the_cache_keeps_the_list() {
    let cache = PriceCache::holding(list());
    let client = Client::new(
        crate::hcloud::ClientConfig::new(crate::hcloud::Token::new("t"))
            .endpoint("http://127.0.0.1:9/v1"),
    )
    .unwrap();
    // No request is sent (nothing listens on the discard port): the list comes from the cache.
    let held = cache.get(&client).await.unwrap();
    assert_eq!(
        held.server_monthly("cx23", "fsn1"),
        Ok(Money::from_cents(349))
    );
    assert!(format!("{cache:?}").contains("fetched: true"));
    let empty = PriceCache::default();
    assert!(format!("{empty:?}").contains("fetched: false"));
}
