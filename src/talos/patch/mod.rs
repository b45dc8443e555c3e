//! Strategic-merge patches with Talos's semantics (`configpatcher.StrategicMerge`).
//!
//! - Documents are matched by `apiVersion`/`kind`/`name`; a patch document without `kind`
//!   patches the v1alpha1 document; unmatched typed documents are added.
//! - Within a document: scalars overwrite (but an empty string or zero never overwrites, as
//!   Go's zero values don't; booleans always do), mappings merge, lists append, `null` is
//!   ignored. Replace fields (`podSubnets`, `serviceSubnets`, audit policies, …) are replaced
//!   whole; `extraArgs` keys are replaced per key; `machine.network.interfaces` merge by
//!   `interface` (or equal `deviceSelector`), their `vlans` by `vlanId`, and
//!   `cluster.apiServer.admissionControl` by `name`.
//! - `$patch: delete` removes a whole document, a key, or list items selected by their first
//!   other key (`- interface: eth0` + `$patch: delete`), before the rest of the patch merges.
//! - JSON6902 patches (a YAML list of `op`/`path`) are refused: Talos only accepts them on
//!   single-document configs, and every supported contract is multi-document.
//! - Patches may not touch what the provider owns: the cluster endpoint and name, secrets,
//!   CAs and tokens, and node identity (machine type, hostname).
//!
//! [`Patch::parse`] checks a patch without any configuration, so it can run at plan time.

mod delete;
mod merge;
mod ownership;

#[cfg(test)]
mod tests;

use super::config::MachineConfig;
use super::yaml::{self, Node};

/// Errors from parsing or applying a patch; every variant names the patch by its index in the
/// list the user gave (0-based).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The patch is not valid YAML.
    #[error("config patch #{patch}: {source}")]
    Yaml {
        /// Index of the patch.
        patch: usize,
        /// The parser error (with line and column).
        #[source]
        source: yaml::Error,
    },
    /// The patch is a JSON6902 operation list.
    #[error(
        "config patch #{patch}: JSON6902 patches (lists of op/path) are not supported, because Talos refuses them on multi-document configurations; write a strategic-merge patch instead, a YAML mapping such as `machine: {{kubelet: {{extraArgs: {{max-pods: \"150\"}}}}}}`"
    )]
    Json6902 {
        /// Index of the patch.
        patch: usize,
    },
    /// A document of the patch is not a mapping.
    #[error(
        "config patch #{patch}, document #{document}: expected a YAML mapping, found a {found}"
    )]
    NotAMapping {
        /// Index of the patch.
        patch: usize,
        /// Index of the document within the patch.
        document: usize,
        /// What was found.
        found: &'static str,
    },
    /// A typed document lacks `apiVersion` or `kind`.
    #[error("config patch #{patch}, document #{document}: {reason}")]
    BadHeader {
        /// Index of the patch.
        patch: usize,
        /// Index of the document within the patch.
        document: usize,
        /// What is missing.
        reason: &'static str,
    },
    /// The patch changes something the provider manages.
    #[error(
        "config patch #{patch}: {path} is managed by the provider ({reason}) and cannot be patched"
    )]
    ProviderOwned {
        /// Index of the patch.
        patch: usize,
        /// Where, e.g. `cluster.controlPlane.endpoint` or `KubeClusterConfig`.
        path: String,
        /// What the provider manages there.
        reason: &'static str,
    },
    /// A value cannot merge into the existing one.
    #[error("config patch #{patch}: {path}: cannot merge a {right} into a {left}")]
    TypeMismatch {
        /// Index of the patch.
        patch: usize,
        /// Where.
        path: String,
        /// Kind of the existing value.
        left: &'static str,
        /// Kind of the patch value.
        right: &'static str,
    },
    /// A `$patch: delete` is malformed or finds nothing to delete.
    #[error("config patch #{patch}: $patch: delete at {path}: {reason}")]
    Delete {
        /// Index of the patch.
        patch: usize,
        /// Where.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// A parsed, checked strategic-merge patch.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    index: usize,
    documents: Vec<Node>,
}

impl Patch {
    /// Parses and checks patch number `index` (used in error messages): YAML syntax, JSON6902
    /// refusal, every document a mapping with a proper header, and nothing the provider owns
    /// touched. Needs no machine configuration, so callers can run it at plan time.
    ///
    /// # Errors
    /// Any [`Error`] variant except [`Error::TypeMismatch`] and [`Error::Delete`], which only
    /// applying can detect.
    pub fn parse(index: usize, text: &str) -> Result<Self, Error> {
        let documents = yaml::parse_documents(text).map_err(|source| Error::Yaml {
            patch: index,
            source,
        })?;
        if let [Node::Seq(items)] = documents.as_slice()
            && items.iter().any(|item| {
                item.as_map()
                    .is_some_and(|map| map.contains_key("op") && map.contains_key("path"))
            })
        {
            return Err(Error::Json6902 { patch: index });
        }
        for (document_index, document) in documents.iter().enumerate() {
            let Some(map) = document.as_map() else {
                return Err(Error::NotAMapping {
                    patch: index,
                    document: document_index,
                    found: document.kind_name(),
                });
            };
            match (map.get("apiVersion"), map.get("kind")) {
                (None, None) | (Some(_), Some(_)) => {}
                (None, Some(_)) => {
                    return Err(Error::BadHeader {
                        patch: index,
                        document: document_index,
                        reason: "a document with `kind` also needs `apiVersion`",
                    });
                }
                (Some(_), None) => {
                    return Err(Error::BadHeader {
                        patch: index,
                        document: document_index,
                        reason: "a document with `apiVersion` also needs `kind`",
                    });
                }
            }
            ownership::check(index, document)?;
        }
        Ok(Self { index, documents })
    }

    /// The patch's position in the user's list.
    pub fn index(&self) -> usize {
        self.index
    }
}

/// Plan-time check of one patch string (see [`Patch::parse`]).
///
/// # Errors
/// As [`Patch::parse`].
pub fn validate(index: usize, text: &str) -> Result<(), Error> {
    Patch::parse(index, text).map(|_| ())
}

/// `(apiVersion, kind, name)` identity of a document; the v1alpha1 document is
/// `(None, None, None)`.
pub(crate) fn document_id(document: &Node) -> (Option<&str>, Option<&str>, Option<&str>) {
    let field = |key| document.get_path(&[key]).and_then(Node::as_str);
    (field("apiVersion"), field("kind"), field("name"))
}

/// Applies `patches` in order to `config`.
///
/// # Errors
/// [`Error::TypeMismatch`] or [`Error::Delete`] naming the patch and path; the config is left
/// unchanged on error.
pub fn apply(config: &mut MachineConfig, patches: &[Patch]) -> Result<(), Error> {
    let mut documents = config.documents().to_vec();
    for patch in patches {
        for document in &patch.documents {
            apply_document(&mut documents, patch.index, document)?;
        }
    }
    *config.documents_mut() = documents;
    Ok(())
}

fn apply_document(documents: &mut Vec<Node>, patch: usize, document: &Node) -> Result<(), Error> {
    let id = document_id(document);
    let position = documents.iter().position(|left| document_id(left) == id);
    let Some(remainder) = delete::apply_deletes(documents, position, patch, document)? else {
        return Ok(());
    };
    match documents.iter().position(|left| document_id(left) == id) {
        Some(position) => {
            let context = merge::Context::new(patch, id.1);
            merge::merge(
                &mut documents[position],
                &remainder,
                &context,
                &mut Vec::new(),
            )
        }
        None => {
            documents.push(remainder);
            Ok(())
        }
    }
}
