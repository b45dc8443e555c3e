//! The registry documentation under `docs/`, generated from the provider's schemas and the
//! example files under `examples/`, in the layout the Terraform Registry reads:
//! `docs/index.md`, `docs/resources/<name>.md`, `docs/data-sources/<name>.md`,
//! `docs/ephemeral-resources/<name>.md` (names without the `hk8s_` prefix).
//!
//! `tests/docs.rs` fails when `docs/` differs from what this renders, so the docs cannot drift
//! from the code; `make docs` rewrites them.

use std::path::Path;

use crate::provider::Hk8sProvider;
use crate::tfplugin::docs::render_schema;
use crate::tfplugin::framework::Provider;
use crate::tfplugin::schema::Schema;

/// One generated page: its path relative to `docs/` and its Markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Relative path, e.g. `resources/cluster.md`.
    pub path: String,
    /// File content.
    pub markdown: String,
}

/// Which registry section a page belongs to.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Resource,
    DataSource,
    EphemeralResource,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Resource => "resources",
            Kind::DataSource => "data-sources",
            Kind::EphemeralResource => "ephemeral-resources",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Resource => "Resource",
            Kind::DataSource => "Data Source",
            Kind::EphemeralResource => "Ephemeral Resource",
        }
    }

    fn example_file(self) -> &'static str {
        match self {
            Kind::Resource => "resource.tf",
            Kind::DataSource => "data-source.tf",
            Kind::EphemeralResource => "ephemeral-resource.tf",
        }
    }
}

/// Every page of the documentation; `examples` is the repository's `examples/` directory.
///
/// # Errors
/// An example file that exists but cannot be read.
pub fn render_all(examples: &Path) -> std::io::Result<Vec<Page>> {
    let provider = Hk8sProvider::default();
    let mut pages = vec![index_page(&provider.schema(), examples)?];
    let mut typed: Vec<(Kind, String, Schema)> = Vec::new();
    typed.extend(
        provider
            .resources()
            .iter()
            .map(|r| (Kind::Resource, r.type_name().to_owned(), r.schema())),
    );
    typed.extend(
        provider
            .data_sources()
            .iter()
            .map(|d| (Kind::DataSource, d.type_name().to_owned(), d.schema())),
    );
    typed.extend(provider.ephemeral_resources().iter().map(|e| {
        (
            Kind::EphemeralResource,
            e.type_name().to_owned(),
            e.schema(),
        )
    }));
    for (kind, type_name, schema) in typed {
        pages.push(type_page(kind, &type_name, &schema, examples)?);
    }
    Ok(pages)
}

fn read_optional(path: &Path) -> std::io::Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn first_sentence(markdown: &str) -> String {
    let line = markdown.lines().next().unwrap_or("").trim();
    line.replace('"', "'")
}

fn index_page(schema: &Schema, examples: &Path) -> std::io::Result<Page> {
    let description = schema
        .root_block()
        .markdown_description_text()
        .trim()
        .to_owned();
    let mut md = format!(
        "---\npage_title: \"hk8s Provider\"\ndescription: |-\n  {}\n---\n\n# hk8s Provider\n\n{}\n",
        first_sentence(&description),
        description
    );
    if let Some(example) = read_optional(&examples.join("provider/provider.tf"))? {
        md.push_str(&format!(
            "\n## Example Usage\n\n```terraform\n{}\n```\n",
            example.trim_end()
        ));
    }
    md.push('\n');
    md.push_str(&render_schema(schema));
    Ok(Page {
        path: "index.md".into(),
        markdown: md,
    })
}

fn type_page(
    kind: Kind,
    type_name: &str,
    schema: &Schema,
    examples: &Path,
) -> std::io::Result<Page> {
    let short = type_name.strip_prefix("hk8s_").unwrap_or(type_name);
    let description = schema
        .root_block()
        .markdown_description_text()
        .trim()
        .to_owned();
    let mut md = format!(
        "---\npage_title: \"{type_name} {label} - hk8s\"\nsubcategory: \"\"\ndescription: |-\n  {summary}\n---\n\n# {type_name} ({label})\n\n{description}\n",
        label = kind.label(),
        summary = first_sentence(&description),
    );
    let dir = examples.join(kind.dir()).join(type_name);
    if let Some(example) = read_optional(&dir.join(kind.example_file()))? {
        md.push_str(&format!(
            "\n## Example Usage\n\n```terraform\n{}\n```\n",
            example.trim_end()
        ));
    }
    // Narrative sections (what operations do, how changes are applied) live beside the example.
    if let Some(notes) = read_optional(&dir.join("notes.md"))? {
        md.push('\n');
        md.push_str(notes.trim_end());
        md.push('\n');
    }
    md.push('\n');
    md.push_str(&render_schema(schema));
    if let Some(import) = read_optional(&dir.join("import.sh"))? {
        md.push_str(&format!(
            "\n## Import\n\nImport is supported using the following syntax:\n\n```shell\n{}\n```\n",
            import.trim_end()
        ));
        if let Some(more) = read_optional(&dir.join("import.md"))? {
            md.push('\n');
            md.push_str(more.trim_end());
            md.push('\n');
        }
    }
    Ok(Page {
        path: format!("{}/{short}.md", kind.dir()),
        markdown: md,
    })
}
