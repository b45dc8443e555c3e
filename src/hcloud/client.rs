//! The HTTP client: endpoint, bearer token, user agent, timeouts, and the one place where every
//! request is sent, its errors parsed, retried (see [`super::retry`]) and accounted for.
//!
//! Operation modules (`servers.rs`, `networks.rs`, …) only build [`ApiRequest`]s and decode
//! replies; they never loop, sleep or look at status codes.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use super::budget::RequestBudget;
use super::error::{Error, api_error};
use super::retry::{Deadline, RateLimit, RetryPolicy, RetryReason, classify, unix_now};

/// The public Hetzner Cloud API.
pub const DEFAULT_ENDPOINT: &str = "https://api.hetzner.cloud/v1";

/// `User-Agent` of every request.
pub const USER_AGENT: &str = concat!("terraform-provider-hk8s/", env!("CARGO_PKG_VERSION"));

/// A Hetzner Cloud API token. Its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token.
    pub fn new(value: impl Into<String>) -> Self {
        Token(value.into())
    }

    /// The secret itself, for building the `Authorization` header only.
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// How to reach the API.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Base URL including `/v1`, e.g. `http://127.0.0.1:8080/v1` (`HCLOUD_ENDPOINT`).
    pub endpoint: String,
    /// Bearer token (`HCLOUD_TOKEN`).
    pub token: Token,
    /// Cap on one HTTP exchange (further bounded by the operation's [`Deadline`]).
    pub request_timeout: Duration,
    /// Cap on establishing a connection.
    pub connect_timeout: Duration,
    /// Base interval of action polling (the provider's `poll_interval`).
    pub poll_interval: Duration,
    /// Backoff for retried requests. The first wait is at most `poll_interval`: the provider's
    /// poll interval is its unit of waiting (1 s by default, the same as the policy's), and a
    /// shorter one, as tests against hk8s-sim's scaled-down latency use, shortens retries too.
    pub retry: RetryPolicy,
    /// The share of the project's hourly request budget this client may spend; clients built
    /// with the same `Arc` (one provider process) share one estimate of the bucket.
    pub budget: Arc<RequestBudget>,
}

impl ClientConfig {
    /// The public API with default timeouts (30 s per request, 10 s to connect) and a 500 ms poll
    /// interval.
    pub fn new(token: Token) -> Self {
        ClientConfig {
            endpoint: DEFAULT_ENDPOINT.to_string(),
            token,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            poll_interval: Duration::from_millis(500),
            retry: RetryPolicy::default(),
            budget: Arc::new(RequestBudget::new(None)),
        }
    }

    /// The same configuration for another endpoint.
    #[must_use]
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = endpoint.into();
        self
    }
}

/// Requests sent so far by a [`Client`] and its clones (for tracing and benchmarks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Of those, how many were retries.
    pub retries: u64,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    authorization: HeaderValue,
    retry: RetryPolicy,
    poll_interval: Duration,
    requests: AtomicU64,
    retries: AtomicU64,
    budget: Arc<RequestBudget>,
}

/// A Hetzner Cloud API client. Cheap to clone; clones share the connection pool and counters.
/// Every call honours the client's [`Deadline`] (see [`Client::with_deadline`]).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    deadline: Deadline,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.inner.base)
            .field("token", &"<redacted>")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// One API request, built without I/O by the operation modules.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    method: Method,
    path: String,
    query: Vec<(String, String)>,
    body: Option<serde_json::Value>,
}

impl ApiRequest {
    /// A request for `path` below the endpoint (starting with `/`).
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        ApiRequest {
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
        }
    }

    /// `GET path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    /// `POST path` with a JSON body.
    pub fn post(path: impl Into<String>, body: serde_json::Value) -> Self {
        Self::new(Method::POST, path).body(body)
    }

    /// `DELETE path`.
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::DELETE, path)
    }

    /// Adds a query parameter (repeatable, e.g. `id`).
    #[must_use]
    pub fn query(mut self, key: &str, value: impl ToString) -> Self {
        self.query.push((key.to_string(), value.to_string()));
        self
    }

    /// Sets the JSON body.
    #[must_use]
    pub fn body(mut self, body: serde_json::Value) -> Self {
        self.body = Some(body);
        self
    }

    /// `METHOD /path` (no query, no host), used in errors and logs.
    pub fn describe(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The query parameters.
    pub fn query_pairs(&self) -> &[(String, String)] {
        &self.query
    }
}

