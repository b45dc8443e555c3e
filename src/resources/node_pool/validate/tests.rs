use serde_json::json;

use super::check;
use crate::resources::node_pool::schema::schema;
use crate::resources::test_support::{described, validate, value_of};

fn problems(json: serde_json::Value) -> Vec<(String, String, String)> {
    let s = schema();
    described(&validate(&s, &value_of(&s, json), check))
}

fn base() -> serde_json::Value {
    json!({ "name": "general", "server_type": "cx33", "node_count": 3 })
}

#[test]
fn valid_pools() {
    assert_eq!(problems(base()), vec![]);
    assert_eq!(
        problems(
            json!({ "name": "auto", "server_type": "cax21", "autoscaling": { "min": 0, "max": 5 } })
        ),
        vec![]
    );
}

#[test]
fn errors_name_their_attribute() {
    let cases = [
        (json!({ "name": "cp" }), "name", "Invalid node pool name"),
        (
            json!({ "name": "General" }),
            "name",
            "Invalid node pool name",
        ),
        (
            json!({ "server_type": "cax51" }),
            "server_type",
            "Invalid server type",
        ),
        (
            json!({ "node_count": -1 }),
            "node_count",
            "Invalid node count",
        ),
        (
            json!({ "node_count": 1.5 }),
            "node_count",
            "Invalid node count",
        ),
        (
            json!({ "autoscaling": { "min": 1, "max": 3 } }),
            "autoscaling",
            "Conflicting pool size",
        ),
        (
            json!({ "node_count": null, "autoscaling": { "min": 4, "max": 2 } }),
            "autoscaling.min",
            "Invalid autoscaling range",
        ),
        (
            json!({ "node_count": null, "autoscaling": { "min": 0, "max": 0 } }),
            "autoscaling.max",
            "Invalid autoscaling maximum",
        ),
        (
            json!({ "node_count": null, "autoscaling": { "min": 0, "max": 3 }, "locations": ["fsn1", "nbg1"] }),
            "locations",
            "An autoscaled pool has one location",
        ),
        (
            json!({ "labels": { "team": "a b" } }),
            "labels[\"team\"]",
            "Invalid label value",
        ),
        (json!({ "taints": ["gpu"] }), "taints[0]", "Invalid taint"),
        (
            json!({ "config_patches": ["42"] }),
            "config_patches[0]",
            "Invalid config patch",
        ),
        (
            json!({ "locations": ["fsn1", "mars"] }),
            "locations[1]",
            "Invalid location",
        ),
        (
            json!({ "update_strategy": { "max_unavailable": 0 } }),
            "update_strategy.max_unavailable",
            "Invalid max_unavailable",
        ),
        (
            json!({ "update_strategy": { "drain_timeout": "5 minutes" } }),
            "update_strategy.drain_timeout",
            "Invalid duration",
        ),
    ];
    for (patch, at, summary) in cases {
        let mut config = base();
        for (k, v) in patch.as_object().unwrap() {
            config[k] = v.clone();
        }
        let found = problems(config);
        assert!(
            found.iter().any(|(p, s, _)| p == at && s == summary),
            "{patch}: expected {summary:?} at {at}, got {found:?}"
        );
    }
}
