//! Raw IP protocol 112 sockets for VRRP adverts (socket2 + nix, driven by
//! tokio's `AsyncFd`).
//!
//! Receive: one socket per (interface, family), bound to the interface,
//! joined to the multicast groups its instances use; IPv4 delivers the IP
//! header (TTL, addresses and IHL are read from it, never assuming 20
//! bytes); IPv6 delivers hop limit and destination in control messages.
//! Both read in batches (`recvmmsg`).
//! Send: one socket per (interface, source address, unicast TTL), shared
//! by the instances that send from there, TTL / hop limit 255 and DSCP CS6
//! (TOS 0xc0) as keepalived; the adverts due together leave in one
//! `sendmmsg` per socket.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsFd;

use nix::sys::socket::{self as nsock, sockopt};
use smallvec::SmallVec;
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;

use super::mmsg::{self, Arrival, RecvBatch};
use crate::vrrp::packet::{Family, IPPROTO_VRRP};
use crate::vrrp::RxMeta;

/// keepalived marks adverts DSCP CS6 (TOS/traffic class 0xc0), as the
/// captured fixtures show.
pub const VRRP_TOS: u8 = 0xc0;

/// An advert's bytes: those of a few addresses are kept inline, so a
/// received advert costs no allocation on its way to the protocol loop.
pub type Payload = SmallVec<[u8; 64]>;

/// A received VRRP payload and what the socket saw.
#[derive(Debug, Clone)]
pub struct Received {
    pub meta: RxMeta,
    pub payload: Payload,
}

/// Why a received datagram is not usable (counted, never a crash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    #[error("datagram longer than any advert")]
    TooLong,
    #[error(transparent)]
    Ipv4(#[from] Ipv4Error),
}

/// Why a received IPv4 datagram is not usable (counted, never a crash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Ipv4Error {
    #[error("datagram shorter than its IPv4 header")]
    Short,
    #[error("not IPv4")]
    NotV4,
    #[error("bad IPv4 header length")]
    HeaderLength,
    #[error("IPv4 total length exceeds the datagram")]
    TotalLength,
}

/// Splits a raw IPv4 datagram into metadata and VRRP payload. The payload
/// ends at the header's total length (link padding is dropped).
pub fn parse_ipv4(buf: &[u8]) -> Result<(RxMeta, &[u8]), Ipv4Error> {
    if buf.len() < 20 {
        return Err(Ipv4Error::Short);
    }
    if buf[0] >> 4 != 4 {
        return Err(Ipv4Error::NotV4);
    }
    let ihl = usize::from(buf[0] & 0x0f) * 4;
    if ihl < 20 || ihl > buf.len() {
        return Err(Ipv4Error::HeaderLength);
    }
    let total = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    // Some kernels report total length in host order for raw sockets only
    // on BSD; Linux gives network order and the whole datagram.
    if total < ihl || total > buf.len() {
        return Err(Ipv4Error::TotalLength);
    }
    let meta = RxMeta {
        ttl: buf[8],
        src: IpAddr::V4(Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15])),
        dst: IpAddr::V4(Ipv4Addr::new(buf[16], buf[17], buf[18], buf[19])),
    };
    Ok((meta, &buf[ihl..total]))
}

fn new_raw(family: Family) -> io::Result<Socket> {
    let domain = match family {
        Family::V4 => Domain::IPV4,
        Family::V6 => Domain::IPV6,
    };
    let s = Socket::new(domain, Type::RAW, Some(Protocol::from(i32::from(IPPROTO_VRRP))))?;
    s.set_nonblocking(true)?;
    s.set_cloexec(true)?;
    Ok(s)
}

/// Datagrams read per system call (a master's aligned adverts arrive in
/// bursts: 255 instances at 10 ms are 255 datagrams at once).
const RX_SLOTS: usize = 16;

/// The longest datagram that can be an advert: an IPv4 header with
/// options (60) and 255 IPv4 addresses with authentication data (1,036);
/// IPv6 raw sockets deliver the payload only, 255 IPv6 addresses (4,088).
/// A longer one is cut and counted as malformed.
fn slot_len(family: Family) -> usize {
    match family {
        Family::V4 => 1152,
        Family::V6 => 4096,
    }
}

/// The receive side for one interface and family.
pub struct RxSocket {
    fd: AsyncFd<Socket>,
    family: Family,
    ifindex: u32,
    /// Reused for every read: up to [`RX_SLOTS`] datagrams at a time.
    batch: RecvBatch,
}

