//! The hk8s provider: the `provider "hk8s"` block and the registry of resource types.
//!
//! Configuration resolves each setting from the block, then the environment, then a default,
//! into [`ProviderData`], which every resource operation receives. The token is never logged
//! (its `Debug` output is redacted).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::tfplugin::framework::{
    ConfigureRequest, DataSourceHandle, EphemeralResourceHandle, Provider, ResourceHandle,
};
use crate::tfplugin::schema::{Attribute, Schema, Validator, string_rule};
use crate::tfplugin::value::Value;

/// The provider's registry address.
pub const PROVIDER_ADDRESS: &str = "registry.terraform.io/hk8s/hk8s";
/// The public Hetzner Cloud API.
pub const DEFAULT_HCLOUD_ENDPOINT: &str = "https://api.hetzner.cloud/v1";
/// Base interval for polling Hetzner actions when `poll_interval` is unset.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);
/// The shortest `poll_interval` accepted. Below it action polling degenerates into a busy loop
/// that burns the Hetzner rate limit (3600 requests an hour per project) in minutes and the
/// provider's CPU; 100 ms is still fast enough for hk8s-sim at a small `--time-scale`.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The managed resource types: add one line per resource.
const RESOURCES: &[fn() -> ResourceHandle<ProviderData>] = &[
    || ResourceHandle::new(crate::resources::cluster::Cluster),
    || ResourceHandle::new(crate::resources::node_pool::NodePool),
    || ResourceHandle::new(crate::resources::addon::Addon),
];
/// The data source types: add one line per data source.
const DATA_SOURCES: &[fn() -> DataSourceHandle<ProviderData>] =
    &[|| DataSourceHandle::new(crate::resources::kubeconfig::KubeconfigData)];
/// The ephemeral resource types: add one line per ephemeral resource.
const EPHEMERAL_RESOURCES: &[fn() -> EphemeralResourceHandle<ProviderData>] =
    &[|| EphemeralResourceHandle::new(crate::resources::kubeconfig::KubeconfigEphemeral)];

/// A Hetzner Cloud API token; `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct HcloudToken(String);

impl HcloudToken {
    /// Wraps a token.
    #[must_use]
    pub fn new(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token itself, for the `Authorization` header only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for HcloudToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HcloudToken(<redacted>)")
    }
}

/// What configuration resolves; every resource operation receives it.
#[derive(Debug, Clone)]
pub struct ProviderData {
    /// From `hcloud_token` or `HCLOUD_TOKEN`; `None` when neither is set (or the block's value
    /// is unknown during plan). Operations that call Hetzner use [`ProviderData::require_token`].
    pub hcloud_token: Option<HcloudToken>,
    /// From `hcloud_endpoint`, `HCLOUD_ENDPOINT`, or [`DEFAULT_HCLOUD_ENDPOINT`]; no trailing slash.
    pub hcloud_endpoint: String,
    /// From `poll_interval`, or [`DEFAULT_POLL_INTERVAL`].
    pub poll_interval: Duration,
    /// From `image_factory_url`, `HK8S_IMAGE_FACTORY`, or the public Image Factory.
    pub image_factory: crate::talos::factory::Factory,
    /// Hetzner's price list, fetched at most once per provider process, when a plan or apply
    /// first needs a cost estimate (`estimated_monthly_cost`).
    pub prices: crate::hcloud::pricing::PriceCache,
    /// The project's hourly request budget as this provider process sees it, shared by every
    /// operation's client; keeps `hcloud_rate_limit_reserve` requests for the cluster's own
    /// Hetzner clients.
    pub request_budget: Arc<crate::hcloud::budget::RequestBudget>,
}

impl ProviderData {
    /// The token, or a diagnostic telling the user how to provide one.
    pub fn require_token(&self) -> Result<&HcloudToken, Diagnostics> {
        self.hcloud_token.as_ref().ok_or_else(|| {
            Diagnostic::error(
                "Missing Hetzner Cloud API token",
                "Set hcloud_token in the provider \"hk8s\" block or the HCLOUD_TOKEN environment variable.",
            )
            .at(AttributePath::root("hcloud_token"))
            .into()
        })
    }
}

/// The largest `hcloud_rate_limit_reserve` accepted (Hetzner's limits are in the thousands).
const MAX_RATE_LIMIT_RESERVE: i64 = 1_000_000;

/// What `hcloud_rate_limit_reserve` accepts, checked at validate and again at configure.
fn reserve_rule() -> impl Validator {
    crate::resources::validators::whole_number(
        "Invalid rate-limit reserve",
        0,
        MAX_RATE_LIMIT_RESERVE,
    )
}

/// Reads an environment variable (injectable for tests).
type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The hk8s provider.
#[derive(Clone)]
pub struct Hk8sProvider {
    env: EnvLookup,
}

impl Default for Hk8sProvider {
    fn default() -> Self {
        Self {
            env: Arc::new(|key| std::env::var(key).ok()),
        }
    }
}

