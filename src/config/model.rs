//! The typed configuration: every VRRP-side block of keepalived.conf with
//! keepalived 2.2.7's defaults already applied.
//!
//! Values here are final: per-instance settings that inherit from
//! `global_defs` have been resolved, `state MASTER` without a priority has
//! become 255, and so on (see `instance.rs` for the completion rules).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use super::diag::Span;
pub use super::route::{VirtualRoute, VirtualRule};

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub global: GlobalDefs,
    pub scripts: Vec<VrrpScript>,
    pub track_files: Vec<TrackFile>,
    pub track_processes: Vec<TrackProcess>,
    pub check_mysql: Vec<CheckMysql>,
    pub check_plugins: Vec<CheckPlugin>,
    pub instances: Vec<VrrpInstance>,
    pub sync_groups: Vec<SyncGroup>,
    pub static_addresses: Vec<VirtualAddress>,
    pub static_routes: Vec<VirtualRoute>,
    pub static_rules: Vec<VirtualRule>,
    /// Read for `-t`'s verdict only: rkeepalived runs no BFD.
    pub bfd_instances: Vec<super::bfd::BfdInstance>,
    /// Root `net_namespace NAME`: run in that network namespace.
    pub net_namespace: Option<String>,
    /// Root `instance NAME`: names pid files and dumps.
    pub instance_name: Option<String>,
    /// Root `use_pid_dir`: pid files under /run/keepalived/.
    pub use_pid_dir: bool,
    /// `virtual_server` and `virtual_server_group` blocks.
    pub lvs: super::lvs::Lvs,
}

impl Config {
    pub fn instance(&self, name: &str) -> Option<&VrrpInstance> {
        self.instances.iter().find(|i| i.name == name)
    }

    pub fn script(&self, name: &str) -> Option<&VrrpScript> {
        self.scripts.iter().find(|s| s.name == name)
    }

    /// Every script the configuration would run, with where it was set.
    pub fn all_scripts(&self) -> Vec<&ScriptSpec> {
        let g = &self.global;
        let mut v: Vec<&ScriptSpec> = [
            &g.startup_script,
            &g.shutdown_script,
            &g.notify_fifo_script,
            &g.vrrp_notify_fifo_script,
        ]
        .into_iter()
        .flatten()
        .collect();
        v.extend(self.scripts.iter().map(|s| &s.script));
        for i in &self.instances {
            v.extend(i.notify.all());
        }
        for g in &self.sync_groups {
            v.extend(g.notify.all());
        }
        v.extend(self.lvs.scripts());
        v
    }
}

/// `user [group]` of `script_user` and a script's `user` keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub user: String,
    pub group: Option<String>,
    pub span: Span,
}

/// A command line to run: a notify script, a check script, a FIFO reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptSpec {
    /// The command as written (after quote removal), for logs and dumps.
    pub command: String,
    /// The command split into arguments as keepalived splits it.
    pub argv: Vec<String>,
    /// `user [group]` given after the command, overriding `script_user`.
    pub user: Option<UserSpec>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FifoSpec {
    pub path: PathBuf,
    pub user: Option<UserSpec>,
    pub span: Span,
}

/// Gratuitous ARP / unsolicited NA timing (keepalived's `garp_*` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GarpSettings {
    /// Delay before the second burst after becoming MASTER; zero: none.
    pub master_delay: Duration,
    /// Messages per burst on becoming MASTER.
    pub master_repeat: u32,
    /// Period of refresh bursts while MASTER; zero: none.
    pub master_refresh: Duration,
    pub master_refresh_repeat: u32,
    /// Second burst after a MASTER hears a lower-priority advert.
    pub lower_prio_delay: Duration,
    /// First burst after a MASTER hears a lower-priority advert.
    pub lower_prio_repeat: u32,
    /// Gap between successive messages of a burst.
    pub interval: Duration,
    pub na_interval: Duration,
}

