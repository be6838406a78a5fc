//! The configuration model against keepalived 2.2.7's observed behaviour
//! (../shared/reference/keepalived-2.2.7.md §1–§2, §8).

use std::time::Duration;

use super::*;

fn load(text: &str) -> Loaded {
    load_str(
        "test.conf",
        text,
        &LoadOptions {
            config_id: "node1".into(),
            limits: Default::default(),
        },
    )
}

fn messages(l: &Loaded) -> Vec<String> {
    l.render_diagnostics().lines().map(str::to_string).collect()
}

fn one_instance(body: &str) -> Loaded {
    load(&format!("vrrp_instance VI_1 {{\n{body}\n}}\n"))
}

const BASE: &str = "interface eth0\nvirtual_router_id 51\nvirtual_ipaddress {\n 10.0.0.1\n}";

#[test]
fn reference_scenario_host_a_and_b_load_cleanly() {
    let a = load(
        "vrrp_script chk_mysql {\n   script \"/etc/keepalived/chk_mysql.sh\"\n   interval 10\n}\nvrrp_instance VI_1 {\n   state MASTER\n   interface ens32\n   virtual_router_id 100\n   priority 100\n   advert_int 1\n   authentication {\n       auth_type PASS\n       auth_pass 1111\n   }\n   virtual_ipaddress {\n       172.16.10.100\n   }\n   track_script {\n       chk_mysql\n   }\n}\n",
    );
    assert!(a.diags.is_empty(), "{:?}", messages(&a));
    let i = &a.config.instances[0];
    assert_eq!((i.vrid, i.priority, i.state), (100, 100, InitialState::Master));
    assert_eq!(i.auth.as_ref().map(|x| x.password), Some(*b"1111\0\0\0\0"));
    assert_eq!(i.track_scripts[0].weight, Some(0));
    assert_eq!(a.config.scripts[0].interval, Duration::from_secs(10));
    assert_eq!(a.config.scripts[0].script.argv, ["/etc/keepalived/chk_mysql.sh"]);

    let b = one_instance("   state BACKUP\n   nopreempt\n   interface ens32\n   virtual_router_id 100\n   priority 90\n   advert_int 1\n   virtual_ipaddress {\n       172.16.10.100\n   }");
    assert!(b.diags.is_empty(), "{:?}", messages(&b));
    assert!(b.config.instances[0].nopreempt);
}

#[test]
fn state_master_without_priority_is_the_owner() {
    let l = one_instance(&format!("state MASTER\n{BASE}"));
    assert_eq!(l.config.instances[0].priority, 255);
    let l = one_instance(BASE);
    assert_eq!(
        (l.config.instances[0].priority, l.config.instances[0].state),
        (100, InitialState::Backup)
    );
    let l = one_instance(&format!("priority 255\n{BASE}"));
    assert_eq!(l.config.instances[0].state, InitialState::Master);
}

#[test]
fn auth_pass_is_truncated_to_eight_with_a_warning() {
    let l = one_instance(&format!(
        "{BASE}\nauthentication {{ auth_type PASS\n auth_pass 123456789 }}"
    ));
    assert_eq!(
        l.config.instances[0].auth.as_ref().map(|a| a.password),
        Some(*b"12345678")
    );
    let m = messages(&l);
    assert_eq!(m.len(), 1);
    assert!(m[0].starts_with("test.conf:8:12: warning:"), "{m:?}");
    assert_eq!(l.diags.exit_code(), 5, "keepalived 2.2.7's -t fails it");
}

#[test]
fn unknown_keyword_names_file_line_col_and_suggests() {
    let l = one_instance(&format!("{BASE}\n  virtual_routr_id 3"));
    let m = messages(&l);
    assert_eq!(m, ["test.conf:7:3: error: unknown keyword 'virtual_routr_id' in vrrp_instance; did you mean 'virtual_router_id'?"]);
    assert_eq!(l.diags.exit_code(), 5);
    // The rest of the instance still loads.
    assert_eq!(l.config.instances[0].vrid, 51);
}

