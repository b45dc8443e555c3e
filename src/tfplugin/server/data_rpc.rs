//! Data source and ephemeral resource RPCs.

use super::convert::{decode_dynamic, diagnostics_to_proto, encode_dynamic};
use super::provider_service::{ProviderService, Registered};
use super::resource_rpc::{lookup, require_known};
use crate::tfplugin::diag::{Diagnostic, Diagnostics};
use crate::tfplugin::framework::plan::validate_config;
use crate::tfplugin::framework::{
    CloseRequest, DataSourceHandle, EphemeralResourceHandle, OpenRequest, Provider,
    ReadDataRequest, RenewRequest, ValidateRequest,
};
use crate::tfplugin::proto::*;

impl<P: Provider> ProviderService<P> {
    fn data_source(
        &self,
        name: &str,
    ) -> Result<&Registered<DataSourceHandle<P::Data>>, Diagnostics> {
        lookup(&self.data_sources, "data source", name)
    }

    fn ephemeral(
        &self,
        name: &str,
    ) -> Result<&Registered<EphemeralResourceHandle<P::Data>>, Diagnostics> {
        lookup(&self.ephemerals, "ephemeral resource", name)
    }

    pub(crate) async fn validate_data_source_config_impl(
        &self,
        request: validate_data_resource_config::Request,
    ) -> Result<validate_data_resource_config::Response, Diagnostics> {
        let source = self.data_source(&request.type_name)?;
        let config = decode_dynamic(request.config.as_ref(), &source.value_type)?;
        let mut diags = validate_config(source.schema.root_block(), &config);
        diags.extend(
            source
                .handle
                .0
                .validate(ValidateRequest::new(&config))
                .await,
        );
        Ok(validate_data_resource_config::Response {
            diagnostics: diagnostics_to_proto(&diags),
        })
    }

    pub(crate) async fn read_data_source_impl(
        &self,
        request: read_data_source::Request,
    ) -> Result<read_data_source::Response, Diagnostics> {
        let source = self.data_source(&request.type_name)?;
        let config = decode_dynamic(request.config.as_ref(), &source.value_type)?;
        let data = self.data()?;
        let deferral_allowed = request
            .client_capabilities
            .as_ref()
            .is_some_and(|c| c.deferral_allowed);
        let read = ReadDataRequest {
            data: &*data,
            config: &config,
            value_type: &source.value_type,
            cancel: &self.stop,
            deferral_allowed,
        };
        let result = source.handle.0.read(read).await?;
        let deferred = if result.deferred {
            if !deferral_allowed {
                return Err(Diagnostic::error(
                    "Provider deferred a read Terraform cannot defer",
                    format!(
                        "The read of {} was deferred although Terraform does not accept deferrals; \
                         this is a bug in the provider.",
                        request.type_name
                    ),
                )
                .into());
            }
            Some(Deferred {
                reason: deferred::Reason::AbsentPrereq as i32,
            })
        } else {
            require_known(&result.state, &request.type_name, "read")?;
            None
        };
        Ok(read_data_source::Response {
            state: Some(encode_dynamic(&result.state, &source.value_type)?),
            diagnostics: diagnostics_to_proto(&result.diagnostics),
            deferred,
        })
    }

    pub(crate) async fn validate_ephemeral_config_impl(
        &self,
        request: validate_ephemeral_resource_config::Request,
    ) -> Result<validate_ephemeral_resource_config::Response, Diagnostics> {
        let ephemeral = self.ephemeral(&request.type_name)?;
        let config = decode_dynamic(request.config.as_ref(), &ephemeral.value_type)?;
        let mut diags = validate_config(ephemeral.schema.root_block(), &config);
        diags.extend(
            ephemeral
                .handle
                .0
                .validate(ValidateRequest::new(&config))
                .await,
        );
        Ok(validate_ephemeral_resource_config::Response {
            diagnostics: diagnostics_to_proto(&diags),
        })
    }

    pub(crate) async fn open_ephemeral_impl(
        &self,
        request: open_ephemeral_resource::Request,
    ) -> Result<open_ephemeral_resource::Response, Diagnostics> {
        let ephemeral = self.ephemeral(&request.type_name)?;
        let config = decode_dynamic(request.config.as_ref(), &ephemeral.value_type)?;
        let data = self.data()?;
        let open = OpenRequest {
            data: &*data,
            config: &config,
            value_type: &ephemeral.value_type,
            cancel: &self.stop,
        };
        let opened = ephemeral.handle.0.open(open).await?;
        require_known(&opened.result, &request.type_name, "open")?;
        Ok(open_ephemeral_resource::Response {
            result: Some(encode_dynamic(&opened.result, &ephemeral.value_type)?),
            private: Some(opened.private),
            renew_at: opened.renew_at.map(prost_types::Timestamp::from),
            ..Default::default()
        })
    }

    pub(crate) async fn renew_ephemeral_impl(
        &self,
        request: renew_ephemeral_resource::Request,
    ) -> Result<renew_ephemeral_resource::Response, Diagnostics> {
        let ephemeral = self.ephemeral(&request.type_name)?;
        let data = self.data()?;
        let private = request.private.unwrap_or_default();
        let renewed = ephemeral
            .handle
            .0
            .renew(RenewRequest {
                data: &*data,
                private: &private,
                cancel: &self.stop,
            })
            .await?;
        Ok(renew_ephemeral_resource::Response {
            private: Some(renewed.private),
            renew_at: renewed.renew_at.map(prost_types::Timestamp::from),
            ..Default::default()
        })
    }

    pub(crate) async fn close_ephemeral_impl(
        &self,
        request: close_ephemeral_resource::Request,
    ) -> Result<close_ephemeral_resource::Response, Diagnostics> {
        let ephemeral = self.ephemeral(&request.type_name)?;
        let data = self.data()?;
        let private = request.private.unwrap_or_default();
        ephemeral
            .handle
            .0
            .close(CloseRequest {
                data: &*data,
                private: &private,
                cancel: &self.stop,
            })
            .await?;
        Ok(close_ephemeral_resource::Response::default())
    }
}
