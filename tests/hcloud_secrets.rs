//! The token never shows: not in DEBUG/TRACE logs of the client and its HTTP stack, not in
//! `Debug` output, not in errors. Its own test binary: the log capture installs a subscriber, and
//! tracing's per-callsite interest cache makes that unreliable next to tests running in parallel
//! without one.

#[allow(dead_code)]
#[path = "hcloud_api/fixture.rs"]
mod fixture;
#[allow(dead_code)]
#[path = "hcloud_api/support.rs"]
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use hk8s::hcloud::{Client, ClientConfig, Token};
use tracing_subscriber::fmt::MakeWriter;

use support::{TOKEN, start};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Capture {
    type Writer = Capture;
    fn make_writer(&'a self) -> Capture {
        self.clone()
    }
}

#[tokio::test]
async fn token_stays_out_of_logs_debug_and_errors() {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("hk8s::hcloud=trace,reqwest=trace,hyper=trace,hyper_util=trace")
        .with_writer(capture.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let sim = start().await;
    let client = sim.client();
    let network = client
        .ensure_network(&fixture::network_spec("quiet"))
        .await
        .unwrap();
    network.wait(&client, "network").await.unwrap();
    client.delete_network(1_000_000).await.unwrap();

    let wrong = "wrong-token-4d2b8e";
    let intruder =
        Client::new(ClientConfig::new(Token::new(wrong)).endpoint(sim.handle.endpoint())).unwrap();
    let err = intruder.locations().await.unwrap_err();
    assert_eq!(err.code(), Some("unauthorized"));

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("hcloud request"),
        "logs were captured: {logs}"
    );
    assert!(logs.contains("POST /networks"), "{logs}");
    for secret in [TOKEN, wrong] {
        assert!(!logs.contains(secret), "token in logs");
        assert!(!format!("{client:?} {intruder:?}").contains(secret));
        assert!(!format!("{err} {err:?}").contains(secret));
    }
}
