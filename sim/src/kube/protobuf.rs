//! Request bodies in Kubernetes protobuf (`application/vnd.kubernetes.protobuf`), which kubectl
//! sends for built-in kinds and does not retry as JSON. The body is decoded against the vendored
//! `generated.proto` descriptors (`proto/kubernetes`, embedded by `build.rs`) and turned into the
//! JSON a JSON client would have sent for the same Go object, so that everything after this point
//! reads JSON only. Replies stay JSON; a client that accepts nothing but protobuf gets 406.

use std::collections::HashSet;
use std::sync::LazyLock;

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, Kind, MapKey, ReflectMessage as _, Value as Field,
};
use serde_json::{Map, Value};

/// The media type of Kubernetes protobuf.
pub const MEDIA_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Every protobuf body starts with these four bytes, then a `runtime.Unknown`.
const MAGIC: &[u8] = b"k8s\0";

const META: &str = "k8s.io.apimachinery.pkg.apis.meta.v1";
const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";
const TYPE_META: &str = "k8s.io.apimachinery.pkg.runtime.TypeMeta";
/// `time.Unix()` of Go's zero `time.Time`, which `metav1.Time` writes as JSON `null`.
const GO_ZERO_TIME: i64 = -62_135_596_800;

static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(include_bytes!(concat!(env!("OUT_DIR"), "/kubernetes.fds")).as_slice())
        .expect("build.rs embeds a FileDescriptorSet that protox produced")
});

/// Fields whose Go type is a pointer (see `tools/k8s-pointer-fields.py`): only for those is a
/// zero value something the client said rather than Go's generated code writing every field.
static POINTER_FIELDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../../proto/kubernetes/pointer-fields.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect()
});

