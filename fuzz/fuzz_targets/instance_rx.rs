//! Arbitrary bytes and metadata through an instance's whole receive path
//! (validation and state machine) in every state: never panics.
#![no_main]
use std::time::{Duration, Instant};
use libfuzzer_sys::fuzz_target;
use rkeepalived::vrrp::{Event, Instance, Output, Params, RxMeta, Version};

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let v3 = data[0] & 1 == 1;
    let master = data[0] & 2 == 2;
    let p = Params::new("F", data[1], 100, if v3 { Version::V3 } else { Version::V2 }, vec!["10.0.0.1".parse().unwrap()]);
    let mut i = Instance::new(p);
    let t0 = Instant::now();
    let mut out = Output::default();
    i.handle(t0, Event::Start, &mut out);
    if master {
        i.handle(t0 + Duration::from_secs(10), Event::Timer, &mut out);
    }
    let meta = RxMeta { src: "10.0.0.9".parse().unwrap(), dst: "224.0.0.18".parse().unwrap(), ttl: data[0] | 0xf0 };
    i.handle(t0 + Duration::from_secs(11), Event::Advert { meta, payload: &data[2..] }, &mut out);
});
