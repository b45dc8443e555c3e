use super::*;
use crate::talos::test_tools::{self, x509_text};
use rand::SeedableRng;

fn secrets() -> SecretsBundle {
    SecretsBundle::from_yaml(include_str!("testdata/talosctl-secrets.yaml")).unwrap()
}

fn now() -> OffsetDateTime {
    // 2027-06-01T12:00:00Z, inside the fixture CAs' validity
    OffsetDateTime::from_unix_timestamp(1_811_851_200).unwrap()
}

#[test]
fn admin_certificate_is_what_apid_accepts() {
    let secrets = secrets();
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    let credentials = issue_admin(&secrets, now(), Duration::days(365), &mut rng).unwrap();
    assert_eq!(credentials.expires_at, now() + Duration::days(365));

    test_tools::assert_chain_verifies(
        &secrets.os_ca.cert_pem,
        &credentials.cert_pem,
        now() + Duration::hours(1),
    );
    let text = x509_text(&credentials.cert_pem);
    assert!(text.contains("Subject: O = os:admin\n"), "{text}");
    assert!(!text.contains("CN ="), "no common name: {text}");
    assert!(text.contains("Public Key Algorithm: ED25519"), "{text}");
    assert!(
        text.contains("X509v3 Key Usage: critical\n                Digital Signature\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "X509v3 Extended Key Usage: \n                TLS Web Client Authentication\n"
        ),
        "clientAuth only: {text}"
    );
    assert!(!text.contains("Server Authentication"), "{text}");
    assert!(!text.contains("CA:TRUE"), "{text}");
    assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
    assert!(
        text.contains("Not Before: Jun  1 12:00:00 2027 GMT"),
        "{text}"
    );
    assert!(
        text.contains("Not After : May 31 12:00:00 2028 GMT"),
        "{text}"
    );
    assert!(
        credentials
            .key_pem
            .starts_with("-----BEGIN ED25519 PRIVATE KEY-----\n")
    );
    // The key belongs to the certificate.
    let cert_pub = test_tools::openssl(&["x509", "-pubkey", "-noout"], &credentials.cert_pem);
    let key_pub = test_tools::openssl(
        &["pkey", "-pubout"],
        &pki::keys::to_standard_label(&credentials.key_pem).unwrap(),
    );
    assert_eq!(cert_pub, key_pub);
}

#[test]
fn verification_is_not_vacuous() {
    let secrets = secrets();
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    let credentials = issue_admin(&secrets, now(), Duration::days(1), &mut rng).unwrap();
    // Wrong CA, and outside the validity window: both refused.
    assert!(!test_tools::chain_verifies(
        &secrets.kubernetes_ca.cert_pem,
        &credentials.cert_pem,
        now()
    ));
    assert!(!test_tools::chain_verifies(
        &secrets.os_ca.cert_pem,
        &credentials.cert_pem,
        now() + Duration::days(2)
    ));
    assert!(test_tools::chain_verifies(
        &secrets.os_ca.cert_pem,
        &credentials.cert_pem,
        now()
    ));
}

#[test]
fn ttl_is_a_parameter_and_must_be_positive() {
    let secrets = secrets();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let credentials = issue_admin(&secrets, now(), Duration::hours(8), &mut rng).unwrap();
    let info = certs::inspect(&credentials.cert_pem).unwrap();
    assert_eq!(info.not_after, now() + Duration::hours(8));
    assert!(matches!(
        issue_admin(&secrets, now(), Duration::ZERO, &mut rng),
        Err(Error::InvalidTtl { .. })
    ));
}

#[test]
fn talosconfig_has_one_context_with_base64_pem() {
    let secrets = secrets();
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    let credentials = issue_admin(&secrets, now(), Duration::days(30), &mut rng).unwrap();
    let config = Talosconfig::new(
        "prod",
        &["203.0.113.10".into()],
        &["10.0.1.2".into(), "10.0.1.3".into()],
        &credentials,
    )
    .unwrap();
    let text = config.to_yaml().unwrap();
    assert!(
        text.starts_with("context: prod\ncontexts:\n    prod:\n        endpoints:\n"),
        "{text}"
    );
    let parsed: Talosconfig = yaml::from_str(&text).unwrap();
    assert_eq!(parsed, config);
    let context = &parsed.contexts["prod"];
    assert_eq!(context.endpoints, ["203.0.113.10"]);
    assert_eq!(context.nodes, ["10.0.1.2", "10.0.1.3"]);
    let decode = |field: &str| String::from_utf8(STANDARD.decode(field).unwrap()).unwrap();
    assert_eq!(decode(&context.ca), secrets.os_ca.cert_pem);
    assert_eq!(decode(&context.crt), credentials.cert_pem);
    assert_eq!(decode(&context.key), credentials.key_pem);
    assert!(Talosconfig::new("prod", &[], &[], &credentials).is_err());
}
