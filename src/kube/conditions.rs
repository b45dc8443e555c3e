//! The waits the provider needs, each one condition on the polling loop of [`super::wait`]:
//! the API ready (or not), nodes Ready (optionally with a caller's condition such as a kubelet
//! version), a node gone, and any object in a wanted state.

use super::client::KubeClient;
use super::error::{Error, Result};
use super::nodes::NodeInfo;
use super::wait::{Deadline, Poll, poll_until};

impl KubeClient {
    /// Waits until `/readyz` answers `expected`: `true` waits for the API to serve, `false` for
    /// it to stop (an API that does not answer at all counts as not ready).
    ///
    /// # Errors
    /// [`Error::Timeout`] (with the last answer or transport error), [`Error::Cancelled`], or a
    /// non-transient reply such as 403.
    pub async fn wait_ready(&self, expected: bool, deadline: &Deadline) -> Result<()> {
        let what = if expected {
            format!("the Kubernetes API at {} to be ready", self.server())
        } else {
            format!(
                "the Kubernetes API at {} to stop being ready",
                self.server()
            )
        };
        poll_until(&what, deadline, || async {
            let ready = match self.readyz().await {
                Ok(ready) => ready,
                Err(e @ Error::Transport { .. }) if expected => return Err(e),
                Err(Error::Transport { .. }) => false,
                Err(e) => return Err(e),
            };
            Ok(if ready == expected {
                Poll::Done(())
            } else if ready {
                Poll::Pending(vec!["/readyz answers ok".into()])
            } else {
                Poll::Pending(vec!["/readyz answers not ready".into()])
            })
        })
        .await
    }

    /// Waits until every node in `names` is registered and Ready (one LIST per poll); returns
    /// them in the order of `names`.
    ///
    /// # Errors
    /// [`Error::Timeout`] naming each node still missing or NotReady with its condition,
    /// [`Error::Cancelled`], or a non-transient API error.
    pub async fn wait_nodes_ready(
        &self,
        names: &[String],
        deadline: &Deadline,
    ) -> Result<Vec<NodeInfo>> {
        self.wait_nodes(names, "Ready", deadline, |_| None).await
    }

    /// Waits until every node in `names` is registered, Ready, and satisfies `condition`, which
    /// returns `None` when the node is as wanted and otherwise what is still missing (e.g.
    /// `kubelet v1.35.0, want v1.35.1`). `state` describes the wanted state in messages. One
    /// LIST per poll; returns the nodes in the order of `names`.
    ///
    /// # Errors
    /// [`Error::Timeout`] naming each node still missing, NotReady or failing `condition` with
    /// why, [`Error::Cancelled`], or a non-transient API error.
    pub async fn wait_nodes<C>(
        &self,
        names: &[String],
        state: &str,
        deadline: &Deadline,
        condition: C,
    ) -> Result<Vec<NodeInfo>>
    where
        C: Fn(&NodeInfo) -> Option<String> + Send + Sync,
    {
        self.wait_nodes_until(names, state, true, deadline, condition)
            .await
    }

    /// Like [`KubeClient::wait_nodes`] without requiring `Ready`: every node in `names` is
    /// registered and satisfies `condition` (for a cluster whose CNI the user installs later).
    ///
    /// # Errors
    /// [`Error::Timeout`] naming each node still missing or failing `condition`,
    /// [`Error::Cancelled`], or a non-transient API error.
    pub async fn wait_nodes_registered<C>(
        &self,
        names: &[String],
        state: &str,
        deadline: &Deadline,
        condition: C,
    ) -> Result<Vec<NodeInfo>>
    where
        C: Fn(&NodeInfo) -> Option<String> + Send + Sync,
    {
        self.wait_nodes_until(names, state, false, deadline, condition)
            .await
    }

    /// The one polling loop of the node waits: one LIST per poll.
    async fn wait_nodes_until<C>(
        &self,
        names: &[String],
        state: &str,
        require_ready: bool,
        deadline: &Deadline,
        condition: C,
    ) -> Result<Vec<NodeInfo>>
    where
        C: Fn(&NodeInfo) -> Option<String> + Send + Sync,
    {
        let what = format!("nodes {} to be {state}", names.join(", "));
        poll_until(&what, deadline, || async {
            let nodes = self.list_nodes().await?;
            Ok(nodes_satisfy(names, nodes, require_ready, &condition))
        })
        .await
    }

