//! Conversions between framework types and the generated tfplugin6 messages.
//!
//! Generated types never leave `tfplugin`; this is the one place that knows both sides.

use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics, PathStep, Severity};
use crate::tfplugin::proto;
use crate::tfplugin::schema::{Attribute, AttributeKind, Block, BlockNesting, NestingMode, Schema};
use crate::tfplugin::value::{
    Type, Value, ValueError, decode_json, decode_msgpack, encode_msgpack,
};

/// Decodes a request's `DynamicValue` (msgpack, else JSON; absent or empty = null).
pub(crate) fn decode_dynamic(
    value: Option<&proto::DynamicValue>,
    ty: &Type,
) -> Result<Value, ValueError> {
    match value {
        Some(v) if !v.msgpack.is_empty() => decode_msgpack(&v.msgpack, ty),
        Some(v) if !v.json.is_empty() => decode_json(&v.json, ty),
        _ => Ok(Value::Null),
    }
}

/// Encodes a response value as msgpack (the only form every Terraform version accepts).
pub(crate) fn encode_dynamic(value: &Value, ty: &Type) -> Result<proto::DynamicValue, ValueError> {
    Ok(proto::DynamicValue {
        msgpack: encode_msgpack(value, ty)?,
        json: Vec::new(),
    })
}

pub(crate) fn path_to_proto(path: &AttributePath) -> proto::AttributePath {
    use proto::attribute_path::step::Selector;
    let steps = path
        .steps()
        .iter()
        .map(|step| proto::attribute_path::Step {
            selector: Some(match step {
                PathStep::Attribute(name) => Selector::AttributeName(name.clone()),
                PathStep::Key(key) => Selector::ElementKeyString(key.clone()),
                PathStep::Index(index) => Selector::ElementKeyInt(*index),
            }),
        })
        .collect();
    proto::AttributePath { steps }
}

pub(crate) fn diagnostic_to_proto(diagnostic: &Diagnostic) -> proto::Diagnostic {
    use proto::diagnostic::Severity as Proto;
    proto::Diagnostic {
        severity: match diagnostic.severity {
            Severity::Error => Proto::Error,
            Severity::Warning => Proto::Warning,
        } as i32,
        summary: diagnostic.summary.clone(),
        detail: diagnostic.detail.clone(),
        attribute: diagnostic
            .path
            .as_ref()
            .filter(|p| !p.is_empty())
            .map(path_to_proto),
    }
}

pub(crate) fn diagnostics_to_proto(diagnostics: &Diagnostics) -> Vec<proto::Diagnostic> {
    diagnostics.iter().map(diagnostic_to_proto).collect()
}

fn description_kind(markdown: bool) -> i32 {
    if markdown {
        proto::StringKind::Markdown as i32
    } else {
        proto::StringKind::Plain as i32
    }
}

pub(crate) fn schema_to_proto(schema: &Schema) -> proto::Schema {
    let mut block = block_to_proto(schema.root_block());
    block.version = schema.schema_version();
    proto::Schema {
        version: schema.schema_version(),
        block: Some(block),
    }
}

fn block_to_proto(block: &Block) -> proto::schema::Block {
    use proto::schema::nested_block::NestingMode as Proto;
    proto::schema::Block {
        version: 0,
        attributes: block.attrs().iter().map(attribute_to_proto).collect(),
        block_types: block
            .nested_blocks()
            .iter()
            .map(|nested| proto::schema::NestedBlock {
                type_name: nested.type_name().to_owned(),
                block: Some(block_to_proto(nested.body())),
                nesting: match nested.nesting() {
                    BlockNesting::Single => Proto::Single,
                    BlockNesting::Group => Proto::Group,
                    BlockNesting::List => Proto::List,
                    BlockNesting::Set => Proto::Set,
                    BlockNesting::Map => Proto::Map,
                } as i32,
                min_items: nested.min(),
                max_items: nested.max(),
            })
            .collect(),
        description: block.markdown_description_text().to_owned(),
        description_kind: description_kind(block.has_markdown_description()),
        deprecated: block.deprecation().is_some(),
        deprecation_message: block.deprecation().unwrap_or_default().to_owned(),
    }
}

fn attribute_to_proto(attr: &Attribute) -> proto::schema::Attribute {
    use proto::schema::object::NestingMode as Proto;
    let (type_json, nested_type) = match attr.kind() {
        AttributeKind::Typed(ty) => (ty.to_json_bytes(), None),
        AttributeKind::Nested {
            nesting,
            attributes,
        } => (
            Vec::new(),
            Some(proto::schema::Object {
                attributes: attributes.iter().map(attribute_to_proto).collect(),
                nesting: match nesting {
                    NestingMode::Single => Proto::Single,
                    NestingMode::List => Proto::List,
                    NestingMode::Set => Proto::Set,
                    NestingMode::Map => Proto::Map,
                } as i32,
                ..Default::default()
            }),
        ),
    };
    proto::schema::Attribute {
        name: attr.name().to_owned(),
        r#type: type_json,
        nested_type,
        description: attr.markdown_description_text().to_owned(),
        required: attr.is_required(),
        optional: attr.is_optional(),
        computed: attr.is_computed(),
        sensitive: attr.is_sensitive(),
        description_kind: description_kind(attr.has_markdown_description()),
        deprecated: attr.deprecation().is_some(),
        write_only: attr.is_write_only(),
        deprecation_message: attr.deprecation().unwrap_or_default().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tfplugin::schema::NestedBlock;

    #[test]
    fn schema_converts_flags_types_and_nesting() {
        let schema = Schema::new()
            .version(2)
            .markdown_description("A **thing**")
            .attribute(
                Attribute::string("token")
                    .optional()
                    .sensitive()
                    .description("API token"),
            )
            .attribute(
                Attribute::single_nested("pool", [Attribute::number("count").required()])
                    .required(),
            )
            .block(NestedBlock::list("rule", crate::tfplugin::schema::Block::new()).max_items(3));
        let proto = schema_to_proto(&schema);
        assert_eq!(proto.version, 2);
        let block = proto.block.unwrap();
        assert_eq!(block.description, "A **thing**");
        assert_eq!(block.description_kind, proto::StringKind::Markdown as i32);
        let token = &block.attributes[0];
        assert!(token.sensitive && token.optional && !token.required);
        assert_eq!(token.r#type, br#""string""#);
        assert_eq!(token.description_kind, proto::StringKind::Plain as i32);
        let pool = &block.attributes[1];
        assert!(pool.r#type.is_empty());
        let nested = pool.nested_type.as_ref().unwrap();
        assert_eq!(
            nested.nesting,
            proto::schema::object::NestingMode::Single as i32
        );
        assert_eq!(nested.attributes[0].r#type, br#""number""#);
        assert_eq!(block.block_types[0].max_items, 3);
        assert_eq!(
            block.block_types[0].nesting,
            proto::schema::nested_block::NestingMode::List as i32
        );
    }

    #[test]
    fn paths_and_diagnostics_convert() {
        use proto::attribute_path::step::Selector;
        let path = AttributePath::root("labels").key("team").index(1);
        let d = diagnostic_to_proto(&Diagnostic::warning("w", "d").at(path));
        assert_eq!(d.severity, proto::diagnostic::Severity::Warning as i32);
        let steps: Vec<_> = d
            .attribute
            .unwrap()
            .steps
            .into_iter()
            .map(|s| s.selector.unwrap())
            .collect();
        assert_eq!(
            steps,
            [
                Selector::AttributeName("labels".into()),
                Selector::ElementKeyString("team".into()),
                Selector::ElementKeyInt(1)
            ]
        );
    }
}
