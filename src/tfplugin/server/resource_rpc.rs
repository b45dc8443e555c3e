//! Managed resource RPCs: validate, upgrade, read, plan, apply, import.

use std::collections::BTreeMap;

use super::convert::{decode_dynamic, diagnostics_to_proto, encode_dynamic, path_to_proto};
use super::provider_service::{ProviderService, Registered};
use crate::tfplugin::diag::{AttributePath, Diagnostic, Diagnostics};
use crate::tfplugin::framework::plan::{clear_write_only, default_plan, validate_config};
use crate::tfplugin::framework::{
    CreateRequest, DeleteRequest, ImportRequest, PlanRequest, Provider, ReadRequest,
    ResourceHandle, UpdateRequest, UpgradeStateRequest, ValidateRequest, Warnings,
};
use crate::tfplugin::proto::*;
use crate::tfplugin::value::{Value, decode_json_lenient};

/// Looks up a registered type by name.
pub(crate) fn lookup<'a, H>(
    registry: &'a BTreeMap<String, Registered<H>>,
    kind: &str,
    name: &str,
) -> Result<&'a Registered<H>, Diagnostics> {
    registry.get(name).ok_or_else(|| {
        Diagnostic::error(
            format!("Unknown {kind} type"),
            format!("This provider has no {kind} type named {name:?}."),
        )
        .into()
    })
}

/// The path of the first unknown value inside `value`, if any.
pub(crate) fn first_unknown(value: &Value, path: &AttributePath) -> Option<AttributePath> {
    match value {
        Value::Unknown => Some(path.clone()),
        Value::List(items) | Value::Set(items) | Value::Tuple(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| first_unknown(v, &path.index(i))),
        Value::Object(attrs) => attrs
            .iter()
            .find_map(|(k, v)| first_unknown(v, &path.attr(k.clone()))),
        Value::Map(items) => items
            .iter()
            .find_map(|(k, v)| first_unknown(v, &path.key(k.clone()))),
        _ => None,
    }
}

/// Refuses results holding unknown values (Terraform would reject them less clearly).
pub(crate) fn require_known(
    value: &Value,
    type_name: &str,
    operation: &str,
) -> Result<(), Diagnostics> {
    match first_unknown(value, &AttributePath::empty()) {
        None => Ok(()),
        Some(path) => Err(Diagnostic::error(
            "Provider returned an unknown value",
            format!(
                "The {operation} of {type_name} left a value unknown at {}; this is a bug in the provider.",
                if path.is_empty() { "the top level".to_owned() } else { path.to_string() }
            ),
        )
        .into()),
    }
}

impl<P: Provider> ProviderService<P> {
    fn resource(&self, name: &str) -> Result<&Registered<ResourceHandle<P::Data>>, Diagnostics> {
        lookup(&self.resources, "resource", name)
    }

    pub(crate) async fn validate_resource_config_impl(
        &self,
        request: validate_resource_config::Request,
    ) -> Result<validate_resource_config::Response, Diagnostics> {
        let resource = self.resource(&request.type_name)?;
        let config = decode_dynamic(request.config.as_ref(), &resource.value_type)?;
        let mut diags = validate_config(resource.schema.root_block(), &config);
        diags.extend(
            resource
                .handle
                .0
                .validate(ValidateRequest::new(&config))
                .await,
        );
        Ok(validate_resource_config::Response {
            diagnostics: diagnostics_to_proto(&diags),
        })
    }

    pub(crate) async fn upgrade_resource_state_impl(
        &self,
        request: upgrade_resource_state::Request,
    ) -> Result<upgrade_resource_state::Response, Diagnostics> {
        let resource = self.resource(&request.type_name)?;
        let raw = request.raw_state.unwrap_or_default();
        if raw.json.is_empty() {
            if raw.flatmap.is_empty() {
                return Ok(upgrade_resource_state::Response {
                    upgraded_state: Some(encode_dynamic(&Value::Null, &resource.value_type)?),
                    diagnostics: Vec::new(),
                });
            }
            return Err(Diagnostic::error(
                "Legacy state format",
                "The stored state uses the pre-0.12 flatmap format, which this provider never wrote.",
            )
            .into());
        }
        let current = resource.schema.schema_version();
        let upgraded = if request.version == current {
            decode_json_lenient(&raw.json, &resource.value_type)?
        } else if request.version > current {
            return Err(Diagnostic::error(
                "State from a newer provider",
                format!(
                    "The state of this {} was written with schema version {}, newer than this provider's {}; \
                     use the provider version that wrote it.",
                    request.type_name, request.version, current
                ),
            )
            .into());
        } else {
            resource
                .handle
                .0
                .upgrade_state(UpgradeStateRequest {
                    stored_version: request.version,
                    raw_json: &raw.json,
                    schema: &resource.schema,
                })
                .await?
        };
        Ok(upgrade_resource_state::Response {
            upgraded_state: Some(encode_dynamic(&upgraded, &resource.value_type)?),
            diagnostics: Vec::new(),
        })
    }

