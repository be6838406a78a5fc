//! Process-level set-up: pid files, daemonizing, the network namespace.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The pid files this process holds, removed when it ends.
pub struct PidFiles {
    paths: Vec<PathBuf>,
}

/// The pid recorded in `path` if that process is alive.
pub fn live_pid(path: &Path) -> Option<i32> {
    let text = fs::read_to_string(path).ok()?;
    let pid: i32 = text.trim().parse().ok()?;
    if pid <= 0 || pid == std::process::id() as i32 {
        return None;
    }
    // Signal 0 probes for existence (EPERM also means it exists).
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => Some(pid),
        Err(_) => None,
    }
}

impl PidFiles {
    /// Refuses when a live process holds any of them, as keepalived does.
    pub fn check(paths: &[PathBuf]) -> Result<(), String> {
        for p in paths {
            if let Some(pid) = live_pid(p) {
                return Err(format!("daemon is already running: {} holds pid {pid}", p.display()));
            }
        }
        Ok(())
    }

    /// Writes our pid to every file (the VRRP pid file gets the same pid:
    /// rkeepalived is one process).
    pub fn write(paths: Vec<PathBuf>) -> io::Result<PidFiles> {
        let pid = std::process::id();
        for p in &paths {
            if let Some(dir) = p.parent() {
                if !dir.as_os_str().is_empty() {
                    fs::create_dir_all(dir)?;
                }
            }
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o644)
                .open(p)?;
            writeln!(f, "{pid}")?;
        }
        Ok(PidFiles { paths })
    }
}

impl Drop for PidFiles {
    fn drop(&mut self) {
        for p in &self.paths {
            // Only remove a file that still names us.
            if fs::read_to_string(p).ok().and_then(|t| t.trim().parse::<u32>().ok()) == Some(std::process::id()) {
                let _ = fs::remove_file(p);
            }
        }
    }
}

/// The pid file paths keepalived would use: `-p`/`-r`, else
/// /run/keepalived.pid and /run/vrrp.pid, or per-instance names under
/// /run/keepalived/ with `instance NAME` / `use_pid_dir`.
pub fn pid_paths(
    pid: Option<&Path>,
    vrrp_pid: Option<&Path>,
    instance: Option<&str>,
    use_pid_dir: bool,
) -> Vec<PathBuf> {
    let (main, vrrp) = match (instance, use_pid_dir) {
        (Some(i), _) => (
            PathBuf::from(format!("/run/keepalived/keepalived_{i}.pid")),
            PathBuf::from(format!("/run/keepalived/vrrp_{i}.pid")),
        ),
        (None, true) => (
            PathBuf::from("/run/keepalived/keepalived.pid"),
            PathBuf::from("/run/keepalived/vrrp.pid"),
        ),
        (None, false) => (
            PathBuf::from(crate::cli::DEFAULT_PID),
            PathBuf::from(crate::cli::DEFAULT_VRRP_PID),
        ),
    };
    let mut v = vec![pid.map(Path::to_path_buf).unwrap_or(main)];
    let r = vrrp_pid.map(Path::to_path_buf).unwrap_or(vrrp);
    if !v.contains(&r) {
        v.push(r);
    }
    v
}

/// Enters the named network namespace (`-s NAME`, `net_namespace NAME`).
pub fn enter_namespace(name: &str) -> io::Result<()> {
    let path = Path::new("/var/run/netns").join(name);
    let f = fs::File::open(&path).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
}

/// Detaches into the background: fork, new session, stdio to /dev/null.
/// Must run before any thread exists.
#[allow(unsafe_code)]
pub fn daemonize() -> io::Result<()> {
    // SAFETY: called from main before the tokio runtime or any other thread
    // is created, so the child is a faithful single-threaded copy.
    match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
        nix::unistd::ForkResult::Parent { .. } => std::process::exit(0),
        nix::unistd::ForkResult::Child => {}
    }
    nix::unistd::setsid().map_err(io::Error::from)?;
    let null = fs::OpenOptions::new().read(true).write(true).open("/dev/null")?;
    for fd in [0, 1, 2] {
        let mut target = unsafe_fd(fd);
        nix::unistd::dup2(&null, &mut target).map_err(io::Error::from)?;
        std::mem::forget(target);
    }
    std::env::set_current_dir("/")?;
    Ok(())
}

#[allow(unsafe_code)]
fn unsafe_fd(fd: i32) -> std::os::fd::OwnedFd {
    use std::os::fd::FromRawFd;
    // SAFETY: 0, 1 and 2 are always open in a process; the caller forgets
    // the OwnedFd so it is never closed by us.
    unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }
}

/// The glibc tunable the daemon runs with: no per-thread cache of freed
/// chunks. glibc's tcache keeps up to 7 freed chunks of each small size
/// out of the heap's free lists, where `malloc_trim` cannot reach them and
/// neighbours cannot merge with them; each reload scattered a few more,
/// and the daemon's anonymous memory crept up by 60–90 kB over half an
/// hour of reloads. Without it the same reload loop stays flat, 60 kB
/// lower. The protocol loop allocates next to nothing per advert, so the
/// cache bought no speed (callgrind: see docs/benchmarks.md).
const NO_TCACHE: &str = "glibc.malloc.tcache_count=0";
/// Set across the re-exec: the operator's own GLIBC_TUNABLES (possibly
/// empty), restored afterwards so check and notify scripts inherit the
/// environment the daemon was started with.
const TUNABLES_BEFORE: &str = "RKEEPALIVED_GLIBC_TUNABLES_BEFORE";

