//! `check_mysql NAME { … }`: the built-in MySQL/MariaDB probe (an
//! rkeepalived extension), referenced from `track_script` like a
//! `vrrp_script`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::model::{CatchUpPolicy, CheckCommon, CheckMysql, MysqlSettings, Witness};
use super::tracking::{block_name, common_setting};
use super::tree::Node;
use super::values::Ctx;

pub const CHECK_MYSQL_KEYWORDS: &[&str] = &[
    "host",
    "socket",
    "port",
    "user",
    "password",
    "defaults_file",
    "interval",
    "timeout",
    "rise",
    "fall",
    "weight",
    "init_fail",
    "ssl",
    "ssl_ca",
    "ssl_cert",
    "ssl_key",
    "require_replication",
    "max_lag",
    "peer_host",
    "peer_port",
    "peer_user",
    "peer_password",
    "catch_up_timeout",
    "catch_up_policy",
    "read_only_when_backup",
    "witness",
    "isolation_timeout",
    "relay_apply_timeout",
    "refuse_on_fault",
    "semi_sync_release",
];

const DAY_US: u64 = 86_400_000_000;

pub fn read_check_mysql(ctx: &mut Ctx<'_>, n: &Node) -> Option<CheckMysql> {
    let name = block_name(ctx, n, "check_mysql")?;
    let mut common = CheckCommon::default();
    let mut s = MysqlSettings {
        port: 3306,
        peer_port: 3306,
        catch_up_timeout: Duration::from_secs(60),
        relay_apply_timeout: Duration::from_secs(10),
        semi_sync_release: true,
        ..MysqlSettings::default()
    };
    for c in n.children() {
        if common_setting(ctx, c, &mut common) {
            continue;
        }
        ctx.no_block(c);
        match c.name() {
            "host" => s.host = ctx.soft_string_arg(c, "a host name or address"),
            "socket" => s.socket = ctx.soft_string_arg(c, "a socket path").map(PathBuf::from),
            "port" => s.port = port(ctx, c).unwrap_or(s.port),
            "user" => s.user = ctx.soft_string_arg(c, "a user name"),
            "password" => s.password = ctx.soft_string_arg(c, "a password"),
            "defaults_file" => s.defaults_file = ctx.soft_string_arg(c, "an option file path").map(PathBuf::from),
            "ssl" => s.ssl = ctx.flag_or_bool(c),
            "ssl_ca" => s.ssl_ca = ctx.soft_string_arg(c, "a CA file").map(PathBuf::from),
            "ssl_cert" => s.ssl_cert = ctx.soft_string_arg(c, "a certificate file").map(PathBuf::from),
            "ssl_key" => s.ssl_key = ctx.soft_string_arg(c, "a key file").map(PathBuf::from),
            "require_replication" => s.require_replication = ctx.flag_or_bool(c),
            "max_lag" => s.max_lag = ctx.timer_arg(c, 0, DAY_US),
            "peer_host" => s.peer_host = ctx.soft_string_arg(c, "a host name or address"),
            "peer_port" => s.peer_port = port(ctx, c).unwrap_or(s.peer_port),
            "peer_user" => s.peer_user = ctx.soft_string_arg(c, "a user name"),
            "peer_password" => s.peer_password = ctx.soft_string_arg(c, "a password"),
            "catch_up_timeout" => {
                if let Some(d) = ctx.timer_arg(c, 0, DAY_US) {
                    s.catch_up_timeout = d;
                }
            }
            "catch_up_policy" => match c.args.first().map(|t| t.text.as_str()) {
                Some("wait") => s.catch_up_policy = CatchUpPolicy::Wait,
                Some("takeover") => s.catch_up_policy = CatchUpPolicy::Takeover,
                Some(other) => ctx.error(
                    c.args[0].span,
                    format!("catch_up_policy must be 'wait' or 'takeover', found '{other}'"),
                ),
                None => ctx.error(c.end_span(), "catch_up_policy needs 'wait' or 'takeover'"),
            },
            "read_only_when_backup" => s.read_only_when_backup = ctx.flag_or_bool(c),
            "refuse_on_fault" => s.refuse_on_fault = ctx.flag_or_bool(c),
            "semi_sync_release" => s.semi_sync_release = ctx.flag_or_bool(c),
            "witness" => {
                if c.args.is_empty() {
                    ctx.error(c.end_span(), "witness needs one or more ADDR[:PORT]");
                }
                for a in &c.args {
                    match Witness::parse(&a.text) {
                        Ok(w) if !s.witnesses.contains(&w) => s.witnesses.push(w),
                        Ok(_) => {}
                        Err(e) => ctx.error(a.span, e),
                    }
                }
            }
            "isolation_timeout" => s.isolation_timeout = ctx.timer_arg(c, 1, DAY_US).or(s.isolation_timeout),
            "relay_apply_timeout" => {
                if let Some(d) = ctx.timer_arg(c, 0, DAY_US) {
                    s.relay_apply_timeout = d;
                }
            }
            "include" => {}
            _ => ctx.unknown(c, "check_mysql", CHECK_MYSQL_KEYWORDS),
        }
    }
    if let Some(f) = s.defaults_file.clone() {
        match read_defaults_file(&f) {
            Ok(client) => {
                // The block's own settings win over the option file's.
                s.user = s.user.or(client.user);
                s.password = s.password.or(client.password);
                s.host = s.host.or(client.host);
                s.socket = s.socket.or(client.socket);
                if let Some(p) = client.port {
                    if !n.children().iter().any(|c| c.name() == "port") {
                        s.port = p;
                    }
                }
            }
            Err(e) => ctx.error(
                n.span(),
                format!("check_mysql {name}: defaults_file {}: {e}", f.display()),
            ),
        }
    }
    if s.host.is_none() && s.socket.is_none() {
        ctx.error(n.span(), format!("check_mysql {name}: needs 'host' or 'socket'"));
        return None;
    }
    if s.user.is_none() {
        ctx.error(
            n.span(),
            format!("check_mysql {name}: needs 'user' (or a defaults_file with one)"),
        );
        return None;
    }
    if s.peer_user.is_none() {
        s.peer_user = s.user.clone();
    }
    if s.peer_password.is_none() {
        s.peer_password = s.password.clone();
    }
    Some(CheckMysql {
        name,
        span: n.span(),
        common,
        settings: s,
    })
}

