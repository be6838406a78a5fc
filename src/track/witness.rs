//! Witnesses: hosts whose answer proves a node is not cut off from the
//! network (check_mysql's isolation fencing). A witness with a port is
//! reached by TCP connect; without one, by ICMP echo over a raw socket
//! (the daemon runs as root; ping sockets need `ping_group_range`, which a
//! new network namespace leaves closed). Anything but a timely answer —
//! refused, reset, unreachable, silent — is a failed probe.

use std::io::Read;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use pnet_packet::icmp::{self, IcmpPacket, IcmpTypes, MutableIcmpPacket};
use pnet_packet::Packet;
use socket2::{Domain, Protocol, Socket, Type};

use crate::config::model::Witness;

/// Probes `w` within `timeout`.
pub async fn probe(w: Witness, timeout: Duration) -> Result<(), String> {
    let attempt = async {
        match w.port {
            Some(port) => tokio::net::TcpStream::connect(SocketAddr::new(w.addr, port))
                .await
                .map(drop)
                .map_err(|e| e.to_string()),
            None => echo(w.addr).await.map_err(|e| e.to_string()),
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("witness {w}: {e}")),
        Err(_) => Err(format!("witness {w}: no answer within {timeout:?}")),
    }
}

/// Probes every witness at once; true when any answered. The errors are
/// per witness, in order (None: answered).
pub async fn any_answers(witnesses: &[Witness], timeout: Duration) -> (bool, Vec<Option<String>>) {
    let results = futures::future::join_all(witnesses.iter().map(|w| probe(*w, timeout))).await;
    let any = results.iter().any(Result::is_ok);
    (any, results.into_iter().map(Result::err).collect())
}

static SEQUENCE: AtomicU16 = AtomicU16::new(1);

const ECHO_V6_REQUEST: u8 = 128;
const ECHO_V6_REPLY: u8 = 129;

/// One ICMP echo request to `addr`, answered by a matching reply.
async fn echo(addr: IpAddr) -> std::io::Result<()> {
    let (domain, protocol) = match addr {
        IpAddr::V4(_) => (Domain::IPV4, Protocol::ICMPV4),
        IpAddr::V6(_) => (Domain::IPV6, Protocol::ICMPV6),
    };
    let socket = Socket::new(domain, Type::RAW, Some(protocol))?;
    socket.set_nonblocking(true)?;
    // A connected raw socket receives only what `addr` sends.
    socket.connect(&SocketAddr::new(addr, 0).into())?;
    let id = (std::process::id() as u16) ^ 0x524b;
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let request = echo_request(addr.is_ipv4(), id, seq);
    let fd = crate::reactor::register(socket)?;
    loop {
        let mut guard = fd.writable().await?;
        match guard.try_io(|s| s.get_ref().send(&request)) {
            Ok(r) => {
                r?;
                break;
            }
            Err(_would_block) => continue,
        }
    }
    let mut buf = [0u8; 1500];
    loop {
        let mut guard = fd.readable().await?;
        let n = match guard.try_io(|s| s.get_ref().read(&mut buf)) {
            Ok(r) => r?,
            Err(_would_block) => continue,
        };
        if is_reply(&buf[..n], addr.is_ipv4(), id, seq) {
            return Ok(());
        }
    }
}

/// type, code, checksum, identifier, sequence, 8 bytes of payload.
fn echo_request(v4: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    b[0] = if v4 { IcmpTypes::EchoRequest.0 } else { ECHO_V6_REQUEST };
    b[4..6].copy_from_slice(&id.to_be_bytes());
    b[6..8].copy_from_slice(&seq.to_be_bytes());
    b[8..].copy_from_slice(b"rkwitnes");
    if v4 {
        // The kernel fills in the ICMPv6 checksum (it covers a
        // pseudo-header); ICMPv4's is ours.
        if let Some(mut p) = MutableIcmpPacket::new(&mut b) {
            let c = icmp::checksum(&p.to_immutable());
            p.set_checksum(c);
        }
    }
    b
}

/// An echo reply to our request: IPv4 raw sockets deliver the IP header
/// too, IPv6 ones only the ICMPv6 message.
fn is_reply(packet: &[u8], v4: bool, id: u16, seq: u16) -> bool {
    let icmp = if v4 {
        let Some(&first) = packet.first() else { return false };
        let header = usize::from(first & 0x0f) * 4;
        match packet.get(header..) {
            Some(rest) => rest,
            None => return false,
        }
    } else {
        packet
    };
    let want = if v4 { IcmpTypes::EchoReply.0 } else { ECHO_V6_REPLY };
    match IcmpPacket::new(icmp) {
        Some(p) if p.get_icmp_type().0 == want && p.get_icmp_code().0 == 0 => {
            let rest = p.payload();
            rest.len() >= 4 && rest[0..2] == id.to_be_bytes() && rest[2..4] == seq.to_be_bytes()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_echo_request_is_well_formed_and_its_reply_recognised() {
        let r = echo_request(true, 0x1234, 7);
        assert_eq!(&r[..2], &[8, 0]);
        let p = IcmpPacket::new(&r).unwrap();
        assert_eq!(icmp::checksum(&p), p.get_checksum(), "ICMPv4 checksum");
        // The reply as an IPv4 raw socket delivers it: a 20-byte header first.
        let mut reply = vec![0x45u8];
        reply.extend_from_slice(&[0; 19]);
        let mut body = r.clone();
        body[0] = 0;
        reply.extend_from_slice(&body);
        assert!(is_reply(&reply, true, 0x1234, 7));
        assert!(!is_reply(&reply, true, 0x1234, 8), "another sequence");
        assert!(!is_reply(&reply[..22], true, 0x1234, 7), "truncated");
        assert!(!is_reply(&[], true, 1, 1));
        let mut v6 = echo_request(false, 9, 9);
        assert_eq!(v6[0], 128);
        v6[0] = 129;
        assert!(is_reply(&v6, false, 9, 9));
        assert!(!is_reply(&r, false, 0x1234, 7), "a request is no reply");
    }

    fn witness(text: &str) -> Witness {
        Witness::parse(text).unwrap()
    }

    /// TCP witnesses: a listener answers; a closed port (reset) fails.
    #[tokio::test]
    async fn a_tcp_witness_answers_by_accepting() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let open = witness(&format!("127.0.0.1:{port}"));
        assert_eq!(probe(open, Duration::from_secs(2)).await, Ok(()));
        drop(l);
        let e = probe(open, Duration::from_secs(2)).await.unwrap_err();
        assert!(e.starts_with(&format!("witness 127.0.0.1:{port}: ")), "{e}");
        let (any, errors) = any_answers(&[open], Duration::from_secs(2)).await;
        assert!(!any && errors[0].is_some());
    }
}