#[test]
fn lower_case_state_is_an_error_defaulting_to_backup() {
    let l = one_instance(&format!("state master\n{BASE}"));
    assert_eq!(l.config.instances[0].state, InitialState::Backup);
    assert_eq!(l.diags.exit_code(), 5);
    assert!(messages(&l)[0].contains("unknown state 'master'"));
}

#[test]
fn bad_priority_uses_100() {
    let l = one_instance(&format!("priority 300\n{BASE}"));
    assert_eq!(l.config.instances[0].priority, 100);
    assert!(messages(&l)[0].contains("number '300' outside range [1, 255]"));
}

#[test]
fn v2_intervals_round_to_whole_seconds_v3_keep_centiseconds() {
    let l = one_instance(&format!("advert_int 1.5\n{BASE}"));
    assert_eq!(l.config.instances[0].advert_int, Duration::from_secs(2));
    assert_eq!(l.diags.exit_code(), 5, "rounded, and counted as keepalived counts it");
    let l = one_instance(&format!("advert_int 0.5\n{BASE}"));
    assert_eq!(l.config.instances[0].advert_int, Duration::from_secs(1));
    let l = one_instance(&format!("version 3\nadvert_int 0.1\n{BASE}"));
    assert_eq!(l.config.instances[0].advert_int, Duration::from_millis(100));
    assert!(l.diags.is_empty());
}

#[test]
fn ipv6_instances_use_version_3() {
    let l = one_instance(
        "interface eth0\nvirtual_router_id 5\nvirtual_ipaddress {\n fe80::5\n 2001:db8::5/64\n 10.0.0.1\n}",
    );
    let i = &l.config.instances[0];
    assert_eq!((i.family, i.version, i.vips.len()), (Family::V6, 3, 2));
    assert!(messages(&l)[0].contains("address family must match"));
}

#[test]
fn nopreempt_needs_state_backup_and_priority_below_255() {
    let l = one_instance(&format!("state MASTER\npriority 100\nnopreempt\n{BASE}"));
    assert!(!l.config.instances[0].nopreempt);
    assert!(messages(&l)[0].contains("nopreempt needs 'state BACKUP'"));
    let l = one_instance(&format!("priority 255\nnopreempt\n{BASE}"));
    assert!(!l.config.instances[0].nopreempt);
}

#[test]
fn preempt_delay_is_ignored_with_nopreempt() {
    let l = one_instance(&format!("nopreempt\npreempt_delay 5\n{BASE}"));
    assert_eq!(l.config.instances[0].preempt_delay, Duration::ZERO);
    let l = one_instance(&format!("preempt_delay 5.5\n{BASE}"));
    assert_eq!(l.config.instances[0].preempt_delay, Duration::from_millis(5500));
}

#[test]
fn missing_vrid_removes_the_instance() {
    let l = one_instance("interface eth0\nvirtual_ipaddress {\n 10.0.0.1\n}");
    assert!(l.config.instances.is_empty());
    assert!(messages(&l)[0].contains("virtual router id must be set"));
}

#[test]
fn no_vip_is_a_warning_in_v2_and_an_error_in_v3() {
    let l = one_instance("interface eth0\nvirtual_router_id 1");
    assert_eq!(l.diags.exit_code(), 5, "a warning keepalived's -t counts");
    assert_eq!(l.diags.len(), 1);
    let l = one_instance("version 3\ninterface eth0\nvirtual_router_id 1");
    assert_eq!(l.diags.exit_code(), 5);
}

