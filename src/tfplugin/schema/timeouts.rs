//! Operation timeouts: Go-style duration strings (`"30s"`, `"1h30m"`, `"1.5h"`) and the
//! conventional `timeouts { create = "…", update = "…", delete = "…" }` block.

use std::time::Duration;

use super::{Attribute, Block, NestedBlock, string_rule};
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::tfplugin::value::Value;

/// The name of the timeouts block.
pub const TIMEOUTS_BLOCK: &str = "timeouts";

/// Parses a positive duration as Go's `time.ParseDuration` writes them: one or more decimal
/// numbers with a unit each (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), e.g. `"500ms"`, `"1h30m"`,
/// `"1.5h"`. Zero and negative durations are refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    match super::duration::parse(text.trim()) {
        Ok(d) if d.is_zero() => Err(format!("{text:?} must be longer than zero")),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

/// A `timeouts` block (single nesting) with one optional duration attribute per operation,
/// documented with its default, e.g. `timeouts_block(&[("create", "30m"), ("delete", "10m")])`.
#[must_use]
pub fn timeouts_block(operations: &[(&str, &str)]) -> NestedBlock {
    let attributes = operations.iter().map(|(operation, default)| {
        Attribute::string(*operation)
            .optional()
            .description(format!(
                "How long {operation} may take, e.g. \"30m\" or \"1h\" (default {default})."
            ))
            .validate(string_rule(
                "value must be a duration such as \"30m\" or \"1h30m\"",
                |s: &str| parse_duration(s).map(|_| ()),
            ))
    });
    NestedBlock::single(
        TIMEOUTS_BLOCK,
        Block::new()
            .attributes(attributes)
            .description("Operation timeouts (Go duration strings)."),
    )
}

/// The timeout for `operation` from a resource value's `timeouts` block (configuration, plan or
/// state), or `default` when unset.
pub fn timeout_for(
    value: &Value,
    operation: &str,
    default: Duration,
) -> Result<Duration, Diagnostics> {
    let path = AttributePath::root(TIMEOUTS_BLOCK).attr(operation);
    match value.at_path(&path) {
        Some(Value::String(text)) => parse_duration(text).map_err(|message| {
            Diagnostic::error("Invalid timeout", message)
                .at(path)
                .into()
        }),
        _ => Ok(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5h"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10us"), Ok(Duration::from_micros(10)));
        for bad in [
            "",
            "0s",
            "2",
            "s",
            "1..5s",
            "2 s",
            "-1s",
            "3d",
            "1.2.3s",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn block_and_lookup() {
        let block = timeouts_block(&[("create", "30m"), ("delete", "10m")]);
        assert_eq!(block.type_name(), "timeouts");
        assert_eq!(block.body().attrs().len(), 2);
        let value = Value::object([(
            "timeouts",
            Value::object([("create", Value::from("45m")), ("delete", Value::Null)]),
        )]);
        assert_eq!(
            timeout_for(&value, "create", Duration::from_secs(1)).unwrap(),
            Duration::from_secs(2700)
        );
        assert_eq!(
            timeout_for(&value, "delete", Duration::from_secs(600)).unwrap(),
            Duration::from_secs(600)
        );
        assert_eq!(
            timeout_for(&Value::Null, "update", Duration::from_secs(5)).unwrap(),
            Duration::from_secs(5)
        );
        let bad = Value::object([("timeouts", Value::object([("create", Value::from("soon"))]))]);
        let err = timeout_for(&bad, "create", Duration::ZERO).unwrap_err();
        assert_eq!(
            err.iter()
                .next()
                .unwrap()
                .path
                .as_ref()
                .unwrap()
                .to_string(),
            "timeouts.create"
        );
    }
}