impl RxSocket {
    /// Opens the socket on `ifname` and joins `groups` (multicast
    /// destinations of the instances on it).
    pub fn open(family: Family, ifname: &str, ifindex: u32, groups: &[IpAddr]) -> io::Result<RxSocket> {
        let s = new_raw(family)?;
        s.bind_device(Some(ifname.as_bytes()))?;
        match family {
            Family::V4 => {
                // Only the groups joined here, not every group of the host.
                s.set_multicast_all_v4(false)?;
                for g in groups {
                    if let IpAddr::V4(g) = g {
                        s.join_multicast_v4_n(g, &InterfaceIndexOrAddress::Index(ifindex))?;
                    }
                }
            }
            Family::V6 => {
                s.set_multicast_all_v6(false)?;
                s.set_recv_hoplimit_v6(true)?;
                nsock::setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true).map_err(io::Error::from)?;
                for g in groups {
                    if let IpAddr::V6(g) = g {
                        s.join_multicast_v6(g, ifindex)?;
                    }
                }
            }
        }
        let _ = s.set_recv_buffer_size(1 << 20);
        Ok(RxSocket {
            fd: super::register(s)?,
            family,
            ifindex,
            batch: RecvBatch::new(RX_SLOTS, slot_len(family)),
        })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    pub fn family(&self) -> Family {
        self.family
    }

    /// Waits until datagrams arrive and hands each that is queued (up to a
    /// batch, read in one system call) to `deliver`; malformed ones come as
    /// `Err` so the caller can count them.
    pub async fn recv_batch(&mut self, mut deliver: impl FnMut(Result<Received, DatagramError>)) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            let batch = &mut self.batch;
            match guard.try_io(|fd| batch.recv(fd.get_ref().as_fd())) {
                Ok(Ok(n)) => {
                    for i in 0..n {
                        if let Some(d) = self.batch.get(i) {
                            deliver(received(self.family, &d));
                        }
                    }
                    return Ok(());
                }
                Ok(Err(e)) => return Err(e),
                Err(_would_block) => continue,
            }
        }
    }
}

/// One datagram as the engine takes it.
fn received(family: Family, d: &Arrival<'_>) -> Result<Received, DatagramError> {
    if d.truncated {
        return Err(DatagramError::TooLong);
    }
    match family {
        Family::V4 => parse_ipv4(d.bytes)
            .map(|(meta, p)| Received {
                meta,
                payload: Payload::from_slice(p),
            })
            .map_err(DatagramError::Ipv4),
        Family::V6 => Ok(Received {
            meta: RxMeta {
                src: IpAddr::V6(d.src.unwrap_or(Ipv6Addr::UNSPECIFIED)),
                dst: IpAddr::V6(d.dst.unwrap_or(Ipv6Addr::UNSPECIFIED)),
                // No hop limit reported is not 255: the TTL check drops it.
                ttl: d.hop_limit.unwrap_or(0),
            },
            payload: Payload::from_slice(d.bytes),
        }),
    }
}

/// Room in the kernel for the adverts of one flush: a send socket is
/// shared by every instance that sends from its address and interface
/// (1,000 adverts of 40 bytes take about 1 MB of socket memory).
const TX_BUFFER: usize = 4 << 20;

/// The send side of the instances that share an interface, a source
/// address and a unicast TTL.
pub struct TxSocket {
    sock: Socket,
    pub src: IpAddr,
}

