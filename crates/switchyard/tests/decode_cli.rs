//! `switchyard decode`, run as a user runs it: the built binary on every sample body of every
//! decoder (`crates/decode/samples`), its stdout compared with the expected SSE beside the body;
//! cut and malformed bodies print their decoded part and exit 1.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is a failed assertion with a backtrace"
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn samples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../decode/samples")
}

/// Every `(provider, body path)` of the sample folders.
fn samples() -> Vec<(String, PathBuf)> {
    let mut all = Vec::new();
    for provider in std::fs::read_dir(samples_dir()).unwrap() {
        let provider = provider.unwrap().path();
        if !provider.is_dir() {
            continue;
        }
        let name = provider.file_name().unwrap().to_string_lossy().into_owned();
        for file in std::fs::read_dir(&provider).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_some_and(|ext| ext == "body") {
                all.push((name.clone(), path));
            }
        }
    }
    all.sort();
    all
}

fn switchyard(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchyard"));
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.unwrap_or_default()).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `data:` payloads of an SSE text, parsed (`[DONE]` as a string).
fn payloads(sse: &str) -> Vec<serde_json::Value> {
    sse.split("\n\n")
        .filter(|frame| !frame.is_empty())
        .map(|frame| {
            let payload = frame.strip_prefix("data: ").unwrap();
            serde_json::from_str(payload).unwrap_or_else(|_| payload.into())
        })
        .collect()
}

