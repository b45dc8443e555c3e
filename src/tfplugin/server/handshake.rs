//! The go-plugin handshake: what Terraform passes in the environment and the line we print.

use std::path::PathBuf;

/// Environment variable holding the magic cookie that proves Terraform launched us.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
/// The magic cookie value Terraform sets (the same for every provider).
pub const MAGIC_COOKIE_VALUE: &str =
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// go-plugin's own protocol version (first field of the handshake line).
pub const CORE_PROTOCOL_VERSION: u32 = 1;
/// The Terraform plugin protocol major version we speak.
pub const PLUGIN_PROTOCOL_VERSION: u32 = 6;

/// The handshake cannot proceed.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// Started without Terraform's magic cookie (e.g. by hand).
    #[error(
        "not launched by Terraform (the {MAGIC_COOKIE_KEY} environment variable is missing or wrong)"
    )]
    NotLaunchedByTerraform,
    /// The client does not offer protocol 6.
    #[error(
        "Terraform offered plugin protocol versions {offered:?}, but this provider speaks only version \
         {PLUGIN_PROTOCOL_VERSION} (Terraform ≥ 1.0 or OpenTofu); upgrade Terraform"
    )]
    ProtocolNotOffered {
        /// The value of `PLUGIN_PROTOCOL_VERSIONS`.
        offered: String,
    },
}

/// What Terraform asked for in the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeRequest {
    /// PEM of Terraform's client certificate (`PLUGIN_CLIENT_CERT`): serve mTLS when present.
    pub client_cert_pem: Option<String>,
    /// Where to create the Unix socket (`PLUGIN_UNIX_SOCKET_DIR`, else the temp dir).
    pub socket_dir: PathBuf,
}

/// Reads and checks the handshake environment through `lookup` (`std::env::var` in production).
pub fn read_environment(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<HandshakeRequest, HandshakeError> {
    if lookup(MAGIC_COOKIE_KEY).as_deref() != Some(MAGIC_COOKIE_VALUE) {
        return Err(HandshakeError::NotLaunchedByTerraform);
    }
    if let Some(offered) = lookup("PLUGIN_PROTOCOL_VERSIONS").filter(|v| !v.trim().is_empty()) {
        let speaks_ours = offered
            .split(',')
            .any(|v| v.trim().parse::<u32>() == Ok(PLUGIN_PROTOCOL_VERSION));
        if !speaks_ours {
            return Err(HandshakeError::ProtocolNotOffered { offered });
        }
    }
    Ok(HandshakeRequest {
        client_cert_pem: lookup("PLUGIN_CLIENT_CERT").filter(|pem| !pem.trim().is_empty()),
        socket_dir: lookup("PLUGIN_UNIX_SOCKET_DIR")
            .filter(|d| !d.is_empty())
            .map_or_else(std::env::temp_dir, PathBuf::from),
    })
}

/// The line go-plugin reads from our stdout:
/// `1|6|unix|/path.sock|grpc|<server cert DER, standard base64 without padding>` (no cert field
/// when serving plaintext).
#[must_use]
pub fn handshake_line(socket_path: &str, server_cert_der: Option<&[u8]>) -> String {
    use base64::Engine as _;
    let mut line =
        format!("{CORE_PROTOCOL_VERSION}|{PLUGIN_PROTOCOL_VERSION}|unix|{socket_path}|grpc|");
    if let Some(der) = server_cert_der {
        line.push_str(&base64::engine::general_purpose::STANDARD_NO_PAD.encode(der));
    }
    line
}

/// What to print when a human runs the binary directly.
#[must_use]
pub fn not_a_command_message(binary: &str, provider_address: &str) -> String {
    format!(
        "{binary} is a Terraform provider plugin: Terraform (or OpenTofu) starts it, it is not meant \
         to be run by hand.\n\n\
         To use it, declare it in your configuration:\n\n\
         \x20 terraform {{\n\
         \x20   required_providers {{\n\
         \x20     {name} = {{ source = \"{source}\" }}\n\
         \x20   }}\n\
         \x20 }}\n\n\
         and run `terraform init`. To use a local build, point a CLI configuration file\n\
         (TF_CLI_CONFIG_FILE or ~/.terraformrc) at the directory holding this binary:\n\n\
         \x20 provider_installation {{\n\
         \x20   dev_overrides {{ \"{provider_address}\" = \"/path/to/dir\" }}\n\
         \x20   direct {{}}\n\
         \x20 }}\n\n\
         To attach a debugger, run it with --debug and export the TF_REATTACH_PROVIDERS line it prints.\n",
        name = provider_address
            .rsplit('/')
            .next()
            .unwrap_or(provider_address),
        source = provider_address
            .split_once('/')
            .map_or(provider_address, |(_, rest)| rest),
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn requires_the_cookie() {
        assert!(matches!(
            read_environment(env(&[])),
            Err(HandshakeError::NotLaunchedByTerraform)
        ));
        assert!(matches!(
            read_environment(env(&[(MAGIC_COOKIE_KEY, "nope")])),
            Err(HandshakeError::NotLaunchedByTerraform)
        ));
    }

    #[test]
    fn negotiates_version_six_only() {
        let ok = read_environment(env(&[
            (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
            ("PLUGIN_PROTOCOL_VERSIONS", "5,6"),
        ]));
        assert!(ok.is_ok());
        let err = read_environment(env(&[
            (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
            ("PLUGIN_PROTOCOL_VERSIONS", "4,5"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("\"4,5\""), "{err}");
    }

    #[test]
    fn reads_cert_and_socket_dir() {
        let req = read_environment(env(&[
            (MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE),
            ("PLUGIN_CLIENT_CERT", "-----BEGIN CERTIFICATE-----"),
            ("PLUGIN_UNIX_SOCKET_DIR", "/run/x"),
        ]))
        .unwrap();
        assert_eq!(
            req.client_cert_pem.as_deref(),
            Some("-----BEGIN CERTIFICATE-----")
        );
        assert_eq!(req.socket_dir, PathBuf::from("/run/x"));
    }

    #[test]
    fn handshake_line_uses_unpadded_base64() {
        assert_eq!(
            handshake_line("/tmp/p.sock", Some(&[1, 2, 3, 4])),
            "1|6|unix|/tmp/p.sock|grpc|AQIDBA"
        );
        assert_eq!(
            handshake_line("/tmp/p.sock", None),
            "1|6|unix|/tmp/p.sock|grpc|"
        );
    }

    #[test]
    fn message_explains_usage() {
        let text = not_a_command_message("terraform-provider-x", "registry.terraform.io/acme/x");
        assert!(text.contains("Terraform provider plugin"));
        assert!(text.contains(r#"x = { source = "acme/x" }"#));
        assert!(text.contains(r#""registry.terraform.io/acme/x" = "/path/to/dir""#));
    }
}
