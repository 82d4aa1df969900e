//! The dashboard's settings: the effective configuration as TOML, a preview of what an edit
//! does, and applying it by hot reload.
//!
//! The text shown is the running gateway's configuration source as one table (the demo's own
//! settings with the `--config` file laid over them, or the file alone for `serve`), with every
//! credential in a URL (a proxy's or an endpoint's password, query values) shown as
//! `<redacted>`. An edit that leaves a redacted value as shown keeps the real one.
//!
//! Preview validates the edit and runs [`crate::reload::plan_reload`] against the running lanes:
//! the lanes it adds, removes and keeps, the settings it applies, or the restart-only settings
//! that block it. Apply does the same checks first (nothing is written for a refused edit), then
//! writes the config file atomically (a temp file beside it, then a rename; the old file is
//! kept as `<file>.bak`) and reloads. A gateway started without a file (`switchyard demo`
//! without `--config`) applies the edit in memory: a later reload reads the same settings; a
//! restart forgets them. A gateway started from a value in code has no source and refuses.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{self, Config};
use crate::gateway::Reloader;
use crate::lanes::plan::LanePlan;
use crate::reload::{Changes, Refused, Source, plan_reload};

/// What a redacted credential reads as.
pub const REDACTED: &str = "<redacted>";

/// The settings as the page shows them.
#[derive(Debug, Serialize)]
pub struct View {
    /// The effective settings as TOML, credentials redacted; empty when `editable` is false.
    pub text: String,
    /// The file Apply writes; `None`: applied in memory.
    pub file: Option<PathBuf>,
    pub editable: bool,
    /// What the page says about where the settings go.
    pub note: String,
}

/// What an edit would do.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Preview {
    pub lanes_added: Vec<String>,
    pub lanes_removed: Vec<String>,
    pub lanes_kept: Vec<String>,
    pub settings_applied: Vec<String>,
}