    /// Waits until one object satisfies `condition`, which sees the object (`None` while it
    /// does not exist) and returns `None` when it is as wanted, otherwise what is still missing
    /// (e.g. `status.jobName not set yet`). `state` describes the wanted state in messages. A
    /// kind that discovery does not know yet (a CustomResourceDefinition still being installed)
    /// counts as pending. Returns the object as last read (`None` when absence was wanted).
    ///
    /// # Errors
    /// [`Error::Timeout`] with the condition's last answer, [`Error::Cancelled`],
    /// [`Error::InvalidObject`] for a wrong scope, or a non-transient API error.
    #[allow(clippy::too_many_arguments)] // the object's four coordinates, then what to wait for
    pub async fn wait_object<C>(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
        state: &str,
        deadline: &Deadline,
        condition: C,
    ) -> Result<Option<serde_json::Value>>
    where
        C: Fn(Option<&serde_json::Value>) -> Option<String> + Send + Sync,
    {
        let object = match namespace {
            Some(ns) => format!("{kind} {ns}/{name}"),
            None => format!("{kind} {name}"),
        };
        let what = format!("{object} to be {state}");
        poll_until(&what, deadline, || async {
            let current = match self.get(api_version, kind, namespace, name).await {
                Ok(current) => current,
                Err(Error::UnknownKind { .. }) => {
                    return Ok(Poll::Pending(vec![format!(
                        "{object}: kind {kind} is not served by {api_version} yet"
                    )]));
                }
                Err(e) => return Err(e),
            };
            Ok(match condition(current.as_ref()) {
                None => Poll::Done(current),
                Some(missing) => Poll::Pending(vec![format!("{object}: {missing}")]),
            })
        })
        .await
    }

    /// Waits until the node object `name` no longer exists.
    ///
    /// # Errors
    /// [`Error::Timeout`], [`Error::Cancelled`], or a non-transient API error.
    pub async fn wait_node_gone(&self, name: &str, deadline: &Deadline) -> Result<()> {
        let what = format!("node {name} to be deleted");
        poll_until(&what, deadline, || async {
            Ok(match self.get_node(name).await? {
                None => Poll::Done(()),
                Some(_) => Poll::Pending(vec![format!("{name}: still registered")]),
            })
        })
        .await
    }
}

/// Whether every wanted node is Ready and satisfies `condition` in a LIST result; what is
/// pending otherwise.
fn nodes_satisfy<C>(
    names: &[String],
    nodes: Vec<NodeInfo>,
    require_ready: bool,
    condition: &C,
) -> Poll<Vec<NodeInfo>>
where
    C: Fn(&NodeInfo) -> Option<String>,
{
    let mut found = Vec::with_capacity(names.len());
    let mut pending = Vec::new();
    for name in names {
        match nodes.iter().find(|n| &n.name == name) {
            None => pending.push(format!("{name}: not registered")),
            Some(node) if require_ready && !node.ready => {
                pending.push(format!("{name}: NotReady ({})", node.ready_reason));
            }
            Some(node) => match condition(node) {
                Some(missing) => pending.push(format!("{name}: {missing}")),
                None => found.push(node.clone()),
            },
        }
    }
    if pending.is_empty() {
        Poll::Done(found)
    } else {
        Poll::Pending(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, ready: bool) -> NodeInfo {
        NodeInfo {
            name: name.into(),
            labels: Default::default(),
            annotations: Default::default(),
            taints: vec![],
            ready,
            ready_reason: if ready {
                "KubeletReady: ok".into()
            } else {
                "KubeletNotReady: cni plugin not initialized".into()
            },
            unschedulable: false,
            kubelet_version: "v1.35.0".into(),
            os_image: "Talos (v1.13.9)".into(),
            provider_id: None,
            internal_ips: vec![],
            external_ips: vec![],
        }
    }

    #[test]
    fn pending_nodes_say_why() {
        let names = ["a".to_string(), "b".to_string(), "c".to_string()];
        let ready = |_: &NodeInfo| None;
        match nodes_satisfy(
            &names,
            vec![node("a", true), node("b", false)],
            true,
            &ready,
        ) {
            Poll::Pending(p) => assert_eq!(
                p,
                [
                    "b: NotReady (KubeletNotReady: cni plugin not initialized)",
                    "c: not registered"
                ]
            ),
            Poll::Done(_) => panic!("not all ready"),
        }
        match nodes_satisfy(
            &names[..1],
            vec![node("b", false), node("a", true)],
            true,
            &ready,
        ) {
            Poll::Done(found) => assert_eq!(found[0].name, "a"),
            Poll::Pending(p) => panic!("{p:?}"),
        }
        let upgraded = |n: &NodeInfo| {
            (n.kubelet_version != "v1.35.1")
                .then(|| format!("kubelet {}, want v1.35.1", n.kubelet_version))
        };
        match nodes_satisfy(&names[..1], vec![node("a", true)], true, &upgraded) {
            Poll::Pending(p) => assert_eq!(p, ["a: kubelet v1.35.0, want v1.35.1"]),
            Poll::Done(_) => panic!("a runs v1.35.0"),
        }
    }
}
