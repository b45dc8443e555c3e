//! Attribute plan modifiers: small values that adjust one attribute's planned value or ask for
//! replacement, and describe themselves for docs.

use crate::tfplugin::diag::{AttributePath, Diagnostics};
use crate::tfplugin::value::Value;

/// One attribute's plan while it is being decided; modifiers read and adjust it in order.
#[derive(Debug)]
pub struct AttributePlan<'a> {
    /// Where the attribute is.
    pub path: &'a AttributePath,
    /// Its configuration value (null when unset).
    pub config: &'a Value,
    /// Its prior state value; `None` when the object is being created (or the element is new).
    pub prior: Option<&'a Value>,
    /// The planned value so far; modifiers may replace it.
    pub planned: Value,
    /// Set to true when a change of this attribute forces replacing the resource.
    pub requires_replace: bool,
    /// Problems and warnings to report.
    pub diagnostics: Diagnostics,
}

impl AttributePlan<'_> {
    /// True when the planned value differs from the prior state (an unknown plan counts as a
    /// change unless the prior value is also unknown).
    #[must_use]
    pub fn is_changing(&self) -> bool {
        self.prior.is_some_and(|prior| *prior != self.planned)
    }
}

/// Adjusts one attribute's plan.
pub trait PlanModifier: Send + Sync {
    /// What the modifier does, for docs ("changing the value forces replacement").
    fn description(&self) -> String;

    /// Reads and adjusts `plan`.
    fn modify(&self, plan: &mut AttributePlan<'_>);
}

/// Any change of the attribute on an existing resource replaces the resource.
#[must_use]
pub fn requires_replace() -> RequiresReplaceIf<fn(&AttributePlan<'_>) -> bool> {
    RequiresReplaceIf {
        description: "changing the value forces replacement".to_owned(),
        condition: |_| true,
    }
}

/// A change replaces the resource when `condition` holds (e.g. only shrinking a disk).
pub fn requires_replace_if<F>(description: impl Into<String>, condition: F) -> RequiresReplaceIf<F>
where
    F: Fn(&AttributePlan<'_>) -> bool + Send + Sync,
{
    RequiresReplaceIf {
        description: description.into(),
        condition,
    }
}

/// See [`requires_replace_if`].
pub struct RequiresReplaceIf<F> {
    description: String,
    condition: F,
}

impl<F> PlanModifier for RequiresReplaceIf<F>
where
    F: Fn(&AttributePlan<'_>) -> bool + Send + Sync,
{
    fn description(&self) -> String {
        self.description.clone()
    }

    fn modify(&self, plan: &mut AttributePlan<'_>) {
        if plan.is_changing() && (self.condition)(plan) {
            plan.requires_replace = true;
        }
    }
}

/// When the plan is unknown but the prior state has a value, keep the prior value (for computed
/// values that never change after create, such as ids, once something marked them unknown).
#[must_use]
pub fn use_state_for_unknown() -> UseStateForUnknown {
    UseStateForUnknown
}

/// See [`use_state_for_unknown`].
#[derive(Debug, Clone, Copy)]
pub struct UseStateForUnknown;

impl PlanModifier for UseStateForUnknown {
    fn description(&self) -> String {
        "once set, the value does not change unless the resource is replaced".to_owned()
    }

    fn modify(&self, plan: &mut AttributePlan<'_>) {
        if let Some(prior) = plan.prior
            && !plan.planned.is_known()
            && !prior.is_null()
        {
            plan.planned = prior.clone();
        }
    }
}

/// A modifier from a closure.
pub fn modifier<F>(description: impl Into<String>, modify: F) -> FnModifier<F>
where
    F: Fn(&mut AttributePlan<'_>) + Send + Sync,
{
    FnModifier {
        description: description.into(),
        modify,
    }
}

/// See [`modifier`].
pub struct FnModifier<F> {
    description: String,
    modify: F,
}

impl<F> PlanModifier for FnModifier<F>
where
    F: Fn(&mut AttributePlan<'_>) + Send + Sync,
{
    fn description(&self) -> String {
        self.description.clone()
    }

    fn modify(&self, plan: &mut AttributePlan<'_>) {
        (self.modify)(plan);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan<'a>(
        path: &'a AttributePath,
        prior: Option<&'a Value>,
        planned: Value,
    ) -> AttributePlan<'a> {
        AttributePlan {
            path,
            config: &Value::Null,
            prior,
            planned,
            requires_replace: false,
            diagnostics: Diagnostics::new(),
        }
    }

    #[test]
    fn requires_replace_only_on_change_of_existing() {
        let path = AttributePath::root("name");
        let old = Value::from("a");
        let mut p = plan(&path, Some(&old), Value::from("b"));
        requires_replace().modify(&mut p);
        assert!(p.requires_replace);
        let mut p = plan(&path, Some(&old), Value::from("a"));
        requires_replace().modify(&mut p);
        assert!(!p.requires_replace);
        let mut p = plan(&path, None, Value::from("b"));
        requires_replace().modify(&mut p);
        assert!(!p.requires_replace, "create never replaces");
        let mut p = plan(&path, Some(&old), Value::Unknown);
        requires_replace().modify(&mut p);
        assert!(p.requires_replace, "unknown may differ");
    }

    #[test]
    fn use_state_for_unknown_keeps_prior() {
        let path = AttributePath::root("id");
        let old = Value::from("42");
        let mut p = plan(&path, Some(&old), Value::Unknown);
        use_state_for_unknown().modify(&mut p);
        assert_eq!(p.planned, old);
        let mut p = plan(&path, None, Value::Unknown);
        use_state_for_unknown().modify(&mut p);
        assert_eq!(p.planned, Value::Unknown);
    }
}
