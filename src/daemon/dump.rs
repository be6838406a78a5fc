//! The dump files keepalived writes on signals, in `$TMPDIR` (if absolute)
//! or /tmp, mode 0600: `keepalived.data` (USR1), `keepalived.stats` (USR2)
//! and `keepalived.json` (SIGRTMIN+2) in keepalived 2.2.7's JSON schema.
//! rkeepalived's own fields sit under an `rkeepalived` key inside `data`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Map, Number, Value};

use crate::config::dump::{route_line, rule_line, vip_line};
use crate::config::model::{AuthType, Config, InitialState, VrrpInstance};
use crate::vrrp::{Instance, State, Stats};

/// What a dump needs to know about one running instance.
pub struct InstanceView<'a> {
    pub cfg: &'a VrrpInstance,
    pub inst: &'a Instance,
    /// The interface the instance runs on (`ifp_ifname`).
    pub ifname: &'a str,
    pub vmac_ifname: Option<&'a str>,
    pub vips_set: bool,
    /// Seconds since the epoch of the last state change.
    pub last_transition: f64,
    /// Commands of the tracked scripts.
    pub track_scripts: Vec<String>,
    /// rkeepalived's own status (checks, guard), shown under `rkeepalived`.
    pub extra: Value,
}

/// The directory for dump files: `$TMPDIR` if absolute, else /tmp.
pub fn dump_dir() -> PathBuf {
    match std::env::var_os("TMPDIR").map(PathBuf::from) {
        Some(p) if p.is_absolute() => p,
        _ => PathBuf::from("/tmp"),
    }
}

/// `keepalived.json` or, with `data_use_instance`, `keepalived_NAME.json`,
/// in the dump directory or in `location` (`json_file_location` and the
/// like): a directory if it ends in `/`, else the file itself.
pub fn dump_path(stem: &str, ext: &str, instance: Option<&str>, location: Option<&str>) -> PathBuf {
    let name = match instance {
        Some(i) => format!("{stem}_{i}.{ext}"),
        None => format!("{stem}.{ext}"),
    };
    match location {
        Some(dir) if dir.ends_with('/') => PathBuf::from(dir).join(name),
        Some(file) => PathBuf::from(file),
        None => dump_dir().join(name),
    }
}