impl Default for GarpSettings {
    fn default() -> Self {
        GarpSettings {
            master_delay: Duration::from_secs(5),
            master_repeat: 5,
            master_refresh: Duration::ZERO,
            master_refresh_repeat: 1,
            lower_prio_delay: Duration::from_secs(5),
            lower_prio_repeat: 5,
            interval: Duration::ZERO,
            na_interval: Duration::ZERO,
        }
    }
}

/// Where the daemon listens, and the client looks, by default.
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/rkeepalived/control.sock";

#[derive(Debug, Clone)]
pub struct GlobalDefs {
    pub router_id: Option<String>,
    /// The LVS settings of global_defs.
    pub lvs: LvsGlobals,
    /// `vrrp_cpu_affinity`: no effect, but `-t` checks the CPUs exist.
    pub vrrp_cpu_affinity: Vec<(u32, Span)>,
    pub script_user: Option<UserSpec>,
    pub enable_script_security: bool,
    pub notify_fifo: Option<FifoSpec>,
    pub notify_fifo_script: Option<ScriptSpec>,
    pub vrrp_notify_fifo: Option<FifoSpec>,
    pub vrrp_notify_fifo_script: Option<ScriptSpec>,
    pub vrrp_notify_priority_changes: bool,
    pub fifo_write_vrrp_states_on_reload: bool,
    pub mcast_group4: Ipv4Addr,
    pub mcast_group6: Ipv6Addr,
    pub default_interface: String,
    pub garp: GarpSettings,
    pub min_garp: bool,
    /// `vrrp_garp_extra_if [all] SECS`: periodic GARP on VMAC interfaces.
    pub garp_extra_if: Option<(Duration, bool)>,
    pub down_timer_adverts: u32,
    pub lower_prio_no_advert: bool,
    pub higher_prio_send_advert: bool,
    pub vrrp_version: u8,
    pub check_unicast_src: bool,
    pub skip_check_adv_addr: bool,
    pub strict: bool,
    pub v3_checksum_as_v2: bool,
    pub startup_delay: Duration,
    pub dynamic_interfaces: bool,
    pub vmac_prefix: String,
    pub startup_script: Option<ScriptSpec>,
    pub startup_script_timeout: Duration,
    pub shutdown_script: Option<ScriptSpec>,
    pub shutdown_script_timeout: Duration,
    /// `data_use_instance`: dump files carry the instance name.
    pub data_use_instance: bool,
    /// `reload_check_config [LOG_FILE]`: a reload whose file `-t` would
    /// fail is refused (the findings go to LOG_FILE if given).
    pub reload_check_config: Option<Option<std::path::PathBuf>>,
    /// Where the dump files go (a directory if it ends in `/`).
    pub json_file_location: Option<String>,
    pub state_file_location: Option<String>,
    pub stats_file_location: Option<String>,
    /// `vrrp_owner_ignore_adverts`: the address owner drops adverts (RFC 5798 §7.1).
    pub owner_ignore_adverts: bool,
    /// `vrrp_delay_after_boot`: instances start no sooner than this after boot.
    pub delay_after_boot: Duration,
    /// rkeepalived: where bare `check_plugin` names are looked up.
    pub plugin_dir: PathBuf,
    /// rkeepalived: the control socket (`rkeepalived status` and friends).
    pub control_socket: PathBuf,
    /// rkeepalived: members of this group may read the socket.
    pub control_socket_group: Option<String>,
    /// rkeepalived: where state that survives restarts is kept (maintenance).
    pub state_dir: PathBuf,
    /// rkeepalived: serve Prometheus metrics here (off when unset).
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
            lvs: LvsGlobals::default(),
            vrrp_cpu_affinity: Vec::new(),
            script_user: None,
            enable_script_security: false,
            notify_fifo: None,
            notify_fifo_script: None,
            vrrp_notify_fifo: None,
            vrrp_notify_fifo_script: None,
            vrrp_notify_priority_changes: false,
            fifo_write_vrrp_states_on_reload: false,
            mcast_group4: Ipv4Addr::new(224, 0, 0, 18),
            mcast_group6: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12),
            default_interface: "eth0".into(),
            garp: GarpSettings::default(),
            min_garp: false,
            garp_extra_if: None,
            down_timer_adverts: 3,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            vrrp_version: 2,
            check_unicast_src: false,
            skip_check_adv_addr: false,
            strict: false,
            v3_checksum_as_v2: false,
            startup_delay: Duration::ZERO,
            dynamic_interfaces: false,
            vmac_prefix: "vrrp".into(),
            startup_script: None,
            startup_script_timeout: Duration::from_secs(10),
            shutdown_script: None,
            shutdown_script_timeout: Duration::from_secs(10),
            data_use_instance: false,
            reload_check_config: None,
            json_file_location: None,
            state_file_location: None,
            stats_file_location: None,
            owner_ignore_adverts: false,
            delay_after_boot: Duration::ZERO,
            plugin_dir: PathBuf::from("/usr/lib/rkeepalived/plugins"),
            control_socket: PathBuf::from(crate::config::model::DEFAULT_CONTROL_SOCKET),
            control_socket_group: None,
            state_dir: PathBuf::from("/var/lib/rkeepalived"),
            metrics_listen: None,
        }
    }
}

