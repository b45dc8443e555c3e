//! The msgpack wire form of values (terraform `docs/plugin-protocol/object-wire-format.md`).
//!
//! Decoding accepts every representation the spec allows (ints, float64s and decimal strings for
//! numbers; any extension as unknown); encoding picks the most compact exact one.

use std::collections::BTreeMap;

use rmpv::Value as Wire;

use super::{Number, Type, Value, ValueError};
use crate::tfplugin::diag::AttributePath;

/// The unknown value: fixext1 with extension type 0 (the payload is ignored by readers).
const UNKNOWN: [u8; 3] = [0xd4, 0x00, 0x00];

/// How deeply a value may nest. Terraform's values nest as deep as the schema (a handful of
/// levels) or, for dynamic values such as Helm values, as deep as a user writes them; decoding
/// recurses, so a hostile message nested thousands deep must be refused before it exhausts a
/// worker thread's stack (rmpv's own limit of 1024 is too deep for that in debug builds).
const MAX_NESTING: usize = 128;

/// Decodes a msgpack `DynamicValue` of type `ty`.
pub fn decode_msgpack(bytes: &[u8], ty: &Type) -> Result<Value, ValueError> {
    let mut reader = bytes;
    let wire = rmpv::decode::read_value_with_max_depth(&mut reader, MAX_NESTING)
        .map_err(|e| malformed(&AttributePath::empty(), e))?;
    if !reader.is_empty() {
        return Err(malformed(
            &AttributePath::empty(),
            format!("{} trailing bytes", reader.len()),
        ));
    }
    from_wire(wire, ty, &AttributePath::empty())
}

/// Encodes `value` as msgpack for type `ty`.
pub fn encode_msgpack(value: &Value, ty: &Type) -> Result<Vec<u8>, ValueError> {
    let mut out = Vec::new();
    write(value, ty, &AttributePath::empty(), &mut out)?;
    Ok(out)
}

fn malformed(path: &AttributePath, reason: impl ToString) -> ValueError {
    ValueError::Malformed {
        path: path.clone(),
        format: "msgpack",
        reason: reason.to_string(),
    }
}

fn wire_kind(wire: &Wire) -> String {
    match wire {
        Wire::Nil => "nil",
        Wire::Boolean(_) => "bool",
        Wire::Integer(_) => "integer",
        Wire::F32(_) | Wire::F64(_) => "float",
        Wire::String(_) => "string",
        Wire::Binary(_) => "binary",
        Wire::Array(_) => "array",
        Wire::Map(_) => "map",
        Wire::Ext(..) => "extension",
    }
    .to_owned()
}

fn from_wire(wire: Wire, ty: &Type, path: &AttributePath) -> Result<Value, ValueError> {
    let mismatch = |wire: &Wire| ValueError::TypeMismatch {
        path: path.clone(),
        expected: ty.to_string(),
        found: wire_kind(wire),
    };
    Ok(match (ty, wire) {
        (_, Wire::Nil) => Value::Null,
        (_, Wire::Ext(..)) => Value::Unknown,
        (Type::Dynamic, Wire::Array(mut pair)) if pair.len() == 2 => {
            let value = pair.pop().unwrap_or(Wire::Nil);
            let type_bytes = match pair.pop() {
                Some(Wire::Binary(b)) => b,
                Some(Wire::String(s)) => s.into_bytes(),
                other => {
                    return Err(malformed(
                        path,
                        format!("dynamic type must be bytes, got {other:?}"),
                    ));
                }
            };
            let actual = Type::from_json_bytes(&type_bytes).map_err(|e| malformed(path, e))?;
            from_wire(value, &actual, path)?
        }
        (Type::String, Wire::String(s)) => match s.into_str() {
            Some(text) => Value::String(text),
            None => return Err(malformed(path, "string is not UTF-8")),
        },
        (Type::Number, Wire::Integer(i)) => {
            let number = match (i.as_i64(), i.as_u64()) {
                (Some(v), _) => Number::from(v),
                (None, Some(v)) => Number::from(v),
                (None, None) => return Err(malformed(path, "integer out of range")),
            };
            Value::Number(number)
        }
        (Type::Number, Wire::F64(f)) => float(f, path)?,
        (Type::Number, Wire::F32(f)) => float(f64::from(f), path)?,
        (Type::Number, Wire::String(s)) => {
            let text = s
                .into_str()
                .ok_or_else(|| malformed(path, "number string is not UTF-8"))?;
            Value::Number(text.parse().map_err(|e| malformed(path, e))?)
        }
        (Type::Bool, Wire::Boolean(b)) => Value::Bool(b),
        (Type::List(e), Wire::Array(items)) => Value::List(items_from_wire(items, e, path)?),
        (Type::Set(e), Wire::Array(items)) => Value::Set(items_from_wire(items, e, path)?),
        (Type::Tuple(types), Wire::Array(items)) => {
            if types.len() != items.len() {
                return Err(mismatch(&Wire::Array(items)));
            }
            let values = items
                .into_iter()
                .zip(types)
                .enumerate()
                .map(|(i, (w, t))| from_wire(w, t, &path.index(i)))
                .collect::<Result<_, _>>()?;
            Value::Tuple(values)
        }
        (Type::Map(e), Wire::Map(entries)) => {
            let mut map = BTreeMap::new();
            for (k, v) in entries {
                let key = map_key(k, path)?;
                let value = from_wire(v, e, &path.key(key.clone()))?;
                map.insert(key, value);
            }
            Value::Map(map)
        }
        (Type::Object(object), Wire::Map(entries)) => {
            let mut attrs = BTreeMap::new();
            for (k, v) in entries {
                let name = map_key(k, path)?;
                let Some(attr_ty) = object.attributes.get(&name) else {
                    return Err(ValueError::Attribute {
                        path: path.clone(),
                        name,
                        problem: "unexpected",
                    });
                };
                let value = from_wire(v, attr_ty, &path.attr(name.clone()))?;
                attrs.insert(name, value);
            }
            for name in object.attributes.keys() {
                attrs.entry(name.clone()).or_insert(Value::Null);
            }
            Value::Object(attrs)
        }
        (_, wire) => return Err(mismatch(&wire)),
    })
}

