//! Gratuitous ARP (IPv4) and unsolicited Neighbor Advertisement (IPv6)
//! frames, built with pnet's packet types and sent on an AF_PACKET socket so
//! the Ethernet source can be the virtual MAC (RFC 5798 §7.2).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};

use pnet_base::MacAddr;
use pnet_packet::arp::{ArpHardwareTypes, ArpOperations, MutableArpPacket};
use pnet_packet::ethernet::{EtherType, EtherTypes, MutableEthernetPacket};
use pnet_packet::icmpv6::ndp::{MutableNeighborAdvertPacket, NdpOption, NdpOptionTypes, NeighborAdvertFlags};
use pnet_packet::icmpv6::{self, Icmpv6Code, Icmpv6Packet, Icmpv6Types};
use pnet_packet::ip::IpNextHeaderProtocols;
use pnet_packet::ipv6::MutableIpv6Packet;
use socket2::{Domain, Socket, Type};

const ETH_LEN: usize = 14;
const ARP_LEN: usize = 28;
const IPV6_LEN: usize = 40;
/// NA header (24) + target link-layer address option (8).
const NA_LEN: usize = 32;

/// An ARP request announcing `ip` at `mac` (sender = target = VIP), sent to
/// the broadcast address: what keepalived sends as gratuitous ARP.
pub fn garp_frame(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    let mut buf = vec![0u8; ETH_LEN + ARP_LEN];
    let src = MacAddr::from(mac);
    if let Some(mut eth) = MutableEthernetPacket::new(&mut buf) {
        eth.set_destination(MacAddr::broadcast());
        eth.set_source(src);
        eth.set_ethertype(EtherTypes::Arp);
    }
    if let Some(mut arp) = MutableArpPacket::new(&mut buf[ETH_LEN..]) {
        arp.set_hardware_type(ArpHardwareTypes::Ethernet);
        arp.set_protocol_type(EtherTypes::Ipv4);
        arp.set_hw_addr_len(6);
        arp.set_proto_addr_len(4);
        arp.set_operation(ArpOperations::Request);
        arp.set_sender_hw_addr(src);
        arp.set_sender_proto_addr(ip);
        arp.set_target_hw_addr(MacAddr::broadcast());
        arp.set_target_proto_addr(ip);
    }
    buf
}

/// An unsolicited NA for `ip` at `mac` to all-nodes (ff02::1), hop limit
/// 255 (RFC 4861 §7.2.6), Router and Override flags, with the Target
/// Link-Layer Address option.
pub fn na_frame(mac: [u8; 6], ip: Ipv6Addr) -> Vec<u8> {
    let mut buf = vec![0u8; ETH_LEN + IPV6_LEN + NA_LEN];
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    if let Some(mut eth) = MutableEthernetPacket::new(&mut buf) {
        eth.set_destination(MacAddr::new(0x33, 0x33, 0, 0, 0, 1));
        eth.set_source(MacAddr::from(mac));
        eth.set_ethertype(EtherTypes::Ipv6);
    }
    if let Some(mut ip6) = MutableIpv6Packet::new(&mut buf[ETH_LEN..]) {
        ip6.set_version(6);
        ip6.set_payload_length(NA_LEN as u16);
        ip6.set_next_header(IpNextHeaderProtocols::Icmpv6);
        ip6.set_hop_limit(255);
        ip6.set_source(ip);
        ip6.set_destination(all_nodes);
    }
    let icmp = &mut buf[ETH_LEN + IPV6_LEN..];
    if let Some(mut na) = MutableNeighborAdvertPacket::new(icmp) {
        na.set_icmpv6_type(Icmpv6Types::NeighborAdvert);
        na.set_icmpv6_code(Icmpv6Code(0));
        na.set_flags(NeighborAdvertFlags::Router | NeighborAdvertFlags::Override);
        na.set_target_addr(ip);
        na.set_options(&[NdpOption {
            option_type: NdpOptionTypes::TargetLLAddr,
            length: 1,
            data: mac.to_vec(),
        }]);
    }
    let sum = Icmpv6Packet::new(&buf[ETH_LEN + IPV6_LEN..]).map(|p| icmpv6::checksum(&p, &ip, &all_nodes));
    if let Some(sum) = sum {
        buf[ETH_LEN + IPV6_LEN + 2..ETH_LEN + IPV6_LEN + 4].copy_from_slice(&sum.to_be_bytes());
    }
    buf
}

