//! The JSON wire form of values: `DynamicValue.json` and raw resource state.
//!
//! A small parser keeps number literals as text, so numbers of any size or precision survive
//! (serde_json would round them to f64 without its crate-wide `arbitrary_precision` feature).

use std::collections::BTreeMap;

use super::{Type, Value, ValueError};
use crate::tfplugin::diag::AttributePath;

/// A parsed JSON document; numbers stay as their literal text.
#[derive(Debug)]
enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Decodes JSON of type `ty`; an object attribute the type does not declare is an error.
pub fn decode_json(bytes: &[u8], ty: &Type) -> Result<Value, ValueError> {
    convert(parse(bytes)?, ty, &AttributePath::empty(), false)
}

/// Decodes JSON of type `ty`, dropping object attributes the type does not declare (state
/// written by an older schema) and treating missing ones as null.
pub fn decode_json_lenient(bytes: &[u8], ty: &Type) -> Result<Value, ValueError> {
    convert(parse(bytes)?, ty, &AttributePath::empty(), true)
}

fn parse(bytes: &[u8]) -> Result<Json, ValueError> {
    let mut parser = Parser {
        bytes,
        at: 0,
        depth: 0,
    };
    let json = parser.value()?;
    parser.skip_whitespace();
    if parser.at != bytes.len() {
        return Err(parser.error("trailing characters"));
    }
    Ok(json)
}

fn malformed(path: &AttributePath, reason: impl ToString) -> ValueError {
    ValueError::Malformed {
        path: path.clone(),
        format: "JSON",
        reason: reason.to_string(),
    }
}

fn convert(
    json: Json,
    ty: &Type,
    path: &AttributePath,
    lenient: bool,
) -> Result<Value, ValueError> {
    let mismatch = |found: &str| ValueError::TypeMismatch {
        path: path.clone(),
        expected: ty.to_string(),
        found: found.to_owned(),
    };
    let items = |items: Vec<Json>, element: &Type| -> Result<Vec<Value>, ValueError> {
        items
            .into_iter()
            .enumerate()
            .map(|(i, j)| convert(j, element, &path.index(i), lenient))
            .collect()
    };
    Ok(match (ty, json) {
        (_, Json::Null) => Value::Null,
        (Type::Dynamic, Json::Object(fields)) => {
            let mut type_json = None;
            let mut value_json = None;
            for (k, v) in fields {
                match k.as_str() {
                    "type" => type_json = Some(v),
                    "value" => value_json = Some(v),
                    _ => {}
                }
            }
            let type_json =
                type_json.ok_or_else(|| malformed(path, "dynamic value without \"type\""))?;
            let actual = Type::from_json(&to_serde(type_json)).map_err(|e| malformed(path, e))?;
            convert(value_json.unwrap_or(Json::Null), &actual, path, lenient)?
        }
        (Type::String, Json::String(s)) => Value::String(s),
        (Type::Number, Json::Number(text)) => {
            Value::Number(text.parse().map_err(|e| malformed(path, e))?)
        }
        (Type::Bool, Json::Bool(b)) => Value::Bool(b),
        (Type::List(e), Json::Array(a)) => Value::List(items(a, e)?),
        (Type::Set(e), Json::Array(a)) => Value::Set(items(a, e)?),
        (Type::Tuple(types), Json::Array(a)) if types.len() == a.len() => Value::Tuple(
            a.into_iter()
                .zip(types)
                .enumerate()
                .map(|(i, (j, t))| convert(j, t, &path.index(i), lenient))
                .collect::<Result<_, _>>()?,
        ),
        (Type::Map(e), Json::Object(fields)) => {
            let mut map = BTreeMap::new();
            for (k, v) in fields {
                let value = convert(v, e, &path.key(k.clone()), lenient)?;
                map.insert(k, value);
            }
            Value::Map(map)
        }
        (Type::Object(object), Json::Object(fields)) => {
            let mut attrs = BTreeMap::new();
            for (name, v) in fields {
                match object.attributes.get(&name) {
                    Some(attr_ty) => {
                        let value = convert(v, attr_ty, &path.attr(name.clone()), lenient)?;
                        attrs.insert(name, value);
                    }
                    None if lenient => {}
                    None => {
                        return Err(ValueError::Attribute {
                            path: path.clone(),
                            name,
                            problem: "unexpected",
                        });
                    }
                }
            }
            for name in object.attributes.keys() {
                attrs.entry(name.clone()).or_insert(Value::Null);
            }
            Value::Object(attrs)
        }
        (_, other) => return Err(mismatch(other.kind())),
    })
}

