//! Image Factory schematics: parsed as the factory parses them (strict YAML, unknown fields
//! refused), marshalled canonically the way the factory's Go YAML encoder does (four-space
//! indentation, empty sections left out, `customization: {}` when nothing is customised), and
//! identified by the SHA-256 of that canonical text, so that ids match the real factory's.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::catalog::DEFAULT_TALOS_SCHEMATIC;

/// The official extensions the stand-in knows (a small subset of the real catalogue).
pub const OFFICIAL_EXTENSIONS: &[&str] = &[
    "siderolabs/amd-ucode",
    "siderolabs/drbd",
    "siderolabs/gvisor",
    "siderolabs/intel-ucode",
    "siderolabs/iscsi-tools",
    "siderolabs/nut-client",
    "siderolabs/nvidia-container-toolkit-production",
    "siderolabs/nvidia-open-gpu-kernel-modules-production",
    "siderolabs/qemu-guest-agent",
    "siderolabs/stargz-snapshotter",
    "siderolabs/tailscale",
    "siderolabs/util-linux-tools",
    "siderolabs/zfs",
];

/// The canonical text of the schematic without customisation (its id is
/// [`DEFAULT_TALOS_SCHEMATIC`]).
pub const DEFAULT_SCHEMATIC_YAML: &str = "customization: {}\n";

/// A schematic as the stand-in models it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schematic {
    /// `customization.extraKernelArgs`.
    pub extra_kernel_args: Vec<String>,
    /// `customization.meta`: (key, value).
    pub meta: Vec<(u8, String)>,
    /// `customization.systemExtensions.officialExtensions`.
    pub official_extensions: Vec<String>,
    /// `customization.secureboot.includeWellKnownCertificates`.
    pub include_well_known_certificates: bool,
}

/// Why a posted schematic was refused (the factory answers 400 with this text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSchematic(pub String);

impl Schematic {
    /// Parses a posted schematic; an empty body is the schematic without customisation.
    ///
    /// # Errors
    /// The factory's text for invalid YAML, unknown fields, wrong types and unknown extensions.
    pub fn parse(text: &str) -> Result<Schematic, InvalidSchematic> {
        if text.trim().is_empty() {
            return Ok(Schematic::default());
        }
        let value: Value = serde_saphyr::from_str(text)
            .map_err(|e| InvalidSchematic(format!("yaml: {}", first_line(&e.to_string()))))?;
        let mut out = Schematic::default();
        let top = mapping(&value, text, "schematic.Schematic")?;
        for (key, v) in top {
            match key.as_str() {
                "customization" => out.customization(v, text)?,
                "overlay" => {
                    return Err(InvalidSchematic(
                        "overlays are not modelled by hk8s-sim (no hcloud image uses one)".into(),
                    ));
                }
                other => return Err(unknown_field(text, other, "schematic.Schematic")),
            }
        }
        for ext in &out.official_extensions {
            if !OFFICIAL_EXTENSIONS.contains(&ext.as_str()) {
                return Err(InvalidSchematic(format!(
                    "official extension {ext:?} is not available"
                )));
            }
        }
        Ok(out)
    }

