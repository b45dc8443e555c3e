//! What every create, read, update, delete or import works with: the Hetzner client bound to the
//! operation's [`Deadline`] (Terraform's `timeouts` and stop signal), and the one place where
//! domain errors become diagnostics, always redacted.

use std::fmt::Display;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::deadline::Deadline;
use crate::hcloud::{Client, ClientConfig, Token};
use crate::provider::ProviderData;
use crate::tfplugin::diag::{Diagnostic, Diagnostics};

/// One create, update, read, delete or import of a resource.
#[derive(Clone)]
pub struct Operation {
    /// Hetzner, bound to the deadline.
    pub hcloud: Client,
    /// The operation's budget and Terraform's stop signal; every Talos and Kubernetes wait of
    /// the operation runs under it too.
    pub deadline: Deadline,
    /// What the operation is, for errors ("create", "update", …).
    pub name: &'static str,
    /// The provider's `poll_interval`: waits on nodes poll from a quarter of it to five times it.
    pub poll_interval: Duration,
    /// The provider's Hetzner token, for what runs in the cluster on the project's behalf (the
    /// cloud controller) unless given its own.
    pub hcloud_token: crate::provider::HcloudToken,
    /// Where Talos images come from.
    pub factory: crate::talos::factory::Factory,
}

impl Operation {
    /// A client for the provider's Hetzner project, with `budget` to finish in.
    ///
    /// # Errors
    /// Without a token, or when the HTTP client cannot be built.
    pub fn start(
        data: &ProviderData,
        name: &'static str,
        budget: Duration,
        cancel: &CancellationToken,
    ) -> Result<Self, Diagnostics> {
        let token = data.require_token()?;
        let mut config =
            ClientConfig::new(Token::new(token.expose())).endpoint(data.hcloud_endpoint.clone());
        config.poll_interval = data.poll_interval;
        config.budget = data.request_budget.clone();
        let deadline = Deadline::after(budget)
            .with_cancel(cancel.clone())
            .with_poll_interval(data.poll_interval)
            // One check of a node (through the load balancer) may take three poll intervals,
            // at least 2 s: a node still booting costs that much, not a whole wait.
            .with_check_timeout((data.poll_interval * 3).max(Duration::from_secs(2)));
        let client = Client::new(config)
            .map_err(|e| failure("Cannot set up the Hetzner Cloud client", e))?
            .with_deadline(deadline.clone());
        Ok(Operation {
            hcloud: client,
            deadline,
            name,
            poll_interval: data.poll_interval,
            hcloud_token: token.clone(),
            factory: data.image_factory.clone(),
        })
    }

    /// Time left in the budget (zero once past).
    pub fn remaining(&self) -> Duration {
        self.deadline.time_left()
    }

    /// Terraform's stop signal.
    pub fn cancel(&self) -> &CancellationToken {
        self.deadline.cancel_token()
    }
}

/// An error diagnostic whose detail is `error` as displayed, redacted. The one way a domain
/// error becomes a diagnostic ([`failed`] adds the error's source chain first).
pub fn failure(summary: impl Into<String>, error: impl Display) -> Diagnostics {
    Diagnostic::error(summary, redact_blobs(&error.to_string())).into()
}

/// Shortest run of base64 characters treated as key material.
const BLOB_MIN_LEN: usize = 40;

/// Replaces long base64 runs (PEM bodies, tokens, whole encoded configurations) with a marker.
/// Errors relayed from nodes may quote what they were sent; a machine configuration holds the
/// cluster's keys, which must never reach Terraform's output or logs.
pub fn redact_blobs(text: &str) -> String {
    let is_blob_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '_' | '-');
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() >= BLOB_MIN_LEN && run.chars().any(|c| c.is_ascii_digit()) {
            out.push_str("<redacted>");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if is_blob_char(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// `error` with its `source()` chain, for errors that keep the cause out of `Display`.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// An error diagnostic from a domain error, its causes included, redacted like [`failure`].
pub fn failed(
    summary: impl Into<String>,
    error: &(dyn std::error::Error + 'static),
) -> Diagnostics {
    failure(summary, chain(error))
}

/// Adds to every error of an apply what happens next: `what` (e.g. `The create of cluster "x"`)
/// stopped, everything made is kept and carries `label`, and applying again continues.
pub fn stopped_here(what: &str, label: &str, diagnostics: Diagnostics) -> Diagnostics {
    let mut out = Diagnostics::new();
    for diagnostic in diagnostics.iter() {
        let mut d = diagnostic.clone();
        if d.is_error() {
            d.detail = format!(
                "{}\n\n{what} stopped here. Everything made so far is kept and labelled {label}; run \
                 `terraform apply` again to continue from this point.",
                d.detail
            );
        }
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("apply refused")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error(
        "node said: invalid config LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0tCk1JSUV2Z0lCQURBTkJna3Foa2lHOXcw"
    )]
    struct Inner;

    #[test]
    fn both_paths_keep_the_cause_and_redact_key_material() {
        for diags in [
            failed("Cannot apply", &Outer(Inner)),
            failure("Cannot apply", chain(&Outer(Inner))),
        ] {
            let detail = &diags.iter().next().expect("one diagnostic").detail;
            assert!(
                detail.contains("apply refused: node said: invalid config <redacted>"),
                "{detail}"
            );
            assert!(!detail.contains("LS0tLS1"), "{detail}");
        }
    }
}
