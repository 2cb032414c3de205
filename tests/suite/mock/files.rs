//! OpenAI's files and batches for the mock, kept per provider in the mock's state: an
//! upload (multipart) becomes `file-<provider>-<n>` with its bytes; a batch made from
//! a file completes at once with an output file; ids another provider made are 404.

use serde_json::{Value, json};

use super::{MockBody, State, json_resp};

fn not_found(id: &str) -> http::Response<MockBody> {
    let e = json!({ "error": { "message": format!("No such object: {id}"), "type": "invalid_request_error" } });
    json_resp(404, e.to_string())
}

fn file_object(id: &str, bytes: usize) -> Value {
    json!({ "id": id, "object": "file", "bytes": bytes, "purpose": "batch", "filename": "in.jsonl" })
}

/// The `file` part of a multipart upload.
fn uploaded(body: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    text.split("name=\"file\"")
        .nth(1)
        .and_then(|rest| rest.split_once("\r\n\r\n"))
        .and_then(|(_, rest)| rest.split("\r\n--").next())
        .unwrap_or("")
        .as_bytes()
        .to_vec()
}

pub(super) fn upload(state: &State, provider: &str, body: &[u8]) -> http::Response<MockBody> {
    let content = uploaded(body);
    let mut files = state.files.lock();
    let id = format!("file-{provider}-{}", files.len());
    let object = file_object(&id, content.len());
    files.insert(id, content);
    json_resp(200, object.to_string())
}

/// Everything else under `/v1/files` and `/v1/batches` (`rest` after `/v1/`).
pub(super) fn other(
    state: &State,
    provider: &str,
    method: &http::Method,
    rest: &str,
    req: &Value,
) -> http::Response<MockBody> {
    let parts: Vec<&str> = rest.split('/').collect();
    let mine = |id: &str| id.contains(&format!("-{provider}-"));
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["files", id]) | ("DELETE", ["files", id]) => {
            let mut files = state.files.lock();
            let Some(len) = files.get(*id).filter(|_| mine(id)).map(Vec::len) else {
                return not_found(id);
            };
            if method == http::Method::DELETE {
                files.remove(*id);
                return json_resp(
                    200,
                    json!({ "id": id, "object": "file", "deleted": true }).to_string(),
                );
            }
            json_resp(200, file_object(id, len).to_string())
        }
        ("GET", ["files", id, "content"]) => match state.files.lock().get(*id).filter(|_| mine(id))
        {
            Some(bytes) => {
                let mut r = http::Response::new(super::full_body(bytes.clone()));
                r.headers_mut()
                    .insert("content-type", "application/octet-stream".parse().unwrap());
                r
            }
            None => not_found(id),
        },
        ("POST", ["batches"]) => {
            let input = req["input_file_id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if !mine(&input) || !state.files.lock().contains_key(&input) {
                return not_found(&input);
            }
            let out = format!("{input}-out");
            let n = state.files.lock().len();
            state
                .files
                .lock()
                .insert(out.clone(), b"{\"ok\":true}\n".to_vec());
            let id = format!("batch-{provider}-{n}");
            state.batches.lock().insert(id.clone(), (input, out));
            batch(state, &id)
        }
        ("GET", ["batches", id]) | ("POST", ["batches", id, "cancel"]) if mine(id) => {
            batch(state, id)
        }
        _ => not_found(rest),
    }
}

fn batch(state: &State, id: &str) -> http::Response<MockBody> {
    let Some((input, out)) = state.batches.lock().get(id).cloned() else {
        return not_found(id);
    };
    let b = json!({ "id": id, "object": "batch", "endpoint": "/v1/chat/completions",
        "input_file_id": input, "status": "completed", "output_file_id": out, "error_file_id": null });
    json_resp(200, b.to_string())
}
