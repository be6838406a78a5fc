//! `rkeepalived status|explain|maintenance`: the client side of the
//! control socket (the same binary as the daemon). It finds the socket
//! from `--control-socket`, else the `control_socket` of `-f CONFIG`
//! (default /etc/keepalived/keepalived.conf), else the default path.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde_json::{json, Value};

use crate::cli::{Cli, Steer};
use crate::daemon::control;

/// Exit status when the daemon cannot be reached.
const UNREACHABLE: i32 = 3;

/// Runs one command against the daemon; returns the exit status.
pub fn run(cli: &Cli, steer: &Steer) -> i32 {
    let socket = control::socket_for(cli.control_socket.as_deref(), &cli.use_file);
    let request = match request(steer) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("rkeepalived: {e}");
            return 2;
        }
    };
    let colour = std::io::stdout().is_terminal();
    loop {
        let answer = match ask(&socket, &request) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("rkeepalived: cannot reach the daemon at {}: {e}", socket.display());
                return UNREACHABLE;
            }
        };
        if answer["ok"] != json!(true) {
            eprintln!(
                "rkeepalived: {}",
                answer["error"].as_str().unwrap_or("the daemon refused the request")
            );
            return 1;
        }
        match steer {
            Steer::Status { json: true, .. } | Steer::Explain { json: true, .. } => println!("{answer}"),
            Steer::Status { watch, .. } => {
                if watch.is_some() && colour {
                    print!("\x1b[H\x1b[2J");
                }
                print!("{}", status_table(&answer, colour));
            }
            Steer::Explain { .. } => {
                for line in answer["explanation"].as_array().into_iter().flatten() {
                    println!("{}", line.as_str().unwrap_or(""));
                }
            }
            Steer::Switchover { instance } => return follow_switchover(&socket, instance),
            Steer::Maintenance { .. } if answer["switchover"].is_string() => {
                return follow_switchover(&socket, answer["switchover"].as_str().unwrap_or_default());
            }
            Steer::Maintenance { .. } => {
                let state = if answer["maintenance"] == json!(true) {
                    "on"
                } else {
                    "off"
                };
                let changed: Vec<&str> = answer["changed"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                if changed.is_empty() {
                    println!("maintenance {state}: nothing changed");
                } else {
                    println!("maintenance {state}: {}", changed.join(", "));
                }
            }
        }
        let _ = std::io::stdout().flush();
        match steer {
            Steer::Status { watch: Some(secs), .. } => std::thread::sleep(Duration::from_secs_f64(secs.max(0.1))),
            _ => return 0,
        }
    }
}

/// Follows a switchover the daemon has started, through its status, until
/// it ends: 0 when the peer takes over, 1 when abandoned.
fn follow_switchover(socket: &std::path::Path, instance: &str) -> i32 {
    println!("switchover of {instance}: local server frozen, waiting for the peer to apply every write");
    let started = std::time::Instant::now();
    // catch_up_timeout bounds the daemon's side; this only outlives it.
    while started.elapsed() < Duration::from_secs(3600) {
        std::thread::sleep(Duration::from_millis(50));
        let answer = match ask(socket, &json!({ "command": "status" })) {
            Ok(a) => a,
            Err(e) => {
                eprintln!("rkeepalived: lost the daemon at {}: {e}", socket.display());
                return UNREACHABLE;
            }
        };
        let Some(s) = answer["instances"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["name"] == json!(instance))
            .map(|i| &i["switchover"])
        else {
            eprintln!("rkeepalived: {instance} is gone (a reload?)");
            return 1;
        };
        match s["phase"].as_str() {
            Some("done") => {
                println!(
                    "switchover of {instance}: the peer had every write after {:.3} s; maintenance on, \
                     the peer takes over (maintenance {instance} off lets this host back)",
                    s["took"].as_f64().unwrap_or_default()
                );
                return 0;
            }
            Some("abandoned") => {
                eprintln!(
                    "rkeepalived: switchover of {instance} abandoned after {:.3} s: {}; the local server is \
                     writable again",
                    s["took"].as_f64().unwrap_or_default(),
                    s["error"].as_str().unwrap_or("no reason given")
                );
                return 1;
            }
            _ => {}
        }
    }
    eprintln!("rkeepalived: switchover of {instance}: no end within an hour");
    1
}

/// The JSON line a command sends.
fn request(steer: &Steer) -> Result<Value, String> {
    Ok(match steer {
        Steer::Status { .. } => json!({ "command": "status" }),
        Steer::Switchover { instance } => json!({ "command": "switchover", "instance": instance }),
        Steer::Explain { instance, .. } => json!({ "command": "explain", "instance": instance }),
        Steer::Maintenance { args, all } => {
            let (target, state) = match (args.as_slice(), all) {
                ([state], true) => (None, state),
                ([instance, state], false) => (Some(instance), state),
                _ => return Err("usage: rkeepalived maintenance INSTANCE on|off, or --all on|off".into()),
            };
            let on = match state.as_str() {
                "on" => true,
                "off" => false,
                other => return Err(format!("'{other}': expected on or off")),
            };
            match target {
                Some(i) => json!({ "command": "maintenance", "instance": i, "on": on }),
                None => json!({ "command": "maintenance", "all": true, "on": on }),
            }
        }
    })
}

