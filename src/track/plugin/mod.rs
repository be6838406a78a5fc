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

/// What `-t` adds to [`verify`]: the plugin's `create()` with the block's
/// configuration, then `destroy()`, in a helper as the check would run it.
/// `Err` carries the plugin's message when it refuses the configuration,
/// or why the helper failed (a crash, no answer within `timeout`).
pub fn try_create(path: &Path, who: &RunAs, config_json: &str, timeout: Duration) -> Result<(), String> {
    use std::io::{BufRead, Write};
    let mut child = helper_command(path, who, false)
        .and_then(|mut c| c.spawn())
        .map_err(|e| format!("cannot run the plugin helper: {e}"))?;
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err("plugin helper without pipes".into());
    };
    let _ = writeln!(stdin, "{}", json!({ "config": config_json }));
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let answer = rx.recv_timeout(timeout);
    // Closing stdin ends the helper, which destroys the handle.
    drop(stdin);
    let result = match answer {
        Err(_) => {
            let _ = child.kill();
            Err(format!("create() did not return within {timeout:?}"))
        }
        Ok(line) => match serde_json::from_str::<Value>(&line) {
            Ok(v) if v["ok"] == json!(true) => Ok(()),
            Ok(v) => Err(v["message"].as_str().unwrap_or("create() failed").to_string()),
            Err(_) => Err("the plugin crashed in create()".to_string()),
        },
    };
    let _ = child.wait();
    result
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
                        let reporter = reporter.timed(started.elapsed());
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
    /// counts as failed and is not doubled. A `create()` that fails is
    /// retried with the same backoff as an isolated helper, and every
    /// answer's message goes to the dump's `detail`, as for `isolate yes`.
    async fn run_in_process(&self, reporter: Reporter) {
        let interval = self.common.interval;
        let timeout = self.common.effective_timeout();
        let mut backoff = BACKOFF_START;
        let (tx, busy) = loop {
            match self.start_thread().await {
                Ok(t) => break t,
                Err(e) => {
                    if !reporter.report_with(Outcome::Failure(e.clone()), json!({ "message": e })) {
                        return;
                    }
                    tokio::time::sleep(backoff.max(interval)).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        };
        let mut next = tokio::time::Instant::now();
        loop {
            tokio::time::sleep_until(next).await;
            let started = tokio::time::Instant::now();
            let (outcome, message) = if busy.swap(true, Ordering::SeqCst) {
                (Outcome::Failure("the previous check is still running".into()), None)
            } else {
                let (answer, got) = oneshot::channel();
                if tx.send((timeout, answer)).await.is_err() {
                    (Outcome::Failure("the plugin thread ended".into()), None)
                } else {
                    match tokio::time::timeout(timeout, got).await {
                        Ok(Ok((true, m))) => (Outcome::Success, m),
                        Ok(Ok((false, m))) => (Outcome::Failure(m.clone().unwrap_or_else(|| "failed".into())), m),
                        Ok(Err(_)) => (Outcome::Failure("the plugin thread ended".into()), None),
                        Err(_) => (Outcome::Failure(format!("timed out after {timeout:?}")), None),
                    }
                }
            };
            let message = message.or_else(|| match &outcome {
                Outcome::Failure(why) => Some(why.clone()),
                _ => None,
            });
            if !reporter
                .timed(started.elapsed())
                .report_with(outcome, json!({ "message": message }))
            {
                return;
            }
            next = (started + interval).max(tokio::time::Instant::now());
        }
    }

    /// Starts the thread that owns the library and the handle; ready once
    /// `create()` has returned a handle.
    async fn start_thread(&self) -> Result<(mpsc::Sender<InProcessAsk>, Arc<AtomicBool>), String> {
        let (tx, mut rx) = mpsc::channel::<InProcessAsk>(1);
        let (ready_tx, ready_rx) = oneshot::channel::<Result<(), String>>();
        let path = self.path.clone();
        let config = self.config_json.clone();
        let busy = Arc::new(AtomicBool::new(false));
        let busy_thread = busy.clone();
        std::thread::Builder::new()
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
            })
            .map_err(|e| format!("cannot start the plugin thread: {e}"))?;
        match ready_rx.await {
            Ok(Ok(())) => Ok((tx, busy)),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("the plugin thread ended".into()),
        }
    }
}

