//! Names of clusters and node pools, and the server names derived from them.
//!
//! Servers are named `<cluster>-cp-<n>` (control plane) and `<cluster>-<pool>-<n>` (pools); the
//! cluster-autoscaler names the servers of an autoscaled pool `<cluster>-<pool>-<16 hex digits>`.
//! Server names double as Kubernetes node names and hostnames, so they must be DNS labels of at
//! most 63 characters. With cluster and pool names of at most [`MAX_CLUSTER_NAME_LEN`] and
//! [`MAX_POOL_NAME_LEN`] (20) characters the longest derived name is 20+1+20+1+16 = 58.
//!
//! A name is a lowercase DNS label that starts with a letter: `[a-z]([-a-z0-9]*[a-z0-9])?`.

use std::fmt;

/// Longest accepted cluster name.
pub const MAX_CLUSTER_NAME_LEN: usize = 20;
/// Longest accepted node-pool name.
pub const MAX_POOL_NAME_LEN: usize = 20;
/// Pool names that would collide with the control plane's server names.
pub const RESERVED_POOL_NAMES: &[&str] = &["cp"];

/// What kind of name is being checked (for messages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    /// A cluster name.
    Cluster,
    /// A node-pool name.
    Pool,
}

impl NameKind {
    fn max_len(self) -> usize {
        match self {
            Self::Cluster => MAX_CLUSTER_NAME_LEN,
            Self::Pool => MAX_POOL_NAME_LEN,
        }
    }
}

impl fmt::Display for NameKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cluster => "cluster name",
            Self::Pool => "node pool name",
        })
    }
}

const ACCEPTED: &str =
    "lowercase letters, digits and '-', starting with a letter and ending with a letter or digit";

/// Why a name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Empty name.
    #[error("{kind} must not be empty; use 1 to {max} characters: {ACCEPTED}", max = kind.max_len())]
    Empty {
        /// Which name.
        kind: NameKind,
    },
    /// Longer than the limit.
    #[error(
        "{kind} {name:?} is {len} characters long; the limit is {max} so that derived server names stay within 63 characters"
    )]
    TooLong {
        /// Which name.
        kind: NameKind,
        /// The name.
        name: String,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A character, first character or last character that a DNS label does not allow.
    #[error("{kind} {name:?} has {problem}; accepted: {ACCEPTED}")]
    Syntax {
        /// Which name.
        kind: NameKind,
        /// The name.
        name: String,
        /// What is wrong, e.g. `"an uppercase 'P' at position 1"`.
        problem: String,
    },
    /// A pool name that collides with control-plane server names.
    #[error(
        "node pool name {name:?} is reserved (control-plane servers are named <cluster>-cp-<n>); choose another"
    )]
    Reserved {
        /// The name.
        name: String,
    },
}

fn check(kind: NameKind, name: &str) -> Result<(), Error> {
    let syntax = |problem: String| Error::Syntax {
        kind,
        name: name.to_owned(),
        problem,
    };
    let Some(first) = name.chars().next() else {
        return Err(Error::Empty { kind });
    };
    if let Some((pos, ch)) = name
        .chars()
        .enumerate()
        .find(|&(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
    {
        let what = if ch.is_ascii_uppercase() {
            "an uppercase"
        } else {
            "a disallowed character"
        };
        return Err(syntax(format!("{what} {ch:?} at position {}", pos + 1)));
    }
    let len = name.chars().count();
    if len > kind.max_len() {
        return Err(Error::TooLong {
            kind,
            name: name.to_owned(),
            len,
            max: kind.max_len(),
        });
    }
    if !first.is_ascii_lowercase() {
        return Err(syntax(format!(
            "first character {first:?}, which is not a letter"
        )));
    }
    if name.ends_with('-') {
        return Err(syntax("a trailing '-'".to_owned()));
    }
    Ok(())
}

/// Checks a cluster name (see the module docs for the rule).
pub fn check_cluster_name(name: &str) -> Result<(), Error> {
    check(NameKind::Cluster, name)
}

/// Checks a node-pool name: the cluster-name rule, and not one of [`RESERVED_POOL_NAMES`].
pub fn check_pool_name(name: &str) -> Result<(), Error> {
    check(NameKind::Pool, name)?;
    if RESERVED_POOL_NAMES.contains(&name) {
        return Err(Error::Reserved {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Server name of the `index`-th (1-based) control-plane node.
pub fn control_plane_server_name(cluster: &str, index: u32) -> String {
    format!("{cluster}-cp-{index}")
}

/// Server name of the `index`-th (1-based) node of a fixed-size pool.
pub fn pool_server_name(cluster: &str, pool: &str, index: u32) -> String {
    format!("{cluster}-{pool}-{index}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_names() {
        for name in ["prod", "a", "k8s-eu-1", "x2345678901234567890"] {
            check_cluster_name(name).unwrap();
            check_pool_name(name).unwrap();
        }
    }

    #[test]
    fn bad_names_say_what_is_wrong() {
        let msg = |r: Result<(), Error>| r.unwrap_err().to_string();
        assert!(msg(check_cluster_name("")).contains("must not be empty"));
        assert!(msg(check_cluster_name("Prod")).contains("uppercase 'P' at position 1"));
        assert!(msg(check_cluster_name("my_cluster")).contains("'_' at position 3"));
        assert!(msg(check_cluster_name("1prod")).contains("not a letter"));
        assert!(msg(check_cluster_name("prod-")).contains("trailing '-'"));
        let long = "a".repeat(21);
        let m = msg(check_cluster_name(&long));
        assert!(
            m.contains("21 characters") && m.contains("limit is 20"),
            "{m}"
        );
        assert!(msg(check_pool_name("cp")).contains("reserved"));
        assert!(check_cluster_name("cp").is_ok());
    }

    #[test]
    fn longest_derived_names_fit_a_dns_label() {
        let cluster = "c".repeat(MAX_CLUSTER_NAME_LEN);
        let pool = "p".repeat(MAX_POOL_NAME_LEN);
        let autoscaled = format!("{cluster}-{pool}-{:016x}", u64::MAX);
        assert!(autoscaled.len() <= 63, "{}", autoscaled.len());
        assert!(pool_server_name(&cluster, &pool, 999).len() <= 63);
        assert_eq!(control_plane_server_name("prod", 2), "prod-cp-2");
        assert_eq!(pool_server_name("prod", "general", 3), "prod-general-3");
    }
}
