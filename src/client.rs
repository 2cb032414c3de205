//! A small client of a running gateway, for the command line: `models`, `chat`
//! (streamed to the terminal), `usage` (a table from `/admin/usage`) and `compare` (the
//! compare API, side by side). Plain HTTP/1 or HTTPS through the gateway's own client.

use std::io::Write;

use bytes::Bytes;
use http_body_util::BodyExt;
use serde_json::{Value, json};

/// One call: the status and the body.
async fn call(
    method: http::Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, hyper::body::Incoming), String> {
    let mut req = http::Request::builder().method(method).uri(url).header(
        http::header::USER_AGENT,
        concat!("switchboard-cli/", env!("CARGO_PKG_VERSION")),
    );
    if let Some(t) = bearer {
        req = req.header(http::header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let bytes = match body {
        Some(b) => {
            req = req.header(http::header::CONTENT_TYPE, "application/json");
            Bytes::from(b.to_string())
        }
        None => Bytes::new(),
    };
    let req = req
        .body(http_body_util::Full::new(bytes))
        .map_err(|e| format!("{url}: {e}"))?;
    let resp = crate::upstream::client()
        .send(req)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    Ok((resp.status().as_u16(), resp.into_body()))
}

/// A whole JSON answer, or its error message.
async fn json_call(
    method: http::Method,
    url: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> Result<Value, String> {
    let (status, b) = call(method, url, bearer, body).await?;
    let bytes = b
        .collect()
        .await
        .map(|b| b.to_bytes())
        .map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status >= 400 {
        let why = v["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
        return Err(format!("{status}: {why}"));
    }
    Ok(v)
}

/// `switchboard models`: the models the key may use, one per line.
pub async fn models(url: &str, key: Option<&str>) -> Result<(), String> {
    let v = json_call(http::Method::GET, &format!("{url}/v1/models"), key, None).await?;
    for m in v["data"].as_array().into_iter().flatten() {
        let extra = m["description"]
            .as_str()
            .map(|d| format!("  {d}"))
            .unwrap_or_default();
        println!("{}{extra}", m["id"].as_str().unwrap_or_default());
    }
    Ok(())
}

/// `switchboard chat`: the answer streamed to standard output as it arrives.
pub async fn chat(url: &str, key: Option<&str>, model: &str, prompt: &str) -> Result<(), String> {
    let body = json!({ "model": model, "stream": true, "messages": [{ "role": "user", "content": prompt }] });
    let (status, mut b) = call(
        http::Method::POST,
        &format!("{url}/v1/chat/completions"),
        key,
        Some(&body),
    )
    .await?;
    if status >= 400 {
        let bytes = b.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
    }
    let (mut buf, mut out) = (String::new(), std::io::stdout());
    while let Some(frame) = b.frame().await {
        let Ok(data) = frame.map_err(|e| e.to_string())?.into_data() else {
            continue;
        };
        buf.push_str(&String::from_utf8_lossy(&data));
        while let Some(end) = buf.find('\n') {
            let line: String = buf.drain(..=end).collect();
            let Some(chunk) = line.trim().strip_prefix("data:").map(str::trim) else {
                continue;
            };
            let Ok(c) = serde_json::from_str::<Value>(chunk) else {
                continue;
            };
            if let Some(t) = c["choices"][0]["delta"]["content"].as_str() {
                let _ = out.write_all(t.as_bytes());
                let _ = out.flush();
            }
        }
    }
    println!();
    Ok(())
}

/// `switchboard usage`: requests, tokens and spend by the groups asked, as a table.
pub async fn usage(admin: &str, token: Option<&str>, days: u32, group: &str) -> Result<(), String> {
    if !group.chars().all(|c| c.is_ascii_lowercase() || c == ',') {
        return Err(format!(
            "--group '{group}' is not a list such as route,model"
        ));
    }
    let url = format!("{admin}/admin/usage?days={days}&group={group}");
    let v = json_call(http::Method::GET, &url, token, None).await?;
    if v["enabled"] == false {
        return Err("usage records are off on this gateway ([usage])".into());
    }
    let groups: Vec<&str> = v["group"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut header: Vec<String> = groups.iter().map(|g| g.to_string()).collect();
    header.extend(["requests", "errors", "tokens", "spend"].map(String::from));
    let mut rows = vec![header];
    for r in v["rows"].as_array().into_iter().flatten() {
        let mut row: Vec<String> = groups
            .iter()
            .map(|g| r[*g].as_str().unwrap_or("").to_string())
            .collect();
        let tokens =
            r["prompt_tokens"].as_u64().unwrap_or(0) + r["completion_tokens"].as_u64().unwrap_or(0);
        row.push(r["requests"].to_string());
        row.push(r["errors"].to_string());
        row.push(tokens.to_string());
        row.push(format!("{:.4}", r["cost_usd"].as_f64().unwrap_or(0.0)));
        rows.push(row);
    }
    print!("{}", table(&rows));
    Ok(())
}

/// `switchboard compare`: one prompt to several routes, the answers one after another.
pub async fn compare(
    admin: &str,
    token: Option<&str>,
    routes: &[String],
    prompt: &str,
) -> Result<(), String> {
    let body = json!({ "prompt": prompt, "routes": routes });
    let v = json_call(
        http::Method::POST,
        &format!("{admin}/admin/compare"),
        token,
        Some(&body),
    )
    .await?;
    for r in v["results"].as_array().into_iter().flatten() {
        let label = r["label"].as_str().unwrap_or_default();
        println!(
            "== {label}  ({} in {:.0} ms, {} tokens, ${:.6})",
            r["status"],
            r["latency_ms"].as_f64().unwrap_or(0.0),
            r["usage"]["total_tokens"],
            r["cost_usd"].as_f64().unwrap_or(0.0)
        );
        match r["answer"].as_str() {
            Some(a) => println!("{a}\n"),
            None => println!("error: {}\n", r["error"]["message"].as_str().unwrap_or("?")),
        }
    }
    Ok(())
}

/// Rows as columns padded to their widest cell.
fn table(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}
