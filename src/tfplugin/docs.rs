//! Renders a [`Schema`] as registry-style Markdown (the "Schema" section that tfplugindocs writes):
//! required, optional and read-only attributes, each with its type, flags, description, default,
//! validators and plan modifiers, then one section per nested object.
//!
//! Everything shown comes from the schema itself, so documentation cannot drift from the code.

use std::fmt::Write as _;

use super::schema::{Attribute, AttributeKind, Block, BlockNesting, NestingMode, Schema};
use super::value::Type;

/// Markdown for `schema`, starting with a `## Schema` heading.
#[must_use]
pub fn render_schema(schema: &Schema) -> String {
    let mut out = String::from("## Schema\n");
    let mut nested = Vec::new();
    render_block(&mut out, schema.root_block(), "", &mut nested);
    while !nested.is_empty() {
        let pending = std::mem::take(&mut nested);
        for section in pending {
            let _ = write!(
                out,
                "\n<a id=\"nestedatt--{anchor}\"></a>\n### Nested Schema for `{path}`\n",
                anchor = section.path.replace('.', "--"),
                path = section.path
            );
            render_block(&mut out, &section.block, &section.path, &mut nested);
        }
    }
    out
}

/// A nested object waiting for its own section.
struct Section {
    path: String,
    block: Block,
}

/// Decides whether an attribute belongs in a section (Required, Optional, Read-Only).
type SectionFilter = fn(&Attribute) -> bool;

fn render_block(out: &mut String, block: &Block, prefix: &str, nested: &mut Vec<Section>) {
    let groups: [(&str, SectionFilter); 3] = [
        ("Required", |a| a.is_required()),
        ("Optional", |a| a.is_optional()),
        ("Read-Only", |a| a.is_computed() && !a.is_optional()),
    ];
    for (title, belongs) in groups {
        let attrs: Vec<&Attribute> = block.attrs().iter().filter(|a| belongs(a)).collect();
        let blocks: Vec<_> = if title == "Optional" {
            block.nested_blocks().iter().collect()
        } else {
            Vec::new()
        };
        if attrs.is_empty() && blocks.is_empty() {
            continue;
        }
        let _ = write!(out, "\n### {title}\n\n");
        for attr in attrs {
            render_attribute(out, attr, prefix, nested);
        }
        for b in blocks {
            let path = join(prefix, b.type_name());
            let _ = writeln!(
                out,
                "- `{name}` (Block {nesting}) {desc} (see [below for nested schema](#nestedatt--{anchor}))",
                name = b.type_name(),
                nesting = block_nesting(b.nesting()),
                desc = sentence(b.body().markdown_description_text()),
                anchor = path.replace('.', "--"),
            );
            nested.push(Section {
                path,
                block: b.body().clone(),
            });
        }
    }
}

