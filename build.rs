//! Generates Rust code for the vendored protocol definitions under `proto/`.
//!
//! `protox` is a pure-Rust protobuf compiler, so a fresh machine needs no `protoc`.

use std::path::Path;

fn compile(includes: &[&str], files: &[&str], build_client: bool, build_server: bool) {
    let fds =
        protox::compile(files, includes).unwrap_or_else(|e| panic!("compiling {files:?}: {e}"));
    tonic_prost_build::configure()
        .build_client(build_client)
        .build_server(build_server)
        .compile_fds(fds)
        .unwrap_or_else(|e| panic!("generating code for {files:?}: {e}"));
}

fn main() {
    println!("cargo:rerun-if-changed=proto");
    // Terraform plugin protocol and go-plugin's side services: we are the server.
    compile(
        &["proto/tfplugin6"],
        &["proto/tfplugin6/tfplugin6.proto"],
        false,
        true,
    );
    compile(
        &["proto/go-plugin"],
        &[
            "proto/go-plugin/grpc_broker.proto",
            "proto/go-plugin/grpc_controller.proto",
            "proto/go-plugin/grpc_stdio.proto",
        ],
        false,
        true,
    );
    compile_talos();
}

/// Talos apid (`machine`, `common`, `google.rpc` packages, and the COSI `State` service apid
/// also serves, from hk8s's own `proto/cosi/state.proto`).
///
/// The provider is the client. Server stubs are generated as well, for the in-test mock apid and
/// the simulator; with default stubs every RPC a server does not implement answers
/// `Unimplemented`, so a server implements only what it serves (MachineService has ~60 RPCs).
fn compile_talos() {
    assert!(Path::new("proto/talos/machine/machine.proto").exists());
    println!("cargo:rerun-if-changed=proto/cosi");
    let files = [
        "proto/talos/machine/machine.proto",
        "proto/talos/machine/image.proto",
        "proto/talos/machine/lifecycle.proto",
        "proto/cosi/state.proto",
    ];
    let fds = protox::compile(files, ["proto/talos", "proto/cosi"])
        .unwrap_or_else(|e| panic!("compiling {files:?}: {e}"));
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .generate_default_stubs(true)
        .compile_fds(fds)
        .unwrap_or_else(|e| panic!("generating code for {files:?}: {e}"));
}
