//! `switchyard status`: the lanes and the queue of a running gateway as tables in the terminal,
//! read from the same `GET /api/lanes` and `GET /api/queue` every other tool uses.
//!
//! Fetching ([`fetch`]) and drawing ([`render`]) are apart, so the tables are tested from plain
//! JSON and the command against a running gateway.

use std::time::Duration;

use serde_json::Value;

/// How long each of the two requests may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The environment variable `switchyard status` takes the API key from when `--key` is absent.
pub const KEY_ENV: &str = "SWITCHYARD_API_KEY";

/// What `/api/lanes` and `/api/queue` answered.
pub struct Status {
    pub lanes: Value,
    pub queue: Value,
}

/// Reads both endpoints of the gateway at `base` (`http://127.0.0.1:7777`), with `key` as the
/// bearer token if given. Errors say what to do.
pub async fn fetch(base: &str, key: Option<&str>) -> Result<Status, String> {
    let base = base.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let get = |path: &'static str| {
        let mut req = client.get(format!("{base}{path}"));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        async move {
            let resp = req.send().await.map_err(|e| {
                format!(
                    "cannot reach the gateway at {base} ({}). Is it running? Name another \
                     address with --url.",
                    plain(&e)
                )
            })?;
            let status = resp.status();
            let body: Value = resp.json().await.map_err(|e| {
                format!("{base}{path} answered {status} with something that is not JSON ({e}); is that a switchyard gateway?")
            })?;
            if !status.is_success() {
                let message = body["error"]["message"].as_str().unwrap_or("no message");
                let hint = match status.as_u16() {
                    401 => format!(
                        " Give an API key with --key or the {KEY_ENV} environment variable."
                    ),
                    403 => " This key may not use /api/* (auth.admin_routes = \"admin_keys\" \
                            asks for an admin key)."
                        .to_owned(),
                    _ => String::new(),
                };
                return Err(format!("{base}{path} answered {status}: {message}.{hint}"));
            }
            Ok(body)
        }
    };
    let lanes = get("/api/lanes").await?;
    let queue = get("/api/queue").await?;
    Ok(Status { lanes, queue })
}

/// The error and its causes on one line (reqwest's own text stops at "error sending request").
fn plain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The two tables, and a line each for an empty queue; `now` (Unix seconds) ages the requests.
pub fn render(status: &Status, now: u64) -> String {
    let text = |v: &Value| match v {
        Value::Null => "-".to_owned(),
        Value::String(s) if s.is_empty() => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let mut out = String::new();
    let lanes = status.lanes["lanes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    out.push_str(&format!("Lanes ({})\n", lanes.len()));
    let rows: Vec<Vec<String>> = lanes
        .iter()
        .map(|l| {
            // The reason of a recovering, offline, failed or stopping lane, else its last error.
            let note = match &l["reason"] {
                Value::Null => text(&l["last_error"]),
                reason => text(reason),
            };
            vec![
                text(&l["id"]),
                text(&l["provider"]),
                text(&l["state"]),
                text(&l["current_request"]),
                text(&l["requests_served"]),
                text(&l["restarts"]),
                note,
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            "LANE", "PROVIDER", "STATE", "REQUEST", "SERVED", "RESTARTS", "NOTE",
        ],
        &rows,
    );
    for (title, key) in [("Running", "running"), ("Pending", "pending")] {
        let list = status.queue[key].as_array().cloned().unwrap_or_default();
        out.push_str(&format!("\n{title} ({})\n", list.len()));
        if list.is_empty() {
            continue;
        }
        let rows: Vec<Vec<String>> = list
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let age = r["queued_at"]
                    .as_u64()
                    .map_or("-".to_owned(), |t| format!("{}s", now.saturating_sub(t)));
                vec![
                    (i + 1).to_string(),
                    text(&r["id"]),
                    text(&r["provider"]),
                    text(&r["lane"]),
                    text(&r["model"]),
                    if r["stream"] == Value::Bool(true) {
                        "yes".to_owned()
                    } else {
                        "no".to_owned()
                    },
                    text(&r["key_name"]),
                    age,
                ]
            })
            .collect();
        table(
            &mut out,
            &[
                "#", "REQUEST", "PROVIDER", "LANE", "MODEL", "STREAM", "KEY", "AGE",
            ],
            &rows,
        );
    }
    out
}

/// Appends a table with columns padded to their widest cell; the last column is not padded.
fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            if i + 1 < widths.len() {
                let pad = widths[i].saturating_sub(cell.chars().count());
                text.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut head.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_are_aligned_and_empty_queues_say_so() {
        let status = Status {
            lanes: json!({"lanes": [
                {"id": "deepseek-1", "provider": "deepseek", "state": "busy",
                 "current_request": "r-1", "requests_served": 12, "restarts": 0,
                 "last_error": null},
                {"id": "glm-1", "provider": "glm", "state": "offline",
                 "reason": "benched by its breaker", "current_request": null,
                 "requests_served": 3, "restarts": 2, "last_error": "boom"},
            ]}),
            queue: json!({"running": [
                {"id": "r-1", "provider": "deepseek", "lane": "deepseek-1",
                 "model": "deepseek-auto", "stream": true, "kind": "chat",
                 "queued_at": 100, "key_name": null},
            ], "pending": []}),
        };
        let text = render(&status, 107);
        let expect = "\
Lanes (2)
LANE        PROVIDER  STATE    REQUEST  SERVED  RESTARTS  NOTE
deepseek-1  deepseek  busy     r-1      12      0         -
glm-1       glm       offline  -        3       2         benched by its breaker

Running (1)
#  REQUEST  PROVIDER  LANE        MODEL          STREAM  KEY  AGE
1  r-1      deepseek  deepseek-1  deepseek-auto  yes     -    7s

Pending (0)
";
        assert_eq!(text, expect, "\n{text}");
    }
}
