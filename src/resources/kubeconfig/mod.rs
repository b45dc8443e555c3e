//! Data source and ephemeral resource `hk8s_kubeconfig`: a kubeconfig minted locally from the
//! cluster CA in the connection, valid for `ttl` (no network call, no long-lived secret).
//!
//! Both share one schema and one validation; [`mint`] does the work for both. The data source
//! derives its credentials from the CA key for the current renewal window (half the TTL), so
//! every read within a window returns the same bytes and a plan after an apply stays empty; the
//! ephemeral resource mints fresh credentials on every open (they never reach state or plan).
//! Both wait, rather than fail, while the cluster's connection is not in state yet (between
//! `terraform import` and the apply that adopts the cluster).

mod mint;

use mint::Minting;
pub use mint::rfc3339;

use std::time::Duration;

use time::OffsetDateTime;

use crate::resources::connection::connection_type;
use crate::resources::validators::{self as v, error_at};
use crate::tfplugin::diag::Diagnostics;
use crate::tfplugin::framework::{
    DataRead, DataSource, EphemeralResource, OpenRequest, Opened, ReadDataRequest,
};
use crate::tfplugin::schema::{Attribute, Schema, custom};
use crate::tfplugin::value::{Type, Value};

/// The Terraform type name (the same for the data source and the ephemeral resource).
pub const TYPE_NAME: &str = "hk8s_kubeconfig";
/// Default lifetime of the client certificate.
pub const DEFAULT_TTL: &str = "8h";
/// Default user name (certificate CN).
pub const DEFAULT_USERNAME: &str = "admin";
/// Default groups (certificate O).
pub const DEFAULT_GROUPS: &[&str] = &["system:masters"];
/// Shortest accepted `ttl`.
pub const MIN_TTL: Duration = Duration::from_secs(5 * 60);
/// Longest accepted `ttl` (one year, the Talos client-certificate lifetime).
pub const MAX_TTL: Duration = Duration::from_secs(8760 * 3600);

fn groups_validator() -> impl crate::tfplugin::schema::Validator {
    custom(
        "one or two non-empty group names without commas or slashes",
        |path, value| {
            let mut diags = Diagnostics::new();
            let Value::List(items) = value else {
                return diags;
            };
            // The certificate carries the groups as its organizations; Talos's issuer takes two.
            if items.is_empty() || items.len() > 2 {
                diags.extend(error_at(
                    path,
                    "Invalid groups",
                    format!(
                        "{} groups given; give one or two (e.g. [\"system:masters\"])",
                        items.len()
                    ),
                ));
            }
            for (i, item) in items.iter().enumerate() {
                if let Some(group) = item.as_str()
                    && (group.trim().is_empty() || group.contains([',', '/', '\n']))
                {
                    diags.extend(error_at(
                    &path.index(i),
                    "Invalid group",
                    format!("{group:?} is not a group name; write e.g. \"system:masters\" or \"developers\""),
                ));
                }
            }
            diags
        },
    )
}

/// What the data source's schema says about its credentials.
const DATA_SOURCE_DESCRIPTION: &str = "A kubeconfig minted locally (data source) from the cluster \
    CA: a client certificate for `username` in `groups`, valid for `ttl`. No network call and no \
    long-lived secret. Every read within one renewal window (half the `ttl`) returns the same \
    credentials, so plans stay empty, and each read stays valid for at least `ttl / 2`.";

/// What the ephemeral resource's schema says about its credentials.
const EPHEMERAL_DESCRIPTION: &str = "A kubeconfig minted locally (ephemeral resource: never \
    stored in state or plan) from the cluster CA: a client certificate for `username` in \
    `groups`, valid for `ttl` from the moment it is opened. No network call and no long-lived \
    secret. Every run mints a new key and certificate.";

/// The data source's schema.
pub fn data_schema() -> Schema {
    schema(DATA_SOURCE_DESCRIPTION)
}

/// The ephemeral resource's schema.
pub fn ephemeral_schema() -> Schema {
    schema(EPHEMERAL_DESCRIPTION)
}

