//! Default planning and schema-driven validation (FIELD-NOTES "Plan rules").
//!
//! Planning starts from Terraform's proposed new state (configuration merged with prior computed
//! values) and then, walking the schema:
//! 1. an attribute with a default whose configuration is null gets the default;
//! 2. on a new object (create, or a new element of a nested collection) a computed attribute
//!    that is null in configuration becomes unknown; on an existing object the prior value stays;
//! 3. the attribute's plan modifiers run, collecting `requires_replace` paths.
//!
//! Configuration values are never changed, so the plan passes Terraform's validity checks.

use crate::tfplugin::diag::{AttributePath, Diagnostics};
use crate::tfplugin::schema::{Attribute, AttributePlan, Block, BlockNesting, NestingMode};
use crate::tfplugin::value::Value;

/// A planned change: the planned state, what forces replacement, and warnings to show.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedChange {
    /// The planned new state (null on destroy).
    pub planned: Value,
    /// Attribute paths whose change forces replacement.
    pub requires_replace: Vec<AttributePath>,
    /// Warnings (errors make planning fail: return them as `Err` instead).
    pub diagnostics: Diagnostics,
}

impl PlannedChange {
    /// Marks the value at `path` unknown (it will be decided at apply); false if the path does not
    /// exist in the plan.
    pub fn set_unknown(&mut self, path: &AttributePath) -> bool {
        self.planned.set_at_path(path, Value::Unknown)
    }

    /// Sets the planned value at `path` (e.g. a value the provider can compute at plan time);
    /// false if the path does not exist in the plan.
    pub fn set(&mut self, path: &AttributePath, value: Value) -> bool {
        self.planned.set_at_path(path, value)
    }

    /// Records that a change at `path` forces replacement.
    pub fn require_replace(&mut self, path: AttributePath) {
        if !self.requires_replace.contains(&path) {
            self.requires_replace.push(path);
        }
    }
}

/// Plans `proposed` for a resource of schema `block`; `prior` is null on create.
pub(crate) fn default_plan(
    block: &Block,
    config: &Value,
    prior: &Value,
    proposed: Value,
) -> PlannedChange {
    let mut change = PlannedChange {
        planned: proposed,
        requires_replace: Vec::new(),
        diagnostics: Diagnostics::new(),
    };
    if change.planned.is_null() {
        return change; // destroy
    }
    let prior = if prior.is_null() { None } else { Some(prior) };
    let mut planned = std::mem::replace(&mut change.planned, Value::Null);
    plan_block(
        block,
        &AttributePath::empty(),
        config,
        prior,
        &mut planned,
        &mut change,
    );
    change.planned = planned;
    change
}

fn plan_block(
    block: &Block,
    path: &AttributePath,
    config: &Value,
    prior: Option<&Value>,
    planned: &mut Value,
    change: &mut PlannedChange,
) {
    let Value::Object(planned_attrs) = planned else {
        return;
    };
    for attr in block.attrs() {
        let Some(slot) = planned_attrs.get_mut(attr.name()) else {
            continue;
        };
        let attr_path = path.attr(attr.name());
        let attr_config = config.get(attr.name()).unwrap_or(&Value::Null);
        let attr_prior = prior.map(|p| p.get(attr.name()).unwrap_or(&Value::Null));
        plan_attribute(attr, &attr_path, attr_config, attr_prior, slot, change);
    }
    for nested in block.nested_blocks() {
        let Some(slot) = planned_attrs.get_mut(nested.type_name()) else {
            continue;
        };
        let nested_path = path.attr(nested.type_name());
        let nested_config = config.get(nested.type_name()).unwrap_or(&Value::Null);
        let nested_prior = prior.and_then(|p| p.get(nested.type_name()));
        let nesting = match nested.nesting() {
            BlockNesting::Single | BlockNesting::Group => NestingMode::Single,
            BlockNesting::List => NestingMode::List,
            BlockNesting::Set => NestingMode::Set,
            BlockNesting::Map => NestingMode::Map,
        };
        for_each_element(
            nesting,
            &nested_path,
            nested_config,
            nested_prior,
            slot,
            &mut |p, c, pr, s| {
                plan_block(nested.body(), p, c, pr, s, change);
            },
        );
    }
}

