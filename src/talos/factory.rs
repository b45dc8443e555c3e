//! Talos's Image Factory (`https://factory.talos.dev` or a mirror): schematics (system extensions
//! and kernel arguments) become ids, and each id names disk images and installer images.

use std::time::Duration;

use super::version::TalosVersion;

/// The public Image Factory.
pub const DEFAULT_URL: &str = "https://factory.talos.dev";

/// The schematic with no customisation (`customization: {}`): plain Talos.
pub const DEFAULT_SCHEMATIC: &str =
    "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba";

/// Keys the factory accepts at the top of a schematic.
const SCHEMATIC_KEYS: [&str; 2] = ["customization", "overlay"];

/// A CPU architecture as the factory names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arch {
    /// x86-64.
    Amd64,
    /// 64-bit ARM.
    Arm64,
}

impl Arch {
    /// `amd64` or `arm64`.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// Why the factory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FactoryError {
    /// The URL is not an http(s) URL with a host.
    #[error("{url:?} is not an Image Factory URL ({reason})")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The request could not be sent or the reply read.
    #[error("Image Factory at {url}: {source}")]
    Http {
        /// The factory's URL.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The factory refused the schematic.
    #[error("Image Factory at {url} refused the schematic (HTTP {status}): {message}")]
    Refused {
        /// The factory's URL.
        url: String,
        /// HTTP status.
        status: u16,
        /// The factory's answer.
        message: String,
    },
}

/// An Image Factory.
#[derive(Debug, Clone)]
pub struct Factory {
    base: reqwest::Url,
    http: reqwest::Client,
}

impl Factory {
    /// A client for the factory at `url` (`https://`, or `http://` for mirrors inside a private
    /// network).
    ///
    /// # Errors
    /// [`FactoryError::Url`] when `url` is not an http(s) URL with a host.
    pub fn new(url: &str) -> Result<Self, FactoryError> {
        let base = check_url(url)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|source| FactoryError::Http {
                url: url.to_owned(),
                source,
            })?;
        Ok(Factory { base, http })
    }

    /// The factory's URL, without a trailing slash.
    pub fn url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// The id of `schematic` (YAML as the factory takes it). The default schematic needs no
    /// request.
    ///
    /// # Errors
    /// The factory's refusal or a transport error.
    pub async fn schematic_id(&self, schematic: &str) -> Result<String, FactoryError> {
        if is_default(schematic) {
            return Ok(DEFAULT_SCHEMATIC.to_owned());
        }
        let url = format!("{}/schematics", self.url());
        let transport = |source| FactoryError::Http {
            url: self.url().to_owned(),
            source,
        };
        let reply = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/yaml")
            .body(schematic.to_owned())
            .send()
            .await
            .map_err(transport)?;
        let status = reply.status();
        let body = reply.text().await.map_err(transport)?;
        if !status.is_success() {
            return Err(FactoryError::Refused {
                url: self.url().to_owned(),
                status: status.as_u16(),
                message: body.trim().to_owned(),
            });
        }
        #[derive(serde::Deserialize)]
        struct Created {
            id: String,
        }
        serde_json::from_str::<Created>(&body)
            .map(|c| c.id)
            .map_err(|e| FactoryError::Refused {
                url: self.url().to_owned(),
                status: status.as_u16(),
                message: format!("the answer is not {{\"id\": …}} ({e}): {}", body.trim()),
            })
    }

    /// Where the Hetzner disk image of `schematic` and `version` is downloaded from.
    pub fn disk_image_url(&self, schematic: &str, version: &TalosVersion, arch: Arch) -> String {
        format!(
            "{}/image/{schematic}/{version}/hcloud-{}.raw.xz",
            self.url(),
            arch.as_str()
        )
    }

    /// The installer image of `schematic` for upgrades to `version`, from the factory's registry
    /// (same host and path as its URL).
    pub fn installer_image(&self, schematic: &str, version: &TalosVersion) -> String {
        let host = self.base.host_str().unwrap_or_default();
        let port = self
            .base
            .port()
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        let path = self.base.path().trim_end_matches('/');
        format!("{host}{port}{path}/installer/{schematic}:{version}")
    }
}

