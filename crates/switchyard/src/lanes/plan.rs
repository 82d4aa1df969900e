//! Which lanes to start, from the configuration (pure).
//!
//! The rules are the reference's (behavior-spec §4.2): the current provider always runs and comes
//! first; with `runtime.providers_in_parallel` on, every enabled provider follows in the fixed
//! provider order. Instance counts only count in `full_parallel_lanes`. The parallel runtime is
//! active only with at least two lanes; otherwise the gateway quietly runs the current provider
//! alone, one generation at a time.

use crate::config::{Config, QueueMode};
use crate::ids::LaneId;
use crate::models::ProviderKind;
use crate::scheduler::Concurrency;

/// One lane to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneSpec {
    pub id: LaneId,
    /// The display name, with a number (`… 2`) when a provider has several lanes.
    pub label: String,
    pub provider: ProviderKind,
    /// 1-based position among the provider's lanes.
    pub index: u32,
    /// A full-parallel instance: it holds a saved account for life whatever
    /// `accounts.auto_login` says (behavior-spec §6.3). Other lanes take one only with
    /// `auto_login` on (§7.4).
    pub backed: bool,
}

/// The lanes and how the queue shares them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanePlan {
    pub lanes: Vec<LaneSpec>,
    pub concurrency: Concurrency,
    /// Whether the multi-lane runtime is active (else: the single-provider fallback).
    pub parallel: bool,
    /// Things worth a log line (settings that had no effect).
    pub notes: Vec<String>,
    /// Providers whose lane count the saved accounts capped, with the count started: a reload
    /// never adds lanes above it (accounts change only with a restart).
    pub caps: Vec<(ProviderKind, u32)>,
}

/// What the saved accounts allow a provider, for [`LanePlan::with_accounts`]: how many
/// selectable accounts it has, or why the store could not be read.
pub type AccountCount = Result<usize, String>;

impl LanePlan {
    /// The plan without looking at saved accounts (a reload compares against it; the caps of
    /// the start stay in force).
    pub fn from_config(config: &Config) -> LanePlan {
        Self::build(config, &|_| None)
    }

    /// The plan at start-up: in `full_parallel_lanes` a provider asked for more than one
    /// instance gets `min(instances, selectable accounts)` lanes, each holding its own account;
    /// with no account (or an unreadable store) one normal manual lane. The reference's
    /// warnings (behavior-spec §6.2) go into `notes`.
    pub fn with_accounts(
        config: &Config,
        accounts: &dyn Fn(ProviderKind) -> AccountCount,
    ) -> LanePlan {
        Self::build(config, &|k| Some(accounts(k)))
    }