/// Converts a parsed document to serde_json (for type descriptions, which hold no numbers).
fn to_serde(json: Json) -> serde_json::Value {
    match json {
        Json::Null => serde_json::Value::Null,
        Json::Bool(b) => serde_json::Value::Bool(b),
        Json::Number(n) => serde_json::Value::String(n),
        Json::String(s) => serde_json::Value::String(s),
        Json::Array(a) => serde_json::Value::Array(a.into_iter().map(to_serde).collect()),
        Json::Object(o) => {
            serde_json::Value::Object(o.into_iter().map(|(k, v)| (k, to_serde(v))).collect())
        }
    }
}

impl Json {
    fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "bool",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }
}

/// Nesting deeper than this is refused rather than risking stack exhaustion.
const MAX_DEPTH: usize = 256;

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, reason: &str) -> ValueError {
        malformed(
            &AttributePath::empty(),
            format!("{reason} at byte {}", self.at),
        )
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.bytes.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, literal: &str) -> bool {
        if self.bytes[self.at..].starts_with(literal.as_bytes()) {
            self.at += literal.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Json, ValueError> {
        self.skip_whitespace();
        match self.bytes.get(self.at) {
            Some(b'n') if self.eat("null") => Ok(Json::Null),
            Some(b't') if self.eat("true") => Ok(Json::Bool(true)),
            Some(b'f') if self.eat("false") => Ok(Json::Bool(false)),
            Some(b'"') => Ok(Json::String(self.string()?)),
            Some(b'-' | b'0'..=b'9') => Ok(Json::Number(self.number())),
            Some(b'[') => self.nested(|p| {
                let mut items = Vec::new();
                if p.close(b']') {
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(p.value()?);
                    if p.close(b']') {
                        return Ok(Json::Array(items));
                    }
                    p.expect(b',')?;
                }
            }),
            Some(b'{') => self.nested(|p| {
                let mut fields = Vec::new();
                if p.close(b'}') {
                    return Ok(Json::Object(fields));
                }
                loop {
                    p.skip_whitespace();
                    if p.bytes.get(p.at) != Some(&b'"') {
                        return Err(p.error("expected a property name"));
                    }
                    let key = p.string()?;
                    p.expect(b':')?;
                    fields.push((key, p.value()?));
                    if p.close(b'}') {
                        return Ok(Json::Object(fields));
                    }
                    p.expect(b',')?;
                }
            }),
            _ => Err(self.error("expected a JSON value")),
        }
    }

    fn nested(
        &mut self,
        body: impl FnOnce(&mut Self) -> Result<Json, ValueError>,
    ) -> Result<Json, ValueError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        self.at += 1;
        let result = body(self);
        self.depth -= 1;
        result
    }

    fn close(&mut self, closing: u8) -> bool {
        self.skip_whitespace();
        if self.bytes.get(self.at) == Some(&closing) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, byte: u8) -> Result<(), ValueError> {
        self.skip_whitespace();
        if self.bytes.get(self.at) == Some(&byte) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected {:?}", byte as char)))
        }
    }

    fn number(&mut self) -> String {
        let start = self.at;
        while matches!(
            self.bytes.get(self.at),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.at += 1;
        }
        // Validity is checked by `Number::from_str` when the type says number.
        String::from_utf8_lossy(&self.bytes[start..self.at]).into_owned()
    }

    fn string(&mut self) -> Result<String, ValueError> {
        self.at += 1; // opening quote
        let mut out = Vec::new();
        loop {
            let Some(&byte) = self.bytes.get(self.at) else {
                return Err(self.error("unterminated string"));
            };
            self.at += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let Some(&escape) = self.bytes.get(self.at) else {
                        return Err(self.error("unterminated escape"));
                    };
                    self.at += 1;
                    let decoded = match escape {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(self.error("invalid escape")),
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(decoded.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.push(byte),
            }
        }
        String::from_utf8(out).map_err(|_| self.error("string is not UTF-8"))
    }

    fn hex4(&mut self) -> Result<u32, ValueError> {
        let text = self
            .bytes
            .get(self.at..self.at + 4)
            .ok_or_else(|| self.error("short \\u escape"))?;
        let text = std::str::from_utf8(text).map_err(|_| self.error("invalid \\u escape"))?;
        let code = u32::from_str_radix(text, 16).map_err(|_| self.error("invalid \\u escape"))?;
        self.at += 4;
        Ok(code)
    }

    fn unicode_escape(&mut self) -> Result<char, ValueError> {
        let first = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&first) {
            if !self.eat("\\u") {
                return Err(self.error("lone surrogate"));
            }
            let second = self.hex4()?;
            if !(0xDC00..0xE000).contains(&second) {
                return Err(self.error("invalid surrogate pair"));
            }
            0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| self.error("invalid code point"))
    }
}
