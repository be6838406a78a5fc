//! VRRP advertisement codec: VRRPv2 (RFC 3768 §5) and VRRPv3 (RFC 5798 §5,
//! as updated by RFC 9568), IPv4 and IPv6.
//!
//! [`AdvertPacket`] is a checked view over received bytes (no allocation,
//! used on the receive path); [`Advert`] is the validated value type used to
//! build packets. Neither decode nor [`Advert::emit`] panics on any input.
//! Every offset is named in [`field`]; wire units (seconds for v2,
//! centiseconds for v3) exist only here.
//!
//! VRRPv2, RFC 3768 §5.1:
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Auth Type   |   Adver Int   |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         IP Address (1)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                            .........                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         IP Address (n)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Authentication Data (1)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Authentication Data (2)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! VRRPv3, RFC 5798 §5.1 (IPvX addresses are 4 or 16 bytes):
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |(rsvd) |     Max Adver Int     |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! +                                                               +
//! +                       IPvX Address(es)                        +
//! +                                                               +
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;
use std::time::Duration;

/// Byte offsets of the header fields, as the diagrams above draw them.
pub mod field {
    use std::ops::Range;

    /// Version (high nibble) and Type (low nibble).
    pub const VER_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    /// v2 only (RFC 3768 §5.3.6).
    pub const AUTH_TYPE: usize = 4;
    /// v2 only: whole seconds (RFC 3768 §5.3.7).
    pub const ADVER_INT: usize = 5;
    /// v3 only: 4 reserved bits, then 12 bits of centiseconds (RFC 5798 §5.2.7).
    pub const MAX_ADVER_INT: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
    /// The address list starts here in both versions.
    pub const ADDRESSES: usize = 8;
}

/// IP protocol number of VRRP (RFC 5798 §5.1.1.4).
pub const IPPROTO_VRRP: u8 = 112;
/// Fixed header length of both versions.
pub const HEADER_LEN: usize = field::ADDRESSES;
/// VRRPv2 authentication data trailer (RFC 3768 §5.3.10).
pub const V2_AUTH_LEN: usize = 8;
/// Largest v3 Max Adver Int: 12 bits of centiseconds (RFC 5798 §5.2.7).
pub const V3_MAX_INTERVAL_CS: u16 = 0x0fff;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    V2,
    V3,
}

impl Version {
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// The Type field (RFC 5798 §5.2.2): ADVERTISEMENT is the only one defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    Advertisement,
    Unknown(u8),
}

impl MessageType {
    pub fn from_wire(v: u8) -> MessageType {
        match v {
            1 => MessageType::Advertisement,
            other => MessageType::Unknown(other),
        }
    }

    pub fn to_wire(self) -> u8 {
        match self {
            MessageType::Advertisement => 1,
            MessageType::Unknown(v) => v,
        }
    }
}

/// The v2 Auth Type field (RFC 2338 §5.3.6; RFC 3768 keeps only 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthType {
    None,
    /// Simple text password (keepalived's `auth_type PASS`).
    Pass,
    /// IP Authentication Header (keepalived's `auth_type AH`).
    Ah,
    Unknown(u8),
}

impl AuthType {
    pub fn from_wire(v: u8) -> AuthType {
        match v {
            0 => AuthType::None,
            1 => AuthType::Pass,
            2 => AuthType::Ah,
            other => AuthType::Unknown(other),
        }
    }

    pub fn to_wire(self) -> u8 {
        match self {
            AuthType::None => 0,
            AuthType::Pass => 1,
            AuthType::Ah => 2,
            AuthType::Unknown(v) => v,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn addr_len(self) -> usize {
        match self {
            Family::V4 => 4,
            Family::V6 => 16,
        }
    }

    pub fn of(a: &IpAddr) -> Family {
        match a {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }
}

/// How the v3 checksum over IPv4 is computed (RFC 5798 §5.2.8 versus
/// RFC 9568 §5.2.8; keepalived's `v3_checksum_as_v2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumMode {
    /// keepalived's default: include the IPv4 pseudo-header.
    PseudoHeader,
    /// RFC 9568 / `v3_checksum_as_v2`: the VRRP message only.
    MessageOnly,
}

/// Why bytes are not a well-formed advertisement, before any instance
/// rule is applied. Each maps to one of keepalived's statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    #[error("packet of {len} bytes is shorter than the {need}-byte VRRP message it announces")]
    Truncated { len: usize, need: usize },
    #[error("unsupported VRRP version {0}")]
    Version(u8),
    #[error("VRRPv2 is IPv4 only")]
    V2OverIpv6,
}

/// A checked view over the bytes of a VRRP message (the IP payload).
#[derive(Debug, Clone, Copy)]
pub struct AdvertPacket<'a> {
    bytes: &'a [u8],
    family: Family,
    version: Version,
}