/// A socket for sending whole Ethernet frames.
pub struct FrameSocket {
    sock: Socket,
}

impl FrameSocket {
    pub fn open() -> io::Result<FrameSocket> {
        // Protocol 0: send only, receive nothing.
        let sock = Socket::new(Domain::PACKET, Type::RAW, None)?;
        sock.set_cloexec(true)?;
        Ok(FrameSocket { sock })
    }

    /// Sends a frame built above out of `ifindex`.
    pub fn send(&self, ifindex: u32, frame: &[u8]) -> io::Result<()> {
        let (dst, proto) = match frame.get(..ETH_LEN) {
            Some(h) => {
                let mut d = [0u8; 6];
                d.copy_from_slice(&h[..6]);
                (d, EtherType(u16::from_be_bytes([h[12], h[13]])))
            }
            None => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "frame shorter than an Ethernet header",
                ))
            }
        };
        let addr = link_addr(ifindex, proto.0, dst)?;
        self.sock.send_to(frame, &addr)?;
        Ok(())
    }
}

// sockaddr_ll has no safe constructor in socket2 or nix.
#[allow(unsafe_code)]
pub(crate) fn link_addr(ifindex: u32, ethertype: u16, dst: [u8; 6]) -> io::Result<socket2::SockAddr> {
    let mut storage = socket2::SockAddrStorage::zeroed();
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: SockAddrStorage is large and aligned enough for any sockaddr,
    // including sockaddr_ll; we write only its fields.
    let ll = unsafe { storage.view_as::<libc::sockaddr_ll>() };
    ll.sll_family = libc::AF_PACKET as u16;
    ll.sll_protocol = ethertype.to_be();
    ll.sll_ifindex = i32::try_from(ifindex).map_err(|_| io::Error::other("interface index out of range"))?;
    ll.sll_halen = 6;
    ll.sll_addr[..6].copy_from_slice(&dst);
    // SAFETY: the storage holds an initialised sockaddr_ll of `len` bytes.
    Ok(unsafe { socket2::SockAddr::new(storage, len) })
}

/// The RFC virtual MAC: 00-00-5E-00-01-{VRID} for IPv4 and
/// 00-00-5E-00-02-{VRID} for IPv6 (RFC 5798 §7.3).
pub fn virtual_mac(vrid: u8, ipv6: bool) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, if ipv6 { 0x02 } else { 0x01 }, vrid]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garp_bytes() {
        let f = garp_frame([0, 0, 0x5e, 0, 1, 51], Ipv4Addr::new(10, 0, 0, 100));
        assert_eq!(f.len(), 42);
        assert_eq!(&f[..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &[0, 0, 0x5e, 0, 1, 51]);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        // ARP request, sender and target protocol address both the VIP.
        assert_eq!(&f[14..22], &[0, 1, 8, 0, 6, 4, 0, 1]);
        assert_eq!(&f[28..32], &[10, 0, 0, 100]);
        assert_eq!(&f[38..42], &[10, 0, 0, 100]);
    }

    #[test]
    fn na_bytes_and_checksum() {
        let ip: Ipv6Addr = "2001:db8::53".parse().unwrap_or(Ipv6Addr::LOCALHOST);
        let mac = [0, 0, 0x5e, 0, 2, 53];
        let f = na_frame(mac, ip);
        assert_eq!(f.len(), 86);
        assert_eq!(&f[..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(f[14 + 7], 255, "hop limit 255");
        assert_eq!(f[14 + 40], 136, "type NA");
        assert_eq!(f[14 + 44], 0xa0, "Router and Override");
        assert_eq!(&f[14 + 48..14 + 64], &ip.octets());
        assert_eq!(&f[14 + 64..14 + 72], &[2, 1, 0, 0, 0x5e, 0, 2, 53]);
        // Verify the checksum independently: sum over pseudo-header + message is 0.
        let mut sum: u32 = 0;
        let msg = &f[54..];
        let mut add = |b: &[u8]| {
            for c in b.chunks(2) {
                sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
            }
        };
        add(&ip.octets());
        add(&Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1).octets());
        add(&(msg.len() as u32).to_be_bytes());
        add(&[0, 0, 0, 58]);
        add(msg);
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff);
    }

    #[test]
    fn virtual_macs_follow_the_rfc() {
        assert_eq!(virtual_mac(7, false), [0, 0, 0x5e, 0, 1, 7]);
        assert_eq!(virtual_mac(7, true), [0, 0, 0x5e, 0, 2, 7]);
    }
}