/// The schema shared by the data source and the ephemeral resource.
fn schema(description: &str) -> Schema {
    Schema::new()
        .description(description)
        .attribute(
            Attribute::typed("cluster", connection_type())
                .required()
                .sensitive()
                .description("The cluster: `hk8s_cluster.<name>.connection`."),
        )
        .attribute(
            Attribute::string("ttl")
                .optional()
                .description(
                    "How long the credentials are valid, from 5m to 8760h (default \"8h\").",
                )
                .validate(v::duration_between(MIN_TTL, MAX_TTL)),
        )
        .attribute(
            Attribute::string("username")
                .optional()
                .description("Kubernetes user name, the certificate's CN (default \"admin\").")
                .validate(v::string_check(
                    "Invalid username",
                    "must be a non-empty user name",
                    |s: &str| {
                        if s.trim().is_empty() || s.contains(['/', '\n']) {
                            Err(format!(
                                "{s:?} is not a user name; write e.g. \"admin\" or \"ci\""
                            ))
                        } else {
                            Ok(())
                        }
                    },
                )),
        )
        .attribute(
            Attribute::list("groups", Type::String)
                .optional()
                .description(
                    "One or two Kubernetes groups, the certificate's O (default [\"system:masters\"]).",
                )
                .validate(groups_validator()),
        )
        .attribute(
            Attribute::string("kubeconfig")
                .computed()
                .sensitive()
                .description("The kubeconfig (YAML)."),
        )
        .attribute(
            Attribute::string("host")
                .computed()
                .description("Kubernetes API URL."),
        )
        .attribute(
            Attribute::string("ca_certificate")
                .computed()
                .description("Kubernetes CA certificate (PEM)."),
        )
        .attribute(
            Attribute::string("client_certificate")
                .computed()
                .description("Client certificate (PEM)."),
        )
        .attribute(
            Attribute::string("client_key")
                .computed()
                .sensitive()
                .description("Client key (PEM)."),
        )
        .attribute(
            Attribute::string("expires_at")
                .computed()
                .description(
                    "When the certificate expires (RFC 3339). For the data source, the end of the \
                     current renewal window plus half the `ttl`.",
                ),
        )
}

/// The data source `hk8s_kubeconfig`.
#[derive(Debug, Clone, Copy, Default)]
pub struct KubeconfigData;

impl<D: Send + Sync + 'static> DataSource<D> for KubeconfigData {
    fn type_name(&self) -> &str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        data_schema()
    }

    async fn read(&self, request: ReadDataRequest<'_, D>) -> Result<DataRead, Diagnostics> {
        if mint::connection_pending(request.config) {
            let (state, diagnostics) = mint::pending(request.config, request.deferral_allowed);
            return Ok(DataRead {
                state,
                diagnostics,
                deferred: request.deferral_allowed,
            });
        }
        mint::result(request.config, OffsetDateTime::now_utc(), Minting::Windowed)
            .map(DataRead::from)
    }
}

/// The ephemeral resource `hk8s_kubeconfig`.
#[derive(Debug, Clone, Copy, Default)]
pub struct KubeconfigEphemeral;

impl<D: Send + Sync + 'static> EphemeralResource<D> for KubeconfigEphemeral {
    fn type_name(&self) -> &str {
        TYPE_NAME
    }

    fn schema(&self) -> Schema {
        ephemeral_schema()
    }

    async fn open(&self, request: OpenRequest<'_, D>) -> Result<Opened, Diagnostics> {
        // Opened only where its value is used, never stored: nothing to keep stable.
        let result = if mint::connection_pending(request.config) {
            mint::pending(request.config, false).0
        } else {
            mint::result(request.config, OffsetDateTime::now_utc(), Minting::Fresh)?
        };
        Ok(Opened {
            result,
            private: Vec::new(),
            // A certificate cannot be extended; it stays valid for `ttl`, nothing to renew.
            renew_at: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::test_support::{described, validate, value_of};

    #[test]
    fn attribute_checks() {
        let s = data_schema();
        let ok = value_of(
            &s,
            serde_json::json!({ "ttl": "30m", "username": "ci", "groups": ["dev"] }),
        );
        assert_eq!(
            described(&validate(&s, &ok, |_| Diagnostics::new())),
            vec![]
        );
        let bad = value_of(
            &s,
            serde_json::json!({ "ttl": "1m", "groups": ["ok", "a,b"] }),
        );
        let found = described(&validate(&s, &bad, |_| Diagnostics::new()));
        let paths: Vec<&str> = found.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(paths, ["ttl", "groups[1]"], "{found:?}");
        assert!(found[0].2.contains("5m"), "{found:?}");
        let three = value_of(&s, serde_json::json!({ "groups": ["a", "b", "c"] }));
        let found = described(&validate(&s, &three, |_| Diagnostics::new()));
        assert_eq!(found[0].0, "groups");
        assert_eq!(found[0].1, "Invalid groups");
    }
}
