//! `check_plugin`: checks implemented by shared libraries behind the C ABI
//! of plugins/include/rkeepalived_plugin.h, one more kind of [`Check`].
//!
//! Isolated (the default), a plugin runs in a helper process — this
//! binary started as `--plugin-helper PATH` under `script_user` — that the
//! check supervises: a crash, a hang past the timeout or a panic fails only
//! this check, and the helper restarts with backoff. In-process
//! (`isolate no`) it runs on a thread of its own in the daemon: cheaper,
//! and as trusted as the daemon itself.

pub mod abi;
pub mod helper;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::config::model::{CheckCommon, CheckPlugin, GlobalDefs};

use super::check::{Check, Outcome, Reporter};
use super::security::{self, RunAs};

/// The helper restarts after a crash or hang: from this delay, doubling.
const BACKOFF_START: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(30);

/// Where `plugin` points: an absolute path, or a bare name in
/// `plugin_dir` (NAME, then libNAME.so).
pub fn resolve(plugin: &str, plugin_dir: &Path) -> Result<PathBuf, String> {
    if plugin.starts_with('/') {
        return Ok(PathBuf::from(plugin));
    }
    if plugin.contains('/') {
        return Err(format!("'{plugin}' is neither absolute nor a bare name"));
    }
    let candidates = [plugin_dir.join(plugin), plugin_dir.join(format!("lib{plugin}.so"))];
    candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .ok_or_else(|| format!("'{plugin}' not found in plugin_dir {}", plugin_dir.display()))
}

/// Why a plugin may not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The file or a directory above it is writable by someone but root.
    Insecure(String),
    /// Not found, not loadable, not a plugin, an unknown ABI version.
    Unusable(String),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Insecure(m) | Refused::Unusable(m) => f.write_str(m),
        }
    }
}

/// The plugin's path after the security rules: it exists, and neither it
/// nor a directory above it is writable by anyone but root.
pub fn secure_path(p: &CheckPlugin, g: &GlobalDefs) -> Result<PathBuf, Refused> {
    let path = resolve(&p.plugin, &g.plugin_dir).map_err(Refused::Unusable)?;
    if !path.is_file() {
        return Err(Refused::Unusable(format!("{}: no such file", path.display())));
    }
    if let Some(why) = security::unsafe_component(&path) {
        return Err(Refused::Insecure(format!("{}: refused, {why}", path.display())));
    }
    Ok(path)
}

fn helper_command(path: &Path, who: &RunAs, probe: bool) -> std::io::Result<std::process::Command> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()?;
    let mut c = std::process::Command::new(exe);
    c.arg("--plugin-helper").arg(path);
    if probe {
        c.arg("--plugin-probe");
    }
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    if nix::unistd::Uid::effective().is_root() && (who.uid != 0 || who.gid != 0) {
        c.uid(who.uid).gid(who.gid);
    }
    Ok(c)
}

/// Everything `-t` and start-up check before a plugin may run: path,
/// permissions, user, and — in a throw-away helper process, so no plugin
/// code runs in the daemon — that the library is a plugin of an ABI
/// version this rkeepalived knows. Returns the path and the user.
pub fn verify(p: &CheckPlugin, g: &GlobalDefs) -> Result<(PathBuf, RunAs), Refused> {
    let path = secure_path(p, g)?;
    let who = security::default_user(g).map_err(Refused::Unusable)?;
    let out = helper_command(&path, &who, true)
        .and_then(|mut c| c.stdin(Stdio::null()).output())
        .map_err(|e| Refused::Unusable(format!("cannot run the plugin helper: {e}")))?;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    if v["ok"] == json!(true) {
        Ok((path, who))
    } else if let Some(m) = v["message"].as_str() {
        Err(Refused::Unusable(format!("{}: {m}", path.display())))
    } else {
        Err(Refused::Unusable(format!(
            "{}: the plugin crashed while loading ({})",
            path.display(),
            out.status
        )))
    }
}

pub struct PluginCheck {
    pub name: String,
    pub path: PathBuf,
    pub config_json: String,
    pub common: CheckCommon,
    pub isolate: bool,
    pub who: RunAs,
}

impl Check for PluginCheck {
    fn start(self: Box<Self>, reporter: Reporter) -> JoinHandle<()> {
        tokio::spawn(async move {
            if self.isolate {
                self.run_isolated(reporter).await
            } else {
                self.run_in_process(reporter).await
            }
        })
    }
}