fn plan_attribute(
    attr: &Attribute,
    path: &AttributePath,
    config: &Value,
    prior: Option<&Value>,
    slot: &mut Value,
    change: &mut PlannedChange,
) {
    if attr.is_write_only() {
        *slot = Value::Null; // never planned or stored
        return;
    }
    if config.is_null() {
        if let Some(default) = attr.default() {
            *slot = default.clone();
        } else if attr.is_computed() && prior.is_none() && slot.is_null() {
            *slot = Value::Unknown;
        }
    }
    if let Some((nesting, attributes)) = attr.nested_attributes() {
        let nested_prior = prior.filter(|p| !p.is_null());
        for_each_element(
            nesting,
            path,
            config,
            nested_prior,
            slot,
            &mut |p, c, pr, s| {
                let Value::Object(attrs) = s else { return };
                for inner in attributes {
                    let Some(inner_slot) = attrs.get_mut(inner.name()) else {
                        continue;
                    };
                    let inner_config = c.get(inner.name()).unwrap_or(&Value::Null);
                    let inner_prior = pr.map(|v| v.get(inner.name()).unwrap_or(&Value::Null));
                    plan_attribute(
                        inner,
                        &p.attr(inner.name()),
                        inner_config,
                        inner_prior,
                        inner_slot,
                        change,
                    );
                }
            },
        );
    }
    if attr.plan_modifiers().is_empty() {
        return;
    }
    let mut plan = AttributePlan {
        path,
        config,
        prior,
        planned: std::mem::replace(slot, Value::Null),
        requires_replace: false,
        diagnostics: Diagnostics::new(),
    };
    for modifier in attr.plan_modifiers() {
        modifier.modify(&mut plan);
    }
    *slot = plan.planned;
    change.diagnostics.extend(plan.diagnostics);
    if plan.requires_replace {
        change.require_replace(path.clone());
    }
}

/// Visits one planned object: `(path, config, prior, planned)`.
type ElementVisitor<'a> = dyn FnMut(&AttributePath, &Value, Option<&Value>, &mut Value) + 'a;

/// Calls `visit(path, config, prior, planned)` for each object of a nested collection, pairing
/// elements with configuration and prior elements by index (lists), key (maps) or equality (sets:
/// a set element has no identity beyond its value).
fn for_each_element(
    nesting: NestingMode,
    path: &AttributePath,
    config: &Value,
    prior: Option<&Value>,
    planned: &mut Value,
    visit: &mut ElementVisitor<'_>,
) {
    let null = Value::Null;
    match (nesting, planned) {
        (NestingMode::Single, planned @ Value::Object(_)) => visit(path, config, prior, planned),
        (NestingMode::List, Value::List(items)) => {
            for (i, item) in items.iter_mut().enumerate() {
                let element_path = path.index(i);
                let c = config
                    .at_path(&AttributePath::empty().index(i))
                    .unwrap_or(&null);
                let p = prior.and_then(|p| p.at_path(&AttributePath::empty().index(i)));
                visit(&element_path, c, p, item);
            }
        }
        (NestingMode::Set, Value::Set(items)) => {
            let configs: &[Value] = match config {
                Value::Set(c) => c,
                _ => &[],
            };
            let priors: &[Value] = match prior {
                Some(Value::Set(p)) => p,
                _ => &[],
            };
            for item in items.iter_mut() {
                let p = priors.iter().find(|p| *p == item);
                let c = configs
                    .iter()
                    .find(|c| matches_config(c, item))
                    .unwrap_or(&null);
                visit(path, c, p, item);
            }
        }
        (NestingMode::Map, Value::Map(items)) => {
            for (key, item) in items.iter_mut() {
                let c = config.get(key).unwrap_or(&null);
                let p = prior.and_then(|p| p.get(key));
                visit(&path.key(key.clone()), c, p, item);
            }
        }
        _ => {}
    }
}

