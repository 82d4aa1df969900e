//! Process-tree facts read from `/proc`: a browser's descendants and their memory.
//!
//! RSS overcounts Chromium badly (every process maps the same 200 MB binary), so memory is
//! reported as PSS, which splits shared pages between the processes that share them. PSS still
//! moves with other programs mapping the same files (another Chromium on the machine makes this
//! one's share of the binary smaller), so [`tree_pss_split`] also reads anonymous memory
//! (`Anonymous:`, heap and stacks, never shared with another program), which does not.

use std::collections::{HashMap, HashSet};

/// The pid and all its descendants, found through each process's parent pid.
pub fn tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(ppid) = parent_of(pid) {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        if !seen.insert(pid) {
            continue;
        }
        out.push(pid);
        if let Some(kids) = children.get(&pid) {
            stack.extend(kids);
        }
    }
    out
}

fn parent_of(pid: u32) -> Option<u32> {
    stat_fields(pid).map(|(_, parent)| parent)
}

/// Proportional set size of one process in KiB, or 0 if it is gone or unreadable.
pub fn pss_kib(pid: u32) -> u64 {
    rollup(pid).pss_kib
}

/// PSS and anonymous memory of one process in KiB (zeros if it is gone or unreadable), from
/// `/proc/<pid>/smaps_rollup`.
pub fn rollup(pid: u32) -> Rollup {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else {
        return Rollup::default();
    };
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Rollup {
        pss_kib: field("Pss:"),
        anon_kib: field("Anonymous:"),
    }
}

/// What [`rollup`] read of one process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rollup {
    /// Proportional set size: private pages plus a share of every shared one.
    pub pss_kib: u64,
    /// Anonymous pages (heap, stacks, private writable mappings), shared or not.
    pub anon_kib: u64,
}

/// PSS of a whole process tree in KiB.
pub fn tree_pss_kib(root: u32) -> u64 {
    tree(root).into_iter().map(pss_kib).sum()
}

/// PSS of a Chromium process tree split by process kind: the whole tree, and of it the
/// renderers (`--type=renderer`, one or more per browser context or site) with their count,
/// the browser process itself (the root, which with `--in-process-gpu` also composites every
/// page), the utility processes (`--type=utility`: the network and storage services, and
/// any other service Chromium starts) and the zygotes (`--type=zygote`, which fork the others);
/// each with its anonymous memory beside it.
pub fn tree_pss_split(root: u32) -> TreePss {
    let mut out = TreePss::default();
    for pid in tree(root) {
        let mem = rollup(pid);
        out.total_kib += mem.pss_kib;
        out.total_anon_kib += mem.anon_kib;
        if pid == root {
            out.browser_process_kib = mem.pss_kib;
            out.browser_process_anon_kib = mem.anon_kib;
            continue;
        }
        match process_type(pid).as_deref() {
            Some("renderer") => {
                out.renderer_kib += mem.pss_kib;
                out.renderer_anon_kib += mem.anon_kib;
                out.renderers += 1;
            }
            Some("utility") => {
                out.utility_kib += mem.pss_kib;
                out.utility_anon_kib += mem.anon_kib;
            }
            Some("zygote") => {
                out.zygote_kib += mem.pss_kib;
                out.zygote_anon_kib += mem.anon_kib;
                out.zygotes += 1;
            }
            _ => {}
        }
    }
    out
}

/// What [`tree_pss_split`] read: PSS (`*_kib`) and anonymous memory (`*_anon_kib`). A page a
/// zygote wrote before forking stays shared with its children until one writes it: PSS splits
/// it between them, `Anonymous:` counts it in each, so the anonymous sums overcount a tree
/// with zygotes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TreePss {
    pub total_kib: u64,
    pub renderer_kib: u64,
    pub renderers: usize,
    pub browser_process_kib: u64,
    pub utility_kib: u64,
    pub zygote_kib: u64,
    pub zygotes: usize,
    pub total_anon_kib: u64,
    pub renderer_anon_kib: u64,
    pub browser_process_anon_kib: u64,
    pub utility_anon_kib: u64,
    pub zygote_anon_kib: u64,
}

