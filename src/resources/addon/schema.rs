//! The schema of `hk8s_addon` (DESIGN.md §1).
//!
//! Replacement: `name`, `namespace` (a Helm release lives in one namespace), and `cluster` when
//! it names another cluster. In place (a Helm upgrade): `version`, `values`, `chart`, `wait`,
//! `timeout`.

use std::time::Duration;

use super::catalog;
use crate::kube::names;
use crate::resources::cluster_ref::cluster_attribute;
use crate::resources::validators::{self as v, string_check};
use crate::tfplugin::schema::{Attribute, Schema, requires_replace, use_state_for_unknown};

/// Default time an install or upgrade may take.
pub const DEFAULT_TIMEOUT: &str = "10m";

/// The full schema.
pub fn schema() -> Schema {
    Schema::new()
        .version(0)
        .description(
            "An addon installed into the cluster as a helm.cattle.io/v1 HelmChart (served by \
             helm-controller), applied with server-side apply; deleting the resource uninstalls it.",
        )
        .attribute(cluster_attribute("the addon"))
        .attribute(
            Attribute::string("name")
                .required()
                .description(format!(
                    "A catalog entry ({}) or, with `chart`, the Helm release name of any chart (at most \
                     53 characters). A change replaces the addon.",
                    catalog::names()
                ))
                .plan(requires_replace()),
        )
        .attribute(
            Attribute::single_nested(
                "chart",
                [
                    Attribute::string("repository")
                        .required()
                        .description("Chart repository URL (https://… or oci://…).")
                        .validate(string_check("Invalid chart repository", "must be an https://, http:// or oci:// URL", check_repository)),
                    Attribute::string("name")
                        .required()
                        .description("Chart name in the repository.")
                        .validate(string_check("Invalid chart name", "must be a chart name such as ingress-nginx", check_chart_name)),
                ],
            )
            .optional()
            .description("Install this chart instead of a catalog entry (then `version` is required)."),
        )
        .attribute(
            Attribute::string("version")
                .optional()
                .computed()
                .description("Chart (or manifest) version; default: the version the catalog pins."),
        )
        .attribute(
            Attribute::string("namespace")
                .optional()
                .computed()
                .description(
                    "Namespace to install into (created when missing); default: the catalog's, or the \
                     addon name for other charts. A change replaces the addon.",
                )
                .validate(string_check("Invalid namespace", "must be a Kubernetes namespace name", names::check_namespace))
                .plan(requires_replace()),
        )
        .attribute(
            Attribute::string("values")
                .optional()
                .description(
                    "Helm values as YAML (e.g. `yamlencode({...})`), merged over the catalog defaults \
                     the provider derives from the cluster (network id, pod CIDR, tokens).",
                )
                .validate(string_check("Invalid values", "must be a YAML mapping", crate::resources::helm_values::check)),
        )
        .attribute(
            Attribute::bool("wait")
                .default_value(true)
                .description("Wait until the install or upgrade job has completed (default true)."),
        )
        .attribute(
            Attribute::string("timeout")
                .default_value(DEFAULT_TIMEOUT)
                .description("How long to wait for the install or upgrade, from 1m to 2h (default \"10m\").")
                .validate(v::duration_between(Duration::from_secs(60), Duration::from_secs(2 * 3600))),
        )
        .attribute(
            Attribute::string("id")
                .computed()
                .description("Addon id, \"<cluster>/<namespace>/<name>\".")
                .plan(use_state_for_unknown()),
        )
        .attribute(
            Attribute::string("encryption_passphrase")
                .computed()
                .sensitive()
                .description(
                    "hcloud-csi only: the LUKS passphrase of the encrypted storage class \
                     (`hcloud-volumes-encrypted`), generated on create and kept in state (and in the \
                     Secret kube-system/hcloud-csi-encryption). Losing it loses the data of encrypted volumes.",
                )
                .plan(use_state_for_unknown()),
        )
        .attribute(Attribute::string("status").computed().description("Release status: deployed, failed, pending (wait = false) or uninstalling."))
        .attribute(Attribute::number("revision").computed().description("Helm release revision."))
}

fn check_repository(url: &str) -> Result<(), String> {
    let rest = ["https://", "http://", "oci://"]
        .iter()
        .find_map(|scheme| url.strip_prefix(scheme));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(char::is_whitespace) => Ok(()),
        _ => Err(format!(
            "{url:?} is not a chart repository URL; write e.g. \"https://charts.jetstack.io\" or \"oci://ghcr.io/org/charts\""
        )),
    }
}

fn check_chart_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a chart name; write e.g. \"ingress-nginx\" (letters, digits, '-', '_', '.')"
        ))
    }
}
