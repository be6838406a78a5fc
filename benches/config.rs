#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test
//! Parsing and validating a configuration of 1,000 instances, each with a
//! tracked script and VIPs (scripts/gen-config.sh writes the same file for
//! the comparison with `keepalived -t` in scripts/bench-config.sh).

use criterion::{criterion_group, criterion_main, Criterion};
use rkeepalived::config::{self, LoadOptions};

pub fn config_text(instances: usize) -> String {
    let mut s = String::from("global_defs {\n    router_id bench\n}\n");
    for i in 0..instances {
        let (hi, lo) = (i / 250, i % 250 + 1);
        s.push_str(&format!(
            "vrrp_script chk_{i} {{\n    script \"/usr/bin/true {i}\"\n    interval 2\n    weight -10\n}}\n\
             vrrp_instance VI_{i} {{\n    state BACKUP\n    interface eth{iface}\n    virtual_router_id {vrid}\n    priority 100\n    advert_int 1\n\
             \x20   authentication {{\n        auth_type PASS\n        auth_pass pw{i}\n    }}\n\
             \x20   virtual_ipaddress {{\n        10.{hi}.{lo}.1/24 dev eth{iface} label eth{iface}:{vrid}\n        10.{hi}.{lo}.2\n    }}\n\
             \x20   track_script {{\n        chk_{i}\n    }}\n}}\n",
            iface = i / 255,
            vrid = i % 255 + 1,
        ));
    }
    s
}

fn bench(c: &mut Criterion) {
    let text = config_text(1000);
    let opts = LoadOptions {
        config_id: "bench".into(),
        limits: Default::default(),
    };
    let l = config::load_str("bench.conf", &text, &opts);
    assert_eq!(l.config.instances.len(), 1000);
    assert!(!l.diags.has_errors(), "{}", l.render_diagnostics());
    c.bench_function("parse_validate_1000_instances", |b| {
        b.iter(|| config::load_str("bench.conf", &text, &opts))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
