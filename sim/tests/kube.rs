//! The Kubernetes API of hk8s-sim over real HTTPS with client certificates, on clusters brought up
//! inside the sim (Hetzner API → Talos user data → apid bootstrap): drains (cordon, eviction
//! against a PodDisruptionBudget, rescheduling), the helm-controller stand-in (install, failure,
//! upgrade, uninstall), Cilium readiness, the hcloud CCM (provider ids, Service load balancers in
//! the Hetzner API), server-side apply field ownership, and the `/_sim/state` sections.

mod kube {
    pub mod support;

    mod apply;
    mod autoscaler;
    mod ccm;
    mod csi;
    mod drain;
    mod eviction;
    mod helm;
    mod join;
    mod kubectl;
    mod metrics;
    mod nodes;
    mod openapi;
    mod python;
    mod routing;
    mod semantics;
    mod watch;
}