/// A running helper process.
struct Helper {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Helper {
    async fn ask(&mut self, msg: &Value, timeout: Duration) -> Result<Value, String> {
        let send = async {
            self.stdin.write_all(format!("{msg}\n").as_bytes()).await?;
            self.stdin.flush().await?;
            self.lines.next_line().await
        };
        match tokio::time::timeout(timeout, send).await {
            Err(_) => Err(format!("no answer within {timeout:?}")),
            Ok(Err(e)) => Err(format!("helper gone: {e}")),
            Ok(Ok(None)) => {
                let status = self.child.wait().await.map(|s| s.to_string()).unwrap_or_default();
                Err(format!("plugin helper died ({status})"))
            }
            Ok(Ok(Some(line))) => serde_json::from_str(&line).map_err(|e| format!("bad answer from helper: {e}")),
        }
    }
}

fn outcome_of(v: &Value) -> (Outcome, Option<String>) {
    let message = v["message"].as_str().map(str::to_string);
    if v["ok"] == json!(true) {
        (Outcome::Success, message)
    } else {
        let why = message.clone().unwrap_or_else(|| "failed".into());
        (Outcome::Failure(why), message)
    }
}

impl PluginCheck {
    async fn start_helper(&self, timeout: Duration) -> Result<Helper, String> {
        let mut cmd =
            tokio::process::Command::from(helper_command(&self.path, &self.who, false).map_err(|e| e.to_string())?);
        cmd.kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start the plugin helper: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err("plugin helper without pipes".into());
        };
        let mut h = Helper {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        };
        let v = h.ask(&json!({ "config": self.config_json }), timeout).await?;
        if v["ok"] == json!(true) {
            Ok(h)
        } else {
            Err(v["message"].as_str().unwrap_or("create failed").to_string())
        }
    }

