//! Plan-time shape check of Talos config patches.
//!
//! hk8s applies patches as strategic merges (Talos refuses JSON 6902 patches on the
//! multi-document configs of Talos 1.12+), so a patch must be YAML whose every document is a
//! mapping. This is only the shape check `validate` can do without the cluster's generated
//! config; whether the keys exist in the Talos schema is decided when the config is rendered.

/// Why a patch is refused.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not parseable as YAML.
    #[error("config patch is not valid YAML: {source}")]
    Yaml {
        /// The parser's complaint (with line and column).
        #[source]
        source: serde_saphyr::Error,
    },
    /// No document at all.
    #[error("config patch is empty; write a YAML mapping such as \"machine:\\n  kubelet: …\"")]
    Empty,
    /// A list of JSON 6902 operations.
    #[error(
        "config patch document {document} is a list (a JSON 6902 patch?); hk8s applies strategic merge patches only (Talos refuses JSON 6902 on multi-document configs): write the YAML mapping to merge instead, e.g. \"machine:\\n  sysctls:\\n    vm.max_map_count: 262144\""
    )]
    Json6902 {
        /// 1-based document index.
        document: usize,
    },
    /// A scalar document.
    #[error(
        "config patch document {document} is a {kind}, not a YAML mapping; a strategic merge patch is a mapping such as \"cluster:\\n  proxy:\\n    disabled: true\""
    )]
    NotMapping {
        /// 1-based document index.
        document: usize,
        /// What the document is instead.
        kind: &'static str,
    },
}

/// Checks that `patch` is one or more YAML documents, each a mapping.
pub fn check(patch: &str) -> Result<(), Error> {
    let documents: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(patch).map_err(|source| Error::Yaml { source })?;
    let documents: Vec<_> = documents.into_iter().filter(|d| !d.is_null()).collect();
    if documents.is_empty() {
        return Err(Error::Empty);
    }
    for (index, document) in documents.iter().enumerate() {
        let document_number = index + 1;
        let kind = match document {
            serde_json::Value::Object(_) => continue,
            serde_json::Value::Array(_) => {
                return Err(Error::Json6902 {
                    document: document_number,
                });
            }
            serde_json::Value::String(_) => "string",
            serde_json::Value::Number(_) => "number",
            serde_json::Value::Bool(_) => "boolean",
            serde_json::Value::Null => "null",
        };
        return Err(Error::NotMapping {
            document: document_number,
            kind,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_pass() {
        check("machine:\n  kubelet:\n    extraArgs:\n      max-pods: \"200\"\n").unwrap();
        check("machine:\n  sysctls: {a: b}\n---\napiVersion: v1alpha1\nkind: HostnameConfig\nauto: stable\n").unwrap();
        check("{\"cluster\": {\"proxy\": {\"disabled\": true}}}").unwrap();
    }

    #[test]
    fn shapes_refused() {
        let json6902 = "- op: add\n  path: /machine/install/disk\n  value: /dev/sda\n";
        let msg = check(json6902).unwrap_err().to_string();
        assert!(msg.contains("strategic merge"), "{msg}");
        assert!(matches!(
            check("machine: {}\n---\n- op: remove\n"),
            Err(Error::Json6902 { document: 2 })
        ));
        assert!(matches!(
            check("just text"),
            Err(Error::NotMapping { kind: "string", .. })
        ));
        assert!(matches!(check(""), Err(Error::Empty)));
        assert!(matches!(
            check("machine: [unclosed"),
            Err(Error::Yaml { .. })
        ));
    }
}
