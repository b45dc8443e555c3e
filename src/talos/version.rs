//! Talos and Kubernetes versions, the Talos *version contract*, and the support matrix.
//!
//! Talos generates a different machine configuration for each minor release: the minor of the
//! Talos version a node runs is its "version contract" (Talos `pkg/machinery/config/contract.go`).
//! Every behaviour that differs between minors is a named method on [`VersionContract`], so
//! generators ask "does this contract split Kubernetes settings into typed documents?" instead of
//! comparing version numbers in place. Adding a Talos minor means adding a variant and answering
//! every method for it; the compiler lists what to decide.
//!
//! # What each contract changes
//!
//! | | v1.12 | v1.13 | v1.14 |
//! |---|---|---|---|
//! | Kubernetes accepted | 1.30 – 1.35 | 1.31 – 1.36 | 1.32 – 1.37 |
//! | `cluster.id` encoding ([`VersionContract::cluster_id_standard_base64`]) | URL-safe base64 | URL-safe base64 | standard base64 |
//! | hostname | `HostnameConfig` | `HostnameConfig` | `HostnameConfig` |
//! | empty `machine.network: {}` ([`VersionContract::kubespan_config_document`]) | written | dropped | dropped |
//! | Kubernetes settings ([`VersionContract::kubernetes_config_documents`]) | v1alpha1 `cluster.*`, `machine.kubelet` | same | typed `Kube*Config` documents, raw PEM |
//! | discovery ([`VersionContract::discovery_config_documents`]) | `cluster.discovery`, `cluster.id/secret` | same | `DiscoveryServiceConfig`, `DiscoveryIdentityConfig` |
//! | host DNS ([`VersionContract::host_dns_config_document`]) | `machine.features.hostDNS` | same | `ResolverConfig` |
//! | install ([`VersionContract::unattended_install_document`]) | `machine.install` | same | `UnattendedInstallConfig` (only with an install disk) |
//! | trim, ephemeral volume ([`VersionContract::filesystem_trim_by_default`]) | – | – | `FilesystemTrimConfig`, `VolumeConfig` |
//! | workload isolation ([`VersionContract::workload_isolation_by_default`]) | – | – | `SecurityProfileConfig` |
//!
//! The machine-configuration generator (`talos::config`) asks only these methods.
//!
//! # Accepted syntax
//! - Talos versions are release tags and must start with `v`: `v1.13.9`, `v1.14.0-rc.1`. The
//!   provider stores and compares them as written, and the same string names the installer image
//!   and the Image Factory download, which both use the `v` form; accepting `1.13.9` as well would
//!   give two spellings of one value and perpetual plan diffs.
//! - Kubernetes versions take an optional `v`: `1.35.0` and `v1.35.0` are the same version, and
//!   [`KubernetesVersion`] displays without the `v` (Talos's own `ParseTolerant` behaves alike).
//! - Both take an optional pre-release (`-rc.1`); build metadata (`+…`) is refused.
//!
//! # Support matrix
//! Taken from `pkg/machinery/compatibility/talos1NN/talos1NN.go` at each release tag: Talos
//! rejects a Kubernetes version whose `major.minor.patch` is below the minimum or at or above the
//! maximum (`1.NN.99`), ignoring any pre-release.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

/// A Talos minor release, which decides the shape of the generated machine configuration.
///
/// Variants are ordered oldest first, so `contract >= VersionContract::V1_13` reads as "1.13 or
/// newer"; capability methods wrap such comparisons and are what callers should use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VersionContract {
    /// Talos 1.12.x.
    V1_12,
    /// Talos 1.13.x.
    V1_13,
    /// Talos 1.14.x.
    V1_14,
}