    async fn run_isolated(&self, reporter: Reporter) {
        let interval = self.common.interval;
        let timeout = self.common.effective_timeout();
        let mut backoff = BACKOFF_START;
        let mut next = tokio::time::Instant::now();
        loop {
            tokio::time::sleep_until(next).await;
            let mut helper = match self.start_helper(timeout).await {
                Ok(h) => h,
                Err(e) => {
                    if !reporter.report(Outcome::Failure(e)) {
                        return;
                    }
                    next = tokio::time::Instant::now() + backoff.max(interval);
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            };
            loop {
                tokio::time::sleep_until(next).await;
                let started = tokio::time::Instant::now();
                next = started + interval;
                match helper
                    .ask(&json!({ "timeout_ms": timeout.as_millis() as u64 }), timeout)
                    .await
                {
                    Ok(v) => {
                        let (outcome, message) = outcome_of(&v);
                        if outcome == Outcome::Success {
                            backoff = BACKOFF_START;
                        }
                        if !reporter.report_with(outcome, json!({ "message": message })) {
                            return;
                        }
                    }
                    Err(e) => {
                        // Crashed, hung or garbled: this check fails; the
                        // helper (and its process group) goes, a new one
                        // starts after the backoff.
                        crate::track::exec::signal_group(&helper.child, nix::sys::signal::Signal::SIGKILL);
                        let _ = helper.child.kill().await;
                        tracing::warn!("check_plugin {}: {e}; restarting its helper in {backoff:?}", self.name);
                        if !reporter.report_with(Outcome::Failure(e.clone()), json!({ "message": e })) {
                            return;
                        }
                        next = started + backoff.max(interval);
                        backoff = (backoff * 2).min(BACKOFF_MAX);
                        break;
                    }
                }
            }
        }
    }

    /// `isolate no`: the plugin lives on a thread of the daemon that owns
    /// its library and handle; a check still running at the next interval
    /// counts as failed and is not doubled.
    async fn run_in_process(&self, reporter: Reporter) {
        type Ask = (Duration, oneshot::Sender<(bool, Option<String>)>);
        let (tx, mut rx) = mpsc::channel::<Ask>(1);
        let (ready_tx, ready_rx) = oneshot::channel::<Result<(), String>>();
        let path = self.path.clone();
        let config = self.config_json.clone();
        let busy = Arc::new(AtomicBool::new(false));
        let busy_thread = busy.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("plugin-{}", self.name))
            .spawn(move || {
                let lib = match abi::Library::open(&path) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let mut handle = match lib.create(&config) {
                    Ok(h) => h,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                while let Some((timeout, answer)) = rx.blocking_recv() {
                    let r = handle.check(timeout);
                    busy_thread.store(false, Ordering::SeqCst);
                    let _ = answer.send(r);
                }
            });
        if let Err(e) = spawned {
            reporter.report(Outcome::Failure(format!("cannot start the plugin thread: {e}")));
            return;
        }
        match ready_rx.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                reporter.report(Outcome::Failure(e));
                return;
            }
            Err(_) => {
                reporter.report(Outcome::Failure("the plugin thread ended".into()));
                return;
            }
        }
        let timeout = self.common.effective_timeout();
        super::check::periodic(self.common.interval, reporter, || {
            let tx = tx.clone();
            let busy = busy.clone();
            async move {
                if busy.swap(true, Ordering::SeqCst) {
                    return Outcome::Failure("the previous check is still running".into());
                }
                let (answer, got) = oneshot::channel();
                if tx.send((timeout, answer)).await.is_err() {
                    return Outcome::Failure("the plugin thread ended".into());
                }
                match tokio::time::timeout(timeout, got).await {
                    Ok(Ok((true, _))) => Outcome::Success,
                    Ok(Ok((false, m))) => Outcome::Failure(m.unwrap_or_else(|| "failed".into())),
                    Ok(Err(_)) => Outcome::Failure("the plugin thread ended".into()),
                    Err(_) => Outcome::Failure(format!("timed out after {timeout:?}")),
                }
            }
        })
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a C plugin from `src` with the system's cc.
    fn build_c(dir: &Path, name: &str, src: &str) -> PathBuf {
        let c = dir.join(format!("{name}.c"));
        std::fs::write(&c, src).unwrap_or_else(|e| panic!("{e}"));
        let so = dir.join(format!("lib{name}.so"));
        let include = concat!(env!("CARGO_MANIFEST_DIR"), "/plugins/include");
        let ok = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-Wall", "-Werror", "-I", include, "-o"])
            .arg(&so)
            .arg(&c)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "cc failed for {name}");
        so
    }

    #[test]
    fn the_c_example_loads_and_checks_a_pid_file() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/plugins/examples/check_pidfile.c"))
            .unwrap_or_else(|e| panic!("{e}"));
        let so = build_c(dir.path(), "check_pidfile", &src);
        let lib = abi::Library::open(&so).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lib.name, "check_pidfile");
        let pidfile = dir.path().join("p.pid");
        std::fs::write(&pidfile, format!("{}\n", std::process::id())).unwrap_or_else(|e| panic!("{e}"));
        let cfg = json!({ "pidfile": pidfile.to_string_lossy() }).to_string();
        let mut h = lib.create(&cfg).unwrap_or_else(|e| panic!("{e}"));
        assert!(h.check(Duration::from_secs(1)).0, "this process is alive");
        std::fs::write(&pidfile, "999999999\n").unwrap_or_else(|e| panic!("{e}"));
        let (ok, msg) = h.check(Duration::from_secs(1));
        assert!(!ok);
        assert!(msg.unwrap_or_default().contains("is gone"));
        drop(h);
        assert!(lib.create("{}").err().unwrap_or_default().contains("needs 'pidfile'"));
    }

    #[test]
    fn an_unknown_abi_version_is_refused_before_anything_else_is_read() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let so = build_c(
            dir.path(),
            "future",
            "#include <stdint.h>\nconst struct { uint32_t abi_version; } rkeepalived_plugin = { 99 };\n",
        );
        let e = abi::Library::open(&so).err().unwrap_or_default();
        assert!(e.contains("ABI version 99") && e.contains("knows version 1"), "{e}");
        let not_plugin = build_c(dir.path(), "other", "int x = 1;\n");
        assert!(abi::Library::open(&not_plugin)
            .err()
            .unwrap_or_default()
            .contains("not an rkeepalived plugin"));
    }

    #[test]
    fn bare_names_are_looked_up_in_plugin_dir() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.path().join("libcheck_x.so"), b"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            resolve("check_x", dir.path()).ok(),
            Some(dir.path().join("libcheck_x.so"))
        );
        assert!(resolve("missing", dir.path())
            .unwrap_err()
            .contains("not found in plugin_dir"));
        assert!(resolve("a/b.so", dir.path()).is_err());
        assert_eq!(resolve("/abs/x.so", dir.path()).ok(), Some(PathBuf::from("/abs/x.so")));
    }
}