/// Writes `text` to `path` with mode 0600, replacing it.
pub fn write_file(path: &PathBuf, text: &str) -> std::io::Result<()> {
    let _ = std::fs::remove_file(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

fn secs_value(d: Duration) -> Value {
    if d.subsec_nanos() == 0 {
        Value::Number(Number::from(d.as_secs()))
    } else {
        Number::from_f64(d.as_secs_f64())
            .map(Value::Number)
            .unwrap_or(Value::Null)
    }
}

fn script_str(argv: &[String]) -> String {
    argv.iter().map(|a| format!("'{a}'")).collect::<Vec<_>>().join(" ")
}

fn state_code(s: State) -> u8 {
    s.keepalived_code()
}

/// One instance's `data` object.
pub fn instance_json(v: &InstanceView<'_>) -> Value {
    let c = v.cfg;
    let i = v.inst;
    let mut d = Map::new();
    let b = |x: bool| Value::from(u8::from(x));
    d.insert("iname".into(), json!(c.name));
    d.insert("dont_track_primary".into(), b(c.dont_track_primary));
    d.insert("skip_check_adv_addr".into(), b(c.skip_check_adv_addr));
    d.insert("strict_mode".into(), b(c.strict));
    d.insert("vmac_ifname".into(), json!(v.vmac_ifname.unwrap_or("")));
    d.insert("ifp_ifname".into(), json!(v.ifname));
    let master_priority = if i.state() == State::Backup {
        i.current_master().map(|(_, p)| p).unwrap_or(0)
    } else {
        0
    };
    d.insert("master_priority".into(), json!(master_priority));
    d.insert(
        "last_transition".into(),
        Number::from_f64(v.last_transition)
            .map(Value::Number)
            .unwrap_or(Value::Null),
    );
    d.insert("garp_delay".into(), secs_value(c.garp.master_delay));
    d.insert("garp_refresh".into(), secs_value(c.garp.master_refresh));
    d.insert("garp_rep".into(), json!(c.garp.master_repeat));
    d.insert("garp_refresh_rep".into(), json!(c.garp.master_refresh_repeat));
    d.insert("garp_lower_prio_delay".into(), secs_value(c.garp.lower_prio_delay));
    d.insert("garp_lower_prio_rep".into(), json!(c.garp.lower_prio_repeat));
    d.insert("lower_prio_no_advert".into(), b(c.lower_prio_no_advert));
    d.insert("higher_prio_send_advert".into(), b(c.higher_prio_send_advert));
    d.insert("vrid".into(), json!(c.vrid));
    d.insert("base_priority".into(), json!(c.priority));
    d.insert("effective_priority".into(), json!(i.effective_priority()));
    d.insert("vipset".into(), json!(v.vips_set));
    d.insert("promote_secondaries".into(), json!(c.promote_secondaries));
    d.insert("adver_int".into(), secs_value(c.advert_int));
    d.insert("master_adver_int".into(), secs_value(i.master_adver_interval()));
    d.insert("accept".into(), b(c.accept));
    d.insert("nopreempt".into(), json!(c.nopreempt));
    d.insert("preempt_delay".into(), secs_value(c.preempt_delay));
    d.insert("state".into(), json!(state_code(i.state())));
    let want = if i.state() == State::Master || i.wants_master() {
        2
    } else if i.state() == State::Init {
        if c.state == InitialState::Master {
            2
        } else {
            1
        }
    } else {
        state_code(i.state())
    };
    d.insert("wantstate".into(), json!(want));
    d.insert("version".into(), json!(c.version));
    d.insert("smtp_alert".into(), json!(false));
    d.insert("notify_deleted".into(), json!(c.notify.deleted.is_some()));
    for (key, s) in [
        ("script_backup", &c.notify.backup),
        ("script_master", &c.notify.master),
        ("script_fault", &c.notify.fault),
        ("script_stop", &c.notify.stop),
        ("script_deleted", &c.notify.deleted),
        ("script", &c.notify.generic),
        ("script_master_rx_lower_pri", &c.notify.master_rx_lower_pri),
    ] {
        if let Some(s) = s {
            d.insert(key.into(), json!(script_str(&s.argv)));
        }
    }
    let dev = v.vmac_ifname.or(c.interface.as_deref());
    let set = if v.vips_set { " set" } else { "" };
    d.insert(
        "vips".into(),
        json!(c
            .vips
            .iter()
            .map(|x| format!("{}{set}", vip_line(x, dev)))
            .collect::<Vec<_>>()),
    );
    if !c.excluded_vips.is_empty() {
        d.insert(
            "evips".into(),
            json!(c
                .excluded_vips
                .iter()
                .map(|x| format!("{}{set}", vip_line(x, dev)))
                .collect::<Vec<_>>()),
        );
    }
    if !c.routes.is_empty() {
        d.insert(
            "vroutes".into(),
            json!(c.routes.iter().map(route_line).collect::<Vec<_>>()),
        );
    }
    if !c.rules.is_empty() {
        d.insert(
            "vrules".into(),
            json!(c.rules.iter().map(rule_line).collect::<Vec<_>>()),
        );
    }
    if !c.track_interfaces.is_empty() {
        d.insert(
            "track_ifp".into(),
            json!(c.track_interfaces.iter().map(|t| t.name.clone()).collect::<Vec<_>>()),
        );
    }
    if !v.track_scripts.is_empty() {
        d.insert("track_script".into(), json!(v.track_scripts));
    }
    match &c.auth {
        Some(a) => {
            d.insert(
                "auth_type".into(),
                json!(if a.auth_type == AuthType::Pass { 1 } else { 2 }),
            );
            let pass: String = a
                .password
                .iter()
                .take_while(|b| **b != 0)
                .map(|b| char::from(*b))
                .collect();
            d.insert("auth_data".into(), json!(pass));
        }
        None => {
            d.insert("auth_type".into(), json!(0));
        }
    }
    d.insert("rkeepalived".into(), v.extra.clone());
    Value::Object(d)
}

pub fn stats_json(s: &Stats) -> Value {
    serde_json::to_value(s).unwrap_or(Value::Null)
}

/// `keepalived.json`: an array of `{ "data": …, "stats": … }`.
pub fn json(views: &[InstanceView<'_>]) -> String {
    let arr: Vec<Value> = views
        .iter()
        .map(|v| json!({ "data": instance_json(v), "stats": stats_json(v.inst.stats()) }))
        .collect();
    serde_json::to_string(&arr).unwrap_or_else(|_| "[]".into())
}

/// `keepalived.stats`, keepalived's layout.
pub fn stats(views: &[InstanceView<'_>]) -> String {
    let mut out = String::new();
    for v in views {
        let s = v.inst.stats();
        let _ = write!(
            out,
            "VRRP Instance: {}\n  Advertisements:\n    Received: {}\n    Sent: {}\n  Became master: {}\n  Released master: {}\n  Packet Errors:\n    Length: {}\n    TTL: {}\n    Invalid Type: {}\n    Advertisement Interval: {}\n    Address List: {}\n  Authentication Errors:\n    Invalid Type: {}\n    Type Mismatch: {}\n    Failure: {}\n  Priority Zero:\n    Received: {}\n    Sent: {}\n",
            v.cfg.name,
            s.advert_rcvd,
            s.advert_sent,
            s.become_master,
            s.release_master,
            s.packet_len_err,
            s.ip_ttl_err,
            s.invalid_type_rcvd,
            s.advert_interval_err,
            s.addr_list_err,
            s.invalid_authtype,
            s.authtype_mismatch,
            s.auth_failure,
            s.pri_zero_rcvd,
            s.pri_zero_sent
        );
    }
    out
}

/// `keepalived.data`: the effective configuration plus each instance's
/// running state (keepalived documents this format as unstable).
pub fn data(config: &Config, views: &[InstanceView<'_>]) -> String {
    let mut out = crate::config::dump::dump(config);
    let _ = writeln!(out, "------< VRRP Instance states >------");
    for v in views {
        let i = v.inst;
        let _ = writeln!(out, " VRRP Instance = {}", v.cfg.name);
        let _ = writeln!(out, "   State = {}", i.state().name());
        let _ = writeln!(out, "   Effective priority = {}", i.effective_priority());
        let _ = writeln!(out, "   Master advert interval = {:?}", i.master_adver_interval());
        if let Some((src, p)) = i.current_master() {
            let _ = writeln!(out, "   Last master heard = {src} (priority {p})");
        }
        let _ = writeln!(out, "   VIPs set = {}", v.vips_set);
        if !v.extra.is_null() {
            let _ = writeln!(out, "   rkeepalived = {}", v.extra);
        }
    }
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn dump_files_go_where_the_location_keywords_say() {
        let p = |loc| super::dump_path("keepalived", "json", Some("lb"), loc);
        assert_eq!(
            p(Some("/run/ka/")),
            std::path::PathBuf::from("/run/ka/keepalived_lb.json")
        );
        assert_eq!(
            p(Some("/run/ka/state.json")),
            std::path::PathBuf::from("/run/ka/state.json")
        );
        assert!(p(None).ends_with("keepalived_lb.json"));
    }

    use super::*;
    use crate::config::{load_str, LoadOptions};

    #[test]
    fn json_fields_match_keepalived() {
        let l = load_str(
            "t",
            "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n authentication {\n auth_type PASS\n auth_pass 1111\n }\n virtual_ipaddress {\n 10.9.0.100/24\n }\n notify \"/bin/echo n\"\n}\n",
            &LoadOptions::default(),
        );
        let cfg = &l.config.instances[0];
        let inst = Instance::new(super::super::params::engine_params(cfg));
        let v = InstanceView {
            cfg,
            inst: &inst,
            ifname: "eth0",
            vmac_ifname: None,
            vips_set: true,
            last_transition: 1.5,
            track_scripts: vec![],
            extra: json!({}),
        };
        let text = json(std::slice::from_ref(&v));
        let parsed: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let d = &parsed[0]["data"];
        assert_eq!(d["iname"], "VI_1");
        assert_eq!(d["vrid"], 51);
        assert_eq!(d["base_priority"], 100);
        assert_eq!(d["adver_int"], 1);
        assert_eq!(d["state"], 0);
        assert_eq!(d["vips"][0], "10.9.0.100/24 dev eth0 scope global set");
        assert_eq!(d["auth_type"], 1);
        assert_eq!(d["auth_data"], "1111");
        assert_eq!(d["script"], "'/bin/echo' 'n'");
        let s = &parsed[0]["stats"];
        for k in [
            "advert_rcvd",
            "advert_sent",
            "become_master",
            "release_master",
            "packet_len_err",
            "advert_interval_err",
            "ip_ttl_err",
            "invalid_type_rcvd",
            "addr_list_err",
            "invalid_authtype",
            "authtype_mismatch",
            "auth_failure",
            "pri_zero_rcvd",
            "pri_zero_sent",
        ] {
            assert_eq!(s[k], 0, "{k}");
        }
        assert!(
            stats(std::slice::from_ref(&v)).starts_with("VRRP Instance: VI_1\n  Advertisements:\n    Received: 0\n")
        );
    }
}
