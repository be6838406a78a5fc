//! Linux I/O for the daemon: raw VRRP sockets, netlink (addresses,
//! routes, rules, links, macvlans, monitoring) and gratuitous ARP /
//! unsolicited NA frames.

pub mod garp;
pub mod netlink;
pub mod socket;

pub use crate::reactor::register;
