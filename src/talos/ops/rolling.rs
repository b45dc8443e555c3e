//! One node at a time: the shape of every disruptive change (upgrades, reboots, replacements).

use std::fmt;
use std::future::Future;

use super::error::{Error, RollStage};

/// Runs `operation` on each of `nodes` in order, and after each success `health_gate` (given
/// the node and the operation's result); the next node starts only when both passed. The
/// futures may borrow the node (`&'a N`). Stops at
/// the first failure with [`Error::Rolling`], which names the node, the stage that failed, the
/// nodes already done and those not started. Returns the operations' results in order.
///
/// Re-running after a failure is safe when the operation is idempotent (as
/// [`upgrade_node`](super::upgrade_node) and [`apply_config`](super::apply_config) are): the
/// nodes already done are then quick no-ops.
///
/// # Errors
/// [`Error::Rolling`] wrapping the first failure.
pub async fn rolling<'a, N, T, Op, OpFuture, Gate, GateFuture>(
    what: &str,
    nodes: &'a [N],
    mut operation: Op,
    mut health_gate: Gate,
) -> Result<Vec<T>, Error>
where
    N: fmt::Display,
    Op: FnMut(&'a N) -> OpFuture,
    OpFuture: Future<Output = Result<T, Error>>,
    Gate: FnMut(&'a N, &T) -> GateFuture,
    GateFuture: Future<Output = Result<(), Error>>,
{
    let mut results = Vec::with_capacity(nodes.len());
    for (index, node) in nodes.iter().enumerate() {
        tracing::info!(what, node = %node, step = index + 1, of = nodes.len(), "rolling");
        let stopped = |stage, source| Error::Rolling {
            what: what.to_owned(),
            failed: node.to_string(),
            stage,
            done: nodes[..index].iter().map(ToString::to_string).collect(),
            remaining: nodes[index + 1..].iter().map(ToString::to_string).collect(),
            source: Box::new(source),
        };
        let result = operation(node)
            .await
            .map_err(|err| stopped(RollStage::Operation, err))?;
        health_gate(node, &result)
            .await
            .map_err(|err| stopped(RollStage::HealthGate, err))?;
        results.push(result);
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn runs_in_order_and_gates_each_node() {
        let log = Mutex::new(Vec::new());
        let results = rolling(
            "test",
            &["a", "b", "c"],
            |node| {
                log.lock().unwrap().push(format!("op {node}"));
                let node = node.to_string();
                async move { Ok(node.len()) }
            },
            |node, _| {
                log.lock().unwrap().push(format!("gate {node}"));
                async { Ok(()) }
            },
        )
        .await
        .unwrap();
        assert_eq!(results, [1, 1, 1]);
        assert_eq!(
            *log.lock().unwrap(),
            ["op a", "gate a", "op b", "gate b", "op c", "gate c"]
        );
    }

    #[tokio::test]
    async fn stops_at_the_first_failure_and_names_done_and_remaining() {
        let touched = Mutex::new(Vec::new());
        let err = rolling(
            "Talos upgrade",
            &["cp-1", "cp-2", "cp-3", "cp-4"],
            |node| {
                touched.lock().unwrap().push(node.to_string());
                let fail = *node == "cp-2";
                async move {
                    if fail {
                        Err(Error::NoNodes { what: "x" })
                    } else {
                        Ok(())
                    }
                }
            },
            |_, _| async { Ok(()) },
        )
        .await
        .unwrap_err();
        assert_eq!(*touched.lock().unwrap(), ["cp-1", "cp-2"]);
        match err {
            Error::Rolling {
                failed,
                stage,
                done,
                remaining,
                ..
            } => {
                assert_eq!(failed, "cp-2");
                assert_eq!(stage, RollStage::Operation);
                assert_eq!(done, ["cp-1"]);
                assert_eq!(remaining, ["cp-3", "cp-4"]);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_failed_health_gate_stops_the_roll() {
        let err = rolling(
            "apply",
            &["w-1", "w-2"],
            |_| async { Ok(()) },
            |node, ()| {
                let fail = *node == "w-1";
                async move {
                    if fail {
                        Err(Error::NoNodes { what: "gate" })
                    } else {
                        Ok(())
                    }
                }
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(
            err,
            Error::Rolling { stage: RollStage::HealthGate, ref failed, ref done, .. } if failed == "w-1" && done.is_empty()
        ));
    }
}