fn ask(socket: &std::path::Path, request: &Value) -> std::io::Result<Value> {
    let mut s = UnixStream::connect(socket)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    writeln!(s, "{request}")?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line)?;
    serde_json::from_str(&line).map_err(|e| std::io::Error::other(format!("bad answer: {e}")))
}

fn paint(text: &str, state: &str, colour: bool) -> String {
    if !colour {
        return text.to_string();
    }
    let code = match state {
        "MASTER" => "32",
        "BACKUP" => "33",
        "FAULT" | "STOP" => "31",
        _ => "0",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

fn ago(v: &Value) -> String {
    v.as_f64()
        .map(|s| format!("{s:.1} s ago"))
        .unwrap_or_else(|| "never".into())
}

/// The human view of a status answer.
pub fn status_table(a: &Value, colour: bool) -> String {
    let mut out = String::new();
    for i in a["instances"].as_array().into_iter().flatten() {
        let state = i["state"].as_str().unwrap_or("?");
        let shown = if i["maintenance"] == json!(true) {
            format!("{state} (maintenance)")
        } else {
            state.to_string()
        };
        let p = &i["priority"];
        let master = &i["master"];
        let heard = match (master["self"].as_bool(), master["address"].as_str()) {
            (Some(true), _) => "we are master".to_string(),
            (Some(false), Some(a)) => format!("master {a} at {} ({})", master["priority"], ago(&master["age"])),
            _ => "no master heard".to_string(),
        };
        out.push_str(&format!(
            "{:<12} {}  priority {} -> {}  {heard}\n",
            i["name"].as_str().unwrap_or("?"),
            paint(&format!("{shown:<8}"), state, colour),
            p["base"],
            p["advertised"],
        ));
        for c in p["contributions"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "    {:<16} {:<9} {:<4} weight {:>4}  share {:>+4}{}\n",
                c["name"].as_str().unwrap_or("?"),
                c["kind"].as_str().unwrap_or("?"),
                c["status"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| c["status"].to_string()),
                c["weight"],
                c["share"].as_i64().unwrap_or(0),
                if c["fault"] == json!(true) { "  FAULT" } else { "" },
            ));
        }
        if let Some(e) = i["last_transition"].as_object() {
            out.push_str(&format!(
                "    last: {} -> {} ({}) at {}\n",
                e["from"].as_str().unwrap_or("?"),
                e["to"].as_str().unwrap_or("?"),
                e["reason"].as_str().unwrap_or("?"),
                e["time"]
            ));
        }
        let ad = &i["adverts"];
        let drops: Vec<String> = ad["drops"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, n)| n.as_u64().unwrap_or(0) > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        out.push_str(&format!(
            "    adverts: sent {} received {}; drops: {}\n",
            ad["sent"],
            ad["received"],
            if drops.is_empty() {
                "none".to_string()
            } else {
                drops.join(", ")
            }
        ));
    }
    let checks = a["checks"].as_array().cloned().unwrap_or_default();
    if !checks.is_empty() {
        out.push_str("checks:\n");
    }
    for c in &checks {
        let rf = &c["rise_fall"];
        let counter = if rf.is_null() {
            String::new()
        } else {
            format!("  rise/fall {}/{}/{}", rf["value"], rf["rise"], rf["fall"])
        };
        out.push_str(&format!(
            "    {:<16} {:<18} {:<4}{counter}  last {}  {}{}\n",
            c["name"].as_str().unwrap_or("?"),
            c["kind"].as_str().unwrap_or("?"),
            c["result"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| c["result"].to_string()),
            ago(&c["last_run_ago"]),
            c["latency_ms"]
                .as_f64()
                .map(|m| format!("{m:.1} ms"))
                .unwrap_or_default(),
            c["message"].as_str().map(|m| format!("  {m}")).unwrap_or_default(),
        ));
        if let Some(m) = c.get("mysql") {
            out.push_str(&format!(
                "        gtid {} read_only {} behind {} ahead {} guard {}\n",
                m["gtid_current_pos"], m["read_only"], m["behind"], m["ahead"], c["guard"]["verdict"]
            ));
        }
    }
    lvs_table(&a["lvs"], &mut out);
    out
}

/// The load balancer's part: each virtual server with its quorum, each
/// real server with its state, whether it is in IPVS, and why.
fn lvs_table(lvs: &Value, out: &mut String) {
    if let Some(e) = lvs["ipvs_error"].as_str() {
        out.push_str(&format!(
            "IPVS: {e}
"
        ));
    }
    for vs in lvs["virtual_servers"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "VS {} {} {}  quorum {}/{} {}
",
            vs["name"].as_str().unwrap_or("?"),
            vs["scheduler"].as_str().unwrap_or("?"),
            vs["method"].as_str().unwrap_or("?"),
            vs["live_weight"],
            vs["quorum"],
            if vs["quorum_held"] == json!(true) {
                "held"
            } else {
                "LOST"
            },
        ));
        for rs in vs["real_servers"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "    -> {:<24} {:<9} weight {:<5} {}  {}{}
",
                rs["address"].as_str().unwrap_or("?"),
                rs["state"].as_str().unwrap_or("?"),
                rs["weight"],
                if rs["in_table"] == json!(true) { "in " } else { "out" },
                rs["reason"].as_str().unwrap_or(""),
                if rs["sorry_server"] == json!(true) {
                    "  (sorry server)"
                } else {
                    ""
                },
            ));
        }
    }
}
