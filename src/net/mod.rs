//! Linux I/O for the daemon: raw VRRP sockets, netlink (addresses,
//! routes, rules, links, macvlans, monitoring), gratuitous ARP /
//! unsolicited NA frames, and watching for another host's ARP
//! announcement.

pub mod arpwatch;
pub mod garp;
pub mod ipvs;
pub mod mmsg;
pub mod netlink;
pub mod socket;

pub use crate::reactor::register;
