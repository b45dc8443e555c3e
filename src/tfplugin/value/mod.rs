//! Terraform (cty) values: null, unknown and known values of every type, with their msgpack and
//! JSON wire forms and a serde bridge to plain Rust structs.
//!
//! A [`Value`] does not carry its [`Type`]: encoding and decoding are driven by the schema's type,
//! as in go-cty. Values under a `dynamic` type are encoded with the type inferred from the value
//! ([`Value::infer_type`]).

mod json;
mod msgpack;
mod number;
mod serde_de;
mod serde_ser;
mod ty;

use std::collections::BTreeMap;

pub use json::{decode_json, decode_json_lenient};
pub use msgpack::{decode_msgpack, encode_msgpack};
pub use number::{Number, ParseNumberError};
pub use serde_de::Known;
pub use ty::{ObjectType, Type, TypeError};

use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics, PathStep};

/// A Terraform value. Null and unknown are values of any type.
#[derive(Debug, Clone)]
pub enum Value {
    /// The absence of a value (`null` in HCL; an unset optional attribute).
    Null,
    /// A value only known after apply. Refinements (ext 12) are accepted and dropped.
    Unknown,
    /// A `bool`.
    Bool(bool),
    /// A `number`.
    Number(Number),
    /// A `string`.
    String(String),
    /// A `list(T)`.
    List(Vec<Value>),
    /// A `set(T)`; order is not significant (equality ignores it).
    Set(Vec<Value>),
    /// A `map(T)`.
    Map(BTreeMap<String, Value>),
    /// An `object({...})` or a block: every attribute of the type is present (null when unset).
    Object(BTreeMap<String, Value>),
    /// A `tuple([...])`.
    Tuple(Vec<Value>),
}

/// A value does not fit the type it is decoded or encoded with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// The wire data or value has a different shape than the type requires.
    #[error("{path}: expected {expected}, found {found}")]
    TypeMismatch {
        /// Where in the value.
        path: AttributePath,
        /// The type (or kind) required there.
        expected: String,
        /// What was there instead.
        found: String,
    },
    /// An object lacks an attribute its type requires, or has one it does not declare.
    #[error("{path}: {problem} attribute {name:?}")]
    Attribute {
        /// Path of the object.
        path: AttributePath,
        /// The attribute name.
        name: String,
        /// "missing" or "unexpected".
        problem: &'static str,
    },
    /// The bytes are not valid msgpack or JSON.
    #[error("{path}: malformed {format} data: {reason}")]
    Malformed {
        /// Where decoding stopped.
        path: AttributePath,
        /// "msgpack" or "JSON".
        format: &'static str,
        /// What the parser reported.
        reason: String,
    },
    /// A value was unknown where a known value is required (e.g. mapping into a plain struct
    /// field, or state after apply).
    #[error("{path}: value is not known yet")]
    Unknown {
        /// Where the unknown value is.
        path: AttributePath,
    },
    /// A custom message from serde (e.g. a missing struct field).
    #[error("{path}: {message}")]
    Custom {
        /// Where in the value.
        path: AttributePath,
        /// The message.
        message: String,
    },
}

impl ValueError {
    /// The path the error refers to.
    #[must_use]
    pub fn path(&self) -> &AttributePath {
        match self {
            ValueError::TypeMismatch { path, .. }
            | ValueError::Attribute { path, .. }
            | ValueError::Malformed { path, .. }
            | ValueError::Unknown { path }
            | ValueError::Custom { path, .. } => path,
        }
    }
}

impl From<ValueError> for Diagnostic {
    fn from(error: ValueError) -> Self {
        let path = error.path().clone();
        let diagnostic = Diagnostic::error("Invalid value", error.to_string());
        if path.is_empty() {
            diagnostic
        } else {
            diagnostic.at(path)
        }
    }
}

impl From<ValueError> for Diagnostics {
    fn from(error: ValueError) -> Self {
        Diagnostic::from(error).into()
    }
}

impl PartialEq for Value {
    /// Structural equality; sets compare as multisets.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) | (Value::Unknown, Value::Unknown) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::List(a), Value::List(b)) | (Value::Tuple(a), Value::Tuple(b)) => a == b,
            (Value::Map(a), Value::Map(b)) | (Value::Object(a), Value::Object(b)) => a == b,
            (Value::Set(a), Value::Set(b)) => {
                let mut used = vec![false; b.len()];
                a.len() == b.len()
                    && a.iter().all(|x| {
                        let found = b.iter().enumerate().position(|(i, y)| !used[i] && x == y);
                        found.map(|i| used[i] = true).is_some()
                    })
            }
            _ => false,
        }
    }
}