impl Hk8sProvider {
    /// A provider reading the environment through `lookup` instead of the process environment.
    #[must_use]
    pub fn with_env(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self {
            env: Arc::new(lookup),
        }
    }

    fn env_var(&self, key: &str) -> Option<String> {
        (self.env)(key).filter(|v| !v.is_empty())
    }
}

/// Parses a duration like `500ms`, `2s` or `1m30s` (Go syntax, as Terraform users write them).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::tfplugin::schema::parse_duration(text)
}

/// An endpoint must be an `https://` URL; `http://` only to a loopback host (127.0.0.0/8, `::1`,
/// `localhost`), where hk8s-sim runs: every request carries the API token, which must not cross
/// a network in clear text.
fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(endpoint).map_err(|e| {
        format!("{endpoint:?} is not a URL ({e}); write an https:// URL such as {DEFAULT_HCLOUD_ENDPOINT}")
    })?;
    let host = url.host_str().unwrap_or_default();
    match url.scheme() {
        _ if host.is_empty() => Err(format!(
            "{endpoint:?} has no host; write an https:// URL such as {DEFAULT_HCLOUD_ENDPOINT}"
        )),
        "https" => Ok(()),
        "http" if is_loopback_host(host) => Ok(()),
        "http" => Err(format!(
            "{endpoint:?} is plain http:// to {host:?}, which is not a loopback address: the API token \
             would cross the network in clear text. Use https://, or http:// only for a loopback host \
             (127.0.0.0/8, ::1, localhost) such as hk8s-sim"
        )),
        other => Err(format!(
            "{endpoint:?} uses the scheme {other:?}; write an https:// URL such as {DEFAULT_HCLOUD_ENDPOINT} \
             (http:// is accepted for loopback hosts only)"
        )),
    }
}