    fn build(config: &Config, accounts: &dyn Fn(ProviderKind) -> Option<AccountCount>) -> LanePlan {
        let mut notes = Vec::new();
        let mut caps = Vec::new();
        let master = config.runtime.providers_in_parallel;
        let full = master && config.runtime.mode == QueueMode::FullParallelLanes;

        let mut selected = vec![config.provider];
        if master {
            selected.extend(
                ProviderKind::ALL
                    .into_iter()
                    .filter(|k| *k != config.provider && config.provider(*k).enabled),
            );
        } else {
            let ignored: Vec<&str> = ProviderKind::ALL
                .into_iter()
                .filter(|k| *k != config.provider && config.provider(*k).enabled)
                .map(|k| k.prefix())
                .collect();
            if !ignored.is_empty() {
                notes.push(format!(
                    "providers {} are enabled but runtime.providers_in_parallel is off, so only \
                     the current provider ({}) runs",
                    ignored.join(", "),
                    config.provider
                ));
            }
        }

        // Full-parallel instance counts, capped by the saved accounts where they are known.
        let mut desired: Vec<(ProviderKind, u32, bool)> = Vec::new();
        for &k in &selected {
            let asked = if full {
                config.provider(k).instances
            } else {
                1
            };
            if asked <= 1 {
                desired.push((k, asked, false));
                continue;
            }
            let p = k.display_name();
            let (n, backed) = match accounts(k) {
                None => (asked, true),
                Some(Err(why)) => {
                    notes.push(format!(
                        "Full Parallelization: {p}: the saved accounts could not be read ({why}), \
                         so it will use one normal manual lane."
                    ));
                    (1, false)
                }
                Some(Ok(0)) => {
                    notes.push(format!(
                        "Full Parallelization: {p} has no saved accounts, so it will use one \
                         normal manual lane."
                    ));
                    (1, false)
                }
                Some(Ok(s)) => {
                    let e = asked.min(u32::try_from(s).unwrap_or(u32::MAX));
                    if e < asked {
                        notes.push(format!(
                            "Full Parallelization: {p} requested {asked} instances, but only {s} \
                             saved account(s) are available. Launching {e}."
                        ));
                    }
                    (e, true)
                }
            };
            if n < asked {
                caps.push((k, n));
            }
            desired.push((k, n, backed));
        }
        let count = |k: ProviderKind| {
            desired
                .iter()
                .find(|(d, ..)| *d == k)
                .map_or(1, |&(_, n, _)| n)
        };
        let backed = |k: ProviderKind| desired.iter().any(|&(d, _, b)| d == k && b);
        let total: u32 = selected.iter().map(|k| count(*k)).sum();
        let parallel = master && (selected.len() >= 2 || (full && total >= 2));
        if master && !parallel {
            notes.push(
                "runtime.providers_in_parallel is on but only one lane would run; running the \
                 current provider alone"
                    .to_owned(),
            );
        }
        if !full && selected.iter().any(|k| config.provider(*k).instances > 1) {
            notes.push(format!(
                "`instances` only counts in runtime.mode = \"full_parallel_lanes\" with \
                 providers_in_parallel on; starting one lane per provider (mode is {})",
                config.runtime.mode.as_str()
            ));
        }

        // Dummy lanes come after the sites' in every mode, `dummy.lanes` of them; with
        // `dummy.only` no site lane runs. They share the queue by the mode's rule: one
        // generation at a time in `provider_lanes`, else one per lane.
        let dummies = config.dummy.lanes;
        if config.dummy.only {
            selected.clear();
        }
        let overlap = parallel || dummies > 0;
        let concurrency = if overlap && config.runtime.mode != QueueMode::ProviderLanes {
            Concurrency::PerLane
        } else {
            Concurrency::Serial
        };

        let mut lanes = Vec::new();
        for kind in selected {
            let n = if parallel { count(kind) } else { 1 };
            for index in 1..=n {
                lanes.push(LaneSpec {
                    id: LaneId(format!("{}:{index}", kind.storage_key())),
                    label: if n > 1 {
                        format!("{} {index}", kind.display_name())
                    } else {
                        kind.display_name().to_owned()
                    },
                    provider: kind,
                    index,
                    backed: parallel && backed(kind),
                });
            }
            if !parallel {
                break;
            }
        }
        let kind = ProviderKind::Dummy;
        for index in 1..=dummies {
            lanes.push(LaneSpec {
                id: LaneId(format!("{}:{index}", kind.storage_key())),
                label: format!("{} {index}", kind.display_name()),
                provider: kind,
                index,
                backed: false,
            });
        }
        LanePlan {
            lanes,
            concurrency,
            parallel,
            notes,
            caps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(toml: &str) -> LanePlan {
        LanePlan::from_config(&Config::from_toml_str(toml, "t").unwrap())
    }
    fn ids(p: &LanePlan) -> Vec<&str> {
        p.lanes.iter().map(|l| l.id.0.as_str()).collect()
    }

    #[test]
    fn without_the_master_switch_only_the_current_provider_runs_serially() {
        let p = plan("provider = \"glm\"\n[providers.deepseek]\nenabled = true\n");
        assert_eq!(ids(&p), vec!["glm_chat:1"]);
        assert_eq!(p.concurrency, Concurrency::Serial);
        assert!(!p.parallel);
        assert_eq!(p.notes.len(), 1);
        assert_eq!(p.lanes[0].label, "GLM Chat");
    }

    #[test]
    fn provider_lanes_run_the_current_provider_first_then_fixed_order() {
        let p = plan(
            "provider = \"glm\"\n[runtime]\nproviders_in_parallel = true\n\
             [providers.deepseek]\nenabled = true\ninstances = 3\n",
        );
        assert_eq!(ids(&p), vec!["glm_chat:1", "deepseek:1"]);
        assert_eq!(p.concurrency, Concurrency::Serial);
        assert!(p.parallel);
    }

    #[test]
    fn concurrent_mode_overlaps_lanes() {
        let p = plan(
            "[runtime]\nproviders_in_parallel = true\nmode = \"concurrent_provider_lanes\"\n\
             [providers.glm]\nenabled = true\n",
        );
        assert_eq!(ids(&p), vec!["deepseek:1", "glm_chat:1"]);
        assert_eq!(p.concurrency, Concurrency::PerLane);
    }

    #[test]
    fn full_mode_counts_instances_and_numbers_labels() {
        let p = plan(
            "[runtime]\nproviders_in_parallel = true\nmode = \"full_parallel_lanes\"\n\
             [providers.deepseek]\ninstances = 2\n[providers.glm]\nenabled = true\n",
        );
        assert_eq!(ids(&p), vec!["deepseek:1", "deepseek:2", "glm_chat:1"]);
        let labels: Vec<_> = p.lanes.iter().map(|l| l.label.as_str()).collect();
        assert_eq!(labels, vec!["DeepSeek 1", "DeepSeek 2", "GLM Chat"]);
        assert_eq!(p.concurrency, Concurrency::PerLane);
    }

    #[test]
    fn one_provider_with_several_instances_is_still_parallel() {
        let p = plan(
            "[runtime]\nproviders_in_parallel = true\nmode = \"full_parallel_lanes\"\n\
             [providers.deepseek]\ninstances = 3\n",
        );
        assert_eq!(ids(&p), vec!["deepseek:1", "deepseek:2", "deepseek:3"]);
        assert!(p.parallel);
        let single = plan("[runtime]\nproviders_in_parallel = true\n");
        assert!(!single.parallel);
        assert_eq!(ids(&single), vec!["deepseek:1"]);
    }

    #[test]
    fn dummy_lanes_follow_the_sites_in_every_mode() {
        let none = plan("");
        assert!(none.lanes.iter().all(|l| l.provider.runs_in_browser()));
        let beside = plan("[dummy]\nlanes = 3\n");
        assert_eq!(
            ids(&beside),
            vec!["deepseek:1", "dummy:1", "dummy:2", "dummy:3"]
        );
        assert_eq!(beside.lanes[1].label, "Dummy 1");
        assert_eq!(
            beside.concurrency,
            Concurrency::Serial,
            "provider_lanes: one at a time"
        );
        let only = plan(
            "[runtime]\nmode = \"concurrent_provider_lanes\"\n[dummy]\nlanes = 2\nonly = true\n",
        );
        assert_eq!(ids(&only), vec!["dummy:1", "dummy:2"]);
        assert_eq!(only.concurrency, Concurrency::PerLane);
    }

    #[test]
    fn saved_accounts_cap_full_parallel_instances_with_the_references_warnings() {
        let config = Config::from_toml_str(
            "[runtime]\nproviders_in_parallel = true\nmode = \"full_parallel_lanes\"\n\
             [providers.deepseek]\ninstances = 3\n[providers.glm]\nenabled = true\n\
             instances = 2\n[providers.qwen]\nenabled = true\ninstances = 4\n",
            "t",
        )
        .unwrap();
        let p = LanePlan::with_accounts(&config, &|k| match k {
            ProviderKind::DeepSeek => Ok(2),
            ProviderKind::Glm => Ok(0),
            _ => Err("wrong passphrase".into()),
        });
        assert_eq!(
            ids(&p),
            vec!["deepseek:1", "deepseek:2", "glm_chat:1", "qwenlm:1"]
        );
        assert!(p.lanes[0].backed && p.lanes[1].backed);
        assert!(!p.lanes[2].backed && !p.lanes[3].backed, "manual lanes");
        assert_eq!(p.lanes[2].label, "GLM Chat");
        assert!(p.notes.contains(
            &"Full Parallelization: DeepSeek requested 3 instances, but only 2 saved account(s) \
              are available. Launching 2."
                .to_owned()
        ), "{:?}", p.notes);
        assert!(
            p.notes.contains(
                &"Full Parallelization: GLM Chat has no saved accounts, so it will use one normal \
              manual lane."
                    .to_owned()
            ),
            "{:?}",
            p.notes
        );
        assert!(p.notes.iter().any(|n| n.contains("wrong passphrase")));
        assert_eq!(
            p.caps,
            vec![
                (ProviderKind::DeepSeek, 2),
                (ProviderKind::Glm, 1),
                (ProviderKind::Qwen, 1)
            ]
        );
        let enough = LanePlan::with_accounts(&config, &|_| Ok(5));
        assert_eq!(enough.lanes.len(), 9);
        assert!(enough.caps.is_empty() && enough.lanes.iter().all(|l| l.backed));
    }
}
