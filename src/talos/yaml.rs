//! An ordered YAML value and the one place where Talos YAML is read and written.
//!
//! Machine configurations are generated from typed structs, then turned into [`Node`] trees so
//! patches can be applied with Talos's merge rules while keeping the generator's key order.
//! Output uses Talos's layout (4-space indent, sequences indented under their key, multi-line
//! strings as `|` blocks, `{}`/`[]` for empty collections), so the same input always renders to
//! the same bytes.

use std::fmt;

use indexmap::IndexMap;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// A YAML value whose mappings keep their insertion order.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `null` / `~` / empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits `i64`.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string scalar.
    String(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping with string keys, in document order.
    Map(Mapping),
}

/// An ordered mapping with string keys.
pub type Mapping = IndexMap<String, Node>;

/// Errors reading or writing YAML.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text is not valid YAML (or not the expected shape).
    #[error("invalid YAML: {source}")]
    Parse {
        /// The parser's error, with line and column.
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// A value could not be rendered as YAML.
    #[error("cannot render YAML: {source}")]
    Render {
        /// The serializer's error.
        #[source]
        source: Box<serde_saphyr::SerializeError>,
    },
    /// A typed value could not be converted to or from a [`Node`].
    #[error("cannot convert {what}: {message}")]
    Convert {
        /// What was being converted.
        what: &'static str,
        /// The serde message.
        message: String,
    },
}

impl Node {
    /// The mapping inside, if this is one.
    pub fn as_map(&self) -> Option<&Mapping> {
        match self {
            Node::Map(map) => Some(map),
            _ => None,
        }
    }

    /// The mutable mapping inside, if this is one.
    pub fn as_map_mut(&mut self) -> Option<&mut Mapping> {
        match self {
            Node::Map(map) => Some(map),
            _ => None,
        }
    }

