//! Minting the kubeconfig of `hk8s_kubeconfig` from a configuration: the inputs read (with their
//! defaults), the certificate issued by [`crate::talos::kubeconfig::mint`] from the Kubernetes CA
//! in the connection's secrets bundle, and the result object (configuration kept, computed
//! attributes filled).

use time::{OffsetDateTime, UtcOffset};

use super::{DEFAULT_GROUPS, DEFAULT_TTL, DEFAULT_USERNAME};
use crate::resources::config_view as view;
use crate::resources::duration;
use crate::resources::validators::error_at;
use crate::talos::kubeconfig::{KubeconfigRequest, mint};
use crate::talos::secrets::SecretsBundle;
use crate::tfplugin::diag::{AttributePath, Diagnostics};
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

/// Mints the kubeconfig for `config` at `now` and returns the result object.
pub fn result(config: &Value, now: OffsetDateTime) -> Result<Value, Diagnostics> {
    let (bundle, request) = request(config)?;
    let minted = mint(&bundle, &request, now, &mut rand::rng())
        .map_err(|e| error_at(&attr("cluster"), "Cannot mint a kubeconfig", e))?;
    let mut result = config.clone();
    let credentials = &minted.credentials;
    for (name, value) in [
        ("kubeconfig", minted.yaml.clone()),
        ("host", request.server.clone()),
        ("ca_certificate", credentials.ca_pem.clone()),
        ("client_certificate", credentials.cert_pem.clone()),
        ("client_key", credentials.key_pem.clone()),
        ("expires_at", rfc3339(credentials.expires_at)),
    ] {
        result.set_at_path(&attr(name), Value::from(value));
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::kubeconfig::schema;
    use crate::resources::test_support::value_of;

    fn config(ttl: Option<&str>) -> Value {
        let bundle = include_str!("../../talos/testdata/talosctl-secrets.yaml");
        value_of(
            &schema("data source"),
            serde_json::json!({
                "cluster": { "name": "prod", "endpoint": "https://127.0.2.1:6443", "secrets": bundle },
                "ttl": ttl,
            }),
        )
    }

    #[test]
    fn mints_from_the_connection_with_defaults() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let v = result(&config(None), now).unwrap();
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
    fn broken_connections_are_reported_at_cluster() {
        let mut c = config(Some("30m"));
        c.set_at_path(
            &attr("cluster").attr("secrets"),
            Value::from("cluster: {id: s3cr3t}"),
        );
        let diags = result(&c, OffsetDateTime::UNIX_EPOCH).unwrap_err();
        let d = diags.iter().next().unwrap();
        assert_eq!(
            d.path.as_ref().map(ToString::to_string).as_deref(),
            Some("cluster")
        );
        assert!(!d.detail.contains("s3cr3t"), "{}", d.detail);
    }
}
