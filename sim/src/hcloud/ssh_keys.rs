//! `/ssh_keys`: list (name, fingerprint, label_selector), get, create (OpenSSH public keys with
//! their MD5 fingerprint; name and key unique), update, delete.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use base64::Engine;
use md5::{Digest, Md5};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, FieldErrors};
use super::list::{ListQuery, named_key};
use super::rename::{self, NameAndLabels};
use super::request::{Body, Reply, created, no_content, ok, parse_id};
use crate::labels::{Labels, validate_labels};
use crate::world::{SshKey, World};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ssh_keys", get(list).post(create))
        .route("/ssh_keys/{id}", get(get_one).put(update).delete(delete))
}

/// The MD5 fingerprint (`aa:bb:…`) of an OpenSSH public key, or `None` if it is not one.
pub fn fingerprint(public_key: &str) -> Option<String> {
    let mut parts = public_key.split_whitespace();
    let kind = parts.next()?;
    if !(kind.starts_with("ssh-") || kind.starts_with("ecdsa-") || kind.starts_with("sk-")) {
        return None;
    }
    let blob = base64::engine::general_purpose::STANDARD
        .decode(parts.next()?)
        .ok()?;
    let digest = Md5::digest(&blob);
    Some(
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// An SSH key in wire shape.
pub fn key_json(k: &SshKey) -> Value {
    json!({"id": k.id, "name": k.name, "fingerprint": k.fingerprint, "public_key": k.public_key, "labels": k.labels, "created": k.created})
}

fn find(world: &World, raw: &str) -> Result<i64, ApiError> {
    let id = parse_id("ssh_key", raw)?;
    world
        .data
        .ssh_keys
        .contains_key(&id)
        .then_some(id)
        .ok_or_else(|| ApiError::not_found("ssh_key", id))
}

async fn list(State(app): State<AppState>, RawQuery(q): RawQuery) -> Reply {
    let query = ListQuery::parse(q.as_deref())?;
    let world = app.read();
    let mut items: Vec<&SshKey> = world
        .data
        .ssh_keys
        .values()
        .filter(|k| {
            query.matches(Some(&k.name), &k.labels)
                && query.get("fingerprint").is_none_or(|f| f == k.fingerprint)
        })
        .collect();
    query.sort(&mut items, |k, f| named_key(k.id, &k.name, &k.created, f))?;
    let (page, meta) = query.paginate(items);
    ok(json!({"ssh_keys": page.into_iter().map(key_json).collect::<Vec<_>>(), "meta": meta}))
}

async fn get_one(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let world = app.read();
    let id = find(&world, &id)?;
    ok(json!({"ssh_key": key_json(&world.data.ssh_keys[&id])}))
}

#[derive(Debug, Deserialize)]
struct CreateKey {
    name: Option<String>,
    public_key: Option<String>,
    #[serde(default)]
    labels: Labels,
}

async fn create(State(app): State<AppState>, Body(req): Body<CreateKey>) -> Reply {
    let mut world = app.write();
    let mut fields = FieldErrors::default();
    fields.require("name", &req.name);
    fields.require("public_key", &req.public_key);
    let print = req.public_key.as_deref().and_then(fingerprint);
    if req.public_key.is_some() && print.is_none() {
        fields.add("public_key", "invalid public key");
    }
    if let Err(e) = validate_labels(&req.labels) {
        fields.add("labels", e.to_string());
    }
    fields.finish()?;
    let (name, fingerprint) = (req.name.unwrap_or_default(), print.unwrap_or_default());
    if world.data.ssh_keys.values().any(|k| k.name == name) {
        return Err(ApiError::Uniqueness {
            field: "name".into(),
        });
    }
    if world
        .data
        .ssh_keys
        .values()
        .any(|k| k.fingerprint == fingerprint)
    {
        return Err(ApiError::Uniqueness {
            field: "public_key".into(),
        });
    }
    let id = world.next_id();
    let key = SshKey {
        id,
        name,
        fingerprint,
        public_key: req.public_key.unwrap_or_default().trim().to_string(),
        labels: req.labels,
        created: world.clock.timestamp(),
    };
    let body = json!({"ssh_key": key_json(&key)});
    world.data.ssh_keys.insert(id, key);
    created(body)
}

async fn update(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<NameAndLabels>,
) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    rename::apply(&mut world.data.ssh_keys, id, "ssh_key", req)?;
    ok(json!({"ssh_key": key_json(&world.data.ssh_keys[&id])}))
}

async fn delete(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    world.data.ssh_keys.remove(&id);
    no_content()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_openssh_keys() {
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJGQ2VFSn5OQ8d1K3S2rAjAq2Gk6o7sFQy2kG0pZ4cS test";
        let print = fingerprint(key).unwrap();
        assert_eq!(print.split(':').count(), 16);
        assert!(fingerprint("not a key").is_none());
    }
}
