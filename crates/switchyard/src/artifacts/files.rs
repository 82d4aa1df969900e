//! Writing capture files and failure bundles, off the lane's task.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::{Value, json};
use tracing::{debug, warn};

use super::redact::{scrub, scrub_text};
use super::{Frame, file_stamp};
use crate::ids::{LaneId, RequestId};

/// The two files of a capture: `<dir>/<provider>/<time>-<request id>.bin` and `.json`.
pub fn capture_paths(
    dir: &Path,
    provider: &str,
    request: &RequestId,
    at: SystemTime,
) -> (PathBuf, PathBuf) {
    let stem = format!("{}-{request}", file_stamp(at));
    let dir = dir.join(provider);
    (
        dir.join(format!("{stem}.bin")),
        dir.join(format!("{stem}.json")),
    )
}

/// Writes a capture file (the raw body and its redacted description) in a task of its own.
pub fn save_capture(bin: PathBuf, json_path: PathBuf, body: Vec<u8>, meta: Value) {
    crate::tasks::spawn("capture-file", async move {
        let write = async {
            if let Some(parent) = bin.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            tokio::fs::write(&bin, &body).await?;
            write_last(&json_path, &pretty(&meta)).await
        };
        match write.await {
            Ok(()) => debug!(file = %bin.display(), "capture file saved"),
            Err(e) => warn!(
                file = %bin.display(), cause = %e,
                "could not save the capture file; check that [capture] dir is writable"
            ),
        }
    });
}

/// Everything a failure bundle holds, gathered by the lane before it moves on.
#[derive(Debug)]
pub struct Bundle {
    /// The page as a PNG, or why there is none.
    pub screenshot: Result<Vec<u8>, String>,
    /// `document.documentElement.outerHTML`, or why there is none.
    pub html: Result<String, String>,
    /// The last raw frames of the site's body.
    pub frames: Vec<Frame>,
    /// The lane's recent log lines.
    pub log: Vec<String>,
    /// What failed: lane, request, error, the redacted request description.
    pub meta: Value,
    /// Credential values to scrub from the free text.
    pub secrets: Vec<String>,
}

/// `<root>/<time>-<lane>` (the lane id with `:` replaced, so the name is safe everywhere).
pub fn bundle_dir(root: &Path, lane: &LaneId, at: SystemTime) -> PathBuf {
    let lane: String = lane
        .0
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    root.join(format!("{}-{lane}", file_stamp(at)))
}

/// Writes a failure bundle in a task of its own, then keeps only the newest `keep` bundles
/// under `root`.
pub fn save_bundle(root: PathBuf, dir: PathBuf, keep: usize, bundle: Bundle) {
    crate::tasks::spawn("failure-bundle", async move {
        match write_bundle(&dir, bundle).await {
            Ok(()) => debug!(dir = %dir.display(), "failure bundle saved"),
            Err(e) => warn!(
                dir = %dir.display(), cause = %e,
                "could not save the failure bundle; check that [failures] dir is writable"
            ),
        }
        if let Err(e) = prune(&root, keep).await {
            warn!(dir = %root.display(), cause = %e, "could not remove old failure bundles");
        }
    });
}

async fn write_bundle(dir: &Path, b: Bundle) -> std::io::Result<()> {
    tokio::fs::create_dir_all(dir).await?;
    let mut meta = b.meta;
    meta["screenshot"] = match &b.screenshot {
        Ok(png) => {
            tokio::fs::write(dir.join("screenshot.png"), png).await?;
            json!("screenshot.png")
        }
        Err(e) => json!(format!("none: {e}")),
    };
    meta["html"] = match &b.html {
        Ok(html) => {
            tokio::fs::write(dir.join("page.html"), scrub_text(html, &b.secrets)).await?;
            json!("page.html")
        }
        Err(e) => json!(format!("none: {e}")),
    };
    let mut raw = Vec::new();
    let mut index = Vec::new();
    for frame in &b.frames {
        let bytes = scrub(&frame.bytes, &b.secrets);
        index.push(json!({
            "at_ms": (frame.at.as_secs_f64() * 1e6).round() / 1e3,
            "offset": raw.len(),
            "bytes": bytes.len(),
            "text": String::from_utf8_lossy(&bytes),
        }));
        raw.extend_from_slice(&bytes);
    }
    tokio::fs::write(dir.join("frames.bin"), &raw).await?;
    tokio::fs::write(dir.join("frames.json"), pretty(&Value::Array(index))).await?;
    let mut log = String::new();
    for line in &b.log {
        log.push_str(&scrub_text(line, &b.secrets));
        log.push('\n');
    }
    tokio::fs::write(dir.join("log.txt"), log).await?;
    write_last(&dir.join("bundle.json"), &pretty(&meta)).await
}

