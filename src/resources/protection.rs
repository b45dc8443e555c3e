//! `delete_protection` at plan time: a plan that would delete a protected object (destroy, or a
//! change that forces replacement) is refused before anything happens, with the way out.

use crate::resources::config_view as view;
use crate::resources::validators::error_at;
use crate::tfplugin::diag::{AttributePath, Diagnostics};
use crate::tfplugin::framework::PlannedChange;
use crate::tfplugin::value::Value;

/// Refuses `change` when it deletes a `prior` object that has `delete_protection = true`.
/// `what` names the object for the message ("cluster", "node pool").
pub fn check(what: &str, prior: &Value, change: &PlannedChange) -> Result<(), Diagnostics> {
    let path = AttributePath::root("delete_protection");
    if prior.is_null() || view::boolean(prior, &path) != Some(true) {
        return Ok(());
    }
    let how = if change.planned.is_null() {
        "destroying it".to_owned()
    } else if !change.requires_replace.is_empty() {
        let paths: Vec<String> = change
            .requires_replace
            .iter()
            .map(ToString::to_string)
            .collect();
        format!("replacing it (forced by changing {})", paths.join(", "))
    } else {
        return Ok(());
    };
    Err(error_at(
        &path,
        "Delete protection is enabled",
        format!(
            "this {what} has delete_protection = true, so {how} is refused; set delete_protection = \
             false and apply that first if the {what} really should go"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tfplugin::diag::Diagnostics;

    fn change(planned: Value, replace: bool) -> PlannedChange {
        PlannedChange {
            planned,
            requires_replace: if replace {
                vec![AttributePath::root("name")]
            } else {
                vec![]
            },
            diagnostics: Diagnostics::new(),
        }
    }

    #[test]
    fn protected_objects_are_not_deleted() {
        let protected = Value::object([("delete_protection", Value::Bool(true))]);
        let open = Value::object([("delete_protection", Value::Bool(false))]);
        let err = check("cluster", &protected, &change(Value::Null, false)).unwrap_err();
        let d = err.iter().next().unwrap();
        assert!(
            d.detail.contains("destroying it is refused"),
            "{}",
            d.detail
        );
        let err = check("cluster", &protected, &change(open.clone(), true)).unwrap_err();
        assert!(err.iter().next().unwrap().detail.contains("changing name"));
        assert!(check("cluster", &protected, &change(protected.clone(), false)).is_ok());
        assert!(check("cluster", &open, &change(Value::Null, false)).is_ok());
        assert!(check("cluster", &Value::Null, &change(open, false)).is_ok());
    }
}
