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

/// After start-up or a reload: hands the heap pages freed since (the
/// config's text, tokens and tree: transient, and most of the peak) back
/// to the kernel, and unmaps the binary's code pages, most of which only
/// start-up ran (argument and config parsing, netlink set-up). They stay
/// in the page cache: code that runs again comes back with a minor fault
/// (no disk read), so what stays resident is the code the daemon runs.
#[allow(unsafe_code)]
pub fn release_startup_memory() {
    // SAFETY: malloc_trim only walks glibc's own arenas; any thread may
    // call it at any time.
    unsafe {
        libc::malloc_trim(0);
    }
    for (start, len) in own_code_segments() {
        // SAFETY: the range is a read-only, executable, file-backed
        // mapping of our own binary: never written, so dropping its pages
        // loses nothing, and the next use faults them back in from the
        // file. Writable and relocated (RELRO) segments are never touched.
        unsafe {
            libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED);
        }
    }
}

/// The `r-xp` mappings of the running executable, from /proc/self/maps.
fn own_code_segments() -> Vec<(usize, usize)> {
    let Ok(exe) = fs::read_link("/proc/self/exe") else {
        return Vec::new();
    };
    let maps = fs::read_to_string("/proc/self/maps").unwrap_or_default();
    code_segments(&maps, &exe.to_string_lossy())
}

fn code_segments(maps: &str, exe: &str) -> Vec<(usize, usize)> {
    maps.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let range = f.next()?;
            let perms = f.next()?;
            // The path is the rest of the line (it may hold spaces, or end
            // in " (deleted)" after an upgrade, as the exe link does).
            let path = &l[l.find('/')?..];
            if perms != "r-xp" || path != exe {
                return None;
            }
            let (a, b) = range.split_once('-')?;
            let (a, b) = (usize::from_str_radix(a, 16).ok()?, usize::from_str_radix(b, 16).ok()?);
            (b > a).then_some((a, b - a))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_segments_are_the_executables_r_xp_mappings() {
        let maps = "\
55d81a602000-55d81a779000 r--p 00000000 fe:00 1234                       /usr/sbin/rk daemon
55d81a779000-55d81aad4000 r-xp 00177000 fe:00 1234                       /usr/sbin/rk daemon
55d81aad4000-55d81ab14000 r--p 004d2000 fe:00 1234                       /usr/sbin/rk daemon
55d81ab14000-55d81ab16000 rw-p 00512000 fe:00 1234                       /usr/sbin/rk daemon
7fe7b4901000-7fe7b4a57000 r-xp 00026000 fe:00 326279                     /usr/lib/x86_64-linux-gnu/libc.so.6
7ffc5ea7c000-7ffc5ea9d000 rw-p 00000000 00:00 0                          [stack]
";
        assert_eq!(
            code_segments(maps, "/usr/sbin/rk daemon"),
            [(0x55d81a779000, 0x55d81aad4000 - 0x55d81a779000)]
        );
        assert!(code_segments(maps, "/usr/sbin/rk").is_empty());
    }

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
