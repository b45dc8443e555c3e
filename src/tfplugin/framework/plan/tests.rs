//! Default planning and schema validation tests.

use super::*;
use crate::tfplugin::schema::{
    Attribute, Block, NestedBlock, Schema, each_element, one_of, requires_replace,
    use_state_for_unknown,
};
use crate::tfplugin::value::Type;

fn schema() -> Schema {
    Schema::new()
        .attribute(
            Attribute::string("name")
                .required()
                .plan(requires_replace()),
        )
        .attribute(
            Attribute::string("size")
                .optional()
                .validate(one_of(["s", "m"])),
        )
        .attribute(Attribute::number("count").default_value(1))
        .attribute(
            Attribute::string("id")
                .computed()
                .plan(use_state_for_unknown()),
        )
        .attribute(Attribute::string("endpoint").computed())
        .attribute(
            Attribute::string("legacy")
                .optional()
                .deprecated("use size"),
        )
        .attribute(
            Attribute::single_nested(
                "pool",
                [
                    Attribute::string("type").required(),
                    Attribute::string("image").optional().computed(),
                ],
            )
            .optional(),
        )
        .block(NestedBlock::list(
            "node",
            Block::new()
                .attribute(Attribute::string("role").required())
                .attribute(Attribute::string("ip").computed())
                .attribute(
                    Attribute::map("labels", Type::String)
                        .optional()
                        .validate(each_element(one_of(["a"]))),
                ),
        ))
}

fn obj(pairs: &[(&str, Value)]) -> Value {
    Value::object(pairs.iter().map(|(k, v)| (*k, v.clone())))
}

fn node(role: &str, ip: Value) -> Value {
    obj(&[("role", role.into()), ("ip", ip), ("labels", Value::Null)])
}

/// A full object of the schema with the given overrides (everything else null).
fn full(overrides: &[(&str, Value)]) -> Value {
    let mut value = obj(&[
        ("name", Value::Null),
        ("size", Value::Null),
        ("count", Value::Null),
        ("id", Value::Null),
        ("endpoint", Value::Null),
        ("legacy", Value::Null),
        ("pool", Value::Null),
        ("node", Value::List(vec![])),
    ]);
    for (k, v) in overrides {
        value.set_at_path(&AttributePath::root(*k), v.clone());
    }
    value
}

#[test]
fn create_keeps_config_applies_defaults_and_marks_computed_unknown() {
    let s = schema();
    let config = full(&[
        ("name", "a".into()),
        (
            "pool",
            obj(&[("type", "cx22".into()), ("image", Value::Null)]),
        ),
        ("node", Value::List(vec![node("cp", Value::Null)])),
    ]);
    // Terraform's proposal on create equals the config.
    let change = default_plan(s.root_block(), &config, &Value::Null, config.clone());
    let p = &change.planned;
    assert_eq!(p.get("name"), Some(&Value::from("a")));
    assert_eq!(p.get("count"), Some(&Value::from(1)), "default");
    assert_eq!(p.get("id"), Some(&Value::Unknown));
    assert_eq!(p.get("endpoint"), Some(&Value::Unknown));
    assert_eq!(
        p.get("size"),
        Some(&Value::Null),
        "optional, not computed: stays null"
    );
    assert_eq!(
        p.at_path(&AttributePath::root("pool").attr("image")),
        Some(&Value::Unknown)
    );
    assert_eq!(
        p.at_path(&AttributePath::root("node").index(0).attr("ip")),
        Some(&Value::Unknown)
    );
    assert!(change.requires_replace.is_empty(), "create never replaces");
}

