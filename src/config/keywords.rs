//! Which keepalived 2.2.7 keywords rkeepalived runs, which it accepts
//! without effect, and which it does not support.
//!
//! The keyword sets of each block were taken from keepalived 2.2.7 itself
//! (every candidate word fed to `keepalived -t` in each block). A keyword in
//! none of these lists and not handled by a block reader is unknown: an error,
//! as keepalived makes it. A test keeps docs/compatibility.md's table in
//! step with these lists.

/// Accepted and validated, but with nothing for rkeepalived to do; each
/// with the reason shown in docs/compatibility.md.
pub const GLOBAL_NO_EFFECT: &[(&str, &str)] = &[
    (
        "max_auto_priority",
        "rkeepalived's timers do not depend on scheduling priority boosts",
    ),
    ("min_auto_priority_delay", "as max_auto_priority"),
    ("vrrp_priority", "process nice value; set it in the service unit"),
    ("vrrp_no_swap", "memory locking; set it in the service unit"),
    ("vrrp_rt_priority", "realtime scheduling; set it in the service unit"),
    ("vrrp_cpu_affinity", "CPU affinity; set it in the service unit"),
    ("vrrp_rlimit_rtime", "realtime CPU limit; set it in the service unit"),
    ("vrrp_rlimit_rttime", "realtime CPU limit; set it in the service unit"),
    ("vrrp_netlink_cmd_rcv_bufs", "netlink buffers are sized automatically"),
    (
        "vrrp_netlink_cmd_rcv_bufs_force",
        "netlink buffers are sized automatically",
    ),
    (
        "vrrp_netlink_monitor_rcv_bufs",
        "netlink buffers are sized automatically",
    ),
    (
        "vrrp_netlink_monitor_rcv_bufs_force",
        "netlink buffers are sized automatically",
    ),
    ("process_monitor_rcv_bufs", "process tracking scans /proc"),
    ("process_monitor_rcv_bufs_force", "process tracking scans /proc"),
    ("vrrp_rx_bufs_policy", "receive buffers are sized automatically"),
    ("vrrp_rx_bufs_multiplier", "receive buffers are sized automatically"),
    ("disable_local_igmp", "rkeepalived does not change IGMP sysctls"),
    (
        "vmac_addr_prefix",
        "VMAC addresses follow the RFC (00:00:5e:00:01|02:VRID)",
    ),
    ("random_seed", "no randomness affects the protocol"),
    ("reload_time_file", "scheduled reloads are not supported; send SIGHUP"),
    ("reload_repeat", "scheduled reloads are not supported; send SIGHUP"),
    ("reload_file", "reloads are signalled with SIGHUP"),
    (
        "include_check",
        "include variants (includer/includem/…) are honoured per line",
    ),
    ("config_save_dir", "the configuration is not copied"),
    ("tmp_config_directory", "the configuration is not copied"),
    ("process_names", "one process; its name is rkeepalived"),
    ("process_name", "one process; its name is rkeepalived"),
    ("vrrp_process_name", "one process; its name is rkeepalived"),
    ("umask", "use -u/--umask"),
    ("vrrp_iptables", "rkeepalived never installs firewall rules"),
    ("vrrp_ipsets", "rkeepalived never installs firewall rules"),
    ("nftables", "rkeepalived never installs firewall rules"),
    ("nftables_priority", "rkeepalived never installs firewall rules"),
    ("nftables_ifindex", "rkeepalived never installs firewall rules"),
    ("nftables_counters", "rkeepalived never installs firewall rules"),
    (
        "checker_priority",
        "one process; set its nice value in the service unit",
    ),
    ("checker_no_swap", "memory locking; set it in the service unit"),
    ("checker_rt_priority", "realtime scheduling; set it in the service unit"),
    ("checker_cpu_affinity", "CPU affinity; set it in the service unit"),
    ("checker_rlimit_rtime", "realtime CPU limit; set it in the service unit"),
    (
        "checker_rlimit_rttime",
        "realtime CPU limit; set it in the service unit",
    ),
    ("checker_process_name", "one process; its name is rkeepalived"),
    (
        "checker_log_all_failures",
        "every checker failure is logged at debug level",
    ),
];