/// Runs the daemon with [`NO_TCACHE`]: glibc reads tunables only when a
/// program starts, so the daemon execs itself once with the tunable added
/// (same pid, arguments and descriptors), before any thread or fork. An
/// operator's GLIBC_TUNABLES that already names `tcache_count` is left
/// alone. If the exec fails, the daemon runs on as it is.
pub fn exec_without_tcache() {
    if let Some(before) = std::env::var_os(TUNABLES_BEFORE) {
        // The second start: hand the scripts the original environment.
        std::env::remove_var(TUNABLES_BEFORE);
        if before.is_empty() {
            std::env::remove_var("GLIBC_TUNABLES");
        } else {
            std::env::set_var("GLIBC_TUNABLES", before);
        }
        return;
    }
    let before = std::env::var_os("GLIBC_TUNABLES").unwrap_or_default();
    if before.to_string_lossy().contains("tcache_count") {
        return;
    }
    let tunables = if before.is_empty() {
        NO_TCACHE.to_string()
    } else {
        format!("{}:{NO_TCACHE}", before.to_string_lossy())
    };
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    use std::os::unix::process::CommandExt;
    // The binary by its own path: exec'ing /proc/self/exe would name the
    // process "exe" (comm), and `pgrep -x rkeepalived`, ps and monitoring
    // would lose it. A binary replaced on disk since ("... (deleted)")
    // is only reachable through /proc/self/exe.
    let exe = std::fs::read_link("/proc/self/exe")
        .ok()
        .filter(|p| p.exists() && !p.to_string_lossy().ends_with(" (deleted)"))
        .unwrap_or_else(|| "/proc/self/exe".into());
    let err = std::process::Command::new(exe)
        .arg0(argv0)
        .args(args)
        .env("GLIBC_TUNABLES", tunables)
        .env(TUNABLES_BEFORE, &before)
        .exec();
    eprintln!("rkeepalived: cannot re-exec without glibc's tcache ({err}); running with it");
}

/// Hands the heap's free pages back to the kernel, which lowers the
/// daemon's anonymous memory: after start-up and each reload (the
/// config's text, tokens and tree are transient, and most of the peak),
/// and once a minute (in a 30-minute soak the live heap stayed within
/// 160 bytes while glibc kept freed pages, and anonymous memory wandered
/// up by 7 %).
#[allow(unsafe_code)]
pub fn release_free_memory() {
    // SAFETY: malloc_trim only walks glibc's own arenas; any thread may
    // call it at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Timer slack down from the kernel's default 50 µs to 1 µs: the
/// protocol loop's timer wakes that much later at most, which is 0.5 % of
/// a centisecond advert interval by default.
#[allow(unsafe_code)]
pub fn tighten_timer_slack() {
    // SAFETY: PR_SET_TIMERSLACK takes a plain integer and changes only
    // this thread's timer slack.
    let rc = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000 as libc::c_ulong, 0, 0, 0) };
    if rc != 0 {
        tracing::debug!("timer slack unchanged: {}", std::io::Error::last_os_error());
    }
}

/// Tells systemd (Type=notify) that start-up or a reload finished.
pub fn notify_systemd_ready() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
}

pub fn notify_systemd_reloading() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading]);
}

/// `WATCHDOG=1`, sent by the protocol loop itself: a stalled loop stops it.
pub fn notify_systemd_watchdog() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
}

/// `STATUS=`: a one-line summary for `systemctl status`.
pub fn notify_systemd_status(text: &str) {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(text)]);
}

pub fn notify_systemd_stopping() {
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
}

/// Time since the machine booted (`vrrp_delay_after_boot`).
pub fn uptime() -> std::time::Duration {
    nix::sys::sysinfo::sysinfo()
        .map(|i| i.uptime())
        .unwrap_or(std::time::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_pid_file_names() {
        assert_eq!(
            pid_paths(None, None, None, false),
            [PathBuf::from("/run/keepalived.pid"), PathBuf::from("/run/vrrp.pid")]
        );
        assert_eq!(
            pid_paths(None, None, Some("lb"), false),
            [
                PathBuf::from("/run/keepalived/keepalived_lb.pid"),
                PathBuf::from("/run/keepalived/vrrp_lb.pid")
            ]
        );
        assert_eq!(
            pid_paths(Some(Path::new("/tmp/a")), Some(Path::new("/tmp/a")), None, false),
            [PathBuf::from("/tmp/a")]
        );
    }

    #[test]
    fn refuses_a_live_holder_and_ignores_a_stale_one() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let live = dir.path().join("live.pid");
        // pid 1 exists in every pid namespace.
        fs::write(&live, "1\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(PidFiles::check(std::slice::from_ref(&live)).is_err());
        let stale = dir.path().join("stale.pid");
        fs::write(&stale, "999999999\n").unwrap_or_else(|e| panic!("{e}"));
        assert!(PidFiles::check(std::slice::from_ref(&stale)).is_ok());
        let held = PidFiles::write(vec![stale.clone()]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            fs::read_to_string(&stale).unwrap_or_default().trim(),
            std::process::id().to_string()
        );
        drop(held);
        assert!(!stale.exists());
    }
}
