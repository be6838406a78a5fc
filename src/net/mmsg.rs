//! Many datagrams per system call: `sendmmsg(2)` for the adverts that fall
//! due together, `recvmmsg(2)` for the bursts a backup hears.
//!
//! These are thin wrappers over libc, not nix's: nix 0.31's `sendmmsg`
//! result can only be counted by iterating it, which reads address slots
//! it never initialised, and its reused `MultiHeaders` keep the lengths the
//! kernel wrote back (`msg_namelen`, `msg_controllen` are in-out), so a
//! slot that once received less control data keeps losing it
//! (nix-rust/nix#2813, open). Here every length is set afresh before each
//! call, and nothing is read that the kernel did not write.
#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd};

/// Up to this many datagrams go to the kernel in one call.
pub const BATCH: usize = 64;

/// A destination as the kernel reads it.
#[repr(C)]
union RawAddr {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
}

fn raw_addr(a: SocketAddr) -> (RawAddr, libc::socklen_t) {
    match a {
        SocketAddr::V4(a) => (
            RawAddr {
                v4: libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                },
            },
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        ),
        SocketAddr::V6(a) => (
            RawAddr {
                v6: libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                },
            },
            size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        ),
    }
}

/// Sends the first `min(count, BATCH)` datagrams that `msg(i)` names
/// (destination and bytes), in order, in one `sendmmsg`; returns how many
/// the kernel took. An error means the first of them failed: the caller
/// counts it and goes on with the next. Only the headers in use are
/// written (a steady advert costs no more than its own header).
pub fn send_many<'a>(
    fd: BorrowedFd<'_>,
    count: usize,
    msg: impl Fn(usize) -> (SocketAddr, &'a [u8]),
) -> io::Result<usize> {
    let n = count.min(BATCH);
    if n == 0 {
        return Ok(0);
    }
    let mut names = [const { MaybeUninit::<RawAddr>::uninit() }; BATCH];
    let mut iov = [const { MaybeUninit::<libc::iovec>::uninit() }; BATCH];
    let mut hdr = [const { MaybeUninit::<libc::mmsghdr>::uninit() }; BATCH];
    for i in 0..n {
        let (to, bytes) = msg(i);
        let (name, namelen) = raw_addr(to);
        let name = names[i].write(name);
        let iov = iov[i].write(libc::iovec {
            iov_base: bytes.as_ptr().cast_mut().cast(),
            iov_len: bytes.len(),
        });
        hdr[i].write(libc::mmsghdr {
            msg_hdr: libc::msghdr {
                msg_name: (name as *mut RawAddr).cast(),
                msg_namelen: namelen,
                msg_iov: iov,
                msg_iovlen: 1,
                msg_control: std::ptr::null_mut(),
                msg_controllen: 0,
                msg_flags: 0,
            },
            msg_len: 0,
        });
    }
    // SAFETY: the first n headers are written and point at their written
    // names and iovecs on this stack frame, whose buffers the borrows of
    // `msg` keep alive for the call; the kernel reads them and writes
    // msg_len only.
    let sent = unsafe { libc::sendmmsg(fd.as_raw_fd(), hdr.as_mut_ptr().cast(), n as libc::c_uint, 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sent as usize)
}

/// What arrived in one slot of a [`RecvBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arrival<'a> {
    pub bytes: &'a [u8],
    /// The datagram was longer than a slot (the rest is lost).
    pub truncated: bool,
    /// IPv6 only: the sender, and from the control messages the hop limit
    /// and the destination (IPv4 delivers all of it in the header).
    pub src: Option<Ipv6Addr>,
    pub hop_limit: Option<u8>,
    pub dst: Option<Ipv6Addr>,
}

/// Buffers for `recvmmsg`, allocated once per socket and reused: `slots`
/// datagrams of up to `slot_len` bytes each, with room for the IPv6
/// control messages (hop limit, packet info).
pub struct RecvBatch {
    slot_len: usize,
    buf: Vec<u8>,
    names: Vec<libc::sockaddr_storage>,
    control: Vec<u64>,
    hdrs: Vec<libc::mmsghdr>,
    iovs: Vec<libc::iovec>,
    received: usize,
}

// SAFETY: the raw pointers in `hdrs` and `iovs` point only into the
// batch's own heap buffers (which move with it, never reallocated) and are
// rewritten before every call; nothing is shared with another thread.
unsafe impl Send for RecvBatch {}

/// Control bytes per slot, in u64 words (cmsg alignment): IPV6_HOPLIMIT
/// (an int) and IPV6_PKTINFO (20 bytes) need 24 + 40 bytes; twice that.
const CONTROL_WORDS: usize = 16;

