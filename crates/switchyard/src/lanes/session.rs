//! Keeping a lane signed in across restarts in `context` isolation (and on remote browsers):
//! the context's cookies and the site origin's local storage are saved with the lane's account
//! in the encrypted store after a sign-in and after each request, and put back into a fresh
//! context before its first navigation. In `process` isolation the account's own profile
//! folder keeps them (closed gracefully, so Chromium writes its cookies out).

use std::collections::BTreeMap;

use tracing::{debug, warn};

use super::lane::Lane;
use crate::accounts::{Secret, Session, SessionCookie};
use crate::browser::{SavedCookie, Tab};

/// Reads the page's local storage (key → value).
const READ_STORAGE: &str = "(() => { const o = {}; for (let i = 0; i < localStorage.length; i++) \
    { const k = localStorage.key(i); o[k] = localStorage.getItem(k); } return o; })()";

/// Whether this lane keeps its session in the store (it has no profile of its own).
fn in_store(lane: &Lane) -> bool {
    !lane.host.owns_browser() && lane.accounts.held(&lane.spec.id).is_some()
}

/// `scheme://host[:port]` of a base URL.
fn origin(base_url: &str) -> String {
    let rest_at = base_url.find("://").map_or(0, |i| i + 3);
    match base_url[rest_at..].find('/') {
        Some(end) => base_url[..rest_at + end].to_owned(),
        None => base_url.to_owned(),
    }
}

/// Stamps the start of a request attempt on the lane's account (behavior-spec §7.4).
pub(super) async fn mark_used(lane: &Lane) {
    if lane.accounts.held(&lane.spec.id).is_none() {
        return;
    }
    let accounts = lane.accounts.clone();
    let id = lane.spec.id.clone();
    // The store is written with an fsync: off the lane's task.
    let _ = tokio::task::spawn_blocking(move || accounts.mark_used(&id)).await;
}

/// Saves the page's cookies and local storage with the lane's account.
pub(super) async fn save(lane: &Lane) {
    if !in_store(lane) {
        return;
    }
    let session = match read(&lane.tab, &lane.settings.base_url).await {
        Ok(session) => session,
        Err(e) => {
            warn!(lane = %lane.spec.id, cause = %e, "could not read the page's cookies; the session is not saved");
            return;
        }
    };
    let accounts = lane.accounts.clone();
    let id = lane.spec.id.clone();
    // The store is written with an fsync: off the lane's task.
    let _ = tokio::task::spawn_blocking(move || accounts.save_session(&id, session)).await;
}

/// The signed-in state of the page's context: its cookies for the site and the site origin's
/// local storage (what [`save`] keeps, and `switchyard login` too).
pub async fn read(tab: &Tab, base_url: &str) -> Result<Session, crate::browser::BrowserError> {
    let base = base_url.trim_end_matches('/');
    let cookies = tab.cookies(&format!("{base}/")).await?;
    let storage = match tab
        .eval("reading local storage", READ_STORAGE, tab.cdp_timeout())
        .await
    {
        Ok(serde_json::Value::Object(map)) => map
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k, Secret::new(v.to_owned()))))
            .collect(),
        Ok(_) => BTreeMap::new(),
        Err(e) => {
            debug!(cause = %e, "local storage not readable");
            BTreeMap::new()
        }
    };
    Ok(Session {
        cookies: cookies
            .into_iter()
            .map(|c| SessionCookie {
                name: c.name,
                value: Secret::new(c.value),
                domain: c.domain,
                path: c.path,
                expires: c.expires,
                http_only: c.http_only,
                secure: c.secure,
                same_site: c.same_site,
            })
            .collect(),
        local_storage: [(origin(base), storage)].into_iter().collect(),
        saved_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
    })
}

/// Puts the lane account's saved cookies into its fresh context, before the first navigation.
/// The origin's local storage goes in once the page is on the site ([`restore_storage`]).
pub(super) async fn restore_cookies(lane: &Lane, tab: &Tab) {
    if !in_store(lane) {
        return;
    }
    let Some(session) = lane.accounts.session(&lane.spec.id) else {
        return;
    };
    let cookies: Vec<SavedCookie> = session
        .cookies
        .iter()
        .map(|c| SavedCookie {
            name: c.name.clone(),
            value: c.value.expose().to_owned(),
            domain: c.domain.clone(),
            path: c.path.clone(),
            expires: c.expires,
            http_only: c.http_only,
            secure: c.secure,
            same_site: c.same_site.clone(),
        })
        .collect();
    if let Err(e) = tab.set_cookies(&cookies).await {
        warn!(lane = %lane.spec.id, cause = %e, "could not restore the saved cookies; the site may ask for a sign-in");
    }
}

/// Writes the saved local storage of the site's origin into the page (on the site already).
/// Returns whether anything was written (the page then loads again to see it).
pub(super) async fn restore_storage(lane: &Lane) -> bool {
    if !in_store(lane) {
        return false;
    }
    let Some(session) = lane.accounts.session(&lane.spec.id) else {
        return false;
    };
    let base = lane.settings.base_url.trim_end_matches('/');
    let Some(items) = session.local_storage.get(&origin(base)) else {
        return false;
    };
    if items.is_empty() {
        return false;
    }
    let plain: BTreeMap<&str, &str> = items
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose()))
        .collect();
    let Ok(json) = serde_json::to_string(&plain) else {
        return false;
    };
    let script = format!(
        "(() => {{ const o = {json}; let n = 0; for (const k in o) {{ if (localStorage.getItem(k) \
         !== o[k]) {{ localStorage.setItem(k, o[k]); n++; }} }} return n; }})()"
    );
    match lane
        .tab
        .eval("restoring local storage", &script, lane.tab.cdp_timeout())
        .await
    {
        Ok(n) => n.as_u64().unwrap_or(0) > 0,
        Err(e) => {
            debug!(lane = %lane.spec.id, cause = %e, "local storage not restored");
            false
        }
    }
}
