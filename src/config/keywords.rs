//! Which keepalived 2.2.7 keywords rkeepalived runs, which it accepts
//! without effect, and which it does not support.
//!
//! The keyword sets of each block were taken from keepalived 2.2.7 itself
//! (every candidate word fed to `keepalived -t` in each block). A keyword in
//! none of these lists and not handled by a block reader is unknown: an error,
//! as keepalived makes it. A test keeps the README's compatibility table in
//! step with these lists.

/// Accepted and validated, but with nothing for rkeepalived to do; each
/// with the reason shown in the README.
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
    (
        "reload_check_config",
        "a reload always validates the new file first and keeps the running one if it is invalid",
    ),
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
    ("lvs_id", "LVS"),
    ("lvs_timeouts", "LVS"),
    ("lvs_sync_daemon", "LVS"),
    ("lvs_flush", "LVS"),
    ("lvs_flush_on_stop", "LVS"),
    ("lvs_flush_onstop", "LVS"),
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
    ("checker_priority", "LVS health checkers"),
    ("checker_no_swap", "LVS health checkers"),
    ("checker_rt_priority", "LVS health checkers"),
    ("checker_cpu_affinity", "LVS health checkers"),
    ("checker_rlimit_rtime", "LVS health checkers"),
    ("checker_rlimit_rttime", "LVS health checkers"),
    ("checker_process_name", "LVS health checkers"),
    ("checker_log_all_failures", "LVS health checkers"),
    ("bfd_priority", "BFD"),
    ("bfd_no_swap", "BFD"),
    ("bfd_rt_priority", "BFD"),
    ("bfd_cpu_affinity", "BFD"),
    ("bfd_rlimit_rtime", "BFD"),
    ("bfd_rlimit_rttime", "BFD"),
    ("bfd_process_name", "BFD"),
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
    ("track_bfd", "BFD"),
    ("use_ipvlan", "ipvlan interfaces (use_vmac is supported)"),
    ("vrf", "VRF binding"),
    ("no_accept", "firewall-enforced no_accept; VIPs always accept traffic"),
    ("lvs_sync_daemon_interface", "LVS"),
];

pub const SYNC_GROUP_UNSUPPORTED: &[(&str, &str)] = &[("smtp_alert", "e-mail alerts"), ("track_bfd", "BFD")];

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

pub const ROOT_UNSUPPORTED: &[(&str, &str)] = &[
    ("virtual_server", "LVS"),
    ("virtual_server_group", "LVS"),
    ("net_namespace_ipvs", "LVS"),
    ("bfd_instance", "BFD"),
];

pub fn lookup<'a>(table: &'a [(&'a str, &'a str)], kw: &str) -> Option<&'a str> {
    table.iter().find(|(k, _)| *k == kw).map(|(_, why)| *why)
}
