//! Every keyword the configuration layer knows — implemented, accepted
//! without effect, or not supported — is listed in docs/compatibility.md's
//! table and in rkeepalived.conf(5). None is silently dropped.
#![allow(clippy::unwrap_used)]

use rkeepalived::config::{self, keywords};

fn read(rel: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap()
}

/// The keyword appears as a whole word, or is covered by a `prefix_*` entry.
fn mentioned(text: &str, kw: &str) -> bool {
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '*' || c == '-'))
        .filter(|w| !w.is_empty())
        .collect();
    words.iter().any(|w| {
        *w == kw
            || w.strip_suffix('*')
                .is_some_and(|prefix| !prefix.is_empty() && kw.starts_with(prefix))
    })
}

fn all_keywords() -> Vec<&'static str> {
    let mut v: Vec<&str> = Vec::new();
    v.extend(config::global::KEYWORDS);
    v.extend(config::instance::KEYWORDS);
    v.extend(config::tracking::SCRIPT_KEYWORDS);
    v.extend(config::tracking::TRACK_FILE_KEYWORDS);
    v.extend(config::tracking::TRACK_PROCESS_KEYWORDS);
    v.extend(config::tracking::SYNC_GROUP_KEYWORDS);
    v.extend(config::mysql::CHECK_MYSQL_KEYWORDS);
    v.extend(config::plugin::CHECK_PLUGIN_KEYWORDS);
    v.extend(config::ROOT_KEYWORDS);
    v.extend(config::lvs::VS_KEYWORDS);
    v.extend(config::lvs::RS_KEYWORDS);
    v.extend(config::lvs::OTHER_CHECKERS);
    v.extend(config::lvs::CHECKER_KEYWORDS);
    v.extend(config::lvs::HTTP_KEYWORDS);
    v.extend(config::lvs::URL_KEYWORDS);
    v.extend(config::lvs::MISC_KEYWORDS);
    v.extend(keywords::NEWER_KEYWORDS.iter().map(|n| n.keyword));
    for t in [
        keywords::GLOBAL_NO_EFFECT,
        keywords::GLOBAL_UNSUPPORTED,
        keywords::INSTANCE_NO_EFFECT,
        keywords::INSTANCE_UNSUPPORTED,
        keywords::SYNC_GROUP_UNSUPPORTED,
        keywords::ROOT_NO_EFFECT,
        keywords::ROOT_UNSUPPORTED,
    ] {
        v.extend(t.iter().map(|(k, _)| *k));
    }
    v
}

#[test]
fn compatibility_doc_lists_every_keyword() {
    let doc = read("docs/compatibility.md");
    let missing: Vec<_> = all_keywords().into_iter().filter(|k| !mentioned(&doc, k)).collect();
    assert!(missing.is_empty(), "docs/compatibility.md lacks: {missing:?}");
}

#[test]
fn config_man_page_lists_every_keyword() {
    let man = read("man/rkeepalived.conf.5")
        .replace("\\fB", " ")
        .replace("\\fR", " ")
        .replace("\\fI", " ")
        .replace("\\-", "-");
    let missing: Vec<_> = all_keywords().into_iter().filter(|k| !mentioned(&man, k)).collect();
    assert!(missing.is_empty(), "rkeepalived.conf.5 lacks: {missing:?}");
}
