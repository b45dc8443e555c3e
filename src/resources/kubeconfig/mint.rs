//! Minting the kubeconfig of `hk8s_kubeconfig` from a configuration: the inputs read (with their
//! defaults), the certificate issued from the Kubernetes CA in the connection's secrets bundle
//! (derived for the renewal window by [`crate::talos::kubeconfig::mint_in_window`], or fresh by
//! [`crate::talos::kubeconfig::mint`]), and the result object (configuration kept, computed
//! attributes filled).

use time::{OffsetDateTime, UtcOffset};

use super::{DEFAULT_GROUPS, DEFAULT_TTL, DEFAULT_USERNAME};
use crate::resources::config_view as view;
use crate::resources::duration;
use crate::resources::validators::error_at;
use crate::talos::kubeconfig::{self, KubeconfigRequest};
use crate::talos::secrets::SecretsBundle;
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::tfplugin::value::Value;

fn attr(name: &str) -> AttributePath {
    AttributePath::root(name)
}

/// RFC 3339 in UTC with second precision, e.g. `2026-11-27T08:00:00Z`.
pub fn rfc3339(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// What to mint, read from a (wholly known) configuration with defaults applied.
fn request(config: &Value) -> Result<(SecretsBundle, KubeconfigRequest), Diagnostics> {
    let cluster = attr("cluster");
    let field = |name: &str| view::string(config, &cluster.attr(name));
    let missing = |name: &str| {
        error_at(
            &cluster,
            "Incomplete cluster connection",
            format!(
                "the connection has no `{name}`; pass `cluster = hk8s_cluster.<name>.connection`"
            ),
        )
    };
    let secrets = field("secrets").ok_or_else(|| missing("secrets"))?;
    // The parser's message is not shown: the bundle is sensitive.
    let bundle = SecretsBundle::from_yaml(secrets).map_err(|e| {
        let reason = match e {
            crate::talos::secrets::Error::Invalid { field, reason } => {
                format!("its {field} {reason}")
            }
            _ => "it is not a talosctl secrets.yaml".to_owned(),
        };
        error_at(
            &cluster,
            "Invalid secrets in the cluster connection",
            format!("cannot mint a kubeconfig: {reason}"),
        )
    })?;
    let name = field("name").ok_or_else(|| missing("name"))?;
    let server = field("endpoint").ok_or_else(|| missing("endpoint"))?;
    let ttl_text = view::string(config, &attr("ttl")).unwrap_or(DEFAULT_TTL);
    let ttl =
        duration::parse(ttl_text).map_err(|e| error_at(&attr("ttl"), "Invalid duration", e))?;
    let ttl = time::Duration::try_from(ttl).unwrap_or(time::Duration::MAX);
    let groups = match view::known(config, &attr("groups")) {
        Some(_) => view::strings(config, &attr("groups"))
            .into_iter()
            .map(|(_, g)| g.to_owned())
            .collect(),
        None => DEFAULT_GROUPS.iter().map(|g| (*g).to_owned()).collect(),
    };
    let request = KubeconfigRequest {
        cluster_name: name.to_owned(),
        server: server.to_owned(),
        username: view::string(config, &attr("username"))
            .unwrap_or(DEFAULT_USERNAME)
            .to_owned(),
        groups,
        ttl,
    };
    Ok((bundle, request))
}

/// The computed attributes, in schema order.
const COMPUTED: [&str; 6] = [
    "kubeconfig",
    "host",
    "ca_certificate",
    "client_certificate",
    "client_key",
    "expires_at",
];

/// How the credentials are minted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Minting {
    /// Derived from the CA key for the renewal window holding the instant: every read within
    /// the window returns the same bytes (the data source, whose values reach plans and state).
    Windowed,
    /// A fresh random key valid from the instant (the ephemeral resource, never stored).
    Fresh,
}

/// Whether `config`'s connection is not there yet: `cluster` is null because the cluster has no
/// `connection` in state, which happens only between `terraform import` and the apply that
/// adopts the cluster (an applied cluster always has one, and a planned one is unknown, which
/// Terraform never sends to a read).
pub fn connection_pending(config: &Value) -> bool {
    config.get("cluster").is_none_or(Value::is_null)
}

/// The result while the connection is pending: computed attributes unknown when the read is
/// deferred, else null with a warning saying why and when they fill in.
pub fn pending(config: &Value, deferred: bool) -> (Value, Diagnostics) {
    let mut result = config.clone();
    for name in COMPUTED {
        result.set_at_path(
            &attr(name),
            if deferred {
                Value::Unknown
            } else {
                Value::Null
            },
        );
    }
    let mut diagnostics = Diagnostics::new();
    if !deferred {
        diagnostics.push(
            Diagnostic::warning(
                "The cluster's connection is not recorded yet",
                "`cluster` is null: the hk8s_cluster has no connection in state yet (e.g. right \
                 after `terraform import`, before the apply that adopts it), so no kubeconfig \
                 can be minted. Its attributes are null until then; the next plan reads it \
                 after the cluster is applied.",
            )
            .at(attr("cluster")),
        );
    }
    (result, diagnostics)
}

