//! Heavy pages: a replica page as costly to the browser as the real site's.
//!
//! The real sites are large single-page apps: megabytes of script parsed at load, a heap of
//! comparable size kept alive, and a markdown re-render of the whole answer for every streamed
//! piece. The replicas' own pages are a few kilobytes, so memory and relay figures measured on
//! them flatter a gateway. With [`crate::ReplicaServer::set_heavy`] on, every HTML page the
//! replica serves also loads `/__replica/heavy.js`, generated once per process:
//! - [`MODULES`] functions of about 1 KiB of source each (≈ [`MODULES`] KiB of script, parsed
//!   and compiled at load, as a bundle is);
//! - each is run once at load and its result kept on `window`, a retained heap of a few MiB;
//! - a `MutationObserver` on `<body>` re-renders the text of whatever element changed into a
//!   fresh tree of paragraphs and word spans (an off-screen but laid-out container), once per
//!   change, as a markdown renderer re-renders the whole answer for each piece.
//!
//! The page's hooks and its own rendering are untouched: a driver sees the same page.

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::server::AppState;

/// Generated functions in the heavy script (each about 1 KiB of source).
const MODULES: usize = 3_000;
/// The script tag heavy pages get before `</body>`.
const TAG: &str = "<script src=\"/__replica/heavy.js\"></script>";
/// Pages above this size are passed through untouched (none is near it).
const MAX_PAGE: usize = 4 << 20;

/// The heavy script, generated on first use.
pub(crate) fn script() -> &'static str {
    static SCRIPT: OnceLock<String> = OnceLock::new();
    SCRIPT.get_or_init(generate)
}

fn generate() -> String {
    let mut out = String::with_capacity(MODULES * 1100 + 4096);
    out.push_str("'use strict';\n(() => {\nconst modules = [\n");
    for i in 0..MODULES {
        // Distinct bodies, so no two functions share compiled code or strings.
        out.push_str(&format!(
            "function m{i}(seed) {{\n  const rows = [];\n  for (let r = 0; r < 24; r++) {{\n    \
             rows.push({{ id: 'm{i}-' + r + '-' + seed, label: 'component {i} row ' + r, \
             weight: (seed * {k} + r) % 97, tags: ['t{i}', 'r' + r, String(seed + {i})], \
             render(x) {{ return '<div class=\"c{i}\">' + this.label + ':' + x + '</div>'; }} }});\n  }}\n  \
             const index = new Map(rows.map((row) => [row.id, row]));\n  \
             const text = rows.map((row) => row.label + ' ' + row.weight).join(' | ');\n  \
             // padding so each module is about as large as a minified component: \
             {pad}\n  return {{ rows, index, text }};\n}},\n",
            k = i % 89 + 7,
            pad = "x".repeat(420),
        ));
    }
    out.push_str(RUNTIME);
    out
}

/// Runs every module once (the retained heap) and installs the re-render on every change.
const RUNTIME: &str = r#"];
window.__replicaHeavy = modules.map((m, i) => m(i));
const view = document.createElement('div');
view.setAttribute('aria-hidden', 'true');
view.style.cssText = 'position:absolute;left:-100000px;top:0;width:640px;';
document.documentElement.append(view);
let renders = 0;
function render(text) {
  const tree = document.createElement('article');
  for (const line of text.split('\n')) {
    const p = document.createElement('p');
    for (const word of line.split(' ')) {
      const span = document.createElement('span');
      span.className = 'md-word';
      span.textContent = word + ' ';
      p.append(span);
    }
    tree.append(p);
  }
  view.replaceChildren(tree);
  // Read layout, as a renderer measuring for auto-scroll does.
  renders += view.offsetHeight > 0 ? 1 : 1;
  window.__replicaHeavyRenders = renders;
}
new MutationObserver((changes) => {
  const last = changes[changes.length - 1];
  const target = last.target.nodeType === Node.ELEMENT_NODE ? last.target : last.target.parentElement;
  if (target) render(target.textContent || '');
}).observe(document.body, { subtree: true, childList: true, characterData: true });
})();
"#;

/// `GET /__replica/heavy.js`.
pub(crate) async fn serve() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/javascript; charset=utf-8"),
        )],
        script(),
    )
        .into_response()
}

/// Adds the heavy script to an HTML page while the replica's heavy knob is on.
pub(crate) async fn inject(State(state): State<AppState>, response: Response) -> Response {
    let is_html = (response.headers().get(header::CONTENT_TYPE))
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !is_html || !state.shared.heavy() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_PAGE).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let page = String::from_utf8_lossy(&bytes);
    let page = match page.rfind("</body>") {
        Some(at) => format!("{}{TAG}{}", &page[..at], &page[at..]),
        None => format!("{page}{TAG}"),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_megabytes_and_ends_with_the_runtime() {
        let s = script();
        assert!(s.len() > 2 << 20, "{} bytes", s.len());
        assert!(s.contains("function m2999(seed)"));
        assert!(s.trim_end().ends_with("})();"));
    }
}
