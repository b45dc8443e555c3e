//! A stand-in for the Talos Image Factory on the sim's main listener, under `/factory`: what the
//! provider needs to build hcloud snapshots and upgrade nodes to a schematic.
//!
//! - `POST /factory/schematics` (YAML body) → `201 {"id", "schematic"}`, ids as the real
//!   factory computes them ([`schematic`]);
//! - `GET /factory/schematics/{id}` → the canonical YAML, or 404 `schematic not found`;
//! - `GET /factory/image/{schematic}/{version}/hcloud-{amd64,arm64}.raw.xz` → an xz stream of a
//!   small raw disk image naming version, schematic and architecture
//!   ([`crate::world::disk::raw_image`]); versions are those the sim's Talos models (any patch
//!   of v1.12, v1.13, v1.14);
//! - installer references (`…/installer/<schematic>:<version>`) are checked by
//!   [`installer_schematic`] for the Talos image pulls.
//!
//! The schematics live in the world (saved with `--state-file`, emptied by `/_sim/reset`); the
//! default schematic is always known. `factory_download_error` faults break downloads.

pub mod schematic;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::hcloud::AppState;
use crate::world::TalosDisk;
use crate::world::disk::raw_image;
use schematic::{DEFAULT_SCHEMATIC_YAML, Schematic, is_default};

/// Where the stand-in is mounted on the sim's listener.
pub const PATH: &str = "/factory";

/// The real factory's registry host (installer references name it).
pub const REAL_FACTORY_HOST: &str = "factory.talos.dev";

/// Routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/factory/schematics", post(create_schematic))
        .route("/factory/schematics/{id}", get(get_schematic))
        .route("/factory/image/{schematic}/{version}/{file}", get(download))
        .with_state(state)
}

/// The factory's plain-text error replies (Go's `http.Error`: text and a newline).
fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("{message}\n"),
    )
        .into_response()
}

async fn create_schematic(State(app): State<AppState>, body: Bytes) -> Response {
    let Ok(body) = std::str::from_utf8(&body) else {
        return text(
            StatusCode::BAD_REQUEST,
            "yaml: invalid UTF-8 in the schematic",
        );
    };
    let parsed = match Schematic::parse(body) {
        Ok(s) => s,
        Err(e) => return text(StatusCode::BAD_REQUEST, &e.0),
    };
    let (id, canonical) = (parsed.id(), parsed.marshal());
    app.write()
        .data
        .factory_schematics
        .insert(id.clone(), canonical.clone());
    (
        StatusCode::CREATED,
        axum::Json(json!({"id": id, "schematic": canonical})),
    )
        .into_response()
}

/// The canonical YAML of a known schematic.
pub fn known_schematic(world: &crate::world::World, id: &str) -> Option<String> {
    if is_default(id) {
        return Some(DEFAULT_SCHEMATIC_YAML.to_string());
    }
    world.data.factory_schematics.get(id).cloned()
}

async fn get_schematic(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    match known_schematic(&app.read(), &id) {
        Some(yaml) => ([(header::CONTENT_TYPE, "application/yaml")], yaml).into_response(),
        None => text(StatusCode::NOT_FOUND, "schematic not found"),
    }
}

/// Whether the factory serves `version` (`v1.13.9` or `1.13.9`): a full release version of a
/// Talos minor the sim models. The normalised `vX.Y.Z` when it does.
pub fn served_version(version: &str) -> Option<String> {
    let bare = version.strip_prefix('v').unwrap_or(version);
    let parts: Vec<&str> = bare.split('.').collect();
    let numeric = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    let v = format!("v{bare}");
    (numeric
        && crate::talos::config::SUPPORTED_MINORS
            .contains(&crate::talos::config::minor_of(&v).as_str()))
    .then_some(v)
}

