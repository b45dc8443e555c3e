//! cty types and their compact JSON form (`"string"`, `["list","string"]`, `["object",{…}]`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A Terraform (cty) type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Type {
    /// `string`
    String,
    /// `number` (arbitrary precision)
    Number,
    /// `bool`
    Bool,
    /// `dynamic`: the concrete type travels with the value.
    Dynamic,
    /// `list(T)`
    List(Box<Type>),
    /// `set(T)`
    Set(Box<Type>),
    /// `map(T)`
    Map(Box<Type>),
    /// `object({…})`
    Object(ObjectType),
    /// `tuple([…])`
    Tuple(Vec<Type>),
}

/// The attributes of an object type, and which of them are optional (type constraints only).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ObjectType {
    /// Attribute name → type.
    pub attributes: BTreeMap<String, Type>,
    /// Attributes that may be omitted in a type constraint (`optional(T)`).
    pub optional: BTreeSet<String>,
}

/// A JSON type description that is not a cty type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cty type {json}: {reason}")]
pub struct TypeError {
    /// The offending JSON (compact).
    pub json: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Type {
    /// `list(element)`.
    #[must_use]
    pub fn list(element: Type) -> Self {
        Self::List(Box::new(element))
    }

    /// `set(element)`.
    #[must_use]
    pub fn set(element: Type) -> Self {
        Self::Set(Box::new(element))
    }

    /// `map(element)`.
    #[must_use]
    pub fn map(element: Type) -> Self {
        Self::Map(Box::new(element))
    }

    /// `object({...})` with every attribute required.
    #[must_use]
    pub fn object<K: Into<String>>(attributes: impl IntoIterator<Item = (K, Type)>) -> Self {
        Self::Object(ObjectType {
            attributes: attributes.into_iter().map(|(k, t)| (k.into(), t)).collect(),
            optional: BTreeSet::new(),
        })
    }

    /// The compact JSON description Terraform expects in schemas and dynamic values.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::{Value as J, json};
        match self {
            Type::String => J::from("string"),
            Type::Number => J::from("number"),
            Type::Bool => J::from("bool"),
            Type::Dynamic => J::from("dynamic"),
            Type::List(e) => json!(["list", e.to_json()]),
            Type::Set(e) => json!(["set", e.to_json()]),
            Type::Map(e) => json!(["map", e.to_json()]),
            Type::Tuple(es) => json!(["tuple", es.iter().map(Type::to_json).collect::<Vec<_>>()]),
            Type::Object(o) => {
                let attrs: serde_json::Map<_, _> = o
                    .attributes
                    .iter()
                    .map(|(k, t)| (k.clone(), t.to_json()))
                    .collect();
                if o.optional.is_empty() {
                    json!(["object", attrs])
                } else {
                    json!(["object", attrs, o.optional.iter().collect::<Vec<_>>()])
                }
            }
        }
    }

    /// [`Type::to_json`] as bytes, as the protocol's `type` fields carry it.
    #[must_use]
    pub fn to_json_bytes(&self) -> Vec<u8> {
        self.to_json().to_string().into_bytes()
    }

    /// Parses the compact JSON description.
    pub fn from_json(json: &serde_json::Value) -> Result<Self, TypeError> {
        use serde_json::Value as J;
        let error = |reason| TypeError {
            json: json.to_string(),
            reason,
        };
        match json {
            J::String(s) => match s.as_str() {
                "string" => Ok(Type::String),
                "number" => Ok(Type::Number),
                "bool" => Ok(Type::Bool),
                "dynamic" => Ok(Type::Dynamic),
                _ => Err(error("unknown primitive type")),
            },
            J::Array(parts) => {
                let kind = parts
                    .first()
                    .and_then(J::as_str)
                    .ok_or_else(|| error("missing type kind"))?;
                let arg = parts.get(1).ok_or_else(|| error("missing type argument"))?;
                match kind {
                    "list" => Ok(Type::list(Type::from_json(arg)?)),
                    "set" => Ok(Type::set(Type::from_json(arg)?)),
                    "map" => Ok(Type::map(Type::from_json(arg)?)),
                    "tuple" => {
                        let elems = arg
                            .as_array()
                            .ok_or_else(|| error("tuple needs an array"))?;
                        Ok(Type::Tuple(
                            elems
                                .iter()
                                .map(Type::from_json)
                                .collect::<Result<_, _>>()?,
                        ))
                    }
                    "object" => {
                        let attrs = arg.as_object().ok_or_else(|| error("object needs a map"))?;
                        let attributes = attrs
                            .iter()
                            .map(|(k, v)| Ok((k.clone(), Type::from_json(v)?)))
                            .collect::<Result<_, TypeError>>()?;
                        let optional = match parts.get(2) {
                            None => BTreeSet::new(),
                            Some(J::Array(names)) => names
                                .iter()
                                .map(|n| {
                                    n.as_str()
                                        .map(str::to_owned)
                                        .ok_or_else(|| error("optional names must be strings"))
                                })
                                .collect::<Result<_, _>>()?,
                            Some(_) => return Err(error("optional attributes must be an array")),
                        };
                        Ok(Type::Object(ObjectType {
                            attributes,
                            optional,
                        }))
                    }
                    _ => Err(error("unknown type kind")),
                }
            }
            _ => Err(error("a type is a string or an array")),
        }
    }

    /// Parses [`Type::to_json_bytes`] output.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Self, TypeError> {
        let json: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| TypeError {
            json: String::from_utf8_lossy(bytes).into_owned(),
            reason: "not JSON",
        })?;
        Self::from_json(&json)
    }
}

impl fmt::Display for Type {
    /// The compact JSON form, e.g. `["list","string"]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_of_every_kind() {
        let ty = Type::Object(ObjectType {
            attributes: [
                ("a".to_owned(), Type::list(Type::String)),
                ("b".to_owned(), Type::set(Type::Number)),
                ("c".to_owned(), Type::map(Type::Bool)),
                (
                    "d".to_owned(),
                    Type::Tuple(vec![Type::Dynamic, Type::String]),
                ),
            ]
            .into(),
            optional: ["b".to_owned()].into(),
        });
        let text = ty.to_json().to_string();
        assert_eq!(
            text,
            r#"["object",{"a":["list","string"],"b":["set","number"],"c":["map","bool"],"d":["tuple",["dynamic","string"]]},["b"]]"#
        );
        assert_eq!(Type::from_json_bytes(text.as_bytes()).unwrap(), ty);
    }

    #[test]
    fn rejects_unknown_kinds() {
        assert!(Type::from_json_bytes(br#""integer""#).is_err());
        assert!(Type::from_json_bytes(br#"["vector","string"]"#).is_err());
        assert!(Type::from_json_bytes(br#"["list"]"#).is_err());
    }
}
