//! Real MariaDB servers inside a lab's host namespaces, set up as the
//! reference scenario's GTID dual masters (../shared/reference/
//! dual-master-scenario.md). Data lives in the lab's temp dir; the lab's
//! `Drop` kills every process in its namespaces, mariadbd included.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::{run, wait_for, Lab};

/// The reference scenario in a lab: A and B the two servers (hosts 0 and
/// 1), a client host, and the VIP.
pub use super::VIP;
/// MariaDB scenarios add a check interval and a reconnect to every bound.
pub const DB_SLACK: std::time::Duration = std::time::Duration::from_secs(3);
pub const A: usize = 0;
pub const B: usize = 1;
pub const CLIENT: usize = 2;

/// A file of `examples/dual-master/` with the scenario's addresses,
/// interface and paths mapped onto the lab.
pub fn example(lab: &Lab, name: &str) -> String {
    let text = std::fs::read_to_string(format!("{}/examples/dual-master/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    text.replace("172.16.10.30", &lab.hosts[A].v4)
        .replace("172.16.10.40", &lab.hosts[B].v4)
        .replace("172.16.10.100", VIP)
        .replace("172.16.10.%", "10.99.0.%")
        .replace("ens32", "eth0")
        .replace("/etc/keepalived", &lab.dir(A).display().to_string())
}

/// Waits until only host `who` holds the VIP; panics with both daemons'
/// logs otherwise. Returns how long it took.
pub fn wait_holder(lab: &Lab, who: usize, within: Duration, what: &str) -> Duration {
    wait_for(within, || lab.holders(VIP) == [who])
        .unwrap_or_else(|| {
            panic!(
                "{what}: VIP on {:?}\nA log:\n{}\nB log:\n{}",
                lab.holders(VIP),
                lab.log(A),
                lab.log(B)
            )
        })
        .0
}

pub struct Mariadb {
    pub ns: String,
    pub host: usize,
    pub ip: String,
    pub server_id: u32,
    dir: PathBuf,
    child: Option<Child>,
}

/// The scenario's settings (both hosts), plus what a test needs to run
/// the server from a temp dir and keep it small.
fn my_cnf(dir: &std::path::Path, server_id: u32, extra: &str) -> String {
    let d = dir.display();
    format!(
        "[mysqld]\n\
         datadir={d}/data\nsocket={d}/mysqld.sock\npid-file={d}/mysqld.pid\nlog-error={d}/error.log\n\
         tmpdir={d}/tmp\n\
         port=3306\nbind-address=0.0.0.0\nuser=root\n\
         innodb_buffer_pool_size=32M\ninnodb_log_file_size=16M\nperformance_schema=OFF\n\
         skip_name_resolve=ON\nrelay_log=mysql-relaylog\nrelay_log_purge=OFF\nslow_query_log=ON\n\
         slow_query_log_file={d}/slow.log\n\
         server-id={server_id}\ninnodb_file_per_table=ON\nbinlog_format=ROW\nlog_bin=mysql-binlog\n\
         log_slave_updates=ON\ngtid_strict_mode=ON\n{extra}"
    )
}

pub fn available() -> bool {
    std::path::Path::new("/usr/sbin/mariadbd").exists() && std::path::Path::new("/usr/bin/mysql").exists()
}

impl Mariadb {
    /// Initialises a data directory on host `host` (not started yet).
    pub fn init(lab: &Lab, host: usize, server_id: u32) -> Mariadb {
        Self::init_with(lab, host, server_id, "")
    }

    /// With extra `[mysqld]` lines (e.g. `gtid_domain_id`).
    pub fn init_with(lab: &Lab, host: usize, server_id: u32, extra: &str) -> Mariadb {
        let dir = lab.dir(host).join("mysql");
        std::fs::create_dir_all(dir.join("data")).unwrap();
        // Its own tmpdir: parallel bootstraps collide in a shared one.
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        std::fs::write(dir.join("my.cnf"), my_cnf(&dir, server_id, extra)).unwrap();
        let o = run(
            "mariadb-install-db",
            &[
                &format!("--defaults-file={}", dir.join("my.cnf").display()),
                "--user=root",
                "--skip-test-db",
                "--auth-root-authentication-method=socket",
            ],
        );
        assert!(
            o.status.success(),
            "mariadb-install-db: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        Mariadb {
            ns: lab.ns(host).to_string(),
            host,
            ip: lab.hosts[host].v4.clone(),
            server_id,
            dir,
            child: None,
        }
    }

    pub fn start(&mut self) {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "/usr/sbin/mariadbd"])
            .arg(format!("--defaults-file={}", self.dir.join("my.cnf").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let up = wait_for(Duration::from_secs(60), || self.root_sql("SELECT 1").status.success());
        assert!(up.is_some(), "mariadbd did not start: {}", self.error_log());
    }

    /// A clean shutdown, as `systemctl stop mariadb` does.
    /// Appends `[mysqld]` settings to the option file, for the next start.
    pub fn add_settings(&self, text: &str) {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.join("my.cnf"))
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    pub fn stop(&mut self) {
        let _ = self.root_sql("SHUTDOWN");
        if let Some(mut c) = self.child.take() {
            let gone = wait_for(Duration::from_secs(60), || matches!(c.try_wait(), Ok(Some(_))));
            if gone.is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    /// The mariadbd process (for SIGKILL / SIGSTOP).
    pub fn pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("mysqld.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// After the process was killed from outside: reap it.
    pub fn reap(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.wait();
        }
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    fn root_sql(&self, q: &str) -> Output {
        self.root_client(&["-N", "-B", "-e", q])
    }

    fn root_client(&self, args: &[&str]) -> Output {
        let socket = format!("--socket={}", self.dir.join("mysqld.sock").display());
        let mut v = vec!["netns", "exec", &self.ns, "mysql", "--no-defaults", "-uroot", &socket];
        v.extend_from_slice(args);
        run("ip", &v)
    }

    /// A root session over the local socket (an administrator's) running
    /// `q` in the background.
    pub fn spawn_root(&self, q: &str) -> Child {
        let socket = format!("--socket={}", self.dir.join("mysqld.sock").display());
        Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns,
                "mysql",
                "--no-defaults",
                "-uroot",
                &socket,
                "-e",
                q,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `SHOW … STATUS` in vertical form ("Key: value" lines).
    pub fn status(&self, q: &str) -> String {
        String::from_utf8_lossy(&self.root_client(&["-E", "-e", q]).stdout).to_string()
    }

    /// Runs SQL as root on this server; panics with the server's message.
    pub fn sql(&self, q: &str) -> String {
        let o = self.root_sql(q);
        assert!(o.status.success(), "{q}: {}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    }

    /// The application data, as one comparable string.
    pub fn students(&self) -> String {
        self.sql("SELECT GROUP_CONCAT(StuID, ':', Name ORDER BY StuID) FROM hellodb.students")
    }

    pub fn gtid_current_pos(&self) -> String {
        self.sql("SELECT @@gtid_current_pos")
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The scenario's replication set-up, in its order, between A and B:
/// the `bak` account and the application database on A, B replicating
/// from A, A from B, and the `chk` account (which replicates).
pub fn dual_master(a: &Mariadb, b: &Mariadb) {
    let net = {
        let mut parts: Vec<&str> = a.ip.split('.').take(3).collect();
        parts.push("%");
        parts.join(".")
    };
    a.sql(&format!(
        "GRANT REPLICATION SLAVE ON *.* TO 'bak'@'{net}' IDENTIFIED BY 'bakpassword'"
    ));
    a.sql(
        "CREATE DATABASE hellodb; \
         CREATE TABLE hellodb.students (StuID int unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY, \
         Name varchar(50) NOT NULL, Age tinyint unsigned NOT NULL); \
         INSERT INTO hellodb.students (Name, Age) VALUES ('Shi Zhongyu',22),('Shi Potian',22),\
         ('Xie Yanke',53),('Ding Dian',32),('Yu Yutong',26),('Shi Qing',46),('Xi Ren',19),\
         ('Lin Daiyu',17),('Ren Yingying',20),('Yue Lingshan',19),('Yuan Chengzhi',23),\
         ('Wen Qingqing',19),('Tian Boguang',33),('Lu Wushuang',17),('Duan Yu',19),('Xu Zhu',21),\
         ('Lin Chong',25),('Hua Rong',23),('Xue Baochai',18),('Diao Chan',19),('Huang Yueying',22),\
         ('Xiaoqiao',20),('Ma Chao',23),('Xu Xian',27),('Sun Dasheng',100)",
    );
    let replicate = |slave: &Mariadb, master: &Mariadb| {
        slave.sql(&format!(
            "CHANGE MASTER TO master_host='{}', master_port=3306, master_user='bak', \
             master_password='bakpassword', master_use_gtid=current_pos; START SLAVE",
            master.ip
        ))
    };
    replicate(b, a);
    // current_pos: A asks B from A's own last GTID, so B must have A's
    // set-up writes first (else fatal 1236, "not in the master's binlog").
    let has_all = wait_for(Duration::from_secs(30), || {
        let (pa, pb) = (a.gtid_current_pos(), b.gtid_current_pos());
        !pa.is_empty() && pa == pb
    });
    assert!(has_all.is_some(), "B did not replicate A's set-up writes");
    replicate(a, b);
    a.sql(&format!(
        "GRANT ALL ON *.* TO 'chk'@'{net}' IDENTIFIED BY 'chkpassword'"
    ));
    // Both replication links running and the data on both servers.
    let synced = wait_for(Duration::from_secs(60), || {
        replicating(a)
            && replicating(b)
            && a.students() == b.students()
            && b.sql("SELECT COUNT(*) FROM mysql.user WHERE user='chk'") == "1"
    });
    assert!(
        synced.is_some(),
        "replication did not start:\nA: {}\nB: {}",
        a.status("SHOW SLAVE STATUS"),
        b.status("SHOW SLAVE STATUS")
    );
}

pub fn replicating(m: &Mariadb) -> bool {
    let s = m.status("SHOW SLAVE STATUS");
    s.contains("Slave_IO_Running: Yes") && s.contains("Slave_SQL_Running: Yes")
}

/// Runs SQL from `client` through `addr` as the scenario's `chk` user
/// (its verification account); the server's answer, or its error.
pub fn via(lab: &Lab, client: usize, addr: &str, q: &str) -> Result<String, String> {
    as_user(lab, client, addr, "chk", "chkpassword", q)
}

/// The server id in the last GTID of domain 0 (`0-10-N` → 10).
pub fn gtid_server(pos: &str) -> Option<u32> {
    pos.split(',')
        .find(|g| g.starts_with("0-"))
        .and_then(|g| g.split('-').nth(1))
        .and_then(|s| s.parse().ok())
}

/// A DML statement through `addr`, then which server wrote it (from the
/// GTID it produced).
pub fn dml_lands_on(lab: &Lab, client: usize, addr: &str, dml: &str) -> Option<u32> {
    via(lab, client, addr, &format!("{dml}; SELECT @@gtid_binlog_pos"))
        .ok()
        .and_then(|p| gtid_server(&p))
}

/// Runs SQL read from stdin (a long script) from host `client` through
/// `addr` as `user`.
pub fn via_stdin(lab: &Lab, client: usize, addr: &str, user: &str, password: &str, sql: &str) -> Result<(), String> {
    use std::io::Write;
    let mut c = Command::new("ip")
        .args([
            "netns",
            "exec",
            lab.ns(client),
            "mysql",
            "--no-defaults",
            "--connect-timeout=2",
        ])
        .arg(format!("-h{addr}"))
        .arg(format!("-u{user}"))
        .arg(format!("-p{password}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    c.stdin
        .take()
        .unwrap()
        .write_all(sql.as_bytes())
        .map_err(|e| e.to_string())?;
    let o = c.wait_with_output().map_err(|e| e.to_string())?;
    if o.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).to_string())
    }
}

/// One statement from host `client` through `addr` as `user`.
pub fn as_user(lab: &Lab, client: usize, addr: &str, user: &str, password: &str, q: &str) -> Result<String, String> {
    let o = lab.exec(
        client,
        &[
            "mysql",
            "--no-defaults",
            "--connect-timeout=2",
            &format!("-h{addr}"),
            &format!("-u{user}"),
            &format!("-p{password}"),
            "-N",
            "-B",
            "-e",
            q,
        ],
    );
    if o.status.success() {
        Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&o.stderr).trim().to_string())
    }
}
