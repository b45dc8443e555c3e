//! The COSI resource API apid serves (`cosi.resource.State`, what `talosctl get` reads), as far as
//! the sim models it: `Get` of the active machine configuration, `MachineConfigs.config.talos.dev`
//! `config/v1alpha1`, whose spec holds the configuration bytes exactly as they were submitted
//! (Talos keeps the submitted bytes of a configuration it loaded). The resource is sensitive:
//! only `os:admin` may read it. Other resources answer `Unimplemented`, other verbs too.

use prost::Message as _;
use tonic::{Request, Response, Status};

use super::apid::NodeApi;
use super::proto::cosi::resource::state_server::State;
use super::proto::cosi::resource::{
    GetRequest, GetResponse, MachineConfigSpec, Metadata, Resource, Spec,
};

const MACHINE_CONFIG_TYPE: &str = "MachineConfigs.config.talos.dev";

#[tonic::async_trait]
impl State for NodeApi {
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        // Sensitive resource: os:admin only, like Talos's access policy.
        let id = self.routed(&request, true).map_err(|e| {
            if e.code() == tonic::Code::PermissionDenied {
                Status::permission_denied("not authorized")
            } else {
                e
            }
        })?;
        let req = request.into_inner();
        if req.r#type != MACHINE_CONFIG_TYPE || req.namespace != "config" {
            return Err(Status::unimplemented(format!(
                "hk8s-sim serves only {MACHINE_CONFIG_TYPE} in namespace config (asked for {} in {:?})",
                req.r#type, req.namespace
            )));
        }
        let mut fleet = self.sim.lock();
        self.configured(&fleet, id)?;
        let node = NodeApi::up(&mut fleet, id)?;
        // `v1alpha1` is the active configuration; `persistent` what is on disk (the staged one
        // when there is one).
        let config = match req.id.as_str() {
            "v1alpha1" => node.config.as_ref(),
            "persistent" => node.staged.as_ref().or(node.config.as_ref()),
            other => {
                return Err(Status::not_found(format!(
                    "resource {MACHINE_CONFIG_TYPE}(config/{other}@undefined) doesn't exist"
                )));
            }
        };
        let config = config.ok_or_else(|| {
            Status::not_found(format!(
                "resource {MACHINE_CONFIG_TYPE}(config/{}@undefined) doesn't exist",
                req.id
            ))
        })?;
        let spec = MachineConfigSpec {
            yaml_marshalled: config.yaml.as_bytes().to_vec(),
        };
        Ok(Response::new(GetResponse {
            resource: Some(Resource {
                metadata: Some(Metadata {
                    namespace: "config".into(),
                    r#type: MACHINE_CONFIG_TYPE.into(),
                    id: req.id,
                    version: "1".into(),
                    phase: "running".into(),
                    annotations: [("talos.dev/yaml-spec".to_string(), "1".to_string())]
                        .into_iter()
                        .collect(),
                    ..Default::default()
                }),
                spec: Some(Spec {
                    proto_spec: spec.encode_to_vec(),
                    // Talos also renders the spec as YAML here; the sim leaves it empty, so a
                    // client must decode `proto_spec` (what Talos's own client does).
                    yaml_spec: String::new(),
                }),
            }),
        }))
    }
}
