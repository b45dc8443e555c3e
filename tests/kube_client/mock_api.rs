//! A mock Kubernetes API for what the sim does not model yet (pods, evictions with
//! PodDisruptionBudgets, custom groups' discovery): an axum router over rustls that requires a
//! client certificate from the test CA, with scripted state.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hk8s::kube::KubeCredentials;
use hk8s::talos::pki::keys::{self, KeyAlgorithm};
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How the mock answers evictions of one pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictionPolicy {
    /// 201 at once; the pod disappears.
    Allow,
    /// 429 (PodDisruptionBudget) this many times, then allowed.
    RefuseTimes(u32),
    /// 429 forever.
    RefuseAlways,
}

/// The scripted cluster.
#[derive(Debug, Default)]
pub struct MockState {
    /// Pods by `namespace/name`.
    pub pods: BTreeMap<String, Value>,
    /// Eviction behaviour by `namespace/name` (default [`EvictionPolicy::Allow`]).
    pub evictions: HashMap<String, EvictionPolicy>,
    /// `spec.unschedulable` of each node patched.
    pub unschedulable: BTreeMap<String, bool>,
    /// Every request as `METHOD path?query`.
    pub log: Vec<String>,
    /// Eviction bodies received.
    pub eviction_bodies: Vec<Value>,
    /// Applied objects by path.
    pub objects: BTreeMap<String, Value>,
}

impl MockState {
    /// Adds a pod on `node`, owned by a controller of `owner_kind` (none when empty).
    pub fn add_pod(&mut self, namespace: &str, name: &str, node: &str, owner_kind: &str) {
        let mut pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{namespace}-{name}")},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Running"}});
        if !owner_kind.is_empty() {
            pod["metadata"]["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": owner_kind, "name": "owner", "uid": "o", "controller": true}]);
        }
        self.pods.insert(format!("{namespace}/{name}"), pod);
    }
}

/// A running mock API.
pub struct MockApi {
    /// Scripted state, shared with the handlers.
    pub state: Arc<Mutex<MockState>>,
    /// Credentials the client under test uses.
    pub credentials: KubeCredentials,
    /// The test CA (certificate and key) for minting other identities.
    ca: (CertificateParams, KeyPair),
    /// Where it listens.
    pub addr: SocketAddr,
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response {
    let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message, "code": code.as_u16()});
    (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok(code: StatusCode, body: &Value) -> Response {
    (
        code,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn handle(State(state): State<Arc<Mutex<MockState>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_string();
    let query: Vec<(String, String)> = parts.uri.query().map(url_pairs).unwrap_or_default();
    let mut state = state.lock().unwrap();
    state.log.push(format!("{} {}", parts.method, parts.uri));
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (&parts.method, segments.as_slice()) {
        (&Method::GET, ["readyz"]) => (StatusCode::OK, "ok").into_response(),
        (&Method::GET, ["version"]) => ok(
            StatusCode::OK,
            &json!({"gitVersion": "v1.35.0", "major": "1", "minor": "35"}),
        ),
        (&Method::GET, ["api", "v1"]) => ok(
            StatusCode::OK,
            &json!({"kind": "APIResourceList", "groupVersion": "v1", "resources": [
                {"name": "pods", "kind": "Pod", "namespaced": true},
                {"name": "pods/eviction", "kind": "Eviction", "namespaced": true},
                {"name": "nodes", "kind": "Node", "namespaced": false}]}),
        ),
        (&Method::GET, ["apis", "helm.cattle.io", "v1"]) => ok(
            StatusCode::OK,
            &json!({"kind": "APIResourceList", "groupVersion": "helm.cattle.io/v1", "resources": [
                {"name": "helmcharts", "kind": "HelmChart", "namespaced": true},
                {"name": "helmcharts/status", "kind": "HelmChart", "namespaced": true}]}),
        ),
        (
            &Method::PATCH,
            [
                "apis",
                "helm.cattle.io",
                "v1",
                "namespaces",
                _,
                "helmcharts",
                _,
            ],
        ) => {
            let content_type = parts
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            let manager = query
                .iter()
                .find(|(k, _)| k == "fieldManager")
                .map(|(_, v)| v.clone());
            if content_type != "application/apply-patch+yaml" || manager.is_none() {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "expected server-side apply with a fieldManager",
                );
            }
            let object: Value = serde_json::from_slice(&body).unwrap();
            state.objects.insert(path.clone(), object.clone());
            ok(StatusCode::CREATED, &object)
        }
        (
            &Method::GET,
            [
                "apis",
                "helm.cattle.io",
                "v1",
                "namespaces",
                ns,
                "helmcharts",
            ],
        ) => {
            let prefix = format!("/apis/helm.cattle.io/v1/namespaces/{ns}/helmcharts/");
            let selector = query
                .iter()
                .find(|(k, _)| k == "labelSelector")
                .map(|(_, v)| v.as_str());
            let items: Vec<Value> = state
                .objects
                .iter()
                .filter(|(path, _)| path.starts_with(&prefix))
                .map(|(_, o)| o.clone())
                .filter(|o| selector.is_none_or(|s| labels_match(o, s)))
                .collect();
            ok(
                StatusCode::OK,
                &json!({"kind": "HelmChartList", "items": items}),
            )
        }
        (&Method::PATCH, ["api", "v1", "nodes", name]) => {
            let patch: Value = serde_json::from_slice(&body).unwrap();
            let unschedulable = patch["spec"]["unschedulable"].as_bool().unwrap_or(false);
            state.unschedulable.insert(name.to_string(), unschedulable);
            ok(
                StatusCode::OK,
                &json!({"metadata": {"name": name}, "spec": {"unschedulable": unschedulable}}),
            )
        }
        (&Method::GET, ["api", "v1", "pods"]) => {
            let Some(node) = query
                .iter()
                .find(|(k, _)| k == "fieldSelector")
                .and_then(|(_, v)| v.strip_prefix("spec.nodeName="))
            else {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "the mock only lists pods by spec.nodeName",
                );
            };
            let items: Vec<Value> = state
                .pods
                .values()
                .filter(|p| p["spec"]["nodeName"] == node)
                .cloned()
                .collect();
            ok(
                StatusCode::OK,
                &json!({"kind": "PodList", "apiVersion": "v1", "items": items}),
            )
        }
        (&Method::POST, ["api", "v1", "namespaces", ns, "pods", name, "eviction"]) => {
            let key = format!("{ns}/{name}");
            let eviction: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if eviction["kind"] != "Eviction"
                || eviction["apiVersion"] != "policy/v1"
                || eviction["metadata"]["name"] != *name
            {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "not a policy/v1 Eviction for this pod",
                );
            }
            state.eviction_bodies.push(eviction);
            if !state.pods.contains_key(&key) {
                return status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    &format!("pods \"{name}\" not found"),
                );
            }
            let policy = state
                .evictions
                .get(&key)
                .copied()
                .unwrap_or(EvictionPolicy::Allow);
            let refuse = match policy {
                EvictionPolicy::Allow => false,
                EvictionPolicy::RefuseAlways => true,
                EvictionPolicy::RefuseTimes(0) => false,
                EvictionPolicy::RefuseTimes(n) => {
                    state
                        .evictions
                        .insert(key.clone(), EvictionPolicy::RefuseTimes(n - 1));
                    true
                }
            };
            if refuse {
                return status(
                    StatusCode::TOO_MANY_REQUESTS,
                    "TooManyRequests",
                    "Cannot evict pod as it would violate the pod's disruption budget.",
                );
            }
            state.pods.remove(&key);
            ok(
                StatusCode::CREATED,
                &json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 201}),
            )
        }
        _ => status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("the mock does not serve {path}"),
        ),
    }
}