/// The concatenated `delta.<field>` of every chunk.
fn joined(sse: &str, field: &str) -> String {
    payloads(sse)
        .iter()
        .filter_map(|p| p["choices"][0]["delta"][field].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn every_sample_body_prints_its_expected_sse() {
    let samples = samples();
    assert!(samples.len() >= 8, "{samples:?}");
    for (provider, body) in samples {
        let out = switchyard(
            &["decode", "--provider", &provider, body.to_str().unwrap()],
            None,
        );
        let expected = std::fs::read_to_string(body.with_extension("sse")).unwrap();
        assert_eq!(stdout(&out), expected, "{}", body.display());
        assert!(out.status.success(), "{}: {}", body.display(), stderr(&out));
        assert_eq!(stderr(&out), "", "{}", body.display());
    }
}

#[test]
fn include_usage_adds_the_sites_counts_before_done() {
    let body = samples_dir().join("glm/chat.body");
    let body = body.to_str().unwrap();
    let plain = stdout(&switchyard(&["decode", "--provider", "glm", body], None));
    let out = switchyard(
        &["decode", "--provider", "glm", "--include-usage", body],
        None,
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let with = payloads(&stdout(&out));
    let usage = &with[with.len() - 2];
    assert_eq!(usage["choices"], serde_json::json!([]), "{usage}");
    assert_eq!(usage["usage"]["total_tokens"], 12, "{usage}");
    assert_eq!(with.last().unwrap(), "[DONE]");
    assert_eq!(payloads(&plain).len() + 1, with.len());
}

#[test]
fn every_sample_body_prints_its_expected_events() {
    for (provider, body) in samples() {
        let out = switchyard(
            &[
                "decode",
                "--provider",
                &provider,
                "--events",
                body.to_str().unwrap(),
            ],
            None,
        );
        let expected = std::fs::read_to_string(body.with_extension("events")).unwrap();
        assert_eq!(stdout(&out), expected, "{}", body.display());
        assert!(out.status.success(), "{}: {}", body.display(), stderr(&out));
    }
}

#[test]
fn search_results_and_citations_never_reach_the_client() {
    for (provider, body) in samples() {
        let raw = std::fs::read_to_string(&body).unwrap();
        if !raw.contains("https://") {
            continue;
        }
        let out = switchyard(
            &["decode", "--provider", &provider, body.to_str().unwrap()],
            None,
        );
        let sse = stdout(&out);
        assert!(out.status.success());
        for payload in [
            "https://",
            "cite_index",
            "glm_block",
            "citation",
            "Rust Blog",
        ] {
            assert!(
                !sse.contains(payload),
                "{payload} in {}:\n{sse}",
                body.display()
            );
        }
    }
}

#[test]
fn stdin_and_aliases_give_the_same_output_as_the_file() {
    let body = samples_dir().join("glm/thinking.body");
    let bytes = std::fs::read(&body).unwrap();
    let from_file = switchyard(
        &["decode", "--provider", "glm", body.to_str().unwrap()],
        None,
    );
    let from_stdin = switchyard(&["decode", "--provider", "z.ai", "-"], Some(&bytes));
    assert!(from_stdin.status.success(), "{}", stderr(&from_stdin));
    assert_eq!(stdout(&from_stdin), stdout(&from_file));
}

#[test]
fn reasoning_content_and_no_thinking_change_only_the_thinking() {
    let body = samples_dir().join("deepseek/search.body");
    let body = body.to_str().unwrap();
    let inline = stdout(&switchyard(
        &["decode", "--provider", "deepseek", body],
        None,
    ));
    let separate = switchyard(
        &[
            "decode",
            "--provider",
            "deepseek",
            "--reasoning-format",
            "reasoning_content",
            body,
        ],
        None,
    );
    let separate = stdout(&separate);
    let dropped = switchyard(
        &[
            "decode",
            "--provider",
            "deepseek",
            "--no-thinking",
            "--model",
            "deepseek-chat",
            body,
        ],
        None,
    );
    assert!(dropped.status.success(), "{}", stderr(&dropped));
    let dropped = stdout(&dropped);

    let thinking = "The user asks when the 2024 edition shipped. Both results say Rust 1.85.0, \
                    on 20 February 2025.";
    let answer = "The Rust 2024 edition shipped with Rust 1.85.0 on 20 February 2025. Set \
                  `edition = \"2024\"` in `Cargo.toml` to use it.";
    assert_eq!(
        joined(&inline, "content"),
        format!("<think>{thinking}</think>{answer}")
    );
    assert_eq!(joined(&separate, "content"), answer);
    assert_eq!(joined(&separate, "reasoning_content"), thinking);
    assert_eq!(joined(&dropped, "content"), answer);
    assert_eq!(joined(&dropped, "reasoning_content"), "");
    assert!(dropped.contains(r#""model":"deepseek-chat""#), "{dropped}");
    for sse in [&inline, &separate, &dropped] {
        assert!(sse.ends_with("data: [DONE]\n\n"), "{sse}");
    }
}

#[test]
fn a_truncated_body_prints_the_decoded_part_and_exits_1() {
    for (provider, cut_before, decoded, not_yet) in [
        (
            "deepseek",
            r#"{"v":"! How"#,
            "</think>Hello",
            "How can I help",
        ),
        (
            "glm",
            r#"{"phase":"answer","delta_content":" there!"#,
            "</think>Hi",
            "there!",
        ),
    ] {
        let body =
            std::fs::read_to_string(samples_dir().join(provider).join("thinking.body")).unwrap();
        // Cut inside the line, a few bytes into it.
        let cut = body.find(cut_before).unwrap() + 4;
        let out = switchyard(
            &["decode", "--provider", provider, "-"],
            Some(&body.as_bytes()[..cut]),
        );
        assert_eq!(out.status.code(), Some(1), "{provider}: {}", stderr(&out));
        let sse = stdout(&out);
        assert!(
            joined(&sse, "content").ends_with(decoded),
            "{provider}:\n{sse}"
        );
        assert!(!sse.contains(not_yet), "{provider}:\n{sse}");
        assert!(!sse.contains("[DONE]"), "{provider}:\n{sse}");
        assert!(
            !sse.contains("finish_reason\":\"stop"),
            "{provider}:\n{sse}"
        );
        // Every frame printed is a whole chunk.
        assert!(
            payloads(&sse)
                .iter()
                .all(|p| p["object"] == "chat.completion.chunk")
        );
        let err = stderr(&out);
        assert!(
            err.contains("truncated: the body ends inside a line"),
            "{err}"
        );
        assert!(err.contains("end marker"), "{err}");
        assert!(err.contains("without the finish chunk and [DONE]"), "{err}");

        // Cut at a line end: truncated too, without a cut line.
        let at = body.find(cut_before).unwrap();
        let cut = body[..at].rfind('\n').unwrap() + 1;
        let out = switchyard(
            &["decode", "--provider", provider, "-"],
            Some(&body.as_bytes()[..cut]),
        );
        assert_eq!(out.status.code(), Some(1));
        assert!(joined(&stdout(&out), "content").ends_with(decoded));
        assert!(
            stderr(&out).contains("truncated: the body ends without"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn an_ai_studio_body_cut_inside_a_nested_array_prints_what_decoded_and_exits_1() {
    let body =
        std::fs::read_to_string(samples_dir().join("aistudio").join("thinking.body")).unwrap();
    // Cut inside the answer event's part, six arrays deep.
    let cut = body.find("2 + 2 = ").unwrap() + 3;
    let out = switchyard(
        &["decode", "--provider", "aistudio", "-"],
        Some(&body.as_bytes()[..cut]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let sse = stdout(&out);
    assert!(
        joined(&sse, "content").ends_with("Simple arithmetic: 4."),
        "{sse}"
    );
    assert!(!sse.contains("2 + 2 =") && !sse.contains("[DONE]"), "{sse}");
    let err = stderr(&out);
    assert!(err.contains("truncated"), "{err}");
    assert!(err.contains("closing `]` of the outer array"), "{err}");
}

#[test]
fn a_malformed_body_prints_what_decoded_names_the_line_and_exits_1() {
    let body = std::fs::read_to_string(samples_dir().join("glm/thinking.body")).unwrap();
    let broken = body.replacen(
        r#"{"type":"chat:completion","data":{"phase":"answer","delta_content""#,
        r#"{"type":"chat:completion","data":{"phase":"answer","delta_content"::"#,
        1,
    );
    assert_ne!(broken, body);
    let out = switchyard(
        &["decode", "--provider", "glm", "-"],
        Some(broken.as_bytes()),
    );
    assert_eq!(out.status.code(), Some(1));
    let sse = stdout(&out);
    // The rest of the body still decodes; the broken line's words are missing.
    assert_eq!(
        joined(&sse, "content"),
        "<think>The user wants a greeting.</think>Hi"
    );
    assert!(sse.ends_with("data: [DONE]\n\n"), "{sse}");
    let err = stderr(&out);
    assert!(
        err.contains("malformed: line 7 does not hold a JSON object"),
        "{err}"
    );
}

#[test]
fn unknown_kinds_are_listed_on_stderr() {
    let body = std::fs::read_to_string(samples_dir().join("glm/thinking.body")).unwrap();
    let odd = body.replace(r#""phase":"other""#, r#""phase":"metrics""#);
    let out = switchyard(&["decode", "--provider", "glm", "-"], Some(odd.as_bytes()));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        "switchyard decode: skipped `phase:metrics`, which the decoder does not know (once)\n"
    );
}

#[test]
fn bad_providers_and_files_are_refused_with_exit_2() {
    let out = switchyard(&["decode", "--provider", "gpt", "-"], Some(b""));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown provider `gpt`"),
        "{}",
        stderr(&out)
    );
    // Every provider decodes now: an empty AI Studio body is truncated (exit 1), not refused.
    let out = switchyard(&["decode", "--provider", "aistudio", "-"], Some(b""));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = switchyard(&["decode", "--provider", "glm", "/no/such/body.bin"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read /no/such/body.bin"),
        "{}",
        stderr(&out)
    );
}
