//! Every `ip route` / `ip rule` form keepalived 2.2.7 accepts in
//! `virtual_routes` / `virtual_rules` is installed by rkeepalived exactly
//! as keepalived installs it: the same line in the same namespace, then
//! `ip route show table all` and `ip rule show` compared, for both
//! families. Forms the kernel here cannot take (MPLS encapsulation needs
//! the mpls_router module) fail for both, and are the parse-only list of
//! docs/compatibility.md.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;

/// Route lines, gateways on the lab's 10.99.0.0/24 and fd00:99::/64.
const ROUTES: &[&str] = &[
    "10.5.0.0/16 via 10.99.0.254 dev eth0",
    "10.6.0.0/16 via 10.99.0.254 dev eth0 table 100 metric 10",
    "10.7.0.0/16 dev eth0 scope link src 10.99.0.1",
    "10.8.0.0/16 via 10.99.0.254 dev eth0 mtu lock 1400 advmss 1300 initcwnd 10 initrwnd 10 realms 3",
    "10.9.0.0/16 via 10.99.0.254 dev eth0 protocol 99 no_track",
    "10.10.0.0/16 via 10.99.0.254 dev eth0 protocol static",
    "blackhole 10.11.0.0/16 dev eth0",
    "unreachable 10.12.0.0/16",
    "prohibit 10.13.0.0/16",
    "throw 10.14.0.0/16 table 100",
    "10.15.0.0/16 dev eth0 nexthop via 10.99.0.253 dev eth0 weight 1 nexthop via 10.99.0.252 dev eth0 weight 2",
    "10.16.0.0/16 via 10.99.0.254 dev eth0 tos 0x10 rtt 10 rttvar 5 reordering 3 window 1000 cwnd 10 ssthresh 5",
    "10.17.0.0/16 via 10.99.0.254 dev eth0 features ecn quickack 1 congctl lock cubic fastopen_no_cookie 1 rto_min 200 hoplimit 10",
    "fd02::/64 via fd00:99::2 dev eth0 pref high",
    "fd03::/64 from fd00:99::/64 via fd00:99::2 dev eth0",
    "10.18.0.0/16 encap ip id 100 dst 10.99.0.9 via 10.99.0.254 dev eth0",
    "fd04::/64 encap ip6 id 100 dst fd00:99::9 via fd00:99::2 dev eth0",
    "10.19.0.0/16 via 10.99.0.254 dev eth0 table main",
    "10.20.0.0/16 dev eth0 src 10.99.0.1 metric 5 no_track",
    "default6 via fd00:99::2 dev eth0 table 102",
    "default via 10.99.0.254 dev eth0 table 103",
    "fd05::/64 dev eth0 inet6",
    "inet6 to fd06::/64 dev eth0",
    "local 10.99.7.1 dev eth0",
    "broadcast 10.99.7.255 dev eth0 table 100",
    "multicast 224.1.0.0/16 dev eth0 table 100",
    "10.21.0.0/16 via 10.99.0.254 dev eth0 onlink",
    "10.22.0.1 dev eth0",
    "anycast fd07::1 dev eth0",
    "10.23.0.0/16 dev eth0 ttl-propagate enabled",
    "10.24.0.0/16 dev eth0 rtt 1s rttvar lock 300ms",
    "10.25.0.0/16 dev eth0 nexthop dev eth0 nexthop dev eth1",
    "10.26.0.0/16 dev eth0 realms 1/2",
    "all via 10.99.0.254 dev eth0 table 104",
    "10.27.0.0/16 oif eth0",
    "10.28.0.0/16 via 10.99.0.254 or 10.99.0.253 dev eth0",
    "10.29.0.0/16 gw 10.99.0.254 dev eth0",
    "unicast 10.30.0.0/16 via 10.99.0.254 dev eth0",
    "10.31.0.0/16 dev eth0 encap mpls 100/200 via 10.99.0.254",
    "10.32.0.0/16 dev eth0 table 99999999999",
    // Matching routes: keepalived prepends unless told to add or append.
    "10.33.0.0/16 via 10.99.0.254 dev eth0 table 105",
    "10.33.0.0/16 via 10.99.0.253 dev eth0 table 105 append",
    "10.33.0.0/16 via 10.99.0.252 dev eth0 table 105",
    "10.33.0.0/16 via 10.99.0.251 dev eth0 table 105 add",
    "10.33.0.0/16 via 10.99.0.250 dev eth0 table 105 prepend",
];

