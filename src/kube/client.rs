//! The HTTP side of the client: one reqwest client per cluster trusting only the cluster's CA
//! and presenting the client certificate, request plumbing that turns replies into values or
//! [`Error`]s naming the request, and the health endpoints.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use serde::de::DeserializeOwned;

use super::credentials::KubeCredentials;
use super::error::{Error, RequestInfo, Result, Status};
use super::mapping::DiscoveryCache;
pub use super::retry::KubeRetry;
use super::retry::Outcome;

/// Timeouts of every request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KubeOptions {
    /// Budget of one whole request (connect, send, reply).
    pub request_timeout: Duration,
    /// Budget of the TCP and TLS connection setup.
    pub connect_timeout: Duration,
    /// Which refusals one request repeats by itself (see [`KubeRetry`]).
    pub retry: KubeRetry,
}

impl Default for KubeOptions {
    /// 30 s per request, 10 s to connect, [`KubeRetry::default`].
    fn default() -> Self {
        KubeOptions {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            retry: KubeRetry::default(),
        }
    }
}

/// A body to send, with its content type.
pub(crate) struct Body {
    pub(crate) content_type: &'static str,
    pub(crate) bytes: Vec<u8>,
}

impl Body {
    /// A JSON body.
    pub(crate) fn json(value: &serde_json::Value) -> Body {
        Body {
            content_type: "application/json",
            bytes: value.to_string().into_bytes(),
        }
    }
}

/// A client for one cluster's Kubernetes API. Cheap to clone (clones share connections and the
/// discovery cache).
#[derive(Clone)]
pub struct KubeClient {
    http: reqwest::Client,
    /// `https://host:port`, without a trailing slash.
    base: String,
    pub(crate) discovery: Arc<DiscoveryCache>,
    retry: KubeRetry,
}

impl std::fmt::Debug for KubeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeClient")
            .field("server", &self.base)
            .finish_non_exhaustive()
    }
}

/// The raw reply of a request that got an answer.
pub(crate) struct Reply {
    pub(crate) request: RequestInfo,
    pub(crate) status: u16,
    pub(crate) body: bytes::Bytes,
    /// The `Retry-After` header, when there was one.
    pub(crate) retry_after: Option<String>,
}

impl Reply {
    /// The body as `T` on 2xx, the API's refusal otherwise.
    pub(crate) fn into_json<T: DeserializeOwned>(self) -> Result<T> {
        let reply = self.success()?;
        serde_json::from_slice(&reply.body).map_err(|source| Error::Decode {
            request: reply.request,
            source,
        })
    }

    /// `self` on 2xx, [`Error::Api`] otherwise.
    pub(crate) fn success(self) -> Result<Reply> {
        if (200..300).contains(&self.status) {
            Ok(self)
        } else {
            Err(Error::Api {
                status: Status::from_reply(self.status, &self.body),
                request: self.request,
            })
        }
    }
}

