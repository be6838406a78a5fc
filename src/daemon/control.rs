//! The control socket: line-delimited JSON requests (`rkeepalived status`,
//! `explain`, `maintenance`, or any client), answered by the protocol
//! loop. This room does every byte of I/O; the loop only builds an answer
//! and hands it back, so a slow or stuck client never holds it: clients
//! are bounded in number and request size, cut off when they stall, and
//! a full request queue is answered "busy".
//!
//! The socket is root:root 0600, or root:GROUP 0660 with
//! `control_socket_group`; peer credentials (SO_PEERCRED) decide what a
//! client may do: root everything, GROUP's members the read-only commands.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, Semaphore};

/// The protocol version every answer carries.
pub const VERSION: u32 = 1;
pub const MAX_CLIENTS: usize = 16;
pub const MAX_REQUEST: usize = 64 * 1024;
/// A client that sends nothing for this long, or does not read its
/// answer within it, is cut off.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a request may wait for the protocol loop.
const LOOP_TIMEOUT: Duration = Duration::from_secs(2);
const QUEUE: usize = 32;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Status,
    Explain {
        instance: String,
    },
    /// `instances` None: every instance.
    Maintenance {
        instances: Option<Vec<String>>,
        on: bool,
    },
    /// A planned handover of a MASTER tracked by check_mysql to its peer.
    Switchover {
        instance: String,
    },
    /// Tests only (the daemon refuses it unless started with
    /// RKEEPALIVED_TEST_HOOKS=1): block the protocol loop itself.
    TestStall {
        millis: u64,
    },
}

impl Command {
    /// Commands that change what the daemon does: root only.
    pub fn changes_state(&self) -> bool {
        matches!(
            self,
            Command::Maintenance { .. } | Command::Switchover { .. } | Command::TestStall { .. }
        )
    }
}

/// A request handed to the protocol loop, with where its answer goes.
pub struct Request {
    pub command: Command,
    pub reply: oneshot::Sender<Value>,
}

/// What a peer may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Full,
    ReadOnly,
    None,
}

/// Root may do everything, members of the socket's group read.
pub fn access(uid: u32, in_group: bool) -> Access {
    if uid == 0 {
        Access::Full
    } else if in_group {
        Access::ReadOnly
    } else {
        Access::None
    }
}

/// Parses one request line: `{"command": "status"}`,
/// `{"command": "explain", "instance": "VI_1"}`,
/// `{"command": "maintenance", "instance": "VI_1" | "all": true, "on": true}`,
/// `{"command": "switchover", "instance": "VI_1"}`.
pub fn parse(line: &str) -> Result<Command, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not a JSON request: {e}"))?;
    let instance = || {
        v["instance"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| "'instance' (a name) is required".to_string())
    };
    match v["command"].as_str() {
        Some("status") => Ok(Command::Status),
        Some("explain") => Ok(Command::Explain { instance: instance()? }),
        Some("maintenance") => {
            let on = v["on"].as_bool().ok_or("'on' (true or false) is required")?;
            let instances = if v["all"] == json!(true) {
                None
            } else {
                Some(vec![instance()?])
            };
            Ok(Command::Maintenance { instances, on })
        }
        Some("switchover") => Ok(Command::Switchover { instance: instance()? }),
        Some("test_stall") => Ok(Command::TestStall {
            millis: v["millis"].as_u64().unwrap_or(1000).min(60_000),
        }),
        Some(other) => Err(format!(
            "unknown command '{other}' (status, explain, maintenance, switchover)"
        )),
        None => Err("'command' is required".into()),
    }
}

pub fn error(message: impl Into<String>) -> Value {
    json!({ "version": VERSION, "ok": false, "error": message.into() })
}

/// Binds the socket (replacing a stale one) and serves it; requests go
/// to the returned receiver. `group`: the gid of `control_socket_group`.
pub fn listen(path: &Path, group: Option<u32>) -> std::io::Result<mpsc::Receiver<Request>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    let mode = if group.is_some() { 0o660 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    if let Some(gid) = group {
        nix::unistd::chown(
            path,
            Some(nix::unistd::Uid::from_raw(0)),
            Some(nix::unistd::Gid::from_raw(gid)),
        )
        .map_err(std::io::Error::from)?;
    }
    let (tx, rx) = mpsc::channel(QUEUE);
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    let path = path.to_path_buf();
    tokio::spawn(async move {
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("control socket {}: {e}", path.display());
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                // Too many clients: this one hears so and is let go.
                let mut s = stream;
                let _ = tokio::time::timeout(CLIENT_TIMEOUT, s.write_all(line(&error("too many clients")).as_bytes()))
                    .await;
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                serve(stream, group, tx).await;
                drop(permit);
            });
        }
    });
    Ok(rx)
}

fn line(v: &Value) -> String {
    format!("{v}\n")
}

