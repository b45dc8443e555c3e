//! `estimated_monthly_cost` of `hk8s_cluster` and `hk8s_node_pool`: what the resource's Hetzner
//! objects cost per month, in EUR net of VAT, from Hetzner's own price list
//! ([`crate::hcloud::pricing`]).
//!
//! What is counted ([`Bill`]): the servers (spread round robin over their locations, as the
//! resources place them) with their primary IPv4 each, and the cluster's API load balancer.
//! Networks, firewalls and placement groups are free; traffic, snapshots and volumes depend on
//! use and are not estimated.
//!
//! Plan and apply agree ([`plan`], [`settle`]): the plan keeps the prior value while nothing the
//! bill depends on changes (so no plan is ever non-empty because of the estimate alone, and no
//! price list is fetched), computes the new value when something does, and leaves it unknown
//! only when it cannot be known yet (unknown inputs, no token); the apply then computes what the
//! plan left unknown, and keeps what it planned.

use std::fmt;

use tokio_util::sync::CancellationToken;

use crate::hcloud::Client;
use crate::hcloud::catalog::DEFAULT_LOAD_BALANCER_TYPE;
use crate::hcloud::pricing::{Money, PriceError, PriceList};
use crate::provider::ProviderData;
use crate::resources::config_view as view;
use crate::resources::fleet::{Operation, chain};
use crate::tfplugin::diag::{AttributePath, Diagnostic};
use crate::tfplugin::framework::PlannedChange;
use crate::tfplugin::schema::Attribute;
use crate::tfplugin::value::{Number, Value};

/// The attribute's name, on both resources.
pub const ATTRIBUTE: &str = "estimated_monthly_cost";

/// The currency the attribute is stated in.
pub const CURRENCY: &str = "EUR";

/// How long a plan may spend fetching the price list.
const PLAN_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

fn path() -> AttributePath {
    AttributePath::root(ATTRIBUTE)
}

/// The computed attribute, for what `whose` names ("the pool's servers and their primary IPv4s").
pub fn attribute(whose: &str) -> Attribute {
    Attribute::number(ATTRIBUTE).computed().description(format!(
        "Estimated cost per month, in EUR excluding VAT, of {whose}, by Hetzner's price list (each \
         item's monthly price in its location; servers spread over their locations as the nodes \
         are). Traffic beyond the included amount is not counted. Recomputed when a plan changes \
         what is bought, with a warning saying by how much the cost rises or falls; kept \
         otherwise."
    ))
}

/// Servers of one type spread round robin over `locations` (the first location gets the first
/// server, and the extra ones when the count does not divide evenly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Servers {
    /// Hetzner server type.
    pub server_type: String,
    /// Where they go, in order.
    pub locations: Vec<String>,
    /// How many.
    pub count: u32,
}

/// A load balancer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancer {
    /// Hetzner load balancer type.
    pub load_balancer_type: String,
    /// Its location.
    pub location: String,
}

/// What a resource pays for every month, as its plan has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bill {
    /// Its servers (each with a primary IPv4).
    pub servers: Servers,
    /// Its load balancer, if it has one.
    pub load_balancer: Option<LoadBalancer>,
}

/// A monthly cost, in whole euro cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cost {
    cents: i64,
}

impl Cost {
    /// A cost of `cents`.
    #[must_use]
    pub fn from_cents(cents: i64) -> Self {
        Cost { cents }
    }

    /// In cents.
    #[must_use]
    pub fn cents(self) -> i64 {
        self.cents
    }

    /// The attribute's value: an exact decimal such as `42.34`.
    #[must_use]
    pub fn to_value(self) -> Value {
        self.to_string()
            .parse::<Number>()
            .map_or(Value::Null, Value::Number)
    }

    /// A known, non-null attribute value read back (from state or a plan).
    #[must_use]
    pub fn from_value(value: &Value) -> Option<Self> {
        let money: Money = value.as_number()?.to_string().parse().ok()?;
        Some(Cost::from_cents(money.cents()))
    }
}

