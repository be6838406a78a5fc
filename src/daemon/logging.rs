//! Logging through tracing: syslog by default (ident `Keepalived_vrrp`, so
//! existing log filters match), the console with `-l`, more detail with `-D`.

use std::io::Write;
use std::os::unix::net::UnixDatagram;
use std::sync::Mutex;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The syslog ident keepalived's VRRP process uses.
pub const SYSLOG_IDENT: &str = "Keepalived_vrrp";

#[derive(Debug, Clone)]
pub struct LogOptions {
    pub console: bool,
    pub syslog: bool,
    pub detail: bool,
    /// Syslog facility number (daemon = 3, local0..7 = 16..23).
    pub facility: u8,
}

/// Parses `-S`: 0-7 (local0-local7), local0-local7, user or daemon.
pub fn parse_facility(s: &str) -> Option<u8> {
    match s {
        "daemon" => Some(3),
        "user" => Some(1),
        _ => {
            let n = s.strip_prefix("local").unwrap_or(s);
            match n.parse::<u8>() {
                Ok(v) if v <= 7 => Some(16 + v),
                _ => None,
            }
        }
    }
}

struct SyslogLayer {
    sock: Mutex<Option<UnixDatagram>>,
    facility: u8,
}

impl SyslogLayer {
    fn new(facility: u8) -> SyslogLayer {
        let sock = UnixDatagram::unbound().ok().filter(|s| s.connect("/dev/log").is_ok());
        SyslogLayer {
            sock: Mutex::new(sock),
            facility,
        }
    }
}

struct MessageVisitor(String);

impl tracing::field::Visit for MessageVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        } else {
            self.0.push_str(&format!(" {}={value}", field.name()));
        }
    }
}

impl<S: Subscriber> Layer<S> for SyslogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let severity = match *event.metadata().level() {
            Level::ERROR => 3,
            Level::WARN => 4,
            Level::INFO => 6,
            Level::DEBUG | Level::TRACE => 7,
        };
        let mut v = MessageVisitor(String::new());
        event.record(&mut v);
        // RFC 3164 without timestamp and host: the local syslog daemon adds them.
        let line = format!(
            "<{}>{}[{}]: {}",
            u32::from(self.facility) * 8 + severity,
            SYSLOG_IDENT,
            std::process::id(),
            v.0
        );
        if let Ok(guard) = self.sock.lock() {
            if let Some(s) = guard.as_ref() {
                let _ = s.send(line.as_bytes());
            }
        }
    }
}

/// Installs the global subscriber. Safe to call once per process.
pub fn init(opts: &LogOptions) {
    let default = if opts.detail { "debug" } else { "info" };
    let filter = EnvFilter::try_from_env("RKEEPALIVED_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let console = opts.console.then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false)
            .with_ansi(false)
            .with_level(opts.detail)
    });
    let syslog = opts.syslog.then(|| SyslogLayer::new(opts.facility));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(console)
        .with(syslog)
        .try_init();
}

/// Writes a line straight to stderr (before logging is set up).
pub fn early(msg: &str) {
    let _ = writeln!(std::io::stderr(), "rkeepalived: {msg}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facilities() {
        assert_eq!(parse_facility("daemon"), Some(3));
        assert_eq!(parse_facility("0"), Some(16));
        assert_eq!(parse_facility("local7"), Some(23));
        assert_eq!(parse_facility("local8"), None);
        assert_eq!(parse_facility("user"), Some(1));
    }
}
