//! `estimated_monthly_cost` end to end with real Terraform: the quickstart cluster's estimate in
//! state is what the sim's own price list (`GET /pricing`) makes of the servers, IPv4s and load
//! balancer that exist, computed here independently; a plan that changes what is bought shows
//! the new value and warns by how much the cost rises; the apply of such a change records the new
//! estimate; the plans after applies are empty and fetch no price list.

mod cluster;
mod support;

use cluster::world::{TOKEN, World};
use serde_json::Value;
use support::{Workdir, plan_diagnostics, terraforms};

/// examples/quickstart/main.tf made lean for the test machine (one control plane, fast polling)
/// and without its kubeconfig data source (its credentials renew every 4 hours, which would make
/// an empty-plan check depend on the clock), plus an output of the estimate.
fn quickstart(extra: &str) -> String {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/quickstart/main.tf"),
    )
    .expect("examples/quickstart/main.tf");
    let mut lean = text.clone();
    for (from, to) in [
        (
            "provider \"hk8s\" {}",
            "provider \"hk8s\" {\n  poll_interval = \"100ms\"\n}",
        ),
        ("    count       = 3\n", "    count       = 1\n"),
        (
            "    locations   = [\"fsn1\", \"nbg1\", \"hel1\"]\n  }\n",
            &format!("    locations   = [\"fsn1\"]\n  }}\n{extra}"),
        ),
        (
            "data \"hk8s_kubeconfig\" \"admin\" {\n  cluster = hk8s_cluster.main.connection\n  ttl     = \"8h\"\n}\n",
            "",
        ),
        (
            "output \"kubeconfig\" {\n  value     = data.hk8s_kubeconfig.admin.kubeconfig\n  sensitive = true\n}\n",
            "output \"cost\" {\n  value = hk8s_cluster.main.estimated_monthly_cost\n}\n",
        ),
    ] {
        assert!(
            lean.contains(from),
            "examples/quickstart/main.tf no longer has {from:?}"
        );
        lean = lean.replace(from, to);
    }
    lean
}

/// A net amount of the price list in 10⁻¹⁰ EUR, parsed exactly from its decimal string.
fn units(amount: &Value) -> i128 {
    let text = amount["net"].as_str().expect("a net amount");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let fraction = format!("{fraction:0<10}");
    format!("{whole}{}", &fraction[..10])
        .parse()
        .expect("a decimal amount")
}

/// Whole cents, halves up, as `12.34`.
fn eur(units: i128) -> String {
    let cents = (units + 50_000_000) / 100_000_000;
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// `price_monthly` of `name` in `location` in the list `kind` (`server_types`, …).
fn monthly(pricing: &Value, kind: &str, name: &str, location: &str) -> i128 {
    let item = pricing[kind]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["name"] == name || t["type"] == name)
        .unwrap_or_else(|| panic!("{kind} has no {name}"));
    let price = item["prices"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["location"] == location)
        .unwrap_or_else(|| panic!("{name} has no price in {location}"));
    units(&price["price_monthly"])
}

/// What the cluster in `attributes` (from state) costs by the sim's price list: every node's
/// server and primary IPv4 where it actually is, and the API load balancer.
fn expected_units(pricing: &Value, attributes: &Value) -> i128 {
    let nodes = attributes["nodes"].as_array().expect("nodes in state");
    let servers: i128 = nodes
        .iter()
        .map(|n| {
            let location = n["location"].as_str().unwrap();
            monthly(
                pricing,
                "server_types",
                n["server_type"].as_str().unwrap(),
                location,
            ) + monthly(pricing, "primary_ips", "ipv4", location)
        })
        .sum();
    let lb = &attributes["api_load_balancer"];
    servers
        + monthly(
            pricing,
            "load_balancer_types",
            lb["type"].as_str().unwrap(),
            lb["location"].as_str().unwrap(),
        )
}

fn attributes(w: &Workdir) -> Value {
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(w.path().join("terraform.tfstate")).expect("state"),
    )
    .expect("state JSON");
    state["resources"][0]["instances"][0]["attributes"].clone()
}

/// The estimate as state records it, as `12.34`.
fn recorded(attributes: &Value) -> String {
    let cost = attributes["estimated_monthly_cost"]
        .as_f64()
        .unwrap_or_else(|| panic!("no estimate in state: {attributes:#}"));
    format!("{cost:.2}")
}

