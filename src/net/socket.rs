//! Raw IP protocol 112 sockets for VRRP adverts (socket2 + nix, driven by
//! tokio's `AsyncFd`).
//!
//! Receive: one socket per (interface, family), bound to the interface,
//! joined to the multicast groups its instances use; IPv4 delivers the IP
//! header (TTL, addresses and IHL are read from it, never assuming 20
//! bytes); IPv6 delivers hop limit and destination in control messages.
//! Send: one socket per instance, bound to its source address and
//! interface, TTL / hop limit 255 and DSCP CS6 (TOS 0xc0) as keepalived.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::sys::socket::{self as nsock, sockopt, ControlMessageOwned, MsgFlags, SockaddrIn6};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;

use crate::vrrp::packet::{Family, IPPROTO_VRRP};
use crate::vrrp::RxMeta;

/// keepalived marks adverts DSCP CS6 (TOS/traffic class 0xc0), as the
/// captured fixtures show.
pub const VRRP_TOS: u8 = 0xc0;

/// A received VRRP payload and what the socket saw.
#[derive(Debug, Clone)]
pub struct Received {
    pub meta: RxMeta,
    pub payload: Vec<u8>,
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

/// The receive side for one interface and family.
pub struct RxSocket {
    fd: AsyncFd<Socket>,
    family: Family,
    ifindex: u32,
    /// Reused for every datagram (adverts are small; the MTU bounds them).
    buf: Vec<u8>,
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
            buf: vec![0u8; 65536],
        })
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    pub fn family(&self) -> Family {
        self.family
    }

    /// Waits for the next datagram. Malformed IPv4 datagrams come back as
    /// `Ok(Err(..))` so the caller can count them.
    pub async fn recv(&mut self) -> io::Result<Result<Received, Ipv4Error>> {
        let buf = &mut self.buf;
        loop {
            let mut guard = self.fd.readable().await?;
            let r = match self.family {
                Family::V4 => guard.try_io(|fd| {
                    let n = recv_plain(fd.get_ref(), buf)?;
                    Ok(parse_ipv4(&buf[..n]).map(|(meta, p)| Received {
                        meta,
                        payload: p.to_vec(),
                    }))
                }),
                Family::V6 => guard.try_io(|fd| recv_v6(fd.get_ref(), buf).map(Ok)),
            };
            match r {
                Ok(res) => return res,
                Err(_would_block) => continue,
            }
        }
    }
}

fn recv_plain(s: &Socket, buf: &mut [u8]) -> io::Result<usize> {
    let n = nsock::recv(s.as_raw_fd(), buf, MsgFlags::empty()).map_err(io::Error::from)?;
    Ok(n)
}

fn recv_v6(s: &Socket, buf: &mut [u8]) -> io::Result<Received> {
    let mut iov = [io::IoSliceMut::new(buf)];
    let mut cmsg = nix::cmsg_space!(libc::c_int, libc::in6_pktinfo);
    let msg = nsock::recvmsg::<SockaddrIn6>(s.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::empty())
        .map_err(io::Error::from)?;
    let mut hop = 0u8;
    let mut dst = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            match c {
                ControlMessageOwned::Ipv6HopLimit(h) => hop = u8::try_from(h).unwrap_or(0),
                ControlMessageOwned::Ipv6PacketInfo(pi) => dst = IpAddr::V6(Ipv6Addr::from(pi.ipi6_addr.s6_addr)),
                _ => {}
            }
        }
    }
    let src = msg
        .address
        .map(|a| IpAddr::V6(a.ip()))
        .unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));
    let n = msg.bytes;
    Ok(Received {
        meta: RxMeta { src, dst, ttl: hop },
        payload: buf[..n].to_vec(),
    })
}

/// The send side of one instance.
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
                let scope = if v6.segments()[0] & 0xffc0 == 0xfe80 {
                    ifindex
                } else {
                    0
                };
                s.bind(&SockAddr::from(SocketAddr::V6(SocketAddrV6::new(v6, 0, 0, scope))))?;
            }
        }
        Ok(TxSocket { sock: s, src })
    }

    /// Sends one advert (non-blocking; a full buffer is an error to count).
    pub fn send(&self, payload: &[u8], dst: IpAddr, ifindex: u32) -> io::Result<usize> {
        let to = match dst {
            IpAddr::V4(d) => SocketAddr::V4(SocketAddrV4::new(d, 0)),
            IpAddr::V6(d) => {
                let scope = if d.is_multicast() || d.segments()[0] & 0xffc0 == 0xfe80 {
                    ifindex
                } else {
                    0
                };
                SocketAddr::V6(SocketAddrV6::new(d, 0, 0, scope))
            }
        };
        self.sock.send_to(payload, &SockAddr::from(to))
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
