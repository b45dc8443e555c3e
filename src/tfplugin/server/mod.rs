//! Serving a provider: the go-plugin handshake, mTLS, the gRPC services and logging.

use crate::tfplugin::framework::Provider;

/// How to serve.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServeOptions {
    /// The provider's registry address, e.g. `registry.terraform.io/hk8s/hk8s` (debug mode
    /// prints it in `TF_REATTACH_PROVIDERS`).
    pub provider_address: String,
    /// Serve for a debugger (`--debug`): plaintext, print reattach info, stop on Ctrl-C.
    pub debug: bool,
}

impl ServeOptions {
    /// Normal (go-plugin) serving for `provider_address`.
    #[must_use]
    pub fn new(provider_address: impl Into<String>) -> Self {
        Self {
            provider_address: provider_address.into(),
            debug: false,
        }
    }

    /// Debug mode on or off.
    #[must_use]
    pub fn debug(mut self, debug: bool) -> Self {
        self.debug = debug;
        self
    }
}

/// Serves `provider` until Terraform shuts it down; returns the process exit code.
pub async fn serve<P: Provider>(provider: P, options: ServeOptions) -> i32 {
    let _ = (provider, options);
    1
}