/// Writes the file that completes a set (a capture's `.json`, a bundle's `bundle.json`) under a
/// temporary name and renames it into place, so whoever sees it sees the whole set.
async fn write_last(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    tokio::fs::write(&partial, bytes).await?;
    tokio::fs::rename(&partial, path).await
}

/// Whether a folder name is a bundle's (`20261201T090512.123Z-…`), so pruning never touches
/// anything else a user put there.
fn is_bundle_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 21
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'T'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'.'
        && b[16..19].iter().all(u8::is_ascii_digit)
        && &b[19..21] == b"Z-"
}

/// Removes the oldest bundles under `root` beyond `keep`.
pub async fn prune(root: &Path, keep: usize) -> std::io::Result<()> {
    let mut names = Vec::new();
    let mut entries = tokio::fs::read_dir(root).await?;
    while let Some(entry) = entries.next_entry().await? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_bundle_name(&name) && entry.file_type().await?.is_dir() {
            names.push(name);
        }
    }
    names.sort();
    let excess = names.len().saturating_sub(keep);
    for name in &names[..excess] {
        match tokio::fs::remove_dir_all(root.join(name)).await {
            Ok(()) => {}
            // Another lane's prune got there first.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).unwrap_or_default();
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "switchyard-files-{name}-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn names_follow_the_documented_layout() {
        let at = UNIX_EPOCH + Duration::from_millis(1_796_115_912_123);
        let (bin, json) = capture_paths(
            Path::new("caps"),
            "deepseek",
            &RequestId("ab12cd34".into()),
            at,
        );
        assert_eq!(
            bin,
            Path::new("caps/deepseek/20261201T090512.123Z-ab12cd34.bin")
        );
        assert_eq!(
            json,
            Path::new("caps/deepseek/20261201T090512.123Z-ab12cd34.json")
        );
        let dir = bundle_dir(Path::new("f"), &LaneId("glm_chat:2".into()), at);
        assert_eq!(dir, Path::new("f/20261201T090512.123Z-glm_chat-2"));
        assert!(is_bundle_name("20261201T090512.123Z-glm_chat-2"));
        assert!(!is_bundle_name("notes"));
        assert!(!is_bundle_name("20261201T090512.123Z"));
    }

    #[tokio::test]
    async fn pruning_keeps_the_newest_bundles_and_nothing_else_is_touched() {
        let root = temp("prune");
        for ms in [3u64, 1, 2, 5, 4] {
            let at = UNIX_EPOCH + Duration::from_millis(1_796_115_912_000 + ms);
            std::fs::create_dir_all(bundle_dir(&root, &LaneId("deepseek:1".into()), at)).unwrap();
        }
        std::fs::create_dir_all(root.join("mine")).unwrap();
        prune(&root, 2).await.unwrap();
        let mut left: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "20261201T090512.004Z-deepseek-1",
                "20261201T090512.005Z-deepseek-1",
                "mine"
            ]
        );
        std::fs::remove_dir_all(root).unwrap();
    }

    #[tokio::test]
    async fn a_bundle_scrubs_secrets_and_says_what_is_missing() {
        let root = temp("bundle");
        let dir = root.join("20261201T090512.123Z-deepseek-1");
        let bundle = Bundle {
            screenshot: Err("the page had crashed".into()),
            html: Ok("<html>cookie=supersecret1</html>".into()),
            frames: vec![Frame {
                at: Duration::from_millis(5),
                bytes: b"data: supersecret1\n\n".to_vec(),
            }],
            log: vec!["sent with supersecret1".into()],
            meta: json!({"error": "boom"}),
            secrets: vec!["supersecret1".into()],
        };
        write_bundle(&dir, bundle).await.unwrap();
        let meta: Value =
            serde_json::from_slice(&std::fs::read(dir.join("bundle.json")).unwrap()).unwrap();
        assert_eq!(meta["screenshot"], "none: the page had crashed");
        assert_eq!(meta["html"], "page.html");
        assert!(!dir.join("screenshot.png").exists());
        for file in ["page.html", "frames.bin", "frames.json", "log.txt"] {
            let text = std::fs::read_to_string(dir.join(file)).unwrap();
            assert!(!text.contains("supersecret1"), "{file}: {text}");
            assert!(text.contains("<redacted>"), "{file}: {text}");
        }
        std::fs::remove_dir_all(root).unwrap();
    }
}
