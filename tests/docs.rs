//! `docs/` must be exactly what the schemas and `examples/` render (see `hk8s::docs`).
//! `make docs` (HK8S_UPDATE_DOCS=1) rewrites them.

use std::path::Path;

#[test]
fn docs_match_the_schemas() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let pages = hk8s::docs::render_all(&root.join("examples")).expect("render docs");
    let update = std::env::var("HK8S_UPDATE_DOCS").is_ok_and(|v| v == "1");
    let mut stale = Vec::new();
    for page in &pages {
        let path = root.join("docs").join(&page.path);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != page.markdown {
            if update {
                std::fs::create_dir_all(path.parent().expect("page dir")).expect("mkdir");
                std::fs::write(&path, &page.markdown).expect("write page");
            } else {
                stale.push(page.path.clone());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "docs/ is out of date for {stale:?}: run `make docs` and commit the result"
    );
    for required in [
        "index.md",
        "resources/cluster.md",
        "resources/node_pool.md",
        "resources/addon.md",
        "data-sources/kubeconfig.md",
        "ephemeral-resources/kubeconfig.md",
    ] {
        assert!(
            pages.iter().any(|p| p.path == required),
            "{required} not generated"
        );
    }
}
