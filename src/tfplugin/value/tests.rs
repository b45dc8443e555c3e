//! Value tests: wire fixtures built by hand from `object-wire-format.md`, msgpack round trips of
//! random typed values (proptest), JSON decoding and the serde bridge.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::*;

fn obj(pairs: &[(&str, Value)]) -> Value {
    Value::object(pairs.iter().map(|(k, v)| (*k, v.clone())))
}

fn num(text: &str) -> Value {
    Value::Number(text.parse().unwrap())
}

// ---- msgpack fixtures (exact bytes) ----

#[test]
fn object_fixture_encodes_every_attribute_in_order() {
    let ty = Type::object([
        ("a", Type::String),
        ("b", Type::Number),
        ("c", Type::Bool),
        ("d", Type::String),
    ]);
    let value = obj(&[
        ("a", Value::from("hi")),
        ("b", Value::from(1)),
        ("c", Value::Bool(true)),
    ]);
    let bytes = encode_msgpack(&value, &ty).unwrap();
    let expected = [
        0x84, 0xa1, b'a', 0xa2, b'h', b'i', 0xa1, b'b', 0x01, 0xa1, b'c', 0xc3, 0xa1, b'd', 0xc0,
    ];
    assert_eq!(bytes, expected);
    let decoded = decode_msgpack(&expected, &ty).unwrap();
    assert_eq!(
        decoded,
        obj(&[
            ("a", "hi".into()),
            ("b", 1.into()),
            ("c", true.into()),
            ("d", Value::Null)
        ])
    );
}

#[test]
fn unknown_is_extension_zero_and_any_extension_decodes_as_unknown() {
    assert_eq!(
        encode_msgpack(&Value::Unknown, &Type::String).unwrap(),
        [0xd4, 0x00, 0x00]
    );
    // Refined unknown (ext 12) with payload {1: false} ("definitely not null").
    assert_eq!(
        decode_msgpack(&[0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc2], &Type::String).unwrap(),
        Value::Unknown
    );
    // Some future extension code.
    assert_eq!(
        decode_msgpack(&[0xd4, 0x2a, 0x00], &Type::Number).unwrap(),
        Value::Unknown
    );
}

