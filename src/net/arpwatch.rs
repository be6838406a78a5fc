//! Watching a LAN for another host's ARP announcement of an address. A
//! failed master that keeps its VIPs (`refuse_on_fault`) lets them go the
//! moment the new master's gratuitous ARP lands: from then on clients
//! reach the new master, and until then the old host's kernel refuses
//! them with a reset rather than letting them time out.

use std::io::{self, Read};
use std::net::Ipv4Addr;
use std::time::Instant;

use pnet_packet::arp::ArpPacket;
use socket2::{Domain, Protocol, Socket, Type};

use super::garp::link_addr;

const ETH_P_ARP: u16 = 0x0806;

/// The address among `addrs` that an ARP packet (without its Ethernet
/// header) announces from a host other than `own_mac`, if any.
pub fn announced(packet: &[u8], own_mac: [u8; 6], addrs: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    let arp = ArpPacket::new(packet)?;
    let sender = arp.get_sender_proto_addr();
    (arp.get_sender_hw_addr().octets() != own_mac && addrs.contains(&sender)).then_some(sender)
}

/// Waits until another host announces one of `addrs` on `ifindex`, at most
/// until `until` (None then).
pub async fn wait_for_announcement(
    ifindex: u32,
    own_mac: [u8; 6],
    addrs: &[Ipv4Addr],
    until: Instant,
) -> io::Result<Option<Ipv4Addr>> {
    let proto = Protocol::from(i32::from(ETH_P_ARP.to_be()));
    let sock = Socket::new(Domain::PACKET, Type::DGRAM, Some(proto))?;
    sock.set_nonblocking(true)?;
    sock.set_cloexec(true)?;
    sock.bind(&link_addr(ifindex, ETH_P_ARP, [0; 6])?)?;
    let fd = crate::reactor::register(sock)?;
    let mut buf = [0u8; 256];
    loop {
        let Ok(ready) = tokio::time::timeout_at(until.into(), fd.readable()).await else {
            return Ok(None);
        };
        let mut guard = ready?;
        match guard.try_io(|s| s.get_ref().read(&mut buf)) {
            Ok(Ok(n)) => {
                if let Some(a) = announced(&buf[..n], own_mac, addrs) {
                    return Ok(Some(a));
                }
            }
            Ok(Err(e)) => return Err(e),
            Err(_would_block) => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What keepalived and rkeepalived send: a request with sender =
    /// target = the VIP.
    fn garp(mac: [u8; 6], ip: Ipv4Addr) -> Vec<u8> {
        super::super::garp::garp_frame(mac, ip)[14..].to_vec()
    }

    #[test]
    fn another_hosts_announcement_of_a_vip_counts() {
        let (vip, other) = (Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 7));
        let (ours, theirs) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        assert_eq!(announced(&garp(theirs, vip), ours, &[vip]), Some(vip));
        assert_eq!(announced(&garp(ours, vip), ours, &[vip]), None, "our own");
        assert_eq!(announced(&garp(theirs, other), ours, &[vip]), None, "another address");
        assert_eq!(announced(&[0u8; 5], ours, &[vip]), None, "truncated");
    }
}
