//! `vrrp_track_process`: is a quorum of matching processes running?
//!
//! keepalived uses the kernel's process connector, which does not work
//! inside a network namespace other than the initial one (reference §1.5);
//! rkeepalived scans /proc, which works everywhere.

use std::path::Path;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::check::{Check, Outcome, Reporter};
use crate::config::model::{ParamMatch, TrackProcess};

/// How often /proc is scanned.
pub const SCAN_INTERVAL: Duration = Duration::from_millis(500);

pub struct ProcessCheck {
    pub spec: TrackProcess,
    pub proc_root: std::path::PathBuf,
}

/// Does a process with this `comm` and command line match?
pub fn matches(spec: &TrackProcess, comm: &str, cmdline: &[String]) -> bool {
    let name_ok = if spec.full_command {
        cmdline.first().is_some_and(|a| a == &spec.process)
    } else {
        // comm is truncated to 15 bytes by the kernel.
        let short: String = spec.process.chars().take(15).collect();
        comm == short
            || cmdline
                .first()
                .map(|a| {
                    Path::new(a)
                        .file_name()
                        .map(|f| f.to_string_lossy().to_string())
                        .unwrap_or_default()
                })
                .is_some_and(|b| b == spec.process)
    };
    if !name_ok {
        return false;
    }
    let Some(params) = &spec.params else {
        return true;
    };
    let args = cmdline.get(1..).unwrap_or(&[]);
    match spec.param_match {
        ParamMatch::Exact => args == params.as_slice(),
        ParamMatch::Initial => args.starts_with(params),
        ParamMatch::Partial => params.is_empty() || args.windows(params.len()).any(|w| w == params.as_slice()),
    }
}

/// Counts matching processes under `proc_root` (normally /proc).
pub fn count(spec: &TrackProcess, proc_root: &Path) -> u32 {
    let Ok(dir) = std::fs::read_dir(proc_root) else {
        return 0;
    };
    let mut n = 0;
    for e in dir.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().filter(|s| s.bytes().all(|b| b.is_ascii_digit())) else {
            continue;
        };
        let base = proc_root.join(pid);
        let comm = std::fs::read_to_string(base.join("comm")).unwrap_or_default();
        let cmdline: Vec<String> = std::fs::read(base.join("cmdline"))
            .unwrap_or_default()
            .split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).to_string())
            .collect();
        if matches(spec, comm.trim_end(), &cmdline) {
            n += 1;
        }
    }
    n
}

impl Check for ProcessCheck {
    fn start(self: Box<Self>, reporter: Reporter) -> JoinHandle<()> {
        tokio::spawn(async move {
            let s = *self;
            let quorum = |n: u32| n >= s.spec.quorum && n <= s.spec.quorum_max;
            let mut reported: Option<bool> = None;
            // A change must hold for fork_delay (up) / terminate_delay (down)
            // before it is reported.
            let mut pending: Option<(bool, tokio::time::Instant)> = None;
            let spec = std::sync::Arc::new(s.spec.clone());
            let root = std::sync::Arc::new(s.proc_root.clone());
            loop {
                // Scanning /proc is blocking file I/O: off the protocol thread.
                let (sp, rt) = (spec.clone(), root.clone());
                let n = tokio::task::spawn_blocking(move || count(&sp, &rt)).await.unwrap_or(0);
                let up = quorum(n);
                let now = tokio::time::Instant::now();
                if reported.is_none() {
                    reported = Some(up);
                    if !reporter.report(Outcome::Up(up)) {
                        return;
                    }
                } else if Some(up) != reported {
                    let delay = if up { s.spec.fork_delay } else { s.spec.terminate_delay };
                    let since = match pending {
                        Some((p, t)) if p == up => t,
                        _ => {
                            pending = Some((up, now));
                            now
                        }
                    };
                    if now - since >= delay {
                        reported = Some(up);
                        pending = None;
                        if !reporter.report(Outcome::Up(up)) {
                            return;
                        }
                    }
                } else {
                    pending = None;
                }
                tokio::time::sleep(SCAN_INTERVAL).await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(process: &str, params: Option<&[&str]>, pm: ParamMatch, full: bool) -> TrackProcess {
        TrackProcess {
            name: "p".into(),
            span: Default::default(),
            process: process.into(),
            params: params.map(|p| p.iter().map(|s| s.to_string()).collect()),
            param_match: pm,
            full_command: full,
            weight: 0,
            reverse: false,
            quorum: 1,
            quorum_max: u32::MAX,
            fork_delay: Duration::ZERO,
            terminate_delay: Duration::ZERO,
        }
    }

    fn argv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn matching_rules() {
        let cmd = argv(&["/usr/sbin/haproxy", "-f", "/etc/haproxy/haproxy.cfg", "-D"]);
        assert!(matches(
            &spec("haproxy", None, ParamMatch::Exact, false),
            "haproxy",
            &cmd
        ));
        assert!(!matches(
            &spec("nginx", None, ParamMatch::Exact, false),
            "haproxy",
            &cmd
        ));
        assert!(matches(
            &spec(
                "haproxy",
                Some(&["-f", "/etc/haproxy/haproxy.cfg", "-D"]),
                ParamMatch::Exact,
                false
            ),
            "haproxy",
            &cmd
        ));
        assert!(!matches(
            &spec("haproxy", Some(&["-f"]), ParamMatch::Exact, false),
            "haproxy",
            &cmd
        ));
        assert!(matches(
            &spec("haproxy", Some(&["-f"]), ParamMatch::Initial, false),
            "haproxy",
            &cmd
        ));
        assert!(matches(
            &spec(
                "haproxy",
                Some(&["/etc/haproxy/haproxy.cfg", "-D"]),
                ParamMatch::Partial,
                false
            ),
            "haproxy",
            &cmd
        ));
        assert!(matches(
            &spec("/usr/sbin/haproxy", None, ParamMatch::Exact, true),
            "haproxy",
            &cmd
        ));
        assert!(!matches(
            &spec("haproxy", None, ParamMatch::Exact, true),
            "haproxy",
            &cmd
        ));
        // comm is 15 characters at most.
        assert!(matches(
            &spec("a-very-long-process-name", None, ParamMatch::Exact, false),
            "a-very-long-pro",
            &argv(&["x"])
        ));
    }

    #[test]
    fn counts_real_processes() {
        // This test process itself is running.
        let me = std::fs::read_to_string("/proc/self/comm").unwrap_or_default();
        let s = spec(me.trim_end(), None, ParamMatch::Exact, false);
        assert!(count(&s, Path::new("/proc")) >= 1);
        assert_eq!(
            count(
                &spec("no-such-process-xyz", None, ParamMatch::Exact, false),
                Path::new("/proc")
            ),
            0
        );
    }
}
