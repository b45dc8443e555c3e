//! Schema validators built from the domain rules (`hcloud`, `kube`, `talos`): this is where a
//! domain error becomes a diagnostic, at the narrowest attribute path (the map key of a bad
//! label, the list index of a bad taint), with a summary naming what is invalid and a detail that
//! says what was wrong and what is accepted.
//!
//! Validators only see known, non-null values; unknown elements inside collections are skipped.

use std::fmt::Display;
use std::time::Duration;

use crate::hcloud::{catalog, cidr, names};
use crate::kube::labels;
use crate::resources::duration;
use crate::talos::version::{KubernetesVersion, TalosVersion};
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::tfplugin::schema::{Validator, custom};
use crate::tfplugin::value::Value;

/// An error diagnostic at `path`.
pub fn error_at(path: &AttributePath, summary: &str, detail: impl Display) -> Diagnostics {
    Diagnostic::error(summary, detail.to_string())
        .at(path.clone())
        .into()
}

/// A validator applying `rule` to a string value; its error becomes `summary` + the error text.
pub fn string_check<F, E>(
    summary: &'static str,
    description: impl Into<String>,
    rule: F,
) -> impl Validator
where
    F: Fn(&str) -> Result<(), E> + Send + Sync + 'static,
    E: Display,
{
    custom(description, move |path, value| {
        match value.as_str().map(&rule) {
            Some(Err(e)) => error_at(path, summary, e),
            _ => Diagnostics::new(),
        }
    })
}

/// Cluster names ([`names::check_cluster_name`]).
pub fn cluster_name() -> impl Validator {
    string_check(
        "Invalid cluster name",
        "must be a lowercase DNS label of at most 20 characters that starts with a letter",
        names::check_cluster_name,
    )
}

/// Node-pool names ([`names::check_pool_name`]).
pub fn pool_name() -> impl Validator {
    string_check(
        "Invalid node pool name",
        "must be a lowercase DNS label of at most 20 characters that starts with a letter, not `cp`",
        names::check_pool_name,
    )
}

/// Hetzner locations.
pub fn location() -> impl Validator {
    string_check(
        "Invalid location",
        "must be a Hetzner location: fsn1, nbg1, hel1, ash, hil or sin",
        |s| catalog::location(s).map(|_| ()),
    )
}

/// Each element of a list of locations.
pub fn locations() -> impl Validator {
    custom(
        "each element must be a Hetzner location; at least one, no repeats",
        |path, value| {
            let mut diags = Diagnostics::new();
            let Value::List(items) = value else {
                return diags;
            };
            if items.is_empty() {
                diags.extend(error_at(
                    path,
                    "Invalid locations",
                    "the list is empty; give at least one location",
                ));
            }
            let mut seen: Vec<&str> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let Some(name) = item.as_str() else { continue };
                if let Err(e) = catalog::location(name) {
                    diags.extend(error_at(&path.index(i), "Invalid location", e));
                } else if seen.contains(&name) {
                    diags.extend(error_at(
                        &path.index(i),
                        "Duplicate location",
                        format!("{name:?} is listed twice"),
                    ));
                }
                seen.push(name);
            }
            diags
        },
    )
}

/// Hetzner server types.
pub fn server_type() -> impl Validator {
    string_check(
        "Invalid server type",
        "must be a Hetzner server type (cx23…cx53, cpx11…cpx51, cax11…cax41, ccx13…ccx63)",
        |s| catalog::server_type(s).map(|_| ()),
    )
}

/// Hetzner load-balancer types.
pub fn load_balancer_type() -> impl Validator {
    string_check(
        "Invalid load balancer type",
        "must be lb11, lb21 or lb31",
        |s| catalog::load_balancer_type(s).map(|_| ()),
    )
}

/// One range of the address plan.
pub fn cidr(role: cidr::Role) -> impl Validator {
    let description = match role {
        cidr::Role::Network => "must be a canonical private IPv4 CIDR, /8 to /24",
        cidr::Role::NodeSubnet => {
            "must be a canonical private IPv4 CIDR, /8 to /28, inside the network"
        }
        cidr::Role::Pods => "must be a canonical IPv4 CIDR, /8 to /24",
        cidr::Role::Services => "must be a canonical IPv4 CIDR, /12 to /24",
    };
    string_check("Invalid CIDR", description, move |s| {
        cidr::parse(role, s).map(|_| ())
    })
}