    pub(crate) async fn read_resource_impl(
        &self,
        request: read_resource::Request,
    ) -> Result<read_resource::Response, Diagnostics> {
        let resource = self.resource(&request.type_name)?;
        let state = decode_dynamic(request.current_state.as_ref(), &resource.value_type)?;
        let new_state = if state.is_null() {
            Value::Null
        } else {
            let data = self.data()?;
            let read = ReadRequest {
                data: &*data,
                state: &state,
                value_type: &resource.value_type,
                cancel: &self.stop,
            };
            let mut new_state = resource.handle.0.read(read).await?;
            clear_write_only(resource.schema.root_block(), &mut new_state);
            new_state
        };
        require_known(&new_state, &request.type_name, "read")?;
        Ok(read_resource::Response {
            new_state: Some(encode_dynamic(&new_state, &resource.value_type)?),
            private: request.private,
            ..Default::default()
        })
    }

    pub(crate) async fn plan_resource_change_impl(
        &self,
        request: plan_resource_change::Request,
    ) -> Result<plan_resource_change::Response, Diagnostics> {
        let resource = self.resource(&request.type_name)?;
        let ty = &resource.value_type;
        let prior = decode_dynamic(request.prior_state.as_ref(), ty)?;
        let proposed = decode_dynamic(request.proposed_new_state.as_ref(), ty)?;
        let config = decode_dynamic(request.config.as_ref(), ty)?;
        let data = self.data()?;
        let change = default_plan(
            resource.schema.root_block(),
            &config,
            &prior,
            proposed.clone(),
        );
        let plan_request = PlanRequest {
            data: &*data,
            config: &config,
            prior: &prior,
            proposed: &proposed,
            value_type: ty,
            cancel: &self.stop,
        };
        let change = resource.handle.0.modify_plan(plan_request, change).await?;
        Ok(plan_resource_change::Response {
            planned_state: Some(encode_dynamic(&change.planned, ty)?),
            requires_replace: change.requires_replace.iter().map(path_to_proto).collect(),
            planned_private: request.prior_private,
            diagnostics: diagnostics_to_proto(&change.diagnostics),
            ..Default::default()
        })
    }

    pub(crate) async fn apply_resource_change_impl(
        &self,
        request: apply_resource_change::Request,
    ) -> Result<apply_resource_change::Response, Diagnostics> {
        let resource = self.resource(&request.type_name)?;
        let ty = &resource.value_type;
        let prior = decode_dynamic(request.prior_state.as_ref(), ty)?;
        let planned = decode_dynamic(request.planned_state.as_ref(), ty)?;
        let config = decode_dynamic(request.config.as_ref(), ty)?;
        let data = self.data()?;
        let cancel = &self.stop;
        let handle = &resource.handle.0;
        let warnings = Warnings::default();
        let outcome = if planned.is_null() {
            handle
                .delete(DeleteRequest {
                    data: &*data,
                    prior: &prior,
                    cancel,
                })
                .await
                .map(|()| Value::Null)
        } else if prior.is_null() {
            let create = CreateRequest {
                data: &*data,
                config: &config,
                planned: &planned,
                value_type: ty,
                cancel,
                warnings: &warnings,
            };
            handle.create(create).await
        } else {
            let update = UpdateRequest {
                data: &*data,
                config: &config,
                prior: &prior,
                planned: &planned,
                value_type: ty,
                cancel,
                warnings: &warnings,
            };
            handle.update(update).await
        }
        .and_then(|mut state| {
            clear_write_only(resource.schema.root_block(), &mut state);
            require_known(&state, &request.type_name, "apply").map(|()| state)
        });
        let mut diagnostics = warnings.take();
        match outcome {
            Ok(new_state) => Ok(apply_resource_change::Response {
                new_state: Some(encode_dynamic(&new_state, ty)?),
                private: request.planned_private,
                diagnostics: diagnostics_to_proto(&diagnostics),
                ..Default::default()
            }),
            // A failed update or delete leaves the object as it was: returning the prior state
            // keeps it in Terraform's state (null would make Terraform forget a live object).
            Err(diags) => {
                diagnostics.extend(diags);
                Ok(apply_resource_change::Response {
                    new_state: Some(encode_dynamic(&prior, ty)?),
                    private: request.planned_private,
                    diagnostics: diagnostics_to_proto(&diagnostics),
                    ..Default::default()
                })
            }
        }
    }

    pub(crate) async fn import_resource_state_impl(
        &self,
        request: import_resource_state::Request,
    ) -> Result<import_resource_state::Response, Diagnostics> {
        let resource = self.resource(&request.type_name)?;
        let data = self.data()?;
        let import = ImportRequest {
            data: &*data,
            id: &request.id,
            value_type: &resource.value_type,
            cancel: &self.stop,
        };
        let state = resource.handle.0.import(import).await?;
        if state.is_null() {
            return Err(Diagnostic::error(
                "Cannot import non-existent remote object",
                format!(
                    "No {} was found for the import id {:?}.",
                    request.type_name, request.id
                ),
            )
            .into());
        }
        Ok(import_resource_state::Response {
            imported_resources: vec![import_resource_state::ImportedResource {
                type_name: request.type_name,
                state: Some(encode_dynamic(&state, &resource.value_type)?),
                private: Vec::new(),
                identity: None,
            }],
            ..Default::default()
        })
    }
}
