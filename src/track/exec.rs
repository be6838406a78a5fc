//! Starting scripts as keepalived does: argv as configured, as the script's
//! user (supplementary groups dropped), in their own process group, stdio
//! on /dev/null, environment inherited. `<`-redirect pseudo-scripts and
//! files without a `#!` line run through `/bin/sh`.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Stdio;

use tokio::process::{Child, Command};

use super::security::{is_shell_redirect, RunAs};

/// How keepalived's `system()` path quotes a command line for /bin/sh.
fn shell_line(argv: &[String]) -> String {
    if argv.len() == 1 && is_shell_redirect(&argv[0]) {
        return argv[0].clone();
    }
    argv.iter()
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

fn command(program: &str, args: &[String], who: &RunAs, env: &[(String, String)]) -> Command {
    let mut std_cmd = std::process::Command::new(program);
    std_cmd
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let me = nix::unistd::Uid::effective();
    if me.is_root() && (who.uid != 0 || who.gid != 0) {
        // std drops supplementary groups when it changes the uid as root.
        std_cmd.uid(who.uid).gid(who.gid);
    }
    for (k, v) in env {
        std_cmd.env(k, v);
    }
    let mut cmd = Command::from(std_cmd);
    cmd.kill_on_drop(false);
    cmd
}

/// Spawns `argv` as `who`. The child leads its own process group, so a
/// timeout can signal the whole group.
pub fn spawn(argv: &[String], who: &RunAs, env: &[(String, String)]) -> io::Result<Child> {
    let Some(first) = argv.first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    };
    if is_shell_redirect(first) {
        return command("/bin/sh", &["-c".to_string(), shell_line(argv)], who, env).spawn();
    }
    match command(first, &argv[1..], who, env).spawn() {
        // A file without `#!` is not executable by execve; keepalived runs
        // it through system(), i.e. /bin/sh.
        Err(e) if e.raw_os_error() == Some(libc::ENOEXEC) => {
            command("/bin/sh", &["-c".to_string(), shell_line(argv)], who, env).spawn()
        }
        other => other,
    }
}

/// Sends `sig` to the child's whole process group.
pub fn signal_group(child: &Child, sig: nix::sys::signal::Signal) {
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid as i32), sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_line(&["</dev/tcp/127.0.0.1/80".into()]), "</dev/tcp/127.0.0.1/80");
        assert_eq!(
            shell_line(&["/x".into(), "a b".into(), "it's".into()]),
            "'/x' 'a b' 'it'\\''s'"
        );
    }

    #[tokio::test]
    async fn runs_with_exit_status() {
        let who = RunAs {
            uid: nix::unistd::Uid::effective().as_raw(),
            gid: nix::unistd::Gid::effective().as_raw(),
            name: "me".into(),
        };
        let mut ok =
            spawn(&["/bin/sh".into(), "-c".into(), "exit 0".into()], &who, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(ok.wait().await.map(|s| s.success()).unwrap_or(false));
        let mut bad =
            spawn(&["/bin/sh".into(), "-c".into(), "exit 3".into()], &who, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bad.wait().await.ok().and_then(|s| s.code()), Some(3));
    }

    #[tokio::test]
    async fn shebang_less_files_run_through_sh() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let f = dir.path().join("noshebang");
        std::fs::write(&f, "exit 7\n").unwrap_or_else(|e| panic!("{e}"));
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap_or_else(|e| panic!("{e}"));
        let who = RunAs {
            uid: nix::unistd::Uid::effective().as_raw(),
            gid: nix::unistd::Gid::effective().as_raw(),
            name: "me".into(),
        };
        let mut c = spawn(&[f.to_string_lossy().to_string()], &who, &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.wait().await.ok().and_then(|s| s.code()), Some(7));
    }
}
