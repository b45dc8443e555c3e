//! The `tfplugin6.Provider` service state: the registry of types with their schemas, the
//! configured provider data, the stop token, and the provider-level operations.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use tokio_util::sync::CancellationToken;

use super::convert::{decode_dynamic, diagnostics_to_proto, schema_to_proto};
use crate::tfplugin::diag::{Diagnostic, Diagnostics};
use crate::tfplugin::framework::plan::validate_config;
use crate::tfplugin::framework::{
    ConfigureRequest, DataSourceHandle, EphemeralResourceHandle, Provider, ResourceHandle,
    ValidateRequest,
};
use crate::tfplugin::proto::*;
use crate::tfplugin::schema::Schema;
use crate::tfplugin::value::Type;

/// A registered type with its schema and value type computed once.
pub(crate) struct Registered<H> {
    pub(crate) handle: H,
    pub(crate) schema: Schema,
    pub(crate) value_type: Type,
}

/// The provider service state.
pub(crate) struct ProviderService<P: Provider> {
    provider: P,
    provider_schema: Schema,
    provider_type: Type,
    pub(crate) resources: BTreeMap<String, Registered<ResourceHandle<P::Data>>>,
    pub(crate) data_sources: BTreeMap<String, Registered<DataSourceHandle<P::Data>>>,
    pub(crate) ephemerals: BTreeMap<String, Registered<EphemeralResourceHandle<P::Data>>>,
    configured: RwLock<Option<Arc<P::Data>>>,
    /// Cancelled by StopProvider; handed to every operation.
    pub(crate) stop: CancellationToken,
}

impl<P: Provider> ProviderService<P> {
    pub(crate) fn new(provider: P) -> Self {
        let provider_schema = provider.schema();
        let provider_type = provider_schema.value_type();
        let resources = provider
            .resources()
            .into_iter()
            .map(|handle| {
                let schema = handle.schema();
                let value_type = schema.value_type();
                (
                    handle.type_name().to_owned(),
                    Registered {
                        handle,
                        schema,
                        value_type,
                    },
                )
            })
            .collect();
        let data_sources = provider
            .data_sources()
            .into_iter()
            .map(|handle| {
                let schema = handle.schema();
                let value_type = schema.value_type();
                (
                    handle.type_name().to_owned(),
                    Registered {
                        handle,
                        schema,
                        value_type,
                    },
                )
            })
            .collect();
        let ephemerals = provider
            .ephemeral_resources()
            .into_iter()
            .map(|handle| {
                let schema = handle.schema();
                let value_type = schema.value_type();
                (
                    handle.type_name().to_owned(),
                    Registered {
                        handle,
                        schema,
                        value_type,
                    },
                )
            })
            .collect();
        Self {
            provider,
            provider_schema,
            provider_type,
            resources,
            data_sources,
            ephemerals,
            configured: RwLock::new(None),
            stop: CancellationToken::new(),
        }
    }

    /// The configured provider data, or an error telling that Terraform did not configure us.
    pub(crate) fn data(&self) -> Result<Arc<P::Data>, Diagnostics> {
        let guard = self
            .configured
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        guard.clone().ok_or_else(|| {
            Diagnostic::error(
                "Provider not configured",
                "Terraform called an operation before ConfigureProvider; this is a bug in the caller.",
            )
            .into()
        })
    }

    fn capabilities() -> ServerCapabilities {
        ServerCapabilities {
            // Resources see destroy plans (modify_plan is called with a null proposal), so they
            // can warn about what a destroy will remove.
            plan_destroy: true,
            // Terraform must call GetProviderSchema on every run: the framework computes value
            // types from it and nothing on our side is cached across processes, so declaring the
            // call optional would gain little and risk a stale cached schema after an upgrade.
            get_provider_schema_optional: false,
            // MoveResourceState is answered with an error diagnostic.
            move_resource_state: false,
            generate_resource_config: false,
        }
    }

