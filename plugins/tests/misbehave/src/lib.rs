//! A plugin for the daemon's isolation tests. `config { mode M }`, where
//! M is `ok`, `fail`, `panic`, `segv`, `abort` or `hang`; with `flag PATH`
//! the mode applies only while PATH exists (healthy otherwise).

use std::time::Duration;

use rkeepalived_plugin::{config_str, export_plugin, Plugin};

pub struct Misbehave {
    mode: String,
    flag: Option<String>,
}

impl Plugin for Misbehave {
    fn create(config: &rkeepalived_plugin::serde_json::Value) -> Result<Self, String> {
        Ok(Misbehave {
            mode: config_str(config, "mode").unwrap_or("ok").to_string(),
            flag: config_str(config, "flag").map(str::to_string),
        })
    }

    #[allow(unsafe_code)]
    fn check(&mut self, _timeout: Duration) -> Result<String, String> {
        if let Some(f) = &self.flag {
            if !std::path::Path::new(f).exists() {
                return Ok("no flag".into());
            }
        }
        match self.mode.as_str() {
            "fail" => Err("failing as configured".into()),
            "panic" => panic!("misbehaving as configured"),
            // SAFETY: not safe at all — a deliberate SIGSEGV for the tests.
            "segv" => unsafe {
                std::ptr::write_volatile(std::ptr::null_mut::<u8>(), 1);
                Ok(String::new())
            },
            "abort" => std::process::abort(),
            "hang" => loop {
                std::thread::sleep(Duration::from_secs(3600));
            },
            _ => Ok("fine".into()),
        }
    }
}

export_plugin!(Misbehave, "misbehave");
