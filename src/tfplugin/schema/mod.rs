//! Declarative schemas: attributes, nested attributes and blocks, with their docs, validators
//! and plan modifiers.
//!
//! A [`Schema`] is data: the server converts it to the protocol's schema message, derives the cty
//! [`Type`] used to decode values, runs the validators at validate time and the defaults and
//! modifiers at plan time; a docs generator can read every description and flag.
//!
//! ```
//! use hk8s::tfplugin::schema::{Attribute, Block, NestedBlock, Schema, between, requires_replace};
//! use hk8s::tfplugin::value::Type;
//!
//! let schema = Schema::new()
//!     .version(1)
//!     .description("A pool of worker nodes")
//!     .attribute(Attribute::string("name").required().plan(requires_replace()))
//!     .attribute(Attribute::number("count").optional().default_value(1).validate(between(0, 100)))
//!     .attribute(Attribute::map("labels", Type::String).optional())
//!     .attribute(Attribute::string("id").computed())
//!     .block(NestedBlock::list("taint", Block::new()
//!         .attribute(Attribute::string("key").required())
//!         .attribute(Attribute::string("effect").required())));
//! assert_eq!(schema.root_block().attrs().len(), 4);
//! ```

mod attribute;
mod block;
mod check;
pub mod duration;
mod modifier;
mod timeouts;
mod validator;

pub use attribute::{Attribute, AttributeKind, NestingMode};
pub use block::{Block, BlockNesting, NestedBlock};
pub use check::SchemaProblem;
pub use modifier::{
    AttributePlan, FnModifier, PlanModifier, RequiresReplaceIf, UseStateForUnknown, modifier,
    requires_replace, requires_replace_if, use_state_for_unknown,
};
pub use timeouts::{TIMEOUTS_BLOCK, parse_duration, timeout_for, timeouts_block};
pub use validator::{
    Between, Custom, EachElement, LengthBetween, OneOf, StringRule, Validator, between, custom,
    each_element, length_between, one_of, string_rule,
};

use crate::tfplugin::value::Type;

/// The schema of a provider configuration, resource, data source or ephemeral resource.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    version: i64,
    block: Block,
}

impl Schema {
    /// An empty schema at version 0.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The state schema version; bump it when stored state needs an upgrade.
    #[must_use]
    pub fn version(mut self, version: i64) -> Self {
        self.version = version;
        self
    }

    /// Plain-text description of the whole object.
    #[must_use]
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.block = self.block.description(text);
        self
    }

    /// Markdown description of the whole object.
    #[must_use]
    pub fn markdown_description(mut self, text: impl Into<String>) -> Self {
        self.block = self.block.markdown_description(text);
        self
    }

    /// Marks the whole object deprecated.
    #[must_use]
    pub fn deprecated(mut self, message: impl Into<String>) -> Self {
        self.block = self.block.deprecated(message);
        self
    }

    /// Adds a top-level attribute.
    #[must_use]
    pub fn attribute(mut self, attribute: Attribute) -> Self {
        self.block = self.block.attribute(attribute);
        self
    }

    /// Adds top-level attributes.
    #[must_use]
    pub fn attributes(mut self, attributes: impl IntoIterator<Item = Attribute>) -> Self {
        self.block = self.block.attributes(attributes);
        self
    }

    /// Adds a top-level nested block.
    #[must_use]
    pub fn block(mut self, block: NestedBlock) -> Self {
        self.block = self.block.block(block);
        self
    }

    /// The top-level block: every attribute and nested block, with the object's description.
    #[must_use]
    pub fn root_block(&self) -> &Block {
        &self.block
    }

    /// The schema version.
    #[must_use]
    pub fn schema_version(&self) -> i64 {
        self.version
    }

    /// The cty type of values of this schema (an object of every attribute and block).
    #[must_use]
    pub fn value_type(&self) -> Type {
        self.block.value_type()
    }
}
