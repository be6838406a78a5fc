//! `vrrp_script` as keepalived runs it: every `interval`, as its user, a
//! hard `timeout` (SIGTERM to the process group, SIGKILL 2 s later; a
//! failure), only exit status 0 is success, never two runs at once.
//!
//! Deviation (compat/DEVIATIONS.md): exit status 126/127 ("cannot
//! execute"/"not found") is a failure; keepalived's system() path counts it
//! as success.

use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::task::JoinHandle;

use super::check::{periodic, Check, Outcome, Reporter};
use super::exec;
use super::security::RunAs;

/// keepalived's grace between SIGTERM and SIGKILL of a timed-out script.
pub const KILL_GRACE: Duration = Duration::from_secs(2);

pub struct ScriptCheck {
    pub name: String,
    pub argv: Vec<String>,
    pub who: RunAs,
    pub interval: Duration,
    pub timeout: Duration,
}

/// A running script: dropping it (daemon stop, reload) sends SIGTERM to
/// its process group, as keepalived does to its scripts when it stops.
struct Running(tokio::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            exec::signal_group(&self.0, Signal::SIGTERM);
        }
    }
}

/// Runs the script once and says how it went.
pub async fn run_once(argv: &[String], who: &RunAs, timeout: Duration) -> Outcome {
    match run_status(argv, who, timeout).await {
        Ok(0) => Outcome::Success,
        Ok(c) => Outcome::Failure(format!("exited with status {c}")),
        Err(why) => Outcome::Failure(why),
    }
}

/// Runs the script once: its exit status, or why it has none (a signal,
/// the timeout, a failure to start).
pub async fn run_status(argv: &[String], who: &RunAs, timeout: Duration) -> Result<i32, String> {
    let mut running = match exec::spawn(argv, who, &[]) {
        Ok(c) => Running(c),
        Err(e) => return Err(format!("cannot run: {e}")),
    };
    let child = &mut running.0;
    match tokio::time::timeout(timeout, child.wait()).await {
        Ok(Ok(status)) => match status.code() {
            Some(c) => Ok(c),
            None => {
                use std::os::unix::process::ExitStatusExt;
                Err(format!("failed (due to signal {})", status.signal().unwrap_or(0)))
            }
        },
        Ok(Err(e)) => Err(format!("wait failed: {e}")),
        Err(_) => {
            exec::signal_group(child, Signal::SIGTERM);
            if tokio::time::timeout(KILL_GRACE, child.wait()).await.is_err() {
                exec::signal_group(child, Signal::SIGKILL);
                let _ = child.wait().await;
            }
            Err("timed_out".into())
        }
    }
}

impl Check for ScriptCheck {
    fn start(self: Box<Self>, reporter: Reporter) -> JoinHandle<()> {
        tokio::spawn(async move {
            let s = *self;
            periodic(s.interval, reporter, || run_once(&s.argv, &s.who, s.timeout)).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn me() -> RunAs {
        RunAs {
            uid: nix::unistd::Uid::effective().as_raw(),
            gid: nix::unistd::Gid::effective().as_raw(),
            name: "me".into(),
        }
    }

    fn sh(cmd: &str) -> Vec<String> {
        vec!["/bin/sh".into(), "-c".into(), cmd.into()]
    }

    #[tokio::test]
    async fn exit_status_decides() {
        assert_eq!(
            run_once(&sh("exit 0"), &me(), Duration::from_secs(5)).await,
            Outcome::Success
        );
        assert_eq!(
            run_once(&sh("exit 2"), &me(), Duration::from_secs(5)).await,
            Outcome::Failure("exited with status 2".into())
        );
        // 127: command not found is a failure (keepalived's system() path says success).
        assert_eq!(
            run_once(&sh("exec /nonexistent/x"), &me(), Duration::from_secs(5)).await,
            Outcome::Failure("exited with status 127".into())
        );
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let marker = dir.path().join("grandchild.pid");
        // The script starts a grandchild that would outlive a plain kill.
        let cmd = format!("sleep 30 & echo $! > {}; wait", marker.display());
        let t = Instant::now();
        let out = run_once(&sh(&cmd), &me(), Duration::from_millis(300)).await;
        assert_eq!(out, Outcome::Failure("timed_out".into()));
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "TERM was enough: {:?}",
            t.elapsed()
        );
        let pid: i32 = std::fs::read_to_string(&marker)
            .unwrap_or_default()
            .trim()
            .parse()
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let alive = pid > 0
            && nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ");
        assert!(!alive, "grandchild {pid} survived");
    }

    #[tokio::test]
    async fn term_ignoring_scripts_are_killed_after_the_grace() {
        let t = Instant::now();
        let out = run_once(&sh("trap '' TERM; sleep 30"), &me(), Duration::from_millis(200)).await;
        assert_eq!(out, Outcome::Failure("timed_out".into()));
        let took = t.elapsed();
        assert!(
            took >= KILL_GRACE && took < KILL_GRACE + Duration::from_secs(3),
            "{took:?}"
        );
    }
}
