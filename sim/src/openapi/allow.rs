//! Where the description is wrong, or stricter than the real API and its official clients: each
//! entry names the operation, status, place in the body and offending value it covers, and why
//! the sim is right to differ. A violation an entry covers is not recorded.

use serde_json::Value;

/// One documented difference between the description and the real API.
pub struct Allowed {
    /// Upper-case method, or `*`.
    pub method: &'static str,
    /// Path template as the description writes it (`/servers/{id}`), or `*`.
    pub template: &'static str,
    /// Response status, or any.
    pub status: Option<u16>,
    /// JSON pointer into the body; `*` matches one segment, `**` any number of them.
    pub pointer: &'static str,
    /// Whether the offending value is one this entry is about.
    pub value: fn(&Value) -> bool,
    /// Why this is not a fidelity bug of the sim.
    pub reason: &'static str,
}

/// The documented differences.
pub const ALLOWED: &[Allowed] = &[Allowed {
    method: "DELETE",
    template: "/load_balancers/{id}",
    status: Some(200),
    pointer: "",
    value: |_| true,
    reason: "the description gives 204 without a body, but the official Python client \
                 (hcloud 2.27, `LoadBalancersClient.delete`) reads `response[\"action\"]`: the \
                 API answers 200 with the delete_load_balancer action",
}];

/// The entry that covers a violation at `pointer` (offending `value`) of `method template`
/// answered with `status`, if any.
pub fn covering(
    method: &str,
    template: &str,
    status: u16,
    pointer: &str,
    value: &Value,
) -> Option<&'static Allowed> {
    ALLOWED.iter().find(|a| {
        (a.method == "*" || a.method == method)
            && (a.template == "*" || a.template == template)
            && a.status.is_none_or(|s| s == status)
            && pointer_matches(a.pointer, pointer)
            && (a.value)(value)
    })
}

fn pointer_matches(pattern: &str, pointer: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let pointer: Vec<&str> = pointer.split('/').collect();
    segments_match(&pattern, &pointer)
}

fn segments_match(pattern: &[&str], pointer: &[&str]) -> bool {
    match (pattern.split_first(), pointer.split_first()) {
        (None, None) => true,
        (Some((&"**", rest)), _) => {
            segments_match(rest, pointer)
                || pointer
                    .split_first()
                    .is_some_and(|(_, tail)| segments_match(pattern, tail))
        }
        (Some((p, rest)), Some((s, tail))) => (*p == "*" || p == s) && segments_match(rest, tail),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_match_one_segment_and_double_stars_any() {
        assert!(pointer_matches("/servers/*/image", "/servers/3/image"));
        assert!(!pointer_matches("/servers/*/image", "/servers/3/image/id"));
        assert!(!pointer_matches("/servers/*/image", "/volumes/3/image"));
        assert!(pointer_matches("", ""));
        assert!(pointer_matches("**/labels/*", "/images/0/labels/a~1b"));
        assert!(pointer_matches("**/labels/*", "/server/image/labels/k"));
        assert!(!pointer_matches("**/labels/*", "/server/labels"));
        assert!(!pointer_matches("**/labels/*", "/server/labels/k/x"));
    }

    #[test]
    fn label_values_longer_than_the_description_allows_are_never_allowed() {
        let long = Value::from("a".repeat(64));
        let at = "/image/labels/hk8s.io~1schematic";
        assert!(covering("GET", "/images/{id}", 200, at, &long).is_none());
    }
}
