//! Test harness: starts the sim in-process on port 0 and configures the `hcloud` crate for it.

use std::collections::HashMap;

use hcloud::apis::actions_api::{GetActionParams, get_action};
use hcloud::apis::configuration::Configuration;
use hcloud::apis::servers_api::{CreateServerParams, create_server};
use hcloud::models;
use hk8s_sim::testing::OpenApiGuard;
use hk8s_sim::{SimConfig, SimHandle, serve};

/// Token every test uses.
pub const TOKEN: &str = "test-token";

/// A running sim and a client configured for it.
pub struct Sim {
    pub handle: SimHandle,
    pub cfg: Configuration,
    /// Fails the test when a response did not match the OpenAPI description (dropped last).
    pub openapi: OpenApiGuard,
}

impl Sim {
    /// Base URL of the API (`http://127.0.0.1:PORT/v1`).
    pub fn endpoint(&self) -> String {
        self.handle.endpoint()
    }

    /// Base URL of the sim itself (`http://127.0.0.1:PORT`).
    pub fn root(&self) -> String {
        format!("http://{}", self.handle.addr())
    }

    /// Moves the sim's (manual) clock forward.
    pub fn advance(&self, seconds: u64) {
        let world = self.handle.world();
        let world = world.read().unwrap();
        world.clock.advance(std::time::Duration::from_secs(seconds));
    }

    /// GET a `/_sim` endpoint as JSON.
    pub async fn sim_json(&self, path: &str) -> serde_json::Value {
        let resp = self
            .cfg
            .client
            .get(format!("{}{path}", self.root()))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        serde_json::from_str(&resp.text().await.unwrap()).unwrap()
    }
}

/// Starts a sim with default settings (instant latency, no faults).
pub async fn start() -> Sim {
    start_with(|_| {}).await
}

/// Starts a sim with realistic latency on a manual clock: actions run until [`Sim::advance`].
pub async fn start_realistic() -> Sim {
    start_with(|c| {
        c.latency = hk8s_sim::latency::LatencyMode::Realistic;
        c.clock = hk8s_sim::clock::Clock::manual();
    })
    .await
}

/// Starts a sim with the response checker on, after adjusting its configuration.
pub async fn start_with(adjust: impl FnOnce(&mut SimConfig)) -> Sim {
    let mut config = SimConfig::new(TOKEN);
    config.check_openapi = true;
    adjust(&mut config);
    let handle = serve(config).await.expect("sim starts");
    let cfg = client_config(&handle.endpoint(), TOKEN);
    let openapi = OpenApiGuard::new(&handle);
    Sim {
        handle,
        cfg,
        openapi,
    }
}

/// A `hcloud` configuration pointing at `endpoint`.
pub fn client_config(endpoint: &str, token: &str) -> Configuration {
    let mut cfg = Configuration::new();
    cfg.base_path_mapping
        .insert("https://api.hetzner.cloud/v1".into(), endpoint.into());
    cfg.bearer_access_token = Some(token.into());
    cfg
}

/// The HTTP status and error envelope of a failed call.
pub fn api_error<T: std::fmt::Debug>(
    result: Result<impl std::fmt::Debug, hcloud::apis::Error<T>>,
) -> (u16, serde_json::Value) {
    match result {
        Err(hcloud::apis::Error::ResponseError(rc)) => {
            let body: serde_json::Value =
                serde_json::from_str(&rc.content).expect("error body is JSON");
            (rc.status.as_u16(), body["error"].clone())
        }
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// Polls an action until it is no longer running (instant latency: the next poll).
pub async fn wait_action(cfg: &Configuration, id: i64) -> models::Action {
    for _ in 0..20 {
        let action = *get_action(cfg, GetActionParams { id })
            .await
            .unwrap()
            .action;
        if action.status != models::action::Status::Running {
            return action;
        }
    }
    panic!("action {id} still running after 20 polls");
}

/// Creates a cx23 debian-12 server in fsn1 with labels.
pub async fn create_server_labelled(
    cfg: &Configuration,
    name: &str,
    labels: &[(&str, &str)],
) -> models::CreateServerResponse {
    let labels: HashMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let request = models::CreateServerRequest {
        name: name.into(),
        server_type: "cx23".into(),
        image: "debian-12".into(),
        location: Some("fsn1".into()),
        labels: Some(labels),
        ..Default::default()
    };
    create_server(
        cfg,
        CreateServerParams {
            create_server_request: request,
        },
    )
    .await
    .expect("server created")
}

/// Creates a server and waits for it to run.
pub async fn running_server(cfg: &Configuration, name: &str) -> models::Server {
    let created = create_server_labelled(cfg, name, &[]).await;
    wait_action(cfg, created.action.id).await;
    for next in &created.next_actions {
        wait_action(cfg, next.id).await;
    }
    let server = hcloud::apis::servers_api::get_server(
        cfg,
        hcloud::apis::servers_api::GetServerParams {
            id: created.server.id,
        },
    )
    .await
    .unwrap();
    *server.server.expect("server present")
}