impl RecvBatch {
    pub fn new(slots: usize, slot_len: usize) -> RecvBatch {
        let slots = slots.max(1);
        RecvBatch {
            slot_len,
            buf: vec![0; slots * slot_len],
            // SAFETY: all-zero is a valid sockaddr_storage / mmsghdr / iovec.
            names: vec![unsafe { std::mem::zeroed() }; slots],
            control: vec![0; slots * CONTROL_WORDS],
            hdrs: vec![unsafe { std::mem::zeroed() }; slots],
            iovs: vec![unsafe { std::mem::zeroed() }; slots],
            received: 0,
        }
    }

    /// Reads what is queued on the non-blocking socket, up to the batch's
    /// slots, in one call; returns how many arrived (`WouldBlock` when
    /// none had).
    pub fn recv(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        self.received = 0;
        let slots = self.hdrs.len();
        let control_len = CONTROL_WORDS * std::mem::size_of::<u64>();
        for i in 0..slots {
            self.iovs[i] = libc::iovec {
                iov_base: self.buf[i * self.slot_len..].as_mut_ptr().cast(),
                iov_len: self.slot_len,
            };
            let h = &mut self.hdrs[i];
            h.msg_len = 0;
            // Every length is an in-out field: set the capacity each time.
            h.msg_hdr.msg_name = (&mut self.names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_iov = &mut self.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = self.control[i * CONTROL_WORDS..].as_mut_ptr().cast();
            h.msg_hdr.msg_controllen = control_len;
            h.msg_hdr.msg_flags = 0;
        }
        // SAFETY: each header points at its own name, iovec, buffer slot and
        // control area, all owned by self and not moved during the call.
        let n = unsafe {
            libc::recvmmsg(
                fd.as_raw_fd(),
                self.hdrs.as_mut_ptr(),
                slots as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        self.received = n as usize;
        Ok(self.received)
    }

    /// The `i`-th datagram of the last [`recv`](Self::recv).
    pub fn get(&self, i: usize) -> Option<Arrival<'_>> {
        if i >= self.received {
            return None;
        }
        let h = &self.hdrs[i];
        let len = (h.msg_len as usize).min(self.slot_len);
        let start = i * self.slot_len;
        let mut a = Arrival {
            bytes: &self.buf[start..start + len],
            truncated: h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
            src: None,
            hop_limit: None,
            dst: None,
        };
        let name = &self.names[i];
        if i32::from(name.ss_family) == libc::AF_INET6
            && h.msg_hdr.msg_namelen as usize >= std::mem::size_of::<libc::sockaddr_in6>()
        {
            // SAFETY: the kernel wrote a sockaddr_in6 (family and length say so);
            // sockaddr_storage is large and aligned enough for it.
            let sin6 = unsafe { &*(name as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            a.src = Some(Ipv6Addr::from(sin6.sin6_addr.s6_addr));
        }
        if h.msg_hdr.msg_flags & libc::MSG_CTRUNC == 0 {
            self.read_control(&h.msg_hdr, &mut a);
        }
        Some(a)
    }

    fn read_control(&self, h: &libc::msghdr, a: &mut Arrival<'_>) {
        // SAFETY: msg_control / msg_controllen describe what the kernel wrote
        // into this slot's control area (not truncated, checked above); the
        // CMSG_* macros stay within msg_controllen, and the data is read
        // unaligned by length-checked type.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(h);
            while !c.is_null() {
                let data = libc::CMSG_DATA(c);
                let len = (*c).cmsg_len as usize - (data as usize - c as usize);
                match ((*c).cmsg_level, (*c).cmsg_type) {
                    (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) if len >= std::mem::size_of::<libc::c_int>() => {
                        let hops = std::ptr::read_unaligned(data.cast::<libc::c_int>());
                        a.hop_limit = u8::try_from(hops).ok();
                    }
                    (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) if len >= std::mem::size_of::<libc::in6_pktinfo>() => {
                        let info = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                        a.dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                    }
                    _ => {}
                }
                c = libc::CMSG_NXTHDR(h, c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
    use std::os::fd::AsFd;

    use nix::sys::socket::{setsockopt, sockopt};

    fn udp4() -> (UdpSocket, SocketAddr) {
        let s = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)).unwrap_or_else(|e| panic!("{e}"));
        s.set_nonblocking(true).unwrap_or_else(|e| panic!("{e}"));
        let at = s.local_addr().unwrap_or_else(|e| panic!("{e}"));
        (s, at)
    }

    /// More datagrams than one call takes go out in order, each whole, to
    /// its own destination; recvmmsg reads them back in batches.
    #[test]
    fn a_batch_goes_out_in_order_and_comes_back_in_batches() {
        let (a, to_a) = udp4();
        let (b, to_b) = udp4();
        let (tx, _) = udp4();
        let frames: Vec<(SocketAddr, Vec<u8>)> = (0..150u8)
            .map(|k| (if k % 3 == 0 { to_b } else { to_a }, vec![k; 1 + usize::from(k % 7)]))
            .collect();
        let mut start = 0;
        while start < frames.len() {
            let n = send_many(tx.as_fd(), frames.len() - start, |i| {
                let (to, bytes) = &frames[start + i];
                (*to, bytes.as_slice())
            })
            .unwrap_or_else(|e| panic!("{e}"));
            assert!(n > 0 && n <= BATCH, "{n}");
            start += n;
        }
        let got = |sock: &UdpSocket| {
            let mut batch = RecvBatch::new(16, 64);
            let mut all = Vec::new();
            let mut calls = 0;
            while let Ok(n) = batch.recv(sock.as_fd()) {
                calls += 1;
                for i in 0..n {
                    let d = batch.get(i).unwrap_or_else(|| panic!("slot {i}"));
                    assert!(!d.truncated);
                    all.push(d.bytes.to_vec());
                }
                assert!(batch.get(n).is_none());
            }
            (all, calls)
        };
        let (on_a, calls_a) = got(&a);
        let (on_b, _) = got(&b);
        let want_a: Vec<Vec<u8>> = frames.iter().filter(|f| f.0 == to_a).map(|f| f.1.clone()).collect();
        let want_b: Vec<Vec<u8>> = frames.iter().filter(|f| f.0 == to_b).map(|f| f.1.clone()).collect();
        assert_eq!(on_a.len(), 100);
        assert_eq!(on_a, want_a);
        assert_eq!(on_b, want_b);
        assert!(
            calls_a <= 100 / 16 + 1,
            "{calls_a} calls for 100 datagrams in slots of 16"
        );
    }

    /// A datagram longer than its slot is marked truncated, not taken whole.
    #[test]
    fn an_oversized_datagram_is_marked_truncated() {
        let (rx, to) = udp4();
        let (tx, _) = udp4();
        let long = [7u8; 100];
        let short = [1u8; 8];
        let frames = [(to, &long[..]), (to, &short[..])];
        assert_eq!(
            send_many(tx.as_fd(), 2, |i| frames[i]).unwrap_or_else(|e| panic!("{e}")),
            2
        );
        let mut batch = RecvBatch::new(4, 32);
        assert_eq!(batch.recv(rx.as_fd()).unwrap_or_else(|e| panic!("{e}")), 2);
        let first = batch.get(0).unwrap_or_else(|| panic!());
        assert!(first.truncated);
        assert_eq!(first.bytes, &long[..32]);
        assert_eq!(batch.get(1).map(|d| (d.truncated, d.bytes)), Some((false, &short[..])));
    }

    /// IPv6 sender, hop limit and destination arrive on every call, also
    /// after a call whose datagrams carried no control data: the lengths
    /// the kernel writes back are reset (what nix's reused headers lose).
    #[test]
    fn ipv6_metadata_survives_reuse_of_the_headers() {
        let rx = UdpSocket::bind("[::1]:0").unwrap_or_else(|e| panic!("IPv6 loopback: {e}"));
        rx.set_nonblocking(true).unwrap_or_else(|e| panic!("{e}"));
        let to = rx.local_addr().unwrap_or_else(|e| panic!("{e}"));
        let tx = UdpSocket::bind("[::1]:0").unwrap_or_else(|e| panic!("{e}"));
        let from = match tx.local_addr() {
            Ok(SocketAddr::V6(a)) => a,
            other => panic!("{other:?}"),
        };
        let mut batch = RecvBatch::new(4, 64);
        let payload = [5u8; 4];
        // First without the options: no control data in any slot.
        assert_eq!(
            send_many(tx.as_fd(), 1, |_| (to, &payload[..])).unwrap_or_else(|e| panic!("{e}")),
            1
        );
        assert_eq!(batch.recv(rx.as_fd()).unwrap_or_else(|e| panic!("{e}")), 1);
        assert_eq!(batch.get(0).map(|d| (d.hop_limit, d.dst)), Some((None, None)));
        // Then with them: every slot must carry both.
        setsockopt(&rx, sockopt::Ipv6RecvPacketInfo, &true).unwrap_or_else(|e| panic!("{e}"));
        setsockopt(&rx, sockopt::Ipv6RecvHopLimit, &true).unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..3 {
            assert_eq!(
                send_many(tx.as_fd(), 1, |_| (to, &payload[..])).unwrap_or_else(|e| panic!("{e}")),
                1
            );
        }
        assert_eq!(batch.recv(rx.as_fd()).unwrap_or_else(|e| panic!("{e}")), 3);
        for i in 0..3 {
            let d = batch.get(i).unwrap_or_else(|| panic!("{i}"));
            assert_eq!(d.bytes, payload);
            assert_eq!(d.src, Some(*from.ip()));
            assert_eq!(d.dst, Some(Ipv6Addr::LOCALHOST));
            // Unicast over loopback: the default hop limit (64), not 0.
            assert!(d.hop_limit.is_some_and(|h| h > 0), "{:?}", d.hop_limit);
        }
    }
}