fn render_attribute(out: &mut String, attr: &Attribute, prefix: &str, nested: &mut Vec<Section>) {
    let path = join(prefix, attr.name());
    let mut flags = vec![type_label(attr)];
    if attr.is_sensitive() {
        flags.push("Sensitive".into());
    }
    if attr.deprecation().is_some() {
        flags.push("Deprecated".into());
    }
    let mut line = format!(
        "- `{}` ({}) {}",
        attr.name(),
        flags.join(", "),
        sentence(attr.markdown_description_text())
    );
    if let Some(default) = attr.default() {
        let _ = write!(line, " Default: `{}`.", default_text(default));
    }
    for validator in attr.validators() {
        let _ = write!(
            line,
            " {}.",
            capitalize(validator.description().trim_end_matches('.'))
        );
    }
    for modifier in attr.plan_modifiers() {
        let _ = write!(
            line,
            " {}.",
            capitalize(modifier.description().trim_end_matches('.'))
        );
    }
    if let Some(message) = attr.deprecation() {
        let _ = write!(line, " **Deprecated:** {message}");
    }
    if let AttributeKind::Nested { attributes, .. } = attr.kind() {
        let _ = write!(
            line,
            " (see [below for nested schema](#nestedatt--{}))",
            path.replace('.', "--")
        );
        nested.push(Section {
            path,
            block: Block::new().attributes(attributes.iter().cloned()),
        });
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

fn sentence(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() || text.ends_with(['.', '!', '?', ')']) || text.ends_with("```") {
        text.to_owned()
    } else {
        format!("{text}.")
    }
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn type_label(attr: &Attribute) -> String {
    match attr.kind() {
        AttributeKind::Typed(ty) => type_name(ty),
        AttributeKind::Nested { nesting, .. } => match nesting {
            NestingMode::Single => "Attributes".into(),
            NestingMode::List => "Attributes List".into(),
            NestingMode::Set => "Attributes Set".into(),
            NestingMode::Map => "Attributes Map".into(),
        },
    }
}

fn type_name(ty: &Type) -> String {
    match ty {
        Type::String => "String".into(),
        Type::Number => "Number".into(),
        Type::Bool => "Boolean".into(),
        Type::Dynamic => "Dynamic".into(),
        Type::List(e) => format!("List of {}", type_name(e)),
        Type::Set(e) => format!("Set of {}", type_name(e)),
        Type::Map(e) => format!("Map of {}", type_name(e)),
        Type::Object(_) => "Object".into(),
        Type::Tuple(_) => "Tuple".into(),
    }
}

fn block_nesting(nesting: BlockNesting) -> &'static str {
    match nesting {
        BlockNesting::Single | BlockNesting::Group => "",
        BlockNesting::List => "List",
        BlockNesting::Set => "Set",
        BlockNesting::Map => "Map",
    }
}

fn default_text(value: &super::value::Value) -> String {
    use super::value::Value;
    match value {
        Value::Null => "null".into(),
        Value::Unknown => "(known after apply)".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
            let items: Vec<String> = items.iter().map(default_text).collect();
            format!("[{}]", items.join(", "))
        }
        Value::Map(entries) | Value::Object(entries) => {
            let entries: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{k} = {}", default_text(v)))
                .collect();
            format!("{{{}}}", entries.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tfplugin::schema::{NestedBlock, one_of, requires_replace};

    #[test]
    fn groups_attributes_and_documents_nested_objects() {
        let schema = Schema::new()
            .attribute(
                Attribute::string("name")
                    .required()
                    .description("Name of the thing")
                    .plan(requires_replace()),
            )
            .attribute(
                Attribute::string("cni")
                    .optional()
                    .default_value("flannel")
                    .description("CNI")
                    .validate(one_of(["flannel", "none"])),
            )
            .attribute(
                Attribute::string("token")
                    .computed()
                    .sensitive()
                    .description("Token"),
            )
            .attribute(
                Attribute::single_nested(
                    "control_plane",
                    vec![Attribute::number("count").required().description("Nodes")],
                )
                .required()
                .description("Control plane"),
            )
            .block(NestedBlock::single(
                "timeouts",
                Block::new()
                    .description("Timeouts")
                    .attribute(Attribute::string("create").optional().description("Create")),
            ));
        let md = render_schema(&schema);
        let required = md.find("### Required").expect("required section");
        let optional = md.find("### Optional").expect("optional section");
        let read_only = md.find("### Read-Only").expect("read-only section");
        assert!(required < optional && optional < read_only, "{md}");
        assert!(md.contains("- `name` (String) Name of the thing."), "{md}");
        assert!(md.contains("Default: `flannel`."), "{md}");
        assert!(md.contains("flannel"), "{md}");
        assert!(md.contains("- `token` (String, Sensitive) Token."), "{md}");
        assert!(md.contains("### Nested Schema for `control_plane`"), "{md}");
        assert!(md.contains("- `count` (Number) Nodes."), "{md}");
        assert!(md.contains("### Nested Schema for `timeouts`"), "{md}");
    }
}