/// Errors from parsing versions and checking them against the support matrix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The text is not a Talos release tag such as `v1.13.9`.
    #[error("invalid Talos version {input:?}: {reason}; write a release tag such as \"v1.13.9\"")]
    InvalidTalosVersion {
        /// The text as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The text is not a Kubernetes version such as `1.35.0`.
    #[error("invalid Kubernetes version {input:?}: {reason}; write a version such as \"1.35.0\"")]
    InvalidKubernetesVersion {
        /// The text as given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The Talos version parses but its minor is not one this provider generates configs for.
    #[error(
        "Talos {version} is not supported: this provider generates configuration for Talos {supported}"
    )]
    UnsupportedTalosVersion {
        /// The version as parsed.
        version: TalosVersion,
        /// The supported minors, e.g. `v1.12.x, v1.13.x, v1.14.x`.
        supported: String,
    },
    /// Talos refuses to run this Kubernetes version.
    #[error(
        "Kubernetes {kubernetes} is {direction} for Talos {talos}: Talos {contract} supports Kubernetes {accepted}"
    )]
    UnsupportedKubernetesVersion {
        /// The Kubernetes version asked for.
        kubernetes: KubernetesVersion,
        /// The Talos version it was checked against.
        talos: TalosVersion,
        /// The contract of that Talos version.
        contract: VersionContract,
        /// `too old` or `too new`.
        direction: &'static str,
        /// The accepted range, e.g. `1.30.0 up to 1.35.x`.
        accepted: String,
    },
    /// A Talos change that skips a minor release: Talos upgrades one minor at a time.
    #[error(
        "Talos {from} cannot be upgraded to {to} in one step: Talos upgrades one minor release at a \
         time. Apply {steps}, then {to}"
    )]
    SkipsMinorRelease {
        /// The version the nodes run.
        from: TalosVersion,
        /// The version asked for.
        to: TalosVersion,
        /// The releases to apply in between, in order, e.g. `the latest v1.13.x release first`.
        steps: String,
    },
    /// A Talos change to an older minor release.
    #[error(
        "Talos {from} cannot be downgraded to {to}: Talos moves to newer minor releases only (a node's \
         STATE and etcd data written by {from_minor} are not guaranteed to be readable by {to_minor}). \
         Keep {from_minor}.x (a patch downgrade within {from_minor} is accepted), or create a new cluster \
         on {to}",
        from_minor = .from.minor_label(),
        to_minor = .to.minor_label()
    )]
    MinorDowngrade {
        /// The version the nodes run.
        from: TalosVersion,
        /// The version asked for.
        to: TalosVersion,
    },
}

/// A parsed Talos release version such as `v1.13.9` or `v1.14.0-rc.1`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TalosVersion {
    core: Core,
    pre_release: Option<Box<str>>,
}

/// A parsed Kubernetes version such as `1.35.0` (an input `v` prefix is dropped).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KubernetesVersion {
    core: Core,
    pre_release: Option<Box<str>>,
}

/// `major.minor.patch`, compared numerically.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Core {
    major: u64,
    minor: u64,
    patch: u64,
}

