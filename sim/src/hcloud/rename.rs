//! The `PUT /<collection>/{id}` body most collections share: a new `name` (unique within the
//! collection) and/or a new set of `labels` (replacing the old ones), validated before anything
//! changes so a refused update leaves the record untouched.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::error::ApiError;
use crate::labels::{Labels, validate_labels};
use crate::world::{Certificate, Firewall, LoadBalancer, Network, PlacementGroup, SshKey, Volume};

/// `{ "name"?: string, "labels"?: {..} }`.
#[derive(Debug, Deserialize)]
pub struct NameAndLabels {
    /// New unique name.
    pub name: Option<String>,
    /// New labels (the whole set).
    pub labels: Option<Labels>,
}

/// A record with a unique name and labels.
pub trait Renamable {
    /// The record's name and labels, for updating.
    fn name_and_labels(&mut self) -> (&mut String, &mut Labels);
    /// The record's name.
    fn current_name(&self) -> &str;
}

macro_rules! renamable {
    ($($record:ty),*) => {$(
        impl Renamable for $record {
            fn name_and_labels(&mut self) -> (&mut String, &mut Labels) {
                (&mut self.name, &mut self.labels)
            }
            fn current_name(&self) -> &str {
                &self.name
            }
        }
    )*};
}
renamable!(
    Certificate,
    Firewall,
    LoadBalancer,
    Network,
    PlacementGroup,
    SshKey,
    Volume
);

/// Applies `update` to record `id` of `collection` (`kind` names it in errors): labels must be
/// valid (`invalid_input` on `labels`), the name unused by any other record (`uniqueness_error`).
pub fn apply<T: Renamable>(
    collection: &mut BTreeMap<i64, T>,
    id: i64,
    kind: &str,
    update: NameAndLabels,
) -> Result<(), ApiError> {
    if let Some(labels) = &update.labels {
        validate_labels(labels).map_err(|e| ApiError::field("labels", e.to_string()))?;
    }
    if let Some(name) = &update.name
        && collection
            .iter()
            .any(|(other, record)| *other != id && record.current_name() == name)
    {
        return Err(ApiError::Uniqueness {
            field: "name".into(),
        });
    }
    let record = collection
        .get_mut(&id)
        .ok_or_else(|| ApiError::not_found(kind, id))?;
    let (name, labels) = record.name_and_labels();
    if let Some(new_name) = update.name {
        *name = new_name;
    }
    if let Some(new_labels) = update.labels {
        *labels = new_labels;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: i64, name: &str) -> SshKey {
        SshKey {
            id,
            name: name.into(),
            fingerprint: String::new(),
            public_key: String::new(),
            labels: Labels::new(),
            created: String::new(),
        }
    }

    fn keys() -> BTreeMap<i64, SshKey> {
        BTreeMap::from([(1, key(1, "a")), (2, key(2, "b"))])
    }

    fn update(name: Option<&str>, labels: &[(&str, &str)]) -> NameAndLabels {
        NameAndLabels {
            name: name.map(str::to_owned),
            labels: (!labels.is_empty()).then(|| {
                labels
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect()
            }),
        }
    }

    #[test]
    fn renames_and_relabels() {
        let mut keys = keys();
        apply(&mut keys, 1, "ssh_key", update(Some("c"), &[("team", "x")])).unwrap();
        assert_eq!(keys[&1].name, "c");
        assert_eq!(keys[&1].labels["team"], "x");
        // Keeping one's own name is not a conflict.
        apply(&mut keys, 1, "ssh_key", update(Some("c"), &[])).unwrap();
    }

    #[test]
    fn refusals_leave_the_record_untouched() {
        let mut keys = keys();
        let taken = apply(&mut keys, 1, "ssh_key", update(Some("b"), &[("team", "x")]));
        assert!(
            matches!(taken, Err(ApiError::Uniqueness { .. })),
            "{taken:?}"
        );
        let bad = apply(
            &mut keys,
            1,
            "ssh_key",
            update(Some("z"), &[("bad key!", "x")]),
        );
        assert!(bad.is_err());
        assert_eq!(keys[&1].name, "a");
        assert!(keys[&1].labels.is_empty());
        let missing = apply(&mut keys, 9, "ssh_key", update(Some("q"), &[]));
        assert!(missing.unwrap_err().to_string().contains("'9'"));
    }
}
