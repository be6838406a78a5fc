//! `track_file`: the file holds a number; the instance's priority moves by
//! value × weight. A missing or unreadable file counts as 0. Changes are
//! seen through inotify on the file's directory (keepalived picks them up
//! in under 10 ms), with a slow poll as a safety net.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use tokio::task::JoinHandle;

use super::check::{Check, Outcome, Reporter};

/// Safety-net poll, in case an event is missed (e.g. the directory did not
/// exist when watching started).
const POLL: Duration = Duration::from_secs(1);

pub struct FileCheck {
    pub path: PathBuf,
}

/// The value the file holds: its first number, or 0.
pub fn read_value(path: &Path) -> i64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|w| w.parse::<i64>().ok()))
        .unwrap_or(0)
}

/// `init_file [VALUE] [overwrite]`: writes VALUE if the file is missing, or
/// always with `overwrite`.
pub fn init_file(path: &Path, value: i64, overwrite: bool) -> std::io::Result<()> {
    if overwrite || !path.exists() {
        std::fs::write(path, format!("{value}\n"))?;
    }
    Ok(())
}

impl Check for FileCheck {
    fn start(self: Box<Self>, reporter: Reporter) -> JoinHandle<()> {
        tokio::spawn(async move {
            let path = self.path;
            let dir = path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            let watch = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
                .ok()
                .and_then(|i| {
                    let flags = AddWatchFlags::IN_CLOSE_WRITE
                        | AddWatchFlags::IN_MOVED_TO
                        | AddWatchFlags::IN_CREATE
                        | AddWatchFlags::IN_DELETE
                        | AddWatchFlags::IN_MODIFY
                        | AddWatchFlags::IN_MOVED_FROM;
                    i.add_watch(&dir, flags).ok()?;
                    crate::reactor::register(crate::reactor::InotifyFd(i)).ok()
                });
            let mut last = read_value(&path);
            if !reporter.report(Outcome::Value(last)) {
                return;
            }
            loop {
                match &watch {
                    Some(fd) => {
                        tokio::select! {
                            r = fd.readable() => {
                                if let Ok(mut g) = r {
                                    let _ = g.get_inner().0.read_events();
                                    g.clear_ready();
                                }
                            }
                            _ = tokio::time::sleep(POLL) => {}
                        }
                    }
                    None => tokio::time::sleep(POLL).await,
                }
                let v = read_value(&path);
                if v != last {
                    last = v;
                    if !reporter.report(Outcome::Value(v)) {
                        return;
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let f = dir.path().join("v");
        assert_eq!(read_value(&f), 0, "missing file is 0");
        std::fs::write(&f, "-3\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_value(&f), -3);
        std::fs::write(&f, "junk").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_value(&f), 0);
        init_file(&f, 7, false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_value(&f), 0, "existing file kept");
        init_file(&f, 7, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read_value(&f), 7);
    }

    #[tokio::test]
    async fn changes_are_seen_promptly() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let f = dir.path().join("weight");
        std::fs::write(&f, "1\n").unwrap_or_else(|e| panic!("{e}"));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let task =
            Box::new(FileCheck { path: f.clone() }).start(Reporter::new(crate::track::check::Source::test(), tx));
        assert_eq!(rx.recv().await.map(|r| r.outcome), Some(Outcome::Value(1)));
        let t = std::time::Instant::now();
        std::fs::write(&f, "5\n").unwrap_or_else(|e| panic!("{e}"));
        let r = tokio::time::timeout(Duration::from_secs(3), rx.recv())
            .await
            .ok()
            .flatten();
        assert_eq!(r.map(|r| r.outcome), Some(Outcome::Value(5)));
        assert!(
            t.elapsed() < POLL,
            "seen by inotify, not by the poll: {:?}",
            t.elapsed()
        );
        task.abort();
    }
}
