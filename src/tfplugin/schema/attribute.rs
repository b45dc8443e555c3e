//! Attributes: one named value in a schema, with its type, flags, docs, validators and plan
//! modifiers.

use std::fmt;
use std::sync::Arc;

use super::modifier::PlanModifier;
use super::validator::Validator;
use crate::tfplugin::value::{ObjectType, Type, Value};

/// How a nested attribute's object(s) are collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NestingMode {
    /// One object.
    Single,
    /// A list of objects.
    List,
    /// A set of objects.
    Set,
    /// A map of objects.
    Map,
}

/// What an attribute holds: a plain type or nested attributes (`attr = { ... }` in HCL).
#[derive(Clone)]
pub enum AttributeKind {
    /// A value of one cty type.
    Typed(Type),
    /// Objects whose attributes have their own flags, docs and validators.
    Nested {
        /// How the objects are collected.
        nesting: NestingMode,
        /// The attributes of each object.
        attributes: Vec<Attribute>,
    },
}

/// One attribute of a schema; build with the constructors and chain the `#[must_use]` setters:
///
/// ```
/// use hk8s::tfplugin::schema::{Attribute, one_of, requires_replace};
/// let attr = Attribute::string("location")
///     .required()
///     .description("Default Hetzner location")
///     .validate(one_of(["fsn1", "nbg1", "hel1"]))
///     .plan(requires_replace());
/// assert!(attr.is_required());
/// ```
#[derive(Clone)]
pub struct Attribute {
    name: String,
    kind: AttributeKind,
    required: bool,
    optional: bool,
    computed: bool,
    sensitive: bool,
    write_only: bool,
    deprecation: Option<String>,
    description: String,
    markdown_description: Option<String>,
    default: Option<Value>,
    validators: Vec<Arc<dyn Validator>>,
    modifiers: Vec<Arc<dyn PlanModifier>>,
}

impl fmt::Debug for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attribute")
            .field("name", &self.name)
            .field("type", &self.value_type())
            .field("required", &self.required)
            .field("optional", &self.optional)
            .field("computed", &self.computed)
            .field("sensitive", &self.sensitive)
            .finish_non_exhaustive()
    }
}

impl Attribute {
    /// An attribute of any cty type (flags default to none: call `required()`, `optional()` or
    /// `computed()`).
    #[must_use]
    pub fn typed(name: impl Into<String>, ty: Type) -> Self {
        Self::with_kind(name, AttributeKind::Typed(ty))
    }

    fn with_kind(name: impl Into<String>, kind: AttributeKind) -> Self {
        Self {
            name: name.into(),
            kind,
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            write_only: false,
            deprecation: None,
            description: String::new(),
            markdown_description: None,
            default: None,
            validators: Vec::new(),
            modifiers: Vec::new(),
        }
    }

    /// A `string` attribute.
    #[must_use]
    pub fn string(name: impl Into<String>) -> Self {
        Self::typed(name, Type::String)
    }

    /// A `number` attribute.
    #[must_use]
    pub fn number(name: impl Into<String>) -> Self {
        Self::typed(name, Type::Number)
    }

    /// A `bool` attribute.
    #[must_use]
    pub fn bool(name: impl Into<String>) -> Self {
        Self::typed(name, Type::Bool)
    }

    /// A `list(element)` attribute.
    #[must_use]
    pub fn list(name: impl Into<String>, element: Type) -> Self {
        Self::typed(name, Type::list(element))
    }

    /// A `set(element)` attribute.
    #[must_use]
    pub fn set(name: impl Into<String>, element: Type) -> Self {
        Self::typed(name, Type::set(element))
    }

    /// A `map(element)` attribute.
    #[must_use]
    pub fn map(name: impl Into<String>, element: Type) -> Self {
        Self::typed(name, Type::map(element))
    }

    /// A `dynamic` attribute (any type, decided by the configuration).
    #[must_use]
    pub fn dynamic(name: impl Into<String>) -> Self {
        Self::typed(name, Type::Dynamic)
    }

    /// Nested attributes holding one object (`attr = { ... }`).
    #[must_use]
    pub fn single_nested(
        name: impl Into<String>,
        attributes: impl IntoIterator<Item = Attribute>,
    ) -> Self {
        Self::nested(name, NestingMode::Single, attributes)
    }

    /// Nested attributes holding a list of objects (`attr = [{ ... }]`).
    #[must_use]
    pub fn list_nested(
        name: impl Into<String>,
        attributes: impl IntoIterator<Item = Attribute>,
    ) -> Self {
        Self::nested(name, NestingMode::List, attributes)
    }

    /// Nested attributes holding a set of objects.
    #[must_use]
    pub fn set_nested(
        name: impl Into<String>,
        attributes: impl IntoIterator<Item = Attribute>,
    ) -> Self {
        Self::nested(name, NestingMode::Set, attributes)
    }