impl<'a> AdvertPacket<'a> {
    /// Checks version and length; the view's accessors then never fail.
    /// Trailing bytes beyond the message are ignored (Ethernet padding).
    pub fn new_checked(bytes: &'a [u8], family: Family) -> Result<Self, DecodeError> {
        if bytes.len() < HEADER_LEN {
            return Err(DecodeError::Truncated {
                len: bytes.len(),
                need: HEADER_LEN,
            });
        }
        let version = match bytes[field::VER_TYPE] >> 4 {
            2 => Version::V2,
            3 => Version::V3,
            v => return Err(DecodeError::Version(v)),
        };
        if version == Version::V2 && family == Family::V6 {
            return Err(DecodeError::V2OverIpv6);
        }
        let count = usize::from(bytes[field::COUNT]);
        let need = message_len(version, family, count);
        if bytes.len() < need {
            return Err(DecodeError::Truncated { len: bytes.len(), need });
        }
        Ok(AdvertPacket { bytes, family, version })
    }

    pub fn version(&self) -> Version {
        self.version
    }
    pub fn family(&self) -> Family {
        self.family
    }
    pub fn kind(&self) -> MessageType {
        MessageType::from_wire(self.bytes[field::VER_TYPE] & 0x0f)
    }
    pub fn vrid(&self) -> u8 {
        self.bytes[field::VRID]
    }
    pub fn priority(&self) -> u8 {
        self.bytes[field::PRIORITY]
    }
    pub fn count(&self) -> u8 {
        self.bytes[field::COUNT]
    }
    /// v2 Auth Type; `None` for v3, which has no authentication.
    pub fn auth_type(&self) -> AuthType {
        match self.version {
            Version::V2 => AuthType::from_wire(self.bytes[field::AUTH_TYPE]),
            Version::V3 => AuthType::None,
        }
    }
    /// The advertisement interval (v2: whole seconds; v3: centiseconds).
    pub fn interval(&self) -> Duration {
        match self.version {
            Version::V2 => Duration::from_secs(u64::from(self.bytes[field::ADVER_INT])),
            Version::V3 => Duration::from_millis(u64::from(self.interval_cs()) * 10),
        }
    }
    /// v3 Max Adver Int in centiseconds (12 bits); v2 seconds × 100.
    pub fn interval_cs(&self) -> u16 {
        match self.version {
            Version::V2 => u16::from(self.bytes[field::ADVER_INT]) * 100,
            Version::V3 => be16(self.bytes, field::MAX_ADVER_INT) & V3_MAX_INTERVAL_CS,
        }
    }
    /// v3's 4 reserved bits (must be sent 0, ignored on receive).
    pub fn reserved(&self) -> u8 {
        match self.version {
            Version::V2 => 0,
            Version::V3 => self.bytes[field::MAX_ADVER_INT.start] >> 4,
        }
    }
    pub fn checksum(&self) -> u16 {
        be16(self.bytes, field::CHECKSUM)
    }
    /// The message itself, without trailing padding.
    pub fn message(&self) -> &'a [u8] {
        &self.bytes[..message_len(self.version, self.family, usize::from(self.count()))]
    }
    pub fn addresses(&self) -> impl Iterator<Item = IpAddr> + 'a {
        let family = self.family;
        let n = family.addr_len();
        let start = field::ADDRESSES;
        let end = start + n * usize::from(self.count());
        self.bytes[start..end]
            .chunks_exact(n)
            .map(move |c| addr_from(family, c))
    }
    /// v2 authentication data (8 bytes); empty for v3.
    pub fn auth_data(&self) -> &'a [u8] {
        match self.version {
            Version::V2 => {
                let start = field::ADDRESSES + 4 * usize::from(self.count());
                &self.bytes[start..start + V2_AUTH_LEN]
            }
            Version::V3 => &[],
        }
    }

    /// Verifies the checksum of the message for the given IP addresses.
    pub fn checksum_ok(&self, src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> bool {
        checksum(self.message(), self.version, src, dst, mode) == 0
    }

    /// True if the message's checksum matches the other v3/IPv4 form (a
    /// peer configured with the opposite `v3_checksum_as_v2`).
    pub fn checksum_ok_other_form(&self, src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> bool {
        let other = match mode {
            ChecksumMode::PseudoHeader => ChecksumMode::MessageOnly,
            ChecksumMode::MessageOnly => ChecksumMode::PseudoHeader,
        };
        self.version == Version::V3 && self.family == Family::V4 && self.checksum_ok(src, dst, other)
    }
}

fn be16(bytes: &[u8], r: Range<usize>) -> u16 {
    u16::from_be_bytes([bytes[r.start], bytes[r.start + 1]])
}

fn addr_from(family: Family, c: &[u8]) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::new(c[0], c[1], c[2], c[3])),
        Family::V6 => {
            let mut b = [0u8; 16];
            b.copy_from_slice(c);
            IpAddr::V6(Ipv6Addr::from(b))
        }
    }
}