/// Why a protobuf body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not the `k8s\0` envelope.
    #[error(
        "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]"
    )]
    NoMagic,
    /// The envelope itself is broken.
    #[error("unable to decode the runtime.Unknown envelope: {0}")]
    Envelope(#[source] prost::DecodeError),
    /// A kind the sim has no descriptor for (custom resources are never protobuf).
    #[error(
        "no kind {kind:?} is registered for version {api_version:?} in hk8s-sim's protobuf descriptors"
    )]
    UnknownKind {
        /// `typeMeta.apiVersion`.
        api_version: String,
        /// `typeMeta.kind`.
        kind: String,
    },
    /// The envelope says the object is compressed or not protobuf.
    #[error(
        "the embedded object has content type {content_type:?} and encoding {encoding:?}; hk8s-sim reads only plain protobuf"
    )]
    Embedding {
        /// `Unknown.contentType`.
        content_type: String,
        /// `Unknown.contentEncoding`.
        encoding: String,
    },
    /// The typed object does not decode as its message.
    #[error("{kind} in version {version:?} cannot be handled as a {kind}: {source}")]
    Object {
        /// The kind.
        kind: String,
        /// The version.
        version: String,
        /// What prost-reflect said.
        #[source]
        source: prost::DecodeError,
    },
    /// A value with no JSON form (a non-finite float, embedded JSON that is not JSON).
    #[error("field {field}: {reason}")]
    Value {
        /// The full protobuf name of the field.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

impl Error {
    /// Whether the API server would answer 415 (it cannot read this media type for this kind)
    /// rather than 400 (the body is broken).
    fn unsupported(&self) -> bool {
        matches!(self, Error::UnknownKind { .. } | Error::Embedding { .. })
    }
}

/// The message that carries `kind` of `api_version` (`apps/v1`, `v1`, `rbac.authorization.k8s.io/v1`).
fn message_name(api_version: &str, kind: &str) -> String {
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    // Options sent as bodies (`DeleteOptions` with kubectl delete) are registered in every group.
    if matches!(
        kind,
        "DeleteOptions" | "CreateOptions" | "UpdateOptions" | "PatchOptions"
    ) {
        return format!("{META}.{kind}");
    }
    let package = match group {
        "" => "core",
        other => other.split('.').next().unwrap_or(other),
    };
    format!("k8s.io.api.{package}.{version}.{kind}")
}

/// Decodes a protobuf body into the JSON object a JSON client would have sent.
pub fn to_json(body: &[u8]) -> Result<Value, Error> {
    let envelope = body.strip_prefix(MAGIC).ok_or(Error::NoMagic)?;
    let unknown = DynamicMessage::decode(descriptor(UNKNOWN), envelope).map_err(Error::Envelope)?;
    let text = |msg: &DynamicMessage, name: &str| {
        msg.get_field_by_name(name)
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let type_meta = unknown
        .get_field_by_name("typeMeta")
        .and_then(|v| v.as_message().cloned())
        .unwrap_or_else(|| DynamicMessage::new(descriptor(TYPE_META)));
    let (api_version, kind) = (text(&type_meta, "apiVersion"), text(&type_meta, "kind"));
    let (content_type, encoding) = (
        text(&unknown, "contentType"),
        text(&unknown, "contentEncoding"),
    );
    if !(content_type.is_empty() || content_type == MEDIA_TYPE) || !encoding.is_empty() {
        return Err(Error::Embedding {
            content_type,
            encoding,
        });
    }
    let Some(message) = POOL.get_message_by_name(&message_name(&api_version, &kind)) else {
        return Err(Error::UnknownKind { api_version, kind });
    };
    let raw = unknown
        .get_field_by_name("raw")
        .and_then(|v| v.as_bytes().cloned())
        .unwrap_or_default();
    let object = DynamicMessage::decode(message, raw).map_err(|source| Error::Object {
        kind: kind.clone(),
        version: api_version
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string(),
        source,
    })?;
    let mut json = message_json(&object)?;
    if let Value::Object(map) = &mut json {
        // Go's JSON puts the inlined TypeMeta first; serde_json keeps keys sorted anyway.
        map.insert("apiVersion".into(), Value::String(api_version));
        map.insert("kind".into(), Value::String(kind));
    }
    Ok(json)
}

fn descriptor(name: &str) -> prost_reflect::MessageDescriptor {
    POOL.get_message_by_name(name)
        .unwrap_or_else(|| panic!("{name} is in the vendored apimachinery protos"))
}

/// One message as JSON: the well-known apimachinery types as their JSON forms, any other
/// message as an object of its fields.
fn message_json(msg: &DynamicMessage) -> Result<Value, Error> {
    let name = msg.descriptor().full_name().to_string();
    let int = |field: &str| msg.get_field_by_name(field).and_then(|v| v.as_i64());
    Ok(match name.as_str() {
        "k8s.io.apimachinery.pkg.apis.meta.v1.Time" => time_json(msg, false),
        "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime" => time_json(msg, true),
        "k8s.io.apimachinery.pkg.apis.meta.v1.Duration" => {
            Value::String(go_duration(int("duration").unwrap_or_default()))
        }
        "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1" => embedded(msg, "Raw")?,
        "k8s.io.apimachinery.pkg.runtime.RawExtension" => embedded(msg, "raw")?,
        "k8s.io.apimachinery.pkg.api.resource.Quantity" => Value::String(
            msg.get_field_by_name("string")
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        ),
        "k8s.io.apimachinery.pkg.util.intstr.IntOrString" => {
            if int("type") == Some(1) {
                Value::String(
                    msg.get_field_by_name("strVal")
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default(),
                )
            } else {
                Value::from(
                    msg.get_field_by_name("intVal")
                        .and_then(|v| v.as_i32())
                        .unwrap_or_default(),
                )
            }
        }
        _ => {
            let mut out = Map::new();
            for (field, value) in msg.fields() {
                if omitted(&field, value) {
                    continue;
                }
                out.insert(field.name().to_string(), field_json(&field, value)?);
            }
            Value::Object(out)
        }
    })
}

/// Whether a JSON client would not have sent this field: empty lists and maps, and zero scalars
/// of non-pointer Go fields (Go's protobuf code writes those even when unset).
fn omitted(field: &prost_reflect::FieldDescriptor, value: &Field) -> bool {
    match value {
        Field::List(items) => items.is_empty(),
        Field::Map(entries) => entries.is_empty(),
        Field::Message(_) => false,
        scalar => !POINTER_FIELDS.contains(field.full_name()) && is_zero(scalar),
    }
}

fn is_zero(value: &Field) -> bool {
    match value {
        Field::Bool(b) => !b,
        Field::I32(n) | Field::EnumNumber(n) => *n == 0,
        Field::I64(n) => *n == 0,
        Field::U32(n) => *n == 0,
        Field::U64(n) => *n == 0,
        Field::F32(n) => *n == 0.0,
        Field::F64(n) => *n == 0.0,
        Field::String(s) => s.is_empty(),
        Field::Bytes(b) => b.is_empty(),
        Field::Message(_) | Field::List(_) | Field::Map(_) => false,
    }
}

fn field_json(field: &prost_reflect::FieldDescriptor, value: &Field) -> Result<Value, Error> {
    let float = |f: f64| {
        serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| Error::Value {
                field: field.full_name().to_string(),
                reason: format!("{f} has no JSON form"),
            })
    };
    Ok(match value {
        Field::Bool(b) => Value::Bool(*b),
        Field::I32(n) | Field::EnumNumber(n) => Value::from(*n),
        Field::I64(n) => Value::from(*n),
        Field::U32(n) => Value::from(*n),
        Field::U64(n) => Value::from(*n),
        Field::F32(n) => float(f64::from(*n))?,
        Field::F64(n) => float(*n)?,
        Field::String(s) => Value::String(s.clone()),
        // Go's encoding/json writes []byte as standard base64 (Secret.data).
        Field::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Field::Message(m) => message_json(m)?,
        Field::List(items) => Value::Array(
            items
                .iter()
                .map(|item| field_json(field, item))
                .collect::<Result<_, _>>()?,
        ),
        Field::Map(entries) => {
            let value_field = match field.kind() {
                Kind::Message(entry) => entry.map_entry_value_field(),
                _ => {
                    return Err(Error::Value {
                        field: field.full_name().to_string(),
                        reason: "a map whose field is not a map entry".into(),
                    });
                }
            };
            let mut out = Map::new();
            for (key, value) in entries {
                out.insert(map_key(key), field_json(&value_field, value)?);
            }
            Value::Object(out)
        }
    })
}

fn map_key(key: &MapKey) -> String {
    match key {
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(n) => n.to_string(),
        MapKey::I64(n) => n.to_string(),
        MapKey::U32(n) => n.to_string(),
        MapKey::U64(n) => n.to_string(),
        MapKey::String(s) => s.clone(),
    }
}

/// `metav1.Time` (whole seconds, as its JSON has only seconds) or `MicroTime` (microseconds),
/// RFC 3339 in UTC; an empty message is Go's zero time, `null` in JSON.
fn time_json(msg: &DynamicMessage, micro: bool) -> Value {
    let field = |name: &str| msg.get_field_by_name(name);
    let seconds = field("seconds")
        .and_then(|v| v.as_i64())
        .unwrap_or_default();
    let nanos = field("nanos").and_then(|v| v.as_i32()).unwrap_or_default();
    if msg.fields().next().is_none() || (seconds == GO_ZERO_TIME && nanos == 0) {
        return Value::Null;
    }
    let nanos = if micro { nanos / 1000 * 1000 } else { 0 };
    let Some(at) = time::OffsetDateTime::from_unix_timestamp(seconds)
        .ok()
        .and_then(|t| t.replace_nanosecond(u32::try_from(nanos).unwrap_or(0)).ok())
    else {
        return Value::Null;
    };
    let text = if micro {
        at.format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
        ))
    } else {
        at.format(time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
    };
    text.map(Value::String).unwrap_or(Value::Null)
}

