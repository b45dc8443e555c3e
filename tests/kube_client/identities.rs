//! Client identities: Ed25519 and P-256 keys in PKCS#8, SEC1 and Talos's PEM forms all
//! authenticate; a server certificate from another CA is refused; custom-group discovery and
//! server-side apply against the mock.

use std::collections::BTreeMap;

use hk8s::kube::{Error, KubeClient, KubeOptions, ListOptions, equality_selector};
use hk8s::talos::pki::keys::KeyAlgorithm;

use super::mock_api::{MockApi, MockState};

#[tokio::test]
async fn ed25519_and_p256_keys_in_every_pem_form_authenticate() {
    let mock = MockApi::start(MockState::default()).await;
    let identities = [
        (
            "Ed25519, Talos label",
            mock.identity(KeyAlgorithm::Ed25519, false),
        ),
        ("P-256, SEC1", mock.identity(KeyAlgorithm::EcdsaP256, false)),
        (
            "Ed25519, PKCS#8",
            mock.identity(KeyAlgorithm::Ed25519, true),
        ),
        (
            "P-256, PKCS#8",
            mock.identity(KeyAlgorithm::EcdsaP256, true),
        ),
    ];
    for (label, credentials) in identities {
        let kube = KubeClient::new(&credentials, KubeOptions::default()).unwrap();
        assert!(kube.readyz().await.unwrap(), "{label}");
        assert_eq!(kube.version().await.unwrap(), "v1.35.0", "{label}");
    }
}

#[tokio::test]
async fn only_the_given_ca_is_trusted() {
    let mock = MockApi::start(MockState::default()).await;
    let other = MockApi::start(MockState::default()).await;
    let mut credentials = mock.credentials.clone();
    credentials.ca_pem = other.credentials.ca_pem.clone();
    let kube = KubeClient::new(&credentials, KubeOptions::default()).unwrap();
    let err = kube.readyz().await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    let err = kube.version().await.unwrap_err();
    match &err {
        Error::Transport { request, .. } => {
            assert_eq!(request.url, format!("https://{}/version", mock.addr));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        err.to_string().starts_with(&format!(
            "Kubernetes API GET https://{}/version: no reply",
            mock.addr
        )),
        "{err}"
    );
}

#[tokio::test]
async fn custom_resources_are_found_by_discovery_and_applied() {
    let mock = MockApi::start(MockState::default()).await;
    let kube = KubeClient::new(&mock.credentials, KubeOptions::default()).unwrap();
    let chart = serde_json::json!({
        "apiVersion": "helm.cattle.io/v1", "kind": "HelmChart",
        "metadata": {"name": "cilium", "namespace": "kube-system"},
        "spec": {"chart": "cilium", "version": "1.18.0"}
    });
    for _ in 0..2 {
        let applied = kube.apply(&chart, "hk8s", true).await.unwrap();
        assert_eq!(applied["spec"]["chart"], "cilium");
    }
    let log = mock.log();
    assert_eq!(
        log,
        [
            "GET /apis/helm.cattle.io/v1",
            "PATCH /apis/helm.cattle.io/v1/namespaces/kube-system/helmcharts/cilium?fieldManager=hk8s&force=true",
            "PATCH /apis/helm.cattle.io/v1/namespaces/kube-system/helmcharts/cilium?fieldManager=hk8s&force=true",
        ],
        "discovery is cached per client"
    );
    let mut labelled = chart.clone();
    labelled["metadata"]["name"] = "cert-manager".into();
    labelled["metadata"]["labels"] = serde_json::json!({"hk8s.io/addon": "cert-manager"});
    kube.apply(&labelled, "hk8s", true).await.unwrap();
    let options = ListOptions::default().labels(equality_selector(&BTreeMap::from([(
        "hk8s.io/addon".to_string(),
        "cert-manager".to_string(),
    )])));
    let listed = kube
        .list(
            "helm.cattle.io/v1",
            "HelmChart",
            Some("kube-system"),
            &options,
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["metadata"]["name"], "cert-manager");
    assert_eq!(
        mock.log().last().unwrap(),
        "GET /apis/helm.cattle.io/v1/namespaces/kube-system/helmcharts?labelSelector=hk8s.io%2Faddon%3Dcert-manager"
    );
    let unknown = serde_json::json!({"apiVersion": "helm.cattle.io/v1", "kind": "HelmChartConfig",
        "metadata": {"name": "x", "namespace": "kube-system"}});
    let err = kube.apply(&unknown, "hk8s", false).await.unwrap_err();
    assert!(
        matches!(&err, Error::UnknownKind { kind, .. } if kind == "HelmChartConfig"),
        "{err:?}"
    );
    let err = kube
        .get("example.com/v1", "Widget", Some("default"), "w")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UnknownKind { .. }), "{err:?}");
}
