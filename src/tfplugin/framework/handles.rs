//! Type-erased handles so a provider can list resources of different Rust types.
//!
//! The public traits use `async fn`, which is not object-safe; each handle wraps a private
//! object-safe twin implemented for every type of the public trait, boxing the futures.

use std::sync::Arc;

use futures::future::BoxFuture;

use super::data_source::{DataRead, DataSource, ReadDataRequest};
use super::ephemeral::{
    CloseRequest, EphemeralResource, OpenRequest, Opened, RenewRequest, Renewed,
};
use super::plan::PlannedChange;
use super::resource::{
    CreateRequest, DeleteRequest, ImportRequest, PlanRequest, ReadRequest, Resource, UpdateRequest,
    UpgradeStateRequest, ValidateRequest,
};
use crate::tfplugin::diag::Diagnostics;
use crate::tfplugin::schema::Schema;
use crate::tfplugin::value::Value;

type Outcome<'a, T> = BoxFuture<'a, Result<T, Diagnostics>>;

pub(crate) trait ErasedResource<D>: Send + Sync {
    fn type_name(&self) -> &str;
    fn schema(&self) -> Schema;
    fn validate<'a>(&'a self, request: ValidateRequest<'a>) -> BoxFuture<'a, Diagnostics>;
    fn modify_plan<'a>(
        &'a self,
        request: PlanRequest<'a, D>,
        plan: PlannedChange,
    ) -> Outcome<'a, PlannedChange>;
    fn create<'a>(&'a self, request: CreateRequest<'a, D>) -> Outcome<'a, Value>;
    fn read<'a>(&'a self, request: ReadRequest<'a, D>) -> Outcome<'a, Value>;
    fn update<'a>(&'a self, request: UpdateRequest<'a, D>) -> Outcome<'a, Value>;
    fn delete<'a>(&'a self, request: DeleteRequest<'a, D>) -> Outcome<'a, ()>;
    fn import<'a>(&'a self, request: ImportRequest<'a, D>) -> Outcome<'a, Value>;
    fn upgrade_state<'a>(&'a self, request: UpgradeStateRequest<'a>) -> Outcome<'a, Value>;
}

impl<D: Send + Sync + 'static, R: Resource<D>> ErasedResource<D> for R {
    fn type_name(&self) -> &str {
        Resource::type_name(self)
    }
    fn schema(&self) -> Schema {
        Resource::schema(self)
    }
    fn validate<'a>(&'a self, request: ValidateRequest<'a>) -> BoxFuture<'a, Diagnostics> {
        Box::pin(Resource::validate(self, request))
    }
    fn modify_plan<'a>(
        &'a self,
        request: PlanRequest<'a, D>,
        plan: PlannedChange,
    ) -> Outcome<'a, PlannedChange> {
        Box::pin(Resource::modify_plan(self, request, plan))
    }
    fn create<'a>(&'a self, request: CreateRequest<'a, D>) -> Outcome<'a, Value> {
        Box::pin(Resource::create(self, request))
    }
    fn read<'a>(&'a self, request: ReadRequest<'a, D>) -> Outcome<'a, Value> {
        Box::pin(Resource::read(self, request))
    }
    fn update<'a>(&'a self, request: UpdateRequest<'a, D>) -> Outcome<'a, Value> {
        Box::pin(Resource::update(self, request))
    }
    fn delete<'a>(&'a self, request: DeleteRequest<'a, D>) -> Outcome<'a, ()> {
        Box::pin(Resource::delete(self, request))
    }
    fn import<'a>(&'a self, request: ImportRequest<'a, D>) -> Outcome<'a, Value> {
        Box::pin(Resource::import(self, request))
    }
    fn upgrade_state<'a>(&'a self, request: UpgradeStateRequest<'a>) -> Outcome<'a, Value> {
        Box::pin(Resource::upgrade_state(self, request))
    }
}

/// A managed resource type, ready for a provider's registry: `ResourceHandle::new(Cluster)`.
pub struct ResourceHandle<D>(pub(crate) Arc<dyn ErasedResource<D>>);

impl<D: Send + Sync + 'static> ResourceHandle<D> {
    /// Wraps a resource type.
    pub fn new<R: Resource<D>>(resource: R) -> Self {
        Self(Arc::new(resource))
    }
}

impl<D> Clone for ResourceHandle<D> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<D> ResourceHandle<D> {
    /// The resource type name.
    #[must_use]
    pub fn type_name(&self) -> &str {
        self.0.type_name()
    }