#[test]
fn numbers_accept_int_float_and_decimal_string() {
    assert_eq!(
        decode_msgpack(&[0xfb], &Type::Number).unwrap(),
        Value::from(-5)
    );
    let u64_max = [0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert_eq!(
        decode_msgpack(&u64_max, &Type::Number).unwrap(),
        num("18446744073709551615")
    );
    let mut half = vec![0xcb];
    half.extend_from_slice(&0.5f64.to_be_bytes());
    assert_eq!(decode_msgpack(&half, &Type::Number).unwrap(), num("0.5"));
    let text = "123456789012345678901234567890.5";
    let mut big = vec![0xd9, text.len() as u8];
    big.extend_from_slice(text.as_bytes());
    assert_eq!(decode_msgpack(&big, &Type::Number).unwrap(), num(text));
    // Encoding: integers as ints, everything else exactly as a decimal string.
    assert_eq!(
        encode_msgpack(&Value::from(-5), &Type::Number).unwrap(),
        [0xfb]
    );
    assert_eq!(
        encode_msgpack(&num("18446744073709551615"), &Type::Number).unwrap(),
        u64_max
    );
    assert_eq!(encode_msgpack(&num(text), &Type::Number).unwrap(), big);
    assert_eq!(
        encode_msgpack(&num("1e3"), &Type::Number).unwrap(),
        [0xcd, 0x03, 0xe8]
    );
}

#[test]
fn collections_fixture() {
    let list = [0x92, 0xa1, b'a', 0xa1, b'b'];
    assert_eq!(
        decode_msgpack(&list, &Type::list(Type::String)).unwrap(),
        Value::List(vec!["a".into(), "b".into()])
    );
    assert_eq!(
        decode_msgpack(&list, &Type::set(Type::String)).unwrap(),
        Value::Set(vec!["b".into(), "a".into()]),
        "sets compare without order"
    );
    let map = [0x81, 0xa1, b'k', 0x01];
    let decoded = decode_msgpack(&map, &Type::map(Type::Number)).unwrap();
    assert_eq!(
        decoded,
        Value::Map(BTreeMap::from([("k".to_owned(), Value::from(1))]))
    );
    assert_eq!(
        encode_msgpack(&decoded, &Type::map(Type::Number)).unwrap(),
        map
    );
    let tuple = [0x92, 0xa1, b'x', 0xc2];
    let ty = Type::Tuple(vec![Type::String, Type::Bool]);
    assert_eq!(
        decode_msgpack(&tuple, &ty).unwrap(),
        Value::Tuple(vec!["x".into(), false.into()])
    );
}

#[test]
fn dynamic_carries_its_type_as_json_bytes() {
    let mut bytes = vec![0x92, 0xc4, 0x08];
    bytes.extend_from_slice(br#""string""#);
    bytes.extend_from_slice(&[0xa1, b'x']);
    assert_eq!(
        decode_msgpack(&bytes, &Type::Dynamic).unwrap(),
        Value::from("x")
    );
    assert_eq!(
        encode_msgpack(&Value::from("x"), &Type::Dynamic).unwrap(),
        bytes
    );
    // Null and unknown of unknown type travel bare.
    assert_eq!(
        encode_msgpack(&Value::Null, &Type::Dynamic).unwrap(),
        [0xc0]
    );
    assert_eq!(
        decode_msgpack(&[0xc0], &Type::Dynamic).unwrap(),
        Value::Null
    );
    // A list of objects keeps its shape through the inferred type.
    let value = Value::List(vec![obj(&[("n", Value::from(1))])]);
    let round = decode_msgpack(
        &encode_msgpack(&value, &Type::Dynamic).unwrap(),
        &Type::Dynamic,
    )
    .unwrap();
    assert_eq!(round, value);
}

#[test]
fn mismatches_report_the_path() {
    let ty = Type::object([("xs", Type::list(Type::Bool))]);
    let bytes = [0x81, 0xa2, b'x', b's', 0x91, 0xa1, b'y'];
    let err = decode_msgpack(&bytes, &ty).unwrap_err();
    assert_eq!(err.path().to_string(), "xs[0]");
    assert!(err.to_string().contains("expected \"bool\""), "{err}");
    let err = decode_msgpack(&[0x81, 0xa1, b'z', 0xc0], &ty).unwrap_err();
    assert!(matches!(
        err,
        ValueError::Attribute {
            problem: "unexpected",
            ..
        }
    ));
    assert!(
        decode_msgpack(&[0x92, 0x01], &Type::list(Type::Number)).is_err(),
        "truncated"
    );
    assert!(
        decode_msgpack(&[0x01, 0x02], &Type::Number).is_err(),
        "trailing bytes"
    );
    let err = encode_msgpack(&Value::from("x"), &Type::Number).unwrap_err();
    assert!(matches!(err, ValueError::TypeMismatch { .. }));
}

// ---- msgpack round trips of random values ----

fn arb_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
        ("-?[0-9]{1,40}", "[0-9]{0,30}").prop_map(|(i, f)| format!("{i}.{f}1").parse().unwrap()),
    ]
}

fn arb_type() -> impl Strategy<Value = Type> {
    let leaf = prop_oneof![
        Just(Type::String),
        Just(Type::Number),
        Just(Type::Bool),
        Just(Type::Dynamic)
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(Type::list),
            inner.clone().prop_map(Type::set),
            inner.clone().prop_map(Type::map),
            prop::collection::btree_map("[a-z_]{1,6}", inner.clone(), 0..4).prop_map(
                |attributes| Type::Object(ObjectType {
                    attributes,
                    optional: Default::default()
                })
            ),
            prop::collection::vec(inner, 0..3).prop_map(Type::Tuple),
        ]
    })
}

