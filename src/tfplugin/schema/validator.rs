//! Attribute validators: small values that check one configuration value and describe
//! themselves for docs ("value must be one of ...": lowercase, no final period).

use std::fmt::Display;

use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::tfplugin::value::{Number, Value};

/// Checks a configuration value. Called only with known, non-null values; unknown elements
/// inside collections are possible and should be skipped.
pub trait Validator: Send + Sync {
    /// What the validator requires, for docs and error details ("value must be ...").
    fn description(&self) -> String;

    /// Returns the problems found, each at the narrowest path (e.g. `path.key(k)` per map key).
    fn validate(&self, path: &AttributePath, value: &Value) -> Diagnostics;
}

fn invalid(path: &AttributePath, detail: impl Into<String>) -> Diagnostics {
    Diagnostic::error("Invalid attribute value", detail)
        .at(path.clone())
        .into()
}

/// The value must equal one of `allowed` (strings, numbers or bools).
pub fn one_of<V: Into<Value>>(allowed: impl IntoIterator<Item = V>) -> OneOf {
    OneOf {
        allowed: allowed.into_iter().map(Into::into).collect(),
    }
}

/// See [`one_of`].
#[derive(Debug, Clone)]
pub struct OneOf {
    allowed: Vec<Value>,
}

fn show(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        other => other.kind_name().to_owned(),
    }
}

impl Validator for OneOf {
    fn description(&self) -> String {
        let list: Vec<String> = self.allowed.iter().map(show).collect();
        format!("value must be one of: {}", list.join(", "))
    }

    fn validate(&self, path: &AttributePath, value: &Value) -> Diagnostics {
        if !value.is_known() || self.allowed.contains(value) {
            return Diagnostics::new();
        }
        invalid(path, format!("{}, got {}", self.description(), show(value)))
    }
}

/// A number must lie in `[min, max]` (inclusive).
pub fn between(min: impl Into<Number>, max: impl Into<Number>) -> Between {
    Between {
        min: min.into(),
        max: max.into(),
    }
}

/// See [`between`].
#[derive(Debug, Clone)]
pub struct Between {
    min: Number,
    max: Number,
}

impl Validator for Between {
    fn description(&self) -> String {
        format!("value must be between {} and {}", self.min, self.max)
    }

    fn validate(&self, path: &AttributePath, value: &Value) -> Diagnostics {
        let Some(number) = value.as_number() else {
            return Diagnostics::new();
        };
        if *number < self.min || *number > self.max {
            return invalid(path, format!("{}, got {number}", self.description()));
        }
        Diagnostics::new()
    }
}

/// A string's length (in characters) or a collection's size must lie in `[min, max]`.
pub fn length_between(min: usize, max: usize) -> LengthBetween {
    LengthBetween { min, max }
}

/// See [`length_between`].
#[derive(Debug, Clone)]
pub struct LengthBetween {
    min: usize,
    max: usize,
}

impl Validator for LengthBetween {
    fn description(&self) -> String {
        format!("length must be between {} and {}", self.min, self.max)
    }

    fn validate(&self, path: &AttributePath, value: &Value) -> Diagnostics {
        let len = match value {
            Value::String(s) => s.chars().count(),
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => items.len(),
            Value::Map(items) => items.len(),
            _ => return Diagnostics::new(),
        };
        if len < self.min || len > self.max {
            return invalid(path, format!("{}, got {len}", self.description()));
        }
        Diagnostics::new()
    }
}

/// Applies `inner` to every known element of a list, set or map, reporting at the element's path
/// (index or key).
pub fn each_element(inner: impl Validator + 'static) -> EachElement {
    EachElement {
        inner: Box::new(inner),
    }
}

/// See [`each_element`].
pub struct EachElement {
    inner: Box<dyn Validator>,
}

impl Validator for EachElement {
    fn description(&self) -> String {
        format!("each element: {}", self.inner.description())
    }

