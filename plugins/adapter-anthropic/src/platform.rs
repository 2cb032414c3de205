//! Where Claude is reached: Anthropic's own API, Google Vertex AI (`rawPredict` /
//! `streamRawPredict` on `/models/{model}`, `anthropic_version: vertex-2023-10-16` in
//! the body instead of the header and no `model`, the host's OAuth token as bearer) or
//! Amazon Bedrock (`/model/{id}/invoke[-with-response-stream]`, `anthropic_version:
//! bedrock-2023-05-31`, neither `model` nor `stream` in the body, SigV4, and a stream of
//! eventstream `chunk`s each carrying one Anthropic event in base64).

use base64::Engine as _;
use serde_json::{Map, Value};
use switchboard_sdk::openai;
use switchboard_sdk::types::{
    AdapterError, AuthScheme, ErrorKind, Header, Sigv4Scope, SseEvent, StreamFormat,
    UpstreamRequest,
};

pub const VERTEX_VERSION: &str = "vertex-2023-10-16";
pub const BEDROCK_VERSION: &str = "bedrock-2023-05-31";

#[derive(Debug, Clone, PartialEq)]
pub enum Platform {
    Anthropic,
    Vertex,
    Bedrock { region: String },
}

impl Platform {
    /// From the settings `platform` and `region`.
    pub fn from_settings(platform: Option<&str>, region: Option<&str>) -> Result<Self, String> {
        match (platform.unwrap_or("anthropic"), region) {
            ("anthropic", _) => Ok(Platform::Anthropic),
            ("vertex", _) => Ok(Platform::Vertex),
            ("bedrock", Some(r)) if !r.is_empty() => Ok(Platform::Bedrock {
                region: r.to_string(),
            }),
            ("bedrock", _) => Err("platform \"bedrock\" needs region (e.g. \"us-east-1\")".into()),
            (other, _) => Err(format!(
                "platform must be \"anthropic\", \"vertex\" or \"bedrock\", not \"{other}\""
            )),
        }
    }

    /// The request for a translated body (which names the model and may ask to stream).
    pub fn request(
        &self,
        model: &str,
        stream: bool,
        body: Vec<u8>,
        version: String,
    ) -> Result<UpstreamRequest, AdapterError> {
        let edit = |f: &dyn Fn(&mut Map<String, Value>)| -> Result<Vec<u8>, AdapterError> {
            let mut b: Map<String, Value> = serde_json::from_slice(&body)
                .map_err(|e| openai::invalid(format!("translated body: {e}"), None))?;
            b.remove("model");
            f(&mut b);
            Ok(serde_json::to_vec(&b).unwrap_or_default())
        };
        Ok(match self {
            Platform::Anthropic => UpstreamRequest {
                headers: vec![Header {
                    name: "anthropic-version".to_string(),
                    value: version,
                }],
                ..openai::translated_post(
                    "/messages",
                    AuthScheme::Header("x-api-key".to_string()),
                    body,
                    StreamFormat::Sse,
                )
            },
            Platform::Vertex => {
                let body = edit(&|b| {
                    b.insert("anthropic_version".into(), VERTEX_VERSION.into());
                })?;
                let verb = if stream {
                    "streamRawPredict"
                } else {
                    "rawPredict"
                };
                openai::translated_post(
                    format!("/models/{model}:{verb}"),
                    AuthScheme::Bearer,
                    body,
                    StreamFormat::Sse,
                )
            }
            Platform::Bedrock { region } => {
                let body = edit(&|b| {
                    b.remove("stream");
                    b.insert("anthropic_version".into(), BEDROCK_VERSION.into());
                })?;
                let verb = if stream {
                    "invoke-with-response-stream"
                } else {
                    "invoke"
                };
                let auth = AuthScheme::AwsSigv4(Sigv4Scope {
                    region: region.clone(),
                    service: "bedrock".to_string(),
                });
                openai::translated_post(
                    format!("/model/{}/{verb}", segment(model)),
                    auth,
                    body,
                    StreamFormat::AwsEventstream,
                )
            }
        })
    }
}

/// A model id or ARN as one path segment.
fn segment(id: &str) -> String {
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A Bedrock stream message as the Anthropic event it carries (others pass as they are);
/// an exception is the stream's error.
pub fn unwrap(ev: SseEvent) -> Result<SseEvent, AdapterError> {
    let name = ev.event.as_deref().unwrap_or("");
    if name.ends_with("Exception") {
        let said: Value = serde_json::from_str(&ev.data).unwrap_or_default();
        let (status, kind) = match name {
            "throttlingException" => (429, ErrorKind::RateLimit),
            "validationException" => (400, ErrorKind::InvalidRequest),
            "modelTimeoutException" => (504, ErrorKind::Timeout),
            "serviceUnavailableException" => (503, ErrorKind::Overloaded),
            _ => (502, ErrorKind::Upstream),
        };
        return Err(AdapterError {
            status,
            kind,
            message: format!(
                "Bedrock {name}: {}",
                said["message"].as_str().unwrap_or(&ev.data)
            ),
            param: None,
        });
    }
    if name != "chunk" {
        return Ok(ev);
    }
    let v: Value = serde_json::from_str(&ev.data).unwrap_or_default();
    let data = v["bytes"]
        .as_str()
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| AdapterError {
            status: 502,
            kind: ErrorKind::Upstream,
            message: "Bedrock stream sent a chunk without base64 bytes".into(),
            param: None,
        })?;
    Ok(SseEvent { event: None, data })
}
