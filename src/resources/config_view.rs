//! Typed reads of known values out of a configuration, plan or state [`Value`] by attribute path.
//!
//! Every reader returns `None` for null *and* unknown values: plan-time checks skip what is not
//! known yet (a value from another resource) instead of rejecting it.

use crate::tfplugin::diag::AttributePath;
use crate::tfplugin::value::Value;

/// The value at `path` when it is known and not null.
pub fn known<'a>(value: &'a Value, path: &AttributePath) -> Option<&'a Value> {
    value.at_path(path).filter(|v| v.is_known() && !v.is_null())
}

/// True when the value at `path` (or an object containing it) is unknown.
pub fn is_unknown(value: &Value, path: &AttributePath) -> bool {
    let mut current = value;
    for step in path.steps() {
        if !current.is_known() {
            return true;
        }
        match current.at_path(&AttributePath::empty().with(step.clone())) {
            Some(next) => current = next,
            None => return false,
        }
    }
    !current.is_known()
}

/// The string at `path`.
pub fn string<'a>(value: &'a Value, path: &AttributePath) -> Option<&'a str> {
    known(value, path).and_then(Value::as_str)
}

/// The whole number at `path` (`None` for fractions).
pub fn integer(value: &Value, path: &AttributePath) -> Option<i64> {
    known(value, path)
        .and_then(Value::as_number)
        .and_then(|n| n.to_i64())
}

/// The bool at `path`.
pub fn boolean(value: &Value, path: &AttributePath) -> Option<bool> {
    known(value, path).and_then(Value::as_bool)
}

/// The known string elements of the list or set at `path`, with their indexes.
pub fn strings<'a>(value: &'a Value, path: &AttributePath) -> Vec<(usize, &'a str)> {
    match known(value, path) {
        Some(Value::List(items) | Value::Set(items) | Value::Tuple(items)) => items
            .iter()
            .enumerate()
            .filter_map(|(i, v)| v.as_str().map(|s| (i, s)))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_known_values_and_skips_unknown() {
        let v = Value::object([
            ("name", Value::from("prod")),
            ("count", Value::from(3)),
            ("later", Value::Unknown),
            (
                "cp",
                Value::object([(
                    "locations",
                    Value::List(vec![Value::from("fsn1"), Value::Unknown]),
                )]),
            ),
        ]);
        assert_eq!(string(&v, &AttributePath::root("name")), Some("prod"));
        assert_eq!(integer(&v, &AttributePath::root("count")), Some(3));
        assert_eq!(string(&v, &AttributePath::root("later")), None);
        assert!(is_unknown(&v, &AttributePath::root("later")));
        assert!(!is_unknown(&v, &AttributePath::root("name")));
        assert_eq!(
            strings(&v, &AttributePath::root("cp").attr("locations")),
            vec![(0, "fsn1")]
        );
        let unknown_parent = Value::object([("cp", Value::Unknown)]);
        assert!(is_unknown(
            &unknown_parent,
            &AttributePath::root("cp").attr("locations")
        ));
    }
}
