//! `hk8s::talos::ops` against an in-process hk8s-sim: real machine configs from
//! `hk8s::talos::config::generate`, servers booted from seeded Talos snapshots, apid reached
//! through a load balancer with `node` routing, the Kubernetes API read with the admin
//! kubeconfig Talos hands out. Each test has its own sim on its own loopback block
//! (127.60.0.1 … 127.69.0.1) with the nominal ports 50000/6443, and the sim's instant latency, so
//! nothing depends on wall-clock timing.

mod talos_ops {
    pub mod harness;

    mod apply;
    mod bootstrap;
    mod kubernetes;
    mod realistic;
    mod removal;
    mod timeouts;
    mod upgrade;
}
