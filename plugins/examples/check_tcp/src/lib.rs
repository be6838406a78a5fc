//! `check_tcp`: healthy while a TCP service accepts connections within
//! the check's timeout and, optionally, answers a request as expected.
//!
//! ```text
//! check_plugin chk_web {
//!     plugin /usr/lib/rkeepalived/plugins/libcheck_tcp.so
//!     interval 1
//!     timeout 2
//!     weight -30
//!     config {
//!         host 127.0.0.1
//!         port 8080
//!         send "GET /health HTTP/1.0\r\n\r\n"   # optional
//!         expect "200 OK"                        # optional: in the first reply bytes
//!     }
//! }
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use rkeepalived_plugin::{config_str, export_plugin, Plugin};

pub struct CheckTcp {
    target: String,
    send: Option<Vec<u8>>,
    expect: Option<String>,
}

/// `\r`, `\n`, `\t` and `\\` in config strings, as in C.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

impl Plugin for CheckTcp {
    fn create(config: &rkeepalived_plugin::serde_json::Value) -> Result<Self, String> {
        let host = config_str(config, "host").unwrap_or("127.0.0.1");
        let port = config_str(config, "port").ok_or("config needs 'port'")?;
        port.parse::<u16>()
            .map_err(|_| format!("port '{port}' is not a port number"))?;
        Ok(CheckTcp {
            target: if host.contains(':') {
                format!("[{host}]:{port}")
            } else {
                format!("{host}:{port}")
            },
            send: config_str(config, "send").map(|s| unescape(s).into_bytes()),
            expect: config_str(config, "expect").map(str::to_string),
        })
    }

    fn check(&mut self, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let addr: SocketAddr = self
            .target
            .to_socket_addrs()
            .map_err(|e| format!("{}: {e}", self.target))?
            .next()
            .ok_or_else(|| format!("{}: no address", self.target))?;
        let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{addr}: {e}"))?;
        let left = || {
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        };
        if let Some(req) = &self.send {
            s.set_write_timeout(Some(left())).map_err(|e| e.to_string())?;
            s.write_all(req).map_err(|e| format!("{addr}: send: {e}"))?;
        }
        let Some(expect) = &self.expect else {
            return Ok(format!("{addr} accepts connections"));
        };
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while got.len() < 64 * 1024 {
            s.set_read_timeout(Some(left())).map_err(|e| e.to_string())?;
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    if String::from_utf8_lossy(&got).contains(expect.as_str()) {
                        return Ok(format!("{addr} answered with '{expect}'"));
                    }
                }
                Err(e) => return Err(format!("{addr}: no '{expect}' in the answer: {e}")),
            }
        }
        Err(format!("{addr}: no '{expect}' in the answer"))
    }
}

export_plugin!(CheckTcp, "check_tcp");

#[cfg(test)]
mod tests {
    use super::*;
    use rkeepalived_plugin::serde_json::json;
    use std::net::TcpListener;

    #[test]
    fn connects_sends_and_expects() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let mut s = s;
                let mut b = [0u8; 64];
                let _ = s.read(&mut b);
                let _ = s.write_all(b"HTTP/1.0 200 OK\r\n\r\n");
            }
        });
        let cfg = json!({"host": "127.0.0.1", "port": port.to_string(), "send": "GET / HTTP/1.0\\r\\n\\r\\n", "expect": "200 OK"});
        let mut c = CheckTcp::create(&cfg).unwrap_or_else(|e| panic!("{e}"));
        assert!(c.check(Duration::from_secs(2)).is_ok());
        let mut wrong = CheckTcp::create(&json!({"port": port.to_string(), "send": "x", "expect": "500"}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(wrong.check(Duration::from_millis(300)).is_err());
    }

    #[test]
    fn refused_and_bad_config() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = l.local_addr().map(|a| a.port()).unwrap_or(0);
        drop(l);
        let mut c = CheckTcp::create(&json!({"port": port.to_string()})).unwrap_or_else(|e| panic!("{e}"));
        assert!(c.check(Duration::from_secs(1)).unwrap_err().contains("refused"));
        assert!(CheckTcp::create(&json!({})).is_err());
        assert!(CheckTcp::create(&json!({"port": "x"})).is_err());
    }
}