/// Talos versions: syntax and a minor this provider generates configuration for.
pub fn talos_version() -> impl Validator {
    string_check(
        "Invalid Talos version",
        "must be a supported Talos release tag such as v1.13.9",
        // Errors become text here: the version error type is large and only its message is used.
        |s| -> Result<(), String> {
            let version: TalosVersion = s
                .parse()
                .map_err(|e: crate::talos::version::Error| e.to_string())?;
            version.contract().map(|_| ()).map_err(|e| e.to_string())
        },
    )
}

/// Kubernetes version syntax (the pair check against Talos is cross-attribute).
pub fn kubernetes_version() -> impl Validator {
    string_check(
        "Invalid Kubernetes version",
        "must be a Kubernetes version such as 1.35.0",
        |s| {
            s.parse::<KubernetesVersion>()
                .map(|_| ())
                .map_err(|e| e.to_string())
        },
    )
}

/// Go-style durations within `[min, max]`.
pub fn duration_between(min: Duration, max: Duration) -> impl Validator {
    let description = format!(
        "must be a duration such as \"30m\" or \"1h30m\" between {} and {}",
        duration::format_duration(min),
        duration::format_duration(max)
    );
    string_check("Invalid duration", description, move |s| {
        duration::parse_within(s, min, max).map(|_| ())
    })
}

/// A Talos secrets bundle (`talosctl gen secrets` YAML). Parser details are not echoed: the
/// value is sensitive.
pub fn secrets_bundle() -> impl Validator {
    string_check(
        "Invalid secrets bundle",
        "must be a secrets.yaml as written by `talosctl gen secrets`",
        |text| {
            match crate::talos::secrets::SecretsBundle::from_yaml(text) {
            Ok(_) => Ok(()),
            Err(crate::talos::secrets::Error::Invalid { field, reason }) => Err(format!(
                "the bundle's {field} {reason}; give a secrets.yaml written by `talosctl gen secrets`"
            )),
            Err(_) => Err("the value is not a talosctl secrets.yaml (it does not parse, or lacks required \
                 fields such as cluster, secrets, trustdinfo and certs); the parser's message is not \
                 shown because the value is sensitive"
                .to_owned()),
        }
        },
    )
}

/// Node labels: key syntax and namespaces at `labels["key"]`, value syntax at the same key.
pub fn node_labels(applied_with: labels::AppliedWith) -> impl Validator {
    let description = match applied_with {
        labels::AppliedWith::AdminCredentials => {
            "keys must be Kubernetes label keys outside hk8s.io/; values at most 63 characters"
        }
        labels::AppliedWith::NodeCredentials => {
            "keys must be Kubernetes label keys nodes may set (not kubernetes.io/k8s.io except node.kubernetes.io, not hk8s.io); values at most 63 characters"
        }
    };
    custom(description, move |path, value| {
        let mut diags = Diagnostics::new();
        let Value::Map(entries) = value else {
            return diags;
        };
        for (key, v) in entries {
            let at = path.key(key.clone());
            if let Err(e) = labels::check_node_label_key(key, applied_with) {
                diags.extend(error_at(&at, "Invalid label key", e));
            }
            if let Some(text) = v.as_str()
                && let Err(e) = labels::check_label_value(text)
            {
                diags.extend(error_at(&at, "Invalid label value", e));
            }
        }
        diags
    })
}

