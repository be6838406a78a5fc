#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test
//! Per-advert cost of the protocol core: decode + validate + state machine,
//! as a BACKUP hearing its master (the steady-state path) and as a MASTER
//! hearing a lower priority. docs/benchmarks.md reports adverts/second per core.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rkeepalived::vrrp::{ChecksumMode, Event, Instance, Output, Params, RxMeta, Version};

fn packet(p: &Params, prio: u8) -> Vec<u8> {
    let peer = Instance::new(Params {
        priority: prio,
        ..p.clone()
    });
    let mut buf = vec![0u8; 256];
    let n = peer
        .advert(prio)
        .emit(
            &mut buf,
            "10.0.0.9".parse().unwrap(),
            "224.0.0.18".parse().unwrap(),
            ChecksumMode::PseudoHeader,
        )
        .unwrap();
    buf.truncate(n);
    buf
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("advert");
    g.throughput(Throughput::Elements(1));
    let meta = RxMeta {
        src: "10.0.0.9".parse().unwrap(),
        dst: "224.0.0.18".parse().unwrap(),
        ttl: 255,
    };
    for (label, version) in [("v2", Version::V2), ("v3", Version::V3)] {
        let p = Params::new(
            "B",
            51,
            100,
            version,
            vec!["10.0.0.100".parse().unwrap(), "10.0.0.101".parse().unwrap()],
        );
        let bytes = packet(&p, 200);
        let mut inst = Instance::new(p.clone());
        let t0 = Instant::now();
        let mut out = Output::default();
        inst.handle(t0, Event::Start, &mut out);
        let mut tick = 0u64;
        g.bench_function(format!("backup_rx_{label}"), |b| {
            b.iter(|| {
                tick += 1;
                out.clear();
                inst.handle(
                    t0 + Duration::from_micros(tick),
                    Event::Advert {
                        meta,
                        payload: black_box(&bytes),
                    },
                    &mut out,
                );
            })
        });
        assert_eq!(inst.stats().advert_rcvd, inst.stats().advert_rcvd.max(1));

        let lower = packet(&p, 50);
        let mut m = Instance::new(Params {
            lower_prio_no_advert: true,
            garp: rkeepalived::vrrp::GarpParams {
                lower_prio_repeat: 0,
                ..Default::default()
            },
            ..p
        });
        m.handle(t0, Event::Start, &mut out);
        m.handle(t0 + Duration::from_secs(4), Event::Timer, &mut out);
        g.bench_function(format!("master_rx_lower_{label}"), |b| {
            b.iter(|| {
                out.clear();
                m.handle(
                    t0 + Duration::from_secs(4),
                    Event::Advert {
                        meta,
                        payload: black_box(&lower),
                    },
                    &mut out,
                );
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
