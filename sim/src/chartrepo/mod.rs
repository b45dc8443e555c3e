//! The sim's own Helm chart repository, served by the Hetzner API's HTTP server at `/charts`
//! (not under `/v1`): `GET /charts/index.yaml` (a Helm repository index, `apiVersion: v1`) and
//! `GET /charts/hello-<version>.tgz`, real chart archives that real `helm` can install in users'
//! CI. The chart `hello` (versions [`HELLO_VERSIONS`]) deploys a Deployment named after the
//! release with `spec.replicas` from the value `replicas`; its `values.schema.json` requires
//! `replicas` to be an integer of at least 0. The archives are built when asked for, from the
//! files next to this module, so that their digests in the index always match.
//!
//! Inside simulated clusters the helm job runner resolves a repository URL on the sim's own
//! address whose path ends in `/charts` to this repository ([`is_own_repository`]).

use std::io::Write;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

/// The chart's name.
pub const HELLO: &str = "hello";
/// `(version, appVersion)` of every published `hello`, oldest first.
pub const HELLO_VERSIONS: &[(&str, &str)] = &[("1.0.0", "1.0.0"), ("1.1.0", "1.1.0")];
/// `values.yaml` of `hello`.
pub const HELLO_VALUES: &str = include_str!("values.yaml");
/// `values.schema.json` of `hello`.
pub const HELLO_SCHEMA: &str = include_str!("values.schema.json");
/// `templates/deployment.yaml` of `hello` (a Go template, for real Helm).
pub const HELLO_DEPLOYMENT: &str = include_str!("deployment.yaml");
/// When the charts were published (the index's `created` and `generated`).
const PUBLISHED: &str = "2026-01-01T00:00:00Z";

fn chart_yaml(version: &str, app_version: &str) -> String {
    format!(
        "apiVersion: v2\nname: {HELLO}\ndescription: A Deployment named after the release, served by hk8s-sim\ntype: application\nversion: {version}\nappVersion: \"{app_version}\"\n"
    )
}

/// The chart archive of `hello` at `version` (`None` for a version never published).
pub fn archive(version: &str) -> Option<Vec<u8>> {
    let (_, app_version) = HELLO_VERSIONS.iter().find(|(v, _)| *v == version)?;
    let files = [
        ("Chart.yaml", chart_yaml(version, app_version)),
        ("values.yaml", HELLO_VALUES.to_string()),
        ("values.schema.json", HELLO_SCHEMA.to_string()),
        ("templates/deployment.yaml", HELLO_DEPLOYMENT.to_string()),
    ];
    // A fixed mtime and no gzip file name keep the bytes, and so the digest, stable.
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (path, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_767_225_600);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, format!("{HELLO}/{path}"), text.as_bytes())
            .ok()?;
    }
    let mut gz = tar.into_inner().ok()?;
    gz.flush().ok()?;
    gz.finish().ok()
}

/// `index.yaml`: every version of `hello`, newest first, with relative URLs (Helm resolves them
/// against the repository URL).
pub fn index_yaml() -> String {
    let mut out = String::from("apiVersion: v1\nentries:\n  hello:\n");
    for (version, app_version) in HELLO_VERSIONS.iter().rev() {
        let digest = archive(version)
            .map(|a| {
                Sha256::digest(&a)
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>()
            })
            .unwrap_or_default();
        out.push_str(&format!(
            "  - apiVersion: v2\n    appVersion: \"{app_version}\"\n    created: \"{PUBLISHED}\"\n    description: A Deployment named after the release, served by hk8s-sim\n    digest: {digest}\n    name: {HELLO}\n    type: application\n    urls:\n    - {HELLO}-{version}.tgz\n    version: {version}\n"
        ));
    }
    out.push_str(&format!("generated: \"{PUBLISHED}\"\n"));
    out
}