/// Equality-based selectors only (`k=v,k2=v2`): all the mock needs.
fn labels_match(object: &Value, selector: &str) -> bool {
    selector.split(',').all(|term| match term.split_once('=') {
        Some((k, v)) => object["metadata"]["labels"][k] == v,
        None => false,
    })
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// TLS in front of a TCP listener, for `axum::serve`.
struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A client refused by the handshake (e.g. no certificate) is just dropped.
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

fn ca() -> (CertificateParams, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "mock kubernetes CA");
    (params, key)
}

impl MockApi {
    /// Starts the mock on 127.0.0.1 (port chosen by the OS); the client identity has a
    /// P-256 key in SEC1 form.
    pub async fn start(state: MockState) -> MockApi {
        let (ca_params, ca_key) = ca();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(
            ca_params.clone(),
            KeyPair::from_pem(&ca_key.serialize_pem()).unwrap(),
        );
        let server_key = KeyPair::generate().unwrap();
        let server_cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca_cert.der().clone()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        .unwrap();
        let tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![CertificateDer::from(server_cert.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der())),
            )
            .unwrap();
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let state = Arc::new(Mutex::new(state));
        let router = Router::new().fallback(handle).with_state(state.clone());
        let listener = TlsListener {
            tcp,
            acceptor: TlsAcceptor::from(Arc::new(tls)),
        };
        tokio::spawn(async move { axum::serve(listener, router).await });
        let mut mock = MockApi {
            state,
            credentials: KubeCredentials {
                server: format!("https://{addr}"),
                ca_pem: ca_cert.pem(),
                client_cert_pem: String::new(),
                client_key_pem: String::new(),
            },
            ca: (ca_params, ca_key),
            addr,
        };
        mock.credentials = mock.identity(KeyAlgorithm::EcdsaP256, false);
        mock
    }

    /// Credentials for a new client certificate from the mock's CA with a key of `algorithm`:
    /// in Talos's PEM form for it (`ED25519 PRIVATE KEY` PKCS#8, `EC PRIVATE KEY` SEC1), or as
    /// standard PKCS#8 `PRIVATE KEY` with `pkcs8`.
    pub fn identity(&self, algorithm: KeyAlgorithm, pkcs8: bool) -> KubeCredentials {
        let generated = keys::generate(algorithm).unwrap();
        let signer = generated.signer.unwrap();
        let issuer = Issuer::new(
            self.ca.0.clone(),
            KeyPair::from_pem(&self.ca.1.serialize_pem()).unwrap(),
        );
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "admin");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&signer, &issuer).unwrap();
        KubeCredentials {
            client_cert_pem: cert.pem(),
            client_key_pem: if pkcs8 {
                signer.serialize_pem()
            } else {
                generated.pem
            },
            ..self.credentials.clone()
        }
    }

    /// Requests seen so far.
    pub fn log(&self) -> Vec<String> {
        self.state.lock().unwrap().log.clone()
    }
}