fn arb_dynamic_content() -> BoxedStrategy<Value> {
    prop_oneof![
        any::<String>().prop_map(Value::String),
        arb_number().prop_map(Value::Number),
        any::<bool>().prop_map(Value::Bool),
        prop::collection::vec("[a-z]{0,4}".prop_map(Value::String), 0..3).prop_map(Value::List),
        prop::collection::btree_map("[a-z]{1,4}", arb_number().prop_map(Value::Number), 0..3)
            .prop_map(Value::Object),
    ]
    .boxed()
}

fn arb_value(ty: &Type) -> BoxedStrategy<Value> {
    let known: BoxedStrategy<Value> = match ty {
        Type::String => any::<String>().prop_map(Value::String).boxed(),
        Type::Number => arb_number().prop_map(Value::Number).boxed(),
        Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Type::Dynamic => arb_dynamic_content(),
        Type::List(e) => prop::collection::vec(arb_value(e), 0..3)
            .prop_map(Value::List)
            .boxed(),
        Type::Set(e) => prop::collection::vec(arb_value(e), 0..3)
            .prop_map(Value::Set)
            .boxed(),
        Type::Map(e) => prop::collection::btree_map(".{0,5}", arb_value(e), 0..3)
            .prop_map(Value::Map)
            .boxed(),
        Type::Object(o) => o
            .attributes
            .iter()
            .map(|(k, t)| {
                let k = k.clone();
                arb_value(t).prop_map(move |v| (k.clone(), v))
            })
            .collect::<Vec<_>>()
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect()))
            .boxed(),
        Type::Tuple(ts) => ts
            .iter()
            .map(arb_value)
            .collect::<Vec<_>>()
            .prop_map(Value::Tuple)
            .boxed(),
    };
    prop_oneof![1 => Just(Value::Null), 1 => Just(Value::Unknown), 8 => known].boxed()
}