/// JSON embedded as bytes (`FieldsV1`, `RawExtension`); an empty one is absent (`null`).
fn embedded(msg: &DynamicMessage, field: &str) -> Result<Value, Error> {
    let raw = msg
        .get_field_by_name(field)
        .and_then(|v| v.as_bytes().cloned())
        .unwrap_or_default();
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    if raw.starts_with(MAGIC) {
        return to_json(&raw);
    }
    serde_json::from_slice(&raw).map_err(|e| Error::Value {
        field: format!("{}.{field}", msg.descriptor().full_name()),
        reason: format!("embedded object is neither JSON nor protobuf: {e}"),
    })
}

/// Go's `time.Duration.String()`: `1h2m3.5s`, `1.5ms`, `0s`.
pub fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    let fraction = |value: u64, unit: u64, digits: usize| {
        let whole = value / unit;
        let rest = value % unit;
        if rest == 0 {
            whole.to_string()
        } else {
            let text = format!("{whole}.{rest:0digits$}");
            text.trim_end_matches('0').to_string()
        }
    };
    if n < 1_000 {
        return format!("{sign}{n}ns");
    }
    if n < 1_000_000 {
        return format!("{sign}{}µs", fraction(n, 1_000, 3));
    }
    if n < 1_000_000_000 {
        return format!("{sign}{}ms", fraction(n, 1_000_000, 6));
    }
    let seconds = n / 1_000_000_000;
    let rest = n % 1_000_000_000;
    let (hours, minutes, secs) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let secs = fraction(secs * 1_000_000_000 + rest, 1_000_000_000, 9);
    match (hours, minutes) {
        (0, 0) => format!("{sign}{secs}s"),
        (0, m) => format!("{sign}{m}m{secs}s"),
        (h, m) => format!("{sign}{h}h{m}m{secs}s"),
    }
}

