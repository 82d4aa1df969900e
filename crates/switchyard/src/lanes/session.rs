//! Keeping a lane signed in across restarts: the page's cookies and the site origin's local
//! storage are saved with the lane's account in the encrypted store after a sign-in and after
//! each request, and put back before the lane's first navigation. In `context` isolation (and
//! on remote browsers) the store is all there is. In `process` isolation the account's own
//! profile folder keeps them too (closed gracefully, so Chromium writes its cookies out), and
//! it stays the truth: the store only fills in what the profile lost, such as local storage
//! Chromium had not written to disk yet when the browser closed soon after a sign-in.

use std::collections::BTreeMap;

use tracing::{debug, warn};

use super::lane::Lane;
use crate::accounts::{Secret, Session, SessionCookie};
use crate::browser::{SavedCookie, Tab};

/// Reads the page's local storage (key → value).
const READ_STORAGE: &str = "(() => { const o = {}; for (let i = 0; i < localStorage.length; i++) \
    { const k = localStorage.key(i); o[k] = localStorage.getItem(k); } return o; })()";

/// Whether this lane keeps its session in the store (it holds a saved account).
fn in_store(lane: &Lane) -> bool {
    lane.accounts.held(&lane.spec.id).is_some()
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

/// Puts the lane account's saved cookies into its page, before the first navigation. On a
/// profile of the lane's own, only the cookies the profile does not have: a cookie it kept is
/// as new as the saved one or newer (the site may have rotated it since the last save).
pub(super) async fn restore_cookies(lane: &Lane, tab: &Tab) {
    if !in_store(lane) {
        return;
    }
    let Some(session) = lane.accounts.session(&lane.spec.id) else {
        return;
    };
    let kept: Vec<SavedCookie> = if lane.host.owns_browser() {
        let base = lane.settings.base_url.trim_end_matches('/');
        match tab.cookies(&format!("{base}/")).await {
            Ok(kept) => kept,
            Err(e) => {
                warn!(lane = %lane.spec.id, cause = %e, "could not read the profile's cookies; the saved ones are not put back");
                return;
            }
        }
    } else {
        Vec::new()
    };
    let cookies: Vec<SavedCookie> = session
        .cookies
        .iter()
        .filter(|c| {
            !kept
                .iter()
                .any(|k| k.name == c.name && k.domain == c.domain && k.path == c.path)
        })
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
    if cookies.is_empty() {
        return;
    }
    debug!(lane = %lane.spec.id, count = cookies.len(), "putting saved cookies back");
    if let Err(e) = tab.set_cookies(&cookies).await {
        warn!(lane = %lane.spec.id, cause = %e, "could not restore the saved cookies; the site may ask for a sign-in");
    }
}

/// The page script that puts saved local storage into the site's origin: it runs in a new
/// document before the site's own scripts, and sets only keys the document does not have (a
/// value the site wrote since is newer than the saved one).
fn storage_script(origin: &str, items: &BTreeMap<&str, &str>) -> Option<String> {
    let origin = serde_json::to_string(origin).ok()?;
    let json = serde_json::to_string(items).ok()?;
    Some(format!(
        "(() => {{ if (location.origin !== {origin}) return; const o = {json}; \
         try {{ for (const k in o) {{ if (localStorage.getItem(k) === null) \
         localStorage.setItem(k, o[k]); }} }} catch (e) {{}} }})()"
    ))
}

/// Arranges for the saved local storage of the site's origin to be in place when the first
/// document of the site loads, before the site's scripts read it (no load without it, no
/// reload). Returns the handle of the page script to remove once the lane is loaded
/// ([`forget_storage`]).
pub(super) async fn restore_storage(lane: &Lane) -> Option<String> {
    if !in_store(lane) {
        return None;
    }
    let session = lane.accounts.session(&lane.spec.id)?;
    let base = lane.settings.base_url.trim_end_matches('/');
    let origin = origin(base);
    let items = session.local_storage.get(&origin)?;
    if items.is_empty() {
        return None;
    }
    let plain: BTreeMap<&str, &str> = items
        .iter()
        .map(|(k, v)| (k.as_str(), v.expose()))
        .collect();
    let script = storage_script(&origin, &plain)?;
    match lane.tab.add_init_script(&script).await {
        Ok(id) => Some(id),
        Err(e) => {
            warn!(lane = %lane.spec.id, cause = %e, "could not restore the saved local storage; the site may ask for a sign-in");
            None
        }
    }
}

/// Stops putting the saved local storage into new documents: after the first load the site's
/// own storage is the truth (a sign-out that clears it must stay signed out).
pub(super) async fn forget_storage(lane: &Lane, id: &str) {
    if let Err(e) = lane.tab.remove_init_script(id).await {
        debug!(lane = %lane.spec.id, cause = %e, "the local storage script was not removed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_storage_script_is_bound_to_its_origin_and_keeps_newer_values() {
        let items: BTreeMap<&str, &str> = [("userToken", "{\"value\":\"t'\\\"\"}")].into();
        let script = storage_script("http://127.0.0.1:8080", &items).expect("script");
        assert!(script.contains("location.origin !== \"http://127.0.0.1:8080\""));
        assert!(script.contains("localStorage.getItem(k) === null"));
        // The value is a JSON string literal, so quotes in it cannot end the script's string.
        assert!(script.contains(r#""userToken":"{\"value\":\"t'\\\"\"}""#));
    }

    #[test]
    fn origin_drops_the_path() {
        assert_eq!(origin("http://127.0.0.1:9/chat/x"), "http://127.0.0.1:9");
        assert_eq!(origin("https://chat.qwen.ai"), "https://chat.qwen.ai");
    }
}
