//! Consistency checks of a schema, mirroring the rules Terraform enforces on provider schemas
//! (configschema's `InternalValidate`), so mistakes fail in unit tests with a clear message.

use std::collections::BTreeSet;

use super::{Attribute, Block, BlockNesting, Schema};

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
    /// Checks names and flag combinations; returns every problem found.
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

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
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
            report(
                problems,
                &path,
                "name must be lowercase letters, digits and underscores",
            );
        }
        let collection = matches!(nested.nesting(), BlockNesting::List | BlockNesting::Set);
        if !collection && (nested.min() != 0 || nested.max() != 0) {
            report(
                problems,
                &path,
                "min_items/max_items apply only to list and set blocks",
            );
        }
        if nested.max() != 0 && nested.min() > nested.max() {
            report(problems, &path, "min_items is greater than max_items");
        }
        check_block(nested.body(), &path, problems);
    }
}

fn check_attribute(attr: &Attribute, path: &str, problems: &mut Vec<SchemaProblem>) {
    if !valid_name(attr.name()) {
        report(
            problems,
            path,
            "name must be lowercase letters, digits and underscores",
        );
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
    if let Some((_, attributes)) = attr.nested_attributes() {
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
            .block(NestedBlock::single("one", Block::new()).max_items(1))
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
                "one: min_items/max_items apply only to list and set blocks",
                "many: min_items is greater than max_items",
                "many.x: must be required, optional or computed",
            ]
        );
    }

    #[test]
    fn a_sound_schema_passes() {
        let schema = Schema::new()
            .attribute(Attribute::string("name").required())
            .attribute(Attribute::number("count").default_value(1))
            .attribute(Attribute::string("id").computed());
        assert_eq!(schema.check(), Ok(()));
    }
}