impl fmt::Display for Cost {
    /// `42.34`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.cents < 0 { "-" } else { "" };
        let abs = self.cents.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// Why no estimate could be made from a price list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EstimateError {
    /// Something bought is not priced (e.g. a server type not sold in the location).
    #[error(transparent)]
    Price(#[from] PriceError),
    /// The project's prices are in another currency than the attribute's.
    #[error("Hetzner states this project's prices in {currency}, not in {CURRENCY}")]
    Currency {
        /// The project's currency.
        currency: String,
    },
    /// Servers without a location to go to.
    #[error("no location to place the {server_type} servers in")]
    NoLocation {
        /// Their server type.
        server_type: String,
    },
    /// A sum beyond any real bill.
    #[error("the estimate overflows")]
    Overflow,
}

/// What `bill` costs per month by `prices`: every item's monthly net price (its monthly cap)
/// summed exactly, rounded to cents once.
///
/// # Errors
/// When something is not priced, or the list is not in EUR.
pub fn estimate(prices: &PriceList, bill: &Bill) -> Result<Cost, EstimateError> {
    if prices.currency != CURRENCY {
        return Err(EstimateError::Currency {
            currency: prices.currency.clone(),
        });
    }
    let servers = &bill.servers;
    let mut total = Money::default();
    if servers.count > 0 && servers.locations.is_empty() {
        return Err(EstimateError::NoLocation {
            server_type: servers.server_type.clone(),
        });
    }
    // Per location: how many servers the round robin puts there.
    let places = servers.locations.len();
    for (i, location) in servers.locations.iter().enumerate() {
        let here = (servers.count as usize).saturating_sub(i).div_ceil(places);
        let here = u32::try_from(here).map_err(|_| EstimateError::Overflow)?;
        if here == 0 {
            continue;
        }
        let one = prices
            .server_monthly(&servers.server_type, location)?
            .plus(prices.primary_ipv4_monthly(location)?)
            .ok_or(EstimateError::Overflow)?;
        total = one
            .times(here)
            .and_then(|m| total.plus(m))
            .ok_or(EstimateError::Overflow)?;
    }
    if let Some(lb) = &bill.load_balancer {
        let price = prices.load_balancer_monthly(&lb.load_balancer_type, &lb.location)?;
        total = total.plus(price).ok_or(EstimateError::Overflow)?;
    }
    Ok(Cost::from_cents(total.cents()))
}

/// What a node pool of `node_count` servers of `server_type`, spread over `locations`, costs per
/// month (servers and their primary IPv4s). The pool's apply reaches the same value through
/// [`settle`]; this is the arithmetic alone.
///
/// # Errors
/// As [`estimate`].
pub fn pool_estimate(
    prices: &PriceList,
    server_type: &str,
    locations: &[String],
    node_count: u32,
) -> Result<Cost, EstimateError> {
    estimate(
        prices,
        &Bill {
            servers: Servers {
                server_type: server_type.to_owned(),
                locations: locations.to_vec(),
                count: node_count,
            },
            load_balancer: None,
        },
    )
}

/// The warning of a plan that changes the estimate, `None` when it stays the same.
#[must_use]
pub fn change_warning(before: Cost, after: Cost) -> Option<Diagnostic> {
    let difference = after.cents - before.cents;
    let way = match difference {
        0 => return None,
        d if d > 0 => "rises",
        _ => "falls",
    };
    Some(Diagnostic::warning(
        "Estimated monthly cost changes",
        format!(
            "Monthly cost {way} by {} {CURRENCY} (from {before} to {after} {CURRENCY}, excluding VAT).",
            Cost::from_cents(difference.abs())
        ),
    ))
}

/// Which resource a value belongs to, and so how its bill is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `hk8s_cluster`: the control plane and the API load balancer.
    Cluster,
    /// `hk8s_node_pool`: the pool's servers.
    Pool,
}

impl Kind {
    /// The bill of a cluster or pool value (plan, prior state or state); `None` while anything
    /// it depends on is unknown.
    #[must_use]
    pub fn bill(self, value: &Value) -> Option<Bill> {
        match self {
            Kind::Cluster => cluster_bill(value),
            Kind::Pool => pool_bill(value),
        }
    }
}

/// The strings of a wholly known list; null reads as empty.
fn known_strings(value: &Value, path: &AttributePath) -> Option<Vec<String>> {
    match value.at_path(path)? {
        Value::Null => Some(Vec::new()),
        Value::List(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_owned))
            .collect(),
        _ => None,
    }
}

fn count(value: &Value, path: &AttributePath) -> Option<u32> {
    view::integer(value, path).and_then(|n| u32::try_from(n).ok())
}

fn cluster_bill(value: &Value) -> Option<Bill> {
    let cp = AttributePath::root("control_plane");
    let location = view::string(value, &AttributePath::root("location"))?;
    let mut locations = known_strings(value, &cp.attr("locations"))?;
    if locations.is_empty() {
        locations.push(location.to_owned());
    }
    // The cluster always has its API load balancer: unset means the default, in its location
    // (as the apply makes it).
    let lb = AttributePath::root("api_load_balancer");
    let load_balancer = match value.at_path(&lb).filter(|v| v.is_known())? {
        Value::Null => LoadBalancer {
            load_balancer_type: DEFAULT_LOAD_BALANCER_TYPE.to_owned(),
            location: location.to_owned(),
        },
        _ => LoadBalancer {
            load_balancer_type: view::string(value, &lb.attr("type"))?.to_owned(),
            location: view::string(value, &lb.attr("location"))?.to_owned(),
        },
    };
    Some(Bill {
        servers: Servers {
            server_type: view::string(value, &cp.attr("server_type"))?.to_owned(),
            locations,
            count: count(value, &cp.attr("count"))?,
        },
        load_balancer: Some(load_balancer),
    })
}

fn pool_bill(value: &Value) -> Option<Bill> {
    Some(Bill {
        servers: Servers {
            server_type: view::string(value, &AttributePath::root("server_type"))?.to_owned(),
            locations: known_strings(value, &AttributePath::root("locations"))?,
            count: count(value, &AttributePath::root("node_count"))?,
        },
        load_balancer: None,
    })
}

