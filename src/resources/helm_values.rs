//! Helm values given as YAML (addons, the cluster's components): the plan-time shape check (one
//! mapping) and the parse into a JSON value to merge over derived defaults.

/// Why values are refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not parseable as YAML.
    #[error("values are not valid YAML: {source}")]
    Yaml {
        /// The parser's complaint.
        #[source]
        source: serde_saphyr::Error,
    },
    /// Several documents.
    #[error(
        "values hold {count} YAML documents; give one mapping (yamlencode({{...}}) writes one)"
    )]
    MultipleDocuments {
        /// How many.
        count: usize,
    },
    /// A list or scalar.
    #[error("values must be a YAML mapping such as \"replicas: 2\", not a {kind}")]
    NotMapping {
        /// What it is.
        kind: &'static str,
    },
}

/// Checks Helm values.
pub fn check(text: &str) -> Result<(), Error> {
    let documents: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|source| Error::Yaml { source })?;
    let documents: Vec<_> = documents.into_iter().filter(|d| !d.is_null()).collect();
    match documents.as_slice() {
        [] | [serde_json::Value::Object(_)] => Ok(()),
        [serde_json::Value::Array(_)] => Err(Error::NotMapping { kind: "list" }),
        [_] => Err(Error::NotMapping { kind: "scalar" }),
        many => Err(Error::MultipleDocuments { count: many.len() }),
    }
}

/// Parses checked values into a mapping (`{}` for empty text).
///
/// # Errors
/// What [`check`] would say.
pub fn parse(text: &str) -> Result<serde_json::Value, Error> {
    check(text)?;
    let documents: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|source| Error::Yaml { source })?;
    Ok(documents
        .into_iter()
        .find(|d| !d.is_null())
        .unwrap_or_else(|| serde_json::json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        check("").unwrap();
        check("{}").unwrap();
        check("controller:\n  replicas: 2\n").unwrap();
        check("{\"a\":{\"b\":[1,2]}}").unwrap();
        assert!(matches!(
            check("- a"),
            Err(Error::NotMapping { kind: "list" })
        ));
        assert!(matches!(
            check("true"),
            Err(Error::NotMapping { kind: "scalar" })
        ));
        assert!(matches!(
            check("a: 1\n---\nb: 2\n"),
            Err(Error::MultipleDocuments { count: 2 })
        ));
        assert!(matches!(check("a: [1"), Err(Error::Yaml { .. })));
    }
}