/// Taints as `key=value:Effect` strings, at their list index; repeated key+effect refused.
pub fn taints() -> impl Validator {
    custom(
        "each element must be a taint `key=value:Effect` or `key:Effect`, effect NoSchedule, PreferNoSchedule or NoExecute",
        |path, value| {
            let mut diags = Diagnostics::new();
            let Value::List(items) = value else {
                return diags;
            };
            let mut parsed: Vec<labels::Taint> = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let Some(text) = item.as_str() else { continue };
                match text.parse::<labels::Taint>() {
                    Err(e) => diags.extend(error_at(&path.index(i), "Invalid taint", e)),
                    Ok(taint) => {
                        if parsed
                            .iter()
                            .any(|t| t.key == taint.key && t.effect == taint.effect)
                        {
                            let e = labels::Error::DuplicateTaint {
                                taint: text.to_owned(),
                                key: taint.key.clone(),
                                effect: taint.effect,
                            };
                            diags.extend(error_at(&path.index(i), "Duplicate taint", e));
                        }
                        parsed.push(taint);
                    }
                }
            }
            diags
        },
    )
}

/// Talos config patches, at their list index: [`crate::talos::patch::validate`] (YAML mappings,
/// strategic merge only, nothing the provider owns). The check against the Talos version's
/// contract is cross-attribute ([`patch_contract_errors`]).
pub fn config_patches() -> impl Validator {
    custom(
        "each element must be a Talos strategic merge patch: YAML mappings, not touching what the provider manages",
        |path, value| {
            let mut diags = Diagnostics::new();
            let Value::List(items) = value else {
                return diags;
            };
            for (i, item) in items.iter().enumerate() {
                if let Some(text) = item.as_str()
                    && let Err(e) = crate::talos::patch::validate(i, text)
                {
                    diags.extend(error_at(&path.index(i), "Invalid config patch", e));
                }
            }
            diags
        },
    )
}

/// Patches at `path` (a list) that set what the Talos version `talos` no longer has, one error
/// per patch at its index. Unknown or invalid inputs are skipped (reported elsewhere).
pub fn patch_contract_errors(
    path: &AttributePath,
    patches: &[(usize, &str)],
    talos: Option<&str>,
) -> Diagnostics {
    let mut diags = Diagnostics::new();
    let Some(contract) = talos
        .and_then(|t| t.parse::<TalosVersion>().ok())
        .and_then(|v| v.contract().ok())
    else {
        return diags;
    };
    for (i, text) in patches {
        let Ok(patch) = crate::talos::patch::Patch::parse(*i, text) else {
            continue;
        };
        if let Err(e) = patch.check_contract(contract) {
            diags.extend(error_at(
                &path.index(*i),
                "Config patch does not fit the Talos version",
                e,
            ));
        }
    }
    diags
}

/// Firewall sources: IPv4 or IPv6 CIDRs in canonical form, at their list index.
pub fn source_ranges() -> impl Validator {
    custom(
        "each element must be an IPv4 or IPv6 CIDR such as 203.0.113.0/24 or 2001:db8::/32",
        |path, value| {
            let mut diags = Diagnostics::new();
            let Value::List(items) = value else {
                return diags;
            };
            for (i, item) in items.iter().enumerate() {
                let Some(text) = item.as_str() else { continue };
                let detail = match text.parse::<ipnet::IpNet>() {
                    Err(_) => format!(
                        "{text:?} is not a CIDR; write e.g. \"203.0.113.0/24\", \"198.51.100.7/32\" or \"2001:db8::/32\""
                    ),
                    Ok(net) if net.addr() != net.network() => {
                        format!(
                            "{text:?} has host bits set; write it as {:?}",
                            net.trunc().to_string()
                        )
                    }
                    Ok(_) => continue,
                };
                diags.extend(error_at(&path.index(i), "Invalid source range", detail));
            }
            diags
        },
    )
}