/// `localhost`, an IPv4 address in 127.0.0.0/8 or `::1` (as `Url::host_str` writes hosts).
fn is_loopback_host(host: &str) -> bool {
    let unbracketed = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    host.eq_ignore_ascii_case("localhost")
        || unbracketed
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Parses `poll_interval` and refuses values below [`MIN_POLL_INTERVAL`].
fn check_poll_interval(text: &str) -> Result<Duration, String> {
    let interval = parse_duration(text).map_err(|e| {
        format!(
            "{e}; poll_interval must be a duration of at least \"{}ms\", such as \"500ms\" or \"2s\"",
            MIN_POLL_INTERVAL.as_millis()
        )
    })?;
    if interval < MIN_POLL_INTERVAL {
        return Err(format!(
            "poll_interval {text:?} is shorter than the minimum of {}ms: polling faster only spends \
             the Hetzner API rate limit; use \"{}ms\" or more (default \"1s\")",
            MIN_POLL_INTERVAL.as_millis(),
            MIN_POLL_INTERVAL.as_millis(),
        ));
    }
    Ok(interval)
}

/// A string attribute of the provider block: `None` when null or unknown.
fn known_string(config: &Value, name: &str) -> Result<Option<String>, Diagnostics> {
    match config.get(name) {
        None | Some(Value::Null | Value::Unknown) => Ok(None),
        Some(value) => Ok(value.decode()?),
    }
}

impl Provider for Hk8sProvider {
    type Data = ProviderData;

    fn schema(&self) -> Schema {
        Schema::new()
            .description("Creates and runs Kubernetes clusters on Hetzner Cloud with Talos Linux.")
            .attribute(
                Attribute::string("hcloud_token")
                    .optional()
                    .sensitive()
                    .description("Hetzner Cloud API token (read and write). Falls back to the HCLOUD_TOKEN environment variable."),
            )
            .attribute(
                Attribute::string("hcloud_endpoint")
                    .optional()
                    .description(format!(
                        "Hetzner Cloud API endpoint. Falls back to HCLOUD_ENDPOINT, then {DEFAULT_HCLOUD_ENDPOINT}; \
                         point it at hk8s-sim for offline use. Plain http:// is accepted only for a \
                         loopback host (127.0.0.0/8, ::1, localhost), so the token never crosses a network unencrypted."
                    ))
                    .validate(string_rule(
                        "value must be an https:// URL, or http:// to a loopback host",
                        check_endpoint,
                    )),
            )
            .attribute(
                Attribute::string("poll_interval")
                    .optional()
                    .description("Base interval for polling Hetzner actions, e.g. \"500ms\" or \"2s\" (default \"1s\", at least \"100ms\"); polling backs off above it.")
                    .validate(string_rule(
                        "value must be a duration of at least \"100ms\", such as \"500ms\" or \"2s\"",
                        |s: &str| check_poll_interval(s).map(|_| ()),
                    )),
            )
            .attribute(
                Attribute::number("hcloud_rate_limit_reserve")
                    .optional()
                    .description(format!(
                        "Requests of the Hetzner project's hourly budget (RateLimit-Limit, 3600 by default) the provider \
                         leaves for the cloud controller, CSI driver and cluster autoscaler, which spend the same budget. \
                         When the next request would leave fewer, the provider waits for the budget to refill and logs \
                         how long at INFO. Default {}% of the limit; 0 spends it all; at most {}% is held back.",
                        crate::hcloud::budget::DEFAULT_RESERVE_PERCENT,
                        crate::hcloud::budget::MAX_RESERVE_PERCENT,
                    ))
                    .validate(reserve_rule()),
            )
            .attribute(
                Attribute::string("image_factory_url")
                    .optional()
                    .description(format!(
                        "Talos Image Factory the provider takes schematic ids, disk images and installer images \
                         from. Falls back to HK8S_IMAGE_FACTORY, then {}; point it at a mirror when nodes and \
                         build servers cannot reach the public factory.",
                        crate::talos::factory::DEFAULT_URL
                    ))
                    .validate(string_rule(
                        "value must be an http(s):// URL with a host and no query",
                        |s: &str| crate::talos::factory::Factory::new(s).map(drop).map_err(|e| e.to_string()),
                    )),
            )
    }

    async fn configure(&self, request: ConfigureRequest<'_>) -> Result<ProviderData, Diagnostics> {
        let config = request.config;
        let hcloud_token = known_string(config, "hcloud_token")?
            .or_else(|| self.env_var("HCLOUD_TOKEN"))
            .map(HcloudToken::new);
        let endpoint = known_string(config, "hcloud_endpoint")?
            .or_else(|| self.env_var("HCLOUD_ENDPOINT"))
            .unwrap_or_else(|| DEFAULT_HCLOUD_ENDPOINT.to_owned());
        let mut diags = Diagnostics::new();
        if let Err(message) = check_endpoint(&endpoint) {
            // The same check covers HCLOUD_ENDPOINT, which no schema validator sees.
            diags.add_error_at(
                AttributePath::root("hcloud_endpoint"),
                "Invalid Hetzner Cloud endpoint",
                message,
            );
        }
        let poll_interval = match known_string(config, "poll_interval")? {
            None => DEFAULT_POLL_INTERVAL,
            Some(text) => check_poll_interval(&text).unwrap_or_else(|message| {
                diags.add_error_at(
                    AttributePath::root("poll_interval"),
                    "Invalid poll interval",
                    message,
                );
                DEFAULT_POLL_INTERVAL
            }),
        };
        // A value from a variable is first known here: the schema's rule did not see it.
        let reserve = match config.get("hcloud_rate_limit_reserve") {
            Some(value @ Value::Number(n)) => {
                let problems = reserve_rule()
                    .validate(&AttributePath::root("hcloud_rate_limit_reserve"), value);
                let valid = problems.is_empty();
                diags.extend(problems);
                n.to_i64()
                    .filter(|_| valid)
                    .and_then(|n| u64::try_from(n).ok())
            }
            _ => None,
        };
        let factory_url = known_string(config, "image_factory_url")?
            .or_else(|| self.env_var("HK8S_IMAGE_FACTORY"))
            .unwrap_or_else(|| crate::talos::factory::DEFAULT_URL.to_owned());
        let image_factory = crate::talos::factory::Factory::new(&factory_url).unwrap_or_else(|e| {
            // The same check covers HK8S_IMAGE_FACTORY, which no schema validator sees.
            diags.add_error_at(
                AttributePath::root("image_factory_url"),
                "Invalid Image Factory URL",
                e.to_string(),
            );
            crate::talos::factory::Factory::default()
        });
        diags.into_result()?;
        let data = ProviderData {
            image_factory,
            hcloud_token,
            hcloud_endpoint: endpoint.trim_end_matches('/').to_owned(),
            poll_interval,
            prices: crate::hcloud::pricing::PriceCache::default(),
            request_budget: Arc::new(crate::hcloud::budget::RequestBudget::new(reserve)),
        };
        tracing::debug!(
            endpoint = %data.hcloud_endpoint,
            token_set = data.hcloud_token.is_some(),
            image_factory = data.image_factory.url(),
            poll_interval_ms = u64::try_from(data.poll_interval.as_millis()).unwrap_or(u64::MAX),
            terraform_version = request.terraform_version,
            "provider configured"
        );
        Ok(data)
    }

    fn resources(&self) -> Vec<ResourceHandle<ProviderData>> {
        RESOURCES.iter().map(|make| make()).collect()
    }

    fn data_sources(&self) -> Vec<DataSourceHandle<ProviderData>> {
        DATA_SOURCES.iter().map(|make| make()).collect()
    }

    fn ephemeral_resources(&self) -> Vec<EphemeralResourceHandle<ProviderData>> {
        EPHEMERAL_RESOURCES.iter().map(|make| make()).collect()
    }
}

#[cfg(test)]
mod tests;
