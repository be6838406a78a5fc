#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test
//! Bad input never panics or hangs: the config reader on random token
//! streams, mutated corpus files, huge files, binary garbage and include
//! cycles; the protocol core on random and mutated packets in every state.
//! (The same properties run under cargo-fuzz in fuzz/ where nightly exists.)

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use rkeepalived::config::{self, LoadOptions};
use rkeepalived::vrrp::{Event, Instance, Output, Params, RxMeta, Version};

fn opts() -> LoadOptions {
    LoadOptions {
        config_id: "lb01".into(),
        limits: Default::default(),
    }
}

const WORDS: &[&str] = &[
    "{",
    "}",
    "vrrp_instance",
    "VI_1",
    "global_defs",
    "vrrp_script",
    "vrrp_sync_group",
    "group",
    "track_script",
    "virtual_ipaddress",
    "interface",
    "eth0",
    "priority",
    "100",
    "255",
    "0",
    "-1",
    "virtual_router_id",
    "state",
    "MASTER",
    "BACKUP",
    "\"",
    "#",
    "!",
    "$X=",
    "$X",
    "${X}",
    "@lb01",
    "@^lb01",
    "~SEQ(N,1,3)",
    "~LST(A,1,2)",
    "${N}",
    "include",
    "10.0.0.1",
    "fe80::1",
    "10.0.0.1/24",
    "dev",
    "brd",
    "+",
    "weight",
    "reverse",
    "noreverse",
    "authentication",
    "auth_type",
    "PASS",
    "auth_pass",
    "advert_int",
    "0.1",
    "version",
    "3",
    "nopreempt",
    "preempt_delay",
    "unicast_peer",
    "notify",
    "\"/bin/true a\"",
    "\n",
    "\n",
    "\n",
    "\\",
    "${_RANDOM}",
    "virtual_routes",
    "src",
    "via",
    "table",
    "virtual_rules",
    "from",
    "to",
    "track_file",
    "file",
    "vrrp_track_process",
    "process",
    "quorum",
];

