//! List endpoints' query language: `name`, `label_selector`, `sort`, `status`, `page`, `per_page`
//! and the `meta.pagination` block.

use std::cmp::Ordering;

use serde_json::{Value, json};

use super::error::ApiError;
use crate::labels::{Labels, Selector};

/// Largest `per_page` Hetzner accepts.
pub const MAX_PER_PAGE: i64 = 50;
/// `per_page` when none is given.
pub const DEFAULT_PER_PAGE: i64 = 25;

/// A value to sort by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SortKey<'a> {
    /// Numbers (ids, progress).
    Int(i64),
    /// Strings (names, timestamps, which sort correctly as ISO-8601 text).
    Str(&'a str),
}

/// A parsed list query.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// 1-based page.
    pub page: i64,
    /// Entries per page.
    pub per_page: i64,
    /// `label_selector`.
    pub selector: Option<Selector>,
    /// Every raw `(key, value)` pair, for endpoint-specific filters.
    pub params: Vec<(String, String)>,
}

impl ListQuery {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let params: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|e| ApiError::field("query", e.to_string()))?;
        let int = |key: &str, default: i64| -> Result<i64, ApiError> {
            match params.iter().rev().find(|(k, _)| k == key) {
                None => Ok(default),
                Some((_, v)) => v
                    .parse()
                    .map_err(|_| ApiError::field(key, "Not a valid integer.")),
            }
        };
        let page = int("page", 1)?;
        let per_page = int("per_page", DEFAULT_PER_PAGE)?;
        if page < 1 {
            return Err(ApiError::field(
                "page",
                "Must be greater than or equal to 1.",
            ));
        }
        if !(1..=MAX_PER_PAGE).contains(&per_page) {
            return Err(ApiError::field(
                "per_page",
                format!("Must be between 1 and {MAX_PER_PAGE}."),
            ));
        }
        let selector = match params.iter().find(|(k, _)| k == "label_selector") {
            None => None,
            Some((_, s)) => Some(
                Selector::parse(s).map_err(|e| ApiError::field("label_selector", e.to_string()))?,
            ),
        };
        Ok(ListQuery {
            page,
            per_page,
            selector,
            params,
        })
    }

    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value given for `key` (repeated parameters such as `status` or `id`).
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The `name` and `label_selector` filters.
    pub fn matches(&self, name: Option<&str>, labels: &Labels) -> bool {
        self.get("name").is_none_or(|n| name == Some(n))
            && self.selector.as_ref().is_none_or(|s| s.matches(labels))
    }

    /// Whether the status filter (if any) accepts `status`.
    pub fn status_matches(&self, status: &str) -> bool {
        let wanted = self.all("status");
        wanted.is_empty() || wanted.contains(&status)
    }

    /// Sorts by every `sort=field[:asc|:desc]`, in order; `key` maps a field name to a value
    /// (`None` = the field cannot be sorted by, which is `invalid_input`). Default: by id.
    pub fn sort<T>(
        &self,
        items: &mut [T],
        key: impl for<'a> Fn(&'a T, &str) -> Option<SortKey<'a>>,
    ) -> Result<(), ApiError> {
        let mut criteria = Vec::new();
        for raw in self.all("sort") {
            let (field, descending) = match raw.split_once(':') {
                None => (raw, false),
                Some((f, "asc")) => (f, false),
                Some((f, "desc")) => (f, true),
                Some(_) => return Err(ApiError::field("sort", format!("invalid sort {raw:?}"))),
            };
            if items
                .first()
                .is_some_and(|first| key(first, field).is_none())
                || !known_sort_field(field)
            {
                return Err(ApiError::field("sort", format!("cannot sort by {field:?}")));
            }
            criteria.push((field.to_string(), descending));
        }
        criteria.push(("id".into(), false));
        items.sort_by(|a, b| {
            for (field, descending) in &criteria {
                let ordering = key(a, field).cmp(&key(b, field));
                let ordering = if *descending {
                    ordering.reverse()
                } else {
                    ordering
                };
                if ordering != Ordering::Equal {
                    return ordering;
                }
            }
            Ordering::Equal
        });
        Ok(())
    }

    /// Cuts one page out of `items` and builds `meta`.
    pub fn paginate<T>(&self, items: Vec<T>) -> (Vec<T>, Value) {
        let total = items.len() as i64;
        let last_page = ((total + self.per_page - 1) / self.per_page).max(1);
        let start = ((self.page - 1) * self.per_page).min(total) as usize;
        let page: Vec<T> = items
            .into_iter()
            .skip(start)
            .take(self.per_page as usize)
            .collect();
        let meta = json!({"pagination": {
            "page": self.page,
            "per_page": self.per_page,
            "previous_page": if self.page > 1 { Some(self.page - 1) } else { None },
            "next_page": if self.page < last_page { Some(self.page + 1) } else { None },
            "last_page": last_page,
            "total_entries": total,
        }});
        (page, meta)
    }
}

fn known_sort_field(field: &str) -> bool {
    matches!(
        field,
        "id" | "name"
            | "created"
            | "command"
            | "status"
            | "progress"
            | "started"
            | "finished"
            | "description"
            | "type"
    )
}

/// The usual sort keys of a named object.
pub fn named_key<'a>(id: i64, name: &'a str, created: &'a str, field: &str) -> Option<SortKey<'a>> {
    match field {
        "id" => Some(SortKey::Int(id)),
        "name" => Some(SortKey::Str(name)),
        "created" => Some(SortKey::Str(created)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paginates_with_meta() {
        let q = ListQuery::parse(Some("page=2&per_page=2")).unwrap();
        let (page, meta) = q.paginate((1..=5).collect::<Vec<_>>());
        assert_eq!(page, vec![3, 4]);
        assert_eq!(
            meta["pagination"],
            json!({"page":2,"per_page":2,"previous_page":1,"next_page":3,"last_page":3,"total_entries":5})
        );
    }

    #[test]
    fn refuses_oversized_pages() {
        assert!(ListQuery::parse(Some("per_page=51")).is_err());
        assert!(ListQuery::parse(Some("page=0")).is_err());
    }

    #[test]
    fn sorts_by_several_fields() {
        let q = ListQuery::parse(Some("sort=name:desc")).unwrap();
        let mut items = vec![(1, "a"), (2, "c"), (3, "b")];
        q.sort(&mut items, |(id, name), f| named_key(*id, name, "", f))
            .unwrap();
        assert_eq!(items, vec![(2, "c"), (3, "b"), (1, "a")]);
        let bad = ListQuery::parse(Some("sort=colour")).unwrap();
        assert!(
            bad.sort(&mut items, |(id, name), f| named_key(*id, name, "", f))
                .is_err()
        );
    }
}
