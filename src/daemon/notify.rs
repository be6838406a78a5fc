//! Notifications as keepalived sends them: the specific script
//! (`notify_master` …) with only its own arguments, then the generic
//! `notify` with `INSTANCE|GROUP NAME STATE PRIORITY` appended — both
//! fire-and-forget — and one line per event to the notify FIFOs
//! (`INSTANCE "VI_1" MASTER 100`), in order, from a single writer.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Mutex;

use crate::config::model::{Config, FifoSpec, ScriptSpec};
use crate::track::exec;
use crate::track::security::RunAs;

use super::precheck::ScriptCheck;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Instance,
    Group,
}

impl Subject {
    fn word(self) -> &'static str {
        match self {
            Subject::Instance => "INSTANCE",
            Subject::Group => "GROUP",
        }
    }
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub subject: Subject,
    pub name: String,
    /// MASTER, BACKUP, FAULT, STOP, DELETED, MASTER_RX_LOWER_PRI,
    /// MASTER_PRIORITY or BACKUP_PRIORITY.
    pub state: &'static str,
    pub priority: u8,
    /// The state's own script (`notify_master` …), if configured.
    pub specific: Option<Box<ScriptSpec>>,
    /// The generic `notify` script, if configured.
    pub generic: Option<Box<ScriptSpec>>,
}

impl Notice {
    /// The FIFO line, keepalived's format.
    pub fn fifo_line(&self) -> String {
        format!(
            "{} \"{}\" {} {}\n",
            self.subject.word(),
            self.name,
            self.state,
            self.priority
        )
    }

    /// argv of the generic script: its arguments plus the four keepalived adds.
    pub fn generic_argv(&self, spec: &ScriptSpec) -> Vec<String> {
        let mut argv = spec.argv.clone();
        argv.extend([
            self.subject.word().to_string(),
            self.name.clone(),
            self.state.to_string(),
            self.priority.to_string(),
        ]);
        argv
    }
}

/// Runs notify scripts and writes the FIFOs.
pub struct Notifier {
    /// How each configured script may run, by its command line.
    run_as: HashMap<String, Result<RunAs, String>>,
    /// The FIFO writers; taken (closed) and joined on stop so the last
    /// lines, STOP included, are written before the process exits.
    fifos: Mutex<Vec<(mpsc::Sender<FifoMsg>, std::thread::JoinHandle<()>)>>,
    fifo_children: Mutex<Vec<tokio::process::Child>>,
}

impl Notifier {
    /// Sets up from the configuration and its script checks; opens the
    /// FIFOs and starts the FIFO reader scripts.
    pub fn new(config: &Config, checks: &[ScriptCheck]) -> Notifier {
        let run_as = checks
            .iter()
            .map(|c| (c.spec.command.clone(), c.outcome.clone().map(|(who, _)| who)))
            .collect::<HashMap<_, _>>();
        let g = &config.global;
        let mut fifos = Vec::new();
        let mut children = Vec::new();
        let mut seen: Vec<PathBuf> = Vec::new();
        for (fifo, script) in [
            (&g.notify_fifo, &g.notify_fifo_script),
            (&g.vrrp_notify_fifo, &g.vrrp_notify_fifo_script),
        ] {
            let Some(f) = fifo else { continue };
            if seen.contains(&f.path) {
                continue;
            }
            seen.push(f.path.clone());
            match open_fifo(f) {
                Ok(tx) => fifos.push(tx),
                Err(e) => tracing::error!("cannot open notify FIFO {}: {e}", f.path.display()),
            }
            if let Some(s) = script {
                let mut argv = s.argv.clone();
                argv.push(f.path.to_string_lossy().to_string());
                match run_as.get(&s.command) {
                    Some(Ok(who)) => match exec::spawn(&argv, who, &[]) {
                        Ok(c) => children.push(c),
                        Err(e) => tracing::error!("cannot start FIFO script {}: {e}", s.command),
                    },
                    Some(Err(e)) => tracing::error!("FIFO script {} not run: {e}", s.command),
                    None => {}
                }
            }
        }
        Notifier {
            run_as,
            fifos: Mutex::new(fifos),
            fifo_children: Mutex::new(children),
        }
    }

    /// Sends one notification: scripts first (specific, then generic),
    /// then the FIFO line.
    pub fn fire(&self, n: &Notice) {
        if let Some(s) = &n.specific {
            self.run(s, s.argv.clone());
        }
        if let Some(s) = &n.generic {
            self.run(s, n.generic_argv(s));
        }
        let line = n.fifo_line();
        if let Ok(fifos) = self.fifos.lock() {
            for (f, _) in fifos.iter() {
                let _ = f.send(FifoMsg::Line(line.clone()));
            }
        }
    }