/// How many Chromium processes outside `ours` (a browser's tree) run on the machine: their
/// share of the binary's pages lowers every PSS figure of ours, so a measurement notes them.
/// Processes whose command starts with a path ending in `chromium`, `chrome` or
/// `headless_shell` count.
pub fn other_chromiums(ours: Option<u32>) -> usize {
    let mine: HashSet<u32> = ours.map(tree).unwrap_or_default().into_iter().collect();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    (entries.flatten())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| !mine.contains(pid))
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmd| is_chromium(&cmd))
        })
        .count()
}

/// Whether a `/proc/<pid>/cmdline` is a Chromium process's (see [`other_chromiums`]).
fn is_chromium(cmdline: &[u8]) -> bool {
    let exe = cmdline
        .split(|b| *b == 0 || *b == b' ')
        .next()
        .unwrap_or(&[]);
    let name = exe.rsplit(|b| *b == b'/').next().unwrap_or(&[]);
    matches!(name, b"chromium" | b"chrome" | b"headless_shell")
}

/// A browser's zygotes: its children with `--type=zygote`. Only the browser's own children
/// count, because a process a zygote just forked still carries the zygote's command line until
/// it becomes the renderer or utility it was forked for.
pub fn zygotes(browser: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    (entries.flatten())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| is_live_zygote(*pid, browser))
        .collect()
}

/// Whether `pid` runs: it exists and is no zombie.
pub fn is_running(pid: u32) -> bool {
    stat_fields(pid).is_some_and(|(state, _)| state != "Z" && state != "X")
}

/// The state and parent pid of `pid`, from `/proc/<pid>/stat`.
fn stat_fields(pid: u32) -> Option<(String, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the parenthesised command name (which may hold spaces): the state, the parent.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.to_owned();
    Some((state, fields.next()?.parse().ok()?))
}

/// Whether `pid` is still a running zygote of `browser`: its child, not exited, not a zombie,
/// not a pid reused by another process.
pub fn is_live_zygote(pid: u32, browser: u32) -> bool {
    stat_fields(pid)
        .is_some_and(|(state, parent)| state != "Z" && state != "X" && parent == browser)
        && process_type(pid).as_deref() == Some("zygote")
}

/// A Chromium child's `--type=` (`renderer`, `utility`, `gpu-process`, `zygote`), `None` for
/// the browser process or an unreadable one. Chromium rewrites its process title, so the
/// arguments may be one space-separated string.
fn process_type(pid: u32) -> Option<String> {
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    cmd.split(|b| *b == 0 || *b == b' ')
        .find_map(|arg| arg.strip_prefix(b"--type="))
        .map(|t| String::from_utf8_lossy(t).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_has_memory_and_is_in_its_tree() {
        let me = std::process::id();
        assert!(tree(me).contains(&me));
        assert!(pss_kib(me) > 0);
        assert_eq!(pss_kib(u32::MAX), 0);
        // A running Rust test has a heap, and its anonymous pages are part of its PSS.
        let mem = rollup(me);
        assert!(mem.anon_kib > 0, "{mem:?}");
        assert_eq!(rollup(u32::MAX), Rollup::default());
        // This process is no Chromium: it is the tree's root, with no renderer or utility.
        let split = tree_pss_split(me);
        assert!(split.browser_process_kib > 0);
        assert!(split.browser_process_kib <= split.total_kib);
        assert_eq!(
            (split.renderers, split.renderer_kib, split.utility_kib),
            (0, 0, 0)
        );
        assert_eq!((split.zygotes, split.zygote_kib), (0, 0));
        assert!(zygotes(me).is_empty());
        assert!(!is_live_zygote(me, std::os::unix::process::parent_id()));
        assert!(!is_live_zygote(u32::MAX, me));
        assert!(is_running(me));
        assert!(!is_running(u32::MAX));
        assert!(split.browser_process_anon_kib > 0);
        assert!(split.browser_process_anon_kib <= split.total_anon_kib);
        assert_eq!(process_type(me), None);
    }

    #[test]
    fn chromium_processes_are_told_by_their_executable() {
        let renderer = b"/usr/lib/chromium/chromium --type=renderer --lang=en-US";
        assert!(is_chromium(renderer));
        assert!(is_chromium(b"/opt/chrome/chrome\0--headless\0"));
        assert!(!is_chromium(b"/usr/bin/switchyard\0bench\0--chromium"));
        assert!(!is_chromium(b"cargo\0nextest\0run\0chromium"));
        assert!(!is_chromium(b""));
    }
}
