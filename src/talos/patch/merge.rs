//! Talos's merge rules (`pkg/machinery/config/merge`) on YAML trees, with the per-field
//! exceptions its Go types declare (`merge:"replace"` tags and custom `Merge` methods).

use super::Error;
use crate::talos::yaml::{Mapping, Node};

/// Which patch and which document kind (`None` = v1alpha1) is being merged.
pub(super) struct Context<'a> {
    patch: usize,
    kind: Option<&'a str>,
}

impl<'a> Context<'a> {
    pub(super) fn new(patch: usize, kind: Option<&'a str>) -> Self {
        Self { patch, kind }
    }
}

/// Renders a path like `machine.network.interfaces[0].vlans`, prefixed by the document kind
/// for typed documents.
pub(super) fn render_path(kind: Option<&str>, path: &[String]) -> String {
    let mut out = kind.map(|kind| format!("{kind}: ")).unwrap_or_default();
    for (index, segment) in path.iter().enumerate() {
        if index > 0 && !segment.starts_with('[') {
            out.push('.');
        }
        out.push_str(segment);
    }
    if path.is_empty() {
        out.push_str("(document)");
    }
    out
}

/// Path segments without list indices, for matching field rules.
fn field_path(path: &[String]) -> Vec<&str> {
    path.iter()
        .filter(|segment| !segment.starts_with('['))
        .map(String::as_str)
        .collect()
}

/// Fields replaced whole instead of merged (`merge:"replace"` in Talos's types).
fn is_replace_field(kind: Option<&str>, path: &[&str]) -> bool {
    match kind {
        None => matches!(
            path,
            ["cluster", "network", "podSubnets" | "serviceSubnets"]
                | ["cluster", "apiServer", "auditPolicy"]
        ),
        Some("KubeNetworkConfig") => matches!(path, ["podSubnets" | "serviceSubnets"]),
        Some(
            "KubeAuditPolicyConfig" | "KubeAuthenticationConfig" | "KubeCredentialProviderConfig",
        ) => path == ["configuration"],
        Some("KubeStaticPodConfig") => path == ["pod"],
        Some("NetworkRuleConfig") => matches!(path, ["ingress"] | ["portSelector", "ports"]),
        Some("CRIBaseRuntimeSpecConfig") => path == ["overrides"],
        Some("BGPInstanceConfig") => matches!(path, ["advertise" | "importRoutes" | "neighbors"]),
        Some(_) => false,
    }
}

/// Lists merged item by item on a key (Talos's custom `Merge` methods).
fn list_key(kind: Option<&str>, path: &[&str]) -> Option<&'static str> {
    match (kind, path) {
        (None, ["machine", "network", "interfaces"]) => Some("interface"),
        (None, ["machine", "network", "interfaces", "vlans"]) => Some("vlanId"),
        (None, ["cluster", "apiServer", "admissionControl"]) => Some("name"),
        _ => None,
    }
}

fn is_zero_scalar(node: &Node) -> bool {
    match node {
        Node::String(text) => text.is_empty(),
        Node::Int(number) => *number == 0,
        Node::Float(number) => *number == 0.0,
        _ => false,
    }
}

/// Merges `right` into `left` at `path`.
pub(super) fn merge(
    left: &mut Node,
    right: &Node,
    context: &Context<'_>,
    path: &mut Vec<String>,
) -> Result<(), Error> {
    let fields = field_path(path);
    let replace = is_replace_field(context.kind, &fields);
    let keyed = list_key(context.kind, &fields);
    let per_key_replace = fields.last() == Some(&"extraArgs");
    match (&mut *left, right) {
        (_, Node::Null) => Ok(()),
        (Node::Null, _) => {
            *left = right.clone();
            Ok(())
        }
        (Node::Map(left_map), Node::Map(right_map)) => {
            if right_map.is_empty() {
                return Ok(());
            }
            if replace {
                *left = right.clone();
                return Ok(());
            }
            merge_maps(left_map, right_map, per_key_replace, context, path)
        }
        (Node::Seq(left_items), Node::Seq(right_items)) => {
            if right_items.is_empty() {
                return Ok(());
            }
            if replace {
                *left = right.clone();
                return Ok(());
            }
            match keyed {
                Some(key) => merge_keyed_list(left_items, right_items, key, context, path),
                None => {
                    left_items.extend(right_items.iter().cloned());
                    Ok(())
                }
            }
        }
        (Node::Map(_) | Node::Seq(_), _) | (_, Node::Map(_) | Node::Seq(_)) => {
            Err(Error::TypeMismatch {
                patch: context.patch,
                path: render_path(context.kind, path),
                left: left.kind_name(),
                right: right.kind_name(),
            })
        }
        (_, Node::Bool(_)) => {
            *left = right.clone();
            Ok(())
        }
        (_, scalar) => {
            if !is_zero_scalar(scalar) {
                *left = scalar.clone();
            }
            Ok(())
        }
    }
}

fn merge_maps(
    left: &mut Mapping,
    right: &Mapping,
    per_key_replace: bool,
    context: &Context<'_>,
    path: &mut Vec<String>,
) -> Result<(), Error> {
    for (key, value) in right {
        match left.get_mut(key) {
            Some(existing) if !per_key_replace && *existing != Node::Null => {
                path.push(key.clone());
                let result = merge(existing, value, context, path);
                path.pop();
                result?;
            }
            Some(_) | None if *value == Node::Null => {}
            _ => {
                left.insert(key.clone(), value.clone());
            }
        }
    }
    Ok(())
}

/// Merges list items that share `key` (or, for interfaces, an equal `deviceSelector`);
/// other items are appended.
fn merge_keyed_list(
    left: &mut Vec<Node>,
    right: &[Node],
    key: &str,
    context: &Context<'_>,
    path: &mut Vec<String>,
) -> Result<(), Error> {
    for item in right {
        let identity = |node: &Node| -> Option<Node> {
            let map = node.as_map()?;
            map.get(key)
                .filter(|value| !is_zero_scalar(value))
                .cloned()
                .or_else(|| map.get("deviceSelector").cloned())
        };
        let wanted = identity(item);
        let existing = wanted.as_ref().and_then(|wanted| {
            left.iter()
                .position(|candidate| identity(candidate).as_ref() == Some(wanted))
        });
        match existing {
            Some(position) => {
                path.push(format!("[{position}]"));
                let result = merge(&mut left[position], item, context, path);
                path.pop();
                result?;
            }
            None => left.push(item.clone()),
        }
    }
    Ok(())
}
