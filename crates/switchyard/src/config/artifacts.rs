//! The settings for what a lane saves to disk: capture files and failure bundles.

use std::path::{Path, PathBuf};

use super::ConfigError;
use super::raw::{RawCaptureFiles, RawFailures};

/// The default number of failure bundles kept.
pub const DEFAULT_FAILURES_KEEP: usize = 20;
/// The most failure bundles `failures.keep` may ask for.
pub const MAX_FAILURES_KEEP: usize = 10_000;

/// `[capture]`: the raw site body of every request, saved for `switchyard decode`.
#[derive(Debug, Clone, Default)]
pub struct CaptureFiles {
    /// Where `<provider>/<time>-<request id>.{bin,json}` go; `None` (the default) saves nothing.
    pub dir: Option<PathBuf>,
}

/// `[failures]`: a bundle (screenshot, HTML, frames, log lines) for every failed request.
#[derive(Debug, Clone)]
pub struct Failures {
    /// Where `<time>-<lane>/` folders go (default `<data_dir>/failures`).
    pub dir: PathBuf,
    /// How many bundles to keep (the oldest go first); 0 saves none.
    pub keep: usize,
}

impl Failures {
    /// The defaults under `data_dir`.
    pub fn under(data_dir: &Path) -> Failures {
        Failures {
            dir: data_dir.join("failures"),
            keep: DEFAULT_FAILURES_KEEP,
        }
    }
}

pub(super) fn capture_files(
    raw: Option<RawCaptureFiles>,
    bad: &impl Fn(&str, String) -> ConfigError,
) -> Result<CaptureFiles, ConfigError> {
    let dir = match raw.and_then(|r| r.dir) {
        None => None,
        Some(d) if d.trim().is_empty() => {
            return Err(bad(
                "capture.dir",
                "must not be empty; remove the key to save no capture files".to_owned(),
            ));
        }
        Some(d) => Some(PathBuf::from(d)),
    };
    Ok(CaptureFiles { dir })
}

pub(super) fn failures(
    raw: Option<RawFailures>,
    data_dir: &Path,
    bad: &impl Fn(&str, String) -> ConfigError,
) -> Result<Failures, ConfigError> {
    let raw = raw.unwrap_or_default();
    let mut out = Failures::under(data_dir);
    if let Some(keep) = raw.keep {
        out.keep = usize::try_from(keep)
            .ok()
            .filter(|k| *k <= MAX_FAILURES_KEEP)
            .ok_or_else(|| {
                bad(
                    "failures.keep",
                    format!(
                        "{keep} is out of range; allowed 0..={MAX_FAILURES_KEEP} (0 saves none)"
                    ),
                )
            })?;
    }
    match raw.dir {
        Some(d) if d.trim().is_empty() => {
            return Err(bad("failures.dir", "must not be empty".to_owned()));
        }
        Some(d) => out.dir = PathBuf::from(d),
        None => {}
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn capture_files_are_off_and_bundles_kept_under_data_dir_by_default() {
        let c = Config::from_toml_str("data_dir = \"d\"", "x.toml").unwrap();
        assert_eq!(c.capture.dir, None);
        assert_eq!(c.failures.dir, std::path::Path::new("d/failures"));
        assert_eq!(c.failures.keep, 20);
    }

    #[test]
    fn capture_and_failure_keys_are_read() {
        let c = Config::from_toml_str(
            "[capture]\ndir = \"caps\"\n[failures]\nkeep = 3\ndir = \"/tmp/f\"\n",
            "x.toml",
        )
        .unwrap();
        assert_eq!(c.capture.dir.as_deref(), Some(std::path::Path::new("caps")));
        assert_eq!(c.failures.keep, 3);
        assert_eq!(c.failures.dir, std::path::Path::new("/tmp/f"));
    }

    #[test]
    fn bad_capture_and_failure_values_say_what_is_allowed() {
        let err = |t: &str| Config::from_toml_str(t, "s.toml").unwrap_err().0;
        assert_eq!(
            err("[failures]\nkeep = -1"),
            "s.toml: failures.keep: -1 is out of range; allowed 0..=10000 (0 saves none)"
        );
        assert_eq!(
            err("[capture]\ndir = \"\""),
            "s.toml: capture.dir: must not be empty; remove the key to save no capture files"
        );
        assert!(
            err("[capture]\nfolder = \"x\"").contains("capture"),
            "unknown key"
        );
    }
}
