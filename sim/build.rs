//! Generates the Talos apid server stubs (`machine`, `common`, `google.rpc` packages) from the
//! protos vendored at the workspace root. protox is a pure-Rust compiler, so no `protoc` is needed.
//! Default stubs answer `Unimplemented` for every RPC the sim does not model.

fn main() {
    println!("cargo:rerun-if-changed=../proto/talos");
    println!("cargo:rerun-if-changed=../proto/cosi");
    let files = [
        "../proto/talos/machine/machine.proto",
        "../proto/talos/machine/image.proto",
        "../proto/talos/machine/lifecycle.proto",
        "../proto/cosi/state.proto",
    ];
    let fds = protox::compile(files, ["../proto/talos", "../proto/cosi"])
        .unwrap_or_else(|e| panic!("compiling {files:?}: {e}"));
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .generate_default_stubs(true)
        .compile_fds(fds)
        .unwrap_or_else(|e| panic!("generating code for {files:?}: {e}"));
}
