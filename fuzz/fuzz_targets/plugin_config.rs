//! A check_plugin `config { … }` block of arbitrary content, through the
//! reader and its mapping to the plugin's JSON: never panics or hangs.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    let text = format!("check_plugin p {{\n plugin /usr/lib/p.so\n config {{\n{body}\n }}\n}}\n");
    let loaded = rkeepalived::config::load_str("fuzz.conf", &text, &rkeepalived::config::LoadOptions { config_id: "fuzz".into() });
    let _ = loaded.render_diagnostics();
});
