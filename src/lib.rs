//! rkeepalived: a drop-in replacement for keepalived's VRRP side.
//!
//! Layers (dependencies point down only):
//! - [`daemon`]: the daemon in rooms (its module comment draws the map);
//! - [`net`]: Linux I/O (raw sockets, netlink, ARP/NA);
//! - [`track`]: the check framework and its check kinds;
//! - [`vrrp`]: the protocol core, without I/O;
//! - [`config`]: the keepalived.conf language.

pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod lvs;
pub mod net;
pub mod reactor;
pub mod track;
pub mod vrrp;
