//! Drives every Hetzner Cloud endpoint of hk8s-sim with the official `hcloud` crate, the way the
//! provider and users' tools will: one test binary, one module per API family.

mod api {
    pub mod support;

    mod catalog;
    mod firewalls;
    mod images_and_keys;
    mod load_balancers;
    mod networks;
    mod openapi;
    mod pools;
    mod server_actions;
    mod servers;
    mod sim_behaviour;
    mod volumes;
}
