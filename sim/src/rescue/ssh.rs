//! The rescue system's SSH server (russh): user `root` only, logging in with one of the keys
//! given to `enable_rescue` or with the root password it returned. Each `exec` request runs its
//! command line in a fresh [`Shell`]; a `shell` request reads command lines from the channel.
//! Output, then the exit status, EOF and close, in OpenSSH's order; a command that takes the
//! machine down ends the connection instead.

use std::collections::HashMap;
use std::sync::Arc;

use russh::server::{
    Auth, ChannelOpenHandle, Handle, Msg, PublicKeyOffer, Session, VerifiedPublicKey,
};
use russh::{Channel, ChannelId};
use tokio::sync::mpsc;

use super::commands::Machine;
use super::shell::{Ending, Output, Shell};
use crate::world::RescueSetup;

/// One SSH connection to a rescue system.
pub struct Connection {
    /// The machine its commands run on.
    pub machine: Machine,
    /// Who may log in (as set up for this boot).
    pub setup: RescueSetup,
    shells: HashMap<ChannelId, mpsc::UnboundedSender<Vec<u8>>>,
}

impl Connection {
    /// A connection to `machine`, accepting the logins of `setup`.
    pub fn new(machine: Machine, setup: RescueSetup) -> Self {
        Connection {
            machine,
            setup,
            shells: HashMap::new(),
        }
    }

    fn key_allowed(&self, key: &russh::keys::PublicKey) -> bool {
        self.setup.public_keys.iter().any(|allowed| {
            russh::keys::PublicKey::from_openssh(allowed)
                .is_ok_and(|allowed| allowed.key_data() == key.key_data())
        })
    }
}

fn verdict(ok: bool) -> Auth {
    if ok { Auth::Accept } else { Auth::reject() }
}

/// Sends what a command line produced; `None` when the machine went down (no exit status: the
/// connection is closed by the shutdown).
async fn send(handle: &Handle, channel: ChannelId, out: Output) {
    if !out.stdout.is_empty() {
        let _ = handle.data(channel, out.stdout).await;
    }
    if !out.stderr.is_empty() {
        let _ = handle.extended_data(channel, 1, out.stderr).await;
    }
}

async fn finish(handle: &Handle, channel: ChannelId, status: u32) {
    let _ = handle.exit_status_request(channel, status).await;
    let _ = handle.eof(channel).await;
    let _ = handle.close(channel).await;
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        Ok(verdict(
            user == "root" && password == self.setup.root_password,
        ))
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(verdict(
            user == "root" && self.key_allowed(offer.public_key),
        ))
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(verdict(user == "root" && self.key_allowed(key.public_key)))
    }

    async fn channel_open_session(
        &mut self,
        _channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        reply.accept().await;
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        let line = String::from_utf8_lossy(data).to_string();
        let machine = self.machine.clone();
        let handle = session.handle();
        tokio::spawn(async move {
            let mut shell = Shell::new();
            let mut out = Output::default();
            let ending = shell.run_line(&line, &machine, &mut out).await;
            send(&handle, channel, out).await;
            match ending {
                Some(Ending::Down) => {}
                Some(Ending::Exit(status)) => finish(&handle, channel, status).await,
                None => finish(&handle, channel, shell.status()).await,
            }
        });
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_success(channel)?;
        let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
        self.shells.insert(channel, tx);
        let machine = self.machine.clone();
        let handle = session.handle();
        tokio::spawn(async move {
            let mut shell = Shell::new();
            let mut pending = Vec::new();
            while let Some(chunk) = rx.recv().await {
                pending.extend_from_slice(&chunk);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let mut out = Output::default();
                    let ending = shell
                        .run_line(&String::from_utf8_lossy(&line), &machine, &mut out)
                        .await;
                    send(&handle, channel, out).await;
                    match ending {
                        Some(Ending::Down) => return,
                        Some(Ending::Exit(status)) => {
                            return finish(&handle, channel, status).await;
                        }
                        None => {}
                    }
                }
            }
            // EOF on stdin: bash runs what is left and exits with the last status.
            if !pending.is_empty() {
                let mut out = Output::default();
                let ending = shell
                    .run_line(&String::from_utf8_lossy(&pending), &machine, &mut out)
                    .await;
                send(&handle, channel, out).await;
                match ending {
                    Some(Ending::Down) => return,
                    Some(Ending::Exit(status)) => return finish(&handle, channel, status).await,
                    None => {}
                }
            }
            finish(&handle, channel, shell.status()).await;
        });
        Ok(())
    }

    async fn data(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if let Some(tx) = self.shells.get(&channel) {
            let _ = tx.send(data.to_vec());
        }
        Ok(())
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.shells.remove(&channel);
        Ok(())
    }
}

/// The server configuration: the sim's host key, no delay on refused logins (the sim's clients
/// are tests), password and public key methods.
pub fn config(host_key: russh::keys::PrivateKey) -> Arc<russh::server::Config> {
    Arc::new(russh::server::Config {
        server_id: russh::SshId::Standard("SSH-2.0-OpenSSH_10.0p2 Debian-7".into()),
        auth_rejection_time: std::time::Duration::ZERO,
        auth_rejection_time_initial: Some(std::time::Duration::ZERO),
        keys: vec![host_key],
        inactivity_timeout: Some(std::time::Duration::from_secs(3600)),
        nodelay: true,
        ..Default::default()
    })
}

/// A fresh ed25519 host key (one per sim start, as a rescue system gets one per boot).
pub fn host_key() -> russh::keys::PrivateKey {
    let seed: [u8; 32] = rand::random();
    russh::keys::PrivateKey::from(russh::keys::ssh_key::private::Ed25519Keypair::from_seed(
        &seed,
    ))
}
