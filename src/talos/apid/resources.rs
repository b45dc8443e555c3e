//! Resources read through the COSI `State` API apid serves (what `talosctl get` uses): the
//! machine configuration a node runs.

use prost::Message as _;
use tonic::transport::Channel;

use super::Node;
use super::error::{Error, Rpc};
use super::proto::cosi::resource as wire;
use super::reply::status_error;

/// Talos's machine configuration resource type, namespace and the id of the active one.
const MACHINE_CONFIG_TYPE: &str = "MachineConfigs.config.talos.dev";
const CONFIG_NAMESPACE: &str = "config";
const ACTIVE_CONFIG_ID: &str = "v1alpha1";

impl Node {
    /// The machine configuration the node runs (the active `MachineConfig` resource), byte for
    /// byte as it was submitted (user data or the last applied configuration). A staged
    /// configuration is not active yet; a TRY configuration is, until it rolls back. The bytes
    /// hold the cluster's secrets: never log them.
    ///
    /// Needs `os:admin` (the resource is sensitive); a node in maintenance mode has none
    /// (`NotFound`).
    ///
    /// # Errors
    /// The call's failure, or [`Error::UnexpectedReply`] when the reply carries no
    /// configuration.
    pub async fn machine_config(&self) -> Result<Vec<u8>, Error> {
        let (rpc, target) = (Rpc::ResourceGet, self.target());
        let message = wire::GetRequest {
            namespace: CONFIG_NAMESPACE.to_owned(),
            r#type: MACHINE_CONFIG_TYPE.to_owned(),
            id: ACTIVE_CONFIG_ID.to_owned(),
            options: Some(wire::GetOptions {}),
        };
        let spec = self
            .call(rpc, |remaining| {
                let mut service = self.state_service();
                let request = self.request(message.clone(), remaining);
                async move {
                    let reply = service
                        .get(request)
                        .await
                        .map_err(|status| status_error(rpc, target, status))?;
                    reply
                        .into_inner()
                        .resource
                        .and_then(|r| r.spec)
                        .ok_or(Error::UnexpectedReply {
                            rpc,
                            target,
                            problem: "the MachineConfig resource has no spec",
                        })
                }
            })
            .await?;
        let decoded =
            wire::MachineConfigSpec::decode(spec.proto_spec.as_slice()).map_err(|_| {
                Error::UnexpectedReply {
                    rpc,
                    target,
                    problem: "the MachineConfig spec does not decode",
                }
            })?;
        if decoded.yaml_marshalled.is_empty() {
            return Err(Error::UnexpectedReply {
                rpc,
                target,
                problem: "the MachineConfig resource holds no configuration",
            });
        }
        Ok(decoded.yaml_marshalled)
    }

    fn state_service(&self) -> wire::state_client::StateClient<Channel> {
        let limit = self.client.options.max_message_size;
        wire::state_client::StateClient::new(self.client.channel())
            .max_decoding_message_size(limit)
            .max_encoding_message_size(limit)
    }
}
