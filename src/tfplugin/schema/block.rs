//! Blocks (`name { ... }` in HCL) and the nested block types inside them.

use super::attribute::Attribute;
use crate::tfplugin::value::{ObjectType, Type};

/// A block body: attributes, nested block types and a description.
#[derive(Debug, Clone, Default)]
pub struct Block {
    attributes: Vec<Attribute>,
    blocks: Vec<NestedBlock>,
    description: String,
    markdown_description: Option<String>,
    deprecation: Option<String>,
}

impl Block {
    /// An empty block.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an attribute.
    #[must_use]
    pub fn attribute(mut self, attribute: Attribute) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// Adds attributes.
    #[must_use]
    pub fn attributes(mut self, attributes: impl IntoIterator<Item = Attribute>) -> Self {
        self.attributes.extend(attributes);
        self
    }

    /// Adds a nested block type.
    #[must_use]
    pub fn block(mut self, block: NestedBlock) -> Self {
        self.blocks.push(block);
        self
    }

    /// Plain-text description.
    #[must_use]
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Markdown description.
    #[must_use]
    pub fn markdown_description(mut self, text: impl Into<String>) -> Self {
        self.markdown_description = Some(text.into());
        self
    }

    /// Marks the block deprecated.
    #[must_use]
    pub fn deprecated(mut self, message: impl Into<String>) -> Self {
        self.deprecation = Some(message.into());
        self
    }

    /// The attributes in declaration order.
    #[must_use]
    pub fn attrs(&self) -> &[Attribute] {
        &self.attributes
    }

    /// The nested block types in declaration order.
    #[must_use]
    pub fn nested_blocks(&self) -> &[NestedBlock] {
        &self.blocks
    }

    /// The plain-text description.
    #[must_use]
    pub fn description_text(&self) -> &str {
        &self.description
    }

    /// The markdown description, falling back to the plain one.
    #[must_use]
    pub fn markdown_description_text(&self) -> &str {
        self.markdown_description
            .as_deref()
            .unwrap_or(&self.description)
    }

    /// True when a markdown description was given.
    #[must_use]
    pub fn has_markdown_description(&self) -> bool {
        self.markdown_description.is_some()
    }

    /// The deprecation message, if deprecated.
    #[must_use]
    pub fn deprecation(&self) -> Option<&str> {
        self.deprecation.as_deref()
    }

    /// The attribute called `name`, if any.
    #[must_use]
    pub fn find_attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name() == name)
    }

    /// The cty object type of a block value.
    #[must_use]
    pub fn value_type(&self) -> Type {
        let attrs = self
            .attributes
            .iter()
            .map(|a| (a.name().to_owned(), a.value_type()));
        let blocks = self
            .blocks
            .iter()
            .map(|b| (b.type_name().to_owned(), b.value_type()));
        Type::Object(ObjectType {
            attributes: attrs.chain(blocks).collect(),
            optional: Default::default(),
        })
    }
}

/// How repeated blocks of one type are collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockNesting {
    /// At most one block; null when absent.
    Single,
    /// Exactly one block; when absent, an object of nulls (and empty nested collections).
    Group,
    /// Ordered blocks.
    List,
    /// Unordered blocks.
    Set,
    /// Blocks with one label each, keyed by it.
    Map,
}

/// A nested block type: name, nesting and body.
#[derive(Debug, Clone)]
pub struct NestedBlock {
    type_name: String,
    nesting: BlockNesting,
    block: Block,
    min_items: i64,
    max_items: i64,
}

impl NestedBlock {
    /// A nested block type with explicit nesting.
    #[must_use]
    pub fn new(type_name: impl Into<String>, nesting: BlockNesting, block: Block) -> Self {
        Self {
            type_name: type_name.into(),
            nesting,
            block,
            min_items: 0,
            max_items: 0,
        }
    }

    /// At most one block.
    #[must_use]
    pub fn single(type_name: impl Into<String>, block: Block) -> Self {
        Self::new(type_name, BlockNesting::Single, block)
    }

    /// Exactly one (possibly implicit) block.
    #[must_use]
    pub fn group(type_name: impl Into<String>, block: Block) -> Self {
        Self::new(type_name, BlockNesting::Group, block)
    }

    /// Ordered blocks.
    #[must_use]
    pub fn list(type_name: impl Into<String>, block: Block) -> Self {
        Self::new(type_name, BlockNesting::List, block)
    }

    /// Unordered blocks.
    #[must_use]
    pub fn set(type_name: impl Into<String>, block: Block) -> Self {
        Self::new(type_name, BlockNesting::Set, block)
    }

    /// Labelled blocks.
    #[must_use]
    pub fn map(type_name: impl Into<String>, block: Block) -> Self {
        Self::new(type_name, BlockNesting::Map, block)
    }

    /// Minimum number of blocks (list and set nesting; Terraform enforces it).
    #[must_use]
    pub fn min_items(mut self, min: i64) -> Self {
        self.min_items = min;
        self
    }

    /// Maximum number of blocks (list and set nesting; 0 = unlimited).
    #[must_use]
    pub fn max_items(mut self, max: i64) -> Self {
        self.max_items = max;
        self
    }

    /// The block type name.
    #[must_use]
    pub fn type_name(&self) -> &str {
        &self.type_name
    }

    /// The nesting mode.
    #[must_use]
    pub fn nesting(&self) -> BlockNesting {
        self.nesting
    }

    /// The block body.
    #[must_use]
    pub fn body(&self) -> &Block {
        &self.block
    }

    /// The minimum number of blocks.
    #[must_use]
    pub fn min(&self) -> i64 {
        self.min_items
    }

    /// The maximum number of blocks (0 = unlimited).
    #[must_use]
    pub fn max(&self) -> i64 {
        self.max_items
    }

    /// The cty type of this block type's value in its parent object.
    #[must_use]
    pub fn value_type(&self) -> Type {
        let object = self.block.value_type();
        match self.nesting {
            BlockNesting::Single | BlockNesting::Group => object,
            BlockNesting::List => Type::list(object),
            BlockNesting::Set => Type::set(object),
            BlockNesting::Map => Type::map(object),
        }
    }
}