/// `vrrp_script NAME { … }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpScript {
    pub name: String,
    pub span: Span,
    pub script: ScriptSpec,
    pub interval: Duration,
    /// Zero means "use the interval", as keepalived does.
    pub timeout: Duration,
    pub weight: i32,
    pub reverse: bool,
    pub rise: u32,
    pub fall: u32,
    pub init_fail: bool,
}

impl VrrpScript {
    pub fn effective_timeout(&self) -> Duration {
        if self.timeout.is_zero() {
            self.interval
        } else {
            self.timeout
        }
    }
}

/// `track_file NAME { … }` (alias `vrrp_track_file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackFile {
    pub name: String,
    pub span: Span,
    pub path: PathBuf,
    pub weight: i32,
    pub reverse: bool,
    /// `init_file [VALUE] [overwrite]`.
    pub init_file: Option<(i64, bool)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamMatch {
    /// Arguments must equal the configured ones.
    Exact,
    /// The configured arguments are a prefix of the process's arguments.
    Initial,
    /// The configured arguments appear anywhere in the process's arguments.
    Partial,
}

/// `vrrp_track_process NAME { … }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackProcess {
    pub name: String,
    pub span: Span,
    pub process: String,
    pub params: Option<Vec<String>>,
    pub param_match: ParamMatch,
    pub full_command: bool,
    /// keepalived 2.2.7 leaves this at 0 (fault on quorum loss), whatever
    /// its man page says.
    pub weight: i32,
    pub reverse: bool,
    pub quorum: u32,
    pub quorum_max: u32,
    pub fork_delay: Duration,
    pub terminate_delay: Duration,
}

/// The extension block `check_mysql NAME { … }` (see issue "Built-in
/// MySQL/MariaDB probe"): its common check settings and its own keys.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckMysql {
    pub name: String,
    pub span: Span,
    pub common: CheckCommon,
    pub settings: MysqlSettings,
}

/// Settings every check kind shares with `vrrp_script`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckCommon {
    pub interval: Duration,
    pub timeout: Duration,
    pub weight: i32,
    pub reverse: bool,
    pub rise: u32,
    pub fall: u32,
    pub init_fail: bool,
}

impl Default for CheckCommon {
    fn default() -> Self {
        CheckCommon {
            interval: Duration::from_secs(1),
            timeout: Duration::ZERO,
            weight: 0,
            reverse: false,
            rise: 1,
            fall: 1,
            init_fail: false,
        }
    }
}

