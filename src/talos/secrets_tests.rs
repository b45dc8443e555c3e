use super::*;
use crate::talos::test_tools::{self, x509_text};
use rand::SeedableRng;

fn now() -> OffsetDateTime {
    // 2026-01-15T10:00:00Z
    OffsetDateTime::from_unix_timestamp(1_768_471_200).unwrap()
}

fn bundle(contract: VersionContract, seed: u64) -> SecretsBundle {
    generate(
        contract,
        now(),
        &mut rand::rngs::StdRng::seed_from_u64(seed),
    )
    .unwrap()
}

const TALOSCTL_FIXTURE: &str = include_str!("testdata/talosctl-secrets.yaml");
const TALOSCTL_AESCBC_FIXTURE: &str = include_str!("testdata/talosctl-secrets-aescbc.yaml");

#[test]
fn generated_cas_match_talos_as_seen_by_openssl() {
    let bundle = bundle(VersionContract::V1_13, 1);
    let cases = [
        (
            &bundle.etcd_ca,
            "O = etcd",
            "ecdsa-with-SHA256",
            "EC PRIVATE KEY",
        ),
        (
            &bundle.kubernetes_ca,
            "O = kubernetes",
            "ecdsa-with-SHA256",
            "EC PRIVATE KEY",
        ),
        (
            &bundle.aggregator_ca,
            "",
            "ecdsa-with-SHA256",
            "EC PRIVATE KEY",
        ),
        (&bundle.os_ca, "O = talos", "ED25519", "ED25519 PRIVATE KEY"),
    ];
    for (ca, subject, signature, key_label) in cases {
        let text = x509_text(&ca.cert_pem);
        assert!(text.contains(&format!("Subject: {subject}\n")), "{text}");
        assert!(text.contains(&format!("Issuer: {subject}\n")), "{text}");
        assert!(
            text.contains(&format!("Signature Algorithm: {signature}")),
            "{text}"
        );
        assert!(
            text.contains("Not Before: Jan 15 10:00:00 2026 GMT"),
            "{text}"
        );
        // 87600 h = 3650 days later.
        assert!(
            text.contains("Not After : Jan 13 10:00:00 2036 GMT"),
            "{text}"
        );
        assert!(
            text.contains("X509v3 Basic Constraints: critical\n                CA:TRUE"),
            "{text}"
        );
        assert!(
            text.contains(
                "X509v3 Key Usage: critical\n                Digital Signature, Certificate Sign"
            ),
            "{text}"
        );
        assert!(
            text.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
            "{text}"
        );
        assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
        assert!(!text.contains("Authority Key Identifier"), "{text}");
        assert!(
            ca.key_pem
                .starts_with(&format!("-----BEGIN {key_label}-----\n"))
        );
        // Self-signed: verifies against itself.
        test_tools::assert_chain_verifies(&ca.cert_pem, &ca.cert_pem);
        // The key belongs to the certificate.
        let cert_pub = test_tools::openssl(&["x509", "-pubkey", "-noout"], &ca.cert_pem);
        let key_pub = test_tools::openssl(
            &["pkey", "-pubout"],
            &pki::keys::to_standard_label(&ca.key_pem).unwrap(),
        );
        assert_eq!(cert_pub, key_pub);
    }
    let text = test_tools::openssl(&["rsa", "-text", "-noout"], &bundle.service_account_key);
    assert!(text.contains("Private-Key: (4096 bit, 2 primes)"), "{text}");
    assert!(
        bundle
            .service_account_key
            .starts_with("-----BEGIN RSA PRIVATE KEY-----\n")
    );
}

#[test]
fn serials_and_key_ids_are_random_128_and_160_bits() {
    let bundle = bundle(VersionContract::V1_12, 2);
    let text = x509_text(&bundle.kubernetes_ca.cert_pem);
    let serial_line = text
        .lines()
        .skip_while(|line| !line.contains("Serial Number:"))
        .nth(1)
        .unwrap()
        .trim();
    assert!(serial_line.split(':').count() <= 17, "{serial_line}");
    let ski_line = text
        .lines()
        .skip_while(|line| !line.contains("Subject Key Identifier"))
        .nth(1)
        .unwrap()
        .trim();
    assert_eq!(ski_line.split(':').count(), 20, "{ski_line}");
}

#[test]
fn tokens_and_secrets_have_talos_formats() {
    for contract in VersionContract::ALL {
        let bundle = bundle(contract, 3);
        check_token("t", &bundle.bootstrap_token).unwrap();
        check_token("t", &bundle.trustd_token).unwrap();
        check_base64_32("s", &bundle.cluster_secret).unwrap();
        let EncryptionSecret::Secretbox(secret) = &bundle.encryption else {
            panic!("secretbox expected for {contract}");
        };
        check_base64_32("s", secret).unwrap();
        let id = if contract.cluster_id_standard_base64() {
            STANDARD.decode(&bundle.cluster_id).unwrap()
        } else {
            URL_SAFE.decode(&bundle.cluster_id).unwrap()
        };
        assert_eq!(id.len(), 32);
        bundle.validate().unwrap();
    }
}

