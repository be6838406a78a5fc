//! Per-instance counters, named as keepalived 2.2.7 names them in its
//! statistics and JSON dumps, plus rkeepalived's extra receive counters.

use serde::Serialize;

use super::rx::RxError;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub advert_rcvd: u64,
    pub advert_sent: u64,
    pub become_master: u64,
    pub release_master: u64,
    pub packet_len_err: u64,
    pub advert_interval_err: u64,
    pub ip_ttl_err: u64,
    pub invalid_type_rcvd: u64,
    pub addr_list_err: u64,
    pub invalid_authtype: u64,
    pub authtype_mismatch: u64,
    pub auth_failure: u64,
    pub pri_zero_rcvd: u64,
    pub pri_zero_sent: u64,
    /// Not counted by keepalived: bad checksums.
    #[serde(skip)]
    pub checksum_err: u64,
    /// Not counted by keepalived: wrong VRRP version.
    #[serde(skip)]
    pub version_err: u64,
    /// Not counted by keepalived: unicast source not a configured peer.
    #[serde(skip)]
    pub src_err: u64,
}

impl Stats {
    /// Counts a dropped packet under the counter its error maps to.
    pub fn count(&mut self, e: &RxError) {
        let c = match e {
            RxError::Ttl { .. } => &mut self.ip_ttl_err,
            RxError::Decode(_) => &mut self.packet_len_err,
            RxError::Version { .. } => &mut self.version_err,
            RxError::Checksum => &mut self.checksum_err,
            RxError::Type(_) => &mut self.invalid_type_rcvd,
            RxError::InvalidAuthType(_) => &mut self.invalid_authtype,
            RxError::AuthTypeMismatch { .. } => &mut self.authtype_mismatch,
            RxError::AuthFailure => &mut self.auth_failure,
            RxError::Interval { .. } => &mut self.advert_interval_err,
            RxError::AddressList => &mut self.addr_list_err,
            RxError::UnknownSource(_) => &mut self.src_err,
            // Not a fault of the packet: nothing to count.
            RxError::OwnerIgnores | RxError::NotRunning | RxError::Vrid(_) => return,
        };
        *c += 1;
    }
}