fn port(ctx: &mut Ctx<'_>, c: &Node) -> Option<u16> {
    ctx.int_arg(c, 1, 65535).and_then(|p| u16::try_from(p).ok())
}

/// The `[client]` settings of a MySQL option file.
#[derive(Debug, Default, PartialEq)]
pub struct ClientOptions {
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub socket: Option<PathBuf>,
}

/// Reads the `[client]` (and `[mysql]`/`[mariadb-client]`) sections as the
/// MySQL clients do: `key=value`, optional quotes, `#`/`;` comments.
pub fn read_defaults_file(path: &Path) -> Result<ClientOptions, String> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    Ok(parse_client_options(&text))
}

pub fn parse_client_options(text: &str) -> ClientOptions {
    let mut o = ClientOptions::default();
    let mut in_client = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_client = matches!(section.trim(), "client" | "mysql" | "mariadb-client" | "client-mariadb");
            continue;
        }
        if !in_client {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .or_else(|| v.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
            .unwrap_or(v)
            .to_string();
        match k.trim().replace('-', "_").as_str() {
            "user" => o.user = Some(v),
            "password" => o.password = Some(v),
            "host" => o.host = Some(v),
            "port" => o.port = v.parse().ok(),
            "socket" => o.socket = Some(PathBuf::from(v)),
            _ => {}
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn witnesses_are_addresses_with_an_optional_port() {
        let w = |t: &str| Witness::parse(t).map(|w| w.to_string());
        assert_eq!(w("10.0.0.1").as_deref(), Ok("10.0.0.1"));
        assert_eq!(w("10.0.0.1:53").as_deref(), Ok("10.0.0.1:53"));
        assert_eq!(w("fd00::1").as_deref(), Ok("fd00::1"));
        assert_eq!(w("[fd00::1]:443").as_deref(), Ok("[fd00::1]:443"));
        assert_eq!(w("[fd00::1]").as_deref(), Ok("fd00::1"));
        assert_eq!(Witness::parse("10.0.0.1").unwrap().port, None);
        for bad in [
            "gw.example",
            "10.0.0.1:0",
            "10.0.0.1:x",
            "[fd00::1]443",
            "[10.0.0.1]:80",
            "10.0.0:80",
            "",
        ] {
            assert!(Witness::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn client_section_of_an_option_file() {
        let o = parse_client_options(
            "[mysqld]\nuser=mysql\n[client]\nuser = chk\npassword=\"s3cr et\"\n# c\nport=3307\nsocket=/run/m.sock\n[other]\nhost=x\n",
        );
        assert_eq!(
            o,
            ClientOptions {
                user: Some("chk".into()),
                password: Some("s3cr et".into()),
                host: None,
                port: Some(3307),
                socket: Some(PathBuf::from("/run/m.sock")),
            }
        );
    }
}