/// Whether a `Content-Type` is Kubernetes protobuf.
fn is_protobuf(media_type: &str) -> bool {
    media_type
        .split(';')
        .next()
        .is_some_and(|t| t.trim().eq_ignore_ascii_case(MEDIA_TYPE))
}

/// A request whose reply the sim cannot write: every type it accepts is protobuf (the sim
/// writes JSON only). Answered as the API server answers an Accept it cannot satisfy.
pub fn not_acceptable(headers: &HeaderMap) -> Option<Response> {
    let accept = headers.get("accept").and_then(|v| v.to_str().ok())?;
    let mut types = accept.split(',').map(str::trim).filter(|t| !t.is_empty());
    let only_protobuf = types.clone().next().is_some() && types.all(is_protobuf);
    only_protobuf.then(|| {
        super::status(
            StatusCode::NOT_ACCEPTABLE,
            "NotAcceptable",
            "only the following media types are accepted: application/json (hk8s-sim does not write application/vnd.kubernetes.protobuf)",
        )
    })
}

/// A protobuf request body as the JSON body (and `Content-Type`) the rest of the API reads;
/// other bodies pass unchanged. The error is the API server's reply to an unreadable body.
pub fn read_body(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Option<(HeaderMap, Bytes)>, Box<Response>> {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !is_protobuf(content_type) || body.is_empty() {
        return Ok(None);
    }
    match to_json(body) {
        Ok(json) => {
            let mut headers = headers.clone();
            headers.insert("content-type", HeaderValue::from_static("application/json"));
            Ok(Some((headers, Bytes::from(json.to_string()))))
        }
        Err(e) if e.unsupported() => Err(Box::new(super::status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, {MEDIA_TYPE} (hk8s-sim: {e})"
            ),
        ))),
        Err(e) => Err(Box::new(super::status(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &e.to_string(),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;
    use serde_json::json;

    use super::*;

    /// A message of `name` with `fields` set, as Go's generated code would fill it.
    fn message(name: &str, fields: Vec<(&str, Field)>) -> DynamicMessage {
        let mut msg = DynamicMessage::new(descriptor(name));
        for (field, value) in fields {
            assert!(
                msg.descriptor().get_field_by_name(field).is_some(),
                "{name} has no field {field}"
            );
            msg.set_field_by_name(field, value);
        }
        msg
    }

    fn string(s: &str) -> Field {
        Field::String(s.into())
    }

    fn nested(name: &str, fields: Vec<(&str, Field)>) -> Field {
        Field::Message(message(name, fields))
    }

    /// The body kubectl sends: magic, then `runtime.Unknown` around the encoded object.
    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let unknown = message(
            UNKNOWN,
            vec![
                (
                    "typeMeta",
                    nested(
                        TYPE_META,
                        vec![("apiVersion", string(api_version)), ("kind", string(kind))],
                    ),
                ),
                ("raw", Field::Bytes(raw.into())),
                // Go writes these non-pointer strings even when empty.
                ("contentEncoding", string("")),
                ("contentType", string("")),
            ],
        );
        let mut out = MAGIC.to_vec();
        out.extend(unknown.encode_to_vec());
        out
    }

    /// `ObjectMeta` as Go writes it for a client that set only `name` (and `labels`): every
    /// non-pointer field is on the wire, zero or not; `creationTimestamp` is an empty `Time`.
    fn object_meta(name: &str, labels: &[(&str, &str)]) -> Field {
        let labels = labels
            .iter()
            .map(|(k, v)| (MapKey::String((*k).into()), string(v)))
            .collect();
        nested(
            &format!("{META}.ObjectMeta"),
            vec![
                ("name", string(name)),
                ("generateName", string("")),
                ("namespace", string("")),
                ("selfLink", string("")),
                ("uid", string("")),
                ("resourceVersion", string("")),
                ("generation", Field::I64(0)),
                ("creationTimestamp", nested(&format!("{META}.Time"), vec![])),
                ("labels", Field::Map(labels)),
            ],
        )
    }

    fn decode(api_version: &str, kind: &str, object: DynamicMessage) -> Value {
        to_json(&envelope(api_version, kind, object.encode_to_vec())).expect("decodes")
    }

    #[test]
    fn a_namespace_reads_as_kubectls_json() {
        let ns = message(
            "k8s.io.api.core.v1.Namespace",
            vec![
                ("metadata", object_meta("team-a", &[])),
                ("spec", nested("k8s.io.api.core.v1.NamespaceSpec", vec![])),
                (
                    "status",
                    nested(
                        "k8s.io.api.core.v1.NamespaceStatus",
                        vec![("phase", string(""))],
                    ),
                ),
            ],
        );
        assert_eq!(
            decode("v1", "Namespace", ns),
            json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": "team-a", "creationTimestamp": null},
                "spec": {}, "status": {}})
        );
    }

    #[test]
    fn secret_bytes_are_base64_and_maps_are_objects() {
        let data = [(
            MapKey::String("password".into()),
            Field::Bytes(b"s3cr\xffet".to_vec().into()),
        )];
        let secret = message(
            "k8s.io.api.core.v1.Secret",
            vec![
                ("metadata", object_meta("db", &[("app", "db")])),
                ("data", Field::Map(data.into_iter().collect())),
                ("type", string("Opaque")),
                ("immutable", Field::Bool(false)),
            ],
        );
        assert_eq!(
            decode("v1", "Secret", secret),
            json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": "db", "creationTimestamp": null, "labels": {"app": "db"}},
                "data": {"password": "czNjcv9ldA=="}, "type": "Opaque", "immutable": false})
        );
    }

    #[test]
    fn a_deployment_keeps_pointer_zeros_int_or_string_and_quantities() {
        let container = message(
            "k8s.io.api.core.v1.Container",
            vec![
                ("name", string("nginx")),
                ("image", string("nginx:1.27")),
                ("workingDir", string("")),
                ("stdin", Field::Bool(false)),
                (
                    "ports",
                    Field::List(vec![nested(
                        "k8s.io.api.core.v1.ContainerPort",
                        vec![
                            ("containerPort", Field::I32(80)),
                            ("hostPort", Field::I32(0)),
                            ("protocol", string("TCP")),
                        ],
                    )]),
                ),
                ("env", Field::List(vec![])),
                (
                    "resources",
                    nested(
                        "k8s.io.api.core.v1.ResourceRequirements",
                        vec![(
                            "limits",
                            Field::Map(
                                [(
                                    MapKey::String("cpu".into()),
                                    nested(
                                        "k8s.io.apimachinery.pkg.api.resource.Quantity",
                                        vec![("string", string("500m"))],
                                    ),
                                )]
                                .into_iter()
                                .collect(),
                            ),
                        )],
                    ),
                ),
            ],
        );
        let int_or_string = |kind: i64, int: i32, text: &str| {
            nested(
                "k8s.io.apimachinery.pkg.util.intstr.IntOrString",
                vec![
                    ("type", Field::I64(kind)),
                    ("intVal", Field::I32(int)),
                    ("strVal", string(text)),
                ],
            )
        };
        let deployment = message(
            "k8s.io.api.apps.v1.Deployment",
            vec![
                ("metadata", object_meta("web", &[("app", "web")])),
                (
                    "spec",
                    nested(
                        "k8s.io.api.apps.v1.DeploymentSpec",
                        vec![
                            // A pointer set to zero is what the user asked for: scaled to none.
                            ("replicas", Field::I32(0)),
                            ("minReadySeconds", Field::I32(0)),
                            ("paused", Field::Bool(false)),
                            (
                                "strategy",
                                nested(
                                    "k8s.io.api.apps.v1.DeploymentStrategy",
                                    vec![
                                        ("type", string("RollingUpdate")),
                                        (
                                            "rollingUpdate",
                                            nested(
                                                "k8s.io.api.apps.v1.RollingUpdateDeployment",
                                                vec![
                                                    ("maxUnavailable", int_or_string(0, 1, "")),
                                                    ("maxSurge", int_or_string(1, 0, "25%")),
                                                ],
                                            ),
                                        ),
                                    ],
                                ),
                            ),
                            (
                                "template",
                                nested(
                                    "k8s.io.api.core.v1.PodTemplateSpec",
                                    vec![(
                                        "spec",
                                        nested(
                                            "k8s.io.api.core.v1.PodSpec",
                                            vec![
                                                (
                                                    "containers",
                                                    Field::List(vec![Field::Message(container)]),
                                                ),
                                                ("hostNetwork", Field::Bool(false)),
                                            ],
                                        ),
                                    )],
                                ),
                            ),
                        ],
                    ),
                ),
            ],
        );
        assert_eq!(
            decode("apps/v1", "Deployment", deployment),
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "creationTimestamp": null, "labels": {"app": "web"}},
                "spec": {"replicas": 0,
                    "strategy": {"type": "RollingUpdate",
                        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": "25%"}},
                    "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.27",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {"limits": {"cpu": "500m"}}}]}}}})
        );
    }

    #[test]
    fn times_durations_and_managed_fields_take_their_json_forms() {
        let time = |name: &str, seconds: i64, nanos: i32| {
            nested(
                &format!("{META}.{name}"),
                vec![
                    ("seconds", Field::I64(seconds)),
                    ("nanos", Field::I32(nanos)),
                ],
            )
        };
        let entry = message(
            &format!("{META}.ManagedFieldsEntry"),
            vec![
                ("manager", string("kubectl")),
                ("operation", string("Update")),
                ("time", time("Time", 1_780_000_000, 0)),
                (
                    "fieldsV1",
                    nested(
                        &format!("{META}.FieldsV1"),
                        vec![(
                            "Raw",
                            Field::Bytes(br#"{"f:data":{".":{}}}"#.to_vec().into()),
                        )],
                    ),
                ),
            ],
        );
        let mut meta = object_meta("cm", &[]);
        if let Field::Message(m) = &mut meta {
            m.set_field_by_name("managedFields", Field::List(vec![Field::Message(entry)]));
            // `metav1.Time` keeps whole seconds only, as its JSON does.
            m.set_field_by_name("deletionTimestamp", time("Time", 1_780_000_000, 500));
        }
        let event = message(
            "k8s.io.api.core.v1.Event",
            vec![
                ("metadata", meta),
                ("eventTime", time("MicroTime", 1_780_000_000, 123_456_789)),
            ],
        );
        let json = decode("v1", "Event", event);
        assert_eq!(json["eventTime"], "2026-05-28T20:26:40.123456Z");
        assert_eq!(
            json["metadata"]["deletionTimestamp"],
            "2026-05-28T20:26:40Z"
        );
        assert_eq!(
            json["metadata"]["managedFields"],
            json!([{"manager": "kubectl", "operation": "Update", "time": "2026-05-28T20:26:40Z",
                "fieldsV1": {"f:data": {".": {}}}}])
        );
        let job = message(
            "k8s.io.api.batch.v1.JobSpec",
            vec![("activeDeadlineSeconds", Field::I64(0))],
        );
        assert_eq!(
            message_json(&job).expect("json"),
            json!({"activeDeadlineSeconds": 0})
        );
    }

    #[test]
    fn durations_print_as_go_does() {
        let s = 1_000_000_000;
        for (nanos, text) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (1_500_000, "1.5ms"),
            (90 * s, "1m30s"),
            (3600 * s, "1h0m0s"),
            (3723 * s + s / 2, "1h2m3.5s"),
            (-5 * s, "-5s"),
        ] {
            assert_eq!(go_duration(nanos), text, "{nanos}ns");
        }
    }

    #[test]
    fn role_bindings_and_delete_options_map_to_their_groups() {
        assert_eq!(
            message_name("rbac.authorization.k8s.io/v1", "RoleBinding"),
            "k8s.io.api.rbac.v1.RoleBinding"
        );
        assert_eq!(
            message_name("v1", "ConfigMap"),
            "k8s.io.api.core.v1.ConfigMap"
        );
        assert_eq!(
            message_name("apps/v1", "DeleteOptions"),
            format!("{META}.DeleteOptions")
        );
        for (api_version, kind) in [
            ("rbac.authorization.k8s.io/v1", "RoleBinding"),
            ("networking.k8s.io/v1", "Ingress"),
            ("autoscaling/v2", "HorizontalPodAutoscaler"),
            ("policy/v1", "Eviction"),
            ("batch/v1", "CronJob"),
            ("storage.k8s.io/v1", "StorageClass"),
            ("discovery.k8s.io/v1", "EndpointSlice"),
            ("coordination.k8s.io/v1", "Lease"),
            ("scheduling.k8s.io/v1", "PriorityClass"),
            ("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
            ("authentication.k8s.io/v1", "TokenRequest"),
            ("certificates.k8s.io/v1", "CertificateSigningRequest"),
        ] {
            assert!(
                POOL.get_message_by_name(&message_name(api_version, kind))
                    .is_some(),
                "{api_version} {kind}"
            );
        }
    }

    #[test]
    fn unreadable_bodies_are_refused_in_the_api_servers_words() {
        let headers: HeaderMap = [("content-type", HeaderValue::from_static(MEDIA_TYPE))]
            .into_iter()
            .map(|(k, v)| (axum::http::HeaderName::from_static(k), v))
            .collect();
        let refusal = |body: Vec<u8>| {
            read_body(&headers, &Bytes::from(body))
                .err()
                .map(|r| r.status())
        };
        assert!(matches!(to_json(b"{\"kind\":\"x\"}"), Err(Error::NoMagic)));
        assert_eq!(refusal(b"{}".to_vec()), Some(StatusCode::BAD_REQUEST));
        // Custom resources have no protobuf form; the API server answers them 415.
        assert_eq!(
            refusal(envelope("example.com/v1", "Widget", vec![])),
            Some(StatusCode::UNSUPPORTED_MEDIA_TYPE)
        );
        // Field 1 (metadata) announced as 100 bytes long with 1 present.
        assert_eq!(
            refusal(envelope("v1", "ConfigMap", vec![0x0a, 100, 0])),
            Some(StatusCode::BAD_REQUEST)
        );
        let (headers, body) =
            read_body(&headers, &Bytes::from(envelope("v1", "ConfigMap", vec![])))
                .expect("readable")
                .expect("converted");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(
            serde_json::from_slice::<Value>(&body).expect("json"),
            json!({"apiVersion": "v1", "kind": "ConfigMap"})
        );
    }

    #[test]
    fn only_a_protobuf_only_accept_is_refused() {
        let accept = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert("accept", HeaderValue::from_static(value));
            not_acceptable(&headers).map(|r| r.status())
        };
        assert_eq!(
            accept("application/vnd.kubernetes.protobuf"),
            Some(StatusCode::NOT_ACCEPTABLE)
        );
        assert_eq!(
            accept("application/vnd.kubernetes.protobuf;stream=watch"),
            Some(StatusCode::NOT_ACCEPTABLE)
        );
        assert_eq!(accept("application/vnd.kubernetes.protobuf, */*"), None);
        assert_eq!(
            accept("application/vnd.kubernetes.protobuf,application/json"),
            None
        );
        assert_eq!(accept("application/json"), None);
        assert_eq!(not_acceptable(&HeaderMap::new()).map(|r| r.status()), None);
    }
}