/// What the plan does once it knows whether prices are needed.
#[derive(Debug, PartialEq, Eq)]
enum Next {
    /// The estimate is decided.
    Done,
    /// The estimate of this bill is needed.
    Estimate(Bill),
}

/// Plans the estimate as far as it goes without the price list.
fn plan_without_prices(kind: Kind, prior: &Value, change: &mut PlannedChange) -> Next {
    if change.planned.is_null() {
        return Next::Done; // destroy
    }
    let Some(bill) = kind.bill(&change.planned) else {
        change.set_unknown(&path());
        return Next::Done;
    };
    let prior_cost = view::known(prior, &path()).filter(|v| !v.is_null());
    if let Some(prior_cost) = prior_cost
        && kind.bill(prior).as_ref() == Some(&bill)
    {
        let kept = prior_cost.clone();
        change.set(&path(), kept);
        return Next::Done;
    }
    Next::Estimate(bill)
}

/// Plans the estimate of `bill` from the price list (or why there is none).
fn plan_with_prices(
    kind: Kind,
    prior: &Value,
    change: &mut PlannedChange,
    bill: &Bill,
    prices: Result<Option<&PriceList>, String>,
) {
    // Without a new estimate, a bill that did not change keeps the value it had.
    let unchanged = !prior.is_null() && kind.bill(prior).as_ref() == Some(bill);
    let fallback = if unchanged {
        prior.get(ATTRIBUTE).cloned().unwrap_or(Value::Null)
    } else {
        Value::Unknown
    };
    let prices = match prices {
        Ok(Some(prices)) => prices,
        Ok(None) => {
            change.set(&path(), fallback);
            return;
        }
        Err(reason) => {
            change
                .diagnostics
                .push(cannot_estimate(&reason, "the apply tries again"));
            change.set(&path(), fallback);
            return;
        }
    };
    match estimate(prices, bill) {
        Ok(cost) => {
            change.set(&path(), cost.to_value());
            let before = prior.get(ATTRIBUTE).and_then(Cost::from_value);
            if let Some(warning) = before.and_then(|b| change_warning(b, cost)) {
                change.diagnostics.push(warning);
            }
        }
        Err(e) => {
            change
                .diagnostics
                .push(cannot_estimate(&e.to_string(), "it stays unset"));
            change.set(&path(), Value::Null);
        }
    }
}

fn cannot_estimate(reason: &str, then: &str) -> Diagnostic {
    Diagnostic::warning(
        "Cannot estimate the monthly cost",
        format!("{reason}; {ATTRIBUTE} is not computed, {then}."),
    )
    .at(path())
}

/// The price list for a plan: `Ok(None)` without a token (nothing can be fetched yet).
async fn plan_prices(
    data: &ProviderData,
    cancel: &CancellationToken,
) -> Result<Option<std::sync::Arc<PriceList>>, String> {
    if data.hcloud_token.is_none() {
        return Ok(None);
    }
    let op = Operation::start(data, "plan", PLAN_BUDGET, cancel).map_err(|diags| {
        diags
            .iter()
            .map(|d| d.detail.clone())
            .collect::<Vec<_>>()
            .join("; ")
    })?;
    data.prices
        .get(&op.hcloud)
        .await
        .map(Some)
        .map_err(|e| chain(&e))
}

/// Plans `estimated_monthly_cost` of a cluster or pool after the resource's own plan: kept while
/// the bill is unchanged, else estimated (fetching the price list once per provider process), with
/// a warning saying by how much it rises or falls.
pub async fn plan(
    kind: Kind,
    data: &ProviderData,
    cancel: &CancellationToken,
    prior: &Value,
    mut change: PlannedChange,
) -> PlannedChange {
    if let Next::Estimate(bill) = plan_without_prices(kind, prior, &mut change) {
        let prices = plan_prices(data, cancel).await;
        let prices = prices.as_ref().map(|p| p.as_deref()).map_err(Clone::clone);
        plan_with_prices(kind, prior, &mut change, &bill, prices);
    }
    change
}

/// At apply (create, update, import), after the resource's state is built: computes
/// `estimated_monthly_cost` where the plan left it unknown, from the same inputs and price list a
/// plan would use; a value the plan knew is kept (Terraform requires it). Returns a warning when
/// no estimate can be made (the value is then null).
pub async fn settle(
    kind: Kind,
    data: &ProviderData,
    client: &Client,
    state: &mut Value,
) -> Option<Diagnostic> {
    if !view::is_unknown(state, &path()) {
        return None;
    }
    let result = match kind.bill(state) {
        None => Err("what the resource buys is not known".to_owned()),
        Some(bill) => match data.prices.get(client).await {
            Ok(prices) => estimate(&prices, &bill).map_err(|e| e.to_string()),
            Err(e) => Err(chain(&e)),
        },
    };
    match result {
        Ok(cost) => {
            state.set_at_path(&path(), cost.to_value());
            None
        }
        Err(reason) => {
            state.set_at_path(&path(), Value::Null);
            Some(cannot_estimate(
                &reason,
                "the next plan that changes the bill tries again",
            ))
        }
    }
}

#[cfg(test)]
mod tests;