#[test]
fn noreverse_is_the_keyword_not_no_reverse() {
    let l = load(&format!(
        "vrrp_script s {{\n script /bin/true\n weight 10 reverse\n}}\nvrrp_instance V {{\n{BASE}\ntrack_script {{\n s weight -20 noreverse\n}}\n}}\n"
    ));
    let r = &l.config.instances[0].track_scripts[0];
    assert_eq!((r.weight, r.reverse), (Some(-20), Some(false)));
    let l = load(&format!("vrrp_script s {{\n script /bin/true\n}}\nvrrp_instance V {{\n{BASE}\ntrack_script {{\n s weight 10 no_reverse\n}}\n}}\n"));
    assert!(messages(&l)[0].contains("the keyword is 'noreverse'"));
}

#[test]
fn track_script_override_keeps_the_scripts_reverse() {
    let l = load(&format!(
        "vrrp_script s {{\n script /bin/true\n weight 10 reverse\n}}\nvrrp_instance V {{\n{BASE}\ntrack_script {{\n s weight 30\n}}\n}}\n"
    ));
    let r = &l.config.instances[0].track_scripts[0];
    assert_eq!((r.weight, r.reverse), (Some(30), Some(true)));
}

#[test]
fn unknown_tracked_script_is_reported_with_a_suggestion() {
    let l = load(&format!("vrrp_script chk_mysql {{\n script /bin/true\n}}\nvrrp_instance V {{\n{BASE}\ntrack_script {{\n chk_mysq\n}}\n}}\n"));
    assert!(l.config.instances[0].track_scripts.is_empty());
    assert!(
        messages(&l)[0].contains("did you mean 'chk_mysql'"),
        "{:?}",
        messages(&l)
    );
}

#[test]
fn scripts_may_be_defined_after_use() {
    let l = load(&format!(
        "vrrp_instance V {{\n{BASE}\ntrack_script {{\n late\n}}\n}}\nvrrp_script late {{\n script /bin/true\n}}\n"
    ));
    assert!(l.diags.is_empty(), "{:?}", messages(&l));
    assert_eq!(l.config.instances[0].track_scripts.len(), 1);
}

#[test]
fn owner_drops_weighted_trackers() {
    let l = load(&format!(
        "vrrp_script w {{\n script /bin/true\n weight 10\n}}\nvrrp_script f {{\n script /bin/true\n}}\nvrrp_instance V {{\npriority 255\n{BASE}\ntrack_script {{\n w\n f\n}}\n}}\n"
    ));
    let names: Vec<_> = l.config.instances[0]
        .track_scripts
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(names, ["f"]);
    assert!(messages(&l)[0].contains("due to address_owner"));
}

#[test]
fn sync_group_member_weights_follow_keepalived() {
    let l = load(
        "vrrp_script w {\n script /bin/true\n weight 10\n}\ntrack_file f1 {\n file /tmp/x\n}\ntrack_file f5 {\n file /tmp/y\n weight 5\n}\n\
         vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n track_script {\n w\n }\n track_file {\n f1\n f5\n }\n track_interface {\n eth1 weight 10\n }\n}\n\
         vrrp_instance B {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress {\n 10.0.0.2\n }\n}\n\
         vrrp_sync_group G {\n group {\n A\n B\n }\n}\n",
    );
    let a = l.config.instance("A").unwrap_or_else(|| panic!("A"));
    assert!(a.track_scripts.is_empty());
    assert_eq!(a.track_files.len(), 1);
    assert_eq!(a.track_files[0].weight, Some(0));
    assert_eq!(a.track_interfaces[0].weight, 0);
    assert_eq!(a.sync_group.as_deref(), Some("G"));
}

#[test]
fn sync_group_needs_group_keyword() {
    // The shipped sample keepalived.conf.vrrp.lvs_syncd makes this mistake.
    let l = load(&format!(
        "vrrp_instance VI_2 {{\n{BASE}\n}}\nvrrp_sync_group VG1 {{\n VI_2\n}}\n"
    ));
    assert!(l.config.sync_groups.is_empty());
    let m = messages(&l);
    assert!(m.iter().any(|x| x.contains("unknown keyword 'VI_2'")), "{m:?}");
    assert!(m.iter().any(|x| x.contains("has no virtual routers")), "{m:?}");
}