impl Client {
    /// Builds a client. Fails when the endpoint is not an `http(s)` URL or the token cannot be
    /// sent in a header (the error never contains the token).
    pub fn new(config: ClientConfig) -> Result<Self, Error> {
        let base = config.endpoint.trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&base)
            .map_err(|e| Error::Config(format!("endpoint {base:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Config(format!(
                "endpoint {base:?} must use http or https"
            )));
        }
        let mut authorization = HeaderValue::from_str(&format!("Bearer {}", config.token.expose()))
            .map_err(|_| {
                Error::Config("the token contains characters not allowed in an HTTP header".into())
            })?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(config.request_timeout)
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                authorization,
                retry: RetryPolicy {
                    initial: config.retry.initial.min(config.poll_interval),
                    ..config.retry
                },
                poll_interval: config.poll_interval,
                requests: AtomicU64::new(0),
                retries: AtomicU64::new(0),
                budget: config.budget,
            }),
            deadline: Deadline::none(),
        })
    }

    /// A clone whose calls stop at `deadline` (time or cancellation).
    #[must_use]
    pub fn with_deadline(&self, deadline: Deadline) -> Self {
        Client {
            inner: self.inner.clone(),
            deadline,
        }
    }

    /// The deadline calls honour.
    pub fn deadline(&self) -> &Deadline {
        &self.deadline
    }

    /// Base interval for action polling.
    pub fn poll_interval(&self) -> Duration {
        self.inner.poll_interval
    }

    /// Requests sent so far by this client and its clones.
    pub fn stats(&self) -> RequestStats {
        RequestStats {
            requests: self.inner.requests.load(Ordering::Relaxed),
            retries: self.inner.retries.load(Ordering::Relaxed),
        }
    }

    /// Sends `request` (with retries) and decodes the JSON reply.
    pub async fn call<T: DeserializeOwned>(&self, request: ApiRequest) -> Result<T, Error> {
        let body = self.send(&request).await?;
        decode(&request, &body)
    }

    /// Sends `request`; `None` when the reply has no body (endpoints that answer either an
    /// action or `204`, such as load balancer deletion).
    pub async fn call_optional<T: DeserializeOwned>(
        &self,
        request: ApiRequest,
    ) -> Result<Option<T>, Error> {
        let body = self.send(&request).await?;
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        decode(&request, &body).map(Some)
    }

    /// The retry loop: every request of the client goes through here.
    async fn send(&self, request: &ApiRequest) -> Result<Bytes, Error> {
        let what = request.describe();
        let started = Instant::now();
        let policy = &self.inner.retry;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            if self.deadline.is_cancelled() {
                return Err(Error::Cancelled {
                    what: format!("sending {what}"),
                });
            }
            self.spend_budget(&what, started).await?;
            let result = tokio::select! {
                result = self.send_once(request, attempt) => result,
                () = self.deadline.cancelled() => {
                    return Err(Error::Cancelled { what: format!("sending {what}") });
                }
            };
            let (error, rate_limit) = match result {
                Ok(body) => return Ok(body),
                Err(failure) => failure,
            };
            let timeout = |last: Error| Error::Timeout {
                what: what.clone(),
                pending: vec![format!("{what} (attempt {attempt})")],
                elapsed: started.elapsed(),
                last_error: Some(Box::new(last)),
            };
            let Some(reason) = classify(&request.method, &error) else {
                if self.deadline.is_expired() && matches!(error, Error::Http { .. }) {
                    return Err(timeout(error));
                }
                return Err(error);
            };
            if attempt >= policy.max_attempts {
                return Err(error);
            }
            let mut wait = policy.backoff(attempt, rand::random::<f64>());
            if reason == RetryReason::RateLimited
                && let Some(refill) = rate_limit.wait_for_next_request(unix_now())
            {
                wait = wait.max(refill);
            }
            if self.deadline.remaining().is_some_and(|left| wait >= left) {
                return Err(timeout(error));
            }
            tracing::debug!(
                request = %what,
                attempt,
                ?reason,
                wait_ms = wait.as_millis() as u64,
                error = %error,
                "hcloud request will be retried"
            );
            self.inner.retries.fetch_add(1, Ordering::Relaxed);
            if !self.deadline.sleep(wait).await {
                return Err(Error::Cancelled {
                    what: format!("waiting to retry {what}"),
                });
            }
        }
    }

    /// Waits, when the next request would leave less of the project's hourly budget than the
    /// reserve (see [`RequestBudget`]), until the bucket has refilled that far.
    async fn spend_budget(&self, what: &str, started: Instant) -> Result<(), Error> {
        let Some(pause) = self.inner.budget.take(Instant::now()) else {
            return Ok(());
        };
        // A wait past the deadline is refused before it is announced as if it would happen.
        if self
            .deadline
            .remaining()
            .is_some_and(|left| pause.wait >= left)
        {
            return Err(Error::Timeout {
                what: what.to_string(),
                pending: vec![format!(
                    "{what}: waiting {}s for the hourly request budget ({} of {} left, {} reserved; lower hcloud_rate_limit_reserve to spend more of it)",
                    pause.wait.as_secs(),
                    pause.remaining,
                    pause.limit,
                    pause.reserve
                )],
                elapsed: started.elapsed(),
                last_error: None,
            });
        }
        let wait_ms = u64::try_from(pause.wait.as_millis()).unwrap_or(u64::MAX);
        if pause.announce {
            tracing::info!(
                request = %what,
                wait_ms,
                remaining = pause.remaining,
                limit = pause.limit,
                reserve = pause.reserve,
                "waiting for Hetzner's hourly request budget to refill ({} ms before this request, more may follow): {} of {} requests left, {} kept for the cloud controller, CSI driver and autoscaler",
                wait_ms,
                pause.remaining,
                pause.limit,
                pause.reserve,
            );
        } else {
            tracing::debug!(request = %what, wait_ms, "spacing requests to keep the rate-limit reserve");
        }
        if self.deadline.sleep(pause.wait).await {
            Ok(())
        } else {
            Err(Error::Cancelled {
                what: format!("waiting for the request budget before {what}"),
            })
        }
    }

    /// One HTTP exchange: the body of a success reply, or the parsed error and the rate-limit
    /// headers that came with it.
    async fn send_once(
        &self,
        request: &ApiRequest,
        attempt: u32,
    ) -> Result<Bytes, (Error, RateLimit)> {
        let what = request.describe();
        let url = format!("{}{}", self.inner.base, request.path);
        let mut builder = self.inner.http.request(request.method.clone(), url).header(
            http::header::AUTHORIZATION,
            self.inner.authorization.clone(),
        );
        if !request.query.is_empty() {
            builder = builder.query(&request.query);
        }
        if let Some(body) = &request.body {
            builder = builder.json(body);
        }
        if let Some(left) = self.deadline.remaining() {
            // Never let one exchange outlive the operation's deadline.
            builder = builder.timeout(left.max(Duration::from_millis(1)));
        }
        let started = Instant::now();
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
        let transport = |source: reqwest::Error| {
            (
                Error::Http {
                    request: what.clone(),
                    source,
                },
                RateLimit::default(),
            )
        };
        let response = builder.send().await.map_err(transport)?;
        let status = response.status();
        let rate_limit = RateLimit::from_headers(response.headers());
        self.inner
            .budget
            .observe(&rate_limit, Instant::now(), unix_now());
        let body = response.bytes().await.map_err(transport)?;
        tracing::debug!(
            request = %what,
            status = status.as_u16(),
            attempt,
            elapsed_ms = started.elapsed().as_millis() as u64,
            ratelimit_remaining = rate_limit.remaining,
            "hcloud request"
        );
        if status.is_success() {
            Ok(body)
        } else {
            Err((api_error(&what, status.as_u16(), &body), rate_limit))
        }
    }
}

fn decode<T: DeserializeOwned>(request: &ApiRequest, body: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(body).map_err(|source| Error::Decode {
        request: request.describe(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_hides_the_token() {
        let token = Token::new("very-secret-token-value");
        let client = Client::new(ClientConfig::new(token.clone())).unwrap();
        let config = ClientConfig::new(token.clone());
        for text in [
            format!("{token:?}"),
            format!("{client:?}"),
            format!("{config:?}"),
        ] {
            assert!(!text.contains("very-secret"), "{text}");
        }
    }

    #[test]
    fn refuses_bad_endpoints_and_tokens() {
        let bad = ClientConfig::new(Token::new("t")).endpoint("ftp://example");
        assert!(matches!(Client::new(bad), Err(Error::Config(_))));
        let bad_token = Client::new(ClientConfig::new(Token::new("line\nbreak-secret")));
        let Err(err) = bad_token else {
            panic!("accepted")
        };
        assert!(!err.to_string().contains("break-secret"));
    }

    #[test]
    fn requests_describe_themselves_without_query() {
        let req = ApiRequest::get("/actions").query("id", 1).query("id", 2);
        assert_eq!(req.describe(), "GET /actions");
        assert_eq!(req.query_pairs().len(), 2);
    }
}
