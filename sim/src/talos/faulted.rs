//! The `talos_unavailable` and `talos_slow` faults: a layer in front of apid's services on every
//! connection a client opens to a node (directly or through a load balancer). The sim's own
//! node-to-node routing is in-process and never passes here.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::http::{Request, Response};

use super::TalosSim;
use crate::faults::TalosCallFault;

/// What apid answers while machined restarts (its local backend cannot dial machined's socket):
/// the call was not handled.
pub const MACHINED_UNAVAILABLE: &str = "connection error: desc = \"transport: Error while dialing: \
     dial unix /system/run/machined/machine.sock: connect: connection refused\"";

/// apid's services behind the fault layer.
#[derive(Clone)]
pub struct Faulted<S> {
    /// The services.
    pub inner: S,
    /// The sim (its fault injector and clock).
    pub sim: Arc<TalosSim>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<Request<B>> for Faulted<S>
where
    S: tower::Service<Request<B>, Response = Response<tonic::body::Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
    B: Send + 'static,
{
    type Response = Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let fault = self.sim.api_faults.lock().talos_call();
        // The service that was made ready serves this call; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let sim = self.sim.clone();
        Box::pin(async move {
            match fault {
                Some(TalosCallFault::Unavailable) => {
                    tracing::debug!(path = %request.uri().path(), "talos_unavailable fault");
                    return Ok(tonic::Status::unavailable(MACHINED_UNAVAILABLE).into_http());
                }
                Some(TalosCallFault::Slow(delay)) => {
                    tracing::debug!(path = %request.uri().path(), ?delay, "talos_slow fault");
                    sim.sleep(sim.fault_duration(delay)).await;
                }
                None => {}
            }
            inner.call(request).await
        })
    }
}
