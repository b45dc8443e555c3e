//! The `tfplugin6.Provider` gRPC trait implementation: every RPC logs, converts, calls the
//! framework and converts back (as in terraform-plugin-go's tf6server). Values are never logged.

use std::pin::Pin;

use futures::Stream;
use tonic::{Request, Response, Status, Streaming};

use super::provider_service::ProviderService;
use super::reply::reply;
use crate::tfplugin::diag::Diagnostic;
use crate::tfplugin::framework::Provider;
use crate::tfplugin::proto::provider_server::Provider as ProviderRpc;
use crate::tfplugin::proto::*;

type Unsupported<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

fn unimplemented(rpc: &str) -> Status {
    Status::unimplemented(format!("{rpc} is not supported by this provider"))
}

#[tonic::async_trait]
impl<P: Provider> ProviderRpc for ProviderService<P> {
    async fn get_metadata(
        &self,
        _r: Request<get_metadata::Request>,
    ) -> Result<Response<get_metadata::Response>, Status> {
        tracing::debug!(tf_rpc = "GetMetadata", "request");
        Ok(Response::new(self.get_metadata_impl()))
    }

    async fn get_provider_schema(
        &self,
        _r: Request<get_provider_schema::Request>,
    ) -> Result<Response<get_provider_schema::Response>, Status> {
        tracing::debug!(tf_rpc = "GetProviderSchema", "request");
        Ok(Response::new(self.get_provider_schema_impl()))
    }

    async fn validate_provider_config(
        &self,
        r: Request<validate_provider_config::Request>,
    ) -> Result<Response<validate_provider_config::Response>, Status> {
        tracing::debug!(tf_rpc = "ValidateProviderConfig", "request");
        reply(self.validate_provider_config_impl(r.into_inner()).await)
    }

    async fn validate_resource_config(
        &self,
        r: Request<validate_resource_config::Request>,
    ) -> Result<Response<validate_resource_config::Response>, Status> {
        let r = r.into_inner();
        tracing::debug!(tf_rpc = "ValidateResourceConfig", tf_resource_type = %r.type_name, "request");
        reply(self.validate_resource_config_impl(r).await)
    }

    async fn validate_data_resource_config(
        &self,
        r: Request<validate_data_resource_config::Request>,
    ) -> Result<Response<validate_data_resource_config::Response>, Status> {
        let r = r.into_inner();
        tracing::debug!(tf_rpc = "ValidateDataResourceConfig", tf_data_source_type = %r.type_name, "request");
        reply(self.validate_data_source_config_impl(r).await)
    }

    async fn upgrade_resource_state(
        &self,
        r: Request<upgrade_resource_state::Request>,
    ) -> Result<Response<upgrade_resource_state::Response>, Status> {
        let r = r.into_inner();
        tracing::debug!(tf_rpc = "UpgradeResourceState", tf_resource_type = %r.type_name, stored_version = r.version, "request");
        reply(self.upgrade_resource_state_impl(r).await)
    }

    async fn get_resource_identity_schemas(
        &self,
        _r: Request<get_resource_identity_schemas::Request>,
    ) -> Result<Response<get_resource_identity_schemas::Response>, Status> {
        tracing::debug!(tf_rpc = "GetResourceIdentitySchemas", "request");
        Ok(Response::new(
            get_resource_identity_schemas::Response::default(),
        ))
    }

    async fn upgrade_resource_identity(
        &self,
        r: Request<upgrade_resource_identity::Request>,
    ) -> Result<Response<upgrade_resource_identity::Response>, Status> {
        let r = r.into_inner();
        tracing::debug!(tf_rpc = "UpgradeResourceIdentity", tf_resource_type = %r.type_name, "request");
        reply(Err(Diagnostic::error(
            "Resource identity not supported",
            format!(
                "{} declares no resource identity, so there is nothing to upgrade.",
                r.type_name
            ),
        )
        .into()))
    }

    async fn configure_provider(
        &self,
        r: Request<configure_provider::Request>,
    ) -> Result<Response<configure_provider::Response>, Status> {
        tracing::debug!(tf_rpc = "ConfigureProvider", "request");
        reply(self.configure_provider_impl(r.into_inner()).await)
    }

