//! Renewal of the admin credentials the cluster keeps in state (`kubeconfig`, `client_certificate`,
//! `client_key` and `talosconfig`, each valid for [`super::state::STATE_CREDENTIALS_TTL`]).
//!
//! They are minted once and kept, so that plans stay empty; a plan made when less than
//! [`RENEW_BEFORE`] of their validity is left marks them unknown (the apply mints new ones, see
//! `state::after_apply`) and says so in a warning naming the expiry. The decision depends only on
//! the certificates in the prior state and the clock, so every plan in the same situation makes
//! the same one.

use time::OffsetDateTime;

use super::model::attr;
use crate::resources::kubeconfig::rfc3339;
use crate::talos::pki::certs;
use crate::talos::talosconfig::Talosconfig;
use crate::tfplugin::diag::Diagnostic;
use crate::tfplugin::framework::PlannedChange;
use crate::tfplugin::value::Value;

/// Credentials with less validity than this left are renewed by the next plan.
pub const RENEW_BEFORE: time::Duration = time::Duration::days(30);

/// The attributes holding the Kubernetes admin certificate and key.
const KUBERNETES: [&str; 3] = ["kubeconfig", "client_certificate", "client_key"];

/// When the certificate in a stored attribute expires; `None` when the attribute is empty or
/// holds no certificate this provider minted (then there is nothing to renew on schedule).
fn kubernetes_expiry(prior: &Value) -> Option<OffsetDateTime> {
    let pem = prior.get("client_certificate")?.as_str()?;
    certs::inspect(pem).ok().map(|info| info.not_after)
}

fn talos_expiry(prior: &Value) -> Option<OffsetDateTime> {
    let text = prior.get("talosconfig")?.as_str()?;
    let pem = Talosconfig::from_yaml(text).ok()?.current_certificate()?;
    certs::inspect(&pem).ok().map(|info| info.not_after)
}

