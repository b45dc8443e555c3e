//! Kubernetes object names the provider creates from user input: namespaces (RFC 1123 labels,
//! at most 63 characters) and Helm release names (the same, at most 53 characters, because Helm
//! derives longer names from them).

/// Longest namespace name.
pub const MAX_NAMESPACE_LEN: usize = 63;
/// Longest Helm release name.
pub const MAX_RELEASE_LEN: usize = 53;

/// Why a name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Not an RFC 1123 label of the allowed length.
    #[error(
        "{what} {name:?} is not valid; accepted: 1 to {max} lowercase letters, digits and '-', starting and ending with a letter or digit"
    )]
    NotDnsLabel {
        /// What kind of name (`namespace`, `release name`).
        what: &'static str,
        /// The name given.
        name: String,
        /// The length limit.
        max: usize,
    },
}

fn is_label(name: &str, max: usize) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// Checks a namespace name.
pub fn check_namespace(name: &str) -> Result<(), Error> {
    if is_label(name, MAX_NAMESPACE_LEN) {
        Ok(())
    } else {
        Err(Error::NotDnsLabel {
            what: "namespace",
            name: name.to_owned(),
            max: MAX_NAMESPACE_LEN,
        })
    }
}

/// Checks a Helm release name.
pub fn check_release_name(name: &str) -> Result<(), Error> {
    if is_label(name, MAX_RELEASE_LEN) {
        Ok(())
    } else {
        Err(Error::NotDnsLabel {
            what: "release name",
            name: name.to_owned(),
            max: MAX_RELEASE_LEN,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        check_namespace("kube-system").unwrap();
        check_namespace("1abc").unwrap();
        assert!(check_namespace("Kube").is_err());
        assert!(check_namespace("-a").is_err());
        assert!(check_namespace(&"a".repeat(64)).is_err());
        check_release_name(&"a".repeat(53)).unwrap();
        let msg = check_release_name(&"a".repeat(54)).unwrap_err().to_string();
        assert!(msg.contains("1 to 53"), "{msg}");
    }
}
