//! Hetzner's price list (`GET /pricing`) and the cost model hk8s estimates with: what a server
//! type, a load balancer type and a primary IPv4 cost per month in a location, net of VAT.
//!
//! Hetzner bills by the hour up to a monthly cap; the hourly rate is set so that a whole month of
//! hours costs more than the cap, so `price_monthly` (the cap, as the API states it per location)
//! is what a resource kept all month costs. Prices are never assumed: they change (2026-04-01 for
//! every server, 2026-06-15 for new orders) and differ per location, so they are read from the
//! API, once per provider process ([`PriceCache`]). Amounts are exact decimals ([`Money`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer};

use super::client::{ApiRequest, Client};
use super::error::Error;

/// Decimal places the API gives net amounts with.
const DECIMALS: u32 = 10;
/// [`Money`] units in one euro cent.
const UNITS_PER_CENT: i64 = 10_i64.pow(DECIMALS - 2);

/// A non-negative amount of money, exact to the API's 10 decimals (units of 10⁻¹⁰).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

/// An amount that is not a non-negative decimal number (or is too large to be a price).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not an amount of money (a non-negative decimal number)")]
pub struct MoneyError {
    /// The text given.
    pub text: String,
}

impl Money {
    /// An amount in whole cents.
    #[must_use]
    pub fn from_cents(cents: i64) -> Self {
        Money(cents.saturating_mul(UNITS_PER_CENT))
    }

    /// `self × count`, `None` on overflow.
    #[must_use]
    pub fn times(self, count: u32) -> Option<Self> {
        self.0.checked_mul(i64::from(count)).map(Money)
    }

    /// `self + other`, `None` on overflow.
    #[must_use]
    pub fn plus(self, other: Money) -> Option<Self> {
        self.0.checked_add(other.0).map(Money)
    }

    /// Rounded to whole cents, halves up (as an invoice rounds).
    #[must_use]
    pub fn cents(self) -> i64 {
        (self.0 + UNITS_PER_CENT / 2) / UNITS_PER_CENT
    }
}

impl FromStr for Money {
    type Err = MoneyError;

    /// Parses the API's decimal strings (`"3.4900000000"`); digits beyond the tenth decimal are
    /// rounded, halves up.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || MoneyError {
            text: text.to_owned(),
        };
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) {
            return Err(error());
        }
        let kept = &fraction[..fraction.len().min(DECIMALS as usize)];
        let round_up = fraction
            .as_bytes()
            .get(DECIMALS as usize)
            .is_some_and(|&d| d >= b'5');
        let mut units: i64 = whole.parse().map_err(|_| error())?;
        for position in 0..DECIMALS as usize {
            let digit = kept
                .as_bytes()
                .get(position)
                .map_or(0, |d| i64::from(d - b'0'));
            units = units
                .checked_mul(10)
                .and_then(|u| u.checked_add(digit))
                .ok_or_else(error)?;
        }
        if round_up {
            units = units.checked_add(1).ok_or_else(error)?;
        }
        Ok(Money(units))
    }
}

impl fmt::Display for Money {
    /// Whole cents, e.g. `42.34`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cents = self.cents();
        write!(f, "{}.{:02}", cents / 100, cents % 100)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Something the price list was asked about and does not price.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// The item (a server or load balancer type) is not in the list at all.
    #[error("Hetzner's price list has no {item}; it prices {}", known.join(", "))]
    Unknown {
        /// What was asked for, e.g. `server type cx99`.
        item: String,
        /// The names of that kind the list has.
        known: Vec<String>,
    },
    /// The item has no price in the location (it is not sold there).
    #[error(
        "Hetzner's price list has no price for {item} in {location}; it is priced in {}",
        if priced_in.is_empty() { "no location".to_owned() } else { priced_in.join(", ") }
    )]
    NotInLocation {
        /// What was asked for, e.g. `server type cax21`.
        item: String,
        /// The location asked about.
        location: String,
        /// Where it has a price.
        priced_in: Vec<String>,
    },
}

/// Monthly net prices by location.
type ByLocation = BTreeMap<String, Money>;

/// The project's price list: monthly net prices (the monthly caps) per location.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PriceList {
    /// ISO 4217 currency of every amount (the project owner's, `EUR`).
    pub currency: String,
    server_types: BTreeMap<String, ByLocation>,
    load_balancer_types: BTreeMap<String, ByLocation>,
    primary_ipv4: ByLocation,
}

#[derive(Deserialize)]
struct Envelope {
    pricing: WirePricing,
}

#[derive(Deserialize)]
struct WirePricing {
    currency: String,
    primary_ips: Vec<WireIp>,
    server_types: Vec<WireNamed>,
    load_balancer_types: Vec<WireNamed>,
}