impl KubeClient {
    /// A client for `credentials.server` that trusts only `credentials.ca_pem` and authenticates
    /// with the client certificate. Makes no request.
    ///
    /// # Errors
    /// [`Error::Credentials`] for a malformed field, [`Error::ClientSetup`] when the TLS client
    /// cannot be built (e.g. a key in an unsupported algorithm).
    pub fn new(credentials: &KubeCredentials, options: KubeOptions) -> Result<KubeClient> {
        credentials.check()?;
        let cas = reqwest::Certificate::from_pem_bundle(credentials.ca_pem.as_bytes())
            .map_err(|source| Error::ClientSetup { source })?;
        let mut identity_pem = credentials.client_cert_pem.clone();
        if !identity_pem.ends_with('\n') {
            identity_pem.push('\n');
        }
        identity_pem.push_str(&credentials.standard_client_key_pem());
        let identity = reqwest::Identity::from_pem(identity_pem.as_bytes())
            .map_err(|source| Error::ClientSetup { source })?;
        let http = reqwest::Client::builder()
            .tls_certs_only(cas)
            .identity(identity)
            .https_only(true)
            .timeout(options.request_timeout)
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|source| Error::ClientSetup { source })?;
        Ok(KubeClient {
            http,
            base: credentials.server.trim_end_matches('/').to_owned(),
            discovery: Arc::new(DiscoveryCache::default()),
            retry: options.retry,
        })
    }

    /// The API server URL this client talks to.
    pub fn server(&self) -> &str {
        &self.base
    }

    /// Sends a request to `path` (starting with `/`) with `query` pairs, repeating the
    /// refusals [`KubeRetry`] says are safe to repeat (a DEBUG line each); any other HTTP reply
    /// is returned, only a missing reply is an error.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<Body>,
    ) -> Result<Reply> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self
                .send_once(method.clone(), path, query, body.as_ref())
                .await;
            let outcome = match &result {
                Ok(reply) => Outcome::Reply(reply.status, reply.retry_after.as_deref()),
                Err(Error::Transport { source, .. })
                    if !source.is_connect() && !source.is_timeout() =>
                {
                    Outcome::Broken
                }
                Err(_) => Outcome::Failed,
            };
            let Some((wait, reason)) =
                self.retry
                    .wait(&method, outcome, attempt, rand::random::<f64>())
            else {
                return result;
            };
            match &result {
                Ok(reply) => tracing::debug!(
                    request = %reply.request,
                    status = reply.status,
                    ?reason,
                    attempt,
                    wait_ms = wait.as_millis(),
                    "repeating Kubernetes API request"
                ),
                Err(e) => tracing::debug!(
                    error = %e,
                    ?reason,
                    attempt,
                    wait_ms = wait.as_millis(),
                    "repeating Kubernetes API request"
                ),
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Sends one request; any HTTP reply is returned, only a missing reply is an error.
    pub(crate) async fn send_once(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&Body>,
    ) -> Result<Reply> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.base)).map_err(|e| {
            Error::InvalidObject {
                object: path.to_owned(),
                reason: format!("does not make a valid URL: {e}"),
            }
        })?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let request = RequestInfo {
            method: method.clone(),
            url: url.to_string(),
        };
        let mut builder = self
            .http
            .request(method, url)
            .header(http::header::ACCEPT, "application/json");
        if let Some(body) = body {
            builder = builder
                .header(http::header::CONTENT_TYPE, body.content_type)
                .body(body.bytes.clone());
        }
        tracing::debug!(%request, "Kubernetes API request");
        let transport = |source| Error::Transport {
            request: request.clone(),
            source,
        };
        let response = builder.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.bytes().await.map_err(transport)?;
        Ok(Reply {
            request,
            status,
            body,
            retry_after,
        })
    }

    /// `GET path` decoded as `T`.
    pub(crate) async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T> {
        self.send(Method::GET, path, query, None).await?.into_json()
    }

    /// `GET /readyz`: `true` on 200, `false` when the server answers 5xx (not ready: the reply
    /// body names the failing checks, logged at DEBUG).
    ///
    /// # Errors
    /// [`Error::Transport`] when there is no reply, [`Error::Api`] for any other status (e.g.
    /// 401/403 when anonymous health checks are disabled and the identity may not read them).
    pub async fn readyz(&self) -> Result<bool> {
        // Not repeated: a 5xx here is the answer (not ready), which the waits poll on.
        let reply = self.send_once(Method::GET, "/readyz", &[], None).await?;
        if reply.status >= 500 {
            tracing::debug!(
                request = %reply.request,
                status = reply.status,
                body = %String::from_utf8_lossy(&reply.body),
                "Kubernetes API not ready"
            );
            return Ok(false);
        }
        reply.success().map(|_| true)
    }

    /// `GET /version`: the server's `gitVersion` (e.g. `v1.35.0`).
    ///
    /// # Errors
    /// [`Error::Transport`], [`Error::Api`], or [`Error::Decode`] when the reply has no
    /// `gitVersion`.
    pub async fn version(&self) -> Result<String> {
        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Version {
            git_version: String,
        }
        let version: Version = self.get_json("/version", &[]).await?;
        Ok(version.git_version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_keys_fail_at_construction_without_showing_the_key() {
        let (ca, cert) = {
            let key = rcgen::KeyPair::generate().unwrap();
            let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
                .unwrap()
                .self_signed(&key)
                .unwrap();
            (cert.pem(), cert.pem())
        };
        let credentials = KubeCredentials {
            server: "https://127.0.0.1:6443".into(),
            ca_pem: ca,
            client_cert_pem: cert,
            client_key_pem:
                "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n"
                    .into(),
        };
        let err = KubeClient::new(&credentials, KubeOptions::default()).unwrap_err();
        assert!(matches!(err, Error::ClientSetup { .. }), "{err:?}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains("c2VjcmV0"), "{shown}");
    }

    #[test]
    fn the_server_url_keeps_no_trailing_slash() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let credentials = KubeCredentials {
            server: "https://127.0.0.1:6443/".into(),
            ca_pem: cert.pem(),
            client_cert_pem: cert.pem(),
            client_key_pem: key.serialize_pem(),
        };
        let kube = KubeClient::new(&credentials, KubeOptions::default()).unwrap();
        assert_eq!(kube.server(), "https://127.0.0.1:6443");
        assert_eq!(
            format!("{kube:?}"),
            "KubeClient { server: \"https://127.0.0.1:6443\", .. }"
        );
    }
}