    /// The resource schema (for docs generation).
    #[must_use]
    pub fn schema(&self) -> Schema {
        self.0.schema()
    }
}

pub(crate) trait ErasedDataSource<D>: Send + Sync {
    fn type_name(&self) -> &str;
    fn schema(&self) -> Schema;
    fn validate<'a>(&'a self, request: ValidateRequest<'a>) -> BoxFuture<'a, Diagnostics>;
    fn read<'a>(&'a self, request: ReadDataRequest<'a, D>) -> Outcome<'a, DataRead>;
}

impl<D: Send + Sync + 'static, S: DataSource<D>> ErasedDataSource<D> for S {
    fn type_name(&self) -> &str {
        DataSource::type_name(self)
    }
    fn schema(&self) -> Schema {
        DataSource::schema(self)
    }
    fn validate<'a>(&'a self, request: ValidateRequest<'a>) -> BoxFuture<'a, Diagnostics> {
        Box::pin(DataSource::validate(self, request))
    }
    fn read<'a>(&'a self, request: ReadDataRequest<'a, D>) -> Outcome<'a, DataRead> {
        Box::pin(DataSource::read(self, request))
    }
}

/// A data source type, ready for a provider's registry.
pub struct DataSourceHandle<D>(pub(crate) Arc<dyn ErasedDataSource<D>>);

impl<D: Send + Sync + 'static> DataSourceHandle<D> {
    /// Wraps a data source type.
    pub fn new<S: DataSource<D>>(data_source: S) -> Self {
        Self(Arc::new(data_source))
    }
}

impl<D> Clone for DataSourceHandle<D> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<D> DataSourceHandle<D> {
    /// The data source type name.
    #[must_use]
    pub fn type_name(&self) -> &str {
        self.0.type_name()
    }

    /// The data source schema (for docs generation).
    #[must_use]
    pub fn schema(&self) -> Schema {
        self.0.schema()
    }
}

pub(crate) trait ErasedEphemeral<D>: Send + Sync {
    fn type_name(&self) -> &str;
    fn schema(&self) -> Schema;
    fn validate<'a>(&'a self, request: ValidateRequest<'a>) -> BoxFuture<'a, Diagnostics>;
    fn open<'a>(&'a self, request: OpenRequest<'a, D>) -> Outcome<'a, Opened>;
    fn renew<'a>(&'a self, request: RenewRequest<'a, D>) -> Outcome<'a, Renewed>;
    fn close<'a>(&'a self, request: CloseRequest<'a, D>) -> Outcome<'a, ()>;
}

impl<D: Send + Sync + 'static, E: EphemeralResource<D>> ErasedEphemeral<D> for E {
    fn type_name(&self) -> &str {
        EphemeralResource::type_name(self)
    }
    fn schema(&self) -> Schema {
        EphemeralResource::schema(self)
    }
    fn validate<'a>(&'a self, request: ValidateRequest<'a>) -> BoxFuture<'a, Diagnostics> {
        Box::pin(EphemeralResource::validate(self, request))
    }
    fn open<'a>(&'a self, request: OpenRequest<'a, D>) -> Outcome<'a, Opened> {
        Box::pin(EphemeralResource::open(self, request))
    }
    fn renew<'a>(&'a self, request: RenewRequest<'a, D>) -> Outcome<'a, Renewed> {
        Box::pin(EphemeralResource::renew(self, request))
    }
    fn close<'a>(&'a self, request: CloseRequest<'a, D>) -> Outcome<'a, ()> {
        Box::pin(EphemeralResource::close(self, request))
    }
}

/// An ephemeral resource type, ready for a provider's registry.
pub struct EphemeralResourceHandle<D>(pub(crate) Arc<dyn ErasedEphemeral<D>>);

impl<D: Send + Sync + 'static> EphemeralResourceHandle<D> {
    /// Wraps an ephemeral resource type.
    pub fn new<E: EphemeralResource<D>>(ephemeral: E) -> Self {
        Self(Arc::new(ephemeral))
    }
}

impl<D> Clone for EphemeralResourceHandle<D> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<D> EphemeralResourceHandle<D> {
    /// The ephemeral resource type name.
    #[must_use]
    pub fn type_name(&self) -> &str {
        self.0.type_name()
    }

    /// The ephemeral resource schema (for docs generation).
    #[must_use]
    pub fn schema(&self) -> Schema {
        self.0.schema()
    }
}