fn corpus_texts() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("compat");
    let mut out = Vec::new();
    for sub in ["valid", "invalid"] {
        for e in std::fs::read_dir(dir.join(sub)).into_iter().flatten().flatten() {
            if e.path().extension().is_some_and(|x| x == "conf") {
                out.push(std::fs::read_to_string(e.path()).unwrap_or_default());
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_token_streams_never_panic(tokens in proptest::collection::vec(proptest::sample::select(WORDS), 0..200)) {
        let text = tokens.join(" ");
        let l = config::load_str("random.conf", &text, &opts());
        let _ = l.render_diagnostics();
        let _ = config::dump::dump(&l.config);
    }

    #[test]
    fn mutated_corpus_files_never_panic(pick in any::<prop::sample::Index>(), edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..20)) {
        let texts = corpus_texts();
        let mut bytes = texts[pick.index(texts.len())].clone().into_bytes();
        for (at, b, op) in edits {
            if bytes.is_empty() { break; }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = b,
                1 => { bytes.remove(i); }
                _ => bytes.insert(i, b),
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        let l = config::load_str("mutated.conf", &text, &opts());
        let _ = l.render_diagnostics();
    }

    #[test]
    fn random_bytes_through_the_receive_path_never_panic(
        payload in proptest::collection::vec(any::<u8>(), 0..400),
        v3 in any::<bool>(), master in any::<bool>(), ttl in any::<u8>(), six in any::<bool>(),
    ) {
        let vip: IpAddr = if six { "fe80::1".parse().unwrap() } else { "10.0.0.1".parse().unwrap() };
        let version = if v3 || six { Version::V3 } else { Version::V2 };
        let mut i = Instance::new(Params::new("P", 1, 100, version, vec![vip]));
        let t0 = Instant::now();
        let mut out = Output::default();
        i.handle(t0, Event::Start, &mut out);
        if master {
            i.handle(t0 + Duration::from_secs(5), Event::Timer, &mut out);
        }
        let (src, dst): (IpAddr, IpAddr) = if six {
            ("fe80::9".parse().unwrap(), "ff02::12".parse().unwrap())
        } else {
            ("10.0.0.9".parse().unwrap(), "224.0.0.18".parse().unwrap())
        };
        i.handle(t0 + Duration::from_secs(6), Event::Advert { meta: RxMeta { src, dst, ttl }, payload: &payload }, &mut out);
    }

    #[test]
    fn mutated_valid_adverts_are_dropped_or_accepted_never_panic(flips in proptest::collection::vec((0usize..40, any::<u8>()), 1..6), cut in 0usize..48) {
        let p = Params::new("P", 7, 100, Version::V2, vec!["10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap()]);
        let peer = Instance::new(Params { priority: 200, ..p.clone() });
        let mut buf = vec![0u8; 64];
        let n = peer.advert(200).emit(&mut buf, "10.0.0.9".parse().unwrap(), "224.0.0.18".parse().unwrap(), p.checksum_mode).unwrap();
        buf.truncate(n);
        for (at, b) in flips {
            if at < buf.len() { buf[at] ^= b; }
        }
        buf.truncate(cut.max(1));
        let mut i = Instance::new(p);
        let t0 = Instant::now();
        let mut out = Output::default();
        i.handle(t0, Event::Start, &mut out);
        let meta = RxMeta { src: "10.0.0.9".parse().unwrap(), dst: "224.0.0.18".parse().unwrap(), ttl: 255 };
        i.handle(t0, Event::Advert { meta, payload: &buf }, &mut out);
        let s = i.stats();
        // Every packet is either accepted or counted under some error.
        let counted = s.advert_rcvd + s.packet_len_err + s.checksum_err + s.version_err + s.invalid_type_rcvd + s.invalid_authtype
            + s.authtype_mismatch + s.auth_failure + s.advert_interval_err + s.addr_list_err + s.ip_ttl_err;
        prop_assert_eq!(counted, 1);
    }
}

#[test]
fn binary_garbage_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("garbage.conf");
    let bytes: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&f, bytes).unwrap();
    let l = config::load_file(&f, &opts()).unwrap();
    assert!(l.diags.has_errors());
}

#[test]
fn huge_file_is_refused_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("huge.conf");
    let file = std::fs::File::create(&f).unwrap();
    file.set_len(config::preprocess::MAX_FILE_BYTES + 1).unwrap();
    let start = Instant::now();
    let err = config::load_file(&f, &opts()).map(|_| ()).expect_err("refused");
    assert!(err.to_string().contains("larger than"), "{err}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn big_but_legal_file_loads() {
    // 20,000 lines of comments and one instance: read quickly.
    let mut text = String::new();
    for i in 0..20_000 {
        text.push_str(&format!("# comment line {i}\n"));
    }
    text.push_str("vrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n");
    let start = Instant::now();
    let l = config::load_str("big.conf", &text, &opts());
    assert_eq!(l.config.instances.len(), 1);
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn self_include_and_mutual_includes_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.conf"), "include b.conf\n").unwrap();
    std::fs::write(dir.path().join("b.conf"), "include a.conf\ninclude b.conf\n").unwrap();
    let l = config::load_file(&dir.path().join("a.conf"), &opts()).unwrap();
    let cycles = l.diags.iter().filter(|d| d.message.contains("include cycle")).count();
    assert_eq!(cycles, 2, "{}", l.render_diagnostics());
}

#[test]
fn runaway_repetition_is_bounded() {
    let start = Instant::now();
    let l = config::load_str("seq.conf", "~SEQ(A, 1, 5000) ~SEQ(B, 1, 5000) x ${A} ${B}\n", &opts());
    assert!(l.diags.has_errors());
    assert!(start.elapsed() < Duration::from_secs(60));
}