/// The source now, if the gateway has one.
fn source(reloader: &Reloader) -> Option<Source> {
    reloader
        .source
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// The settings for the page.
pub fn view(reloader: &Reloader) -> View {
    let Some(source) = source(reloader) else {
        return View {
            text: String::new(),
            file: None,
            editable: false,
            note: "This gateway was not started from a config file, so its settings cannot be \
                   edited here. Start it with --config FILE (or a switchyard.toml in its folder)."
                .to_owned(),
        };
    };
    let (table, _) = match source.table() {
        Ok(t) => t,
        Err(e) => {
            return View {
                text: String::new(),
                file: source.file.clone(),
                editable: false,
                note: format!("The config source cannot be read now: {}", e.0),
            };
        }
    };
    let mut shown = toml::Value::Table(table);
    redact(&mut shown);
    let text = toml::to_string_pretty(&shown).unwrap_or_default();
    let note = match &source.file {
        Some(path) if source.base.is_some() => format!(
            "Apply writes what differs from the demo's own settings to {} (the old file is kept \
             as .bak, comments are not kept) and reloads; a key deleted here comes back from \
             the demo's settings.",
            path.display()
        ),
        Some(path) => format!(
            "Apply writes these settings to {} (the old file is kept as .bak, comments are not \
             kept) and reloads.",
            path.display()
        ),
        None => "There is no config file to write (the demo was started without --config): \
                 Apply changes the running settings in memory only; a restart forgets them."
            .to_owned(),
    };
    View {
        text,
        file: source.file,
        editable: true,
        note,
    }
}

/// The edit as a table with the redacted credentials put back, and the source it makes.
fn candidate(reloader: &Reloader, text: &str) -> Result<(toml::Table, Source), Refused> {
    let source = source(reloader).ok_or_else(|| {
        Refused::Conflict(
            "this gateway was not started from a config file, so there is nothing to edit"
                .to_owned(),
        )
    })?;
    let mut edited =
        toml::Value::Table(config::parse_table(text, "the edited settings").map_err(invalid)?);
    if let Ok((old, _)) = source.table() {
        restore(&mut edited, &toml::Value::Table(old));
    }
    let toml::Value::Table(edited) = edited else {
        return Err(Refused::Invalid("the settings are not a table".to_owned()));
    };
    Ok((edited, source))
}

fn invalid(e: config::ConfigError) -> Refused {
    Refused::Invalid(e.0)
}

/// The configuration an edit makes (the base with the edit laid over it), validated.
fn validate(source: &Source, edited: &toml::Table) -> Result<Config, Refused> {
    let mut table = source.base.clone().unwrap_or_default();
    config::merge_tables(&mut table, edited.clone());
    Config::from_table(table, "the edited settings").map_err(invalid)
}

/// Validates an edit and says what applying it would do; changes nothing.
pub async fn preview(reloader: &Reloader, text: &str) -> Result<Preview, Refused> {
    let (edited, source) = candidate(reloader, text)?;
    plan(reloader, &source, &edited).await
}

async fn plan(
    reloader: &Reloader,
    source: &Source,
    edited: &toml::Table,
) -> Result<Preview, Refused> {
    let mut new = validate(source, edited)?;
    let old = reloader.live.config();
    new.fault_injection = old.fault_injection;
    let running = match reloader.lanes.lock().await.as_ref() {
        Some(l) => l.specs(),
        None => LanePlan::from_config(&old).lanes,
    };
    let plan = plan_reload(&old, &running, &new)?;
    let ids = |v: &[crate::ids::LaneId]| v.iter().map(|l| l.0.clone()).collect::<Vec<_>>();
    Ok(Preview {
        lanes_added: plan.add.iter().map(|l| l.id.0.clone()).collect(),
        lanes_removed: ids(&plan.remove),
        lanes_kept: ids(&plan.keep),
        settings_applied: plan.settings,
    })
}

/// Validates and plans an edit, writes it (or keeps it in memory) and reloads.
pub async fn apply(reloader: &Reloader, text: &str) -> Result<Changes, Refused> {
    let (edited, source) = candidate(reloader, text)?;
    plan(reloader, &source, &edited).await?;
    match &source.file {
        Some(path) => write_atomically(path, &file_table(&source, edited))
            .map_err(|e| Refused::Conflict(format!("cannot write {}: {e}", path.display())))?,
        None => {
            let mut base = source.base.clone().unwrap_or_default();
            config::merge_tables(&mut base, edited);
            *reloader.source.lock().unwrap_or_else(|e| e.into_inner()) = Some(Source {
                base: Some(base),
                file: None,
            });
        }
    }
    reloader.reload().await
}

/// What the file must hold so that the base with the file over it is the edit: for the demo,
/// only what differs from its own settings (its replicas' addresses change every start, so they
/// must not be pinned in the file); without a base, the whole edit.
fn file_table(source: &Source, edited: toml::Table) -> toml::Table {
    match &source.base {
        Some(base) => difference(edited, base),
        None => edited,
    }
}

/// The keys of `edited` whose values differ from `base`'s, tables compared key by key.
fn difference(edited: toml::Table, base: &toml::Table) -> toml::Table {
    let mut out = toml::Table::new();
    for (key, value) in edited {
        match (value, base.get(&key)) {
            (toml::Value::Table(e), Some(toml::Value::Table(b))) => {
                let d = difference(e, b);
                if !d.is_empty() {
                    out.insert(key, toml::Value::Table(d));
                }
            }
            (value, Some(b)) if &value == b => {}
            (value, _) => {
                out.insert(key, value);
            }
        }
    }
    out
}

/// Replaces `path` with `table` as TOML by a rename; the old file stays as `<path>.bak`.
fn write_atomically(path: &Path, table: &toml::Table) -> std::io::Result<()> {
    use std::io::Write;
    let text = toml::to_string_pretty(table).map_err(std::io::Error::other)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "switchyard.toml".to_owned());
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    if path.exists() {
        std::fs::copy(path, path.with_file_name(format!("{name}.bak")))?;
    }
    std::fs::rename(&tmp, path)
}

