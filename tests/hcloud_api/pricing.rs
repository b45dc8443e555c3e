//! The price list: read from the sim's `GET /pricing`, priced per location, fetched once.

use hk8s::hcloud::pricing::{Money, PriceCache};

use super::support::start;

#[tokio::test]
async fn prices_are_read_per_location_and_fetched_once() {
    let sim = start().await;
    let client = sim.client();
    let cache = PriceCache::default();
    let prices = cache.get(&client).await.unwrap();
    assert_eq!(prices.currency, "EUR");
    // The sim's catalog: cx23 costs 3.49 a month in the EU, lb11 5.39, a primary IPv4 0.50; the
    // US costs 17 % more.
    assert_eq!(
        prices.server_monthly("cx23", "nbg1"),
        Ok(Money::from_cents(349))
    );
    assert_eq!(
        prices.load_balancer_monthly("lb11", "fsn1"),
        Ok(Money::from_cents(539))
    );
    assert_eq!(
        prices.primary_ipv4_monthly("hel1"),
        Ok(Money::from_cents(50))
    );
    assert_eq!(
        prices.primary_ipv4_monthly("ash"),
        Ok(Money::from_cents(59))
    );
    assert_eq!(
        prices.server_monthly("cpx31", "hil"),
        Ok(Money::from_cents(1871))
    );
    assert!(
        prices.server_monthly("cax21", "ash").is_err(),
        "cax is not sold in the US"
    );

    let again = cache.clone().get(&client).await.unwrap();
    assert_eq!(*again, *prices);
    assert_eq!(
        sim.requests("GET /pricing").await,
        1,
        "one request for both"
    );
}
