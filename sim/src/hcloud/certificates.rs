//! `/certificates` of type `uploaded`: create (a PEM certificate and the private key it was
//! issued for), list, get, update, delete. `managed` certificates (issued by Let's Encrypt through
//! Hetzner DNS) are refused as not modelled. Load balancer services may name uploaded ones.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::AppState;
use super::error::{ApiError, FieldErrors};
use super::list::{ListQuery, named_key};
use super::rename::{self, NameAndLabels};
use super::request::{Body, Reply, created, no_content, ok, parse_id};
use crate::clock::format_timestamp;
use crate::labels::{Labels, validate_labels};
use crate::talos::pki::{PkiError, certificate_der, check_pair};
use crate::world::{Certificate, World};

/// Routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/certificates", get(list).post(create))
        .route(
            "/certificates/{id}",
            get(get_one).put(update).delete(delete),
        )
}

/// Load balancers whose services name `id`.
fn used_by(world: &World, id: i64) -> Vec<Value> {
    world
        .data
        .load_balancers
        .values()
        .filter(|lb| {
            lb.services.iter().any(|s| {
                s.http
                    .as_ref()
                    .and_then(|h| h["certificates"].as_array())
                    .is_some_and(|c| c.iter().any(|v| v.as_i64() == Some(id)))
            })
        })
        .map(|lb| json!({"id": lb.id, "type": "load_balancer"}))
        .collect()
}

/// A certificate in wire shape.
pub fn certificate_json(world: &World, c: &Certificate) -> Value {
    json!({
        "id": c.id, "name": c.name, "labels": c.labels, "type": "uploaded",
        "certificate": c.certificate, "created": c.created,
        "not_valid_before": c.not_valid_before, "not_valid_after": c.not_valid_after,
        "domain_names": c.domain_names, "fingerprint": c.fingerprint, "status": null,
        "used_by": used_by(world, c.id),
    })
}

/// Refuses certificate ids in a service's `http.certificates` that do not exist.
pub fn ensure_certificates_exist(world: &World, http: Option<&Value>) -> Result<(), ApiError> {
    let Some(certificates) = http.and_then(|h| h.get("certificates")) else {
        return Ok(());
    };
    let Some(ids) = certificates.as_array() else {
        return Err(ApiError::field("http.certificates", "Not a valid list."));
    };
    for id in ids {
        let Some(id) = id.as_i64() else {
            return Err(ApiError::field("http.certificates", "Not a valid integer."));
        };
        if !world.data.certificates.contains_key(&id) {
            return Err(ApiError::not_found("certificate", id));
        }
    }
    Ok(())
}

fn find(world: &World, raw: &str) -> Result<i64, ApiError> {
    let id = parse_id("certificate", raw)?;
    world
        .data
        .certificates
        .contains_key(&id)
        .then_some(id)
        .ok_or_else(|| ApiError::not_found("certificate", id))
}

async fn list(State(app): State<AppState>, RawQuery(q): RawQuery) -> Reply {
    let query = ListQuery::parse(q.as_deref())?;
    let world = app.read();
    let mut items: Vec<&Certificate> = world
        .data
        .certificates
        .values()
        .filter(|c| query.matches(Some(&c.name), &c.labels))
        .filter(|_| query.all("type").iter().all(|t| *t == "uploaded"))
        .collect();
    query.sort(&mut items, |c, f| named_key(c.id, &c.name, &c.created, f))?;
    let (page, meta) = query.paginate(items);
    let items: Vec<Value> = page
        .into_iter()
        .map(|c| certificate_json(&world, c))
        .collect();
    ok(json!({"certificates": items, "meta": meta}))
}

async fn get_one(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let world = app.read();
    let id = find(&world, &id)?;
    ok(json!({"certificate": certificate_json(&world, &world.data.certificates[&id])}))
}

#[derive(Debug, Deserialize)]
struct CreateCertificate {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    certificate: Option<String>,
    private_key: Option<String>,
    #[serde(default)]
    labels: Labels,
}

/// What the certificate says about itself: validity, names, SHA-256 fingerprint.
struct Parsed {
    not_valid_before: String,
    not_valid_after: String,
    domain_names: Vec<String>,
    fingerprint: String,
}

fn parse(pem: &str) -> Result<Parsed, ApiError> {
    let invalid = || ApiError::field("certificate", "invalid certificate");
    let der = certificate_der(pem, "certificate").map_err(|_| invalid())?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|_| invalid())?;
    let mut domain_names: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(d) => Some(d.to_string()),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    if domain_names.is_empty() {
        domain_names.extend(
            cert.subject()
                .iter_common_name()
                .filter_map(|cn| cn.as_str().ok().map(str::to_string)),
        );
    }
    let fingerprint = Sha256::digest(der.as_ref())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    Ok(Parsed {
        not_valid_before: format_timestamp(cert.validity().not_before.to_datetime()),
        not_valid_after: format_timestamp(cert.validity().not_after.to_datetime()),
        domain_names,
        fingerprint,
    })
}

async fn create(State(app): State<AppState>, Body(req): Body<CreateCertificate>) -> Reply {
    if req.kind.as_deref() == Some("managed") {
        return Err(ApiError::unmodelled(
            "POST /certificates of type managed (issued through Hetzner DNS)",
        ));
    }
    let mut fields = FieldErrors::default();
    fields.require("name", &req.name);
    if req.kind.as_deref().is_some_and(|k| k != "uploaded") {
        fields.add("type", "Must be one of: uploaded, managed.");
    }
    fields.require("certificate", &req.certificate);
    fields.require("private_key", &req.private_key);
    if let Err(e) = validate_labels(&req.labels) {
        fields.add("labels", e.to_string());
    }
    fields.finish()?;
    let (pem, key) = (
        req.certificate.unwrap_or_default(),
        req.private_key.unwrap_or_default(),
    );
    let parsed = parse(&pem)?;
    check_pair(&pem, &key, "private_key").map_err(|e| match e {
        PkiError::Mismatch { .. } => {
            ApiError::field("private_key", "private key does not match the certificate")
        }
        _ => ApiError::field("private_key", "invalid private key"),
    })?;
    let mut world = app.write();
    let name = req.name.unwrap_or_default();
    if world.data.certificates.values().any(|c| c.name == name) {
        return Err(ApiError::Uniqueness {
            field: "name".into(),
        });
    }
    let id = world.next_id();
    let record = Certificate {
        id,
        name,
        labels: req.labels,
        certificate: pem,
        created: world.clock.timestamp(),
        not_valid_before: parsed.not_valid_before,
        not_valid_after: parsed.not_valid_after,
        domain_names: parsed.domain_names,
        fingerprint: parsed.fingerprint,
    };
    world.data.certificates.insert(id, record);
    let body = certificate_json(&world, &world.data.certificates[&id]);
    created(json!({"certificate": body, "action": null}))
}

async fn update(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Body(req): Body<NameAndLabels>,
) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    rename::apply(&mut world.data.certificates, id, "certificate", req)?;
    ok(json!({"certificate": certificate_json(&world, &world.data.certificates[&id])}))
}

/// A certificate a load balancer service still names stays (the service would lose its TLS).
async fn delete(State(app): State<AppState>, Path(id): Path<String>) -> Reply {
    let mut world = app.write();
    let id = find(&world, &id)?;
    if !used_by(&world, id).is_empty() {
        return Err(ApiError::Coded {
            code: "resource_in_use",
            message: format!("certificate {id} is used by a load balancer"),
        });
    }
    world.data.certificates.remove(&id);
    no_content()
}