    async fn read_resource(
        &self,
        r: Request<read_resource::Request>,
    ) -> Result<Response<read_resource::Response>, Status> {
        let r = r.into_inner();
        tracing::debug!(tf_rpc = "ReadResource", tf_resource_type = %r.type_name, "request");
        reply(self.read_resource_impl(r).await)
    }

    async fn plan_resource_change(
        &self,
        r: Request<plan_resource_change::Request>,
    ) -> Result<Response<plan_resource_change::Response>, Status> {
        let r = r.into_inner();
        tracing::debug!(tf_rpc = "PlanResourceChange", tf_resource_type = %r.type_name, "request");
        reply(self.plan_resource_change_impl(r).await)
    }

    async fn apply_resource_change(
        &self,
        r: Request<apply_resource_change::Request>,
    ) -> Result<Response<apply_resource_change::Response>, Status> {
        let r = r.into_inner();
        tracing::debug!(tf_rpc = "ApplyResourceChange", tf_resource_type = %r.type_name, "request");
        reply(self.apply_resource_change_impl(r).await)
    }

    async fn import_resource_state(
        &self,
        r: Request<import_resource_state::Request>,
    ) -> Result<Response<import_resource_state::Response>, Status> {
        let r = r.into_inner();
        tracing::debug!(tf_rpc = "ImportResourceState", tf_resource_type = %r.type_name, "request");
        reply(self.import_resource_state_impl(r).await)
    }

    async fn move_resource_state(
        &self,
        r: Request<move_resource_state::Request>,
    ) -> Result<Response<move_resource_state::Response>, Status> {
        let r = r.into_inner();
        tracing::debug!(tf_rpc = "MoveResourceState", tf_resource_type = %r.target_type_name, "request");
        reply(Err(Diagnostic::error(
            "Moving resource state is not supported",
            format!(
                "{} cannot take over state from {} ({}); remove the `moved` block and import the object instead.",
                r.target_type_name, r.source_type_name, r.source_provider_address
            ),
        )
        .into()))
    }

    async fn read_data_source(
        &self,
        r: Request<read_data_source::Request>,
    ) -> Result<Response<read_data_source::Response>, Status> {
        let r = r.into_inner();
        tracing::debug!(tf_rpc = "ReadDataSource", tf_data_source_type = %r.type_name, "request");
        reply(self.read_data_source_impl(r).await)
    }

    async fn generate_resource_config(
        &self,
        _r: Request<generate_resource_config::Request>,
    ) -> Result<Response<generate_resource_config::Response>, Status> {
        Err(unimplemented("GenerateResourceConfig"))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        r: Request<validate_ephemeral_resource_config::Request>,
    ) -> Result<Response<validate_ephemeral_resource_config::Response>, Status> {
        let r = r.into_inner();
        tracing::debug!(tf_rpc = "ValidateEphemeralResourceConfig", tf_ephemeral_type = %r.type_name, "request");
        reply(self.validate_ephemeral_config_impl(r).await)
    }

    async fn open_ephemeral_resource(
        &self,
        r: Request<open_ephemeral_resource::Request>,
    ) -> Result<Response<open_ephemeral_resource::Response>, Status> {
        let r = r.into_inner();
        tracing::debug!(tf_rpc = "OpenEphemeralResource", tf_ephemeral_type = %r.type_name, "request");
        reply(self.open_ephemeral_impl(r).await)
    }

    async fn renew_ephemeral_resource(
        &self,
        r: Request<renew_ephemeral_resource::Request>,
    ) -> Result<Response<renew_ephemeral_resource::Response>, Status> {
        let r = r.into_inner();
        tracing::debug!(tf_rpc = "RenewEphemeralResource", tf_ephemeral_type = %r.type_name, "request");
        reply(self.renew_ephemeral_impl(r).await)
    }

    async fn close_ephemeral_resource(
        &self,
        r: Request<close_ephemeral_resource::Request>,
    ) -> Result<Response<close_ephemeral_resource::Response>, Status> {
        let r = r.into_inner();
        tracing::debug!(tf_rpc = "CloseEphemeralResource", tf_ephemeral_type = %r.type_name, "request");
        reply(self.close_ephemeral_impl(r).await)
    }

