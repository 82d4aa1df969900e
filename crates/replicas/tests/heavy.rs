//! Heavy pages: the script tag on every HTML page while the knob is on, and the script itself.

#![allow(clippy::unwrap_used, reason = "a failed request fails the test")]

use switchyard_replicas::{Knobs, ReplicaServer, Site};

async fn get(server: &ReplicaServer, path: &str) -> (String, String) {
    let resp = reqwest::get(format!("{}{path}", server.base_url()))
        .await
        .unwrap();
    let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
    (kind, resp.text().await.unwrap())
}

#[tokio::test]
async fn heavy_pages_load_megabytes_of_script_only_while_the_knob_is_on() {
    let server = ReplicaServer::start(Site::DeepSeek, Knobs::instant())
        .await
        .unwrap();
    let tag = "<script src=\"/__replica/heavy.js\"></script>";
    let (_, light) = get(&server, "/").await;
    assert!(!light.contains(tag));

    server.set_heavy(true);
    let (kind, heavy) = get(&server, "/").await;
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(heavy.contains(&format!("{tag}</body>")), "{heavy}");
    // Everything else of the page is still there.
    assert_eq!(heavy.replace(tag, ""), light);
    let (kind, script) = get(&server, "/__replica/heavy.js").await;
    assert!(kind.starts_with("text/javascript"), "{kind}");
    assert!(script.len() > 2 << 20, "{} bytes", script.len());
    assert!(script.contains("new MutationObserver"));

    server.set_heavy(false);
    let (_, again) = get(&server, "/").await;
    assert_eq!(again, light);
    server.shutdown().await;
}