/// Mints the kubeconfig for `config` at `now` and returns the result object.
pub fn result(config: &Value, now: OffsetDateTime, minting: Minting) -> Result<Value, Diagnostics> {
    let (bundle, request) = request(config)?;
    let minted = match minting {
        Minting::Windowed => kubeconfig::mint_in_window(&bundle, &request, now),
        Minting::Fresh => kubeconfig::mint(&bundle, &request, now, &mut rand::rng()),
    }
    .map_err(|e| error_at(&attr("cluster"), "Cannot mint a kubeconfig", e))?;
    let mut result = config.clone();
    let credentials = &minted.credentials;
    for (name, value) in COMPUTED.iter().zip([
        minted.yaml.clone(),
        request.server.clone(),
        credentials.ca_pem.clone(),
        credentials.cert_pem.clone(),
        credentials.key_pem.clone(),
        rfc3339(credentials.expires_at),
    ]) {
        result.set_at_path(&attr(name), Value::from(value));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::kubeconfig::data_schema;
    use crate::resources::test_support::value_of;

    fn config(ttl: Option<&str>) -> Value {
        let bundle = include_str!("../../talos/testdata/talosctl-secrets.yaml");
        value_of(
            &data_schema(),
            serde_json::json!({
                "cluster": { "name": "prod", "endpoint": "https://127.0.2.1:6443", "secrets": bundle },
                "ttl": ttl,
            }),
        )
    }

    #[test]
    fn mints_from_the_connection_with_defaults() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let v = result(&config(None), now, Minting::Fresh).unwrap();
        let text = |name: &str| v.get(name).and_then(Value::as_str).unwrap().to_owned();
        assert_eq!(text("host"), "https://127.0.2.1:6443");
        assert_eq!(text("expires_at"), rfc3339(now + time::Duration::hours(8)));
        assert!(text("client_certificate").starts_with("-----BEGIN CERTIFICATE-----"));
        let kubeconfig = text("kubeconfig");
        assert!(
            kubeconfig.contains("current-context: admin@prod"),
            "{kubeconfig}"
        );
        assert!(
            kubeconfig.contains("server: https://127.0.2.1:6443"),
            "{kubeconfig}"
        );
        assert_eq!(
            v.get("ttl"),
            Some(&Value::Null),
            "configuration kept as written"
        );
        assert_eq!(rfc3339(now), "2027-01-15T08:00:00Z");
    }

    #[test]
    fn windowed_reads_repeat_until_half_the_ttl_is_left() {
        // 1_800_000_000 is a multiple of 4 hours: the window of the default 8h TTL starts there.
        let start = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let read = |at| result(&config(None), at, Minting::Windowed).unwrap();
        let first = read(start + time::Duration::minutes(7));
        assert_eq!(first, read(start + time::Duration::minutes(200)));
        assert_eq!(
            first.get("expires_at").and_then(Value::as_str),
            Some(rfc3339(start + time::Duration::hours(8)).as_str())
        );
        let renewed = read(start + time::Duration::hours(4));
        assert_ne!(first.get("client_key"), renewed.get("client_key"));
        assert_eq!(
            renewed.get("expires_at").and_then(Value::as_str),
            Some(rfc3339(start + time::Duration::hours(12)).as_str())
        );
        // The ephemeral resource's fresh credentials differ on every open.
        let fresh = |at| result(&config(None), at, Minting::Fresh).unwrap();
        assert_ne!(
            fresh(start).get("client_key"),
            fresh(start).get("client_key")
        );
    }

    #[test]
    fn a_null_connection_is_pending_not_an_error() {
        let mut c = config(None);
        assert!(!connection_pending(&c));
        c.set_at_path(&attr("cluster"), Value::Null);
        assert!(connection_pending(&c));
        let (value, diagnostics) = pending(&c, false);
        assert_eq!(value.get("kubeconfig"), Some(&Value::Null));
        assert_eq!(value.get("cluster"), Some(&Value::Null));
        let warning = diagnostics.iter().next().unwrap();
        assert!(!warning.is_error());
        assert!(
            warning.detail.contains("terraform import"),
            "{}",
            warning.detail
        );
        let (value, diagnostics) = pending(&c, true);
        assert_eq!(value.get("client_key"), Some(&Value::Unknown));
        assert!(diagnostics.is_empty());
        // An object without secrets is a mistake in the configuration, not a pending connection.
        let mut partial = config(None);
        partial.set_at_path(&attr("cluster").attr("secrets"), Value::Null);
        assert!(!connection_pending(&partial));
        let diags = result(&partial, OffsetDateTime::UNIX_EPOCH, Minting::Windowed).unwrap_err();
        assert_eq!(
            diags.iter().next().unwrap().summary,
            "Incomplete cluster connection"
        );
    }

    #[test]
    fn broken_connections_are_reported_at_cluster() {
        let mut c = config(Some("30m"));
        c.set_at_path(
            &attr("cluster").attr("secrets"),
            Value::from("cluster: {id: s3cr3t}"),
        );
        let diags = result(&c, OffsetDateTime::UNIX_EPOCH, Minting::Windowed).unwrap_err();
        let d = diags.iter().next().unwrap();
        assert_eq!(
            d.path.as_ref().map(ToString::to_string).as_deref(),
            Some("cluster")
        );
        assert!(!d.detail.contains("s3cr3t"), "{}", d.detail);
    }
}
