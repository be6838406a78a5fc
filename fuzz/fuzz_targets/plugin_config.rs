//! A check_plugin `config { … }` block of arbitrary content, through the
//! reader and its mapping to the plugin's JSON: never panics or hangs.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        // `include` patterns resolve against the working directory: an
        // empty one of its own, so an input never reads the corpus (or
        // the build tree) beside it, and runs the same wherever it is.
        let dir = std::env::temp_dir().join(format!("rkeepalived-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        std::env::set_current_dir(&dir).expect("an empty working directory");
    },
    |data: &[u8]| {
        let body = String::from_utf8_lossy(data);
        let text = format!("check_plugin p {{\n plugin /usr/lib/p.so\n config {{\n{body}\n }}\n}}\n");
        let loaded = rkeepalived::config::load_str("fuzz.conf", &text, &rkeepalived::config::LoadOptions { config_id: "fuzz".into(), limits: rkeepalived::config::preprocess::Limits::small() });
        let _ = loaded.render_diagnostics();
    }
);