/// keepalived subsystems rkeepalived does not run: a warning, then ignored.
pub const GLOBAL_UNSUPPORTED: &[(&str, &str)] = &[
    ("notification_email", "e-mail alerts"),
    ("notification_email_from", "e-mail alerts"),
    ("smtp_server", "e-mail alerts"),
    ("smtp_helo_name", "e-mail alerts"),
    ("smtp_connect_timeout", "e-mail alerts"),
    ("smtp_alert", "e-mail alerts"),
    ("smtp_alert_vrrp", "e-mail alerts"),
    ("smtp_alert_checker", "e-mail alerts"),
    ("no_email_faults", "e-mail alerts"),
    ("no_checker_emails", "e-mail alerts"),
    ("enable_snmp_vrrp", "SNMP"),
    ("enable_snmp_keepalived", "SNMP"),
    ("enable_snmp_checker", "SNMP"),
    ("enable_snmp_rfc", "SNMP"),
    ("enable_snmp_rfcv2", "SNMP"),
    ("enable_snmp_rfcv3", "SNMP"),
    ("enable_traps", "SNMP"),
    ("snmp_socket", "SNMP"),
    ("enable_dbus", "DBus"),
    ("dbus_service_name", "DBus"),
    ("lvs_sync_daemon", "the IPVS connection sync daemon"),
    ("lvs_notify_fifo", "LVS"),
    ("lvs_notify_fifo_script", "LVS"),
    ("lvs_process_name", "LVS"),
    ("lvs_netlink_cmd_rcv_bufs", "LVS"),
    ("lvs_netlink_cmd_rcv_bufs_force", "LVS"),
    ("lvs_netlink_monitor_rcv_bufs", "LVS"),
    ("lvs_netlink_monitor_rcv_bufs_force", "LVS"),
    ("rs_init_notifies", "LVS"),
    ("nftables_ipvs", "LVS"),
    ("nftables_ipvs_priority", "LVS"),
    ("nftables_ipvs_start_fwmark", "LVS"),
    ("bfd_priority", "BFD"),
    ("bfd_no_swap", "BFD"),
    ("bfd_rt_priority", "BFD"),
    ("bfd_cpu_affinity", "BFD"),
    ("bfd_rlimit_rtime", "BFD"),
    ("bfd_rlimit_rttime", "BFD"),
    ("bfd_process_name", "BFD"),
];

/// The values keepalived 2.2.7 checks in the e-mail keywords rkeepalived
/// does not run (seen with its `-t`), so the verdict is its own.
pub const GLOBAL_UNSUPPORTED_VALUES: &[(&str, Inert)] = &[
    ("notification_email", Inert::NonEmptyBlock),
    ("notification_email_from", Inert::Text(Bare::Error)),
    ("smtp_server", Inert::SmtpServer),
    (
        "smtp_connect_timeout",
        // keepalived: "must be greater than 0, setting to 1", counted.
        Inert::Int {
            lo: 1,
            hi: 4294,
            bare: Bare::Abort,
        },
    ),
    ("smtp_alert", Inert::OptionalBool),
    ("smtp_alert_vrrp", Inert::OptionalBool),
    ("smtp_alert_checker", Inert::OptionalBool),
    ("snmp_socket", Inert::Text(Bare::Error)),
];

pub const INSTANCE_NO_EFFECT: &[(&str, &str)] = &[
    ("debug", "not implemented by keepalived either"),
    ("kernel_rx_buf_size", "receive buffers are sized automatically"),
    ("linkbeat_use_polling", "link state comes from netlink"),
    ("native_ipv6", "deprecated: an instance with IPv6 addresses is IPv6"),
    ("old_unicast_checksum", "only for peers older than keepalived 1.3.6"),
];

pub const INSTANCE_UNSUPPORTED: &[(&str, &str)] = &[
    ("smtp_alert", "e-mail alerts"),
    ("use_ipvlan", "ipvlan interfaces (use_vmac is supported)"),
    ("vrf", "VRF binding"),
    ("no_accept", "firewall-enforced no_accept; VIPs always accept traffic"),
    ("lvs_sync_daemon_interface", "LVS"),
];