/// A string's redacted form: a URL's password and query values hidden; other text as it is.
fn redacted(s: &str) -> String {
    if !s.contains("://") {
        return s.to_owned();
    }
    let Ok(mut url) = reqwest::Url::parse(s) else {
        return s.to_owned();
    };
    let mut changed = false;
    if url.password().is_some() {
        let _ = url.set_password(Some("REDACTED"));
        changed = true;
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, _)| (k.into_owned(), "REDACTED".to_owned()))
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        changed = true;
    }
    if changed {
        url.to_string().replace("REDACTED", REDACTED)
    } else {
        s.to_owned()
    }
}

/// Hides the credentials of every string in `v`.
fn redact(v: &mut toml::Value) {
    match v {
        toml::Value::String(s) => *s = redacted(s),
        toml::Value::Array(items) => items.iter_mut().for_each(redact),
        toml::Value::Table(t) => t.iter_mut().for_each(|(_, v)| redact(v)),
        _ => {}
    }
}

/// Puts back the real value wherever `edited` still holds the redacted form of `old`'s value
/// at the same place.
fn restore(edited: &mut toml::Value, old: &toml::Value) {
    match (edited, old) {
        (toml::Value::String(e), toml::Value::String(o)) if e != o && *e == redacted(o) => {
            e.clone_from(o);
        }
        (toml::Value::Array(e), toml::Value::Array(o)) => {
            for (e, o) in e.iter_mut().zip(o) {
                restore(e, o);
            }
        }
        (toml::Value::Table(e), toml::Value::Table(o)) => {
            for (key, e) in e.iter_mut() {
                if let Some(o) = o.get(key) {
                    restore(e, o);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_over_the_demo_holds_only_what_differs() {
        let base: toml::Table = toml::from_str(
            "provider = \"deepseek\"\n[providers.deepseek]\nbase_url = \"http://127.0.0.1:4100\"\n\
             instances = 1\n[server]\nport = 0\n",
        )
        .unwrap();
        let edited: toml::Table = toml::from_str(
            "provider = \"deepseek\"\ndata_dir = \"/tmp/x\"\n[providers.deepseek]\n\
             base_url = \"http://127.0.0.1:4100\"\ninstances = 2\n[server]\nport = 0\n",
        )
        .unwrap();
        let want: toml::Table =
            toml::from_str("data_dir = \"/tmp/x\"\n[providers.deepseek]\ninstances = 2\n").unwrap();
        assert_eq!(difference(edited, &base), want);
    }

    #[test]
    fn credentials_are_hidden_and_come_back_when_left_as_shown() {
        let old: toml::Value = toml::from_str(
            "[providers.glm]\nproxy = \"socks5://me:hunter2@10.0.0.1:1080\"\n\
             [browser]\nendpoints = [\"ws://10.0.0.2:9222/devtools?token=s3cret\"]\n\
             [server]\nhost = \"127.0.0.1\"\n",
        )
        .unwrap();
        let mut shown = old.clone();
        redact(&mut shown);
        let text = toml::to_string(&shown).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
        assert!(text.contains(REDACTED), "{text}");
        assert!(text.contains("127.0.0.1"), "{text}");
        // Left as shown: the real values return; a changed one is taken as typed.
        let mut edited: toml::Value = toml::from_str(&text).unwrap();
        restore(&mut edited, &old);
        assert_eq!(edited, old);
        let mut edited: toml::Value =
            toml::from_str(&text.replace("10.0.0.1", "10.0.0.9")).unwrap();
        restore(&mut edited, &old);
        assert!(
            edited["providers"]["glm"]["proxy"]
                .as_str()
                .unwrap()
                .contains("10.0.0.9")
        );
        assert!(
            !edited["providers"]["glm"]["proxy"]
                .as_str()
                .unwrap()
                .contains("hunter2")
        );
    }
}