impl Value {
    /// An object value from `(name, value)` pairs.
    #[must_use]
    pub fn object<K: Into<String>>(attributes: impl IntoIterator<Item = (K, Value)>) -> Self {
        Value::Object(attributes.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }

    /// A string value.
    #[must_use]
    pub fn string(text: impl Into<String>) -> Self {
        Value::String(text.into())
    }

    /// A number value.
    #[must_use]
    pub fn number(number: impl Into<Number>) -> Self {
        Value::Number(number.into())
    }

    /// True for [`Value::Null`].
    #[must_use]
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// False for [`Value::Unknown`] (nested unknowns do not count: see [`Value::is_wholly_known`]).
    #[must_use]
    pub fn is_known(&self) -> bool {
        !matches!(self, Value::Unknown)
    }

    /// True when neither this value nor anything inside it is unknown.
    #[must_use]
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
                items.iter().all(Value::is_wholly_known)
            }
            Value::Map(items) | Value::Object(items) => items.values().all(Value::is_wholly_known),
            _ => true,
        }
    }

    /// The string, if this is a known string.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The bool, if this is a known bool.
    #[must_use]
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The number, if this is a known number.
    #[must_use]
    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// An attribute of an object (or element of a map); `None` when absent or not a map/object.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(attrs) | Value::Map(attrs) => attrs.get(name),
            _ => None,
        }
    }

    /// The value at `path`; `None` when the path leads nowhere (including through null/unknown).
    #[must_use]
    pub fn at_path(&self, path: &AttributePath) -> Option<&Value> {
        path.steps()
            .iter()
            .try_fold(self, |value, step| match (step, value) {
                (PathStep::Attribute(name), Value::Object(attrs)) => attrs.get(name),
                (PathStep::Key(key), Value::Map(items)) => items.get(key),
                (
                    PathStep::Index(i),
                    Value::List(items) | Value::Tuple(items) | Value::Set(items),
                ) => usize::try_from(*i).ok().and_then(|i| items.get(i)),
                _ => None,
            })
    }

    /// Mutable access to the value at `path` (same rules as [`Value::at_path`]).
    pub fn at_path_mut(&mut self, path: &AttributePath) -> Option<&mut Value> {
        path.steps()
            .iter()
            .try_fold(self, |value, step| match (step, value) {
                (PathStep::Attribute(name), Value::Object(attrs)) => attrs.get_mut(name),
                (PathStep::Key(key), Value::Map(items)) => items.get_mut(key),
                (
                    PathStep::Index(i),
                    Value::List(items) | Value::Tuple(items) | Value::Set(items),
                ) => usize::try_from(*i).ok().and_then(|i| items.get_mut(i)),
                _ => None,
            })
    }

    /// Replaces the value at an existing `path`; returns false when the path leads nowhere.
    pub fn set_at_path(&mut self, path: &AttributePath, value: Value) -> bool {
        match self.at_path_mut(path) {
            Some(slot) => {
                *slot = value;
                true
            }
            None => false,
        }
    }

    /// Maps this value into a serde type. Null maps to `None`/unit; unknown is an error unless the
    /// field is a [`Known`]. Object attributes the struct does not name are ignored.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, ValueError> {
        serde_de::from_value(self)
    }

    /// Builds a value of type `ty` from a serde type (fields the type declares but the struct
    /// lacks become null; [`Known::Unknown`] becomes unknown).
    pub fn encode<T: serde::Serialize + ?Sized>(data: &T, ty: &Type) -> Result<Value, ValueError> {
        let untyped = serde_ser::to_untyped(data)?;
        untyped.conform(ty, &AttributePath::empty())
    }

    /// Reshapes a value (typically built without a type) to `ty`: sequences become lists, sets
    /// or tuples, maps become objects with every attribute present, numbers and strings convert
    /// like Terraform converts primitives.
    pub fn conform(self, ty: &Type, path: &AttributePath) -> Result<Value, ValueError> {
        let mismatch = |found: &Value| ValueError::TypeMismatch {
            path: path.clone(),
            expected: ty.to_string(),
            found: found.kind_name().to_owned(),
        };
        Ok(match (ty, self) {
            (_, Value::Null) => Value::Null,
            (_, Value::Unknown) => Value::Unknown,
            (Type::Dynamic, value) => value,
            (Type::String, Value::String(s)) => Value::String(s),
            (Type::String, Value::Number(n)) => Value::String(n.to_string()),
            (Type::String, Value::Bool(b)) => Value::String(b.to_string()),
            (Type::Number, Value::Number(n)) => Value::Number(n),
            (Type::Number, Value::String(s)) => match s.parse() {
                Ok(n) => Value::Number(n),
                Err(_) => return Err(mismatch(&Value::String(s))),
            },
            (Type::Bool, Value::Bool(b)) => Value::Bool(b),
            (Type::Bool, Value::String(s)) if s == "true" || s == "false" => {
                Value::Bool(s == "true")
            }
            (Type::List(e), Value::List(items) | Value::Set(items) | Value::Tuple(items)) => {
                Value::List(conform_items(items, e, path)?)
            }
            (Type::Set(e), Value::List(items) | Value::Set(items) | Value::Tuple(items)) => {
                Value::Set(conform_items(items, e, path)?)
            }
            (Type::Tuple(types), Value::List(items) | Value::Set(items) | Value::Tuple(items)) => {
                if types.len() != items.len() {
                    return Err(mismatch(&Value::Tuple(items)));
                }
                let conformed = items
                    .into_iter()
                    .zip(types)
                    .enumerate()
                    .map(|(i, (v, t))| v.conform(t, &path.index(i)))
                    .collect::<Result<_, _>>()?;
                Value::Tuple(conformed)
            }
            (Type::Map(e), Value::Map(items) | Value::Object(items)) => Value::Map(
                items
                    .into_iter()
                    .map(|(k, v)| {
                        let conformed = v.conform(e, &path.key(k.clone()))?;
                        Ok((k, conformed))
                    })
                    .collect::<Result<_, ValueError>>()?,
            ),
            (Type::Object(object), Value::Map(mut items) | Value::Object(mut items)) => {
                let mut attrs = BTreeMap::new();
                for (name, attr_ty) in &object.attributes {
                    let value = items.remove(name).unwrap_or(Value::Null);
                    attrs.insert(
                        name.clone(),
                        value.conform(attr_ty, &path.attr(name.clone()))?,
                    );
                }
                if let Some(extra) = items.into_keys().next() {
                    return Err(ValueError::Attribute {
                        path: path.clone(),
                        name: extra,
                        problem: "unexpected",
                    });
                }
                Value::Object(attrs)
            }
            (_, other) => return Err(mismatch(&other)),
        })
    }

    /// A short name of the value's kind for error messages.
    #[must_use]
    pub fn kind_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Unknown => "unknown",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Map(_) => "map",
            Value::Object(_) => "object",
            Value::Tuple(_) => "tuple",
        }
    }

    /// The most specific type this value has; `dynamic` where nothing tells (null, unknown,
    /// elements of empty collections, collections whose elements disagree).
    #[must_use]
    pub fn infer_type(&self) -> Type {
        let common = |items: &mut dyn Iterator<Item = &Value>| {
            let mut types = items
                .filter(|v| !matches!(v, Value::Null | Value::Unknown))
                .map(Value::infer_type);
            match types.next() {
                Some(first) if types.all(|t| t == first) => first,
                _ => Type::Dynamic,
            }
        };
        match self {
            Value::Null | Value::Unknown => Type::Dynamic,
            Value::Bool(_) => Type::Bool,
            Value::Number(_) => Type::Number,
            Value::String(_) => Type::String,
            Value::List(items) => Type::list(common(&mut items.iter())),
            Value::Set(items) => Type::set(common(&mut items.iter())),
            Value::Map(items) => Type::map(common(&mut items.values())),
            Value::Tuple(items) => Type::Tuple(items.iter().map(Value::infer_type).collect()),
            Value::Object(attrs) => {
                Type::object(attrs.iter().map(|(k, v)| (k.clone(), v.infer_type())))
            }
        }
    }
}

fn conform_items(
    items: Vec<Value>,
    element: &Type,
    path: &AttributePath,
) -> Result<Vec<Value>, ValueError> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| v.conform(element, &path.index(i)))
        .collect()
}

impl From<bool> for Value {
    fn from(value: bool) -> Self {
        Value::Bool(value)
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::String(value.to_owned())
    }
}

impl From<String> for Value {
    fn from(value: String) -> Self {
        Value::String(value)
    }
}

impl From<Number> for Value {
    fn from(value: Number) -> Self {
        Value::Number(value)
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::Number(value.into())
    }
}

#[cfg(test)]
mod tests;