    fn validate(&self, path: &AttributePath, value: &Value) -> Diagnostics {
        let mut diags = Diagnostics::new();
        let mut check = |element_path: AttributePath, element: &Value| {
            if element.is_known() && !element.is_null() {
                diags.extend(self.inner.validate(&element_path, element));
            }
        };
        match value {
            Value::List(items) | Value::Tuple(items) => {
                items
                    .iter()
                    .enumerate()
                    .for_each(|(i, e)| check(path.index(i), e));
            }
            // Terraform addresses set elements by value, which diagnostics cannot express here.
            Value::Set(items) => items.iter().for_each(|e| check(path.clone(), e)),
            Value::Map(items) => items
                .iter()
                .for_each(|(k, e)| check(path.key(k.clone()), e)),
            _ => {}
        }
        diags
    }
}

/// A validator from a closure over strings: `Err(message)` becomes an error at the attribute.
/// Non-string values pass (pair it with a string attribute).
pub fn string_rule<F, E>(description: impl Into<String>, rule: F) -> StringRule<F>
where
    F: Fn(&str) -> Result<(), E> + Send + Sync,
    E: Display,
{
    StringRule {
        description: description.into(),
        rule,
    }
}

/// See [`string_rule`].
pub struct StringRule<F> {
    description: String,
    rule: F,
}

impl<F, E> Validator for StringRule<F>
where
    F: Fn(&str) -> Result<(), E> + Send + Sync,
    E: Display,
{
    fn description(&self) -> String {
        self.description.clone()
    }

    fn validate(&self, path: &AttributePath, value: &Value) -> Diagnostics {
        match value.as_str().map(&self.rule) {
            Some(Err(message)) => invalid(path, message.to_string()),
            _ => Diagnostics::new(),
        }
    }
}

/// A validator from any closure over the value and its path.
pub fn custom<F>(description: impl Into<String>, check: F) -> Custom<F>
where
    F: Fn(&AttributePath, &Value) -> Diagnostics + Send + Sync,
{
    Custom {
        description: description.into(),
        check,
    }
}

/// See [`custom`].
pub struct Custom<F> {
    description: String,
    check: F,
}

impl<F> Validator for Custom<F>
where
    F: Fn(&AttributePath, &Value) -> Diagnostics + Send + Sync,
{
    fn description(&self) -> String {
        self.description.clone()
    }

    fn validate(&self, path: &AttributePath, value: &Value) -> Diagnostics {
        (self.check)(path, value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_of_reports_allowed_values() {
        let v = one_of(["a", "b"]);
        let path = AttributePath::root("x");
        assert!(v.validate(&path, &Value::from("a")).is_empty());
        assert!(v.validate(&path, &Value::Unknown).is_empty());
        let diags = v.validate(&path, &Value::from("c"));
        let d = diags.iter().next().unwrap();
        assert_eq!(d.path.as_ref(), Some(&path));
        assert_eq!(d.detail, r#"value must be one of: "a", "b", got "c""#);
    }

    #[test]
    fn each_element_reports_per_key() {
        let v = each_element(string_rule("value must be lowercase", |s: &str| {
            if s == s.to_lowercase() {
                Ok(())
            } else {
                Err(format!("{s:?} is not lowercase"))
            }
        }));
        let labels = Value::Map(
            [
                ("a".to_owned(), Value::from("ok")),
                ("b".to_owned(), Value::from("NO")),
            ]
            .into(),
        );
        let diags = v.validate(&AttributePath::root("labels"), &labels);
        let paths: Vec<String> = diags
            .iter()
            .map(|d| d.path.as_ref().unwrap().to_string())
            .collect();
        assert_eq!(paths, [r#"labels["b"]"#]);
    }

    #[test]
    fn between_and_length() {
        let path = AttributePath::root("count");
        assert!(between(1, 5).validate(&path, &Value::from(3)).is_empty());
        assert!(between(1, 5).validate(&path, &Value::from(6)).has_error());
        assert!(
            length_between(1, 2)
                .validate(&path, &Value::from("abc"))
                .has_error()
        );
        assert!(
            length_between(1, 3)
                .validate(&path, &Value::from("abc"))
                .is_empty()
        );
    }
}