impl fmt::Display for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Why a version string failed to parse; the caller wraps it with the input.
fn parse_semver(text: &str) -> Result<(Core, Option<Box<str>>), &'static str> {
    if text.contains('+') {
        return Err("build metadata (\"+...\") is not accepted");
    }
    let (core_text, pre_release) = match text.split_once('-') {
        Some((core, pre)) => (core, Some(pre)),
        None => (text, None),
    };
    let mut parts = core_text.split('.');
    let mut next_number = || -> Result<u64, &'static str> {
        let part = parts
            .next()
            .ok_or("expected three numbers major.minor.patch")?;
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return Err("major, minor and patch must be decimal numbers");
        }
        if part.len() > 1 && part.starts_with('0') {
            return Err("numbers must not have leading zeros");
        }
        part.parse().map_err(|_| "number too large")
    };
    let core = Core {
        major: next_number()?,
        minor: next_number()?,
        patch: next_number()?,
    };
    if parts.next().is_some() {
        return Err("expected three numbers major.minor.patch");
    }
    if let Some(pre) = pre_release {
        let valid = !pre.is_empty()
            && pre.split('.').all(|identifier| {
                !identifier.is_empty()
                    && identifier
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !valid {
            return Err("pre-release must be dot-separated alphanumeric identifiers");
        }
    }
    Ok((core, pre_release.map(Box::from)))
}

impl FromStr for TalosVersion {
    type Err = Error;

    /// Parses `v1.13.9` / `v1.14.0-rc.1`; the `v` is required (see the module docs).
    fn from_str(input: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidTalosVersion {
            input: input.to_owned(),
            reason,
        };
        let rest = input
            .strip_prefix('v')
            .ok_or_else(|| invalid("a Talos version starts with \"v\""))?;
        let (core, pre_release) = parse_semver(rest).map_err(invalid)?;
        Ok(Self { core, pre_release })
    }
}

impl TalosVersion {
    /// The version contract of this release.
    ///
    /// # Errors
    /// [`Error::UnsupportedTalosVersion`] when the minor is not one this provider generates
    /// configuration for.
    pub fn contract(&self) -> Result<VersionContract, Error> {
        VersionContract::ALL
            .into_iter()
            .find(|contract| contract.major_minor() == (self.core.major, self.core.minor))
            .ok_or_else(|| Error::UnsupportedTalosVersion {
                version: self.clone(),
                supported: VersionContract::ALL
                    .iter()
                    .map(|contract| format!("{contract}.x"))
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Checks that nodes running `self` can move to `target` in one rolling upgrade, as Talos
    /// allows: within a minor release (patch upgrades and downgrades alike), or to the next minor.
    /// Versions of different majors are not compared here (no such pair is supported; see
    /// [`TalosVersion::contract`]).
    ///
    /// # Errors
    /// [`Error::SkipsMinorRelease`] naming the minors to apply first;
    /// [`Error::MinorDowngrade`] for a move to an older minor.
    pub fn check_upgrade_to(&self, target: &TalosVersion) -> Result<(), Error> {
        let (from, to) = (self.core, target.core);
        if from.major != to.major {
            return Ok(());
        }
        let minor = |m: u64| format!("v{}.{m}", from.major);
        if to.minor < from.minor {
            return Err(Error::MinorDowngrade {
                from: self.clone(),
                to: target.clone(),
            });
        }
        if to.minor > from.minor + 1 {
            let mut steps: Vec<String> = (from.minor + 1..to.minor)
                .map(|m| format!("the latest {}.x release", minor(m)))
                .collect();
            if let Some(first) = steps.first_mut() {
                first.push_str(" first");
            }
            return Err(Error::SkipsMinorRelease {
                from: self.clone(),
                to: target.clone(),
                steps: steps.join(", then "),
            });
        }
        Ok(())
    }

    /// `v1.13` for `v1.13.9`.
    fn minor_label(&self) -> String {
        format!("v{}.{}", self.core.major, self.core.minor)
    }

    /// Whether this is a pre-release (`-alpha.N`, `-beta.N`, `-rc.N`, …).
    pub fn is_pre_release(&self) -> bool {
        self.pre_release.is_some()
    }
}

impl fmt::Display for TalosVersion {
    /// Formats as the release tag, `v1.13.9`; parsing the output gives the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}", self.core)?;
        if let Some(pre) = &self.pre_release {
            write!(f, "-{pre}")?;
        }
        Ok(())
    }
}

impl FromStr for KubernetesVersion {
    type Err = Error;

    /// Parses `1.35.0` or `v1.35.0` (same value), with an optional pre-release.
    fn from_str(input: &str) -> Result<Self, Error> {
        let rest = input.strip_prefix('v').unwrap_or(input);
        let (core, pre_release) =
            parse_semver(rest).map_err(|reason| Error::InvalidKubernetesVersion {
                input: input.to_owned(),
                reason,
            })?;
        Ok(Self { core, pre_release })
    }
}

impl KubernetesVersion {
    /// `major.minor`, e.g. `(1, 35)`.
    pub fn major_minor(&self) -> (u64, u64) {
        (self.core.major, self.core.minor)
    }

    /// The image tag Kubernetes components use: `v1.35.0`.
    pub fn image_tag(&self) -> String {
        format!("v{self}")
    }

    const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Self {
            core: Core {
                major,
                minor,
                patch,
            },
            pre_release: None,
        }
    }
}

impl fmt::Display for KubernetesVersion {
    /// Formats without the `v`: `1.35.0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.core)?;
        if let Some(pre) = &self.pre_release {
            write!(f, "-{pre}")?;
        }
        Ok(())
    }
}

impl PartialOrd for KubernetesVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for KubernetesVersion {
    /// Semver precedence, simplified: a pre-release sorts before its release and pre-releases
    /// of one core compare as strings (enough for ordering upgrades of one minor).
    fn cmp(&self, other: &Self) -> Ordering {
        self.core
            .cmp(&other.core)
            .then_with(|| match (&self.pre_release, &other.pre_release) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

impl fmt::Display for VersionContract {
    /// Formats as `v1.13`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (major, minor) = self.major_minor();
        write!(f, "v{major}.{minor}")
    }
}

impl VersionContract {
    /// Every supported contract, oldest first.
    pub const ALL: [VersionContract; 3] = [Self::V1_12, Self::V1_13, Self::V1_14];

    /// `(major, minor)` of the Talos releases under this contract.
    pub const fn major_minor(self) -> (u64, u64) {
        match self {
            Self::V1_12 => (1, 12),
            Self::V1_13 => (1, 13),
            Self::V1_14 => (1, 14),
        }
    }

    /// The oldest Kubernetes version Talos accepts under this contract
    /// (`MinimumKubernetesVersion` in `compatibility/talos1NN`).
    pub const fn oldest_kubernetes(self) -> KubernetesVersion {
        match self {
            Self::V1_12 => KubernetesVersion::new(1, 30, 0),
            Self::V1_13 => KubernetesVersion::new(1, 31, 0),
            Self::V1_14 => KubernetesVersion::new(1, 32, 0),
        }
    }

    /// The newest Kubernetes minor Talos accepts under this contract; Talos's bound is the
    /// exclusive `MaximumKubernetesVersion = 1.<minor>.99`.
    pub const fn newest_kubernetes_minor(self) -> (u64, u64) {
        match self {
            Self::V1_12 => (1, 35),
            Self::V1_13 => (1, 36),
            Self::V1_14 => (1, 37),
        }
    }

    /// Checks that Talos `talos` (of this contract) accepts Kubernetes `kubernetes`, exactly as
    /// Talos's `KubernetesVersion.SupportedWith` does (pre-release ignored).
    ///
    /// # Errors
    /// [`Error::UnsupportedKubernetesVersion`] naming the accepted range.
    pub fn check_kubernetes(
        self,
        talos: &TalosVersion,
        kubernetes: &KubernetesVersion,
    ) -> Result<(), Error> {
        let oldest = self.oldest_kubernetes();
        let (newest_major, newest_minor) = self.newest_kubernetes_minor();
        let exclusive_maximum = Core {
            major: newest_major,
            minor: newest_minor,
            patch: 99,
        };
        let direction = if kubernetes.core < oldest.core {
            "too old"
        } else if kubernetes.core >= exclusive_maximum {
            "too new"
        } else {
            return Ok(());
        };
        Err(Error::UnsupportedKubernetesVersion {
            kubernetes: kubernetes.clone(),
            talos: talos.clone(),
            contract: self,
            direction,
            accepted: format!("{oldest} up to {newest_major}.{newest_minor}.x"),
        })
    }

    // ---- Capabilities. One method per behaviour that differs between supported minors. ----

    /// The generator writes the node hostname as a `HostnameConfig` document rather than
    /// `machine.network.hostname` (Talos `MultidocNetworkConfigSupported`, > 1.11: all supported).
    pub const fn hostname_config_document(self) -> bool {
        true
    }

    /// `cluster.apiServer.certSANs` is no longer filled from the endpoint host
    /// (`PopulateClusterSANsFromEndpoint` is false after 1.11: all supported).
    pub const fn populates_cluster_sans_from_endpoint(self) -> bool {
        false
    }

    /// `machine.features.rbac`, `stableHostname` and `apidCheckExtKeyUsage` are omitted from
    /// generated configs (`HideRBACAndKeyUsage`, > 1.11: all supported).
    pub const fn hides_rbac_and_key_usage(self) -> bool {
        true
    }

    /// `talosctl gen secrets` encodes `cluster.id` with standard base64 (1.14+) instead of
    /// URL-safe base64 (earlier).
    pub fn cluster_id_standard_base64(self) -> bool {
        self >= Self::V1_14
    }

    /// KubeSpan settings live in a `KubeSpanConfig` document (`KubeSpanMultidocConfig`, > 1.12).
    pub fn kubespan_config_document(self) -> bool {
        self > Self::V1_12
    }

    /// Host DNS settings live in a `HostDNSConfig` document (`HostDNSMultidocConfig`, > 1.13).
    pub fn host_dns_config_document(self) -> bool {
        self > Self::V1_13
    }

    /// Discovery settings live in `DiscoveryServiceConfig`/`DiscoveryIdentityConfig` documents
    /// (`DiscoveryServiceMultidocConfig`, > 1.13).
    pub fn discovery_config_documents(self) -> bool {
        self > Self::V1_13
    }

    /// Installation settings live in an `UnattendedInstallConfig` document instead of
    /// `machine.install` (`UnattendedInstallConfig`, > 1.13).
    pub fn unattended_install_document(self) -> bool {
        self > Self::V1_13
    }

    /// Kubernetes settings (API server, controller manager, scheduler, kubelet, etcd, …) live in
    /// typed documents with raw-PEM fields (`MultidocKubernetesConfigSupported`, > 1.13).
    pub fn kubernetes_config_documents(self) -> bool {
        self > Self::V1_13
    }

    /// Sysctls live in `SysctlConfig` documents (`MultidocSysctlConfigSupported`, > 1.13).
    pub fn sysctl_config_documents(self) -> bool {
        self > Self::V1_13
    }

    /// Filesystem trim is enabled by default (`FilesystemTrimEnabledByDefault`, > 1.13).
    pub fn filesystem_trim_by_default(self) -> bool {
        self > Self::V1_13
    }

    /// The generator emits a `SecurityProfileConfig` with workload isolation enabled
    /// (`WorkloadIsolationEnabledByDefault`, > 1.13).
    pub fn workload_isolation_by_default(self) -> bool {
        self > Self::V1_13
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn talos(text: &str) -> TalosVersion {
        text.parse().unwrap()
    }

    fn kube(text: &str) -> KubernetesVersion {
        text.parse().unwrap()
    }

    #[test]
    fn talos_version_requires_v_and_round_trips() {
        for text in ["v1.12.11", "v1.13.9", "v1.14.0-rc.1", "v1.14.0-alpha.0"] {
            assert_eq!(talos(text).to_string(), text);
        }
        let err = "1.13.9".parse::<TalosVersion>().unwrap_err();
        assert!(err.to_string().contains("starts with \"v\""), "{err}");
        assert!(err.to_string().contains("v1.13.9"), "{err}");
    }

    #[test]
    fn talos_version_rejects_malformed_text() {
        for text in [
            "v1.13",
            "v1.13.9.1",
            "v1.13.x",
            "v01.13.9",
            "v1.13.9+build",
            "v1.13.9-",
            "v1.13.9-rc..1",
            "",
            "v",
        ] {
            assert!(
                matches!(
                    text.parse::<TalosVersion>(),
                    Err(Error::InvalidTalosVersion { .. })
                ),
                "{text} should be refused"
            );
        }
    }

    #[test]
    fn contract_follows_the_minor() {
        assert_eq!(talos("v1.12.11").contract(), Ok(VersionContract::V1_12));
        assert_eq!(talos("v1.13.0").contract(), Ok(VersionContract::V1_13));
        assert_eq!(talos("v1.14.0-rc.1").contract(), Ok(VersionContract::V1_14));
        let err = talos("v1.11.5").contract().unwrap_err();
        assert_eq!(
            err.to_string(),
            "Talos v1.11.5 is not supported: this provider generates configuration for Talos v1.12.x, v1.13.x, v1.14.x"
        );
        assert!(talos("v2.12.0").contract().is_err());
    }

    #[test]
    fn upgrades_go_one_minor_at_a_time() {
        for (from, to) in [
            ("v1.12.11", "v1.12.11"),
            ("v1.12.3", "v1.12.11"),
            ("v1.12.11", "v1.12.3"),
            ("v1.12.11", "v1.13.0"),
            ("v1.13.9", "v1.14.0-rc.1"),
            ("v1.13.0-rc.1", "v1.13.0"),
        ] {
            assert_eq!(
                talos(from).check_upgrade_to(&talos(to)),
                Ok(()),
                "{from} → {to}"
            );
        }
        let err = talos("v1.12.11")
            .check_upgrade_to(&talos("v1.14.1"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Talos v1.12.11 cannot be upgraded to v1.14.1 in one step: Talos upgrades one minor \
             release at a time. Apply the latest v1.13.x release first, then v1.14.1"
        );
        let err = talos("v1.12.0")
            .check_upgrade_to(&talos("v1.15.0"))
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("Apply the latest v1.13.x release first, then the latest v1.14.x release, then v1.15.0"),
            "{err}"
        );
    }

    #[test]
    fn minor_downgrades_are_refused() {
        let err = talos("v1.14.0")
            .check_upgrade_to(&talos("v1.13.9"))
            .unwrap_err();
        assert!(matches!(err, Error::MinorDowngrade { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.starts_with("Talos v1.14.0 cannot be downgraded to v1.13.9"),
            "{text}"
        );
        assert!(text.contains("Keep v1.14.x"), "{text}");
        // Different majors are not this check's business (no such pair is supported).
        assert_eq!(talos("v2.0.0").check_upgrade_to(&talos("v1.13.0")), Ok(()));
    }

    #[test]
    fn kubernetes_version_accepts_optional_v() {
        assert_eq!(kube("v1.35.0"), kube("1.35.0"));
        assert_eq!(kube("v1.35.0").to_string(), "1.35.0");
        assert_eq!(kube("1.35.0").image_tag(), "v1.35.0");
        assert_eq!(kube("1.36.0-rc.0").to_string(), "1.36.0-rc.0");
        assert_eq!(kube("1.35.2").major_minor(), (1, 35));
        assert!(matches!(
            "1.35".parse::<KubernetesVersion>(),
            Err(Error::InvalidKubernetesVersion { .. })
        ));
        assert!(kube("1.35.0-rc.0") < kube("1.35.0"));
        assert!(kube("1.35.10") > kube("1.35.9"));
    }

    #[test]
    fn support_matrix_matches_talos_compatibility_packages() {
        // (talos, kubernetes, accepted) from compatibility/talos112, talos113, talos114.
        let cases = [
            ("v1.12.11", "1.29.9", false),
            ("v1.12.11", "1.30.0", true),
            ("v1.12.11", "1.35.0", true),
            ("v1.12.11", "1.35.98", true),
            ("v1.12.11", "1.35.99", false),
            ("v1.12.11", "1.36.0", false),
            ("v1.13.9", "1.30.14", false),
            ("v1.13.9", "1.31.0", true),
            ("v1.13.9", "1.36.1", true),
            ("v1.13.9", "1.37.0", false),
            ("v1.14.0-rc.1", "1.31.9", false),
            ("v1.14.0-rc.1", "1.32.0", true),
            ("v1.14.0-rc.1", "1.37.0-rc.0", true),
            ("v1.14.0-rc.1", "1.38.0", false),
        ];
        for (talos_text, kube_text, accepted) in cases {
            let version = talos(talos_text);
            let result = version
                .contract()
                .unwrap()
                .check_kubernetes(&version, &kube(kube_text));
            assert_eq!(
                result.is_ok(),
                accepted,
                "{talos_text} + {kube_text}: {result:?}"
            );
        }
    }

    #[test]
    fn support_error_says_what_is_accepted() {
        let version = talos("v1.12.11");
        let err = VersionContract::V1_12
            .check_kubernetes(&version, &kube("1.36.0"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Kubernetes 1.36.0 is too new for Talos v1.12.11: Talos v1.12 supports Kubernetes 1.30.0 up to 1.35.x"
        );
        let err = VersionContract::V1_12
            .check_kubernetes(&version, &kube("1.29.0"))
            .unwrap_err();
        assert!(err.to_string().contains("too old"), "{err}");
    }

    #[test]
    fn capabilities_change_where_talos_says() {
        use VersionContract::*;
        assert!(!V1_12.kubespan_config_document());
        assert!(V1_13.kubespan_config_document());
        assert!(!V1_13.kubernetes_config_documents());
        assert!(V1_14.kubernetes_config_documents());
        assert!(V1_14.unattended_install_document());
        assert!(!V1_13.unattended_install_document());
        assert!(V1_12 < V1_13 && V1_13 < V1_14);
    }
}