    type ListResourceStream = Unsupported<list_resource::Event>;

    async fn list_resource(
        &self,
        _r: Request<list_resource::Request>,
    ) -> Result<Response<Self::ListResourceStream>, Status> {
        Err(unimplemented("ListResource"))
    }

    async fn validate_list_resource_config(
        &self,
        _r: Request<validate_list_resource_config::Request>,
    ) -> Result<Response<validate_list_resource_config::Response>, Status> {
        Err(unimplemented("ValidateListResourceConfig"))
    }

    async fn get_functions(
        &self,
        _r: Request<get_functions::Request>,
    ) -> Result<Response<get_functions::Response>, Status> {
        tracing::debug!(tf_rpc = "GetFunctions", "request");
        Ok(Response::new(get_functions::Response::default()))
    }

    async fn call_function(
        &self,
        r: Request<call_function::Request>,
    ) -> Result<Response<call_function::Response>, Status> {
        let r = r.into_inner();
        tracing::debug!(tf_rpc = "CallFunction", function = %r.name, "request");
        Ok(Response::new(call_function::Response {
            result: None,
            error: Some(FunctionError {
                text: format!("this provider defines no functions (called {:?})", r.name),
                function_argument: None,
            }),
        }))
    }

    async fn validate_state_store_config(
        &self,
        _r: Request<validate_state_store::Request>,
    ) -> Result<Response<validate_state_store::Response>, Status> {
        Err(unimplemented("ValidateStateStoreConfig"))
    }

    async fn configure_state_store(
        &self,
        _r: Request<configure_state_store::Request>,
    ) -> Result<Response<configure_state_store::Response>, Status> {
        Err(unimplemented("ConfigureStateStore"))
    }

    type ReadStateBytesStream = Unsupported<read_state_bytes::Response>;

    async fn read_state_bytes(
        &self,
        _r: Request<read_state_bytes::Request>,
    ) -> Result<Response<Self::ReadStateBytesStream>, Status> {
        Err(unimplemented("ReadStateBytes"))
    }

    async fn write_state_bytes(
        &self,
        _r: Request<Streaming<write_state_bytes::RequestChunk>>,
    ) -> Result<Response<write_state_bytes::Response>, Status> {
        Err(unimplemented("WriteStateBytes"))
    }

    async fn lock_state(
        &self,
        _r: Request<lock_state::Request>,
    ) -> Result<Response<lock_state::Response>, Status> {
        Err(unimplemented("LockState"))
    }

    async fn unlock_state(
        &self,
        _r: Request<unlock_state::Request>,
    ) -> Result<Response<unlock_state::Response>, Status> {
        Err(unimplemented("UnlockState"))
    }

    async fn get_states(
        &self,
        _r: Request<get_states::Request>,
    ) -> Result<Response<get_states::Response>, Status> {
        Err(unimplemented("GetStates"))
    }

    async fn delete_state(
        &self,
        _r: Request<delete_state::Request>,
    ) -> Result<Response<delete_state::Response>, Status> {
        Err(unimplemented("DeleteState"))
    }

    async fn plan_action(
        &self,
        _r: Request<plan_action::Request>,
    ) -> Result<Response<plan_action::Response>, Status> {
        Err(unimplemented("PlanAction"))
    }

    type InvokeActionStream = Unsupported<invoke_action::Event>;

    async fn invoke_action(
        &self,
        _r: Request<invoke_action::Request>,
    ) -> Result<Response<Self::InvokeActionStream>, Status> {
        Err(unimplemented("InvokeAction"))
    }

    async fn validate_action_config(
        &self,
        _r: Request<validate_action_config::Request>,
    ) -> Result<Response<validate_action_config::Response>, Status> {
        Err(unimplemented("ValidateActionConfig"))
    }

    async fn stop_provider(
        &self,
        _r: Request<stop_provider::Request>,
    ) -> Result<Response<stop_provider::Response>, Status> {
        tracing::debug!(tf_rpc = "StopProvider", "cancelling in-flight operations");
        self.stop.cancel();
        Ok(Response::new(stop_provider::Response::default()))
    }
}