/// Whether the peer is in the socket's group (primary or supplementary).
async fn peer_in_group(uid: u32, gid: u32, group: Option<u32>) -> bool {
    let Some(g) = group else { return false };
    if gid == g {
        return true;
    }
    // NSS lookups may block: off the runtime's threads.
    tokio::task::spawn_blocking(move || {
        let Ok(Some(user)) = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) else {
            return false;
        };
        let Ok(name) = std::ffi::CString::new(user.name) else {
            return false;
        };
        nix::unistd::getgrouplist(&name, nix::unistd::Gid::from_raw(gid))
            .map(|gs| gs.iter().any(|x| x.as_raw() == g))
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

async fn serve(stream: UnixStream, group: Option<u32>, tx: mpsc::Sender<Request>) {
    let (uid, gid) = match stream.peer_cred() {
        Ok(c) => (c.uid(), c.gid()),
        Err(_) => return,
    };
    let access = access(uid, peer_in_group(uid, gid, group).await);
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read).take(MAX_REQUEST as u64 + 1);
    let send = |v: Value| line(&v);
    if access == Access::None {
        let _ = tokio::time::timeout(
            CLIENT_TIMEOUT,
            write.write_all(
                send(error(format!(
                    "permission denied: uid {uid} is neither root nor in the control socket's group"
                )))
                .as_bytes(),
            ),
        )
        .await;
        return;
    }
    loop {
        let mut buf = String::new();
        let n = match tokio::time::timeout(CLIENT_TIMEOUT, reader.read_line(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => return, // stalled or broken: cut off
        };
        if n == 0 {
            return;
        }
        if !buf.ends_with('\n') && reader.limit() == 0 {
            let _ = tokio::time::timeout(
                CLIENT_TIMEOUT,
                write.write_all(send(error(format!("request longer than {MAX_REQUEST} bytes"))).as_bytes()),
            )
            .await;
            return;
        }
        reader.set_limit(MAX_REQUEST as u64 + 1);
        let answer = match parse(buf.trim()) {
            Err(e) => error(e),
            Ok(c) if c.changes_state() && access != Access::Full => {
                error("permission denied: only root may change the daemon's state")
            }
            Ok(command) => ask(&tx, command).await,
        };
        if !matches!(
            tokio::time::timeout(CLIENT_TIMEOUT, write.write_all(send(answer).as_bytes())).await,
            Ok(Ok(()))
        ) {
            return;
        }
    }
}

async fn ask(tx: &mpsc::Sender<Request>, command: Command) -> Value {
    let (reply, answer) = oneshot::channel();
    if tx.try_send(Request { command, reply }).is_err() {
        return error("busy: try again");
    }
    match tokio::time::timeout(LOOP_TIMEOUT, answer).await {
        Ok(Ok(v)) => v,
        _ => error("the daemon did not answer in time"),
    }
}

/// The socket a client should use: `--control-socket`, else the
/// configuration's `control_socket`, else the default.
pub fn socket_for(explicit: Option<&Path>, config: &Path) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    crate::config::load_file(config, &Default::default())
        .map(|l| l.config.global.control_socket)
        .unwrap_or_else(|_| PathBuf::from(crate::config::model::DEFAULT_CONTROL_SOCKET))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_bad_ones_say_why() {
        assert_eq!(parse(r#"{"command":"status"}"#), Ok(Command::Status));
        assert_eq!(
            parse(r#"{"command":"explain","instance":"VI_1"}"#),
            Ok(Command::Explain {
                instance: "VI_1".into()
            })
        );
        assert_eq!(
            parse(r#"{"command":"maintenance","all":true,"on":false}"#),
            Ok(Command::Maintenance {
                instances: None,
                on: false
            })
        );
        assert_eq!(
            parse(r#"{"command":"maintenance","instance":"VI_2","on":true}"#),
            Ok(Command::Maintenance {
                instances: Some(vec!["VI_2".into()]),
                on: true
            })
        );
        assert_eq!(
            parse(r#"{"command":"switchover","instance":"VI_1"}"#),
            Ok(Command::Switchover {
                instance: "VI_1".into()
            })
        );
        assert!(Command::Switchover {
            instance: "VI_1".into()
        }
        .changes_state());
        assert!(parse(r#"{"command":"switchover"}"#).is_err());
        for (bad, why) in [
            ("status", "not a JSON request"),
            (r#"{"command":"reboot"}"#, "unknown command 'reboot'"),
            (r#"{"command":"explain"}"#, "'instance' (a name) is required"),
            (
                r#"{"command":"maintenance","instance":"VI_1"}"#,
                "'on' (true or false) is required",
            ),
            ("{}", "'command' is required"),
        ] {
            assert!(parse(bad).err().unwrap_or_default().contains(why), "{bad}");
        }
    }

    #[test]
    fn root_may_do_everything_the_group_only_reads() {
        assert_eq!(access(0, false), Access::Full);
        assert_eq!(access(1000, true), Access::ReadOnly);
        assert_eq!(access(1000, false), Access::None);
        assert!(Command::Maintenance {
            instances: None,
            on: true
        }
        .changes_state());
        assert!(!Command::Status.changes_state());
    }
}
