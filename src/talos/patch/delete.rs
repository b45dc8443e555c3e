//! `$patch: delete` directives, applied before the rest of a patch document merges (as Talos's
//! config loader turns them into selectors that run first).

use super::merge::render_path;
use super::{Error, document_id};
use crate::talos::yaml::Node;

const MARKER_KEY: &str = "$patch";
const MARKER_VALUE: &str = "delete";

fn is_marker(map: &crate::talos::yaml::Mapping) -> bool {
    map.get(MARKER_KEY).and_then(Node::as_str) == Some(MARKER_VALUE)
}

/// A deletion found in a patch document.
enum Deletion {
    /// Remove the key at this path.
    Key(Vec<String>),
    /// Remove items of the list at this path whose `key` equals `value`.
    ListItems {
        path: Vec<String>,
        key: String,
        value: Node,
    },
}

/// Applies the deletions of `document` to the matching document (at `position`) and returns
/// what is left of the patch document to merge (`None` when nothing is left).
pub(super) fn apply_deletes(
    documents: &mut Vec<Node>,
    position: Option<usize>,
    patch: usize,
    document: &Node,
) -> Result<Option<Node>, Error> {
    let kind = document_id(document).1;
    let Some(map) = document.as_map() else {
        return Ok(Some(document.clone()));
    };
    if is_marker(map) {
        if kind.is_none() {
            return Err(Error::Delete {
                patch,
                path: "(v1alpha1 document)".into(),
                reason: "the v1alpha1 document cannot be deleted".into(),
            });
        }
        // Deleting a document that is not there is not an error (Talos skips it).
        if let Some(position) = position {
            documents.remove(position);
        }
        return Ok(None);
    }
    let mut remainder = document.clone();
    let mut deletions = Vec::new();
    collect(
        &mut remainder,
        &mut Vec::new(),
        false,
        &mut deletions,
        patch,
        kind,
    )?;
    if !deletions.is_empty() {
        let Some(position) = position else {
            return Err(Error::Delete {
                patch,
                path: render_path(kind, &[]),
                reason: "the document to delete from does not exist".into(),
            });
        };
        for deletion in deletions {
            apply(&mut documents[position], deletion, patch, kind)?;
        }
    }
    let only_header = remainder.as_map().is_some_and(|map| {
        map.keys()
            .all(|key| matches!(key.as_str(), "apiVersion" | "kind" | "name" | "version"))
    });
    Ok((!only_header || position.is_none()).then_some(remainder))
}

/// Finds and strips delete markers below `node`.
fn collect(
    node: &mut Node,
    path: &mut Vec<String>,
    inside_list: bool,
    out: &mut Vec<Deletion>,
    patch: usize,
    kind: Option<&str>,
) -> Result<(), Error> {
    match node {
        Node::Map(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let Some(child) = map.get_mut(&key) else {
                    continue;
                };
                if let Node::Map(child_map) = child
                    && is_marker(child_map)
                {
                    if inside_list {
                        path.push(key);
                        return Err(Error::Delete {
                            patch,
                            path: render_path(kind, path),
                            reason: "cannot delete a key inside a list item".into(),
                        });
                    }
                    let mut target = path.clone();
                    target.push(key.clone());
                    out.push(Deletion::Key(target));
                    map.shift_remove(&key);
                    continue;
                }
                let is_empty = |node: &Node| match node {
                    Node::Map(m) => m.is_empty(),
                    Node::Seq(s) => s.is_empty(),
                    _ => false,
                };
                let was_empty = is_empty(child);
                path.push(key.clone());
                collect(child, path, inside_list, out, patch, kind)?;
                path.pop();
                // A section that only held delete markers has nothing left to merge.
                if !was_empty && map.get(&key).is_some_and(is_empty) {
                    map.shift_remove(&key);
                }
            }
        }
        Node::Seq(items) => {
            let mut index = 0;
            while index < items.len() {
                if let Node::Map(item) = &items[index]
                    && is_marker(item)
                {
                    let (key, value) = item
                        .iter()
                        .find(|(key, _)| key.as_str() != MARKER_KEY)
                        .map(|(key, value)| (key.clone(), value.clone()))
                        .ok_or_else(|| Error::Delete {
                            patch,
                            path: render_path(kind, path),
                            reason: "a list item to delete needs a key: value to select it".into(),
                        })?;
                    out.push(Deletion::ListItems {
                        path: path.clone(),
                        key,
                        value,
                    });
                    items.remove(index);
                    continue;
                }
                path.push(format!("[{index}]"));
                collect(&mut items[index], path, true, out, patch, kind)?;
                path.pop();
                index += 1;
            }
        }
        _ => {}
    }
    Ok(())
}

fn lookup<'a>(root: &'a mut Node, path: &[String]) -> Option<&'a mut Node> {
    path.iter().try_fold(root, |node, key| {
        node.as_map_mut().and_then(|map| map.get_mut(key))
    })
}

fn apply(
    target: &mut Node,
    deletion: Deletion,
    patch: usize,
    kind: Option<&str>,
) -> Result<(), Error> {
    let not_found = |path: &[String]| Error::Delete {
        patch,
        path: render_path(kind, path),
        reason: "nothing to delete there".into(),
    };
    match deletion {
        Deletion::Key(path) => {
            let (last, parent_path) = path.split_last().ok_or_else(|| not_found(&path))?;
            let parent = lookup(target, parent_path)
                .and_then(Node::as_map_mut)
                .ok_or_else(|| not_found(&path))?;
            parent.shift_remove(last).ok_or_else(|| not_found(&path))?;
        }
        Deletion::ListItems { path, key, value } => {
            let Some(Node::Seq(items)) = lookup(target, &path) else {
                return Err(not_found(&path));
            };
            let before = items.len();
            items.retain(|item| item.as_map().and_then(|map| map.get(&key)) != Some(&value));
            if items.len() == before {
                return Err(not_found(&path));
            }
        }
    }
    Ok(())
}