    pub(crate) fn get_metadata_impl(&self) -> get_metadata::Response {
        get_metadata::Response {
            server_capabilities: Some(Self::capabilities()),
            resources: self
                .resources
                .keys()
                .map(|name| get_metadata::ResourceMetadata {
                    type_name: name.clone(),
                })
                .collect(),
            data_sources: self
                .data_sources
                .keys()
                .map(|name| get_metadata::DataSourceMetadata {
                    type_name: name.clone(),
                })
                .collect(),
            ephemeral_resources: self
                .ephemerals
                .keys()
                .map(|name| get_metadata::EphemeralMetadata {
                    type_name: name.clone(),
                })
                .collect(),
            ..Default::default()
        }
    }

    pub(crate) fn get_provider_schema_impl(&self) -> get_provider_schema::Response {
        get_provider_schema::Response {
            provider: Some(schema_to_proto(&self.provider_schema)),
            resource_schemas: self
                .resources
                .iter()
                .map(|(k, r)| (k.clone(), schema_to_proto(&r.schema)))
                .collect(),
            data_source_schemas: self
                .data_sources
                .iter()
                .map(|(k, r)| (k.clone(), schema_to_proto(&r.schema)))
                .collect(),
            ephemeral_resource_schemas: self
                .ephemerals
                .iter()
                .map(|(k, r)| (k.clone(), schema_to_proto(&r.schema)))
                .collect(),
            server_capabilities: Some(Self::capabilities()),
            diagnostics: diagnostics_to_proto(&self.schema_problems()),
            ..Default::default()
        }
    }

    /// Schema mistakes, reported at GetProviderSchema so they surface at the first Terraform
    /// command instead of as confusing value errors later.
    fn schema_problems(&self) -> Diagnostics {
        let schemas = std::iter::once(("provider", &self.provider_schema))
            .chain(self.resources.iter().map(|(k, r)| (k.as_str(), &r.schema)))
            .chain(
                self.data_sources
                    .iter()
                    .map(|(k, r)| (k.as_str(), &r.schema)),
            )
            .chain(self.ephemerals.iter().map(|(k, r)| (k.as_str(), &r.schema)));
        schemas
            .filter_map(|(name, schema)| schema.check().err().map(|problems| (name, problems)))
            .flat_map(|(name, problems)| {
                problems.into_iter().map(move |p| {
                    Diagnostic::error(
                        "Invalid provider schema",
                        format!("{name}: {p} (a bug in the provider)"),
                    )
                })
            })
            .collect()
    }

    pub(crate) async fn validate_provider_config_impl(
        &self,
        request: validate_provider_config::Request,
    ) -> Result<validate_provider_config::Response, Diagnostics> {
        let config = decode_dynamic(request.config.as_ref(), &self.provider_type)?;
        let mut diags = validate_config(self.provider_schema.root_block(), &config);
        diags.extend(self.provider.validate(ValidateRequest::new(&config)).await);
        Ok(validate_provider_config::Response {
            diagnostics: diagnostics_to_proto(&diags),
        })
    }

    pub(crate) async fn configure_provider_impl(
        &self,
        request: configure_provider::Request,
    ) -> Result<configure_provider::Response, Diagnostics> {
        let deferral_allowed = request
            .client_capabilities
            .as_ref()
            .is_some_and(|c| c.deferral_allowed);
        tracing::trace!(
            tf_rpc = "ConfigureProvider",
            deferral_allowed,
            "provider configuration is never deferred"
        );
        let config = decode_dynamic(request.config.as_ref(), &self.provider_type)?;
        let data = self
            .provider
            .configure(ConfigureRequest {
                config: &config,
                terraform_version: &request.terraform_version,
            })
            .await?;
        let mut guard = self
            .configured
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *guard = Some(Arc::new(data));
        Ok(configure_provider::Response::default())
    }
}

#[cfg(test)]
mod tests;
