//! Generates the Talos apid server stubs (`machine`, `common`, `google.rpc` packages) from the
//! protos vendored at the workspace root. protox is a pure-Rust compiler, so no `protoc` is needed.
//! Default stubs answer `Unimplemented` for every RPC the sim does not model.
//! Also compiles the vendored Kubernetes protos into a `FileDescriptorSet` (no code generated)
//! that `kube::protobuf` embeds to read kubectl's protobuf request bodies.

fn main() {
    kubernetes_descriptors();
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

/// The API groups whose built-in kinds kubectl may send as protobuf; the apimachinery files
/// (`ObjectMeta`, `Quantity`, `IntOrString`, `runtime.Unknown`) come in as their imports.
const KUBERNETES_GROUPS: &[&str] = &[
    "core/v1",
    "apps/v1",
    "batch/v1",
    "rbac/v1",
    "networking/v1",
    "policy/v1",
    "scheduling/v1",
    "coordination/v1",
    "storage/v1",
    "autoscaling/v1",
    "autoscaling/v2",
    "discovery/v1",
    // Bodies kubectl sends besides objects: `create token` (TokenRequest), `auth can-i`
    // (SelfSubjectAccessReview), `certificate approve` (CertificateSigningRequest).
    "authentication/v1",
    "authorization/v1",
    "certificates/v1",
    "events/v1",
    "node/v1",
    "admissionregistration/v1",
];

fn kubernetes_descriptors() {
    println!("cargo:rerun-if-changed=../proto/kubernetes");
    let files: Vec<String> = KUBERNETES_GROUPS
        .iter()
        .map(|g| format!("k8s.io/api/{g}/generated.proto"))
        .collect();
    let mut compiler = protox::Compiler::new(["../proto/kubernetes"])
        .unwrap_or_else(|e| panic!("opening ../proto/kubernetes: {e}"));
    compiler.include_imports(true);
    compiler
        .open_files(&files)
        .unwrap_or_else(|e| panic!("compiling {files:?}: {e}"));
    let out = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR for build scripts");
    let path = std::path::Path::new(&out).join("kubernetes.fds");
    std::fs::write(&path, compiler.encode_file_descriptor_set())
        .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