/// Whole numbers in `[min, max]`, with a summary naming the attribute.
pub fn whole_number(summary: &'static str, min: i64, max: i64) -> impl Validator {
    let description = format!("must be a whole number from {min} to {max}");
    let hint = description.clone();
    custom(description, move |path, value| {
        let Some(number) = value.as_number() else {
            return Diagnostics::new();
        };
        match number.to_i64() {
            Some(n) if number.is_integer() && (min..=max).contains(&n) => Diagnostics::new(),
            _ => error_at(path, summary, format!("{number} is not accepted; {hint}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(v: impl Validator, path: &AttributePath, value: Value) -> Vec<(String, String, String)> {
        v.validate(path, &value)
            .iter()
            .map(|d| {
                (
                    d.path.as_ref().map(ToString::to_string).unwrap_or_default(),
                    d.summary.clone(),
                    d.detail.clone(),
                )
            })
            .collect()
    }

    #[test]
    fn label_errors_point_at_the_key() {
        let labels = Value::Map(
            [
                ("good".to_owned(), Value::from("x")),
                ("bad key".to_owned(), Value::from("x")),
                ("ok".to_owned(), Value::from("bad value")),
                ("later".to_owned(), Value::Unknown),
            ]
            .into(),
        );
        let found = run(
            node_labels(labels::AppliedWith::NodeCredentials),
            &AttributePath::root("labels"),
            labels,
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[0].0, r#"labels["bad key"]"#);
        assert_eq!(found[0].1, "Invalid label key");
        assert_eq!(found[1].0, r#"labels["ok"]"#);
        assert!(found[1].2.contains("\"bad value\""));
    }

    #[test]
    fn taint_errors_point_at_the_index() {
        let list = Value::List(vec![
            Value::from("a=1:NoSchedule"),
            Value::Unknown,
            Value::from("b=2:Sometimes"),
            Value::from("a=3:NoSchedule"),
        ]);
        let found = run(taints(), &AttributePath::root("taints"), list);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(
            (found[0].0.as_str(), found[0].1.as_str()),
            ("taints[2]", "Invalid taint")
        );
        assert_eq!(
            (found[1].0.as_str(), found[1].1.as_str()),
            ("taints[3]", "Duplicate taint")
        );
    }

    #[test]
    fn strings_numbers_and_lists() {
        let p = AttributePath::root("x");
        assert!(run(server_type(), &p, Value::from("cx33")).is_empty());
        assert_eq!(
            run(server_type(), &p, Value::from("cx22"))[0].1,
            "Invalid server type"
        );
        assert!(run(talos_version(), &p, Value::from("v1.13.9")).is_empty());
        assert!(!run(talos_version(), &p, Value::from("v1.9.0")).is_empty());
        assert!(run(kubernetes_version(), &p, Value::from("1.35.0")).is_empty());
        assert!(
            !run(
                duration_between(Duration::from_secs(60), Duration::from_secs(3600)),
                &p,
                Value::from("2h")
            )
            .is_empty()
        );
        assert!(run(whole_number("Invalid count", 0, 10), &p, Value::from(3)).is_empty());
        assert!(!run(whole_number("Invalid count", 0, 10), &p, Value::from(-1)).is_empty());
        let locs = Value::List(vec![
            Value::from("fsn1"),
            Value::from("fra1"),
            Value::from("fsn1"),
        ]);
        let found = run(locations(), &p, locs);
        assert_eq!(
            found.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(),
            ["x[1]", "x[2]"]
        );
        let found = run(
            source_ranges(),
            &p,
            Value::List(vec![Value::from("10.0.0.1/8"), Value::from("::/0")]),
        );
        assert_eq!(found.len(), 1);
        assert!(found[0].2.contains("\"10.0.0.0/8\""));
        let found = run(
            config_patches(),
            &p,
            Value::List(vec![Value::from("machine: {}"), Value::from("- op: add")]),
        );
        assert_eq!(found[0].0, "x[1]");
    }

    #[test]
    fn secrets_bundles_are_checked_without_echoing_them() {
        let p = AttributePath::root("secrets");
        let bundle = include_str!("../talos/testdata/talosctl-secrets.yaml");
        assert!(run(secrets_bundle(), &p, Value::from(bundle)).is_empty());
        let found = run(secrets_bundle(), &p, Value::from("cluster: {id: s3cr3t}"));
        assert_eq!(found[0].1, "Invalid secrets bundle");
        assert!(!found[0].2.contains("s3cr3t"), "{}", found[0].2);
        let tampered = bundle.replacen("bootstraptoken: ", "bootstraptoken: X", 1);
        let found = run(secrets_bundle(), &p, Value::from(tampered));
        assert!(
            found[0].2.contains("secrets.bootstraptoken"),
            "{}",
            found[0].2
        );
    }
}
