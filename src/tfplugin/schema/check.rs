//! Consistency checks of a schema, mirroring the rules Terraform enforces on provider schemas
//! (configschema's `InternalValidate`), so mistakes fail in unit tests with a clear message.

use std::collections::BTreeSet;

use super::{Attribute, Block, BlockNesting, NestingMode, Schema};
use crate::tfplugin::value::Type;

/// One inconsistency in a schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct SchemaProblem {
    /// Dotted path of the attribute or block.
    pub path: String,
    /// What is wrong.
    pub problem: &'static str,
}

impl Schema {
    /// Checks names, flag combinations and nesting limits; returns every problem found.
    pub fn check(&self) -> Result<(), Vec<SchemaProblem>> {
        let mut problems = Vec::new();
        check_block(self.root_block(), "", &mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

/// Terraform's `^[a-z0-9_]+$`.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

fn report(problems: &mut Vec<SchemaProblem>, path: &str, problem: &'static str) {
    problems.push(SchemaProblem {
        path: path.to_owned(),
        problem,
    });
}

const BAD_NAME: &str = "name must be lowercase letters, digits and underscores";

fn check_block(block: &Block, prefix: &str, problems: &mut Vec<SchemaProblem>) {
    let mut seen = BTreeSet::new();
    for attr in block.attrs() {
        let path = join(prefix, attr.name());
        if !seen.insert(attr.name()) {
            report(problems, &path, "declared twice");
        }
        check_attribute(attr, &path, problems);
    }
    for nested in block.nested_blocks() {
        let path = join(prefix, nested.type_name());
        if !seen.insert(nested.type_name()) {
            report(problems, &path, "declared twice");
        }
        if !valid_name(nested.type_name()) {
            report(problems, &path, BAD_NAME);
        }
        let (min, max) = (nested.min(), nested.max());
        if min < 0 || max < 0 {
            report(
                problems,
                &path,
                "min_items and max_items cannot be negative",
            );
        }
        match nested.nesting() {
            BlockNesting::Single if min != max || min > 1 => {
                report(
                    problems,
                    &path,
                    "single blocks take min_items = max_items = 0 or 1",
                );
            }
            BlockNesting::Group | BlockNesting::Map if min != 0 || max != 0 => {
                report(
                    problems,
                    &path,
                    "group and map blocks take no min_items/max_items",
                );
            }
            BlockNesting::List | BlockNesting::Set if max != 0 && min > max => {
                report(problems, &path, "min_items is greater than max_items");
            }
            _ => {}
        }
        if nested.nesting() == BlockNesting::Set && has_dynamic_or_write_only(nested.body()) {
            report(
                problems,
                &path,
                "set blocks cannot contain dynamic or write-only attributes",
            );
        }
        check_block(nested.body(), &path, problems);
    }
}

fn check_attribute(attr: &Attribute, path: &str, problems: &mut Vec<SchemaProblem>) {
    if !valid_name(attr.name()) {
        report(problems, path, BAD_NAME);
    }
    match (attr.is_required(), attr.is_optional(), attr.is_computed()) {
        (true, _, true) => report(problems, path, "cannot be both required and computed"),
        (false, false, false) => report(problems, path, "must be required, optional or computed"),
        _ => {}
    }
    if attr.default().is_some() && !attr.is_computed() {
        report(problems, path, "a default needs optional + computed");
    }
    if attr.is_write_only() && attr.is_computed() {
        report(problems, path, "write-only attributes cannot be computed");
    }
    if let Some((nesting, attributes)) = attr.nested_attributes() {
        let body = Block::new().attributes(attributes.iter().cloned());
        if nesting == NestingMode::Set && has_dynamic_or_write_only(&body) {
            report(
                problems,
                path,
                "set-nested attributes cannot contain dynamic or write-only attributes",
            );
        }
        let mut seen = BTreeSet::new();
        for inner in attributes {
            let inner_path = join(path, inner.name());
            if !seen.insert(inner.name()) {
                report(problems, &inner_path, "declared twice");
            }
            check_attribute(inner, &inner_path, problems);
        }
    }
}

/// True when a block (recursively) holds a `dynamic` type or a write-only attribute, which
/// Terraform forbids inside sets (set elements need a fixed type and a stored value).
fn has_dynamic_or_write_only(block: &Block) -> bool {
    fn dynamic(ty: &Type) -> bool {
        match ty {
            Type::Dynamic => true,
            Type::List(e) | Type::Set(e) | Type::Map(e) => dynamic(e),
            Type::Object(o) => o.attributes.values().any(dynamic),
            Type::Tuple(es) => es.iter().any(dynamic),
            _ => false,
        }
    }
    fn write_only(attr: &Attribute) -> bool {
        attr.is_write_only()
            || attr
                .nested_attributes()
                .is_some_and(|(_, inner)| inner.iter().any(write_only))
    }
    block
        .attrs()
        .iter()
        .any(|a| write_only(a) || dynamic(&a.value_type()))
        || block
            .nested_blocks()
            .iter()
            .any(|b| has_dynamic_or_write_only(b.body()))
}

#[cfg(test)]
mod tests {
    use super::super::{Attribute, NestedBlock};
    use super::*;

    #[test]
    fn reports_every_problem_with_its_path() {
        let schema = Schema::new()
            .attribute(Attribute::string("ok").required())
            .attribute(Attribute::string("ok").optional())
            .attribute(Attribute::string("Bad").optional())
            .attribute(Attribute::string("flagless"))
            .attribute(Attribute::string("both").required().computed())
            .attribute(Attribute::single_nested("obj", [Attribute::number("n")]).optional())
            .block(
                NestedBlock::single("one", Block::new())
                    .min_items(2)
                    .max_items(2),
            )
            .block(NestedBlock::set(
                "dyn",
                Block::new().attribute(Attribute::dynamic("d").optional()),
            ))
            .block(
                NestedBlock::list("many", Block::new().attribute(Attribute::bool("x")))
                    .min_items(3)
                    .max_items(2),
            );
        let found: Vec<String> = schema
            .check()
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            found,
            [
                "ok: declared twice",
                "Bad: name must be lowercase letters, digits and underscores",
                "flagless: must be required, optional or computed",
                "both: cannot be both required and computed",
                "obj.n: must be required, optional or computed",
                "one: single blocks take min_items = max_items = 0 or 1",
                "dyn: set blocks cannot contain dynamic or write-only attributes",
                "many: min_items is greater than max_items",
                "many.x: must be required, optional or computed",
            ]
        );
    }

    #[test]
    fn a_sound_schema_passes() {
        let schema = Schema::new()
            .attribute(Attribute::string("name").required())
            .attribute(Attribute::string("9lives").optional())
            .attribute(Attribute::number("count").default_value(1))
            .attribute(Attribute::string("id").computed())
            .block(
                NestedBlock::single("required_one", Block::new())
                    .min_items(1)
                    .max_items(1),
            )
            .block(NestedBlock::group("group", Block::new()));
        assert_eq!(schema.check(), Ok(()));
    }
}