#[test]
fn duplicate_vrid_on_one_interface_is_an_error() {
    let l = load("vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n}\nvrrp_instance B {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.2\n }\n}\n");
    assert!(messages(&l)[0].contains("A and B both use VRID 1"));
}

#[test]
fn unsupported_blocks_warn_once_and_the_rest_loads() {
    let l = load(&format!(
        "global_defs {{\n notification_email {{\n a@b.c\n }}\n smtp_server 1.2.3.4\n smtp_server 1.2.3.5\n}}\nbfd_instance B1 {{\n neighbor_ip 10.9.0.1\n}}\nbfd_instance B2 {{\n neighbor_ip 10.9.0.2\n}}\nvrrp_instance V {{\n{BASE}\n}}\n"
    ));
    let m = messages(&l);
    assert_eq!(m.len(), 3, "{m:?}");
    assert!(m.iter().all(|x| x.contains("not supported by rkeepalived, ignored")));
    assert_eq!(l.diags.exit_code(), 0);
    assert_eq!(l.config.instances.len(), 1);
}

#[test]
fn accepted_keywords_without_effect_are_silent() {
    let l = load(&format!(
        "global_defs {{\n max_auto_priority -1\n vrrp_rx_bufs_policy MTU\n umask IWGRP|IWOTH\n}}\nvrrp_instance V {{\n{BASE}\n debug 2\n}}\n"
    ));
    assert!(l.diags.is_empty(), "{:?}", messages(&l));
}

#[test]
fn keywords_without_effect_get_keepalived_s_value_checks() {
    // Each (line, exit status) as keepalived 2.2.7's -t judges it.
    for (line, exit) in [
        ("min_auto_priority_delay 0", 5),
        ("min_auto_priority_delay 1", 0),
        ("max_auto_priority 100", 5),
        ("vrrp_priority -21", 5),
        ("vrrp_rt_priority 0", 5),
        ("random_seed", 2),
        ("random_seed 4294967296", 5),
        ("vrrp_netlink_cmd_rcv_bufs_force 1", 5),
        ("vrrp_rx_bufs_policy MTU ADVERT", 5),
        ("umask 01000", 5),
        ("umask 0x10", 0),
        ("include_check readable", 5),
        ("include_check +match -wildcard_match", 0),
        ("vrrp_iptables", 5),
        ("config_save_dir", 2),
        ("tmp_config_directory", 5),
    ] {
        let l = load(&format!(
            "global_defs {{\n {line}\n}}\nvrrp_instance V {{\n{BASE}\n}}\n"
        ));
        assert_eq!(l.diags.exit_code(), exit, "{line}: {:?}", messages(&l));
    }
}

#[test]
fn strict_mode_defaults() {
    let l = load(&format!(
        "global_defs {{\n vrrp_strict\n}}\nvrrp_instance V {{\n{BASE}\n}}\n"
    ));
    let i = &l.config.instances[0];
    assert!(i.strict && i.lower_prio_no_advert && !i.accept);
    assert_eq!(i.garp.lower_prio_repeat, 0);
    let l = load(&format!("vrrp_instance V {{\n{BASE}\n}}\n"));
    let i = &l.config.instances[0];
    assert!(!i.lower_prio_no_advert && i.accept);
    assert_eq!(i.garp.lower_prio_repeat, 5);
    assert_eq!(i.garp.lower_prio_delay, Duration::from_secs(5));
}

#[test]
fn garp_zero_interval_is_accepted() {
    let l = load("global_defs {\n vrrp_garp_interval 0\n vrrp_gna_interval 0.001\n}\n");
    assert!(l.diags.is_empty(), "{:?}", messages(&l));
    assert_eq!(l.config.global.garp.na_interval, Duration::from_millis(1));
}