/// Length of a message with `count` addresses.
pub fn message_len(version: Version, family: Family, count: usize) -> usize {
    HEADER_LEN
        + count * family.addr_len()
        + match version {
            Version::V2 => V2_AUTH_LEN,
            Version::V3 => 0,
        }
}

/// The Internet checksum (RFC 1071) of `data`, continuing `sum`.
fn sum_words(mut sum: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The checksum of a message as its version and family define it:
/// v2 over the message (RFC 3768 §5.3.7); v3 over IPv6 with the IPv6
/// pseudo-header (RFC 5798 §5.2.8, RFC 2460 §8.1); v3 over IPv4 with the
/// IPv4 pseudo-header (keepalived) or without (RFC 9568).
/// Computing it over a message whose checksum field is filled gives 0.
pub fn checksum(message: &[u8], version: Version, src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> u16 {
    let len = message.len() as u32;
    let mut sum = 0u32;
    if version == Version::V3 {
        match (src, dst) {
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                sum = sum_words(sum, &s.octets());
                sum = sum_words(sum, &d.octets());
                sum += len >> 16;
                sum += len & 0xffff;
                sum += u32::from(IPPROTO_VRRP);
            }
            (IpAddr::V4(s), IpAddr::V4(d)) if mode == ChecksumMode::PseudoHeader => {
                sum = sum_words(sum, &s.octets());
                sum = sum_words(sum, &d.octets());
                sum += u32::from(IPPROTO_VRRP);
                sum += len & 0xffff;
            }
            _ => {}
        }
    }
    fold(sum_words(sum, message))
}

/// A validated advertisement, the value type used to build packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advert {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// v2: whole seconds (1..=255); v3: centiseconds (1..=4095).
    pub interval: Duration,
    /// v2 only: auth type and its 8 data bytes.
    pub auth_type: AuthType,
    pub auth_data: [u8; 8],
    pub addresses: Vec<IpAddr>,
}

/// Why an [`Advert`] cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    #[error("buffer of {have} bytes is too small for a {need}-byte advertisement")]
    BufferTooSmall { have: usize, need: usize },
    #[error("more than 255 addresses")]
    TooManyAddresses,
    #[error("addresses of mixed families")]
    MixedFamilies,
    #[error("VRRPv2 carries IPv4 addresses only")]
    V2WithIpv6,
    #[error("interval {0:?} does not fit the version's field")]
    Interval(Duration),
    #[error("source and destination addresses of another family than the advertisement's")]
    AddressFamily,
}

impl Advert {
    /// Reads the value out of a checked view.
    pub fn parse(p: &AdvertPacket<'_>) -> Advert {
        let mut auth_data = [0u8; 8];
        let ad = p.auth_data();
        auth_data[..ad.len()].copy_from_slice(ad);
        Advert {
            version: p.version(),
            vrid: p.vrid(),
            priority: p.priority(),
            interval: p.interval(),
            auth_type: p.auth_type(),
            auth_data,
            addresses: p.addresses().collect(),
        }
    }

    pub fn family(&self) -> Family {
        self.addresses.first().map(Family::of).unwrap_or(Family::V4)
    }

    pub fn buffer_len(&self) -> usize {
        message_len(self.version, self.family(), self.addresses.len())
    }

