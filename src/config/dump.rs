//! `-d/--dump-conf`: the effective configuration (after includes, variables
//! and defaults) in the layout keepalived 2.2.7 logs it.

use std::fmt::Write;
use std::time::Duration;

use super::model::*;
use super::values::fmt_secs;

fn secs(d: Duration) -> String {
    fmt_secs(u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

fn onoff(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

fn script_line(s: &ScriptSpec) -> String {
    let args: Vec<String> = s.argv.iter().map(|a| format!("'{a}'")).collect();
    let mut out = args.join(" ");
    if let Some(u) = &s.user {
        let _ = write!(
            out,
            ", user {}{}",
            u.user,
            u.group.as_ref().map(|g| format!(":{g}")).unwrap_or_default()
        );
    }
    out
}

/// A VIP's address as the dump writes it: the prefix only when it is not
/// a host's (/32, /128).
pub fn vip_address(v: &VirtualAddress) -> String {
    if (v.addr.is_ipv4() && v.prefix == 32) || (v.addr.is_ipv6() && v.prefix == 128) {
        v.addr.to_string()
    } else {
        format!("{}/{}", v.addr, v.prefix)
    }
}

pub fn vip_line(v: &VirtualAddress, default_dev: Option<&str>) -> String {
    let mut s = vip_address(v);
    if let Some(d) = v.dev.as_deref().or(default_dev) {
        let _ = write!(s, " dev {d}");
    }
    match v.brd {
        Some(Broadcast::Addr(a)) => {
            let _ = write!(s, " brd {a}");
        }
        Some(Broadcast::Plus) => s.push_str(" brd +"),
        Some(Broadcast::Minus) => s.push_str(" brd -"),
        None => {}
    }
    let _ = write!(s, " scope {}", v.scope.name());
    if let Some(l) = &v.label {
        let _ = write!(s, " label {l}");
    }
    if let Some(p) = v.peer {
        let _ = write!(s, " peer {p}");
    }
    for (flag, name) in [
        (v.home, "home"),
        (v.nodad, "-nodad"),
        (v.mngtmpaddr, "mngtmpaddr"),
        (v.noprefixroute, "noprefixroute"),
        (v.autojoin, "autojoin"),
        (v.no_track, "no_track"),
    ] {
        if flag {
            let _ = write!(s, " {name}");
        }
    }
    s
}

/// A route as a line keepalived (and rkeepalived) parse back to it.
pub fn route_line(r: &VirtualRoute) -> String {
    r.to_string()
}

/// A rule as a line keepalived (and rkeepalived) parse back to it.
pub fn rule_line(r: &VirtualRule) -> String {
    r.to_string()
}

fn track_refs(out: &mut String, title: &str, refs: &[TrackRef]) {
    if refs.is_empty() {
        return;
    }
    let _ = writeln!(out, "   {title} :");
    for r in refs {
        let _ = writeln!(
            out,
            "     {} weight {}{}",
            r.name,
            r.weight.unwrap_or(0),
            if r.reverse.unwrap_or(false) { " reverse" } else { "" }
        );
    }
}

/// Renders the whole configuration.
pub fn dump(c: &Config) -> String {
    let mut out = String::new();
    let g = &c.global;
    let _ = writeln!(out, "------< Global definitions >------");
    if let Some(ns) = &c.net_namespace {
        let _ = writeln!(out, " Network namespace = {ns}");
    }
    let _ = writeln!(
        out,
        " Router ID = {}",
        g.router_id.as_deref().unwrap_or("(local host name)")
    );
    let _ = writeln!(out, " Default interface = {}", g.default_interface);
    let _ = writeln!(
        out,
        " FIFO write vrrp states on reload = {}",
        onoff(g.fifo_write_vrrp_states_on_reload)
    );
    let _ = writeln!(
        out,
        " VRRP notify priority changes = {}",
        onoff(g.vrrp_notify_priority_changes)
    );
    if let Some(f) = &g.vrrp_notify_fifo {
        let _ = writeln!(out, " VRRP notify FIFO = {}", f.path.display());
    }
    if let Some(f) = &g.notify_fifo {
        let _ = writeln!(out, " Global notify FIFO = {}", f.path.display());
    }
    let _ = writeln!(out, " VRRP IPv4 mcast group = {}", g.mcast_group4);
    let _ = writeln!(out, " VRRP IPv6 mcast group = {}", g.mcast_group6);
    garp(&mut out, " ", &g.garp);
    let _ = writeln!(out, " Num adverts before down = {}", g.down_timer_adverts);
    let _ = writeln!(
        out,
        " Send advert after receive lower priority advert = {}",
        onoff(!g.lower_prio_no_advert)
    );
    let _ = writeln!(
        out,
        " Send advert after receive higher priority advert = {}",
        onoff(g.higher_prio_send_advert)
    );
    let _ = writeln!(out, " Gratuitous ARP interval = {}", secs(g.garp.interval));
    let _ = writeln!(out, " Gratuitous NA interval = {}", secs(g.garp.na_interval));
    let _ = writeln!(out, " VRRP default protocol version = {}", g.vrrp_version);
    let _ = writeln!(out, " VRRP check unicast_src = {}", onoff(g.check_unicast_src));
    let _ = writeln!(
        out,
        " VRRP skip check advert addresses = {}",
        onoff(g.skip_check_adv_addr)
    );
    let _ = writeln!(out, " VRRP strict mode = {}", onoff(g.strict));
    let _ = writeln!(out, " VRRPv3 checksum as v2 = {}", onoff(g.v3_checksum_as_v2));
    let _ = writeln!(out, " Startup delay = {}", secs(g.startup_delay));
    let _ = writeln!(
        out,
        " Script security {}",
        if g.enable_script_security {
            "enabled"
        } else {
            "disabled"
        }
    );
    if let Some(u) = &g.script_user {
        let _ = writeln!(
            out,
            " Default script user = {}{}",
            u.user,
            u.group.as_ref().map(|g| format!(":{g}")).unwrap_or_default()
        );
    }
    let _ = writeln!(out, " Plugin directory = {}", g.plugin_dir.display());

    let _ = writeln!(out, "------< VRRP Topology >------");
    for i in &c.instances {
        instance(&mut out, i);
    }
    if !c.sync_groups.is_empty() {
        let _ = writeln!(out, "------< VRRP Sync groups >------");
        for sg in &c.sync_groups {
            let _ = writeln!(out, " VRRP Sync Group = {}", sg.name);
            let names: Vec<&str> = sg.members.iter().map(|(n, _)| n.as_str()).collect();
            let _ = writeln!(out, "   VRRP member instances = {}", names.join(", "));
            track_refs(&mut out, "Tracked scripts", &sg.track_scripts);
            notifies(&mut out, &sg.notify);
        }
    }
    if !c.scripts.is_empty() {
        let _ = writeln!(out, "------< VRRP Scripts >------");
        for s in &c.scripts {
            let _ = writeln!(out, " VRRP Script = {}", s.name);
            let _ = writeln!(out, "   Command = {}", script_line(&s.script));
            let _ = writeln!(out, "   Interval = {} sec", secs(s.interval));
            let _ = writeln!(out, "   Timeout = {} sec", secs(s.timeout));
            let _ = writeln!(
                out,
                "   Weight = {}{}",
                s.weight,
                if s.reverse { " reverse" } else { "" }
            );
            let _ = writeln!(out, "   Rise = {}", s.rise);
            let _ = writeln!(out, "   Fall = {}", s.fall);
            let _ = writeln!(
                out,
                "   Init state = {}",
                if s.init_fail { "INIT_FAILED" } else { "INIT" }
            );
        }
    }
    if !c.track_files.is_empty() {
        let _ = writeln!(out, "------< VRRP Track files >------");
        for f in &c.track_files {
            let _ = writeln!(out, " Track file = {}", f.name);
            let _ = writeln!(out, "   File = {}", f.path.display());
            let _ = writeln!(
                out,
                "   Weight = {}{}",
                f.weight,
                if f.reverse { " reverse" } else { "" }
            );
        }
    }
    if !c.track_processes.is_empty() {
        let _ = writeln!(out, "------< VRRP Track processes >------");
        for p in &c.track_processes {
            let _ = writeln!(out, " Track process = {}", p.name);
            let _ = writeln!(
                out,
                "   Process = {}{}",
                p.process,
                p.params
                    .as_ref()
                    .map(|v| format!(" {}", v.join(" ")))
                    .unwrap_or_default()
            );
            let _ = writeln!(out, "   Quorum = {}", p.quorum);
            let _ = writeln!(
                out,
                "   Weight = {}{}",
                p.weight,
                if p.reverse { " reverse" } else { "" }
            );
        }
    }
    for m in &c.check_mysql {
        let _ = writeln!(out, " MySQL check = {}", m.name);
    }
    for p in &c.check_plugins {
        let _ = writeln!(out, " Plugin check = {} ({})", p.name, p.plugin);
    }
    if !c.static_addresses.is_empty() {
        let _ = writeln!(out, "------< Static addresses >------");
        for a in &c.static_addresses {
            let _ = writeln!(out, " {}", vip_line(a, Some(&g.default_interface)));
        }
    }
    out
}

fn garp(out: &mut String, ind: &str, g: &GarpSettings) {
    let _ = writeln!(out, "{ind}Gratuitous ARP delay = {}", secs(g.master_delay));
    let _ = writeln!(out, "{ind}Gratuitous ARP repeat = {}", g.master_repeat);
    let _ = writeln!(out, "{ind}Gratuitous ARP refresh = {}", secs(g.master_refresh));
    let _ = writeln!(out, "{ind}Gratuitous ARP refresh repeat = {}", g.master_refresh_repeat);
    let _ = writeln!(
        out,
        "{ind}Gratuitous ARP lower priority delay = {}",
        secs(g.lower_prio_delay)
    );
    let _ = writeln!(
        out,
        "{ind}Gratuitous ARP lower priority repeat = {}",
        g.lower_prio_repeat
    );
}

fn notifies(out: &mut String, n: &Notifies) {
    for (title, s) in [
        ("Master state transition script", &n.master),
        ("Backup state transition script", &n.backup),
        ("Fault state transition script", &n.fault),
        ("Stop state transition script", &n.stop),
        ("Deleted state transition script", &n.deleted),
        ("Generic state transition script", &n.generic),
        ("Master receive lower priority script", &n.master_rx_lower_pri),
    ] {
        if let Some(s) = s {
            let _ = writeln!(out, "   {title} = {}", script_line(s));
        }
    }
}

fn instance(out: &mut String, i: &VrrpInstance) {
    let _ = writeln!(out, " VRRP Instance = {}", i.name);
    let _ = writeln!(out, "   VRRP Version = {}", i.version);
    if let Some(g) = &i.sync_group {
        let _ = writeln!(out, "   Sync group = {g}");
    }
    let _ = writeln!(
        out,
        "   Wantstate = {}",
        if i.state == InitialState::Master {
            "MASTER"
        } else {
            "BACKUP"
        }
    );
    if let Some(v) = &i.vmac {
        let _ = writeln!(
            out,
            "   Use VMAC, i/f name {}, xmit_base = {}",
            v.name,
            onoff(v.xmit_base)
        );
    }
    let _ = writeln!(out, "   Interface = {}", i.interface.as_deref().unwrap_or("(none)"));
    if let Some(src) = i.unicast_src_ip {
        let _ = writeln!(out, "   Using src_ip = {src}");
    }
    if i.is_unicast() {
        let _ = writeln!(out, "   Unicast TTL = {}", i.unicast_ttl);
        let _ = writeln!(out, "   Unicast Peer(s) ({}):", i.unicast_peers.len());
        for p in &i.unicast_peers {
            let _ = writeln!(out, "     {}", p.addr);
        }
    } else {
        let _ = writeln!(out, "   Multicast address {}", i.mcast_dst);
    }
    garp(out, "   ", &i.garp);
    let _ = writeln!(out, "   Down timer adverts = {}", i.down_timer_adverts);
    let _ = writeln!(
        out,
        "   Send advert after receive lower priority advert = {}",
        onoff(!i.lower_prio_no_advert)
    );
    let _ = writeln!(
        out,
        "   Send advert after receive higher priority advert = {}",
        onoff(i.higher_prio_send_advert)
    );
    let _ = writeln!(out, "   Virtual Router ID = {}", i.vrid);
    let _ = writeln!(out, "   Priority = {}", i.priority);
    let _ = writeln!(out, "   Advert interval = {} sec", secs(i.advert_int));
    let _ = writeln!(out, "   Accept = {}", if i.accept { "enabled" } else { "disabled" });
    let _ = writeln!(out, "   Preempt = {}", if i.nopreempt { "disabled" } else { "enabled" });
    if !i.preempt_delay.is_zero() {
        let _ = writeln!(out, "   Preempt delay = {} secs", secs(i.preempt_delay));
    }
    let _ = writeln!(
        out,
        "   Promote_secondaries = {}",
        if i.promote_secondaries { "enabled" } else { "disabled" }
    );
    if let Some(a) = &i.auth {
        let kind = match a.auth_type {
            AuthType::Pass => "SIMPLE_PASSWORD",
            AuthType::Ah => "IPSEC_AH",
        };
        let _ = writeln!(out, "   Authentication type = {kind}");
        let pass: String = a
            .password
            .iter()
            .take_while(|b| **b != 0)
            .map(|b| char::from(*b))
            .collect();
        let _ = writeln!(out, "   Password = {pass}");
    }
    let dev = i.vmac.as_ref().map(|v| v.name.as_str()).or(i.interface.as_deref());
    let _ = writeln!(out, "   Virtual IP ({}):", i.vips.len());
    for v in &i.vips {
        let _ = writeln!(out, "     {}", vip_line(v, dev));
    }
    if !i.excluded_vips.is_empty() {
        let _ = writeln!(out, "   Virtual IP Excluded ({}):", i.excluded_vips.len());
        for v in &i.excluded_vips {
            let _ = writeln!(out, "     {}", vip_line(v, dev));
        }
    }
    if !i.routes.is_empty() {
        let _ = writeln!(out, "   Virtual Routes ({}):", i.routes.len());
        for r in &i.routes {
            let _ = writeln!(out, "     {}", route_line(r));
        }
    }
    if !i.rules.is_empty() {
        let _ = writeln!(out, "   Virtual Rules ({}):", i.rules.len());
        for r in &i.rules {
            let _ = writeln!(out, "     {}", rule_line(r));
        }
    }
    if !i.track_interfaces.is_empty() {
        let _ = writeln!(out, "   Tracked interfaces :");
        for t in &i.track_interfaces {
            let _ = writeln!(
                out,
                "     {} weight {}{}",
                t.name,
                t.weight,
                if t.reverse { " reverse" } else { "" }
            );
        }
    }
    track_refs(out, "Tracked scripts", &i.track_scripts);
    track_refs(out, "Tracked files", &i.track_files);
    track_refs(out, "Tracked processes", &i.track_processes);
    notifies(out, &i.notify);
    let _ = writeln!(out, "   Notify priority changes = {}", onoff(i.notify_priority_changes));
}
