//! Receive checks, in the order of RFC 9568 §7.1 (RFC 5798 §7.1,
//! RFC 3768 §7.1), each a typed error that maps to a keepalived counter.

use std::net::IpAddr;
use std::time::Duration;

use super::packet::{AuthType, DecodeError};

/// What the socket saw besides the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxMeta {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
}

/// Why a received advertisement was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RxError {
    /// RFC 9568 §7.1 (1): the TTL / hop limit must be 255.
    #[error("TTL/hop limit {got} (expected {expected})")]
    Ttl { got: u8, expected: &'static str },
    /// (2)/(3): malformed or short.
    #[error("malformed packet: {0}")]
    Decode(DecodeError),
    /// (2): not the configured version.
    #[error("VRRP version {got} received, configured {configured}")]
    Version { got: u8, configured: u8 },
    /// (4): bad checksum.
    #[error("bad checksum")]
    Checksum,
    /// (5): not this instance's VRID (a routing error of the driver).
    #[error("VRID {0} is not this instance's")]
    Vrid(u8),
    /// (5): the address owner ignores adverts (RFC; keepalived in strict mode).
    #[error("address owner (priority 255) ignores advertisements")]
    OwnerIgnores,
    /// (6): not an ADVERTISEMENT.
    #[error("invalid type {0}")]
    Type(u8),
    /// v2 auth type not 0, 1 or 2.
    #[error("invalid authentication type {0}")]
    InvalidAuthType(u8),
    /// v2 auth type other than configured.
    #[error("authentication type {got:?} received, configured {configured:?}")]
    AuthTypeMismatch { got: AuthType, configured: AuthType },
    /// v2 password does not match.
    #[error("authentication failure (password mismatch)")]
    AuthFailure,
    /// (7) v2: the advertisement interval must equal ours; v3: it must
    /// not be 0.
    #[error("advertisement interval {got:?}, configured {configured:?}")]
    Interval { got: Duration, configured: Duration },
    /// (8): the address list does not match the configured VIPs.
    #[error("address list does not match the configured virtual addresses")]
    AddressList,
    /// keepalived's check_unicast_src / min_ttl / max_ttl.
    #[error("advert from {0}, which is not a configured unicast peer")]
    UnknownSource(IpAddr),
    /// FAULT or INIT: adverts are not processed.
    #[error("instance not running (INIT or FAULT)")]
    NotRunning,
}