    /// The string inside, if this is a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::String(text) => Some(text),
            _ => None,
        }
    }

    /// Follows a path of mapping keys; `None` when any step is missing or not a mapping.
    pub fn get_path(&self, path: &[&str]) -> Option<&Node> {
        path.iter().try_fold(self, |node, key| {
            node.as_map().and_then(|map| map.get(*key))
        })
    }

    /// A short name of the value's kind, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "boolean",
            Node::Int(_) | Node::Float(_) => "number",
            Node::String(_) => "string",
            Node::Seq(_) => "list",
            Node::Map(_) => "mapping",
        }
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => serializer.serialize_unit(),
            Node::Bool(value) => serializer.serialize_bool(*value),
            Node::Int(value) => serializer.serialize_i64(*value),
            Node::Float(value) => serializer.serialize_f64(*value),
            Node::String(value) => serializer.serialize_str(value),
            Node::Seq(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        Node::deserialize(deserializer)
    }

    fn visit_bool<E>(self, value: bool) -> Result<Node, E> {
        Ok(Node::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Node, E> {
        Ok(Node::Int(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Node, E> {
        Ok(i64::try_from(value).map_or(Node::Float(value as f64), Node::Int))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Node, E> {
        Ok(Node::Float(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Node, E> {
        Ok(Node::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Node, E> {
        Ok(Node::String(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = access.next_element()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Node, A::Error> {
        let mut entries = Mapping::new();
        while let Some(key) = access.next_key::<Node>()? {
            let key = match key {
                Node::String(text) => text,
                Node::Int(number) => number.to_string(),
                Node::Bool(flag) => flag.to_string(),
                other => {
                    return Err(de::Error::custom(format!(
                        "mapping keys must be scalars, found a {}",
                        other.kind_name()
                    )));
                }
            };
            let value = access.next_value()?;
            entries.insert(key, value);
        }
        Ok(Node::Map(entries))
    }
}

fn render_options() -> serde_saphyr::SerializerOptions {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.indent_step = 4;
    options.compact_list_indent = false;
    options.prefer_block_scalars = true;
    // Long single-line strings (base64 PEM) stay on one line, as Talos writes them.
    options.min_fold_chars = usize::MAX;
    options.folded_wrap_chars = usize::MAX;
    options
}

/// Renders one value as a YAML document (no `---` marker) in Talos's layout.
///
/// # Errors
/// [`Error::Render`] if the value cannot be represented (e.g. a non-string map key).
pub fn to_string<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_saphyr::to_string_with_options(value, render_options()).map_err(|source| Error::Render {
        source: Box::new(source),
    })
}

/// Renders several documents separated by `---` lines, in order.
///
/// # Errors
/// [`Error::Render`] if a document cannot be represented.
pub fn to_multi_document_string(documents: &[Node]) -> Result<String, Error> {
    let mut out = String::new();
    for (index, document) in documents.iter().enumerate() {
        if index > 0 {
            out.push_str("---\n");
        }
        out.push_str(&to_string(document)?);
    }
    Ok(out)
}

/// Parses one YAML document into `T`.
///
/// # Errors
/// [`Error::Parse`] naming the line and column of the problem.
pub fn from_str<T: de::DeserializeOwned>(text: &str) -> Result<T, Error> {
    serde_saphyr::from_str(text).map_err(|source| Error::Parse {
        source: Box::new(source),
    })
}

/// Parses a stream of `---`-separated documents; empty documents are dropped.
///
/// # Errors
/// [`Error::Parse`] naming the line and column of the problem.
pub fn parse_documents(text: &str) -> Result<Vec<Node>, Error> {
    let documents: Vec<Node> =
        serde_saphyr::from_multiple(text).map_err(|source| Error::Parse {
            source: Box::new(source),
        })?;
    Ok(documents
        .into_iter()
        .filter(|document| *document != Node::Null)
        .collect())
}

/// Converts a typed value to a [`Node`] (via its serde representation).
///
/// # Errors
/// [`Error::Convert`] if the value does not serialize to YAML-compatible data.
pub fn to_node<T: Serialize>(value: &T) -> Result<Node, Error> {
    let text = to_string(value)?;
    from_str(&text)
}

/// Converts a [`Node`] back to a typed value.
///
/// # Errors
/// [`Error::Convert`] when the node does not have the shape of `T`.
pub fn from_node<T: de::DeserializeOwned>(node: &Node) -> Result<T, Error> {
    let text = to_string(node)?;
    serde_saphyr::from_str(&text).map_err(|source| Error::Convert {
        what: std::any::type_name::<T>(),
        message: source.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_key_order_and_talos_layout() {
        let text =
            "zeta: 1\nalpha:\n    list:\n        - a\n        - b\n    empty: {}\n    none: []\n";
        let node: Node = from_str(text).unwrap();
        let keys: Vec<_> = node.as_map().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["zeta", "alpha"]);
        assert_eq!(to_string(&node).unwrap(), text);
    }

    #[test]
    fn multi_line_strings_become_literal_blocks_and_round_trip() {
        let pem = "-----BEGIN X-----\nAAAA\n-----END X-----\n";
        let mut map = Mapping::new();
        map.insert("cert".into(), Node::String(pem.into()));
        let text = to_string(&Node::Map(map.clone())).unwrap();
        assert!(text.starts_with("cert: |\n"), "{text}");
        let back: Node = from_str(&text).unwrap();
        assert_eq!(back, Node::Map(map));
    }

    #[test]
    fn typed_scalars_survive_round_trip() {
        let text = "a: \"true\"\nb: true\nc: \"7445\"\nd: 7445\ne: \"\"\nf: null\n";
        let node: Node = from_str(text).unwrap();
        let map = node.as_map().unwrap();
        assert_eq!(map["a"], Node::String("true".into()));
        assert_eq!(map["b"], Node::Bool(true));
        assert_eq!(map["c"], Node::String("7445".into()));
        assert_eq!(map["d"], Node::Int(7445));
        assert_eq!(map["f"], Node::Null);
        let again: Node = from_str(&to_string(&node).unwrap()).unwrap();
        assert_eq!(again, node);
    }

    #[test]
    fn multi_document_streams_split_and_join() {
        let text = "a: 1\n---\nb: 2\n";
        let documents = parse_documents(text).unwrap();
        assert_eq!(documents.len(), 2);
        assert_eq!(to_multi_document_string(&documents).unwrap(), text);
    }

    fn tricky_string() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            Just(String::new()),
            Just("yes".to_owned()),
            Just("no".to_owned()),
            Just("null".to_owned()),
            Just("~".to_owned()),
            Just("1e3".to_owned()),
            Just("0x1F".to_owned()),
            Just("010".to_owned()),
            Just("- item".to_owned()),
            Just("key: value".to_owned()),
            Just("# not a comment".to_owned()),
            Just(" leading space".to_owned()),
            Just("trailing space ".to_owned()),
            Just("line one\nline two\n".to_owned()),
            Just("no final newline\nsecond".to_owned()),
            Just("*alias".to_owned()),
            Just("&anchor".to_owned()),
            Just("!tag".to_owned()),
            Just("@at".to_owned()),
            Just("'quoted'".to_owned()),
            Just("\"double\"".to_owned()),
            Just("10.0.1.0/24".to_owned()),
            Just("ünïcödé".to_owned()),
            "[a-zA-Z0-9 :#\\-]{0,12}",
        ]
    }

    fn node() -> impl proptest::strategy::Strategy<Value = Node> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Node::Null),
            any::<bool>().prop_map(Node::Bool),
            any::<i64>().prop_map(Node::Int),
            tricky_string().prop_map(Node::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Node::Seq),
                proptest::collection::vec(("[a-z][a-zA-Z0-9./-]{0,10}", inner), 0..5)
                    .prop_map(|entries| Node::Map(entries.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Machine configurations and patches come from users: any text is parsed or refused
        /// with an error, never a panic.
        #[test]
        fn arbitrary_text_parses_or_is_refused_without_panicking(
            text in "\\PC{0,200}",
            yamlish in "([a-z]{1,4}: ?|- |\\{|\\}|\\[|\\]|&a |\\*a|!!str |'|\"|\n  |\n|---\n|#|: ){0,40}",
        ) {
            let _ = parse_documents(&text);
            let _ = parse_documents(&yamlish);
            let _ = crate::talos::secrets::SecretsBundle::from_yaml(&text);
            let _ = crate::talos::secrets::SecretsBundle::from_yaml(&yamlish);
        }

        #[test]
        fn any_document_round_trips(map in proptest::collection::vec(("[a-z][a-zA-Z0-9./-]{0,10}", node()), 0..6)) {
            let document = Node::Map(map.into_iter().collect());
            let text = to_string(&document).unwrap();
            let back: Node = from_str(&text).unwrap();
            proptest::prop_assert_eq!(back, document, "rendered as:\n{}", text);
        }
    }

    #[test]
    fn invalid_yaml_reports_a_parse_error() {
        assert!(matches!(
            parse_documents("a: [1, 2\n"),
            Err(Error::Parse { .. })
        ));
    }
}
