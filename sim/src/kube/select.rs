//! List filters of the Kubernetes API: `labelSelector` (Kubernetes syntax, parsed by
//! [`crate::labels::Selector`]) and `fieldSelector` (`path=value`, `path==value`, `path!=value`,
//! comma-separated, over any dotted path of the object such as `metadata.name`,
//! `metadata.namespace`, `spec.nodeName` or `status.phase`; a missing field compares as "").
//! Label selectors objects (`matchLabels` / `matchExpressions`, as in Deployments and
//! PodDisruptionBudgets) are matched here too.

use serde_json::Value;

use crate::labels::{Labels, Selector};

/// Why a selector was refused (400 BadRequest with this text).
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// The label selector does not parse.
    #[error("unable to parse requirement: {0}")]
    Label(#[from] crate::labels::SelectorError),
    /// A field selector term has no operator.
    #[error(
        "invalid field selector term {term:?}: expected path=value, path==value or path!=value"
    )]
    FieldTerm {
        /// The term.
        term: String,
    },
}

/// A parsed `labelSelector` + `fieldSelector` pair.
#[derive(Debug, Default)]
pub struct ListFilter {
    labels: Option<Selector>,
    fields: Vec<(String, bool, String)>,
}

impl ListFilter {
    /// Parses the two query parameters (either may be absent or empty).
    pub fn parse(
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Self, SelectError> {
        let labels = match label_selector.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => Some(Selector::parse(s)?),
            None => None,
        };
        let mut fields = Vec::new();
        for term in field_selector
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
        {
            let (path, equal, value) = if let Some((p, v)) = term.split_once("!=") {
                (p, false, v)
            } else if let Some((p, v)) = term.split_once("==") {
                (p, true, v)
            } else if let Some((p, v)) = term.split_once('=') {
                (p, true, v)
            } else {
                return Err(SelectError::FieldTerm {
                    term: term.to_string(),
                });
            };
            fields.push((path.trim().to_string(), equal, value.trim().to_string()));
        }
        Ok(ListFilter { labels, fields })
    }

    /// Whether an object passes both selectors.
    pub fn matches(&self, obj: &Value) -> bool {
        if let Some(selector) = &self.labels
            && !selector.matches(&labels_of(obj))
        {
            return false;
        }
        self.fields
            .iter()
            .all(|(path, equal, value)| (field_text(obj, path) == *value) == *equal)
    }
}

/// The text of the field at a dotted path ("" when absent; numbers and booleans as JSON text).
pub fn field_text(obj: &Value, path: &str) -> String {
    let found = path.split('.').try_fold(obj, |v, k| v.get(k));
    match found {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// An object's `metadata.labels`.
pub fn labels_of(obj: &Value) -> Labels {
    obj["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether labels match a `LabelSelector` object (`matchLabels` and `matchExpressions` with
/// `In`, `NotIn`, `Exists`, `DoesNotExist`). An empty selector matches everything, as in
/// PodDisruptionBudgets of `policy/v1`; a missing one matches nothing.
pub fn selector_object_matches(selector: &Value, labels: &Labels) -> bool {
    if !selector.is_object() {
        return false;
    }
    let match_labels = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    let expressions = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|e| {
            let key = e["key"].as_str().unwrap_or_default();
            let values: Vec<&str> = e["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let present = labels.get(key);
            match e["operator"].as_str().unwrap_or_default() {
                "In" => present.is_some_and(|v| values.contains(&v.as_str())),
                "NotIn" => present.is_none_or(|v| !values.contains(&v.as_str())),
                "Exists" => present.is_some(),
                "DoesNotExist" => present.is_none(),
                _ => false,
            }
        });
    match_labels && expressions
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_and_label_selectors_filter_pods() {
        let pod = json!({"metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"}},
                         "spec": {"nodeName": "worker-1"}});
        let filter =
            |l: Option<&str>, f: Option<&str>| ListFilter::parse(l, f).unwrap().matches(&pod);
        assert!(filter(Some("app=web"), Some("spec.nodeName=worker-1")));
        assert!(!filter(Some("app=db"), None));
        assert!(!filter(None, Some("spec.nodeName=worker-2")));
        assert!(filter(
            None,
            Some("spec.nodeName!=worker-2,metadata.namespace=default")
        ));
        assert!(filter(None, Some("metadata.name==web-1")));
        assert!(ListFilter::parse(None, Some("spec.nodeName")).is_err());
    }

    #[test]
    fn selector_objects_match_labels_and_expressions() {
        let labels: Labels = [("app".to_string(), "web".to_string())].into();
        assert!(selector_object_matches(
            &json!({"matchLabels": {"app": "web"}}),
            &labels
        ));
        assert!(selector_object_matches(&json!({}), &labels));
        assert!(!selector_object_matches(&Value::Null, &labels));
        assert!(selector_object_matches(
            &json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["web", "api"]}]}),
            &labels
        ));
        assert!(!selector_object_matches(
            &json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
            &labels
        ));
    }
}
