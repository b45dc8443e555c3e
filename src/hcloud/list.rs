//! Pagination: every list endpoint is read page by page (`per_page=50`, Hetzner's maximum) until
//! `meta.pagination.next_page` is null, so callers always see the complete result.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::client::{ApiRequest, Client};
use super::error::Error;
use super::labels::Selector;

/// Entries per page requested (Hetzner's maximum).
pub const PER_PAGE: u32 = 50;

/// Upper bound on pages read by one listing, a guard against an API that never ends the list.
const MAX_PAGES: u32 = 1000;

/// Filters of a list request.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    params: Vec<(String, String)>,
}

impl ListFilter {
    /// No filter.
    pub fn all() -> Self {
        Self::default()
    }

    /// Objects with exactly this name.
    pub fn name(name: &str) -> Self {
        Self::default().param("name", name)
    }

    /// Objects matching the selector.
    pub fn selector(selector: &Selector) -> Self {
        Self::default().param("label_selector", selector.to_string())
    }

    /// Adds any endpoint-specific parameter (`type`, `architecture`, `status`, …).
    #[must_use]
    pub fn param(mut self, key: &str, value: impl ToString) -> Self {
        self.params.push((key.to_string(), value.to_string()));
        self
    }
}

#[derive(Debug, Deserialize)]
struct Meta {
    pagination: Option<Pagination>,
}

#[derive(Debug, Deserialize)]
struct Pagination {
    next_page: Option<u32>,
}

impl Client {
    /// Every object of a list endpoint: `path` is e.g. `/servers`, `key` the array in the reply
    /// (`servers`). Reads all pages in order.
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        key: &str,
        filter: &ListFilter,
    ) -> Result<Vec<T>, Error> {
        let mut out = Vec::new();
        let mut page = 1;
        for _ in 0..MAX_PAGES {
            let mut request = ApiRequest::get(path)
                .query("page", page)
                .query("per_page", PER_PAGE);
            for (k, v) in &filter.params {
                request = request.query(k, v);
            }
            let describe = request.describe();
            let mut reply: serde_json::Map<String, serde_json::Value> = self.call(request).await?;
            let decode = |source| Error::Decode {
                request: describe.clone(),
                source,
            };
            let items = reply
                .remove(key)
                .unwrap_or(serde_json::Value::Array(vec![]));
            let items: Vec<T> = serde_json::from_value(items).map_err(decode)?;
            out.extend(items);
            let meta: Option<Meta> = reply
                .remove("meta")
                .map(serde_json::from_value)
                .transpose()
                .map_err(decode)?;
            match meta.and_then(|m| m.pagination).and_then(|p| p.next_page) {
                Some(next) if next > page => page = next,
                _ => return Ok(out),
            }
        }
        Ok(out)
    }
}