fn pricing_requests(world: &World) -> u64 {
    world.stats()["requests"]["GET /pricing"]
        .as_u64()
        .unwrap_or(0)
}

fn assert_plan_empty(w: &Workdir) {
    let out = w.run(&["plan", "-detailed-exitcode", "-no-color", "-input=false"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the plan is not empty:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_estimate_follows_hetzners_price_list_and_plans_warn_when_it_changes() {
    let Some(tf) = terraforms().into_iter().next() else {
        return;
    };
    let world = World::start(61, &["v1.13.9"], |_| {});
    let env = |w: Workdir| {
        w.env("HCLOUD_ENDPOINT", &world.endpoint)
            .env("HCLOUD_TOKEN", TOKEN)
    };
    let w = env(Workdir::new(&tf, &quickstart("")));
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);

    let pricing = world.block_on(async {
        reqwest::Client::new()
            .get(format!("{}/pricing", world.endpoint))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("sim answers")
            .json::<Value>()
            .await
            .expect("price list")
    })["pricing"]
        .clone();
    assert_eq!(pricing["currency"], "EUR");
    let created = attributes(&w);
    let before = expected_units(&pricing, &created);
    assert_eq!(recorded(&created), eur(before), "{created:#}");
    let output = w.run_ok(&["output", "-raw", "cost"]);
    assert_eq!(
        format!("{:.2}", output.trim().parse::<f64>().unwrap()),
        eur(before)
    );

    let fetched = pricing_requests(&world);
    assert_plan_empty(&w);
    assert_eq!(
        pricing_requests(&world),
        fetched,
        "a plan that changes nothing fetches no price list"
    );

    // Three control planes instead of one: two more cax21 servers and IPv4s in fsn1.
    w.write_main(&quickstart("").replace("    count       = 1\n", "    count       = 3\n"));
    let (ok, lines) = w.plan_json(&["-out=scale.tfplan"]);
    assert!(ok, "{lines:?}");
    let rise = 2
        * (monthly(&pricing, "server_types", "cax21", "fsn1")
            + monthly(&pricing, "primary_ips", "ipv4", "fsn1"));
    let warnings: Vec<String> = plan_diagnostics(&lines)
        .iter()
        .filter(|d| d["summary"] == "Estimated monthly cost changes")
        .map(|d| d["detail"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(
        warnings,
        [format!(
            "Monthly cost rises by {} EUR (from {} to {} EUR, excluding VAT).",
            eur(rise),
            eur(before),
            eur(before + rise)
        )]
    );
    let shown: Value = serde_json::from_str(&w.run_ok(&["show", "-json", "scale.tfplan"])).unwrap();
    let after = &shown["resource_changes"][0]["change"]["after"]["estimated_monthly_cost"];
    assert_eq!(
        format!("{:.2}", after.as_f64().unwrap()),
        eur(before + rise)
    );

    // A bigger load balancer, applied: the state records the new estimate, the plan after it is
    // empty.
    w.write_main(&quickstart(
        "  api_load_balancer = {\n    type = \"lb21\"\n  }\n",
    ));
    let (ok, lines) = w.plan_json(&[]);
    assert!(ok, "{lines:?}");
    let lb_rise = monthly(&pricing, "load_balancer_types", "lb21", "fsn1")
        - monthly(&pricing, "load_balancer_types", "lb11", "fsn1");
    assert!(
        plan_diagnostics(&lines).iter().any(|d| d["detail"]
            == format!(
                "Monthly cost rises by {} EUR (from {} to {} EUR, excluding VAT).",
                eur(lb_rise),
                eur(before),
                eur(before + lb_rise)
            )),
        "{lines:?}"
    );
    w.run_ok(&["apply", "-auto-approve", "-no-color"]);
    let updated = attributes(&w);
    assert_eq!(updated["api_load_balancer"]["type"], "lb21");
    assert_eq!(recorded(&updated), eur(expected_units(&pricing, &updated)));
    assert_eq!(recorded(&updated), eur(before + lb_rise));
    let fetched = pricing_requests(&world);
    assert_plan_empty(&w);
    assert_eq!(pricing_requests(&world), fetched);

    w.run_ok(&["destroy", "-auto-approve", "-no-color"]);
    assert!(
        world.labelled("prod").is_empty(),
        "{:?}",
        world.labelled("prod")
    );
}