    /// Waits until every FIFO line sent so far is written: the daemon's
    /// last lines (STOP) must be in the FIFO before the process exits,
    /// which may come before the effects task ends.
    pub fn flush(&self) {
        let waits: Vec<mpsc::Receiver<()>> = match self.fifos.lock() {
            Ok(fifos) => fifos
                .iter()
                .filter_map(|(f, _)| {
                    let (tx, rx) = mpsc::channel();
                    f.send(FifoMsg::Flush(tx)).ok().map(|_| rx)
                })
                .collect(),
            Err(_) => Vec::new(),
        };
        for w in waits {
            let _ = w.recv_timeout(std::time::Duration::from_secs(1));
        }
    }

    fn run(&self, spec: &ScriptSpec, argv: Vec<String>) {
        let who = match self.run_as.get(&spec.command) {
            Some(Ok(w)) => w.clone(),
            Some(Err(e)) => {
                tracing::warn!("notify script {} not run: {e}", spec.command);
                return;
            }
            None => return,
        };
        match exec::spawn(&argv, &who, &[]) {
            Ok(mut child) => {
                // Fire and forget, but reap it.
                tokio::spawn(async move {
                    let _ = child.wait().await;
                });
            }
            Err(e) => tracing::warn!("cannot run notify script {}: {e}", spec.command),
        }
    }

    /// On daemon stop: writes the last FIFO lines (STOP included), then
    /// stops the FIFO reader scripts.
    pub fn stop(&self) {
        let writers = self
            .fifos
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default();
        for (tx, writer) in writers {
            drop(tx);
            let _ = writer.join();
        }
        if let Ok(mut children) = self.fifo_children.lock() {
            for c in children.iter_mut() {
                exec::signal_group(c, nix::sys::signal::Signal::SIGTERM);
            }
            children.clear();
        }
    }
}

/// Opens (creating if needed) a FIFO read-write, so opening never blocks
/// and writes do not fail while no reader is attached; a writer thread
/// keeps the lines in order.
/// What a FIFO's writer thread is handed.
enum FifoMsg {
    Line(String),
    /// Answer once everything before it is written.
    Flush(mpsc::Sender<()>),
}

fn open_fifo(f: &FifoSpec) -> std::io::Result<(mpsc::Sender<FifoMsg>, std::thread::JoinHandle<()>)> {
    ensure_fifo(&f.path)?;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&f.path)?;
    let (tx, rx) = mpsc::channel::<FifoMsg>();
    let path = f.path.clone();
    let writer = std::thread::Builder::new().name("notify-fifo".into()).spawn(move || {
        let mut warned = false;
        for msg in rx {
            let line = match msg {
                FifoMsg::Line(l) => l,
                FifoMsg::Flush(done) => {
                    let _ = done.send(());
                    continue;
                }
            };
            if let Err(e) = file.write_all(line.as_bytes()) {
                if !warned {
                    tracing::warn!(
                        "notify FIFO {}: {e} (lines are dropped while the reader is not keeping up)",
                        path.display()
                    );
                    warned = true;
                }
            }
        }
    })?;
    Ok((tx, writer))
}

fn ensure_fifo(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_fifo() => Ok(()),
        Ok(_) => Err(std::io::Error::other(format!(
            "{} exists and is not a FIFO",
            path.display()
        ))),
        Err(_) => {
            nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)).map_err(std::io::Error::from)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(argv: &[&str]) -> ScriptSpec {
        ScriptSpec {
            command: argv.join(" "),
            argv: argv.iter().map(|s| s.to_string()).collect(),
            user: None,
            span: Default::default(),
        }
    }

    /// KA §4.4: `notify "/x.sh extra1"` is called with `extra1 INSTANCE VI_1 MASTER 100`.
    #[test]
    fn generic_arguments_and_fifo_line() {
        let n = Notice {
            subject: Subject::Instance,
            name: "VI_1".into(),
            state: "MASTER",
            priority: 100,
            specific: None,
            generic: None,
        };
        assert_eq!(
            n.generic_argv(&spec(&["/x.sh", "extra1"])),
            ["/x.sh", "extra1", "INSTANCE", "VI_1", "MASTER", "100"]
        );
        assert_eq!(n.fifo_line(), "INSTANCE \"VI_1\" MASTER 100\n");
        let g = Notice {
            subject: Subject::Group,
            name: "G".into(),
            state: "BACKUP",
            priority: 0,
            specific: None,
            generic: None,
        };
        assert_eq!(g.fifo_line(), "GROUP \"G\" BACKUP 0\n");
    }
}
