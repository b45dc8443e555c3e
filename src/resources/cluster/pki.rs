//! Which Talos secrets bundle an apply uses, and the fingerprint servers carry so that a rerun
//! recognises servers made with other secrets.
//!
//! A create that Terraform never recorded (killed, crashed) leaves servers whose configuration
//! came from secrets that are now lost: the next create generates new ones. Servers carry
//! `hk8s.io/pki=<fingerprint of the OS CA>`, so that create can tell them apart and replace them
//! (they hold no workload yet) instead of failing to talk to them. Servers already marked
//! complete are never replaced; the [`super::journal`] keeps the bundle of a create until
//! Terraform has recorded it, so a create killed after that point adopts them instead.

use aws_lc_rs::digest::{SHA256, digest};
use time::OffsetDateTime;

use super::spec::ClusterSpec;
use crate::resources::fleet::failed;
use crate::talos::secrets::{self, SecretsBundle};
use crate::tfplugin::diag::{Diagnostic, Diagnostics};
use crate::tfplugin::value::Value;

/// Label a control-plane server gets when an apply of its cluster completed: such a server is
/// never replaced for carrying other secrets (it belongs to a running cluster whose state was lost,
/// not to a create that was killed before Terraform recorded it).
pub const COMPLETE_LABEL: &str = "hk8s.io/complete";

/// Label holding the PKI fingerprint on control-plane servers.
pub const PKI_LABEL: &str = "hk8s.io/pki";

/// First 16 hex digits of the SHA-256 of the OS CA certificate.
pub fn fingerprint(secrets: &SecretsBundle) -> String {
    digest(&SHA256, secrets.os_ca.cert_pem.as_bytes())
        .as_ref()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The bundle for this apply, with its YAML: the configured one, else the one in state, else
/// (create only) a new one.
///
/// # Errors
/// When the bundle does not parse, or an update has no bundle to use (after an import without
/// `secrets` in the configuration).
pub fn resolve(
    spec: &ClusterSpec,
    prior: Option<&Value>,
    create: bool,
) -> Result<(SecretsBundle, String), Diagnostics> {
    let from_state = prior
        .and_then(|p| p.get("secrets"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let yaml = match (&spec.secrets, from_state) {
        (Some(given), _) => given.clone(),
        (None, Some(stored)) => stored,
        (None, None) if create => {
            let journal = super::journal::Journal::in_working_dir();
            if let Some(yaml) = journal.load(&spec.name)
                && let Ok(bundle) = SecretsBundle::from_yaml(&yaml)
            {
                tracing::info!(
                    cluster = %spec.name,
                    "reusing the secrets an earlier create of this cluster generated and Terraform never recorded"
                );
                return Ok((bundle, yaml));
            }
            let contract = spec
                .talos_version
                .contract()
                .map_err(|e| failed("Unsupported Talos version", &e))?;
            let bundle = secrets::generate(contract, OffsetDateTime::now_utc(), &mut rand::rng())
                .map_err(|e| failed("Cannot generate the Talos secrets", &e))?;
            let yaml = bundle
                .to_yaml()
                .map_err(|e| failed("Cannot write the Talos secrets", &e))?;
            journal.save(&spec.name, &yaml);
            return Ok((bundle, yaml));
        }
        (None, None) => {
            return Err(Diagnostic::error(
                "The cluster's Talos secrets are unknown",
                "This cluster was imported (or its state lost its secrets), so the provider cannot \
                 talk to its nodes. Set `secrets` to the cluster's secrets bundle (talosctl gen \
                 secrets format) and apply again: the PKI is adopted without changing the \
                 infrastructure.",
            )
            .at(crate::tfplugin::diag::AttributePath::root("secrets"))
            .into());
        }
    };
    let bundle = SecretsBundle::from_yaml(&yaml)
        .map_err(|e| failed("The Talos secrets bundle does not parse", &e))?;
    Ok((bundle, yaml))
}