fn arb_typed_value() -> impl Strategy<Value = (Type, Value)> {
    arb_type().prop_flat_map(|ty| {
        let values = arb_value(&ty);
        (Just(ty), values)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn msgpack_round_trip((ty, value) in arb_typed_value()) {
        let bytes = encode_msgpack(&value, &ty).unwrap();
        let decoded = decode_msgpack(&bytes, &ty).unwrap();
        prop_assert_eq!(decoded, value);
    }

    #[test]
    fn number_text_round_trip(n in arb_number()) {
        prop_assert_eq!(n.to_string().parse::<Number>().unwrap(), n);
    }

    #[test]
    fn type_json_round_trip(ty in arb_type()) {
        prop_assert_eq!(Type::from_json_bytes(&ty.to_json_bytes()).unwrap(), ty);
    }
}

// ---- JSON ----

#[test]
fn json_keeps_big_numbers_and_decodes_dynamic() {
    let ty = Type::object([
        ("n", Type::Number),
        ("d", Type::Dynamic),
        ("s", Type::set(Type::String)),
    ]);
    let json = br#"{"n": 123456789012345678901234567890.123, "d": {"type": ["list","number"], "value": [1, 2.5]}, "s": ["a\u00e9\ud83d\ude00\n"]}"#;
    let value = decode_json(json, &ty).unwrap();
    assert_eq!(
        value.get("n"),
        Some(&num("123456789012345678901234567890.123"))
    );
    assert_eq!(
        value.get("d"),
        Some(&Value::List(vec![num("1"), num("2.5")]))
    );
    assert_eq!(
        value.get("s"),
        Some(&Value::Set(vec![Value::from("aé😀\n")]))
    );
}

#[test]
fn lenient_json_drops_removed_attributes() {
    let ty = Type::object([("kept", Type::String), ("added", Type::Bool)]);
    let json = br#"{"kept": "x", "removed": {"deep": [1]}}"#;
    assert!(decode_json(json, &ty).is_err());
    let value = decode_json_lenient(json, &ty).unwrap();
    assert_eq!(value, obj(&[("kept", "x".into()), ("added", Value::Null)]));
}

#[test]
fn malformed_json_is_an_error() {
    for bad in [
        &b"{"[..],
        b"[1,]",
        b"\"unterminated",
        b"{\"a\" 1}",
        b"nul",
        b"1 2",
        b"\"\\ud800\"",
    ] {
        assert!(
            decode_json(bad, &Type::Dynamic).is_err() || decode_json(bad, &Type::Number).is_err(),
            "{bad:?}"
        );
    }
    assert!(decode_json(b"1.2.3", &Type::Number).is_err());
}

// ---- serde bridge ----

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Pool {
    name: String,
    count: u32,
    size: Number,
    labels: BTreeMap<String, String>,
    id: Known<String>,
    note: Option<String>,
    mode: Mode,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Mode {
    Rolling,
    Replace,
}

fn pool_type() -> Type {
    Type::object([
        ("name", Type::String),
        ("count", Type::Number),
        ("size", Type::Number),
        ("labels", Type::map(Type::String)),
        ("id", Type::String),
        ("note", Type::String),
        ("mode", Type::String),
        ("extra", Type::Bool),
    ])
}

#[test]
fn serde_round_trip_through_typed_value() {
    let pool = Pool {
        name: "workers".into(),
        count: 3,
        size: "1.000000000000000000001".parse().unwrap(),
        labels: BTreeMap::from([("team".into(), "a".into())]),
        id: Known::Unknown,
        note: None,
        mode: Mode::Rolling,
    };
    let value = Value::encode(&pool, &pool_type()).unwrap();
    assert_eq!(value.get("id"), Some(&Value::Unknown));
    assert_eq!(
        value.get("extra"),
        Some(&Value::Null),
        "attributes the struct lacks are null"
    );
    assert_eq!(
        value.get("labels"),
        Some(&Value::Map(BTreeMap::from([("team".into(), "a".into())])))
    );
    assert_eq!(value.get("mode"), Some(&Value::from("rolling")));
    let back: Pool = value.decode().unwrap();
    assert_eq!(back, pool);
}

#[test]
fn serde_errors_name_the_attribute() {
    let mut value = Value::encode(
        &Pool {
            name: "n".into(),
            count: 1,
            size: Number::from(1i64),
            labels: BTreeMap::new(),
            id: Known::Null,
            note: Some("x".into()),
            mode: Mode::Replace,
        },
        &pool_type(),
    )
    .unwrap();
    value.set_at_path(
        &crate::tfplugin::diag::AttributePath::root("count"),
        Value::Unknown,
    );
    let err = value.decode::<Pool>().unwrap_err();
    assert_eq!(err.to_string(), "count: value is not known yet");
    value.set_at_path(
        &crate::tfplugin::diag::AttributePath::root("count"),
        Value::from(-1),
    );
    let err = value.decode::<Pool>().unwrap_err();
    assert_eq!(err.path().to_string(), "count", "{err}");
    value.set_at_path(
        &crate::tfplugin::diag::AttributePath::root("count"),
        Value::from(1),
    );
    value.set_at_path(
        &crate::tfplugin::diag::AttributePath::root("name"),
        Value::Null,
    );
    let err = value.decode::<Pool>().unwrap_err();
    assert_eq!(err.to_string(), "name: null value, expected a string");
}

#[test]
fn known_maps_null_unknown_and_values() {
    assert_eq!(Value::Null.decode::<Known<u8>>().unwrap(), Known::Null);
    assert_eq!(
        Value::Unknown.decode::<Known<u8>>().unwrap(),
        Known::Unknown
    );
    assert_eq!(
        Value::from(7).decode::<Known<u8>>().unwrap(),
        Known::Value(7)
    );
    assert!(Value::Unknown.decode::<Option<u8>>().is_err());
    assert_eq!(
        Value::from(7).decode::<String>().unwrap(),
        "7",
        "numbers read as strings exactly"
    );
}

#[test]
fn conform_rejects_undeclared_attributes() {
    #[derive(Serialize)]
    struct Extra {
        nope: bool,
    }
    let err =
        Value::encode(&Extra { nope: true }, &Type::object([("yes", Type::Bool)])).unwrap_err();
    assert!(
        matches!(
            err,
            ValueError::Attribute {
                problem: "unexpected",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn paths_navigate_values() {
    let mut value = obj(&[("xs", Value::List(vec![obj(&[("k", "v".into())])]))]);
    let path = crate::tfplugin::diag::AttributePath::root("xs")
        .index(0)
        .attr("k");
    assert_eq!(value.at_path(&path), Some(&Value::from("v")));
    assert!(value.set_at_path(&path, Value::Unknown));
    assert!(!value.is_wholly_known());
    assert!(!value.set_at_path(
        &crate::tfplugin::diag::AttributePath::root("nope"),
        Value::Null
    ));
}

// ---- hostile input: whatever arrives on the wire is refused, never a panic or a huge allocation ----

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn msgpack_decoding_of_arbitrary_bytes_never_panics(
        bytes in proptest::collection::vec(any::<u8>(), 0..256),
        ty in arb_type(),
    ) {
        let _ = decode_msgpack(&bytes, &ty);
    }

    #[test]
    fn msgpack_decoding_of_damaged_values_never_panics(
        (ty, value) in arb_typed_value(),
        damage in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut bytes = encode_msgpack(&value, &ty).unwrap();
        for (at, byte) in damage {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = decode_msgpack(&bytes, &ty);
    }

    #[test]
    fn json_decoding_of_arbitrary_text_never_panics(text in "\\PC{0,200}", ty in arb_type()) {
        let _ = decode_json(text.as_bytes(), &ty);
        let _ = decode_json_lenient(text.as_bytes(), &ty);
        let _ = Type::from_json_bytes(text.as_bytes());
    }
}

#[test]
fn msgpack_length_prefixes_claiming_gigabytes_are_refused_without_allocating_them() {
    // array32, map32, str32 and bin32 each announcing 4 GiB that never follow.
    for marker in [0xdd_u8, 0xdf, 0xdb, 0xc6] {
        let bytes = [marker, 0xff, 0xff, 0xff, 0xff];
        for ty in [
            Type::Dynamic,
            Type::String,
            Type::list(Type::String),
            Type::map(Type::String),
        ] {
            assert!(
                decode_msgpack(&bytes, &ty).is_err(),
                "{marker:#x} as {ty:?}"
            );
        }
    }
}

#[test]
fn deeply_nested_msgpack_is_refused_without_exhausting_the_stack() {
    // One-element arrays nested around a nil, deeper than any Terraform value.
    for depth in [1_000, 100_000] {
        let mut bytes = vec![0x91_u8; depth];
        bytes.push(0xc0);
        assert!(decode_msgpack(&bytes, &Type::Dynamic).is_err(), "{depth}");
        let json = format!("{}null{}", "[".repeat(depth), "]".repeat(depth));
        assert!(
            decode_json(json.as_bytes(), &Type::Dynamic).is_err(),
            "{depth}"
        );
    }
    // What real configurations nest (Helm values a few dozen levels deep) still decodes.
    let (mut ty, mut value) = (Type::String, Value::String("deep".into()));
    for _ in 0..60 {
        ty = Type::list(ty);
        value = Value::List(vec![value]);
    }
    let bytes = encode_msgpack(&value, &ty).unwrap();
    assert_eq!(decode_msgpack(&bytes, &ty).unwrap(), value);
}
