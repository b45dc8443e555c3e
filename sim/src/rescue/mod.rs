//! Hetzner's rescue system: a server booted with rescue enabled (see
//! `hcloud::server_actions`) runs it instead of its disk. Once the boot delay (latency model
//! `talos_boot`, plus the `rescue_ssh_refused` fault) has passed, an SSH server ([`ssh`]) listens
//! on `<public IPv4>:22` (`SimConfig::rescue_ssh_port` moves it for tests), running a small
//! shell ([`shell`]) over the server's disk ([`commands`]). Powering off, shutting down, deleting
//! or rebooting the server ends it; `shutdown` inside it powers the server off after the
//! `shutdown_server` latency.
//!
//! Binding port 22 needs root or `CAP_NET_BIND_SERVICE`; when the bind fails the error is logged
//! and shown in `/_sim/state` (`rescue_systems[].error`), and clients see the connection refused.

pub mod commands;
pub mod shell;
pub mod ssh;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::talos::TalosSim;
use crate::world::{RescueSetup, WorldEvent};
use commands::Machine;

/// The rescue systems of one sim.
pub struct RescueSystems {
    port: std::sync::atomic::AtomicU16,
    config: Arc<russh::server::Config>,
    running: Mutex<BTreeMap<i64, Running>>,
}

impl std::fmt::Debug for RescueSystems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RescueSystems")
            .field("port", &self.port())
            .finish_non_exhaustive()
    }
}

/// One running rescue system.
struct Running {
    boot: i64,
    ip: Ipv4Addr,
    setup: RescueSetup,
    ssh_at: Duration,
    listener: Option<JoinHandle<()>>,
    sessions: Arc<Mutex<Vec<russh::server::Handle>>>,
    error: Option<String>,
    /// Going down: (when the server is off, reboot instead of power off).
    going_down: Option<(Duration, bool)>,
}

impl Running {
    fn stop_ssh(&mut self) {
        if let Some(l) = self.listener.take() {
            l.abort();
        }
        let sessions: Vec<_> = self
            .sessions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        // The machine going down closes every connection (russh runs each session in its own
        // task, so it is told to disconnect).
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            for session in sessions {
                runtime.spawn(async move {
                    let _ = session
                        .disconnect(
                            russh::Disconnect::ByApplication,
                            "the system is going down".into(),
                            String::new(),
                        )
                        .await;
                });
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop_ssh();
    }
}

impl RescueSystems {
    /// Rescue systems whose SSH servers listen on `port` (22 unless a test moves it).
    pub fn new(port: u16) -> Self {
        RescueSystems {
            port: port.into(),
            config: ssh::config(ssh::host_key()),
            running: Mutex::default(),
        }
    }

