//! Tests of the provider configuration.

use std::collections::HashMap;

use super::*;
use crate::tfplugin::framework::ValidateRequest;

fn provider(env: &[(&str, &str)]) -> Hk8sProvider {
    let map: HashMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Hk8sProvider::with_env(move |k| map.get(k).cloned())
}

fn config(pairs: &[(&str, Value)]) -> Value {
    let mut attrs: std::collections::BTreeMap<String, Value> =
        ["hcloud_token", "hcloud_endpoint", "poll_interval"]
            .iter()
            .map(|k| ((*k).to_owned(), Value::Null))
            .collect();
    for (k, v) in pairs {
        attrs.insert((*k).to_owned(), v.clone());
    }
    Value::Object(attrs)
}

async fn configure(p: &Hk8sProvider, config: &Value) -> Result<ProviderData, Diagnostics> {
    p.configure(ConfigureRequest {
        config,
        terraform_version: "1.15.0",
    })
    .await
}

#[tokio::test]
async fn block_values_win_over_environment() {
    let p = provider(&[
        ("HCLOUD_TOKEN", "env-token"),
        ("HCLOUD_ENDPOINT", "http://127.0.0.1:1/v1"),
    ]);
    let data = configure(
        &p,
        &config(&[
            ("hcloud_token", Value::from("block-token")),
            ("hcloud_endpoint", Value::from("http://127.0.0.1:8080/v1/")),
            ("poll_interval", Value::from("500ms")),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(data.hcloud_token.unwrap().expose(), "block-token");
    assert_eq!(data.hcloud_endpoint, "http://127.0.0.1:8080/v1");
    assert_eq!(data.poll_interval, Duration::from_millis(500));
}

#[tokio::test]
async fn environment_then_defaults() {
    let data = configure(&provider(&[("HCLOUD_TOKEN", "env-token")]), &config(&[]))
        .await
        .unwrap();
    assert_eq!(data.hcloud_token.as_ref().unwrap().expose(), "env-token");
    assert_eq!(data.hcloud_endpoint, DEFAULT_HCLOUD_ENDPOINT);
    assert_eq!(data.poll_interval, DEFAULT_POLL_INTERVAL);

    let data = configure(&provider(&[]), &config(&[("hcloud_token", Value::Unknown)]))
        .await
        .unwrap();
    assert!(data.hcloud_token.is_none());
    let diags = data.require_token().unwrap_err();
    assert!(diags.to_string().contains("HCLOUD_TOKEN"));
}

#[tokio::test]
async fn invalid_settings_are_reported_at_their_attribute() {
    let err = configure(
        &provider(&[]),
        &config(&[
            ("hcloud_endpoint", Value::from("ftp://x")),
            ("poll_interval", Value::from("soon")),
        ]),
    )
    .await
    .unwrap_err();
    let paths: Vec<String> = err
        .iter()
        .map(|d| d.path.as_ref().unwrap().to_string())
        .collect();
    assert_eq!(paths, ["hcloud_endpoint", "poll_interval"]);
}

/// Errors of the schema validators (validate time) for one provider block.
fn validate_errors(p: &Hk8sProvider, config: &Value) -> Vec<(String, String)> {
    let schema = p.schema();
    crate::tfplugin::framework::plan::validate_config(schema.root_block(), config)
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            (
                d.path.as_ref().map(ToString::to_string).unwrap_or_default(),
                format!("{} {}", d.summary, d.detail),
            )
        })
        .collect()
}

#[tokio::test]
async fn rate_limit_reserve_must_be_a_whole_number_at_validate_and_configure() {
    let p = provider(&[]);
    for bad in ["-1", "2.5", "1000001"] {
        let number = Value::Number(bad.parse().unwrap());
        let block = config(&[("hcloud_rate_limit_reserve", number)]);
        let errors = validate_errors(&p, &block);
        assert_eq!(errors.len(), 1, "{bad}: {errors:?}");
        assert_eq!(errors[0].0, "hcloud_rate_limit_reserve", "{bad}");
        // A value from a variable reaches configure without validation: refused there too.
        let err = configure(&p, &block).await.unwrap_err();
        let diag = err.iter().next().unwrap();
        assert_eq!(
            diag.path.as_ref().unwrap().to_string(),
            "hcloud_rate_limit_reserve"
        );
        assert!(
            diag.detail.contains("whole number from 0"),
            "{}",
            diag.detail
        );
    }
    for good in [0_i64, 300] {
        let block = config(&[("hcloud_rate_limit_reserve", Value::from(good))]);
        assert!(validate_errors(&p, &block).is_empty(), "{good}");
        assert!(configure(&p, &block).await.is_ok(), "{good}");
    }
}

#[tokio::test]
async fn poll_interval_below_the_floor_is_refused_at_validate_and_configure() {
    let p = provider(&[]);
    for bad in ["0s", "1ms", "99ms", "0.05s"] {
        let block = config(&[("poll_interval", Value::from(bad))]);
        let errors = validate_errors(&p, &block);
        assert_eq!(errors.len(), 1, "{bad}: {errors:?}");
        assert_eq!(errors[0].0, "poll_interval", "{bad}");
        assert!(errors[0].1.contains("100ms"), "{bad}: {}", errors[0].1);
        let err = configure(&p, &block).await.unwrap_err();
        let diag = err.iter().next().unwrap();
        assert_eq!(diag.path.as_ref().unwrap().to_string(), "poll_interval");
        assert!(
            diag.detail.contains("poll_interval") && diag.detail.contains("100ms"),
            "{}",
            diag.detail
        );
    }
    for good in ["100ms", "0.1s", "2s"] {
        let block = config(&[("poll_interval", Value::from(good))]);
        assert!(validate_errors(&p, &block).is_empty(), "{good}");
        let data = configure(&p, &block).await.unwrap();
        assert!(data.poll_interval >= MIN_POLL_INTERVAL, "{good}");
    }
}

#[tokio::test]
async fn plain_http_endpoints_are_accepted_for_loopback_hosts_only() {
    let p = provider(&[]);
    for good in [
        "https://api.hetzner.cloud/v1",
        "https://10.0.0.1:8443/v1",
        "http://127.0.0.1:8080/v1",
        "http://127.42.0.3:8080/v1",
        "http://localhost:8080/v1",
        "http://LocalHost/v1",
        "http://[::1]:8080/v1",
    ] {
        let block = config(&[("hcloud_endpoint", Value::from(good))]);
        assert!(validate_errors(&p, &block).is_empty(), "{good}");
        assert!(configure(&p, &block).await.is_ok(), "{good}");
    }
    for bad in [
        "http://api.hetzner.cloud/v1",
        "http://10.0.0.1:8080/v1",
        "http://128.0.0.1/v1",
        "http://[::2]/v1",
        "http://[::ffff:10.0.0.1]/v1",
        "http://127.0.0.1.example.com/v1",
        "http://localhost.example.com/v1",
    ] {
        let block = config(&[("hcloud_endpoint", Value::from(bad))]);
        let errors = validate_errors(&p, &block);
        assert_eq!(errors.len(), 1, "{bad}: {errors:?}");
        assert_eq!(errors[0].0, "hcloud_endpoint");
        assert!(
            errors[0].1.contains("clear text") && errors[0].1.contains("https://"),
            "{bad}: {}",
            errors[0].1
        );
        assert!(configure(&p, &block).await.is_err(), "{bad}");
    }
    for bad in [
        "ftp://x/v1",
        "api.hetzner.cloud/v1",
        "https://",
        "http:///v1",
    ] {
        let block = config(&[("hcloud_endpoint", Value::from(bad))]);
        assert_eq!(validate_errors(&p, &block).len(), 1, "{bad}");
    }
}

#[tokio::test]
async fn plain_http_endpoint_from_the_environment_is_refused_at_configure() {
    // HCLOUD_ENDPOINT is not part of the block, so only configure can see it.
    let p = provider(&[("HCLOUD_ENDPOINT", "http://api.hetzner.cloud/v1")]);
    let err = configure(&p, &config(&[])).await.unwrap_err();
    let diag = err.iter().next().unwrap();
    assert_eq!(diag.path.as_ref().unwrap().to_string(), "hcloud_endpoint");
    assert!(diag.detail.contains("clear text"), "{}", diag.detail);
    let p = provider(&[("HCLOUD_ENDPOINT", "http://127.0.0.1:9/v1")]);
    assert!(configure(&p, &config(&[])).await.is_ok());
}

#[test]
fn token_is_redacted_in_debug_output() {
    let data = ProviderData {
        hcloud_token: Some(HcloudToken::new("super-secret")),
        hcloud_endpoint: DEFAULT_HCLOUD_ENDPOINT.to_owned(),
        poll_interval: DEFAULT_POLL_INTERVAL,
        image_factory: crate::talos::factory::Factory::default(),
        prices: crate::hcloud::pricing::PriceCache::default(),
        request_budget: std::sync::Arc::default(),
    };
    assert!(!format!("{data:?}").contains("super-secret"));
}

#[test]
fn schema_marks_token_sensitive() {
    let schema = provider(&[]).schema();
    let token = schema.root_block().find_attribute("hcloud_token").unwrap();
    assert!(token.is_sensitive() && token.is_optional());
}

#[tokio::test]
async fn schema_validators_catch_bad_values_at_validate_time() {
    let p = provider(&[]);
    let schema = p.schema();
    let bad = config(&[("poll_interval", Value::from("2 parsecs"))]);
    let diags = crate::tfplugin::framework::plan::validate_config(schema.root_block(), &bad);
    assert!(diags.has_error());
    assert!(p.validate(ValidateRequest::new(&bad)).await.is_empty());
}

#[test]
fn durations_parse() {
    assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
    assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
    assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
    for bad in ["", "0s", "2", "s", "2 s", "-1s", "3d"] {
        assert!(parse_duration(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn every_schema_is_consistent() {
    let p = provider(&[]);
    assert_eq!(p.schema().check(), Ok(()));
    for resource in p.resources() {
        assert_eq!(
            resource.schema().check(),
            Ok(()),
            "{}",
            resource.type_name()
        );
    }
    for source in p.data_sources() {
        assert_eq!(source.schema().check(), Ok(()), "{}", source.type_name());
    }
    for ephemeral in p.ephemeral_resources() {
        assert_eq!(
            ephemeral.schema().check(),
            Ok(()),
            "{}",
            ephemeral.type_name()
        );
    }
}