    /// Writes the message with its checksum into `buf`; returns its length.
    /// Never panics: every way the value could not fit is an error.
    pub fn emit(&self, buf: &mut [u8], src: IpAddr, dst: IpAddr, mode: ChecksumMode) -> Result<usize, EmitError> {
        let family = self.family();
        if self.addresses.len() > 255 {
            return Err(EmitError::TooManyAddresses);
        }
        if self.addresses.iter().any(|a| Family::of(a) != family) {
            return Err(EmitError::MixedFamilies);
        }
        if self.version == Version::V2 && family == Family::V6 {
            return Err(EmitError::V2WithIpv6);
        }
        if self.version == Version::V3 && (Family::of(&src) != family || Family::of(&dst) != family) {
            return Err(EmitError::AddressFamily);
        }
        let need = self.buffer_len();
        if buf.len() < need {
            return Err(EmitError::BufferTooSmall { have: buf.len(), need });
        }
        let buf = &mut buf[..need];
        buf[field::VER_TYPE] = (self.version.number() << 4) | MessageType::Advertisement.to_wire();
        buf[field::VRID] = self.vrid;
        buf[field::PRIORITY] = self.priority;
        buf[field::COUNT] = self.addresses.len() as u8;
        match self.version {
            Version::V2 => {
                let secs = self.interval.as_secs();
                if self.interval.subsec_nanos() != 0 || !(1..=255).contains(&secs) {
                    return Err(EmitError::Interval(self.interval));
                }
                buf[field::AUTH_TYPE] = self.auth_type.to_wire();
                buf[field::ADVER_INT] = secs as u8;
            }
            Version::V3 => {
                let cs = self.interval.as_millis() / 10;
                if self.interval.as_nanos() % 10_000_000 != 0 || !(1..=u128::from(V3_MAX_INTERVAL_CS)).contains(&cs) {
                    return Err(EmitError::Interval(self.interval));
                }
                buf[field::MAX_ADVER_INT].copy_from_slice(&(cs as u16).to_be_bytes());
            }
        }
        buf[field::CHECKSUM].fill(0);
        let mut off = field::ADDRESSES;
        for a in &self.addresses {
            match a {
                IpAddr::V4(v4) => {
                    buf[off..off + 4].copy_from_slice(&v4.octets());
                    off += 4;
                }
                IpAddr::V6(v6) => {
                    buf[off..off + 16].copy_from_slice(&v6.octets());
                    off += 16;
                }
            }
        }
        if self.version == Version::V2 {
            buf[off..off + V2_AUTH_LEN].copy_from_slice(&self.auth_data);
        }
        let c = checksum(buf, self.version, src, dst, mode);
        buf[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        Ok(need)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| panic!("{s}"))
    }

