//! The SSH client for a server's rescue system: a throw-away ed25519 key, one connection, one
//! `exec` channel per command.
//!
//! The rescue system's host key is generated when it boots, so it cannot be known in advance:
//! any host key is accepted. What travels over the connection is a public download URL and
//! disk commands; the key authorises nothing but that one server's rescue system and is
//! deleted with it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::ssh_key::LineEnding;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect};

/// The rescue system's only user.
const USER: &str = "root";
/// How much of a command's stderr is kept for error messages.
const STDERR_KEPT: usize = 4096;

/// Why an SSH step failed.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// The key could not be made or encoded.
    #[error("cannot make an SSH key: {0}")]
    Key(String),
    /// No connection (refused, reset, handshake failed, timed out).
    #[error("cannot connect to {addr}: {reason}")]
    Connect {
        /// Where.
        addr: SocketAddr,
        /// What happened.
        reason: String,
    },
    /// The server refused the key.
    #[error("{addr} refused the SSH key for {USER}")]
    Refused {
        /// Where.
        addr: SocketAddr,
    },
    /// The connection broke while a command ran.
    #[error("SSH session to {addr} broke: {reason}")]
    Session {
        /// Where.
        addr: SocketAddr,
        /// What happened.
        reason: String,
    },
    /// A command took longer than it was given.
    #[error("{command:?} on {addr} did not finish within {}s", .limit.as_secs())]
    Timeout {
        /// Where.
        addr: SocketAddr,
        /// The command.
        command: String,
        /// How long it was given.
        limit: Duration,
    },
}

/// A freshly generated ed25519 key. `Debug` shows only the public half.
pub struct RescueKey {
    private: Arc<PrivateKey>,
}

impl std::fmt::Debug for RescueKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RescueKey")
            .field("public", &self.public_openssh().ok())
            .finish()
    }
}

impl RescueKey {
    /// A new random key.
    ///
    /// # Errors
    /// [`SshError::Key`] when the system has no randomness to give.
    pub fn generate() -> Result<Self, SshError> {
        let mut seed = [0u8; 32];
        aws_lc_rs::rand::fill(&mut seed).map_err(|_| SshError::Key("no randomness".into()))?;
        let private = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
        Ok(RescueKey {
            private: Arc::new(private),
        })
    }

    /// The public key in OpenSSH's one-line format (what Hetzner's `/ssh_keys` takes).
    ///
    /// # Errors
    /// [`SshError::Key`] when it cannot be encoded.
    pub fn public_openssh(&self) -> Result<String, SshError> {
        self.private
            .public_key()
            .to_openssh()
            .map_err(|e| SshError::Key(e.to_string()))
    }

    /// The private key in OpenSSH's PEM format, for debugging by hand (never logged).
    ///
    /// # Errors
    /// [`SshError::Key`] when it cannot be encoded.
    pub fn private_openssh(&self) -> Result<String, SshError> {
        self.private
            .to_openssh(LineEnding::LF)
            .map(|s| s.to_string())
            .map_err(|e| SshError::Key(e.to_string()))
    }
}

/// What a command left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Its exit status; `None` when the connection closed first (e.g. `shutdown`).
    pub status: Option<u32>,
    /// The end of its stderr (at most a few KiB), lossily decoded.
    pub stderr: String,
}

impl Output {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
}

struct AnyHostKey;

impl client::Handler for AnyHostKey {
    type Error = russh::Error;

    async fn check_server_key(&mut self, _: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        // A rescue system's host key is made when it boots; nothing could pin it beforehand.
        Ok(true)
    }
}

/// A logged-in session with a rescue system.
pub struct Shell {
    addr: SocketAddr,
    handle: Handle<AnyHostKey>,
}

impl Shell {
    /// Connects and logs in as root with `key`, giving up after `limit`.
    ///
    /// # Errors
    /// [`SshError::Connect`] (worth retrying while the rescue system boots) or
    /// [`SshError::Refused`].
    pub async fn connect(
        addr: SocketAddr,
        key: &RescueKey,
        limit: Duration,
    ) -> Result<Self, SshError> {
        let connect_error = |reason: String| SshError::Connect { addr, reason };
        // Writing the image is minutes of silence on the channel: no inactivity timeout (each
        // command has its own limit), but keepalives that notice a server gone away.
        let config = Arc::new(client::Config {
            inactivity_timeout: None,
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_max: 8,
            ..Default::default()
        });
        let login = async {
            let mut handle = client::connect(config, addr, AnyHostKey)
                .await
                .map_err(|e| connect_error(e.to_string()))?;
            let auth = handle
                .authenticate_publickey(
                    USER,
                    PrivateKeyWithHashAlg::new(Arc::clone(&key.private), None),
                )
                .await
                .map_err(|e| connect_error(e.to_string()))?;
            if !auth.success() {
                return Err(SshError::Refused { addr });
            }
            Ok(Shell { addr, handle })
        };
        tokio::time::timeout(limit, login)
            .await
            .map_err(|_| connect_error(format!("no answer within {}s", limit.as_secs())))?
    }

    /// Runs `command` (one shell command line) and waits up to `limit` for its exit.
    ///
    /// # Errors
    /// [`SshError::Session`] when the channel cannot be opened or breaks before an exit status
    /// can be known, [`SshError::Timeout`].
    pub async fn run(&self, command: &str, limit: Duration) -> Result<Output, SshError> {
        let broken = |reason: String| SshError::Session {
            addr: self.addr,
            reason,
        };
        let work = async {
            let mut channel = self
                .handle
                .channel_open_session()
                .await
                .map_err(|e| broken(e.to_string()))?;
            channel
                .exec(true, command)
                .await
                .map_err(|e| broken(e.to_string()))?;
            let mut status = None;
            let mut stderr = Vec::new();
            while let Some(message) = channel.wait().await {
                match message {
                    ChannelMsg::ExtendedData { data, ext: 1 } => {
                        stderr.extend_from_slice(&data);
                        if stderr.len() > 2 * STDERR_KEPT {
                            stderr.drain(..stderr.len() - STDERR_KEPT);
                        }
                    }
                    ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                    _ => {}
                }
            }
            let start = stderr.len().saturating_sub(STDERR_KEPT);
            Ok(Output {
                status,
                stderr: String::from_utf8_lossy(&stderr[start..]).trim().to_owned(),
            })
        };
        tokio::time::timeout(limit, work)
            .await
            .map_err(|_| SshError::Timeout {
                addr: self.addr,
                command: command.to_owned(),
                limit,
            })?
    }

    /// Says goodbye; a connection the server already closed is fine.
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_fresh_ed25519_and_debug_hides_the_private_half() {
        let a = RescueKey::generate().unwrap();
        let b = RescueKey::generate().unwrap();
        let public = a.public_openssh().unwrap();
        assert!(public.starts_with("ssh-ed25519 "), "{public}");
        assert_ne!(public, b.public_openssh().unwrap());
        let private = a.private_openssh().unwrap();
        assert!(private.contains("OPENSSH PRIVATE KEY"));
        let debug = format!("{a:?}");
        assert!(debug.contains("ssh-ed25519") && !debug.contains("PRIVATE"));
    }
}