impl CheckCommon {
    pub fn effective_timeout(&self) -> Duration {
        if self.timeout.is_zero() {
            self.interval
        } else {
            self.timeout
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CatchUpPolicy {
    /// The peer's server cannot be reached while its VRRP instance lives:
    /// do not preempt.
    #[default]
    Wait,
    /// Preempt anyway.
    Takeover,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct MysqlSettings {
    pub host: Option<String>,
    pub socket: Option<PathBuf>,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub defaults_file: Option<PathBuf>,
    pub ssl: bool,
    pub ssl_ca: Option<PathBuf>,
    pub ssl_cert: Option<PathBuf>,
    pub ssl_key: Option<PathBuf>,
    pub require_replication: bool,
    pub max_lag: Option<Duration>,
    pub peer_host: Option<String>,
    pub peer_port: u16,
    pub peer_user: Option<String>,
    pub peer_password: Option<String>,
    pub catch_up_timeout: Duration,
    pub catch_up_policy: CatchUpPolicy,
    pub read_only_when_backup: bool,
    /// Hosts whose answer proves this node is not cut off (a gateway, a
    /// third host): TCP connect, or ICMP echo without a port.
    pub witnesses: Vec<Witness>,
    /// A MASTER that reaches neither the peer's server nor a witness for
    /// this long fences itself (None: 3 × interval + timeout).
    pub isolation_timeout: Option<Duration>,
    /// How long a takeover waits for the SQL thread to apply the relay log
    /// before the server is made writable anyway.
    pub relay_apply_timeout: Duration,
    /// When this check's failure takes a MASTER to FAULT, its VIPs stay
    /// until another master is heard (at most Master_Down_Interval): the
    /// kernel refuses connections to the dead server with a reset.
    pub refuse_on_fault: bool,
    /// A MASTER whose peer's replica is gone switches semi-sync off (no
    /// acknowledgement can come) and back on once that replica has every
    /// write again, or when it leaves MASTER.
    pub semi_sync_release: bool,
}

/// One `witness` of check_mysql.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Witness {
    pub addr: std::net::IpAddr,
    /// TCP port to connect to; None: ICMP echo.
    pub port: Option<u16>,
}

impl std::fmt::Display for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.addr, self.port) {
            (a, None) => write!(f, "{a}"),
            (std::net::IpAddr::V6(a), Some(p)) => write!(f, "[{a}]:{p}"),
            (a, Some(p)) => write!(f, "{a}:{p}"),
        }
    }
}

impl Witness {
    /// `ADDR`, `ADDR:PORT`, `[V6ADDR]:PORT` or a bare IPv6 address.
    pub fn parse(text: &str) -> Result<Witness, String> {
        let bad = || format!("'{text}' is not a witness (ADDR, ADDR:PORT or [IPV6]:PORT)");
        let port = |p: &str| match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(format!("'{p}' is not a TCP port (1-65535)")),
            Ok(p) => Ok(Some(p)),
        };
        if let Some(rest) = text.strip_prefix('[') {
            let (addr, tail) = rest.split_once(']').ok_or_else(bad)?;
            let addr: std::net::Ipv6Addr = addr.parse().map_err(|_| bad())?;
            let port = match tail {
                "" => None,
                t => port(t.strip_prefix(':').ok_or_else(bad)?)?,
            };
            return Ok(Witness {
                addr: addr.into(),
                port,
            });
        }
        if let Ok(addr) = text.parse::<std::net::IpAddr>() {
            return Ok(Witness { addr, port: None });
        }
        let (addr, p) = text.rsplit_once(':').ok_or_else(bad)?;
        let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| bad())?;
        Ok(Witness {
            addr: addr.into(),
            port: port(p)?,
        })
    }
}

impl MysqlSettings {
    /// The isolation timeout in effect for a check with `common`.
    pub fn effective_isolation_timeout(&self, common: &CheckCommon) -> Duration {
        self.isolation_timeout
            .unwrap_or(3 * common.interval + common.effective_timeout())
    }
}