const RULES: &[&str] = &[
    "from 10.99.0.0/24 table 100 priority 100",
    "to 10.9.0.0/16 table 100 priority 101",
    "from all table 100 priority 102",
    "from 10.99.0.0/24 to 10.9.0.0/16 iif eth0 oif eth1 table 100 priority 103",
    "fwmark 5 table 100 priority 104",
    "fwmark 5/0xff table 100 priority 105",
    "not from 10.99.0.0/24 table 100 priority 106",
    "from 10.99.0.0/24 tos 0x10 table 100 priority 107",
    "from 10.99.0.0/24 uidrange 100-200 table 100 priority 109",
    "from 10.99.0.0/24 dport 1000-2000 table 100 priority 111",
    "from 10.99.0.0/24 ipproto tcp table 100 priority 112",
    "from 10.99.0.0/24 l3mdev priority 114",
    "from 10.99.0.0/24 goto 200 priority 115",
    "from 10.99.0.0/24 table 100 suppress_prefixlength 0 priority 116",
    "from 10.99.0.0/24 table 100 suppress_ifgroup 5 priority 117",
    "from 10.99.0.0/24 table 100 realms 3 priority 118",
    "from 10.99.0.0/24 blackhole priority 119",
    "from 10.99.0.0/24 prohibit priority 120",
    "from 10.99.0.0/24 unreachable priority 121",
    "from 10.99.0.0/24 protocol 50 table 100 priority 123",
    "from fd00:99::/64 table 100 priority 125",
    "from all to fd00:99::/64 table 100 priority 126",
    "from 10.99.0.0/24 table main priority 127",
    "from 10.99.0.0/24 type blackhole priority 128",
    "from 10.99.0.0/24 table 100 priority 129 no_track",
    "from 10.99.0.0/24 table 100 priority 139 realms 1/2",
    "from 10.99.0.0/24 table 100 preference 140",
    "from 10.99.0.0/24 table 100",
    "from 10.99.3.0/24 table 100",
    "from 10.99.0.0/24 lookup 100 priority 141",
    "from 10.99.0.0/24 table 100 priority 142 sport 10-20",
    "from 10.99.0.0/24 table 100 priority 143 dsfield 0x20",
];

fn config() -> String {
    let list = |v: &[&str]| v.iter().map(|l| format!("        {l}\n")).collect::<String>();
    format!(
        "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id 51\n    priority 255\n    advert_int 1\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n    virtual_routes {{\n{}    }}\n    virtual_rules {{\n{}    }}\n}}\n",
        list(ROUTES),
        list(RULES)
    )
}

/// What the kernel holds, made comparable: the lines of both families'
/// routes and rules, sorted; the kernel's own routes left out.
fn tables(lab: &Lab) -> String {
    let show = |args: &[&str]| String::from_utf8_lossy(&lab.exec(0, args).stdout).to_string();
    let mut lines: Vec<String> = [
        show(&["ip", "route", "show", "table", "all"]),
        show(&["ip", "-6", "route", "show", "table", "all"]),
        show(&["ip", "rule", "show"]),
        show(&["ip", "-6", "rule", "show"]),
    ]
    .concat()
    .lines()
    .filter(|l| {
        !l.contains("proto kernel") && !l.contains(" fe80::") && !l.starts_with("local fe80") && !l.contains("ff00::/8")
    })
    .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
    .collect();
    lines.sort();
    // Matching routes are kept in the kernel's order (prepend/append).
    let order = show(&["ip", "route", "show", "table", "105"]);
    lines.push(format!(
        "table 105 in order: {}",
        order.split_whitespace().collect::<Vec<_>>().join(" ")
    ));
    lines.join("\n")
}

fn installed(keepalived: bool) -> String {
    let mut lab = Lab::new(if keepalived { "rtka" } else { "rtrk" }, 1);
    lab.add_link(0, "eth1");
    if keepalived {
        lab.start_keepalived(0, &config());
    } else {
        lab.start(0, &config(), &[]);
    }
    wait_for(Duration::from_secs(5), || lab.has_addr(0, VIP)).expect("MASTER");
    // The routes and rules follow the VIPs.
    std::thread::sleep(Duration::from_secs(1));
    tables(&lab)
}

#[test]
#[ignore = "needs root, network namespaces and keepalived; run by the full test command (scripts/test-all.sh)"]
fn routes_and_rules_are_installed_as_keepalived_installs_them() {
    assert!(
        which("keepalived"),
        "keepalived is not installed (the full test command installs it)"
    );
    let (ka, rk) = std::thread::scope(|s| {
        let ka = s.spawn(|| installed(true));
        let rk = s.spawn(|| installed(false));
        (ka.join().expect("keepalived lab"), rk.join().expect("rkeepalived lab"))
    });
    // Both sides installed what they were given, not nothing.
    assert!(
        ka.lines().count() > 40
            && ka.contains("proto keepalived")
            && ka.contains("10.33.0.0/16 via 10.99.0.250 dev eth0 table 105"),
        "keepalived installed:\n{ka}"
    );
    let (k, r): (Vec<&str>, Vec<&str>) = (ka.lines().collect(), rk.lines().collect());
    let only_ka: Vec<_> = k.iter().filter(|l| !r.contains(l)).collect();
    let only_rk: Vec<_> = r.iter().filter(|l| !k.contains(l)).collect();
    assert!(
        only_ka.is_empty() && only_rk.is_empty(),
        "only keepalived installed:\n{}\nonly rkeepalived installed:\n{}",
        only_ka.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n"),
        only_rk.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
    );
}
