#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test
//! The project's own keepalived.conf corpus (compat/): every valid file
//! loads without errors (its `-t` verdict is tests/compat_verdicts.rs's), together they use every supported keyword, and
//! every invalid file produces exactly the errors it declares, at the
//! FILE:LINE:COL it names (`# expect: LINE:COL error|warning: text`).

use std::path::{Path, PathBuf};

use rkeepalived::config::{self, diag::Severity, LoadOptions};

fn corpus(dir: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("compat").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "empty corpus {dir}");
    files
}

fn opts() -> LoadOptions {
    LoadOptions {
        config_id: "lb01".into(),
        limits: Default::default(),
    }
}

#[test]
fn valid_corpus_loads_without_errors() {
    for f in corpus("valid") {
        let l = config::load_file(&f, &opts()).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        assert!(!l.diags.has_errors(), "{}:\n{}", f.display(), l.render_diagnostics());
        // Warnings (a deprecated keyword) may fail keepalived's -t; the
        // verdict on each file is checked by tests/compat_verdicts.rs.
    }
}

#[test]
fn valid_corpus_uses_every_supported_keyword() {
    let text: String = corpus("valid")
        .iter()
        .chain(
            ["compat/valid/conf.d", "compat/verdict/newer"]
                .iter()
                .filter_map(|d| std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(d)).ok())
                .flatten()
                .flatten()
                .map(|e| e.path())
                .collect::<Vec<_>>()
                .iter(),
        )
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let used = |kw: &str| {
        text.lines()
            .any(|l| l.split_whitespace().next() == Some(kw) || l.trim_start().starts_with(&format!("{kw} ")))
    };
    let lists: [(&str, &[&str]); 14] = [
        ("virtual_server", config::lvs::VS_KEYWORDS),
        ("real_server", config::lvs::RS_KEYWORDS),
        ("LVS checkers", config::lvs::CHECKER_KEYWORDS),
        ("HTTP_GET", config::lvs::HTTP_KEYWORDS),
        ("url", config::lvs::URL_KEYWORDS),
        ("MISC_CHECK", config::lvs::MISC_KEYWORDS),
        ("check_mysql", config::mysql::CHECK_MYSQL_KEYWORDS),
        ("check_plugin", config::plugin::CHECK_PLUGIN_KEYWORDS),
        ("global_defs", config::global::KEYWORDS),
        ("vrrp_instance", config::instance::KEYWORDS),
        ("vrrp_script", config::tracking::SCRIPT_KEYWORDS),
        ("track_file", config::tracking::TRACK_FILE_KEYWORDS),
        ("vrrp_track_process", config::tracking::TRACK_PROCESS_KEYWORDS),
        ("vrrp_sync_group", config::tracking::SYNC_GROUP_KEYWORDS),
    ];
    let mut missing = Vec::new();
    for (block, kws) in lists {
        for kw in kws {
            if !used(kw) {
                missing.push(format!("{block}: {kw}"));
            }
        }
    }
    for kw in config::ROOT_KEYWORDS {
        if !used(kw) && !matches!(*kw, "net_namespace" | "instance" | "use_pid_dir") {
            missing.push(format!("root: {kw}"));
        }
    }
    assert!(missing.is_empty(), "keywords without a corpus example: {missing:#?}");
}

struct Expect {
    line: u32,
    col: u32,
    severity: Severity,
    text: String,
}

fn expectations(path: &Path) -> Vec<Expect> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("# expect: "))
        .map(|e| {
            let (pos, rest) = e.split_once(' ').unwrap_or_else(|| panic!("bad expectation {e}"));
            let (line, col) = pos
                .trim_end_matches(':')
                .split_once(':')
                .unwrap_or_else(|| panic!("bad position {pos}"));
            let (sev, text) = rest.split_once(": ").unwrap_or_else(|| panic!("bad expectation {e}"));
            Expect {
                line: line.parse().unwrap_or(0),
                col: col.parse().unwrap_or(0),
                severity: if sev == "error" {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                text: text.to_string(),
            }
        })
        .collect()
}

#[test]
fn invalid_corpus_reports_exactly_the_declared_errors() {
    let mut failures = Vec::new();
    for f in corpus("invalid") {
        let exp = expectations(&f);
        assert!(!exp.is_empty(), "{}: no '# expect:' lines", f.display());
        let l = config::load_file(&f, &opts()).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let in_file = |d: &config::Diagnostic| d.span.is_none_or(|s| l.sources.path(s.file) == f.as_path());
        for e in &exp {
            let hit = l.diags.iter().any(|d| {
                in_file(d)
                    && d.severity == e.severity
                    && d.span.is_some_and(|s| s.line == e.line && s.col == e.col)
                    && d.message.contains(&e.text)
            });
            if !hit {
                failures.push(format!(
                    "{}: expected {}:{} {:?} '{}'\n{}",
                    f.display(),
                    e.line,
                    e.col,
                    e.severity,
                    e.text,
                    l.render_diagnostics()
                ));
            }
        }
        for d in l.diags.errors() {
            let expected = exp.iter().any(|e| {
                e.severity == Severity::Error
                    && d.span.is_some_and(|s| s.line == e.line && s.col == e.col)
                    && d.message.contains(&e.text)
            });
            if !expected {
                failures.push(format!(
                    "{}: unexpected {}",
                    f.display(),
                    config::diag::render_one(d, &l.sources)
                ));
            }
        }
        if exp.iter().any(|e| e.severity == Severity::Error) {
            assert_ne!(l.diags.exit_code(), 0, "{}", f.display());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
