#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test
//! `rkeepalived -t` gives keepalived 2.2.7's verdict on every compat/ file:
//! the one compat/expected.tsv records (keepalived run on each file), or the
//! exception compat/DEVIATIONS.md lists for it. Runs in-process on a host
//! with the interfaces the files name (eth0..eth3 and lo) and two CPUs; the
//! full test command also runs both binaries in a namespace
//! (scripts/compat-verdicts.sh) and re-checks keepalived against the table.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rkeepalived::config::LoadOptions;
use rkeepalived::daemon::precheck::{self, Host};

struct Lab;

impl Host for Lab {
    fn interface_exists(&self, name: &str) -> bool {
        matches!(name, "lo" | "eth0" | "eth1" | "eth2" | "eth3")
    }
    fn cpu_count(&self) -> u32 {
        2
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// compat/expected.tsv: file (relative to compat/) → keepalived's exit status.
fn table() -> BTreeMap<String, i32> {
    let text = std::fs::read_to_string(root().join("compat/expected.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (f, code) = l.split_once('\t').unwrap_or_else(|| panic!("bad row {l:?}"));
            (
                f.to_string(),
                code.trim().parse().unwrap_or_else(|_| panic!("bad code in {l:?}")),
            )
        })
        .collect()
}

/// The `-t` verdict exceptions of DEVIATIONS.md: file → (keepalived, rkeepalived).
fn exceptions() -> BTreeMap<String, (i32, i32)> {
    let text = std::fs::read_to_string(root().join("compat/DEVIATIONS.md")).unwrap();
    let section = text
        .split("## `-t` verdict exceptions")
        .nth(1)
        .expect("DEVIATIONS.md has a verdict-exception section");
    let section = section.split("\n## ").next().unwrap_or("");
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let file = cells[1].trim_matches('`').to_string();
            (file, (cells[2].parse().unwrap(), cells[3].parse().unwrap()))
        })
        .collect()
}

fn compat_files(dir: &Path, out: &mut Vec<String>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            if !p.ends_with("conf.d") {
                compat_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "conf") {
            out.push(
                p.strip_prefix(root().join("compat"))
                    .unwrap()
                    .to_string_lossy()
                    .to_string(),
            );
        }
    }
}

#[test]
fn the_table_covers_every_compat_file_and_its_exceptions_are_real() {
    let table = table();
    let mut files = Vec::new();
    compat_files(&root().join("compat"), &mut files);
    assert!(files.len() > 500, "the compat corpus is there ({} files)", files.len());
    let missing: Vec<_> = files.iter().filter(|f| !table.contains_key(*f)).collect();
    assert!(
        missing.is_empty(),
        "not in compat/expected.tsv (run scripts/compat-verdicts.sh --record as root): {missing:?}"
    );
    assert!(
        table.keys().any(|f| f.starts_with("samples/")),
        "the samples are recorded too"
    );
    for (file, (ka, rk)) in exceptions() {
        let recorded = table
            .get(&file)
            .unwrap_or_else(|| panic!("exception for unknown file {file}"));
        assert_eq!(
            *recorded, ka,
            "{file}: DEVIATIONS.md says keepalived gives {ka}, the table {recorded}"
        );
        assert_ne!(ka, rk, "{file}: an exception must differ");
    }
}

#[test]
fn rkeepalived_gives_keepalived_s_verdict_on_every_compat_file() {
    // Scripts are judged as root runs them, so the file paths the corpus
    // names resolve from the checkout.
    std::env::set_current_dir(root()).unwrap();
    let exceptions = exceptions();
    let opts = LoadOptions {
        config_id: "lb01".into(),
        limits: Default::default(),
    };
    let mut wrong = Vec::new();
    let mut checked = 0;
    for (file, keepalived) in table() {
        if file.starts_with("samples/") {
            continue; // not part of the checkout; scripts/compat-verdicts.sh runs them
        }
        let expected = exceptions.get(&file).map_or(keepalived, |(_, rk)| *rk);
        let path = Path::new("compat").join(&file);
        let v = precheck::verdict(&path, &opts, false, &Lab);
        checked += 1;
        if v.exit_code != expected {
            wrong.push(format!(
                "{file}: rkeepalived {}, expected {expected} (keepalived {keepalived})\n{}",
                v.exit_code, v.report
            ));
        }
        // Every message names FILE:LINE:COL, or FILE for a whole file.
        for line in v.report.lines() {
            let located = line.split(": ").next().is_some_and(|at| {
                let mut parts = at.rsplitn(3, ':');
                let (col, line_no) = (parts.next(), parts.next());
                at.ends_with(".conf")
                    || at.contains(".conf:")
                        && col.is_some_and(|c| c.parse::<u32>().is_ok())
                        && line_no.is_some_and(|l| l.parse::<u32>().is_ok())
                    || at.contains(".sh")
            });
            if !located {
                wrong.push(format!("{file}: a message without FILE:LINE:COL: {line}"));
            }
        }
    }
    assert!(checked > 500, "checked {checked} files");
    assert!(
        wrong.is_empty(),
        "{} of {checked} files:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
