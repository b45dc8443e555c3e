//! tfplugin (to be written).

/// Generated tfplugin6 types.
#[allow(clippy::all, missing_docs)]
pub(crate) mod proto {
    tonic::include_proto!("tfplugin6");
}
