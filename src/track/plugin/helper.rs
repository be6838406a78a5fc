//! The helper process that runs one isolated plugin
//! (`rkeepalived --plugin-helper PATH`, started by the daemon as
//! `script_user`). It speaks JSON lines on stdin/stdout:
//!
//! ```text
//! -> {"config": "<config JSON text>"}      once
//! <- {"ok": true, "name": "check_tcp"}      or {"ok": false, "message": "..."}
//! -> {"timeout_ms": 2000}                   per check
//! <- {"ok": true|false, "message": "..."}
//! ```
//!
//! With `--probe` it only loads the library and prints
//! `{"ok": true, "name": ...}` or the reason it cannot be used (the ABI
//! check of `-t` and of start-up). A crash here is the plugin's crash; the
//! daemon sees the pipe close.

use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::abi::Library;

fn reply(out: &mut impl Write, v: &Value) -> bool {
    writeln!(out, "{v}").and_then(|_| out.flush()).is_ok()
}

/// Runs the helper; returns the process exit status.
pub fn run(path: &Path, probe: bool) -> i32 {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let lib = match Library::open(path) {
        Ok(l) => l,
        Err(e) => {
            reply(&mut out, &json!({ "ok": false, "message": e }));
            return 1;
        }
    };
    if probe {
        reply(&mut out, &json!({ "ok": true, "name": lib.name }));
        return 0;
    }
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    let Some(Ok(first)) = lines.next() else { return 1 };
    let config = serde_json::from_str::<Value>(&first)
        .ok()
        .and_then(|v| v.get("config").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| "{}".into());
    let mut handle = match lib.create(&config) {
        Ok(h) => h,
        Err(e) => {
            reply(&mut out, &json!({ "ok": false, "message": e }));
            return 1;
        }
    };
    if !reply(&mut out, &json!({ "ok": true, "name": lib.name })) {
        return 1;
    }
    for line in lines {
        let Ok(line) = line else { break };
        let ms = serde_json::from_str::<Value>(&line)
            .ok()
            .and_then(|v| v.get("timeout_ms").and_then(Value::as_u64))
            .unwrap_or(1000);
        let (ok, message) = handle.check(Duration::from_millis(ms));
        if !reply(&mut out, &json!({ "ok": ok, "message": message })) {
            break;
        }
    }
    0
}
