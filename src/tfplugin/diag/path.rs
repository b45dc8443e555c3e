//! Attribute paths: where in a configuration or state a diagnostic or change applies.

use std::fmt;

/// One step of an [`AttributePath`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathStep {
    /// An attribute (or nested block) of an object, by name.
    Attribute(String),
    /// A map element by key.
    Key(String),
    /// A list or tuple element by index (sets are addressed by element value in Terraform,
    /// which this framework does not model; set errors point at the set attribute itself).
    Index(i64),
}

/// An immutable path from the root of a schema's value to one attribute or element, built like
/// `AttributePath::root("control_plane").attr("locations").index(0)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AttributePath {
    steps: Vec<PathStep>,
}

impl AttributePath {
    /// The empty path: the whole object.
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// A top-level attribute or block.
    #[must_use]
    pub fn root(name: impl Into<String>) -> Self {
        Self {
            steps: vec![PathStep::Attribute(name.into())],
        }
    }

    /// This path extended by an attribute name.
    #[must_use]
    pub fn attr(&self, name: impl Into<String>) -> Self {
        self.with(PathStep::Attribute(name.into()))
    }

    /// This path extended by a map key.
    #[must_use]
    pub fn key(&self, key: impl Into<String>) -> Self {
        self.with(PathStep::Key(key.into()))
    }

    /// This path extended by a list or tuple index.
    #[must_use]
    pub fn index(&self, index: usize) -> Self {
        self.with(PathStep::Index(i64::try_from(index).unwrap_or(i64::MAX)))
    }

    /// This path extended by one step.
    #[must_use]
    pub fn with(&self, step: PathStep) -> Self {
        let mut steps = self.steps.clone();
        steps.push(step);
        Self { steps }
    }

    /// The steps, outermost first.
    #[must_use]
    pub fn steps(&self) -> &[PathStep] {
        &self.steps
    }

    /// True for the path of the whole object.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// True when `self` equals `prefix` or lies inside it.
    #[must_use]
    pub fn starts_with(&self, prefix: &AttributePath) -> bool {
        self.steps.starts_with(&prefix.steps)
    }
}

impl fmt::Display for AttributePath {
    /// Terraform-like notation: `control_plane.locations[0]`, `labels["team"]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                PathStep::Attribute(name) if i == 0 => f.write_str(name)?,
                PathStep::Attribute(name) => write!(f, ".{name}")?,
                PathStep::Key(key) => write!(f, "[{key:?}]")?,
                PathStep::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_immutably_and_displays() {
        let base = AttributePath::root("control_plane");
        let path = base.attr("labels").key("team");
        assert_eq!(base.to_string(), "control_plane");
        assert_eq!(path.to_string(), r#"control_plane.labels["team"]"#);
        assert_eq!(
            AttributePath::root("nodes")
                .index(2)
                .attr("name")
                .to_string(),
            "nodes[2].name"
        );
        assert!(path.starts_with(&base));
        assert!(!base.starts_with(&path));
    }
}
