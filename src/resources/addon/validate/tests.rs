use serde_json::json;

use super::check;
use crate::resources::addon::schema::schema;
use crate::resources::test_support::{described, validate, value_of};

fn problems(json: serde_json::Value) -> Vec<(String, String, String)> {
    let s = schema();
    described(&validate(&s, &value_of(&s, json), check))
}

#[test]
fn catalog_and_chart_addons() {
    assert_eq!(
        problems(json!({ "name": "hcloud-csi", "values": "storageClasses: []" })),
        vec![]
    );
    let chart = json!({ "name": "ingress-nginx", "version": "4.12.1",
        "chart": { "repository": "https://kubernetes.github.io/ingress-nginx", "name": "ingress-nginx" } });
    assert_eq!(problems(chart), vec![]);
}

#[test]
fn errors_name_their_attribute() {
    let cases = [
        (json!({ "name": "nginx" }), "name", "Unknown addon"),
        (
            json!({ "name": "cilium", "chart": { "repository": "https://x.io", "name": "cilium" } }),
            "chart",
            "Chart given for a catalog addon",
        ),
        (
            json!({ "name": "mine", "chart": { "repository": "https://x.io", "name": "c" } }),
            "version",
            "Missing chart version",
        ),
        (
            json!({ "name": "Mine", "version": "1", "chart": { "repository": "https://x.io", "name": "c" } }),
            "name",
            "Invalid release name",
        ),
        (
            json!({ "name": "mine", "version": "1", "chart": { "repository": "ftp://x.io", "name": "c" } }),
            "chart.repository",
            "Invalid chart repository",
        ),
        (
            json!({ "name": "hcloud-ccm" }),
            "name",
            "Addon installed by the cluster",
        ),
        (
            json!({ "name": "cilium" }),
            "name",
            "Addon installed by the cluster",
        ),
        (
            json!({ "name": "longhorn" }),
            "name",
            "Addon needs Talos system extensions",
        ),
        (
            json!({ "name": "hcloud-csi", "values": "- a\n- b\n" }),
            "values",
            "Invalid values",
        ),
        (
            json!({ "name": "hcloud-csi", "namespace": "Kube_System" }),
            "namespace",
            "Invalid namespace",
        ),
        (
            json!({ "name": "hcloud-csi", "timeout": "3h" }),
            "timeout",
            "Invalid duration",
        ),
    ];
    for (config, at, summary) in cases {
        let found = problems(config.clone());
        assert!(
            found.iter().any(|(p, s, _)| p == at && s == summary),
            "{config}: expected {summary:?} at {at}, got {found:?}"
        );
    }
    let found = problems(json!({ "name": "nginx" }));
    assert!(found[0].2.contains("hcloud-ccm, hcloud-csi"), "{found:?}");
}