    /// Nested attributes holding a map of objects.
    #[must_use]
    pub fn map_nested(
        name: impl Into<String>,
        attributes: impl IntoIterator<Item = Attribute>,
    ) -> Self {
        Self::nested(name, NestingMode::Map, attributes)
    }

    /// Nested attributes with an explicit nesting mode.
    #[must_use]
    pub fn nested(
        name: impl Into<String>,
        nesting: NestingMode,
        attributes: impl IntoIterator<Item = Attribute>,
    ) -> Self {
        Self::with_kind(
            name,
            AttributeKind::Nested {
                nesting,
                attributes: attributes.into_iter().collect(),
            },
        )
    }

    /// The user must set it.
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self.optional = false;
        self
    }

    /// The user may set it.
    #[must_use]
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self.required = false;
        self
    }

    /// The provider decides it (combine with `optional()` for "set or let the provider decide").
    #[must_use]
    pub fn computed(mut self) -> Self {
        self.computed = true;
        self
    }

    /// Terraform hides it in plans and output; the framework never logs it.
    #[must_use]
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Never stored in state or plan (Terraform ≥ 1.11).
    #[must_use]
    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }

    /// Marks it deprecated; users who set it get a warning with `message`.
    #[must_use]
    pub fn deprecated(mut self, message: impl Into<String>) -> Self {
        self.deprecation = Some(message.into());
        self
    }

    /// Plain-text description (shown by Terraform and in generated docs).
    #[must_use]
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Markdown description (preferred by the docs generator and the registry).
    #[must_use]
    pub fn markdown_description(mut self, text: impl Into<String>) -> Self {
        self.markdown_description = Some(text.into());
        self
    }

    /// The value planned when the configuration leaves it null; makes the attribute optional and
    /// computed (Terraform requires both for provider-decided values).
    #[must_use]
    pub fn default_value(mut self, value: impl Into<Value>) -> Self {
        self.default = Some(value.into());
        self.optional = true;
        self.required = false;
        self.computed = true;
        self
    }

    /// Adds a validator, run on known, non-null configuration values.
    #[must_use]
    pub fn validate(mut self, validator: impl Validator + 'static) -> Self {
        self.validators.push(Arc::new(validator));
        self
    }

    /// Adds a plan modifier, run in order during planning.
    #[must_use]
    pub fn plan(mut self, modifier: impl PlanModifier + 'static) -> Self {
        self.modifiers.push(Arc::new(modifier));
        self
    }

    /// The attribute name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What the attribute holds.
    #[must_use]
    pub fn kind(&self) -> &AttributeKind {
        &self.kind
    }

    /// True when the user must set it.
    #[must_use]
    pub fn is_required(&self) -> bool {
        self.required
    }

    /// True when the user may set it.
    #[must_use]
    pub fn is_optional(&self) -> bool {
        self.optional
    }

    /// True when the provider may decide it.
    #[must_use]
    pub fn is_computed(&self) -> bool {
        self.computed
    }

    /// True when Terraform must hide it.
    #[must_use]
    pub fn is_sensitive(&self) -> bool {
        self.sensitive
    }

    /// True when it is write-only.
    #[must_use]
    pub fn is_write_only(&self) -> bool {
        self.write_only
    }

    /// The deprecation message, if deprecated.
    #[must_use]
    pub fn deprecation(&self) -> Option<&str> {
        self.deprecation.as_deref()
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

    /// The default value, if any.
    #[must_use]
    pub fn default(&self) -> Option<&Value> {
        self.default.as_ref()
    }

    /// The validators in order.
    #[must_use]
    pub fn validators(&self) -> &[Arc<dyn Validator>] {
        &self.validators
    }

    /// The plan modifiers in order.
    #[must_use]
    pub fn plan_modifiers(&self) -> &[Arc<dyn PlanModifier>] {
        &self.modifiers
    }

    /// The nested attributes, for nested kinds.
    #[must_use]
    pub fn nested_attributes(&self) -> Option<(NestingMode, &[Attribute])> {
        match &self.kind {
            AttributeKind::Nested {
                nesting,
                attributes,
            } => Some((*nesting, attributes)),
            AttributeKind::Typed(_) => None,
        }
    }

    /// The cty type of the attribute's value.
    #[must_use]
    pub fn value_type(&self) -> Type {
        match &self.kind {
            AttributeKind::Typed(ty) => ty.clone(),
            AttributeKind::Nested {
                nesting,
                attributes,
            } => {
                // Values never carry `optional` markers (configschema's ImpliedType drops them).
                let object = Type::Object(ObjectType {
                    attributes: attributes
                        .iter()
                        .map(|a| (a.name.clone(), a.value_type()))
                        .collect(),
                    optional: Default::default(),
                });
                match nesting {
                    NestingMode::Single => object,
                    NestingMode::List => Type::list(object),
                    NestingMode::Set => Type::set(object),
                    NestingMode::Map => Type::map(object),
                }
            }
        }
    }
}