    #[test]
    fn v2_known_bytes() {
        // VRID 51, prio 100, 1 address, PASS "1111", interval 1.
        let a = Advert {
            version: Version::V2,
            vrid: 51,
            priority: 100,
            interval: Duration::from_secs(1),
            auth_type: AuthType::Pass,
            auth_data: *b"1111\0\0\0\0",
            addresses: vec![v4("192.168.200.16")],
        };
        let mut buf = [0u8; 64];
        let n = a
            .emit(&mut buf, v4("10.0.0.1"), v4("224.0.0.18"), ChecksumMode::PseudoHeader)
            .unwrap_or(0);
        assert_eq!(n, 20);
        assert_eq!(&buf[..6], &[0x21, 51, 100, 1, 1, 1]);
        let p = AdvertPacket::new_checked(&buf[..n], Family::V4).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            p.checksum_ok(v4("1.2.3.4"), v4("5.6.7.8"), ChecksumMode::PseudoHeader),
            "v2 ignores addresses"
        );
        assert_eq!(Advert::parse(&p), a);
    }

    #[test]
    fn v3_ipv4_checksum_forms_differ_and_each_verifies() {
        let a = Advert {
            version: Version::V3,
            vrid: 1,
            priority: 200,
            interval: Duration::from_millis(100),
            auth_type: AuthType::None,
            auth_data: [0; 8],
            addresses: vec![v4("10.0.0.100")],
        };
        let (src, dst) = (v4("10.0.0.2"), v4("224.0.0.18"));
        let mut b1 = [0u8; 32];
        let mut b2 = [0u8; 32];
        let n = a.emit(&mut b1, src, dst, ChecksumMode::PseudoHeader).unwrap_or(0);
        a.emit(&mut b2, src, dst, ChecksumMode::MessageOnly).unwrap_or(0);
        assert_ne!(b1[6..8], b2[6..8]);
        let p1 = AdvertPacket::new_checked(&b1[..n], Family::V4).unwrap_or_else(|e| panic!("{e}"));
        assert!(p1.checksum_ok(src, dst, ChecksumMode::PseudoHeader));
        assert!(!p1.checksum_ok(src, dst, ChecksumMode::MessageOnly));
        assert!(p1.checksum_ok_other_form(src, dst, ChecksumMode::MessageOnly));
        assert_eq!(p1.interval_cs(), 10);
    }

    #[test]
    fn errors_not_panics() {
        assert!(matches!(
            AdvertPacket::new_checked(&[0x21, 1, 100], Family::V4),
            Err(DecodeError::Truncated { .. })
        ));
        assert_eq!(
            AdvertPacket::new_checked(&[0x41, 1, 100, 0, 0, 1, 0, 0], Family::V4).err(),
            Some(DecodeError::Version(4))
        );
        assert_eq!(
            AdvertPacket::new_checked(&[0x21, 1, 100, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], Family::V6).err(),
            Some(DecodeError::V2OverIpv6)
        );
        let mut small = [0u8; 4];
        let a = Advert {
            version: Version::V3,
            vrid: 1,
            priority: 1,
            interval: Duration::from_secs(1),
            auth_type: AuthType::None,
            auth_data: [0; 8],
            addresses: vec![v4("1.1.1.1")],
        };
        assert!(matches!(
            a.emit(&mut small, v4("1.1.1.2"), v4("224.0.0.18"), ChecksumMode::PseudoHeader),
            Err(EmitError::BufferTooSmall { .. })
        ));
        let mut a2 = a.clone();
        a2.interval = Duration::from_millis(5);
        let mut buf = [0u8; 64];
        assert!(matches!(
            a2.emit(&mut buf, v4("1.1.1.2"), v4("224.0.0.18"), ChecksumMode::PseudoHeader),
            Err(EmitError::Interval(_))
        ));
    }

    fn arb_advert() -> impl Strategy<Value = (Advert, IpAddr, IpAddr)> {
        (
            any::<bool>(),
            any::<bool>(),
            any::<u8>(),
            any::<u8>(),
            1u16..=4095,
            any::<u8>(),
            any::<[u8; 8]>(),
            1usize..20,
            any::<u64>(),
        )
            .prop_map(|(v3, six, vrid, prio, cs, at, ad, n, seed)| {
                let v3 = v3 || six;
                let mk = |i: u64| -> IpAddr {
                    if six {
                        IpAddr::V6(Ipv6Addr::from(u128::from(seed.wrapping_add(i)) << 64 | u128::from(i)))
                    } else {
                        IpAddr::V4(Ipv4Addr::from((seed as u32).wrapping_add(i as u32)))
                    }
                };
                let addrs: Vec<IpAddr> = (0..n as u64).map(mk).collect();
                let advert = Advert {
                    version: if v3 { Version::V3 } else { Version::V2 },
                    vrid,
                    priority: prio,
                    interval: if v3 {
                        Duration::from_millis(u64::from(cs) * 10)
                    } else {
                        Duration::from_secs(u64::from(cs % 255 + 1))
                    },
                    auth_type: if v3 { AuthType::None } else { AuthType::from_wire(at) },
                    auth_data: if v3 { [0; 8] } else { ad },
                    addresses: addrs,
                };
                (advert, mk(1000), mk(2000))
            })
    }

    proptest! {
        #[test]
        fn emit_then_decode_round_trips((a, src, dst) in arb_advert(), other_form in any::<bool>()) {
            let mode = if other_form { ChecksumMode::MessageOnly } else { ChecksumMode::PseudoHeader };
            let mut buf = vec![0u8; 4096];
            let n = a.emit(&mut buf, src, dst, mode).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let p = AdvertPacket::new_checked(&buf[..n], a.family()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(p.checksum_ok(src, dst, mode));
            prop_assert_eq!(Advert::parse(&p), a);
        }

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600), six in any::<bool>()) {
            let fam = if six { Family::V6 } else { Family::V4 };
            if let Ok(p) = AdvertPacket::new_checked(&bytes, fam) {
                let _ = Advert::parse(&p);
                let _ = p.checksum_ok(IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V4(Ipv4Addr::LOCALHOST), ChecksumMode::PseudoHeader);
                prop_assert!(p.message().len() <= bytes.len());
            }
        }
    }
}