    /// Where the SSH servers listen.
    pub fn port(&self) -> u16 {
        self.port.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Moves the SSH servers opened from now on (set before any server boots into rescue).
    pub fn set_port(&self, port: u16) {
        self.port.store(port, std::sync::atomic::Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, Running>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes every SSH server (on shutdown).
    pub fn close_all(&self) {
        self.lock().clear();
    }

    /// `/_sim/state` `rescue_systems`.
    pub fn state_json(&self) -> Value {
        Value::Array(
            self.lock()
                .iter()
                .map(|(id, r)| {
                    json!({
                        "server_id": id,
                        "ip": r.ip.to_string(),
                        "port": self.port(),
                        "ssh_listening": r.listener.is_some(),
                        "error": r.error,
                        "going_down": r.going_down.is_some(),
                    })
                })
                .collect(),
        )
    }

    /// Takes a rescue system down from inside (`shutdown`, `reboot`): SSH stops at once, the
    /// server is off (or boots its disk) after the `shutdown_server` latency.
    fn go_down(sim: &TalosSim, server: i64, boot: i64, reboot: bool) {
        let at = sim.now() + sim.duration("shutdown_server");
        if let Some(r) = sim
            .rescue
            .lock()
            .get_mut(&server)
            .filter(|r| r.boot == boot)
        {
            r.stop_ssh();
            r.going_down.get_or_insert((at, reboot));
        }
    }

    /// Follows the world: starts rescue systems of servers booted into rescue, opens their SSH
    /// servers when due, ends those of servers that stopped, and finishes shutdowns.
    pub fn reconcile(sim: &Arc<TalosSim>) {
        let now = sim.now();
        let refused = {
            let world = sim.world.read().unwrap_or_else(PoisonError::into_inner);
            Duration::from_secs_f64(world.faults.rescue_ssh_refused() * sim.time_scale())
        };
        // Shutdowns that are due.
        let due: Vec<(i64, i64, bool)> = sim
            .rescue
            .lock()
            .iter()
            .filter_map(|(id, r)| {
                r.going_down
                    .filter(|(at, _)| *at <= now)
                    .map(|(_, reboot)| (*id, r.boot, reboot))
            })
            .collect();
        if !due.is_empty() {
            let mut world = sim.world.write().unwrap_or_else(PoisonError::into_inner);
            for (id, boot, reboot) in due {
                let Some(s) = world.data.servers.get_mut(&id) else {
                    continue;
                };
                if s.in_rescue.as_ref().is_none_or(|r| r.boot != boot) {
                    continue;
                }
                s.in_rescue = None;
                if !reboot && s.status == "running" {
                    s.status = "off".into();
                    let event = WorldEvent::ServerStatus {
                        id,
                        ipv4: s.ipv4,
                        status: s.status.clone(),
                    };
                    world.emit(event);
                }
            }
        }
        let wanted: BTreeMap<i64, (i64, Ipv4Addr, RescueSetup, &'static str)> = {
            let world = sim.world.read().unwrap_or_else(PoisonError::into_inner);
            world
                .data
                .servers
                .values()
                .filter(|s| s.status == "running")
                .filter_map(|s| {
                    let r = s.in_rescue.as_ref()?;
                    let arch = crate::catalog::server_type(&s.server_type)
                        .map_or("x86", |t| t.arch.as_str());
                    Some((s.id, (r.boot, s.ipv4?, r.setup.clone(), arch)))
                })
                .collect()
        };
        let mut running = sim.rescue.lock();
        running.retain(|id, r| wanted.get(id).is_some_and(|w| w.0 == r.boot));
        for (id, (boot, ip, setup, arch)) in wanted {
            let r = running.entry(id).or_insert_with(|| Running {
                boot,
                ip,
                setup: setup.clone(),
                ssh_at: now + sim.duration("talos_boot") + refused,
                listener: None,
                sessions: Arc::default(),
                error: None,
                going_down: None,
            });
            if r.listener.is_some() || r.error.is_some() || r.going_down.is_some() || now < r.ssh_at
            {
                continue;
            }
            let machine = Machine {
                world: sim.world.clone(),
                server: id,
                boot,
                arch,
                down: {
                    let weak: Weak<TalosSim> = Arc::downgrade(sim);
                    Arc::new(move |reboot| {
                        if let Some(sim) = weak.upgrade() {
                            RescueSystems::go_down(&sim, id, boot, reboot);
                        }
                    })
                },
            };
            match listen(
                ip,
                sim.rescue.port(),
                sim.rescue.config.clone(),
                machine,
                r.setup.clone(),
                r.sessions.clone(),
            ) {
                Ok(task) => r.listener = Some(task),
                Err(e) => {
                    let message = format!(
                        "the rescue system of server {id} cannot listen on {ip}:{}: {e} (port 22 needs root or CAP_NET_BIND_SERVICE; tests move it with SimConfig::rescue_ssh_port)",
                        sim.rescue.port()
                    );
                    tracing::error!("{message}");
                    r.error = Some(message);
                }
            }
        }
    }
}

fn listen(
    ip: Ipv4Addr,
    port: u16,
    config: Arc<russh::server::Config>,
    machine: Machine,
    setup: RescueSetup,
    sessions: Arc<Mutex<Vec<russh::server::Handle>>>,
) -> std::io::Result<JoinHandle<()>> {
    let std_listener = std::net::TcpListener::bind((ip, port))?;
    std_listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(std_listener)?;
    Ok(tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let handler = ssh::Connection::new(machine.clone(), setup.clone());
            let config = config.clone();
            let sessions = sessions.clone();
            tokio::spawn(async move {
                match russh::server::run_stream(config, stream, handler).await {
                    Ok(session) => {
                        sessions
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .push(session.handle());
                        let _ = session.await;
                    }
                    Err(e) => tracing::debug!("rescue SSH handshake failed: {e}"),
                }
            });
        }
    }))
}