    fn customization(&mut self, value: &Value, text: &str) -> Result<(), InvalidSchematic> {
        for (key, v) in mapping(value, text, "schematic.Customization")? {
            match key.as_str() {
                "extraKernelArgs" => self.extra_kernel_args = strings(v, text, key)?,
                "systemExtensions" => {
                    for (k, v) in mapping(v, text, "schematic.SystemExtensions")? {
                        match k.as_str() {
                            "officialExtensions" => self.official_extensions = strings(v, text, k)?,
                            other => {
                                return Err(unknown_field(
                                    text,
                                    other,
                                    "schematic.SystemExtensions",
                                ));
                            }
                        }
                    }
                }
                "meta" => {
                    let items = v.as_array().cloned().unwrap_or_default();
                    if !v.is_array() && !v.is_null() {
                        return Err(cannot_unmarshal(text, key, v, "[]schematic.MetaValue"));
                    }
                    for item in &items {
                        let mut entry = (None, None);
                        for (k, v) in mapping(item, text, "schematic.MetaValue")? {
                            match k.as_str() {
                                "key" => {
                                    entry.0 = Some(
                                        v.as_u64()
                                            .and_then(|n| u8::try_from(n).ok())
                                            .ok_or_else(|| cannot_unmarshal(text, k, v, "uint8"))?,
                                    );
                                }
                                "value" => {
                                    entry.1 = Some(
                                        v.as_str()
                                            .ok_or_else(|| cannot_unmarshal(text, k, v, "string"))?
                                            .to_string(),
                                    );
                                }
                                other => {
                                    return Err(unknown_field(text, other, "schematic.MetaValue"));
                                }
                            }
                        }
                        self.meta
                            .push((entry.0.unwrap_or(0), entry.1.unwrap_or_default()));
                    }
                }
                "secureboot" => {
                    for (k, v) in mapping(v, text, "schematic.SecureBootCustomization")? {
                        match k.as_str() {
                            "includeWellKnownCertificates" => {
                                self.include_well_known_certificates = v
                                    .as_bool()
                                    .ok_or_else(|| cannot_unmarshal(text, k, v, "bool"))?;
                            }
                            other => {
                                return Err(unknown_field(
                                    text,
                                    other,
                                    "schematic.SecureBootCustomization",
                                ));
                            }
                        }
                    }
                }
                other => return Err(unknown_field(text, other, "schematic.Customization")),
            }
        }
        Ok(())
    }

    /// The canonical text (what the factory hashes and serves back).
    pub fn marshal(&self) -> String {
        let mut body = String::new();
        if !self.extra_kernel_args.is_empty() {
            body.push_str("    extraKernelArgs:\n");
            for arg in &self.extra_kernel_args {
                body.push_str(&format!("        - {}\n", scalar(arg)));
            }
        }
        if !self.meta.is_empty() {
            body.push_str("    meta:\n");
            for (key, value) in &self.meta {
                body.push_str(&format!(
                    "        - key: {key}\n          value: {}\n",
                    scalar(value)
                ));
            }
        }
        if !self.official_extensions.is_empty() {
            body.push_str("    systemExtensions:\n        officialExtensions:\n");
            for ext in &self.official_extensions {
                body.push_str(&format!("            - {}\n", scalar(ext)));
            }
        }
        if self.include_well_known_certificates {
            body.push_str("    secureboot:\n        includeWellKnownCertificates: true\n");
        }
        if body.is_empty() {
            DEFAULT_SCHEMATIC_YAML.to_string()
        } else {
            format!("customization:\n{body}")
        }
    }

    /// The schematic id: SHA-256 of the canonical text, in hex.
    pub fn id(&self) -> String {
        Sha256::digest(self.marshal().as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// Whether `id` names the schematic without customisation (known to every factory).
pub fn is_default(id: &str) -> bool {
    id == DEFAULT_TALOS_SCHEMATIC
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

fn mapping<'a>(
    value: &'a Value,
    text: &str,
    type_name: &str,
) -> Result<Vec<(&'a String, &'a Value)>, InvalidSchematic> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Object(map) => Ok(map.iter().collect()),
        other => Err(InvalidSchematic(format!(
            "yaml: unmarshal errors:\n  line {}: cannot unmarshal {} into {type_name}",
            line_of_value(text, other),
            describe(other)
        ))),
    }
}

fn strings(value: &Value, text: &str, key: &str) -> Result<Vec<String>, InvalidSchematic> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                // YAML scalars such as numbers decode into Go strings as their text.
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                other => Err(cannot_unmarshal(text, key, other, "string")),
            })
            .collect(),
        other => Err(cannot_unmarshal(text, key, other, "[]string")),
    }
}

