//! The keepalived.conf reader on arbitrary text: never panics or hangs.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let loaded = rkeepalived::config::load_str("fuzz.conf", &text, &rkeepalived::config::LoadOptions { config_id: "fuzz".into() });
    let _ = loaded.render_diagnostics();
    let _ = rkeepalived::config::dump::dump(&loaded.config);
});