#[test]
fn seeded_rng_makes_tokens_and_identity_reproducible() {
    let a = bundle(VersionContract::V1_14, 42);
    let b = bundle(VersionContract::V1_14, 42);
    let c = bundle(VersionContract::V1_14, 43);
    assert_eq!(a.bootstrap_token, b.bootstrap_token);
    assert_eq!(a.trustd_token, b.trustd_token);
    assert_eq!(a.cluster_id, b.cluster_id);
    assert_eq!(a.cluster_secret, b.cluster_secret);
    assert_ne!(a.bootstrap_token, c.bootstrap_token);
    // Key material comes from the OS CSPRNG, never from the seed.
    assert_ne!(a.kubernetes_ca.key_pem, b.kubernetes_ca.key_pem);
}

#[test]
fn own_output_round_trips_byte_identically() {
    let bundle = bundle(VersionContract::V1_13, 5);
    let text = bundle.to_yaml().unwrap();
    let parsed = SecretsBundle::from_yaml(&text).unwrap();
    assert_eq!(parsed, bundle);
    assert_eq!(parsed.to_yaml().unwrap(), text);
    // talosctl's layout: top-level order and 4-space nesting.
    let keys: Vec<&str> = text.lines().filter(|line| !line.starts_with(' ')).collect();
    assert_eq!(keys, ["cluster:", "secrets:", "trustdinfo:", "certs:"]);
    assert!(
        text.contains("\n    k8sserviceaccount:\n        key: "),
        "{text}"
    );
}

#[test]
fn talosctl_files_are_accepted_and_rendered_identically() {
    let parsed = SecretsBundle::from_yaml(TALOSCTL_FIXTURE).unwrap();
    assert_eq!(parsed.bootstrap_token, "9f2k3a.0123456789abcdef");
    assert!(matches!(parsed.encryption, EncryptionSecret::Secretbox(_)));
    assert!(
        parsed
            .os_ca
            .key_pem
            .starts_with("-----BEGIN ED25519 PRIVATE KEY-----")
    );
    // Our rendering of a talosctl file is the same bytes talosctl wrote.
    assert_eq!(parsed.to_yaml().unwrap(), TALOSCTL_FIXTURE);

    let old = SecretsBundle::from_yaml(TALOSCTL_AESCBC_FIXTURE).unwrap();
    assert!(matches!(old.encryption, EncryptionSecret::AesCbc(_)));
    assert_eq!(old.to_yaml().unwrap(), TALOSCTL_AESCBC_FIXTURE);
}

#[test]
fn broken_bundles_name_the_field() {
    let cases = [
        (
            "bootstraptoken: 9f2k3a.0123456789abcdef",
            "bootstraptoken: NOPE",
            "secrets.bootstraptoken",
        ),
        (
            "token: qw8e7r.zyxwvutsrq987654",
            "token: qw8e7r.short",
            "trustdinfo.token",
        ),
    ];
    for (from, to, field) in cases {
        let text = TALOSCTL_FIXTURE.replace(from, to);
        let err = SecretsBundle::from_yaml(&text).unwrap_err();
        assert!(err.to_string().contains(field), "{err}");
    }
    // A certificate swapped for a key.
    let etcd_key_line = TALOSCTL_FIXTURE
        .lines()
        .find(|line| line.trim_start().starts_with("key: "))
        .unwrap()
        .trim_start()
        .trim_start_matches("key: ")
        .to_owned();
    let etcd_crt_line = TALOSCTL_FIXTURE
        .lines()
        .find(|line| line.trim_start().starts_with("crt: "))
        .unwrap()
        .trim_start()
        .trim_start_matches("crt: ")
        .to_owned();
    let swapped = TALOSCTL_FIXTURE.replacen(&etcd_crt_line, &etcd_key_line, 1);
    let err = SecretsBundle::from_yaml(&swapped).unwrap_err();
    assert!(err.to_string().contains("certs.etcd.crt"), "{err}");
    // Both encryption secrets at once.
    let both = TALOSCTL_FIXTURE.replace(
        "    secretboxencryptionsecret:",
        "    aescbcencryptionsecret: AAAA\n    secretboxencryptionsecret:",
    );
    assert!(
        SecretsBundle::from_yaml(&both)
            .unwrap_err()
            .to_string()
            .contains("only one")
    );
    // Missing section.
    let missing = TALOSCTL_FIXTURE.replace("trustdinfo:", "trustinfo:");
    assert!(matches!(
        SecretsBundle::from_yaml(&missing),
        Err(Error::Yaml { .. })
    ));
}
