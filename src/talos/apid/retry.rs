//! Retries and deadlines: the one place where apid calls are repeated, waited for or given up.
//!
//! A call has one overall deadline. Attempts that fail with `Unavailable` (node unreachable,
//! rebooting, apid starting) or `FailedPrecondition` (Talos not ready for this yet, e.g. etcd
//! not up for `Bootstrap`, another apply in progress) are repeated after a jittered exponential
//! backoff; every other failure ends the call at once. The deadline bounds everything: each
//! attempt gets the remaining time (also sent to the server as `grpc-timeout`), and when the
//! next backoff would end past the deadline the call stops with [`Error::Timeout`] carrying the
//! last failure. Dropping the returned future cancels the call in flight (tonic resets the
//! HTTP/2 stream, which the server sees as cancellation).

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::error::{Error, Rpc, Target};

/// How failed attempts are spaced.
///
/// The n-th retry waits a random duration between half and all of
/// `min(initial_backoff * 2^(n-1), max_backoff)`, so many clients retrying at once spread out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The (upper bound of the) wait before the first retry.
    pub initial_backoff: Duration,
    /// The largest wait between two attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 500 ms doubling up to 10 s: quick while a node boots, gentle during long waits.
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (1 for the first retry), given `unit` drawn
    /// uniformly from `[0, 1)`. Pure, so the schedule can be tested without clocks.
    #[must_use]
    pub fn backoff(&self, retry: u32, unit: f64) -> Duration {
        let doublings = retry.saturating_sub(1).min(31);
        let ceiling = self
            .initial_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff);
        let unit = unit.clamp(0.0, 1.0);
        ceiling.div_f64(2.0) + ceiling.div_f64(2.0).mul_f64(unit)
    }
}

/// What to do after a failed attempt.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Try again after a backoff, if the deadline allows.
    Retry,
    /// The deadline is what ended the attempt: report a timeout.
    DeadlineExceeded,
    /// Report this error as it is.
    Fatal,
    /// The endpoint answered with a certificate this cluster's CA did not issue: a node that is
    /// not part of the cluster (reset to maintenance mode, or another cluster's) behind a load
    /// balancer. The caller reconnects, and a new connection may reach another node; a few
    /// times, then the error stands.
    Reroute,
}

/// How often a call reconnects after meeting a node that is not part of the cluster.
const MAX_REROUTES: u32 = 3;

fn classify(err: &Error, deadline_passed: bool) -> Verdict {
    use tonic::Code;
    if err.is_foreign_node() || err.is_forwarding_refused() {
        return Verdict::Reroute;
    }
    if err.is_broken_connection() {
        // The caller has reconnected; a new connection may reach the node again (or, through a
        // load balancer, another node that forwards).
        return match err {
            Error::Status { rpc, .. } | Error::Cancelled { rpc, .. } if rpc.safe_to_repeat() => {
                Verdict::Retry
            }
            _ => Verdict::Fatal,
        };
    }
    let code = match err {
        Error::Status { status, .. } | Error::Cancelled { status, .. } => status.code(),
        Error::Node { code, .. } => *code,
        _ => return Verdict::Fatal,
    };
    match code {
        Code::Unavailable | Code::FailedPrecondition => Verdict::Retry,
        Code::DeadlineExceeded => Verdict::DeadlineExceeded,
        // A server honouring our grpc-timeout cancels the call at about the time our own
        // deadline passes; that is a timeout, not a cancellation by someone else.
        Code::Cancelled if deadline_passed => Verdict::DeadlineExceeded,
        _ => Verdict::Fatal,
    }
}