async fn download(
    State(app): State<AppState>,
    Path((schematic, version, file)): Path<(String, String, String)>,
    headers: axum::http::HeaderMap,
) -> Response {
    let fault = {
        let mut world = app.write();
        if known_schematic(&world, &schematic).is_none() {
            return text(StatusCode::NOT_FOUND, "schematic not found");
        }
        let Some(version) = served_version(&version) else {
            return text(
                StatusCode::NOT_FOUND,
                &format!("version {version} is not available"),
            );
        };
        let arch = match file.as_str() {
            "hcloud-amd64.raw.xz" => "amd64",
            "hcloud-arm64.raw.xz" => "arm64",
            other => {
                return text(
                    StatusCode::NOT_FOUND,
                    &format!(
                        "asset {other:?} is not modelled by hk8s-sim (it serves hcloud-amd64.raw.xz and hcloud-arm64.raw.xz)"
                    ),
                );
            }
        };
        let fault = world.faults.factory_download();
        if fault == Some(false) {
            return text(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
        }
        world.stats.factory_downloads += 1;
        (
            fault.is_some(),
            TalosDisk {
                version,
                schematic: schematic.clone(),
                arch: arch.into(),
            },
        )
    };
    let (break_off, disk) = fault;
    let mut xz = Vec::new();
    if let Err(e) = lzma_rs::xz_compress(&mut raw_image(&disk).as_slice(), &mut xz) {
        return text(StatusCode::INTERNAL_SERVER_ERROR, &format!("xz: {e}"));
    }
    // `Range: bytes=N-` resumes a download (as the factory's CDN does): 206 with the rest.
    let total = xz.len();
    let from = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.strip_suffix('-'))
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|from| *from < total);
    let (status, xz) = match from {
        Some(from) => (StatusCode::PARTIAL_CONTENT, xz.split_off(from)),
        None => (StatusCode::OK, xz),
    };
    let length = xz.len();
    let body = if break_off {
        // Half the promised bytes, then the connection breaks.
        let half = Bytes::from(xz[..length / 2].to_vec());
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
            Ok(half),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "factory_download_error fault",
            )),
        ];
        Body::from_stream(tokio_stream::iter(chunks))
    } else {
        Body::from(xz)
    };
    let mut response = (
        status,
        [
            (header::CONTENT_TYPE, "application/x-xz".to_string()),
            (header::CONTENT_LENGTH, length.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            ),
        ],
        body,
    )
        .into_response();
    if let Some(from) = from
        && let Ok(range) = format!("bytes {from}-{}/{total}", total - 1).parse()
    {
        response.headers_mut().insert(header::CONTENT_RANGE, range);
    }
    response
}

/// Why an installer image cannot be pulled: containerd's text for a missing image.
pub fn missing_image(image: &str) -> String {
    format!(
        "failed to pull image {image:?}: failed to resolve reference {image:?}: {image}: not found"
    )
}

/// The schematic an installer image reference installs: `Ok(Some(id))` for a factory installer
/// (`factory.talos.dev/installer/<id>:<v>`, `factory.talos.dev/<platform>-installer/<id>:<v>`,
/// or the same under the stand-in's address) whose schematic the factory knows, and for
/// `ghcr.io/siderolabs/installer:<v>` (the default schematic); `Ok(None)` for other images
/// (the sim does not decide what they install); `Err` (containerd's text) for a factory
/// installer of a schematic the factory does not know.
pub fn installer_schematic(
    world: &crate::world::World,
    image: &str,
) -> Result<Option<String>, String> {
    let name = image.rsplit_once(':').map_or(image, |(name, _)| name);
    if name == "ghcr.io/siderolabs/installer" {
        return Ok(Some(crate::catalog::DEFAULT_TALOS_SCHEMATIC.to_string()));
    }
    let mut segments = name.rsplit('/');
    let (Some(id), Some(repo)) = (segments.next(), segments.next()) else {
        return Ok(None);
    };
    let is_installer = repo == "installer" || repo.ends_with("-installer");
    let is_schematic = id.len() == 64 && id.chars().all(|c| c.is_ascii_hexdigit());
    if !(is_installer && is_schematic) {
        return Ok(None);
    }
    match known_schematic(world, id) {
        Some(_) => Ok(Some(id.to_string())),
        None => Err(missing_image(image)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_those_the_sim_models() {
        assert_eq!(served_version("v1.13.9").as_deref(), Some("v1.13.9"));
        assert_eq!(served_version("1.14.0").as_deref(), Some("v1.14.0"));
        assert_eq!(served_version("v1.9.5"), None);
        assert_eq!(served_version("v1.13"), None);
        assert_eq!(served_version("latest"), None);
    }
}
