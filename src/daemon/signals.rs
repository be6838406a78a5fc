//! The signals the daemon reacts to, as keepalived: TERM/INT stop, HUP
//! reloads, USR1 / USR2 / RTMIN+2 write the data, stats and JSON dumps,
//! RTMAX-1 writes the stats and clears them.

use tokio::sync::mpsc;

/// Installs the handlers of every signal the daemon reacts to. Called
/// before the pid files are written, so a signal sent to a pid read from
/// them is never met by its default action (USR1 would kill).
pub fn install() -> std::io::Result<mpsc::UnboundedReceiver<i32>> {
    use tokio::signal::unix::{signal, SignalKind};
    let (tx, rx) = mpsc::unbounded_channel();
    for sig in [
        libc::SIGTERM,
        libc::SIGINT,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGRTMIN() + 2,
        libc::SIGRTMAX() - 1,
    ] {
        let tx = tx.clone();
        let mut s = signal(SignalKind::from_raw(sig))?;
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                if tx.send(sig).is_err() {
                    break;
                }
            }
        });
    }
    Ok(rx)
}