/// The longest deadline a call gets; longer ones are shortened to it (so that adding it to the
/// clock or encoding it as `grpc-timeout` cannot overflow).
const LONGEST_DEADLINE: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Runs `attempt` until it succeeds, fails for good, or `deadline` (from now) passes.
///
/// `attempt` receives the time left, to send as `grpc-timeout`.
pub(crate) async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    rpc: Rpc,
    target: Target,
    deadline: Duration,
    mut attempt: F,
) -> Result<T, Error>
where
    F: FnMut(Duration) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let deadline = deadline.min(LONGEST_DEADLINE);
    let give_up_at = Instant::now() + deadline;
    let timeout = |attempts: u32, last_error: Option<Error>| Error::Timeout {
        rpc,
        target,
        deadline,
        attempts,
        last_error: last_error.map(Box::new),
    };
    let mut attempts = 0;
    let mut reroutes = 0;
    let mut last_error = None;
    loop {
        let remaining = give_up_at.saturating_duration_since(Instant::now());
        attempts += 1;
        let err = match tokio::time::timeout(remaining, attempt(remaining)).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(err)) => err,
            // The attempt in flight was cut off: report what made the previous one fail.
            Err(_elapsed) => return Err(timeout(attempts, last_error)),
        };
        match classify(&err, Instant::now() >= give_up_at) {
            Verdict::Fatal => return Err(err),
            Verdict::DeadlineExceeded => return Err(timeout(attempts, Some(err))),
            Verdict::Reroute if reroutes >= MAX_REROUTES && err.is_foreign_node() => {
                return Err(err.into_not_in_cluster());
            }
            // Forwarding still refused on other connections: the target is not part of the
            // cluster yet (booting); retried like any node that is not up.
            Verdict::Reroute if reroutes >= MAX_REROUTES => {}
            Verdict::Reroute => {
                // The caller has reconnected; try the new connection at once.
                reroutes += 1;
                tracing::debug!(%rpc, %target, reroutes, error = %err, "reconnecting: the endpoint answered with another CA's certificate");
                last_error = Some(err);
                continue;
            }
            Verdict::Retry => {}
        }
        let wait = policy.backoff(attempts, rand::random::<f64>());
        if Instant::now() + wait >= give_up_at {
            return Err(timeout(attempts, Some(err)));
        }
        tracing::debug!(%rpc, %target, attempts, ?wait, error = %err, "retrying Talos API call");
        last_error = Some(err);
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    fn target() -> Target {
        Target {
            endpoint: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 50000),
            node: None,
        }
    }

    fn status(code: tonic::Code) -> Error {
        Error::Status {
            rpc: Rpc::Version,
            target: target(),
            status: tonic::Status::new(code, "test"),
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitters_within_the_upper_half() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(350),
        };
        assert_eq!(policy.backoff(1, 0.0), Duration::from_millis(50));
        assert_eq!(policy.backoff(1, 1.0), Duration::from_millis(100));
        assert_eq!(policy.backoff(2, 1.0), Duration::from_millis(200));
        assert_eq!(policy.backoff(3, 1.0), Duration::from_millis(350));
        assert_eq!(policy.backoff(3, 0.0), Duration::from_millis(175));
        assert_eq!(policy.backoff(u32::MAX, 1.0), Duration::from_millis(350));
    }

    #[test]
    fn a_node_outside_the_cluster_is_rerouted_then_named() {
        let proxied = Error::Status {
            rpc: Rpc::EtcdMemberList,
            target: target(),
            status: tonic::Status::unavailable(
                "connection to node 10.0.1.3 failed: certificate signed by unknown authority",
            ),
        };
        assert_eq!(classify(&proxied, false), Verdict::Reroute);
        assert!(proxied.is_forwarding_refused() && !proxied.is_foreign_node());
        let handshake = Error::Tls {
            rpc: Rpc::Version,
            target: target(),
            source: rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        };
        assert_eq!(classify(&handshake, false), Verdict::Reroute);
        let named = handshake.into_not_in_cluster();
        assert!(matches!(named, Error::NotInCluster { .. }), "{named:?}");
        assert!(named.is_foreign_node());
        assert!(
            named.to_string().contains("is not part of this cluster"),
            "{named}"
        );
        // An ordinary Unavailable is still a node that is not up yet.
        assert_eq!(
            classify(&status(tonic::Code::Unavailable), false),
            Verdict::Retry
        );
    }

    #[test]
    fn a_broken_connection_repeats_reads_but_not_writes() {
        let broken = |rpc| Error::Status {
            rpc,
            target: target(),
            status: tonic::Status::from_error(Box::new(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            ))),
        };
        for rpc in [Rpc::Version, Rpc::EtcdMemberList, Rpc::ImagePull] {
            assert!(broken(rpc).is_broken_connection());
            assert_eq!(classify(&broken(rpc), false), Verdict::Retry, "{rpc}");
        }
        for rpc in [
            Rpc::Reboot,
            Rpc::Reset,
            Rpc::Bootstrap,
            Rpc::LifecycleUpgrade,
        ] {
            assert_eq!(classify(&broken(rpc), false), Verdict::Fatal, "{rpc}");
        }
        // A GOAWAY that ends the connection while the call is open: tonic reports `Internal`
        // carrying the HTTP/2 error.
        let goaway = Error::Status {
            rpc: Rpc::Version,
            target: target(),
            status: tonic::Status::from_error(Box::new(h2::Error::from(h2::Reason::NO_ERROR))),
        };
        assert_eq!(goaway.grpc_code(), Some(tonic::Code::Internal));
        assert!(goaway.is_broken_connection());
        assert_eq!(classify(&goaway, false), Verdict::Retry);
        // An Internal the server sent is an answer.
        assert!(!status(tonic::Code::Internal).is_broken_connection());
        // An Unknown the server sent is an answer, not a broken connection.
        assert!(!status(tonic::Code::Unknown).is_broken_connection());
        assert_eq!(
            classify(&status(tonic::Code::Unknown), false),
            Verdict::Fatal
        );
    }

    #[tokio::test(start_paused = true)]
    async fn rerouting_is_bounded() {
        let mut attempts = 0;
        let err = with_retries(
            &RetryPolicy::default(),
            Rpc::Version,
            target(),
            Duration::from_secs(60),
            |_| {
                attempts += 1;
                async {
                    Err::<(), _>(Error::Tls {
                        rpc: Rpc::Version,
                        target: target(),
                        source: rustls::Error::InvalidCertificate(
                            rustls::CertificateError::UnknownIssuer,
                        ),
                    })
                }
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(err, Error::NotInCluster { .. }), "{err:?}");
        assert_eq!(attempts, MAX_REROUTES + 1);
    }

    #[tokio::test(start_paused = true)]
    async fn refused_forwarding_is_waited_for_after_rerouting() {
        let mut attempts = 0;
        let answer = with_retries(
            &RetryPolicy::default(),
            Rpc::Version,
            target(),
            Duration::from_secs(60),
            |_| {
                attempts += 1;
                let booted = attempts > MAX_REROUTES + 2;
                async move {
                    if booted {
                        Ok("v1.13.9")
                    } else {
                        Err(Error::Status {
                            rpc: Rpc::Version,
                            target: target(),
                            status: tonic::Status::unavailable(
                                "connection to node 10.0.1.3 failed: certificate signed by unknown authority",
                            ),
                        })
                    }
                }
            },
        )
        .await
        .unwrap();
        assert_eq!(answer, "v1.13.9");
    }

    #[test]
    fn only_unavailable_and_failed_precondition_are_retried() {
        use tonic::Code;
        for code in [Code::Unavailable, Code::FailedPrecondition] {
            assert_eq!(classify(&status(code), false), Verdict::Retry, "{code:?}");
        }
        for code in [
            Code::InvalidArgument,
            Code::AlreadyExists,
            Code::PermissionDenied,
            Code::Unauthenticated,
            Code::Unimplemented,
            Code::Internal,
            Code::Unknown,
            Code::Cancelled,
        ] {
            assert_eq!(classify(&status(code), false), Verdict::Fatal, "{code:?}");
        }
        assert_eq!(
            classify(&status(Code::DeadlineExceeded), false),
            Verdict::DeadlineExceeded
        );
        assert_eq!(
            classify(&status(Code::Cancelled), true),
            Verdict::DeadlineExceeded
        );
    }

    #[test]
    fn per_node_errors_are_classified_by_their_code() {
        let node_error = |code| Error::Node {
            rpc: Rpc::Bootstrap,
            target: target(),
            hostname: "cp-1".into(),
            code,
            message: "test".into(),
        };
        assert_eq!(
            classify(&node_error(tonic::Code::FailedPrecondition), false),
            Verdict::Retry
        );
        assert_eq!(
            classify(&node_error(tonic::Code::InvalidArgument), false),
            Verdict::Fatal
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_when_the_next_backoff_would_pass_the_deadline() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(1),
        };
        let mut calls = 0;
        let err = with_retries(
            &policy,
            Rpc::Version,
            target(),
            Duration::from_secs(5),
            |_| {
                calls += 1;
                async { Err::<(), _>(status(tonic::Code::Unavailable)) }
            },
        )
        .await
        .unwrap_err();
        let Error::Timeout {
            attempts,
            last_error: Some(last),
            ..
        } = err
        else {
            panic!("expected a timeout with the last error, got {err:?}");
        };
        assert_eq!(attempts, calls);
        // Waits are 0.5–1 s each, so 5 s allow between 5 and 10 attempts.
        assert!((5..=10).contains(&attempts), "{attempts}");
        assert_eq!(last.grpc_code(), Some(tonic::Code::Unavailable));
    }

    #[tokio::test(start_paused = true)]
    async fn a_cut_off_attempt_reports_the_previous_failure() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(100),
        };
        let mut calls = 0;
        let err = with_retries(
            &policy,
            Rpc::Reset,
            target(),
            Duration::from_secs(1),
            |_| {
                calls += 1;
                let first = calls == 1;
                async move {
                    if first {
                        Err::<(), _>(status(tonic::Code::Unavailable))
                    } else {
                        std::future::pending().await
                    }
                }
            },
        )
        .await
        .unwrap_err();
        let Error::Timeout {
            attempts: 2,
            last_error: Some(last),
            ..
        } = err
        else {
            panic!("{err:?}");
        };
        assert_eq!(last.grpc_code(), Some(tonic::Code::Unavailable));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unbounded_deadline_is_shortened_instead_of_overflowing() {
        let mut given = Duration::ZERO;
        let policy = RetryPolicy::default();
        with_retries(
            &policy,
            Rpc::Version,
            target(),
            Duration::MAX,
            |remaining| {
                given = remaining;
                async { Ok::<_, Error>(()) }
            },
        )
        .await
        .unwrap();
        assert_eq!(given, LONGEST_DEADLINE);
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_outliving_the_deadline_is_a_timeout() {
        let policy = RetryPolicy::default();
        let err = with_retries(
            &policy,
            Rpc::Bootstrap,
            target(),
            Duration::from_secs(3),
            |_| std::future::pending::<Result<(), Error>>(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Timeout {
                    rpc: Rpc::Bootstrap,
                    attempts: 1,
                    last_error: None,
                    ..
                }
            ),
            "{err:?}"
        );
    }
}