/// The extension block `check_plugin NAME { … }`.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckPlugin {
    pub name: String,
    pub span: Span,
    pub common: CheckCommon,
    /// As written: an absolute path or a bare name under `plugin_dir`.
    pub plugin: String,
    pub isolate: bool,
    /// The `config { }` block as JSON text.
    pub config_json: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialState {
    Master,
    Backup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthType {
    /// keepalived's `PASS`: 8 bytes of clear-text password (RFC 2338 type 1).
    Pass,
    /// keepalived's IPsec `AH` (type 2); parsed, not supported.
    Ah,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub auth_type: AuthType,
    /// The password padded with zero bytes to 8, as sent on the wire.
    pub password: [u8; 8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressScope {
    Global,
    Site,
    Link,
    Host,
    Nowhere,
    Numeric(u8),
}

impl AddressScope {
    pub fn as_u8(self) -> u8 {
        match self {
            AddressScope::Global => 0,
            AddressScope::Site => 200,
            AddressScope::Link => 253,
            AddressScope::Host => 254,
            AddressScope::Nowhere => 255,
            AddressScope::Numeric(n) => n,
        }
    }

    pub fn name(self) -> String {
        match self {
            AddressScope::Global => "global".into(),
            AddressScope::Site => "site".into(),
            AddressScope::Link => "link".into(),
            AddressScope::Host => "host".into(),
            AddressScope::Nowhere => "nowhere".into(),
            AddressScope::Numeric(n) => n.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broadcast {
    Addr(Ipv4Addr),
    /// `brd +`: all host bits set.
    Plus,
    /// `brd -`: none.
    Minus,
}

/// One line of `virtual_ipaddress` / `virtual_ipaddress_excluded` /
/// `static_ipaddress`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualAddress {
    pub addr: IpAddr,
    pub prefix: u8,
    /// Device; `None` means the instance's interface (or its VMAC).
    pub dev: Option<String>,
    pub brd: Option<Broadcast>,
    pub scope: AddressScope,
    pub label: Option<String>,
    pub peer: Option<IpAddr>,
    pub home: bool,
    pub nodad: bool,
    pub mngtmpaddr: bool,
    pub noprefixroute: bool,
    pub autojoin: bool,
    pub no_track: bool,
    /// `preferred_lft N|forever`; `None` is the kernel default.
    pub preferred_lft: Option<u32>,
    pub use_vmac: bool,
    pub span: Span,
}

/// A reference from an instance or group to a tracked object, with the
/// overrides written on the reference line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackRef {
    pub name: String,
    pub weight: Option<i32>,
    pub reverse: Option<bool>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInterface {
    pub name: String,
    pub weight: i32,
    pub reverse: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Notifies {
    pub master: Option<Box<ScriptSpec>>,
    pub backup: Option<Box<ScriptSpec>>,
    pub fault: Option<Box<ScriptSpec>>,
    pub stop: Option<Box<ScriptSpec>>,
    pub deleted: Option<Box<ScriptSpec>>,
    /// A bare `notify_deleted`: report DELETED rather than FAULT on removal.
    pub deleted_state: bool,
    /// The generic `notify`, which gets `TYPE NAME STATE PRIORITY` appended.
    pub generic: Option<Box<ScriptSpec>>,
    pub master_rx_lower_pri: Option<Box<ScriptSpec>>,
}

impl Notifies {
    pub fn all(&self) -> impl Iterator<Item = &ScriptSpec> {
        [
            &self.master,
            &self.backup,
            &self.fault,
            &self.stop,
            &self.deleted,
            &self.generic,
            &self.master_rx_lower_pri,
        ]
        .into_iter()
        .filter_map(|s| s.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnicastPeer {
    pub addr: IpAddr,
    pub min_ttl: Option<u8>,
    pub max_ttl: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vmac {
    /// Interface name; default `<vmac_prefix>.<vrid>`.
    pub name: String,
    /// The name was written in the file (`use_vmac NAME`), not the default.
    pub named: bool,
    /// A configured MAC; default the RFC virtual MAC.
    pub mac: Option<[u8; 6]>,
    /// `vmac_xmit_base`: send adverts on the parent interface.
    pub xmit_base: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

/// `vrrp_instance NAME { … }`, completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpInstance {
    pub name: String,
    pub span: Span,
    /// The configured (wanted) initial state.
    pub state: InitialState,
    /// Base priority, 1..=255.
    pub priority: u8,
    pub interface: Option<String>,
    pub vrid: u8,
    pub family: Family,
    pub version: u8,
    /// The advertisement interval after version rounding (v2: whole
    /// seconds; v3: centiseconds).
    pub advert_int: Duration,
    pub auth: Option<Auth>,
    pub vips: Vec<VirtualAddress>,
    pub excluded_vips: Vec<VirtualAddress>,
    pub routes: Vec<VirtualRoute>,
    pub rules: Vec<VirtualRule>,
    pub track_interfaces: Vec<TrackInterface>,
    pub track_scripts: Vec<TrackRef>,
    pub track_files: Vec<TrackRef>,
    pub track_processes: Vec<TrackRef>,
    /// Checked against the bfd_instances, never run.
    pub track_bfd: Vec<TrackRef>,
    pub dont_track_primary: bool,
    pub nopreempt: bool,
    /// Where a `nopreempt` was written that keepalived's rules cleared
    /// (`state MASTER`, priority 255): `explain` names it.
    pub nopreempt_ignored: Option<Span>,
    pub preempt_delay: Duration,
    pub garp: GarpSettings,
    pub down_timer_adverts: u32,
    pub lower_prio_no_advert: bool,
    pub higher_prio_send_advert: bool,
    pub notify: Notifies,
    pub notify_priority_changes: bool,
    pub unicast_src_ip: Option<IpAddr>,
    pub unicast_peers: Vec<UnicastPeer>,
    pub unicast_ttl: u8,
    pub unicast_fault_no_peer: bool,
    pub check_unicast_src: bool,
    /// Multicast destination (the global group unless `mcast_dst_ip`).
    pub mcast_dst: IpAddr,
    pub track_src_ip: bool,
    pub vmac: Option<Vmac>,
    pub accept: bool,
    pub skip_check_adv_addr: bool,
    pub strict: bool,
    pub promote_secondaries: bool,
    pub v3_checksum_as_v2: bool,
    /// `owner_ignore_adverts` (or the global one): as owner, drop adverts.
    pub owner_ignore_adverts: bool,
    /// Name of the sync group, filled in when groups are resolved.
    pub sync_group: Option<String>,
    /// It tracks a check_mysql with `refuse_on_fault` (directly or through
    /// its sync group), filled in when references are resolved.
    pub linger_on_fault: bool,
}

impl VrrpInstance {
    /// Gives back the unused capacity of its lists.
    pub fn shrink_to_fit(&mut self) {
        self.vips.shrink_to_fit();
        self.excluded_vips.shrink_to_fit();
        self.routes.shrink_to_fit();
        self.rules.shrink_to_fit();
        self.track_interfaces.shrink_to_fit();
        self.track_scripts.shrink_to_fit();
        self.track_files.shrink_to_fit();
        self.track_processes.shrink_to_fit();
        self.unicast_peers.shrink_to_fit();
    }

    pub fn is_unicast(&self) -> bool {
        !self.unicast_peers.is_empty()
    }

    pub fn is_owner(&self) -> bool {
        self.priority == 255
    }
}

/// `vrrp_sync_group NAME { … }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroup {
    pub name: String,
    pub span: Span,
    pub members: Vec<(String, Span)>,
    pub track_interfaces: Vec<TrackInterface>,
    pub track_scripts: Vec<TrackRef>,
    pub track_files: Vec<TrackRef>,
    pub track_processes: Vec<TrackRef>,
    /// Checked against the bfd_instances, never run.
    pub track_bfd: Vec<TrackRef>,
    pub notify: Notifies,
    pub sync_group_tracking_weight: bool,
    pub notify_priority_changes: Option<bool>,
}

/// `lvs_flush_onstop`: what the daemon removes from IPVS when it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LvsFlushOnStop {
    /// Only what the daemon created (keepalived's default).
    #[default]
    Created,
    /// `lvs_flush_onstop`: the whole table.
    All,
    /// `lvs_flush_onstop VS`: every virtual server the config names.
    VirtualServers,
}

/// IPVS connection timeouts in seconds (`lvs_timeouts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LvsTimeouts {
    pub tcp: Option<u32>,
    pub tcpfin: Option<u32>,
    pub udp: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LvsGlobals {
    /// `lvs_flush`: empty the IPVS table at start.
    pub flush: bool,
    pub flush_onstop: LvsFlushOnStop,
    pub timeouts: LvsTimeouts,
}
