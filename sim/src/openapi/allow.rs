//! Where the description is wrong, or stricter than the real API: each entry names the
//! operation, the place in the body and why the sim is right to differ. A violation an entry
//! covers is not recorded.

/// One documented difference between the description and the real API.
pub struct Allowed {
    /// Upper-case method, or `*`.
    pub method: &'static str,
    /// Path template as the description writes it (`/servers/{id}`), or `*`.
    pub template: &'static str,
    /// JSON pointer into the body; `*` matches one segment (an array index, a map key).
    pub pointer: &'static str,
    /// Why this is not a fidelity bug of the sim.
    pub reason: &'static str,
}

/// The documented differences.
pub const ALLOWED: &[Allowed] = &[];

/// The entry that covers a violation at `pointer` of `method template`, if any.
pub fn covering(method: &str, template: &str, pointer: &str) -> Option<&'static Allowed> {
    ALLOWED.iter().find(|a| {
        (a.method == "*" || a.method == method)
            && (a.template == "*" || a.template == template)
            && pointer_matches(a.pointer, pointer)
    })
}

fn pointer_matches(pattern: &str, pointer: &str) -> bool {
    let pattern: Vec<&str> = pattern.split('/').collect();
    let pointer: Vec<&str> = pointer.split('/').collect();
    pattern.len() == pointer.len()
        && pattern
            .iter()
            .zip(&pointer)
            .all(|(p, s)| *p == "*" || p == s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_match_one_segment() {
        assert!(pointer_matches("/servers/*/image", "/servers/3/image"));
        assert!(!pointer_matches("/servers/*/image", "/servers/3/image/id"));
        assert!(!pointer_matches("/servers/*/image", "/volumes/3/image"));
        assert!(pointer_matches("", ""));
    }
}