/// A check asked of the in-process plugin thread: its timeout, and where
/// the answer (healthy, message) goes.
type InProcessAsk = (Duration, oneshot::Sender<(bool, Option<String>)>);

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

    /// The header's declaration keeps the symbol exported under
    /// `-fvisibility=hidden`, in C and in C++ (whose `const` objects would
    /// otherwise have internal linkage and a mangled name).
    #[test]
    fn plugins_built_with_hidden_visibility_in_c_and_cpp_load() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let include = concat!(env!("CARGO_MANIFEST_DIR"), "/plugins/include");
        let build = |compiler: &str, file: &str, src: &str| {
            let f = dir.path().join(file);
            std::fs::write(&f, src).unwrap_or_else(|e| panic!("{e}"));
            let so = dir.path().join(format!("{file}.so"));
            let ok = std::process::Command::new(compiler)
                .args([
                    "-shared",
                    "-fPIC",
                    "-fvisibility=hidden",
                    "-Wall",
                    "-Werror",
                    "-I",
                    include,
                    "-o",
                ])
                .arg(&so)
                .arg(&f)
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            assert!(
                ok,
                "{compiler} failed for {file} (the full test command installs gcc and g++)"
            );
            so
        };
        let c_src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/plugins/examples/check_pidfile.c"))
            .unwrap_or_else(|e| panic!("{e}"));
        let c = build("cc", "pidfile.c", &c_src);
        assert_eq!(
            abi::Library::open(&c).map(|l| l.name).unwrap_or_default(),
            "check_pidfile"
        );
        let cpp_src = r#"#include "rkeepalived_plugin.h"
#include <string>
#include <cstring>
#include <cstdlib>
namespace {
struct State { std::string word; };
void *create(const char *config_json, char **message) {
    std::string c(config_json);
    if (c.find("\"word\":") == std::string::npos) { *message = strdup("config needs 'word'"); return nullptr; }
    return new State{c};
}
int32_t check(void *h, uint32_t, char **message) {
    *message = strdup(static_cast<State *>(h)->word.c_str());
    return RKEEPALIVED_CHECK_OK;
}
void destroy(void *h) { delete static_cast<State *>(h); }
void free_message(char *m) { free(m); }
}
extern "C" const struct rkeepalived_plugin rkeepalived_plugin = {
    RKEEPALIVED_PLUGIN_ABI_VERSION, "cpp", create, check, destroy, free_message,
};
"#;
        let cpp = build("c++", "cpp.cc", cpp_src);
        let lib = abi::Library::open(&cpp).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(lib.name, "cpp");
        assert!(lib.create("{}").err().unwrap_or_default().contains("needs 'word'"));
        let mut h = lib.create(r#"{"word":"x"}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            h.check(Duration::from_secs(1)),
            (true, Some(r#"{"word":"x"}"#.to_string()))
        );
    }

    /// `isolate no` behaves as `isolate yes` does: a failing create() is
    /// retried with backoff, and every answer's message is the check's
    /// `detail` (it used to reach only the log).
    #[tokio::test]
    async fn in_process_plugins_retry_create_and_report_their_messages() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let src = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/plugins/examples/check_pidfile.c"))
            .unwrap_or_else(|e| panic!("{e}"));
        let so = build_c(dir.path(), "check_pidfile", &src);
        let pidfile = dir.path().join("later.pid");
        let check = Box::new(PluginCheck {
            name: "chk".into(),
            path: so,
            config_json: json!({ "pidfile": pidfile.to_string_lossy() }).to_string(),
            common: CheckCommon {
                interval: Duration::from_millis(50),
                timeout: Duration::from_secs(1),
                ..Default::default()
            },
            isolate: false,
            who: RunAs::root(),
        });
        let (tx, mut rx) = mpsc::unbounded_channel();
        let task = check.start(Reporter::new(super::super::check::Source::test(), tx));
        let next = |rx: &mut mpsc::UnboundedReceiver<super::super::check::Report>| {
            let r = rx.try_recv().ok();
            r.map(|r| (r.outcome, r.detail))
        };
        // No pid file yet: create() refuses, and says why.
        let first = loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let Some(r) = next(&mut rx) {
                break r;
            }
        };
        assert!(
            matches!(&first.0, Outcome::Failure(m) if m.contains("cannot open")),
            "{first:?}"
        );
        assert!(first.1.unwrap_or_default()["message"]
            .as_str()
            .unwrap_or("")
            .contains("cannot open"));
        // The file appears: a retried create() succeeds, checks pass.
        std::fs::write(&pidfile, format!("{}\n", std::process::id())).unwrap_or_else(|e| panic!("{e}"));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut passed = false;
        while !passed && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            while let Some((o, _)) = next(&mut rx) {
                passed |= o == Outcome::Success;
            }
        }
        assert!(passed, "create() was retried after it failed");
        // A failing check's message is its detail.
        std::fs::write(&pidfile, "999999999\n").unwrap_or_else(|e| panic!("{e}"));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut detail = None;
        while detail.is_none() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
            while let Some((o, d)) = next(&mut rx) {
                if o != Outcome::Success {
                    detail = d;
                }
            }
        }
        let detail = detail.unwrap_or_default();
        assert!(detail["message"].as_str().unwrap_or("").contains("is gone"), "{detail}");
        task.abort();
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
