//! Hetzner label rules: key/value validation and the label-selector language.
//!
//! The selector language is Kubernetes' (which Hetzner adopted): a comma-separated conjunction of
//! `k=v`, `k==v`, `k!=v`, `k`, `!k`, `k in (a,b)` and `k notin (a,b)`. Commas inside parentheses
//! belong to the value set. As in Kubernetes, `k!=v` and `k notin (…)` also match objects that do not
//! carry `k` at all.

use std::collections::BTreeMap;

/// Labels as stored on every Hetzner object.
pub type Labels = BTreeMap<String, String>;

/// Why a label selector could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A requirement had no key (for example `=v` or an empty term between commas).
    #[error("label selector term {term:?} has no key")]
    MissingKey {
        /// The offending term.
        term: String,
    },
    /// `in`/`notin` was not followed by a parenthesised value list.
    #[error("label selector term {term:?} needs a value list in parentheses")]
    BadValueSet {
        /// The offending term.
        term: String,
    },
    /// A key or value contains characters Hetzner does not accept.
    #[error("label selector term {term:?} has an invalid key or value")]
    InvalidToken {
        /// The offending term.
        term: String,
    },
    /// Parentheses do not balance.
    #[error("label selector has unbalanced parentheses")]
    Unbalanced,
}

/// One requirement of a selector; all requirements of a selector must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `k=v` or `k==v`.
    Equals(String, String),
    /// `k!=v` (also true when `k` is absent).
    NotEquals(String, String),
    /// `k`.
    Exists(String),
    /// `!k`.
    NotExists(String),
    /// `k in (a,b)`.
    In(String, Vec<String>),
    /// `k notin (a,b)` (also true when `k` is absent).
    NotIn(String, Vec<String>),
}

impl Requirement {
    /// Whether `labels` satisfy this requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        match self {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
            Requirement::In(k, set) => labels.get(k).is_some_and(|v| set.contains(v)),
            Requirement::NotIn(k, set) => labels.get(k).is_none_or(|v| !set.contains(v)),
        }
    }
}

/// A parsed label selector (an empty selector matches everything).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    /// The requirements, all of which must hold.
    pub requirements: Vec<Requirement>,
}

impl Selector {
    /// Parses the selector syntax described in the module docs.
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut requirements = Vec::new();
        for term in split_terms(input)? {
            let term = term.trim();
            if term.is_empty() {
                if input.trim().is_empty() {
                    continue;
                }
                return Err(SelectorError::MissingKey { term: term.into() });
            }
            requirements.push(parse_term(term)?);
        }
        Ok(Selector { requirements })
    }

    /// Whether `labels` satisfy every requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }
}

fn split_terms(input: &str) -> Result<Vec<&str>, SelectorError> {
    let mut terms = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in input.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(SelectorError::Unbalanced);
                }
            }
            ',' if depth == 0 => {
                terms.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(SelectorError::Unbalanced);
    }
    terms.push(&input[start..]);
    Ok(terms)
}

fn parse_term(term: &str) -> Result<Requirement, SelectorError> {
    let bad = || SelectorError::InvalidToken { term: term.into() };
    let key_ok = |k: &str| validate_key(k).is_ok();
    let value_ok = |v: &str| validate_value(v).is_ok();
    if let Some(rest) = term.strip_prefix('!') {
        if rest.contains(['=', '!', '(']) {
            return Err(bad());
        }
        let key = rest.trim();
        return if key_ok(key) {
            Ok(Requirement::NotExists(key.into()))
        } else {
            Err(bad())
        };
    }
    for (op, not) in [("!=", true), ("==", false), ("=", false)] {
        if let Some((k, v)) = term.split_once(op) {
            let (k, v) = (k.trim(), v.trim());
            if k.is_empty() {
                return Err(SelectorError::MissingKey { term: term.into() });
            }
            if !key_ok(k) || !value_ok(v) {
                return Err(bad());
            }
            return Ok(if not {
                Requirement::NotEquals(k.into(), v.into())
            } else {
                Requirement::Equals(k.into(), v.into())
            });
        }
    }
    let mut words = term.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or_default().trim();
    let rest = words.next().unwrap_or_default().trim();
    if rest.is_empty() {
        return if key_ok(key) {
            Ok(Requirement::Exists(key.into()))
        } else {
            Err(bad())
        };
    }
    let (negated, set) = if let Some(set) = rest.strip_prefix("notin") {
        (true, set)
    } else if let Some(set) = rest.strip_prefix("in") {
        (false, set)
    } else {
        return Err(bad());
    };
    let set = set.trim();
    let inner = set
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| SelectorError::BadValueSet { term: term.into() })?;
    let values: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
    if !key_ok(key) || values.iter().any(|v| !value_ok(v)) {
        return Err(bad());
    }
    Ok(if negated {
        Requirement::NotIn(key.into(), values)
    } else {
        Requirement::In(key.into(), values)
    })
}