/// Marks the stored credentials that expire within [`RENEW_BEFORE`] of `now` unknown, with a
/// warning naming them and their expiry.
pub fn plan(prior: &Value, change: &mut PlannedChange, now: OffsetDateTime) {
    let due = |expiry: Option<OffsetDateTime>| expiry.filter(|at| *at - now < RENEW_BEFORE);
    let mut renewed: Vec<(&str, OffsetDateTime)> = Vec::new();
    if let Some(expiry) = due(kubernetes_expiry(prior)) {
        for name in KUBERNETES {
            change.set_unknown(&attr(name));
        }
        renewed.push(("kubeconfig, client_certificate and client_key", expiry));
    }
    if let Some(expiry) = due(talos_expiry(prior)) {
        change.set_unknown(&attr("talosconfig"));
        renewed.push(("talosconfig", expiry));
    }
    if renewed.is_empty() {
        return;
    }
    let what = renewed
        .iter()
        .map(|(names, expiry)| {
            let state = if *expiry <= now { "expired" } else { "expire" };
            format!("{names} {state} at {}", rfc3339(*expiry))
        })
        .collect::<Vec<_>>()
        .join("; ");
    change.diagnostics.push(Diagnostic::warning(
        "Renewing the cluster's admin credentials",
        format!(
            "The admin credentials in state are near the end of their validity ({what}; renewed \
             once less than {} days are left). This apply mints new ones, valid for a year, \
             without touching any node; whatever copied the old outputs must read the new ones.",
            RENEW_BEFORE.whole_days()
        ),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::cluster::schema::schema;
    use crate::resources::test_support::value_of;
    use crate::talos::kubeconfig::{self, KubeconfigRequest};
    use crate::talos::secrets::SecretsBundle;
    use crate::talos::talosconfig;
    use rand::SeedableRng;
    use time::Duration;

    fn minted_at() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    /// A cluster state holding credentials minted at `minted_at()` for a year, as
    /// `state::after_apply` writes them.
    fn prior() -> Value {
        let secrets =
            SecretsBundle::from_yaml(include_str!("../../talos/testdata/talosctl-secrets.yaml"))
                .unwrap();
        let ttl = super::super::state::STATE_CREDENTIALS_TTL;
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let kube = kubeconfig::mint(
            &secrets,
            &KubeconfigRequest::admin("prod", "https://127.1.0.1:6443", ttl),
            minted_at(),
            &mut rng,
        )
        .unwrap();
        let talos = talosconfig::issue_admin(&secrets, minted_at(), ttl, &mut rng).unwrap();
        let talosconfig = Talosconfig::new("prod", &["127.1.0.1".to_owned()], &[], &talos)
            .unwrap()
            .to_yaml()
            .unwrap();
        value_of(
            &schema(),
            serde_json::json!({
                "name": "prod", "location": "fsn1", "talos_version": "v1.13.9",
                "kubernetes_version": "1.35.0",
                "control_plane": { "server_type": "cax21", "count": 1 },
                "secrets": "cluster: {}",
                "kubeconfig": kube.yaml,
                "client_certificate": kube.credentials.cert_pem,
                "client_key": kube.credentials.key_pem,
                "talosconfig": talosconfig,
            }),
        )
    }

    /// The plan of an unchanged configuration: the prior state.
    fn unchanged(prior: &Value) -> PlannedChange {
        PlannedChange {
            planned: prior.clone(),
            requires_replace: Vec::new(),
            diagnostics: crate::tfplugin::diag::Diagnostics::new(),
        }
    }

    fn planned_at(prior: &Value, now: OffsetDateTime) -> PlannedChange {
        let mut change = unchanged(prior);
        plan(prior, &mut change, now);
        change
    }

    #[test]
    fn credentials_are_kept_until_thirty_days_are_left() {
        let prior = prior();
        let expiry = minted_at() + super::super::state::STATE_CREDENTIALS_TTL;
        for now in [
            minted_at(),
            expiry - Duration::days(200),
            expiry - RENEW_BEFORE,
        ] {
            let change = planned_at(&prior, now);
            assert_eq!(change.planned, prior, "at {now}");
            assert!(change.diagnostics.is_empty(), "at {now}");
        }
    }

    #[test]
    fn a_plan_within_thirty_days_renews_them_and_says_until_when_they_were_valid() {
        let prior = prior();
        let expiry = minted_at() + super::super::state::STATE_CREDENTIALS_TTL;
        for now in [
            expiry - RENEW_BEFORE + Duration::seconds(1),
            expiry - Duration::days(1),
            expiry + Duration::days(3),
        ] {
            let change = planned_at(&prior, now);
            for name in [
                "kubeconfig",
                "client_certificate",
                "client_key",
                "talosconfig",
            ] {
                assert_eq!(change.planned.get(name), Some(&Value::Unknown), "{name}");
            }
            assert_eq!(change.planned.get("name"), prior.get("name"));
            let warning = change.diagnostics.iter().next().unwrap();
            assert!(!warning.is_error());
            assert_eq!(warning.summary, "Renewing the cluster's admin credentials");
            assert!(
                warning.detail.contains(&rfc3339(expiry)),
                "{}",
                warning.detail
            );
            assert!(warning.detail.contains("talosconfig"), "{}", warning.detail);
        }
        let expired = planned_at(&prior, expiry + Duration::days(3));
        let detail = &expired.diagnostics.iter().next().unwrap().detail;
        assert!(detail.contains("expired at"), "{detail}");
    }

    #[test]
    fn values_that_hold_no_certificate_are_left_alone() {
        let mut prior = prior();
        prior.set_at_path(&attr("client_certificate"), Value::from("CRT"));
        prior.set_at_path(&attr("talosconfig"), Value::Null);
        let mut change = unchanged(&prior);
        plan(&prior, &mut change, minted_at() + Duration::days(400));
        assert_eq!(change.planned, prior);
        assert!(change.diagnostics.is_empty());
    }
}
