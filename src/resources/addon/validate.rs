//! Cross-attribute checks of `hk8s_addon`: a catalog name or a chart, never an ambiguous mix,
//! and a pinned version for charts outside the catalog.

use super::catalog;
use crate::kube::names;
use crate::resources::config_view as view;
use crate::resources::validators::error_at;
use crate::tfplugin::diag::{AttributePath, Diagnostics};
use crate::tfplugin::value::Value;

/// Every configuration-only problem of an addon.
pub fn check(config: &Value) -> Diagnostics {
    let name_path = AttributePath::root("name");
    let chart_path = AttributePath::root("chart");
    let Some(name) = view::string(config, &name_path) else {
        return Diagnostics::new();
    };
    let chart_given = view::known(config, &chart_path).is_some();
    let chart_unknown = view::is_unknown(config, &chart_path);
    match (catalog::find(name), chart_given) {
        (Some(entry), false) => match catalog::refusal(entry) {
            Some((summary, why)) => error_at(&name_path, summary, why),
            None => Diagnostics::new(),
        },
        (Some(_), true) => error_at(
            &chart_path,
            "Chart given for a catalog addon",
            format!(
                "{name:?} is a catalog addon, installed from its own chart; remove `chart`, or give this \
                 release another name to install a chart of your own"
            ),
        ),
        (None, false) if !chart_unknown => error_at(
            &name_path,
            "Unknown addon",
            format!(
                "{name:?} is not in the catalog ({}); to install another chart give `chart = {{ repository, name }}` \
                 and `version`",
                catalog::names()
            ),
        ),
        (None, true) => {
            let mut diags = Diagnostics::new();
            if let Err(e) = names::check_release_name(name) {
                diags.extend(error_at(&name_path, "Invalid release name", e));
            }
            let version = AttributePath::root("version");
            if config.get("version").is_none_or(Value::is_null) {
                diags.extend(error_at(
                    &version,
                    "Missing chart version",
                    "charts outside the catalog need a pinned `version` (e.g. \"4.12.1\") so plans stay \
                     reproducible",
                ));
            }
            diags
        }
        _ => Diagnostics::new(),
    }
}

#[cfg(test)]
mod tests;