#[test]
fn unicast_peers_and_vmac() {
    let l = one_instance("interface eth0\nvirtual_router_id 9\nunicast_src_ip 10.0.0.2\nunicast_peer {\n 10.0.0.3 min_ttl 250\n 10.0.0.4\n}\nuse_vmac\nvirtual_ipaddress {\n 10.0.0.1\n}");
    let i = &l.config.instances[0];
    assert_eq!(i.unicast_peers.len(), 2);
    assert!(i.check_unicast_src);
    assert_eq!(i.vmac.as_ref().map(|v| v.name.as_str()), Some("vrrp.9"));
    assert!(l.diags.is_empty(), "{:?}", messages(&l));
}

#[test]
fn script_command_is_split_and_user_read() {
    let l = load(&format!(
        "vrrp_instance V {{\n{BASE}\nnotify_master \"/x.sh NM arg1\" nobody nogroup\nnotify /y.sh\n}}\n"
    ));
    let n = &l.config.instances[0].notify;
    let m = n.master.as_ref().unwrap_or_else(|| panic!("master"));
    assert_eq!(m.argv, ["/x.sh", "NM", "arg1"]);
    assert_eq!(
        m.user.as_ref().map(|u| (u.user.as_str(), u.group.as_deref())),
        Some(("nobody", Some("nogroup")))
    );
    assert_eq!(
        n.generic.as_ref().map(|g| g.argv.clone()),
        Some(vec!["/y.sh".to_string()])
    );
}

#[test]
fn include_in_the_middle_of_a_block() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.path().join("vips.inc"), "10.0.0.7\n10.0.0.8\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        dir.path().join("k.conf"),
        "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n  include vips.inc\n }\n}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let l = load_file(&dir.path().join("k.conf"), &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(l.config.instances[0].vips.len(), 2);
    assert!(l.diags.is_empty(), "{:?}", l.render_diagnostics());
}

#[test]
fn dump_shows_effective_values() {
    let l = one_instance(&format!("state MASTER\n{BASE}"));
    let d = dump::dump(&l.config);
    assert!(d.contains(" VRRP Instance = VI_1\n"));
    assert!(d.contains("   Priority = 255\n"));
    assert!(d.contains("     10.0.0.1 dev eth0 scope global\n"), "{d}");
}

#[test]
fn conditional_config_selects_by_id() {
    let text = format!("vrrp_instance V {{\n{BASE}\n@node1 priority 150\n@^node1 priority 99\n}}\n");
    let l = load(&text);
    assert_eq!(l.config.instances[0].priority, 150);
    let l = load_str(
        "t",
        &text,
        &LoadOptions {
            config_id: "other".into(),
            limits: Default::default(),
        },
    );
    assert_eq!(l.config.instances[0].priority, 99);
}

#[test]
fn newer_keepalived_keywords_implemented_or_warned() {
    // Implemented: no finding, and their effect is in the model.
    let l = load(&format!(
        "global_defs {{\n vrrp_owner_ignore_adverts\n vrrp_delay_after_boot 30\n json_file_location /run/ka/\n}}\nvrrp_instance V {{\n{BASE}\n v3_checksum_as_v2\n}}\nvrrp_instance W {{\n interface eth0\n virtual_router_id 2\n version 3\n no_virtual_ipaddress\n owner_ignore_adverts off\n}}\n"
    ));
    assert_eq!(l.diags.exit_code(), 0, "{:?}", messages(&l));
    assert!(l.diags.is_empty(), "{:?}", messages(&l));
    assert_eq!(l.config.global.delay_after_boot, std::time::Duration::from_secs(30));
    assert_eq!(l.config.global.json_file_location.as_deref(), Some("/run/ka/"));
    assert!(
        l.config.instances[0].owner_ignore_adverts,
        "inherited from vrrp_owner_ignore_adverts"
    );
    assert!(!l.config.instances[1].owner_ignore_adverts);
    assert!(l.config.instances[0].v3_checksum_as_v2);
    assert_eq!(
        l.config.instances.len(),
        2,
        "a v3 instance without VIPs runs with no_virtual_ipaddress"
    );
    // Without no_virtual_ipaddress, keepalived's error.
    let l = load("vrrp_instance W {\n interface eth0\n virtual_router_id 2\n version 3\n}\n");
    assert_eq!(l.diags.exit_code(), 5);
    // Not implemented: a warning that leaves the verdict alone.
    let l = load(&format!(
        "global_defs {{\n json_version 2\n use_symlink_paths\n}}\nvrrp_instance V {{\n{BASE}\n auth_hmac {{\n  key 1 abc\n }}\n timer_expired_backup\n}}\n"
    ));
    let m = messages(&l);
    assert_eq!(m.len(), 4, "{m:?}");
    assert!(
        m.iter()
            .all(|x| x.contains("keyword, not supported by rkeepalived, ignored")),
        "{m:?}"
    );
    assert!(m[0].contains("keepalived 2.2.8 keyword"), "{m:?}");
    assert_eq!(l.diags.exit_code(), 0);
}