#[test]
fn update_keeps_prior_computed_values_and_detects_replacement() {
    let s = schema();
    let prior = full(&[
        ("name", "a".into()),
        ("count", Value::from(1)),
        ("id", "42".into()),
        ("endpoint", "https://x".into()),
        ("node", Value::List(vec![node("cp", "10.0.0.2".into())])),
    ]);
    let config = full(&[
        ("name", "b".into()),
        (
            "node",
            Value::List(vec![node("cp", Value::Null), node("w", Value::Null)]),
        ),
    ]);
    // Terraform proposes prior values for computed attributes that are null in config.
    let proposed = full(&[
        ("name", "b".into()),
        ("count", Value::from(1)),
        ("id", "42".into()),
        ("endpoint", "https://x".into()),
        (
            "node",
            Value::List(vec![node("cp", "10.0.0.2".into()), node("w", Value::Null)]),
        ),
    ]);
    let change = default_plan(s.root_block(), &config, &prior, proposed);
    let p = &change.planned;
    assert_eq!(p.get("id"), Some(&Value::from("42")));
    assert_eq!(p.get("endpoint"), Some(&Value::from("https://x")));
    assert_eq!(
        p.at_path(&AttributePath::root("node").index(0).attr("ip")),
        Some(&Value::from("10.0.0.2"))
    );
    assert_eq!(
        p.at_path(&AttributePath::root("node").index(1).attr("ip")),
        Some(&Value::Unknown),
        "a new block element gets unknown computed values"
    );
    assert_eq!(change.requires_replace, [AttributePath::root("name")]);
}

#[test]
fn unchanged_update_plans_no_change() {
    let s = schema();
    let state = full(&[
        ("name", "a".into()),
        ("count", Value::from(1)),
        ("id", "42".into()),
        ("endpoint", "e".into()),
    ]);
    let config = full(&[("name", "a".into())]);
    let change = default_plan(s.root_block(), &config, &state, state.clone());
    assert_eq!(change.planned, state);
    assert!(change.requires_replace.is_empty());
}

#[test]
fn destroy_plans_null() {
    let s = schema();
    let prior = full(&[("name", "a".into())]);
    let change = default_plan(s.root_block(), &Value::Null, &prior, Value::Null);
    assert_eq!(change.planned, Value::Null);
}

#[test]
fn planned_change_helpers() {
    let mut change = PlannedChange {
        planned: full(&[("name", "a".into())]),
        requires_replace: vec![],
        diagnostics: Diagnostics::new(),
    };
    assert!(change.set_unknown(&AttributePath::root("endpoint")));
    assert!(!change.set_unknown(&AttributePath::root("missing")));
    change.require_replace(AttributePath::root("name"));
    change.require_replace(AttributePath::root("name"));
    assert_eq!(change.requires_replace.len(), 1);
    assert_eq!(change.planned.get("endpoint"), Some(&Value::Unknown));
}

#[test]
fn validation_reports_at_the_narrowest_path() {
    let s = schema();
    let labels = Value::Map([("k".to_owned(), Value::from("b"))].into());
    let config = full(&[
        ("size", "xl".into()),
        ("legacy", "x".into()),
        (
            "node",
            Value::List(vec![obj(&[
                ("role", "cp".into()),
                ("ip", Value::Null),
                ("labels", labels),
            ])]),
        ),
    ]);
    let diags = validate_config(s.root_block(), &config);
    let found: Vec<(bool, String)> = diags
        .iter()
        .map(|d| (d.is_error(), d.path.as_ref().unwrap().to_string()))
        .collect();
    assert_eq!(
        found,
        [
            (true, "size".to_owned()),
            (false, "legacy".to_owned()),
            (true, r#"node[0].labels["k"]"#.to_owned())
        ]
    );
    // Unknown values are not validated (they are checked again at apply).
    let unknown = full(&[("size", Value::Unknown)]);
    assert!(validate_config(s.root_block(), &unknown).is_empty());
}

#[test]
fn write_only_attributes_never_reach_state() {
    let s = Schema::new()
        .attribute(Attribute::string("password").optional().write_only())
        .attribute(
            Attribute::list_nested(
                "users",
                [Attribute::string("secret").optional().write_only()],
            )
            .optional(),
        );
    let mut value = obj(&[
        ("password", "p".into()),
        ("users", Value::List(vec![obj(&[("secret", "s".into())])])),
    ]);
    clear_write_only(s.root_block(), &mut value);
    assert_eq!(
        value,
        obj(&[
            ("password", Value::Null),
            ("users", Value::List(vec![obj(&[("secret", Value::Null)])]))
        ])
    );
}
