//! Connections to one apid endpoint: TCP, then TLS with the configuration from `tls.rs`, handed
//! to tonic's `Channel` (which re-dials through it whenever the connection breaks).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Opens TCP + TLS connections to one apid endpoint for tonic's `Channel`.
///
/// The server name verified is the endpoint's IP address, whatever URI tonic passes.
#[derive(Clone)]
pub(crate) struct TlsConnector {
    tls: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
    endpoint: SocketAddr,
    failure: TlsFailure,
}

impl TlsConnector {
    pub(crate) fn new(
        config: Arc<ClientConfig>,
        endpoint: SocketAddr,
        failure: TlsFailure,
    ) -> Self {
        Self {
            tls: tokio_rustls::TlsConnector::from(config),
            server_name: ServerName::IpAddress(endpoint.ip().into()),
            endpoint,
            failure,
        }
    }
}

impl tonic::codegen::Service<http::Uri> for TlsConnector {
    type Response = TokioIo<WatchedTls>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            // A new connection: whatever broke the previous one no longer applies.
            this.failure.clear();
            let tcp = TcpStream::connect(this.endpoint).await?;
            tcp.set_nodelay(true)?;
            // A handshake refused for the server's certificate is recorded like a later alert,
            // so that callers see which TLS rule failed (another CA: a foreign node).
            let tls = this
                .tls
                .connect(this.server_name, tcp)
                .await
                .inspect_err(|err| this.failure.note(err))?;
            Ok(TokioIo::new(WatchedTls {
                inner: tls,
                failure: this.failure,
            }))
        })
    }
}

/// The TLS error that broke the current connection, if any.
///
/// h2 keeps only the text of I/O errors, so a TLS alert that arrives after the handshake (a
/// TLS 1.3 server rejects a client certificate only then) would otherwise reach the caller as
/// an untyped "transport error". The connection records it here instead.
#[derive(Clone, Default)]
pub(crate) struct TlsFailure(Arc<Mutex<Option<rustls::Error>>>);

impl TlsFailure {
    pub(crate) fn get(&self) -> Option<rustls::Error> {
        self.0.lock().ok().and_then(|failure| failure.clone())
    }

    fn clear(&self) {
        if let Ok(mut failure) = self.0.lock() {
            *failure = None;
        }
    }

    fn note(&self, err: &io::Error) {
        if let Some(tls) = tls_error_in(err)
            && let Ok(mut failure) = self.0.lock()
        {
            *failure = Some(tls);
        }
    }

    fn record<T>(&self, result: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if let Poll::Ready(Err(err)) = &result
            && let Some(tls) = tls_error_in(err)
            && let Ok(mut failure) = self.0.lock()
        {
            *failure = Some(tls);
        }
        result
    }
}

/// A client TLS stream that records TLS errors in its [`TlsFailure`].
pub(crate) struct WatchedTls {
    inner: tokio_rustls::client::TlsStream<TcpStream>,
    failure: TlsFailure,
}

impl AsyncRead for WatchedTls {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        self.failure.record(result)
    }
}

impl AsyncWrite for WatchedTls {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.failure.record(result)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.failure.record(result)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.failure.record(result)
    }
}

/// Finds a rustls error in an error's source chain.
///
/// TLS failures reach us wrapped (tonic status → hyper → `io::Error` → rustls), and
/// `io::Error::source` skips the error it wraps, so `io::Error::get_ref` is checked explicitly.
pub(crate) fn tls_error_in(err: &(dyn std::error::Error + 'static)) -> Option<rustls::Error> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(tls) = err.downcast_ref::<rustls::Error>() {
            return Some(tls.clone());
        }
        if let Some(inner) = err.downcast_ref::<io::Error>().and_then(io::Error::get_ref)
            && let Some(tls) = tls_error_in(inner)
        {
            return Some(tls);
        }
        current = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_errors_are_found_behind_io_errors() {
        let tls = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let wrapped = io::Error::new(io::ErrorKind::InvalidData, tls.clone());
        let status = tonic::Status::from_error(Box::new(wrapped));
        assert_eq!(tls_error_in(&status), Some(tls));
        assert_eq!(tls_error_in(&io::Error::other("plain")), None);
    }
}