/// Why a label key or value is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// The key is empty, too long or has characters outside the allowed set.
    #[error("label key {0:?} is invalid")]
    Key(String),
    /// The value is too long or has characters outside the allowed set.
    #[error("label value {0:?} is invalid")]
    Value(String),
}

/// Longest label name segment or value: 63 characters, as Hetzner's documentation and its
/// published OpenAPI description say. hcloud-go's `ValidateResourceLabels` lets 64 through; the
/// sim takes the stricter, documented limit, so a client that writes 64 fails here first.
pub const MAX_NAME_LEN: usize = 63;

fn valid_segment(s: &str, max: usize) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= max
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Checks a key: `[prefix/]name`, prefix ≤ 255 and name ≤ 64 characters of `[A-Za-z0-9._-]`,
/// each starting and ending alphanumeric.
pub fn validate_key(key: &str) -> Result<(), LabelError> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| valid_segment(p, 255));
    if prefix_ok && valid_segment(name, MAX_NAME_LEN) {
        Ok(())
    } else {
        Err(LabelError::Key(key.into()))
    }
}

/// Checks a value: empty, or ≤ 64 characters of `[A-Za-z0-9._-]` starting and ending alphanumeric.
pub fn validate_value(value: &str) -> Result<(), LabelError> {
    if value.is_empty() || valid_segment(value, MAX_NAME_LEN) {
        Ok(())
    } else {
        Err(LabelError::Value(value.into()))
    }
}

/// Checks every key and value of a label map.
pub fn validate_labels(labels: &Labels) -> Result<(), LabelError> {
    for (k, v) in labels {
        validate_key(k)?;
        validate_value(v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_every_operator() {
        let s = Selector::parse("a=1, b==2,c!=3,d,!e,f in (x, y),g notin (z)").unwrap();
        assert_eq!(
            s.requirements,
            vec![
                Requirement::Equals("a".into(), "1".into()),
                Requirement::Equals("b".into(), "2".into()),
                Requirement::NotEquals("c".into(), "3".into()),
                Requirement::Exists("d".into()),
                Requirement::NotExists("e".into()),
                Requirement::In("f".into(), vec!["x".into(), "y".into()]),
                Requirement::NotIn("g".into(), vec!["z".into()]),
            ]
        );
    }

    #[test]
    fn negative_requirements_match_absent_keys() {
        let s = Selector::parse("env!=prod,tier notin (db)").unwrap();
        assert!(s.matches(&labels(&[])));
        assert!(!s.matches(&labels(&[("env", "prod")])));
        assert!(!s.matches(&labels(&[("tier", "db")])));
    }

    #[test]
    fn prefixed_keys_and_empty_values() {
        let s = Selector::parse("hk8s.io/cluster=prod,hk8s.io/role=").unwrap();
        assert!(s.matches(&labels(&[
            ("hk8s.io/cluster", "prod"),
            ("hk8s.io/role", "")
        ])));
    }

    #[test]
    fn rejects_malformed_selectors() {
        for bad in [
            "=v",
            "a in b",
            "a in (b",
            "a,,b",
            "a=b=c!",
            "a in (b))",
            "x y",
        ] {
            assert!(Selector::parse(bad).is_err(), "{bad} should be refused");
        }
        assert!(Selector::parse("").unwrap().requirements.is_empty());
    }

    #[test]
    fn validates_keys_and_values() {
        assert!(validate_key("hk8s.io/talos-version").is_ok());
        assert!(validate_key("-bad").is_err());
        assert!(validate_key("a/b/c").is_err());
        assert!(validate_key(&"k".repeat(63)).is_ok());
        assert!(validate_key(&"k".repeat(64)).is_err());
        assert!(validate_value("v1.13.9").is_ok());
        assert!(validate_value(&"a".repeat(63)).is_ok());
        // A whole Image Factory schematic id (64 hex digits) is one too many, as Hetzner says.
        assert!(validate_value(crate::catalog::DEFAULT_TALOS_SCHEMATIC).is_err());
        assert!(validate_value("-a").is_err());
    }

    proptest::proptest! {
        /// Selectors come from users and from other programs' query strings: whatever they hold
        /// is parsed or refused, never a panic; what parses matches without one too.
        #[test]
        fn arbitrary_selectors_parse_or_are_refused_without_panicking(
            text in "\\PC{0,80}",
            near in "[a-z0-9=!,()/ .-]{0,40}( in | notin )?[a-z0-9(), !=-]{0,30}",
        ) {
            for input in [text.as_str(), near.as_str()] {
                if let Ok(selector) = Selector::parse(input) {
                    let _ = selector.matches(&labels(&[("app", "web"), ("tier", "")]));
                }
            }
        }
    }
}