pub const SYNC_GROUP_UNSUPPORTED: &[(&str, &str)] = &[("smtp_alert", "e-mail alerts")];

pub const ROOT_NO_EFFECT: &[(&str, &str)] = &[
    ("child_wait_time", "rkeepalived is one process"),
    ("namespace_with_ipsets", "rkeepalived never installs firewall rules"),
    ("linkbeat_use_polling", "link state comes from netlink"),
    ("linkbeat_interfaces", "link state comes from netlink"),
    ("track_group", "static address tracking groups"),
    ("interface_up_down_delays", "interface changes apply at once"),
    (
        "garp_group",
        "per-interface GARP intervals; the global vrrp_garp_interval applies",
    ),
];

pub const ROOT_UNSUPPORTED: &[(&str, &str)] = &[("net_namespace_ipvs", "LVS")];

pub fn lookup<'a>(table: &'a [(&'a str, &'a str)], kw: &str) -> Option<&'a str> {
    table.iter().find(|(k, _)| *k == kw).map(|(_, why)| *why)
}

/// What keepalived 2.2.7 checks in the value of a keyword that has no
/// effect here: an accepted-but-ignored setting still gets keepalived's
/// verdict (observed by feeding each keyword bare, 0, -1, a word, a
/// fraction and an overlarge number to `keepalived -t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inert {
    /// A whole number in `[lo, hi]`; `bare` says what a missing value is.
    Int { lo: i64, hi: i64, bare: Bare },
    /// Any text, which must be present.
    Text(Bare),
    /// Nothing, or a boolean.
    OptionalBool,
    /// CPU numbers of this machine.
    Cpus,
    /// `MTU`, `ADVERT` or a size.
    RxBufsPolicy,
    /// An octal, hex or decimal mode up to 0777, or `IRUSR|IWGRP|…`.
    Umask,
    /// Include checks: `[+|-]match|wildcard_match|brace_match` …
    IncludeCheck,
    /// keepalived counts the keyword itself as a configuration error.
    Refused(&'static str),
    /// `smtp_server ADDR [PORT]`.
    SmtpServer,
    /// A block that must hold at least one entry and no arguments.
    NonEmptyBlock,
}

/// What a missing value means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bare {
    Ok,
    /// keepalived reports it and goes on (exit 5).
    Error,
    /// keepalived stops reading (exit 2).
    Abort,
}

const U32: i64 = u32::MAX as i64;
const I32: (i64, i64) = (i32::MIN as i64, i32::MAX as i64);