/// True when every non-null attribute of `config` equals the same attribute of `planned`.
fn matches_config(config: &Value, planned: &Value) -> bool {
    match (config, planned) {
        (Value::Object(c), Value::Object(p)) => c
            .iter()
            .all(|(k, v)| v.is_null() || p.get(k).is_some_and(|pv| pv == v)),
        _ => config == planned,
    }
}

/// Nulls every write-only attribute in `value` (Terraform refuses them in state and plans).
pub(crate) fn clear_write_only(block: &Block, value: &mut Value) {
    let Value::Object(attrs) = value else { return };
    for attr in block.attrs() {
        let Some(slot) = attrs.get_mut(attr.name()) else {
            continue;
        };
        if attr.is_write_only() {
            *slot = Value::Null;
        } else if let Some((_, inner)) = attr.nested_attributes() {
            let nested = Block::new().attributes(inner.iter().cloned());
            for_each_value_mut(slot, &mut |element| clear_write_only(&nested, element));
        }
    }
    for nested in block.nested_blocks() {
        if let Some(slot) = attrs.get_mut(nested.type_name()) {
            for_each_value_mut(slot, &mut |element| {
                clear_write_only(nested.body(), element)
            });
        }
    }
}

/// Visits the object itself, or each element of a collection of objects.
fn for_each_value_mut(value: &mut Value, visit: &mut dyn FnMut(&mut Value)) {
    match value {
        Value::Object(_) => visit(value),
        Value::List(items) | Value::Set(items) => items.iter_mut().for_each(visit),
        Value::Map(items) => items.values_mut().for_each(visit),
        _ => {}
    }
}

/// Runs schema validators (on known, non-null values) and deprecation warnings over a
/// configuration.
pub(crate) fn validate_config(block: &Block, config: &Value) -> Diagnostics {
    let mut diags = Diagnostics::new();
    validate_block(block, &AttributePath::empty(), config, &mut diags);
    diags
}

fn validate_block(block: &Block, path: &AttributePath, config: &Value, diags: &mut Diagnostics) {
    if !matches!(config, Value::Object(_)) {
        return;
    }
    for attr in block.attrs() {
        let value = config.get(attr.name()).unwrap_or(&Value::Null);
        validate_attribute(attr, &path.attr(attr.name()), value, diags);
    }
    for nested in block.nested_blocks() {
        let value = config.get(nested.type_name()).unwrap_or(&Value::Null);
        let nested_path = path.attr(nested.type_name());
        for_each_config_element(&nested_path, value, &mut |p, v| {
            validate_block(nested.body(), p, v, diags)
        });
    }
}

fn validate_attribute(
    attr: &Attribute,
    path: &AttributePath,
    value: &Value,
    diags: &mut Diagnostics,
) {
    if value.is_null() || !value.is_known() {
        return;
    }
    if let Some(message) = attr.deprecation() {
        diags.add_warning_at(path.clone(), "Deprecated attribute", message);
    }
    for validator in attr.validators() {
        diags.extend(validator.validate(path, value));
    }
    if let Some((_, attributes)) = attr.nested_attributes() {
        for_each_config_element(path, value, &mut |p, v| {
            for inner in attributes {
                let inner_value = v.get(inner.name()).unwrap_or(&Value::Null);
                validate_attribute(inner, &p.attr(inner.name()), inner_value, diags);
            }
        });
    }
}

fn for_each_config_element(
    path: &AttributePath,
    value: &Value,
    visit: &mut dyn FnMut(&AttributePath, &Value),
) {
    match value {
        Value::Object(_) => visit(path, value),
        Value::List(items) => items
            .iter()
            .enumerate()
            .for_each(|(i, v)| visit(&path.index(i), v)),
        Value::Set(items) => items.iter().for_each(|v| visit(path, v)),
        Value::Map(items) => items
            .iter()
            .for_each(|(k, v)| visit(&path.key(k.clone()), v)),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