#[derive(Deserialize)]
struct WireNamed {
    name: String,
    prices: Vec<WireLocated>,
}

#[derive(Deserialize)]
struct WireIp {
    #[serde(rename = "type")]
    kind: String,
    prices: Vec<WireLocated>,
}

#[derive(Deserialize)]
struct WireLocated {
    location: String,
    price_monthly: WirePrice,
}

#[derive(Deserialize)]
struct WirePrice {
    net: Money,
}

fn by_location(prices: Vec<WireLocated>) -> ByLocation {
    prices
        .into_iter()
        .map(|p| (p.location, p.price_monthly.net))
        .collect()
}

fn named(items: Vec<WireNamed>) -> BTreeMap<String, ByLocation> {
    items
        .into_iter()
        .map(|t| (t.name, by_location(t.prices)))
        .collect()
}

impl From<WirePricing> for PriceList {
    fn from(wire: WirePricing) -> Self {
        let primary_ipv4 = wire
            .primary_ips
            .into_iter()
            .find(|ip| ip.kind == "ipv4")
            .map(|ip| by_location(ip.prices))
            .unwrap_or_default();
        PriceList {
            currency: wire.currency,
            server_types: named(wire.server_types),
            load_balancer_types: named(wire.load_balancer_types),
            primary_ipv4,
        }
    }
}

fn lookup(
    table: &BTreeMap<String, ByLocation>,
    kind: &str,
    name: &str,
    location: &str,
) -> Result<Money, PriceError> {
    let by_location = table.get(name).ok_or_else(|| PriceError::Unknown {
        item: format!("{kind} {name}"),
        known: table.keys().cloned().collect(),
    })?;
    in_location(by_location, &format!("{kind} {name}"), location)
}

fn in_location(by_location: &ByLocation, item: &str, location: &str) -> Result<Money, PriceError> {
    by_location
        .get(location)
        .copied()
        .ok_or_else(|| PriceError::NotInLocation {
            item: item.to_owned(),
            location: location.to_owned(),
            priced_in: by_location.keys().cloned().collect(),
        })
}

impl PriceList {
    /// Parses a `GET /pricing` reply.
    ///
    /// # Errors
    /// When the body is not the price list's shape or an amount is not a decimal number.
    pub fn from_json(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice::<Envelope>(body).map(|e| e.pricing.into())
    }

    /// A month of a server of `server_type` in `location` (without its primary IPs).
    ///
    /// # Errors
    /// When the list has no such type, or no price for it there.
    pub fn server_monthly(&self, server_type: &str, location: &str) -> Result<Money, PriceError> {
        lookup(&self.server_types, "server type", server_type, location)
    }

    /// A month of a load balancer of `load_balancer_type` in `location`.
    ///
    /// # Errors
    /// When the list has no such type, or no price for it there.
    pub fn load_balancer_monthly(
        &self,
        load_balancer_type: &str,
        location: &str,
    ) -> Result<Money, PriceError> {
        lookup(
            &self.load_balancer_types,
            "load balancer type",
            load_balancer_type,
            location,
        )
    }

    /// A month of a primary IPv4 address in `location`.
    ///
    /// # Errors
    /// When the list has no price for primary IPv4s there.
    pub fn primary_ipv4_monthly(&self, location: &str) -> Result<Money, PriceError> {
        in_location(&self.primary_ipv4, "a primary IPv4", location)
    }
}

impl Client {
    /// The project's price list (`GET /pricing`).
    ///
    /// # Errors
    /// When the request fails or the reply is not a price list.
    pub async fn get_prices(&self) -> Result<PriceList, Error> {
        let envelope: Envelope = self.call(ApiRequest::get("/pricing")).await?;
        Ok(envelope.pricing.into())
    }
}

/// The price list, fetched at most once per provider process and shared by every plan and apply
/// (clones share it). A failed fetch is not kept: the next caller tries again.
#[derive(Clone, Default)]
pub struct PriceCache(Arc<tokio::sync::OnceCell<Arc<PriceList>>>);

impl PriceCache {
    /// The cached list, fetching it with `client` the first time.
    ///
    /// # Errors
    /// When the list is not cached yet and cannot be fetched.
    pub async fn get(&self, client: &Client) -> Result<Arc<PriceList>, Error> {
        self.0
            .get_or_try_init(|| async { client.get_prices().await.map(Arc::new) })
            .await
            .cloned()
    }

    /// A cache already holding `list` (tests, and callers that fetched it themselves).
    #[must_use]
    pub fn holding(list: PriceList) -> Self {
        PriceCache(Arc::new(tokio::sync::OnceCell::new_with(Some(Arc::new(
            list,
        )))))
    }
}

impl fmt::Debug for PriceCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PriceCache")
            .field("fetched", &self.0.initialized())
            .finish()
    }
}

#[cfg(test)]
mod tests;