impl Default for Factory {
    fn default() -> Self {
        Factory::new(DEFAULT_URL).unwrap_or_else(|_| unreachable!("the default URL is valid"))
    }
}

/// Whether the schematic asks for nothing (then its id is [`DEFAULT_SCHEMATIC`]).
fn is_default(schematic: &str) -> bool {
    let trimmed = schematic.trim();
    trimmed.is_empty() || matches!(trimmed, "customization: {}" | "{}")
}

fn check_url(url: &str) -> Result<reqwest::Url, FactoryError> {
    let refuse = |reason: String| FactoryError::Url {
        url: url.to_owned(),
        reason,
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| refuse(e.to_string()))?;
    if !matches!(parsed.scheme(), "https" | "http") {
        return Err(refuse(format!(
            "the scheme is {:?}; write an https:// URL such as {DEFAULT_URL}",
            parsed.scheme()
        )));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(refuse(format!(
            "it has no host; write an https:// URL such as {DEFAULT_URL}"
        )));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(refuse("it has a query or fragment".to_owned()));
    }
    Ok(parsed)
}

/// Checks a schematic before it is sent: YAML whose top level is a mapping of the keys the
/// factory knows (`customization`, `overlay`). The factory checks the rest.
///
/// # Errors
/// What is wrong, for a diagnostic.
pub fn check_schematic(text: &str) -> Result<(), String> {
    if text.trim().is_empty() {
        return Ok(());
    }
    let value: serde_json::Value = serde_saphyr::from_str(text)
        .map_err(|e| format!("the schematic is not valid YAML: {e}"))?;
    let serde_json::Value::Object(top) = value else {
        return Err("the schematic must be a YAML mapping with a `customization` key".to_owned());
    };
    if let Some(unknown) = top.keys().find(|k| !SCHEMATIC_KEYS.contains(&k.as_str())) {
        return Err(format!(
            "the schematic has the key {unknown:?}; the Image Factory accepts {}",
            SCHEMATIC_KEYS.join(" and ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version() -> TalosVersion {
        "v1.13.9".parse().unwrap()
    }

    #[test]
    fn urls_follow_the_factory_url() {
        let public = Factory::default();
        assert_eq!(
            public.disk_image_url("abc", &version(), Arch::Arm64),
            "https://factory.talos.dev/image/abc/v1.13.9/hcloud-arm64.raw.xz"
        );
        assert_eq!(
            public.installer_image("abc", &version()),
            "factory.talos.dev/installer/abc:v1.13.9"
        );
        let mirror = Factory::new("http://127.0.0.1:8080/factory/").unwrap();
        assert_eq!(
            mirror.disk_image_url("abc", &version(), Arch::Amd64),
            "http://127.0.0.1:8080/factory/image/abc/v1.13.9/hcloud-amd64.raw.xz"
        );
        assert_eq!(
            mirror.installer_image("abc", &version()),
            "127.0.0.1:8080/factory/installer/abc:v1.13.9"
        );
    }

    #[test]
    fn bad_urls_are_refused_with_the_reason() {
        for (url, reason) in [
            ("factory.talos.dev", "relative URL"),
            ("ftp://factory", "scheme"),
            ("https://factory.talos.dev/?x=1", "query"),
        ] {
            let err = Factory::new(url).unwrap_err().to_string();
            assert!(err.contains(reason), "{url}: {err}");
        }
    }

    #[test]
    fn schematics_are_checked_for_their_shape() {
        assert!(check_schematic("").is_ok());
        assert!(
            check_schematic(
                "customization:\n  systemExtensions:\n    officialExtensions: [siderolabs/iscsi-tools]\n"
            )
            .is_ok()
        );
        assert!(check_schematic("- a\n").unwrap_err().contains("mapping"));
        assert!(
            check_schematic("customisation: {}\n")
                .unwrap_err()
                .contains("\"customisation\"")
        );
        assert!(check_schematic("customization: [").is_err());
    }

    #[test]
    fn the_empty_schematic_needs_no_request() {
        let factory = Factory::new("http://127.0.0.1:1").unwrap();
        let id = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(factory.schematic_id("customization: {}\n"))
            .unwrap();
        assert_eq!(id, DEFAULT_SCHEMATIC);
    }
}
