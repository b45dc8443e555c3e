//! go-plugin's side services: controller (shutdown), stdio and broker.
//!
//! We redirect nothing through stdio and broker nothing, but Terraform's client opens both
//! streams, so they must be served and stay open until shutdown.

use std::pin::Pin;

use futures::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};

use crate::tfplugin::plugin_proto::grpc_broker_server::GrpcBroker;
use crate::tfplugin::plugin_proto::grpc_controller_server::GrpcController;
use crate::tfplugin::plugin_proto::grpc_stdio_server::GrpcStdio;
use crate::tfplugin::plugin_proto::{ConnInfo, Empty, StdioData};

type OpenUntilShutdown<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// A stream that yields nothing and ends when `shutdown` is cancelled.
fn open_until<T: Send + 'static>(shutdown: CancellationToken) -> OpenUntilShutdown<T> {
    Box::pin(futures::stream::unfold(
        Some(shutdown),
        |token| async move {
            if let Some(token) = token {
                token.cancelled().await;
            }
            None
        },
    ))
}

/// `plugin.GRPCController`: `Shutdown` stops the server.
pub(crate) struct Controller {
    pub(crate) shutdown: CancellationToken,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _request: Request<Empty>) -> Result<Response<Empty>, Status> {
        tracing::debug!(tf_rpc = "Shutdown", "received shutdown request");
        self.shutdown.cancel();
        Ok(Response::new(Empty {}))
    }
}

/// `plugin.GRPCStdio`: an empty stream that stays open.
pub(crate) struct Stdio {
    pub(crate) shutdown: CancellationToken,
}

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    type StreamStdioStream = OpenUntilShutdown<StdioData>;

    async fn stream_stdio(
        &self,
        _request: Request<()>,
    ) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(open_until(self.shutdown.clone())))
    }
}

/// `plugin.GRPCBroker`: accepts the stream and brokers nothing.
pub(crate) struct Broker {
    pub(crate) shutdown: CancellationToken,
}

#[tonic::async_trait]
impl GrpcBroker for Broker {
    type StartStreamStream = OpenUntilShutdown<ConnInfo>;

    async fn start_stream(
        &self,
        request: Request<Streaming<ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        let mut incoming = request.into_inner();
        // Drain what the client sends so its side never blocks; we never dial anything.
        tokio::spawn(async move { while let Ok(Some(_)) = incoming.message().await {} });
        Ok(Response::new(open_until(self.shutdown.clone())))
    }
}