fn unknown_field(text: &str, field: &str, type_name: &str) -> InvalidSchematic {
    InvalidSchematic(format!(
        "yaml: unmarshal errors:\n  line {}: field {field} not found in type {type_name}",
        line_of_key(text, field)
    ))
}

fn cannot_unmarshal(text: &str, key: &str, value: &Value, into: &str) -> InvalidSchematic {
    InvalidSchematic(format!(
        "yaml: unmarshal errors:\n  line {}: cannot unmarshal {} into {into}",
        line_of_key(text, key),
        describe(value)
    ))
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("!!str `{s}`"),
        Value::Number(n) => format!("!!int `{n}`"),
        Value::Bool(b) => format!("!!bool `{b}`"),
        Value::Array(_) => "!!seq".into(),
        Value::Object(_) => "!!map".into(),
        Value::Null => "!!null".into(),
    }
}

/// The 1-based line where `key:` first appears (the YAML decoder reports the line).
fn line_of_key(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            let l = l.trim_start().trim_start_matches("- ").trim_start();
            l.strip_prefix(key).is_some_and(|r| r.starts_with(':'))
        })
        .map_or(1, |i| i + 1)
}

fn line_of_value(text: &str, value: &Value) -> usize {
    match value {
        Value::String(s) => text
            .lines()
            .position(|l| l.contains(s.as_str()))
            .map_or(1, |i| i + 1),
        _ => 1,
    }
}

/// A string as the Go YAML encoder writes it: plain when it reads back as the same string,
/// double-quoted otherwise.
fn scalar(s: &str) -> String {
    let looks_typed = matches!(
        s.to_ascii_lowercase().as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "y" | "n" | "null" | "~" | ""
    ) || s.parse::<f64>().is_ok()
        || s.starts_with("0x")
        || s.starts_with("0o");
    let special_start = s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@` ".contains(c));
    let special_inside = s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.ends_with(' ')
        || s.chars().any(|c| c.is_control());
    if looks_typed || special_start || special_inside {
        serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_the_real_factorys() {
        assert_eq!(Schematic::parse("").unwrap().id(), DEFAULT_TALOS_SCHEMATIC);
        assert_eq!(
            Schematic::parse("customization: {}\n").unwrap().id(),
            DEFAULT_TALOS_SCHEMATIC
        );
        // Well-known ids of factory.talos.dev.
        let iscsi = "customization:\n  systemExtensions:\n    officialExtensions:\n      - siderolabs/iscsi-tools\n      - siderolabs/util-linux-tools\n";
        assert_eq!(
            Schematic::parse(iscsi).unwrap().id(),
            "613e1592b2da41ae5e265e8789429f22e121aab91cb4deb6bc3c0b6262961245"
        );
        let qemu = "customization: {systemExtensions: {officialExtensions: [siderolabs/qemu-guest-agent]}}";
        assert_eq!(
            Schematic::parse(qemu).unwrap().id(),
            "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"
        );
    }

    #[test]
    fn refuses_what_the_factory_refuses() {
        let err = Schematic::parse("customization:\n  extraKernelArg: [a]\n").unwrap_err();
        assert_eq!(
            err.0,
            "yaml: unmarshal errors:\n  line 2: field extraKernelArg not found in type schematic.Customization"
        );
        assert!(
            Schematic::parse(
                "customization: {systemExtensions: {officialExtensions: [siderolabs/nope]}}"
            )
            .is_err()
        );
        assert!(Schematic::parse("customization: [").is_err());
        assert!(Schematic::parse("customization: {extraKernelArgs: 3}").is_err());
    }

    #[test]
    fn kernel_args_are_marshalled_like_go_yaml() {
        let s = Schematic::parse("customization: {extraKernelArgs: [net.ifnames=0, \"true\"]}")
            .unwrap();
        assert_eq!(
            s.marshal(),
            "customization:\n    extraKernelArgs:\n        - net.ifnames=0\n        - \"true\"\n"
        );
    }
}