/// Whether `url` names this repository: `http(s)://<the sim's address>/…/charts`, where the
/// address is the one the sim listens on (any loopback address or `localhost` when it listens on
/// a loopback or unspecified address), with its port.
pub fn is_own_repository(url: &str, own: Option<SocketAddr>) -> bool {
    let Some(own) = own else {
        return false;
    };
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return false;
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let Some((host, port)) = authority.rsplit_once(':') else {
        return false;
    };
    if port.parse::<u16>().ok() != Some(own.port()) {
        return false;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host_matches = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => {
            ip == own.ip()
                || ((own.ip().is_loopback() || own.ip().is_unspecified()) && ip.is_loopback())
        }
        Err(_) => {
            host.eq_ignore_ascii_case("localhost")
                && (own.ip().is_loopback() || own.ip().is_unspecified())
        }
    };
    host_matches && path.trim_end_matches('/').split('/').next_back() == Some("charts")
}

async fn index() -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/x-yaml")],
        index_yaml(),
    )
        .into_response()
}

async fn file(Path(file): Path<String>) -> Response {
    let archive = file
        .strip_prefix(&format!("{HELLO}-"))
        .and_then(|f| f.strip_suffix(".tgz"))
        .and_then(archive);
    match archive {
        Some(bytes) => (
            StatusCode::OK,
            [("content-type", "application/x-gzip")],
            bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "404 page not found\n").into_response(),
    }
}

/// `/charts` routes.
pub fn router() -> Router {
    Router::new()
        .route("/charts/index.yaml", get(index))
        .route("/charts/{file}", get(file))
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn archives_are_real_charts_and_the_index_names_their_digests() {
        let bytes = archive("1.1.0").unwrap();
        assert_eq!(bytes, archive("1.1.0").unwrap(), "stable bytes");
        let mut files = std::collections::BTreeMap::new();
        let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(bytes.as_slice()));
        for entry in tar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().to_string_lossy().to_string();
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            files.insert(path, text);
        }
        let chart: serde_json::Value = serde_saphyr::from_str(&files["hello/Chart.yaml"]).unwrap();
        assert_eq!(
            (
                chart["apiVersion"].as_str(),
                chart["name"].as_str(),
                chart["version"].as_str()
            ),
            (Some("v2"), Some("hello"), Some("1.1.0"))
        );
        let values: serde_json::Value =
            serde_saphyr::from_str(&files["hello/values.yaml"]).unwrap();
        assert_eq!(values["replicas"], 1);
        let schema: serde_json::Value =
            serde_json::from_str(&files["hello/values.schema.json"]).unwrap();
        assert_eq!(schema["properties"]["replicas"]["type"], "integer");
        assert!(
            files["hello/templates/deployment.yaml"].contains("replicas: {{ .Values.replicas }}")
        );
        assert!(archive("9.9.9").is_none());

        let index: serde_json::Value = serde_saphyr::from_str(&index_yaml()).unwrap();
        assert_eq!(index["apiVersion"], "v1");
        let entries = index["entries"]["hello"].as_array().unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0]["version"], "1.1.0");
        assert_eq!(entries[0]["urls"][0], "hello-1.1.0.tgz");
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(entries[0]["digest"], digest.as_str());
    }

    #[test]
    fn own_repository_urls() {
        let own: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(is_own_repository("http://127.0.0.1:8080/charts", Some(own)));
        assert!(is_own_repository(
            "http://localhost:8080/charts/",
            Some(own)
        ));
        assert!(is_own_repository(
            "http://127.0.0.1:8080/mirror/charts",
            Some(own)
        ));
        assert!(!is_own_repository(
            "http://127.0.0.1:8081/charts",
            Some(own)
        ));
        assert!(!is_own_repository("http://127.0.0.1:8080/v1", Some(own)));
        assert!(!is_own_repository(
            "https://charts.example.org/charts",
            Some(own)
        ));
        assert!(!is_own_repository("http://127.0.0.1:8080/charts", None));
    }
}
