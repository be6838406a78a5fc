//! Network-namespace labs for end-to-end tests (root only).
//!
//! A lab is a switch namespace holding a bridge, and hosts joined to it by
//! veth pairs (`eth0` in each host). Every name carries the test's name
//! and the process id, so parallel tests never collide; `Drop` kills every
//! daemon the lab started and deletes its namespaces, also when a test
//! fails. Daemons run only inside these namespaces.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod mariadb;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_rkeepalived");

/// The VIP of the standard instance (VI_1, VRID 51, on every host's eth0).
pub const VIP: &str = "10.99.0.100";
/// Added to every RFC bound: scheduling, netlink and `ip` polling.
pub const SLACK: Duration = Duration::from_millis(1500);

/// keepalived's state codes in the JSON dump.
pub const BACKUP: i64 = 1;
pub const MASTER: i64 = 2;
pub const FAULT: i64 = 3;

static SEQ: AtomicU32 = AtomicU32::new(0);

pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}

pub fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} {args:?}: {e}"))
}

pub fn must(cmd: &str, args: &[&str]) {
    let o = run(cmd, args);
    assert!(
        o.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// One host of a lab.
pub struct Host {
    pub ns: String,
    pub v4: String,
    pub v6: String,
    pub dir: PathBuf,
    /// The bridge port of this host in the switch namespace.
    pub port: String,
    daemon: Option<Child>,
}

pub struct Lab {
    pub name: String,
    pub switch: String,
    pub hosts: Vec<Host>,
    tmp: tempfile::TempDir,
    extra: Vec<Child>,
}

impl Lab {
    /// A switch and `n` hosts: host i has 10.99.0.(i+1)/24 and
    /// fd00:99::(i+1)/64 on eth0.
    pub fn new(test: &str, n: usize) -> Lab {
        assert!(is_root(), "end-to-end tests need root");
        let id = format!("{}{}", std::process::id() % 100_000, SEQ.fetch_add(1, Ordering::SeqCst));
        let short: String = test.chars().filter(|c| c.is_ascii_alphanumeric()).take(10).collect();
        let name = format!("rk{short}{id}");
        let switch = format!("{name}s");
        let tmp = tempfile::tempdir().unwrap();
        let mut lab = Lab {
            name: name.clone(),
            switch: switch.clone(),
            hosts: Vec::new(),
            tmp,
            extra: Vec::new(),
        };
        must("ip", &["netns", "add", &switch]);
        must("ip", &["-n", &switch, "link", "add", "br0", "type", "bridge"]);
        // Forward at once: no STP listening delay in tests.
        must(
            "ip",
            &[
                "-n",
                &switch,
                "link",
                "set",
                "br0",
                "type",
                "bridge",
                "forward_delay",
                "0",
                "stp_state",
                "0",
            ],
        );
        must("ip", &["-n", &switch, "link", "set", "br0", "up"]);
        for i in 0..n {
            let ns = format!("{name}h{i}");
            let port = format!("p{i}");
            must("ip", &["netns", "add", &ns]);
            must(
                "ip",
                &[
                    "-n", &switch, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "netns", &ns,
                ],
            );
            must("ip", &["-n", &switch, "link", "set", &port, "master", "br0"]);
            must("ip", &["-n", &switch, "link", "set", &port, "up"]);
            must("ip", &["-n", &ns, "link", "set", "lo", "up"]);
            let v4 = format!("10.99.0.{}", i + 1);
            let v6 = format!("fd00:99::{}", i + 1);
            must("ip", &["-n", &ns, "addr", "add", &format!("{v4}/24"), "dev", "eth0"]);
            must(
                "ip",
                &["-n", &ns, "addr", "add", &format!("{v6}/64"), "dev", "eth0", "nodad"],
            );
            must("ip", &["-n", &ns, "link", "set", "eth0", "up"]);
            let dir = lab.tmp.path().join(format!("h{i}"));
            std::fs::create_dir_all(&dir).unwrap();
            lab.hosts.push(Host {
                ns,
                v4,
                v6,
                dir,
                port,
                daemon: None,
            });
        }
        lab
    }

    /// Two hosts, started: host 0 runs `a` (VI_1 at priority 100 after
    /// the definitions it needs, with `a_track` inside the instance), host
    /// 1 runs VI_1 at 90 with `b_extra`; returns once host 0 holds the VIP.
    pub fn pair(test: &str, a_defs: &str, a_track: &str, b_extra: &str) -> Lab {
        let a = format!("{a_defs}{}", instance("VI_1", 51, 100, &format!("{VIP}/24"), a_track));
        let lab = Lab::started(test, &[&a, &instance("VI_1", 51, 90, &format!("{VIP}/24"), b_extra)]);
        lab.settle(VIP, &[0], mdi_v2(100) + SLACK);
        lab
    }

    /// One host per configuration, each running rkeepalived on it.
    pub fn started(test: &str, configs: &[&str]) -> Lab {
        let mut lab = Lab::new(test, configs.len());
        for (i, c) in configs.iter().enumerate() {
            lab.start(i, c, &[]);
        }
        lab
    }

    /// Exactly `expected` hold `vip` within `within`: returns how long it
    /// took, or fails with every host's log.
    pub fn settle(&self, vip: &str, expected: &[usize], within: Duration) -> Duration {
        match wait_for(within, || self.holders(vip) == expected) {
            Some((t, _)) => t,
            None => {
                let logs: String = (0..self.hosts.len())
                    .map(|i| format!("--- h{i}:\n{}\n", self.log(i)))
                    .collect();
                panic!("{vip} held by {:?}, expected {expected:?}\n{logs}", self.holders(vip))
            }
        }
    }

    /// Adds interface `name` (one end of a veth pair, both ends up) to host i.
    pub fn add_link(&self, i: usize, name: &str) {
        let peer = format!("{name}p");
        must(
            "ip",
            &[
                "-n",
                self.ns(i),
                "link",
                "add",
                name,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
            ],
        );
        must("ip", &["-n", self.ns(i), "link", "set", name, "up"]);
        must("ip", &["-n", self.ns(i), "link", "set", &peer, "up"]);
    }

    /// (state, effective priority) of host i's first instance, from its
    /// JSON dump.
    pub fn vrrp_state(&self, i: usize) -> (i64, i64) {
        let j = self.json(i);
        (
            j[0]["data"]["state"].as_i64().unwrap_or(-1),
            j[0]["data"]["effective_priority"].as_i64().unwrap_or(-1),
        )
    }

    /// Kills every process of host i (keepalived has a parent and a VRRP
    /// child): a crash, with no goodbye.
    pub fn crash(&mut self, i: usize) {
        let pids = run("ip", &["netns", "pids", self.ns(i)]).stdout;
        for p in String::from_utf8_lossy(&pids).lines() {
            if let Ok(pid) = p.trim().parse::<i32>() {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
        self.kill(i);
    }

    pub fn ns(&self, i: usize) -> &str {
        &self.hosts[i].ns
    }

    pub fn dir(&self, i: usize) -> &Path {
        &self.hosts[i].dir
    }

    /// Runs a command inside host i's namespace.
    pub fn exec(&self, i: usize, args: &[&str]) -> Output {
        let mut v = vec!["netns", "exec", self.ns(i)];
        v.extend_from_slice(args);
        run("ip", &v)
    }

    pub fn write_config(&self, i: usize, text: &str) -> PathBuf {
        let p = self.dir(i).join("keepalived.conf");
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Starts rkeepalived on host i with `config` (and extra flags).
    pub fn start(&mut self, i: usize, config: &str, extra: &[&str]) {
        let path = self.write_config(i, config);
        self.start_binary(i, BIN, &path, extra, &[]);
    }

    /// As `start`, with extra environment variables for the daemon.
    pub fn start_env(&mut self, i: usize, config: &str, env: &[(&str, &str)]) {
        let path = self.write_config(i, config);
        self.start_binary(i, BIN, &path, &[], env);
    }

    /// Starts Debian's keepalived on host i (interop tests).
    pub fn start_keepalived(&mut self, i: usize, config: &str) {
        let path = self.write_config(i, config);
        self.start_binary(i, "keepalived", &path, &["-P"], &[]);
    }

    /// Starts Debian's keepalived on host i with its checker process only
    /// (`-C`): the LVS tests' reference.
    pub fn start_keepalived_lvs(&mut self, i: usize, config: &str) {
        let path = self.write_config(i, config);
        let checkers = self.dir(i).join("checkers.pid").to_string_lossy().to_string();
        self.start_binary(i, "keepalived", &path, &["-C", "-c", &checkers], &[]);
    }

    fn start_binary(&mut self, i: usize, bin: &str, config: &Path, extra: &[&str], env: &[(&str, &str)]) {
        let h = &self.hosts[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(h.dir.join("daemon.log"))
            .unwrap();
        let pid = h.dir.join("keepalived.pid");
        let vpid = h.dir.join("vrrp.pid");
        let mut args: Vec<String> = vec!["netns".into(), "exec".into(), h.ns.clone(), bin.into()];
        for a in ["-n", "-l", "-D", "-f"] {
            args.push(a.into());
        }
        args.push(config.to_string_lossy().to_string());
        args.extend([
            "-p".to_string(),
            pid.to_string_lossy().to_string(),
            "-r".into(),
            vpid.to_string_lossy().to_string(),
        ]);
        if bin == BIN {
            args.push("-G".into());
            // Hosts share one file system: each its own socket and state.
            if !extra.contains(&"--control-socket") {
                args.push("--control-socket".into());
                args.push(h.dir.join("control.sock").to_string_lossy().to_string());
            }
            args.push("--state-dir".into());
            args.push(h.dir.join("state").to_string_lossy().to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let child = Command::new("ip")
            .args(&args)
            .env("TMPDIR", &h.dir)
            .env("RKEEPALIVED_LOG", "debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.hosts[i].daemon = Some(child);
        // Wait for the pid file: the daemon is up.
        let ok = wait_for(Duration::from_secs(10), || pid.exists() || vpid.exists());
        assert!(ok.is_some(), "daemon on host {i} did not start:\n{}", self.log(i));
    }

    pub fn pid(&self, i: usize) -> Option<i32> {
        let h = &self.hosts[i];
        std::fs::read_to_string(h.dir.join("keepalived.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
    }

    /// Sends a signal to host i's daemon.
    pub fn signal(&self, i: usize, sig: nix::sys::signal::Signal) {
        if let Some(pid) = self.pid(i) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
        }
    }

    /// Sends a signal by number (real-time signals have no nix name).
    pub fn signal_raw(&self, i: usize, sig: i32) {
        if let Some(pid) = self.pid(i) {
            let _ = run("kill", &[&format!("-{sig}"), &pid.to_string()]);
        }
    }

    /// SIGTERM and wait for the process to end.
    pub fn stop(&mut self, i: usize) -> Option<std::process::ExitStatus> {
        self.signal(i, nix::sys::signal::Signal::SIGTERM);
        self.reap(i, Duration::from_secs(10))
    }

    /// SIGKILL (no goodbye).
    pub fn kill(&mut self, i: usize) {
        self.signal(i, nix::sys::signal::Signal::SIGKILL);
        self.reap(i, Duration::from_secs(5));
    }

    fn reap(&mut self, i: usize, within: Duration) -> Option<std::process::ExitStatus> {
        let mut child = self.hosts[i].daemon.take()?;
        let start = Instant::now();
        loop {
            if let Ok(Some(s)) = child.try_wait() {
                return Some(s);
            }
            if start.elapsed() > within {
                let _ = child.kill();
                return child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn running(&mut self, i: usize) -> bool {
        match self.hosts[i].daemon.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir(i).join("daemon.log")).unwrap_or_default()
    }

    /// Whether host i has `addr` configured on any interface.
    pub fn has_addr(&self, i: usize, addr: &str) -> bool {
        let o = run("ip", &["-n", self.ns(i), "addr", "show"]);
        let text = String::from_utf8_lossy(&o.stdout);
        text.split_whitespace().any(|w| w.split('/').next() == Some(addr))
    }

    /// The hosts that have `addr`.
    pub fn holders(&self, addr: &str) -> Vec<usize> {
        (0..self.hosts.len()).filter(|&i| self.has_addr(i, addr)).collect()
    }

    /// Cuts host i off the LAN while its link stays up (bridge port removed).
    pub fn cut(&self, i: usize) {
        must(
            "ip",
            &["-n", &self.switch, "link", "set", &self.hosts[i].port, "nomaster"],
        );
    }

    pub fn heal(&self, i: usize) {
        must(
            "ip",
            &["-n", &self.switch, "link", "set", &self.hosts[i].port, "master", "br0"],
        );
    }

    /// Takes host i's own interface down / up.
    pub fn link(&self, i: usize, up: bool) {
        must(
            "ip",
            &["-n", self.ns(i), "link", "set", "eth0", if up { "up" } else { "down" }],
        );
    }

    /// Host i's control socket (each host has its own).
    pub fn socket(&self, i: usize) -> PathBuf {
        self.dir(i).join("control.sock")
    }

    /// Runs `rkeepalived ARGS` (status, explain, maintenance) against host
    /// i's daemon, inside its namespace.
    pub fn ctl(&self, i: usize, args: &[&str]) -> Output {
        let socket = self.socket(i);
        let mut all = vec![BIN, "--control-socket", socket.to_str().unwrap()];
        all.extend_from_slice(args);
        self.exec(i, &all)
    }

    /// `rkeepalived status --json` of host i.
    pub fn status(&self, i: usize) -> serde_json::Value {
        let o = self.ctl(i, &["status", "--json"]);
        serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
    }

    /// The reasons in host i's journal for instance `name`, oldest first.
    pub fn reasons(&self, i: usize, name: &str) -> Vec<String> {
        let s = self.status(i);
        s["instances"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|v| v["name"] == name)
            .flat_map(|v| v["journal"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e["reason"].as_str().map(str::to_string))
            .collect()
    }

    /// Writes and reads the daemon's JSON dump (SIGRTMIN+2).
    pub fn json(&self, i: usize) -> serde_json::Value {
        let path = self.dir(i).join("keepalived.json");
        let _ = std::fs::remove_file(&path);
        self.signal_raw(i, libc::SIGRTMIN() + 2);
        let found = wait_for(Duration::from_secs(5), || {
            std::fs::read_to_string(&path).ok().filter(|t| t.ends_with(']'))
        });
        serde_json::from_str(&found.map(|(_, t)| t).unwrap_or_default()).unwrap_or(serde_json::Value::Null)
    }

    /// Runs a helper (a Prometheus server, …) inside host i's namespace
    /// until the lab ends; its output goes to `log` in the host's directory.
    pub fn spawn_in(&mut self, i: usize, args: &[&str], log: &str) {
        let out = std::fs::File::create(self.dir(i).join(log)).unwrap();
        let mut v = vec!["netns", "exec", self.ns(i)];
        v.extend_from_slice(args);
        let child = Command::new("ip")
            .args(&v)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        self.extra.push(child);
    }

    /// An HTTP GET from inside host i's namespace: (status, body).
    pub fn http_get(&self, i: usize, url: &str, accept: Option<&str>) -> (u16, String) {
        let script = format!(
            "import sys, urllib.request\nr = urllib.request.Request({url:?})\n{}\ntry:\n    f = urllib.request.urlopen(r, timeout=5)\n    print(f.status); sys.stdout.write(f.read().decode())\nexcept urllib.error.HTTPError as e:\n    print(e.code)\nexcept Exception as e:\n    print(0); print(e)\n",
            accept.map(|a| format!("r.add_header('Accept', {a:?})")).unwrap_or_default()
        );
        let o = self.exec(i, &["python3", "-c", &script]);
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        let (code, body) = text.split_once('\n').unwrap_or((text.as_str(), ""));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }

    /// Starts tcpdump on the bridge (flooded and multicast frames); returns
    /// the capture file.
    pub fn capture(&mut self, filter: &str) -> PathBuf {
        self.capture_on("br0", filter)
    }

    /// Captures on one switch port: everything to and from that host.
    pub fn capture_port(&mut self, i: usize, filter: &str) -> PathBuf {
        let port = self.hosts[i].port.clone();
        self.capture_on(&port, filter)
    }

    fn capture_on(&mut self, dev: &str, filter: &str) -> PathBuf {
        let file = self.tmp.path().join(format!("cap{}.pcap", self.extra.len()));
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.switch,
                "tcpdump",
                "--immediate-mode",
                // 32 MiB: at hundreds of frames a second the default
                // buffer loses some while tcpdump waits for a core.
                "-B",
                "32768",
                "-i",
                dev,
                "-U",
                "-w",
            ])
            .arg(&file)
            .arg(filter)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(file.with_extension("err")).unwrap())
            .spawn()
            .unwrap();
        self.extra.push(child);
        std::thread::sleep(Duration::from_millis(500));
        file
    }

    /// Stops the captures after a second, so frames just sent are in.
    pub fn stop_captures(&mut self) {
        std::thread::sleep(Duration::from_secs(1));
        for c in &mut self.extra {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(c.id() as i32),
                nix::sys::signal::Signal::SIGINT,
            );
            let _ = c.wait();
        }
        self.extra.clear();
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for i in 0..self.hosts.len() {
            if let Some(mut c) = self.hosts[i].daemon.take() {
                if let Some(pid) = std::fs::read_to_string(self.hosts[i].dir.join("keepalived.pid"))
                    .ok()
                    .and_then(|s| s.trim().parse::<i32>().ok())
                {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                }
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        for c in &mut self.extra {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Anything still running in the lab's namespaces goes too.
        for h in &self.hosts {
            let pids = run("ip", &["netns", "pids", &h.ns]).stdout;
            for p in String::from_utf8_lossy(&pids).lines() {
                if let Ok(pid) = p.trim().parse::<i32>() {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        for h in &self.hosts {
            let _ = run("ip", &["netns", "del", &h.ns]);
        }
        let _ = run("ip", &["netns", "del", &self.switch]);
    }
}

/// Polls `f` every 10 ms until it returns something truthy or `within`
/// passes; returns the time it took and the value.
pub fn wait_for<T, F: FnMut() -> T>(within: Duration, mut f: F) -> Option<(Duration, T::Out)>
where
    T: Truthy,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().truthy() {
            return Some((start.elapsed(), v));
        }
        if start.elapsed() > within {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether a command is installed.
pub fn which(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub trait Truthy {
    type Out;
    fn truthy(self) -> Option<Self::Out>;
}

impl Truthy for bool {
    type Out = ();
    fn truthy(self) -> Option<()> {
        self.then_some(())
    }
}

impl<T> Truthy for Option<T> {
    type Out = T;
    fn truthy(self) -> Option<T> {
        self
    }
}

/// target/<profile>/ of this build.
pub fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// Copies a built Rust plugin into `dir` (root-owned, as plugins must be).
pub fn rust_plugin(dir: &Path, name: &str) -> PathBuf {
    let src = build_dir().join(format!("lib{name}.so"));
    assert!(
        src.exists(),
        "{} missing: build the workspace first (cargo build --workspace), as scripts/test-all.sh does",
        src.display()
    );
    let dst = dir.join(format!("lib{name}.so"));
    std::fs::copy(&src, &dst).unwrap();
    dst
}

/// The RFC Master_Down_Interval for VRRPv2 at 1 s: 3 + (256 − p)/256 s.
pub fn mdi_v2(prio: u8) -> Duration {
    Duration::from_secs(3) + Duration::from_nanos(1_000_000_000 * (256 - u64::from(prio)) / 256)
}

pub fn skew_v2(prio: u8) -> Duration {
    Duration::from_nanos(1_000_000_000 * (256 - u64::from(prio)) / 256)
}

/// A standard instance block for tests.
pub fn instance(name: &str, vrid: u8, prio: u8, vip: &str, extra: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n    interface eth0\n    virtual_router_id {vrid}\n    priority {prio}\n    advert_int 1\n    virtual_ipaddress {{\n        {vip}\n    }}\n{extra}\n}}\n"
    )
}

/// Parses a pcap file into (time, frame bytes).
pub fn read_pcap(path: &Path) -> Vec<(f64, Vec<u8>)> {
    let data = std::fs::read(path).unwrap_or_default();
    let mut out = Vec::new();
    let mut off = 24;
    while off + 16 <= data.len() {
        let u = |o: usize| u32::from_le_bytes([data[o], data[o + 1], data[o + 2], data[o + 3]]);
        let (sec, usec, incl) = (u(off), u(off + 4), u(off + 8) as usize);
        off += 16;
        if off + incl > data.len() {
            break;
        }
        out.push((f64::from(sec) + f64::from(usec) / 1e6, data[off..off + incl].to_vec()));
        off += incl;
    }
    out
}

/// How many frames a stopped capture lost in the kernel (tcpdump's own
/// count); None while it runs.
pub fn capture_losses(pcap: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(pcap.with_extension("err")).ok()?;
    text.lines()
        .find_map(|l| l.strip_suffix(" packets dropped by kernel"))
        .and_then(|n| n.trim().parse().ok())
}

/// VRRP adverts in a capture: (time, IPv4/IPv6 source, ttl, vrid, priority, payload).
pub fn vrrp_adverts(path: &Path) -> Vec<(f64, IpAddr, u8, u8, u8, Vec<u8>)> {
    let mut out = Vec::new();
    for (t, f) in read_pcap(path) {
        if f.len() < 14 {
            continue;
        }
        let et = u16::from_be_bytes([f[12], f[13]]);
        let ip = &f[14..];
        let (src, ttl, payload) = match et {
            0x0800 if ip.len() >= 20 && ip[9] == 112 => {
                let ihl = usize::from(ip[0] & 15) * 4;
                (
                    IpAddr::from([ip[12], ip[13], ip[14], ip[15]]),
                    ip[8],
                    ip[ihl..].to_vec(),
                )
            }
            0x86dd if ip.len() >= 40 && ip[6] == 112 => {
                let mut s = [0u8; 16];
                s.copy_from_slice(&ip[8..24]);
                (IpAddr::from(s), ip[7], ip[40..].to_vec())
            }
            _ => continue,
        };
        if payload.len() >= 3 {
            out.push((t, src, ttl, payload[1], payload[2], payload));
        }
    }
    out
}