/// `refuse_on_fault` in a check_mysql makes the instances tracking it
/// (themselves or through their sync group) linger on FAULT; others not.
#[test]
fn refuse_on_fault_marks_the_instances_tracking_the_check() {
    let inst = |name: &str, vrid: u8, track: &str| {
        format!(
            "vrrp_instance {name} {{\n interface eth0\n virtual_router_id {vrid}\n virtual_ipaddress {{\n 10.0.0.{vrid}\n }}\n{track}}}\n"
        )
    };
    let l = load(&format!(
        "check_mysql db {{\n host 127.0.0.1\n user chk\n refuse_on_fault yes\n}}\ncheck_mysql other {{\n host 127.0.0.1\n user chk\n}}\n{}{}{}{}vrrp_sync_group G {{\n group {{\n VI_G\n }}\n track_script {{\n db\n }}\n}}\n",
        inst("VI_1", 1, " track_script {\n db\n }\n"),
        inst("VI_2", 2, " track_script {\n other\n }\n"),
        inst("VI_3", 3, ""),
        inst("VI_G", 4, ""),
    ));
    let lingers: Vec<(&str, bool)> = l
        .config
        .instances
        .iter()
        .map(|i| (i.name.as_str(), i.linger_on_fault))
        .collect();
    assert_eq!(
        lingers,
        [("VI_1", true), ("VI_2", false), ("VI_3", false), ("VI_G", true)],
        "{:?}",
        messages(&l)
    );
}

/// keepalived 2.2.7 in a namespace: VRID 1 with `use_vmac` on eth0 and on
/// eth1 makes vrrp.1 and vrrp1.1, and `-t` says nothing; only a name
/// written twice is reported.
#[test]
fn default_vmac_names_that_collide_get_a_counter_silently() {
    let inst = |name: &str, link: u8, vrid: u8, vmac: &str| {
        format!("vrrp_instance {name} {{\n interface eth{link}\n virtual_router_id {vrid}\n use_vmac {vmac}\n virtual_ipaddress {{\n  10.0.{link}.{vrid}/24\n }}\n}}\n")
    };
    let l = load(&format!(
        "{}{}{}",
        inst("A", 0, 1, ""),
        inst("B", 1, 1, ""),
        inst("C", 2, 1, "")
    ));
    let names: Vec<&str> = l
        .config
        .instances
        .iter()
        .map(|i| i.vmac.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(names, ["vrrp.1", "vrrp1.1", "vrrp2.1"]);
    assert_eq!(l.diags.exit_code(), 0, "{:?}", messages(&l));
    let l = load(&format!("{}{}", inst("A", 0, 1, "vm1"), inst("B", 1, 2, "vm1")));
    let names: Vec<&str> = l
        .config
        .instances
        .iter()
        .map(|i| i.vmac.as_ref().unwrap().name.as_str())
        .collect();
    assert_eq!(names, ["vm1", "vrrp.2"]);
    assert_eq!(l.diags.exit_code(), 5);
}