pub const GLOBAL_INERT_VALUES: &[(&str, Inert)] = &[
    (
        "max_auto_priority",
        Inert::Int {
            lo: -1,
            hi: 99,
            bare: Bare::Ok,
        },
    ),
    (
        "min_auto_priority_delay",
        Inert::Int {
            lo: 1,
            hi: 10_000_000,
            bare: Bare::Error,
        },
    ),
    (
        "nftables_priority",
        Inert::Int {
            lo: I32.0,
            hi: I32.1,
            bare: Bare::Abort,
        },
    ),
    (
        "process_monitor_rcv_bufs",
        Inert::Int {
            lo: 0,
            hi: U32,
            bare: Bare::Error,
        },
    ),
    (
        "vrrp_netlink_cmd_rcv_bufs",
        Inert::Int {
            lo: 0,
            hi: U32,
            bare: Bare::Error,
        },
    ),
    (
        "vrrp_netlink_monitor_rcv_bufs",
        Inert::Int {
            lo: 0,
            hi: U32,
            bare: Bare::Error,
        },
    ),
    ("process_monitor_rcv_bufs_force", Inert::OptionalBool),
    ("vrrp_netlink_cmd_rcv_bufs_force", Inert::OptionalBool),
    ("vrrp_netlink_monitor_rcv_bufs_force", Inert::OptionalBool),
    (
        "random_seed",
        Inert::Int {
            lo: 0,
            hi: U32,
            bare: Bare::Abort,
        },
    ),
    (
        "vrrp_priority",
        Inert::Int {
            lo: -20,
            hi: 19,
            bare: Bare::Error,
        },
    ),
    (
        "vrrp_rt_priority",
        Inert::Int {
            lo: 1,
            hi: 99,
            bare: Bare::Error,
        },
    ),
    (
        "vrrp_rlimit_rtime",
        Inert::Int {
            lo: 1,
            hi: U32,
            bare: Bare::Abort,
        },
    ),
    (
        "vrrp_rlimit_rttime",
        Inert::Int {
            lo: 1,
            hi: U32,
            bare: Bare::Abort,
        },
    ),
    (
        "vrrp_rx_bufs_multiplier",
        Inert::Int {
            lo: 1,
            hi: U32,
            bare: Bare::Error,
        },
    ),
    ("vrrp_rx_bufs_policy", Inert::RxBufsPolicy),
    ("vrrp_cpu_affinity", Inert::Cpus),
    ("umask", Inert::Umask),
    ("include_check", Inert::IncludeCheck),
    ("config_save_dir", Inert::Text(Bare::Abort)),
    ("process_name", Inert::Text(Bare::Abort)),
    ("vrrp_process_name", Inert::Text(Bare::Abort)),
    ("vmac_addr_prefix", Inert::Text(Bare::Abort)),
    ("reload_time_file", Inert::Text(Bare::Error)),
    ("tmp_config_directory", Inert::Text(Bare::Error)),
    (
        "vrrp_iptables",
        Inert::Refused("Debian's keepalived 2.2.7 has no iptables support and counts this as an error"),
    ),
    (
        "vrrp_ipsets",
        Inert::Refused("Debian's keepalived 2.2.7 does not know this keyword and counts it as an error"),
    ),
];

/// Keywords keepalived added after 2.2.7 (which calls them unknown), with
/// the first version that has them ("later" where the version was not
/// checked) and whether rkeepalived implements them. The others get
/// "keepalived 2.x keyword, not supported by rkeepalived, ignored", a
/// warning that leaves `-t`'s verdict alone, since newer configurations
/// carry them. docs/compatibility.md's table is kept in step by a test.
pub struct Newer {
    pub keyword: &'static str,
    pub block: &'static str,
    pub since: &'static str,
    pub implemented: bool,
}

const fn newer(keyword: &'static str, block: &'static str, since: &'static str, implemented: bool) -> Newer {
    Newer {
        keyword,
        block,
        since,
        implemented,
    }
}

pub const NEWER_KEYWORDS: &[Newer] = &[
    newer("v3_checksum_as_v2", "global_defs", "2.2.8", true),
    newer("v3_checksum_as_v2", "vrrp_instance", "2.2.8", true),
    newer("no_virtual_ipaddress", "vrrp_instance", "2.2.8", true),
    newer("json_file_location", "global_defs", "2.2.8", true),
    newer("state_file_location", "global_defs", "later", true),
    newer("stats_file_location", "global_defs", "later", true),
    newer("vrrp_owner_ignore_adverts", "global_defs", "2.3.3", true),
    newer("owner_ignore_adverts", "vrrp_instance", "2.3.3", true),
    newer("vrrp_delay_after_boot", "global_defs", "2.4.0", true),
    newer("iproute_etc_dir", "global_defs", "later", true),
    newer("iproute_usr_dir", "global_defs", "later", true),
    newer("json_version", "global_defs", "2.2.8", false),
    newer("timer_expired_backup", "vrrp_instance", "2.2.8", false),
    newer("use_symlink_paths", "global_defs", "2.3.0", false),
    newer("auth_hmac", "vrrp_instance", "2.4.0", false),
    newer("set_supplementary_groups", "global_defs", "later", false),
    newer("dbus_no_interface_name", "global_defs", "later", false),
    newer("snmp_vs_stats_update_interval", "global_defs", "later", false),
    newer("snmp_rs_stats_update_interval", "global_defs", "later", false),
];

/// A newer keyword rkeepalived does not implement, in `block`.
pub fn newer_ignored(block: &str, kw: &str) -> Option<&'static Newer> {
    NEWER_KEYWORDS
        .iter()
        .find(|n| n.block == block && n.keyword == kw && !n.implemented)
}