fn float(f: f64, path: &AttributePath) -> Result<Value, ValueError> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| malformed(path, "number is NaN or infinite"))
}

fn map_key(key: Wire, path: &AttributePath) -> Result<String, ValueError> {
    match key {
        Wire::String(s) => s
            .into_str()
            .ok_or_else(|| malformed(path, "map key is not UTF-8")),
        other => Err(malformed(
            path,
            format!("map key must be a string, got {}", wire_kind(&other)),
        )),
    }
}

fn items_from_wire(
    items: Vec<Wire>,
    element: &Type,
    path: &AttributePath,
) -> Result<Vec<Value>, ValueError> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, w)| from_wire(w, element, &path.index(i)))
        .collect()
}

fn io(path: &AttributePath) -> impl Fn(rmp::encode::ValueWriteError) -> ValueError + '_ {
    move |e| malformed(path, e)
}

fn write(
    value: &Value,
    ty: &Type,
    path: &AttributePath,
    out: &mut Vec<u8>,
) -> Result<(), ValueError> {
    let mismatch = || ValueError::TypeMismatch {
        path: path.clone(),
        expected: ty.to_string(),
        found: value.kind_name().to_owned(),
    };
    match (ty, value) {
        (_, Value::Null) => {
            rmp::encode::write_nil(out).map_err(|e| malformed(path, e))?;
        }
        (_, Value::Unknown) => out.extend_from_slice(&UNKNOWN),
        (Type::Dynamic, value) => {
            let actual = value.infer_type();
            rmp::encode::write_array_len(out, 2).map_err(io(path))?;
            rmp::encode::write_bin(out, &actual.to_json_bytes()).map_err(io(path))?;
            write(value, &actual, path, out)?;
        }
        (Type::String, Value::String(s)) => rmp::encode::write_str(out, s).map_err(io(path))?,
        (Type::Number, Value::Number(n)) => {
            if let Some(i) = n.to_i64() {
                rmp::encode::write_sint(out, i).map_err(io(path))?;
            } else if let Some(u) = n.to_u64() {
                rmp::encode::write_uint(out, u).map_err(io(path))?;
            } else {
                rmp::encode::write_str(out, &n.to_string()).map_err(io(path))?;
            }
        }
        (Type::Bool, Value::Bool(b)) => {
            rmp::encode::write_bool(out, *b).map_err(|e| malformed(path, e))?
        }
        (Type::List(e), Value::List(items)) | (Type::Set(e), Value::Set(items)) => {
            rmp::encode::write_array_len(out, len32(items.len(), path)?).map_err(io(path))?;
            for (i, item) in items.iter().enumerate() {
                write(item, e, &path.index(i), out)?;
            }
        }
        (Type::Tuple(types), Value::Tuple(items)) if types.len() == items.len() => {
            rmp::encode::write_array_len(out, len32(items.len(), path)?).map_err(io(path))?;
            for (i, (item, t)) in items.iter().zip(types).enumerate() {
                write(item, t, &path.index(i), out)?;
            }
        }
        (Type::Map(e), Value::Map(items)) => {
            rmp::encode::write_map_len(out, len32(items.len(), path)?).map_err(io(path))?;
            for (k, v) in items {
                rmp::encode::write_str(out, k).map_err(io(path))?;
                write(v, e, &path.key(k.clone()), out)?;
            }
        }
        (Type::Object(object), Value::Object(attrs)) => {
            if let Some(extra) = attrs.keys().find(|k| !object.attributes.contains_key(*k)) {
                return Err(ValueError::Attribute {
                    path: path.clone(),
                    name: extra.clone(),
                    problem: "unexpected",
                });
            }
            rmp::encode::write_map_len(out, len32(object.attributes.len(), path)?)
                .map_err(io(path))?;
            for (name, attr_ty) in &object.attributes {
                rmp::encode::write_str(out, name).map_err(io(path))?;
                write(
                    attrs.get(name).unwrap_or(&Value::Null),
                    attr_ty,
                    &path.attr(name.clone()),
                    out,
                )?;
            }
        }
        _ => return Err(mismatch()),
    }
    Ok(())
}

fn len32(len: usize, path: &AttributePath) -> Result<u32, ValueError> {
    u32::try_from(len).map_err(|_| malformed(path, "collection too large for msgpack"))
}