impl TxSocket {
    /// A socket that sends from `src` out of `ifname` (the instance's
    /// interface, or its VMAC).
    pub fn open(src: IpAddr, ifname: &str, ifindex: u32, unicast_ttl: u8) -> io::Result<TxSocket> {
        let family = Family::of(&src);
        let s = new_raw(family)?;
        s.bind_device(Some(ifname.as_bytes()))?;
        match src {
            IpAddr::V4(v4) => {
                // SO_BINDTODEVICE picks the outgoing interface (the VMAC
                // too, whose parent owns the source address).
                s.set_multicast_ttl_v4(255)?;
                s.set_multicast_loop_v4(false)?;
                s.set_ttl_v4(u32::from(unicast_ttl))?;
                s.set_tos_v4(u32::from(VRRP_TOS))?;
                s.bind(&SockAddr::from(SocketAddr::V4(SocketAddrV4::new(v4, 0))))?;
            }
            IpAddr::V6(v6) => {
                s.set_multicast_if_v6(ifindex)?;
                s.set_multicast_hops_v6(255)?;
                s.set_unicast_hops_v6(u32::from(unicast_ttl))?;
                s.set_multicast_loop_v6(false)?;
                s.set_tclass_v6(u32::from(VRRP_TOS))?;
                s.bind(&SockAddr::from(SocketAddr::V6(SocketAddrV6::new(
                    v6,
                    0,
                    0,
                    link_scope(&v6, ifindex),
                ))))?;
            }
        }
        // Beyond net.core.wmem_max when allowed (CAP_NET_ADMIN, as the
        // daemon runs); the capped size otherwise.
        if nsock::setsockopt(&s, sockopt::SndBufForce, &TX_BUFFER).is_err() {
            let _ = s.set_send_buffer_size(TX_BUFFER);
        }
        Ok(TxSocket { sock: s, src })
    }

    /// Where an advert to `dst` goes: multicast and link-local IPv6
    /// destinations are scoped to the interface `ifindex`.
    pub fn destination(dst: IpAddr, ifindex: u32) -> SocketAddr {
        match dst {
            IpAddr::V4(d) => SocketAddr::V4(SocketAddrV4::new(d, 0)),
            IpAddr::V6(d) => {
                let scope = if d.is_multicast() {
                    ifindex
                } else {
                    link_scope(&d, ifindex)
                };
                SocketAddr::V6(SocketAddrV6::new(d, 0, 0, scope))
            }
        }
    }

    /// Sends the first datagrams `msg(i)` names, up to a batch, in one
    /// system call (non-blocking); returns how many the kernel took. An
    /// error is the first one's: the caller counts it and goes on.
    pub fn send_many<'a>(&self, count: usize, msg: impl Fn(usize) -> (SocketAddr, &'a [u8])) -> io::Result<usize> {
        mmsg::send_many(self.sock.as_fd(), count, msg)
    }
}

/// The scope of a link-local IPv6 address: the interface.
fn link_scope(a: &Ipv6Addr, ifindex: u32) -> u32 {
    if a.segments()[0] & 0xffc0 == 0xfe80 {
        ifindex
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip4(payload: &[u8], ttl: u8, options: usize) -> Vec<u8> {
        let ihl = 20 + options;
        let total = ihl + payload.len();
        let mut b = vec![0u8; total];
        b[0] = 0x40 | (ihl / 4) as u8;
        b[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        b[8] = ttl;
        b[9] = IPPROTO_VRRP;
        b[12..16].copy_from_slice(&[10, 0, 0, 1]);
        b[16..20].copy_from_slice(&[224, 0, 0, 18]);
        b[ihl..].copy_from_slice(payload);
        b
    }

    #[test]
    fn ipv4_header_length_is_read_not_assumed() {
        let p = [0x21u8, 1, 100, 0, 0, 1, 0, 0];
        for opts in [0, 4, 40] {
            let d = ip4(&p, 255, opts);
            let (meta, payload) = parse_ipv4(&d).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(payload, p);
            assert_eq!(meta.ttl, 255);
            assert_eq!(meta.src, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        }
    }

    #[test]
    fn padding_beyond_total_length_is_dropped() {
        let mut d = ip4(&[1, 2, 3, 4], 64, 0);
        d.extend_from_slice(&[0; 18]);
        let (meta, payload) = parse_ipv4(&d).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(payload, [1, 2, 3, 4]);
        assert_eq!(meta.ttl, 64);
    }

    #[test]
    fn malformed_ipv4_is_an_error() {
        assert_eq!(parse_ipv4(&[0x45; 10]).err(), Some(Ipv4Error::Short));
        let mut d = ip4(&[1, 2], 255, 0);
        d[0] = 0x43;
        assert_eq!(parse_ipv4(&d).err(), Some(Ipv4Error::HeaderLength));
        let mut d = ip4(&[1, 2], 255, 0);
        d[3] = 200;
        assert_eq!(parse_ipv4(&d).err(), Some(Ipv4Error::TotalLength));
        let mut d = ip4(&[1, 2], 255, 0);
        d[0] = 0x65;
        assert_eq!(parse_ipv4(&d).err(), Some(Ipv4Error::NotV4));
    }
}
