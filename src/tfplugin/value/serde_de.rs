//! Reading [`Value`]s into serde types, and the [`Known`] wrapper for values that may be unknown.
//!
//! [`Known`] and [`Number`] recognise this deserializer (and the serializer in `serde_ser`)
//! through private newtype names, the same technique `toml` uses for datetimes; with any other
//! serde format they behave like an `Option` and a string.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeSeed, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Number, Value, ValueError};
use crate::tfplugin::diag::AttributePath;

pub(super) const KNOWN_MARKER: &str = "$__tfplugin_private_Known";
pub(super) const UNKNOWN_MARKER: &str = "$__tfplugin_private_Unknown";
pub(super) const NUMBER_MARKER: &str = "$__tfplugin_private_Number";

/// A field that may be null or not yet known, for mapping plans and configurations into structs.
///
/// Use it for attributes that are computed (unknown in a plan) or can come from unknown
/// expressions in the configuration; use `Option<T>` for attributes that are only ever null or
/// known, and `T` for required attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Known<T> {
    /// Decided only during apply.
    Unknown,
    /// Not set.
    #[default]
    Null,
    /// A known value.
    Value(T),
}

impl<T> Known<T> {
    /// The value, if known and not null.
    pub fn value(&self) -> Option<&T> {
        match self {
            Known::Value(v) => Some(v),
            _ => None,
        }
    }

    /// The value, if known and not null.
    pub fn into_value(self) -> Option<T> {
        match self {
            Known::Value(v) => Some(v),
            _ => None,
        }
    }

    /// True when the value is not known yet.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Known::Unknown)
    }

    /// True when the value is null.
    pub fn is_null(&self) -> bool {
        matches!(self, Known::Null)
    }
}

impl<T> From<Option<T>> for Known<T> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Known::Null, Known::Value)
    }
}

impl<T: Serialize> Serialize for Known<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Known::Unknown => serializer.serialize_unit_struct(UNKNOWN_MARKER),
            Known::Null => serializer.serialize_none(),
            Known::Value(v) => v.serialize(serializer),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Known<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KnownVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for KnownVisitor<T> {
            type Value = Known<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a value, null or unknown")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Known::Unknown)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Known::Null)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                T::deserialize(d).map(Known::Value)
            }
            fn visit_newtype_struct<D: Deserializer<'de>>(
                self,
                d: D,
            ) -> Result<Self::Value, D::Error> {
                T::deserialize(d).map(Known::Value)
            }
        }
        deserializer.deserialize_newtype_struct(KNOWN_MARKER, KnownVisitor(PhantomData))
    }
}

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(NUMBER_MARKER, &self.to_string())
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberVisitor;
        impl Visitor<'_> for NumberVisitor {
            type Value = Number;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(v.into())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(v.into())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Number::from_f64(v).ok_or_else(|| E::custom("number is NaN or infinite"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Number, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_newtype_struct(NUMBER_MARKER, NumberVisitor)
    }
}

impl de::Error for ValueError {
    fn custom<T: fmt::Display>(message: T) -> Self {
        ValueError::Custom {
            path: AttributePath::empty(),
            message: message.to_string(),
        }
    }
}

impl ValueError {
    /// Fills in `path` on errors raised by serde without knowing where they were.
    fn located(self, path: &AttributePath) -> Self {
        match self {
            ValueError::Custom { path: p, message } if p.is_empty() => {
                // serde calls null "unit value"; say what Terraform users know it as.
                let message = message.replace("invalid type: unit value", "null value");
                ValueError::Custom {
                    path: path.clone(),
                    message,
                }
            }
            other => other,
        }
    }
}

pub(super) fn from_value<T: de::DeserializeOwned>(value: &Value) -> Result<T, ValueError> {
    T::deserialize(ValueDeserializer {
        value,
        path: AttributePath::empty(),
    })
}

struct ValueDeserializer<'de> {
    value: &'de Value,
    path: AttributePath,
}

impl<'de> ValueDeserializer<'de> {
    fn unknown(&self) -> ValueError {
        ValueError::Unknown {
            path: self.path.clone(),
        }
    }
}

impl<'de> Deserializer<'de> for ValueDeserializer<'de> {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        let path = self.path.clone();
        let result = match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Unknown => Err(self.unknown()),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => match (n.to_i64(), n.to_u64()) {
                (Some(i), _) => visitor.visit_i64(i),
                (None, Some(u)) => visitor.visit_u64(u),
                (None, None) => visitor.visit_f64(n.to_f64()),
            },
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
                visitor.visit_seq(Seq {
                    items: items.iter().enumerate(),
                    path: self.path,
                })
            }
            Value::Map(entries) | Value::Object(entries) => visitor.visit_map(Map {
                entries: entries.iter(),
                pending: None,
                path: self.path,
            }),
        };
        result.map_err(|e| e.located(&path))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.value {
            Value::Null => visitor.visit_none(),
            Value::Unknown => Err(self.unknown()),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match (name, self.value) {
            (KNOWN_MARKER, Value::Unknown) => visitor.visit_unit(),
            (KNOWN_MARKER, Value::Null) => visitor.visit_none(),
            (NUMBER_MARKER, Value::Number(n)) => visitor.visit_string(n.to_string()),
            (NUMBER_MARKER, _) => self.deserialize_any(visitor),
            _ => visitor.visit_newtype_struct(self),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.value {
            Value::Number(n) => visitor.visit_string(n.to_string()),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.value {
            Value::Number(n) => visitor.visit_f64(n.to_f64()),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self.value {
            Value::String(s) => {
                let variant = de::value::BorrowedStrDeserializer::<ValueError>::new(s.as_str());
                visitor
                    .visit_enum(variant)
                    .map_err(|e| e.located(&self.path))
            }
            Value::Unknown => Err(self.unknown()),
            other => Err(ValueError::TypeMismatch {
                path: self.path,
                expected: "a string naming a variant".to_owned(),
                found: other.kind_name().to_owned(),
            }),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 char bytes byte_buf unit unit_struct seq tuple
        tuple_struct map struct identifier
    }
}

struct Seq<'de, I: Iterator<Item = (usize, &'de Value)>> {
    items: I,
    path: AttributePath,
}

impl<'de, I: Iterator<Item = (usize, &'de Value)>> de::SeqAccess<'de> for Seq<'de, I> {
    type Error = ValueError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ValueError> {
        match self.items.next() {
            Some((i, value)) => seed
                .deserialize(ValueDeserializer {
                    value,
                    path: self.path.index(i),
                })
                .map(Some),
            None => Ok(None),
        }
    }
}

struct Map<'de> {
    entries: std::collections::btree_map::Iter<'de, String, Value>,
    pending: Option<(&'de String, &'de Value)>,
    path: AttributePath,
}

impl<'de> de::MapAccess<'de> for Map<'de> {
    type Error = ValueError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ValueError> {
        match self.entries.next() {
            Some((key, value)) => {
                self.pending = Some((key, value));
                let key_de = de::value::BorrowedStrDeserializer::<ValueError>::new(key.as_str());
                seed.deserialize(key_de).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ValueError> {
        let Some((key, value)) = self.pending.take() else {
            return Err(de::Error::custom("map value requested before its key"));
        };
        // Objects and maps share this access; a path step by name reads right for both.
        seed.deserialize(ValueDeserializer {
            value,
            path: self.path.attr(key.clone()),
        })
    }
}
