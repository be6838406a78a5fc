//! The control socket's request parser on arbitrary lines: never panics; a
//! request it accepts is one of the commands it documents.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    let _ = rkeepalived::daemon::control::parse(&line);
});
