//! The kernel's IPVS table over its generic-netlink family ("IPVS").
//!
//! Two halves: a pure codec from the table's [`Command`]s to IPVS messages
//! and back from dumps (unit-tested byte for byte), and [`IpvsSocket`],
//! the one place that talks to the kernel. netlink-packet-generic gives
//! the generic-netlink header and the family lookup; the IPVS attributes
//! (linux/ip_vs.h) are written here, as that crate has none.

use std::io;
use std::net::{IpAddr, SocketAddr};

use netlink_packet_core::{
    DecodeError, Emitable, NetlinkMessage, NetlinkPayload, Nla, NlaBuffer, NlasIterator, ParseableParametrized,
    NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_generic::ctrl::nlas::GenlCtrlAttrs;
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::{GenlFamily, GenlHeader, GenlMessage};
use netlink_sys::{protocols::NETLINK_GENERIC, Socket, SocketAddr as NlAddr};

use crate::config::lvs::{Forward, TunnelType};
use crate::lvs::table::{Command, DestSpec, Service, ServiceKey, ServiceSpec, Table};

/// linux/ip_vs.h
mod abi {
    pub const FAMILY: &str = "IPVS";
    pub const VERSION: u8 = 1;

    pub const CMD_NEW_SERVICE: u8 = 1;
    pub const CMD_SET_SERVICE: u8 = 2;
    pub const CMD_DEL_SERVICE: u8 = 3;
    pub const CMD_GET_SERVICE: u8 = 4;
    pub const CMD_NEW_DEST: u8 = 5;
    pub const CMD_SET_DEST: u8 = 6;
    pub const CMD_DEL_DEST: u8 = 7;
    pub const CMD_GET_DEST: u8 = 8;
    pub const CMD_SET_CONFIG: u8 = 12;
    pub const CMD_FLUSH: u8 = 17;

    pub const ATTR_SERVICE: u16 = 1;
    pub const ATTR_DEST: u16 = 2;
    pub const ATTR_TIMEOUT_TCP: u16 = 4;
    pub const ATTR_TIMEOUT_TCP_FIN: u16 = 5;
    pub const ATTR_TIMEOUT_UDP: u16 = 6;

    pub const SVC_AF: u16 = 1;
    pub const SVC_PROTOCOL: u16 = 2;
    pub const SVC_ADDR: u16 = 3;
    pub const SVC_PORT: u16 = 4;
    pub const SVC_FWMARK: u16 = 5;
    pub const SVC_SCHED_NAME: u16 = 6;
    pub const SVC_FLAGS: u16 = 7;
    pub const SVC_TIMEOUT: u16 = 8;
    pub const SVC_NETMASK: u16 = 9;
    pub const SVC_STATS: u16 = 10;
    pub const SVC_PE_NAME: u16 = 11;

    pub const DEST_ADDR: u16 = 1;
    pub const DEST_PORT: u16 = 2;
    pub const DEST_FWD_METHOD: u16 = 3;
    pub const DEST_WEIGHT: u16 = 4;
    pub const DEST_U_THRESH: u16 = 5;
    pub const DEST_L_THRESH: u16 = 6;
    pub const DEST_ACTIVE_CONNS: u16 = 7;
    pub const DEST_INACT_CONNS: u16 = 8;
    pub const DEST_STATS: u16 = 10;
    pub const DEST_ADDR_FAMILY: u16 = 11;
    pub const DEST_TUN_TYPE: u16 = 13;
    pub const DEST_TUN_PORT: u16 = 14;
    pub const DEST_TUN_FLAGS: u16 = 15;

    pub const STATS_CONNS: u16 = 1;
    pub const STATS_INPKTS: u16 = 2;
    pub const STATS_OUTPKTS: u16 = 3;
    pub const STATS_INBYTES: u16 = 4;
    pub const STATS_OUTBYTES: u16 = 5;

    pub const AF_INET: u16 = 2;
    pub const AF_INET6: u16 = 10;
    /// The service flags a request may set (IP_VS_SVC_F_HASHED is the
    /// kernel's own).
    pub const SVC_FLAGS_MASK: u32 = !0x2;
    pub const NLA_F_NESTED: u16 = 1 << 15;
}

/// One attribute to send: a number, bytes, a string or a nest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attr {
    U8(u16, u8),
    U16(u16, u16),
    /// A 16-bit number in network byte order (ports).
    Be16(u16, u16),
    U32(u16, u32),
    Bytes(u16, Vec<u8>),
    /// NUL-terminated.
    Str(u16, String),
    Nested(u16, Vec<Attr>),
}

impl Nla for Attr {
    fn value_len(&self) -> usize {
        match self {
            Attr::U8(..) => 1,
            Attr::U16(..) | Attr::Be16(..) => 2,
            Attr::U32(..) => 4,
            Attr::Bytes(_, b) => b.len(),
            Attr::Str(_, s) => s.len() + 1,
            Attr::Nested(_, v) => v.as_slice().buffer_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            Attr::U8(k, _)
            | Attr::U16(k, _)
            | Attr::Be16(k, _)
            | Attr::U32(k, _)
            | Attr::Bytes(k, _)
            | Attr::Str(k, _) => *k,
            Attr::Nested(k, _) => *k | abi::NLA_F_NESTED,
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        match self {
            Attr::U8(_, v) => buf[0] = *v,
            Attr::U16(_, v) => buf[..2].copy_from_slice(&v.to_ne_bytes()),
            Attr::Be16(_, v) => buf[..2].copy_from_slice(&v.to_be_bytes()),
            Attr::U32(_, v) => buf[..4].copy_from_slice(&v.to_ne_bytes()),
            Attr::Bytes(_, b) => buf[..b.len()].copy_from_slice(b),
            Attr::Str(_, s) => {
                buf[..s.len()].copy_from_slice(s.as_bytes());
                buf[s.len()] = 0;
            }
            Attr::Nested(_, v) => v.as_slice().emit(buf),
        }
    }
}

/// A received attribute: its type (without the nested flag) and value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAttr {
    pub kind: u16,
    pub value: Vec<u8>,
}

/// An IPVS generic-netlink payload: a command and its attributes; replies
/// keep their attributes raw for [`parse_service`] and [`parse_dest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpvsMessage {
    pub cmd: u8,
    pub attrs: Vec<Attr>,
    pub raw: Vec<RawAttr>,
}

impl IpvsMessage {
    fn new(cmd: u8, attrs: Vec<Attr>) -> Self {
        IpvsMessage {
            cmd,
            attrs,
            raw: Vec::new(),
        }
    }
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        abi::FAMILY
    }
    fn command(&self) -> u8 {
        self.cmd
    }
    fn version(&self) -> u8 {
        abi::VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        self.attrs.as_slice().buffer_len()
    }
    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        Ok(IpvsMessage {
            cmd: header.cmd,
            attrs: Vec::new(),
            raw: raw_attrs(buf)?,
        })
    }
}

fn raw_attrs(buf: &[u8]) -> Result<Vec<RawAttr>, DecodeError> {
    let mut out = Vec::new();
    for nla in NlasIterator::new(buf) {
        let nla: NlaBuffer<&[u8]> = nla?;
        out.push(RawAttr {
            kind: nla.kind() & !abi::NLA_F_NESTED,
            value: nla.value().to_vec(),
        });
    }
    Ok(out)
}

fn family(ipv6: bool) -> u16 {
    if ipv6 {
        abi::AF_INET6
    } else {
        abi::AF_INET
    }
}

/// An address as IPVS carries it: 16 bytes (union nf_inet_addr).
fn addr_bytes(a: IpAddr) -> Vec<u8> {
    let mut b = vec![0u8; 16];
    match a {
        IpAddr::V4(v4) => b[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => b.copy_from_slice(&v6.octets()),
    }
    b
}

/// The attributes that name a service.
fn service_key_attrs(key: &ServiceKey) -> Vec<Attr> {
    match *key {
        ServiceKey::Addr { protocol, addr, port } => vec![
            Attr::U16(abi::SVC_AF, family(addr.is_ipv6())),
            Attr::U16(abi::SVC_PROTOCOL, protocol),
            Attr::Bytes(abi::SVC_ADDR, addr_bytes(addr)),
            Attr::Be16(abi::SVC_PORT, port),
        ],
        ServiceKey::Fwmark { mark, ipv6 } => {
            vec![Attr::U16(abi::SVC_AF, family(ipv6)), Attr::U32(abi::SVC_FWMARK, mark)]
        }
    }
}

/// IPv4 granularity is a netmask in network byte order; IPv6's a prefix
/// length, as a plain number (as ipvsadm sends them).
fn netmask_attr(ipv6: bool, netmask: u32) -> Attr {
    if ipv6 {
        Attr::U32(abi::SVC_NETMASK, netmask)
    } else {
        Attr::Bytes(abi::SVC_NETMASK, netmask.to_be_bytes().to_vec())
    }
}

fn service_attr(key: &ServiceKey, spec: Option<&ServiceSpec>) -> Attr {
    let mut a = service_key_attrs(key);
    if let Some(s) = spec {
        a.push(Attr::Str(abi::SVC_SCHED_NAME, s.sched.clone()));
        if let Some(pe) = &s.pe_name {
            a.push(Attr::Str(abi::SVC_PE_NAME, pe.clone()));
        }
        // struct ip_vs_flags { __u32 flags; __u32 mask; }
        let mut flags = s.flags.to_ne_bytes().to_vec();
        flags.extend_from_slice(&abi::SVC_FLAGS_MASK.to_ne_bytes());
        a.push(Attr::Bytes(abi::SVC_FLAGS, flags));
        a.push(Attr::U32(abi::SVC_TIMEOUT, s.timeout));
        a.push(netmask_attr(key.ipv6(), s.netmask));
    }
    Attr::Nested(abi::ATTR_SERVICE, a)
}

fn dest_attr(addr: SocketAddr, d: Option<&DestSpec>) -> Attr {
    let mut a = vec![
        Attr::Bytes(abi::DEST_ADDR, addr_bytes(addr.ip())),
        Attr::Be16(abi::DEST_PORT, addr.port()),
        Attr::U16(abi::DEST_ADDR_FAMILY, family(addr.is_ipv6())),
    ];
    if let Some(d) = d {
        a.push(Attr::U32(abi::DEST_FWD_METHOD, d.forward_code()));
        a.push(Attr::U32(abi::DEST_WEIGHT, d.weight));
        a.push(Attr::U32(abi::DEST_U_THRESH, d.uthreshold));
        a.push(Attr::U32(abi::DEST_L_THRESH, d.lthreshold));
        if let Some((kind, port, flags)) = d.tunnel() {
            a.push(Attr::U8(abi::DEST_TUN_TYPE, kind));
            a.push(Attr::Be16(abi::DEST_TUN_PORT, port));
            a.push(Attr::U16(abi::DEST_TUN_FLAGS, flags));
        }
    }
    Attr::Nested(abi::ATTR_DEST, a)
}

/// The IPVS request for one table command.
pub fn encode(cmd: &Command) -> IpvsMessage {
    match cmd {
        Command::AddService(k, s) => IpvsMessage::new(abi::CMD_NEW_SERVICE, vec![service_attr(k, Some(s))]),
        Command::EditService(k, s) => IpvsMessage::new(abi::CMD_SET_SERVICE, vec![service_attr(k, Some(s))]),
        Command::DelService(k) => IpvsMessage::new(abi::CMD_DEL_SERVICE, vec![service_attr(k, None)]),
        Command::AddDest(k, a, d) => {
            IpvsMessage::new(abi::CMD_NEW_DEST, vec![service_attr(k, None), dest_attr(*a, Some(d))])
        }
        Command::EditDest(k, a, d) => {
            IpvsMessage::new(abi::CMD_SET_DEST, vec![service_attr(k, None), dest_attr(*a, Some(d))])
        }
        Command::DelDest(k, a) => IpvsMessage::new(abi::CMD_DEL_DEST, vec![service_attr(k, None), dest_attr(*a, None)]),
    }
}

/// `lvs_timeouts`: IPVS's connection timeouts (0 leaves one unchanged).
pub fn encode_timeouts(tcp: u32, tcpfin: u32, udp: u32) -> IpvsMessage {
    IpvsMessage::new(
        abi::CMD_SET_CONFIG,
        vec![
            Attr::U32(abi::ATTR_TIMEOUT_TCP, tcp),
            Attr::U32(abi::ATTR_TIMEOUT_TCP_FIN, tcpfin),
            Attr::U32(abi::ATTR_TIMEOUT_UDP, udp),
        ],
    )
}

/// Traffic counters IPVS keeps per service and destination.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub conns: u32,
    pub in_packets: u32,
    pub out_packets: u32,
    pub in_bytes: u64,
    pub out_bytes: u64,
}

/// A destination as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestInfo {
    pub addr: SocketAddr,
    pub spec: DestSpec,
    pub active_conns: u32,
    pub inactive_conns: u32,
    pub stats: Stats,
}

fn get(attrs: &[RawAttr], kind: u16) -> Option<&[u8]> {
    attrs.iter().find(|a| a.kind == kind).map(|a| a.value.as_slice())
}

fn u16_of(b: Option<&[u8]>) -> Option<u16> {
    b.and_then(|b| b.get(..2)).map(|b| u16::from_ne_bytes([b[0], b[1]]))
}
fn be16_of(b: Option<&[u8]>) -> Option<u16> {
    b.and_then(|b| b.get(..2)).map(|b| u16::from_be_bytes([b[0], b[1]]))
}
fn u32_of(b: Option<&[u8]>) -> Option<u32> {
    b.and_then(|b| b.get(..4))
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
}
fn u64_of(b: Option<&[u8]>) -> Option<u64> {
    let b = b?.get(..8)?;
    let mut x = [0u8; 8];
    x.copy_from_slice(b);
    Some(u64::from_ne_bytes(x))
}
fn ip_of(b: Option<&[u8]>, af: u16) -> Option<IpAddr> {
    let b = b?;
    match af {
        abi::AF_INET => {
            let o: [u8; 4] = b.get(..4)?.try_into().ok()?;
            Some(IpAddr::V4(o.into()))
        }
        abi::AF_INET6 => {
            let o: [u8; 16] = b.get(..16)?.try_into().ok()?;
            Some(IpAddr::V6(o.into()))
        }
        _ => None,
    }
}

fn stats_of(b: Option<&[u8]>) -> Stats {
    let Some(raw) = b.and_then(|b| raw_attrs(b).ok()) else {
        return Stats::default();
    };
    Stats {
        conns: u32_of(get(&raw, abi::STATS_CONNS)).unwrap_or(0),
        in_packets: u32_of(get(&raw, abi::STATS_INPKTS)).unwrap_or(0),
        out_packets: u32_of(get(&raw, abi::STATS_OUTPKTS)).unwrap_or(0),
        in_bytes: u64_of(get(&raw, abi::STATS_INBYTES)).unwrap_or(0),
        out_bytes: u64_of(get(&raw, abi::STATS_OUTBYTES)).unwrap_or(0),
    }
}

/// A service of a GET_SERVICE dump; `None` for a malformed one.
pub fn parse_service(msg: &IpvsMessage) -> Option<(ServiceKey, ServiceSpec, Stats)> {
    let svc = raw_attrs(get(&msg.raw, abi::ATTR_SERVICE)?).ok()?;
    let af = u16_of(get(&svc, abi::SVC_AF))?;
    let key = match u32_of(get(&svc, abi::SVC_FWMARK)).filter(|m| *m != 0) {
        Some(mark) => ServiceKey::Fwmark {
            mark,
            ipv6: af == abi::AF_INET6,
        },
        None => ServiceKey::Addr {
            protocol: u16_of(get(&svc, abi::SVC_PROTOCOL))?,
            addr: ip_of(get(&svc, abi::SVC_ADDR), af)?,
            port: be16_of(get(&svc, abi::SVC_PORT))?,
        },
    };
    let sched = get(&svc, abi::SVC_SCHED_NAME)
        .map(|b| String::from_utf8_lossy(b.split(|c| *c == 0).next().unwrap_or(b)).into_owned())
        .unwrap_or_default();
    let pe_name = get(&svc, abi::SVC_PE_NAME)
        .map(|b| String::from_utf8_lossy(b.split(|c| *c == 0).next().unwrap_or(b)).into_owned())
        .filter(|s| !s.is_empty());
    let flags = u32_of(get(&svc, abi::SVC_FLAGS)).unwrap_or(0) & abi::SVC_FLAGS_MASK;
    let spec = ServiceSpec {
        sched,
        flags,
        timeout: u32_of(get(&svc, abi::SVC_TIMEOUT)).unwrap_or(0),
        netmask: match get(&svc, abi::SVC_NETMASK).and_then(|b| b.get(..4)) {
            Some(b) if !key.ipv6() => u32::from_be_bytes([b[0], b[1], b[2], b[3]]),
            other => u32_of(other).unwrap_or(0),
        },
        pe_name,
    };
    Some((key, spec, stats_of(get(&svc, abi::SVC_STATS))))
}

/// A destination of a GET_DEST dump; `None` for a malformed one.
pub fn parse_dest(msg: &IpvsMessage, svc_ipv6: bool) -> Option<DestInfo> {
    let d = raw_attrs(get(&msg.raw, abi::ATTR_DEST)?).ok()?;
    let af = u16_of(get(&d, abi::DEST_ADDR_FAMILY)).unwrap_or(family(svc_ipv6));
    let ip = ip_of(get(&d, abi::DEST_ADDR), af)?;
    let port = be16_of(get(&d, abi::DEST_PORT))?;
    let fwd = u32_of(get(&d, abi::DEST_FWD_METHOD)).unwrap_or(0) & 0x7;
    let tun_type = get(&d, abi::DEST_TUN_TYPE)
        .and_then(|b| b.first().copied())
        .unwrap_or(0);
    let tun_port = be16_of(get(&d, abi::DEST_TUN_PORT)).unwrap_or(0);
    let tun_flags = u16_of(get(&d, abi::DEST_TUN_FLAGS)).unwrap_or(0);
    let forward = match fwd {
        2 => Forward::Tun {
            kind: match tun_type {
                1 => TunnelType::Gue { port: tun_port },
                2 => TunnelType::Gre,
                _ => TunnelType::Ipip,
            },
            csum: tun_flags,
        },
        3 => Forward::Dr,
        _ => Forward::Nat,
    };
    Some(DestInfo {
        addr: SocketAddr::new(ip, port),
        spec: DestSpec {
            forward,
            weight: u32_of(get(&d, abi::DEST_WEIGHT)).unwrap_or(0),
            uthreshold: u32_of(get(&d, abi::DEST_U_THRESH)).unwrap_or(0),
            lthreshold: u32_of(get(&d, abi::DEST_L_THRESH)).unwrap_or(0),
        },
        active_conns: u32_of(get(&d, abi::DEST_ACTIVE_CONNS)).unwrap_or(0),
        inactive_conns: u32_of(get(&d, abi::DEST_INACT_CONNS)).unwrap_or(0),
        stats: stats_of(get(&d, abi::DEST_STATS)),
    })
}

/// A service of a dump with its counters and destinations.
pub type ServiceInfo = (ServiceKey, Stats, Vec<DestInfo>);

/// Why IPVS cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum IpvsError {
    #[error("the kernel has no IPVS (generic netlink family \"IPVS\" not found); load it with 'modprobe ip_vs'")]
    NoIpvs,
    #[error("IPVS netlink: {0}")]
    Io(#[from] io::Error),
    #[error("IPVS netlink: malformed reply: {0}")]
    Decode(String),
}

/// The socket to the kernel's IPVS: blocking, one request at a time, each
/// acknowledged (an IPVS request takes microseconds).
pub struct IpvsSocket {
    socket: Socket,
    family: u16,
    seq: u32,
    buf: Vec<u8>,
}

impl IpvsSocket {
    pub fn open() -> Result<Self, IpvsError> {
        let mut socket = Socket::new(NETLINK_GENERIC)?;
        socket.bind_auto()?;
        socket.connect(&NlAddr::new(0, 0))?;
        let mut s = IpvsSocket {
            socket,
            family: 0,
            seq: 0,
            buf: vec![0u8; 65536],
        };
        s.family = s.resolve_family()?;
        Ok(s)
    }

    fn resolve_family(&mut self) -> Result<u16, IpvsError> {
        let msg = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::GetFamily,
            nlas: vec![GenlCtrlAttrs::FamilyName(abi::FAMILY.to_string())],
        });
        let mut nl = NetlinkMessage::from(msg);
        nl.header.flags = NLM_F_REQUEST | NLM_F_ACK;
        self.seq += 1;
        nl.header.sequence_number = self.seq;
        nl.finalize();
        let mut out = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut out);
        self.socket.send(&out, 0)?;
        let mut id = None;
        loop {
            let n = self.socket.recv(&mut &mut self.buf[..], 0)?;
            let mut off = 0;
            while off < n {
                let m = NetlinkMessage::<GenlMessage<GenlCtrl>>::deserialize(&self.buf[off..n])
                    .map_err(|e| IpvsError::Decode(e.to_string()))?;
                let len = m.header.length as usize;
                match m.payload {
                    NetlinkPayload::InnerMessage(g) => {
                        id = g.payload.nlas.iter().find_map(|a| match a {
                            GenlCtrlAttrs::FamilyId(i) => Some(*i),
                            _ => None,
                        });
                    }
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => id.ok_or(IpvsError::NoIpvs),
                            Some(_) => Err(IpvsError::NoIpvs),
                        };
                    }
                    NetlinkPayload::Done(_) => return id.ok_or(IpvsError::NoIpvs),
                    _ => {}
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
    }

    /// Sends one request; `dump` collects the replies.
    fn request(&mut self, msg: IpvsMessage, dump: bool) -> Result<Vec<IpvsMessage>, IpvsError> {
        let mut g = GenlMessage::from_payload(msg);
        g.set_resolved_family_id(self.family);
        let mut nl = NetlinkMessage::from(g);
        nl.header.flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { NLM_F_ACK };
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        nl.header.sequence_number = seq;
        nl.finalize();
        let mut out = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut out);
        self.socket.send(&out, 0)?;
        let mut replies = Vec::new();
        loop {
            let n = self.socket.recv(&mut &mut self.buf[..], 0)?;
            let mut off = 0;
            while off < n {
                let m = NetlinkMessage::<GenlMessage<IpvsMessage>>::deserialize(&self.buf[off..n])
                    .map_err(|e| IpvsError::Decode(e.to_string()))?;
                let len = m.header.length as usize;
                if m.header.sequence_number == seq {
                    match m.payload {
                        NetlinkPayload::InnerMessage(g) => replies.push(g.payload),
                        NetlinkPayload::Error(e) => {
                            return match e.code {
                                None => Ok(replies),
                                Some(c) => Err(IpvsError::Io(io::Error::from_raw_os_error(-c.get()))),
                            };
                        }
                        NetlinkPayload::Done(_) => return Ok(replies),
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                off += len;
            }
        }
    }

    pub fn execute(&mut self, cmd: &Command) -> Result<(), IpvsError> {
        self.request(encode(cmd), false).map(|_| ())
    }

    pub fn set_timeouts(&mut self, tcp: u32, tcpfin: u32, udp: u32) -> Result<(), IpvsError> {
        self.request(encode_timeouts(tcp, tcpfin, udp), false).map(|_| ())
    }

    /// `lvs_flush`: every service and destination goes.
    pub fn flush(&mut self) -> Result<(), IpvsError> {
        self.request(IpvsMessage::new(abi::CMD_FLUSH, Vec::new()), false)
            .map(|_| ())
    }

    /// The kernel's whole table, with counters.
    pub fn dump(&mut self) -> Result<(Table, Vec<ServiceInfo>), IpvsError> {
        let mut table = Table::default();
        let mut detail = Vec::new();
        for m in self.request(IpvsMessage::new(abi::CMD_GET_SERVICE, Vec::new()), true)? {
            let Some((key, spec, stats)) = parse_service(&m) else {
                continue;
            };
            let dests: Vec<DestInfo> = self
                .request(
                    IpvsMessage::new(abi::CMD_GET_DEST, vec![service_attr(&key, None)]),
                    true,
                )?
                .iter()
                .filter_map(|d| parse_dest(d, key.ipv6()))
                .collect();
            table.services.insert(
                key,
                Service {
                    spec,
                    dests: dests.iter().map(|d| (d.addr, d.spec)).collect(),
                },
            );
            detail.push((key, stats, dests));
        }
        Ok((table, detail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(m: &IpvsMessage) -> Vec<u8> {
        let mut b = vec![0u8; m.buffer_len()];
        m.emit(&mut b);
        b
    }

    fn key() -> ServiceKey {
        ServiceKey::Addr {
            protocol: 6,
            addr: "10.0.0.100".parse().unwrap(),
            port: 80,
        }
    }

    #[test]
    fn a_delete_names_the_service_only() {
        let m = encode(&Command::DelService(key()));
        assert_eq!(m.cmd, 3);
        #[rustfmt::skip]
        let want: Vec<u8> = vec![
            // nested IPVS_CMD_ATTR_SERVICE (1 | NLA_F_NESTED), 4 + 8 + 8 + 20 + 8 = 48 bytes
            48, 0, 1, 0x80,
            6, 0, 1, 0, 2, 0, 0, 0,            // AF = AF_INET (padded)
            6, 0, 2, 0, 6, 0, 0, 0,            // PROTOCOL = TCP
            20, 0, 3, 0, 10, 0, 0, 100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // ADDR
            6, 0, 4, 0, 0, 80, 0, 0,           // PORT, network order
        ];
        assert_eq!(bytes(&m), want);
    }

    #[test]
    fn a_new_destination_carries_method_weight_and_thresholds() {
        let d = DestSpec {
            forward: Forward::Dr,
            weight: 3,
            uthreshold: 100,
            lthreshold: 10,
        };
        let m = encode(&Command::AddDest(key(), "10.0.0.2:8080".parse().unwrap(), d));
        assert_eq!(m.cmd, 5);
        let b = bytes(&m);
        // The dest nest follows the 48-byte service nest.
        let dest = &b[48..];
        assert_eq!(&dest[2..4], &[2, 0x80], "IPVS_CMD_ATTR_DEST, nested");
        let raw = raw_attrs(&dest[4..]).unwrap();
        assert_eq!(get(&raw, 2), Some(&[0x1f, 0x90][..]), "port 8080 in network order");
        assert_eq!(u32_of(get(&raw, 3)), Some(3), "IP_VS_CONN_F_DROUTE");
        assert_eq!(u32_of(get(&raw, 4)), Some(3));
        assert_eq!(u32_of(get(&raw, 5)), Some(100));
        assert_eq!(u32_of(get(&raw, 6)), Some(10));
    }

    #[test]
    fn a_service_round_trips_through_the_dump_parser() {
        let spec = ServiceSpec {
            sched: "wrr".into(),
            flags: 1,
            timeout: 50,
            netmask: 0xffff_ff00,
            pe_name: None,
        };
        let mut raw_mask = None;
        for k in [
            key(),
            ServiceKey::Fwmark { mark: 7, ipv6: true },
            ServiceKey::Addr {
                protocol: 17,
                addr: "fd00::100".parse().unwrap(),
                port: 53,
            },
        ] {
            let m = encode(&Command::AddService(k, spec.clone()));
            if k == key() {
                raw_mask = Some(bytes(&m));
            }
            let reply = IpvsMessage {
                cmd: 1,
                attrs: Vec::new(),
                raw: raw_attrs(&bytes(&m)).unwrap(),
            };
            let (k2, s2, _) = parse_service(&reply).unwrap();
            assert_eq!((k2, s2), (k, spec.clone()));
        }
        // 255.255.255.0 goes on the wire as its four octets in order.
        let b = raw_mask.unwrap();
        assert!(b.windows(8).any(|w| w == [8, 0, 9, 0, 255, 255, 255, 0]), "{b:?}");
    }

    #[test]
    fn a_tunnelled_destination_round_trips() {
        let d = DestSpec {
            forward: Forward::Tun {
                kind: TunnelType::Gue { port: 6080 },
                csum: 1,
            },
            weight: 1,
            uthreshold: 0,
            lthreshold: 0,
        };
        let addr: SocketAddr = "[fd00::2]:80".parse().unwrap();
        let m = encode(&Command::AddDest(key(), addr, d));
        let reply = IpvsMessage {
            cmd: 5,
            attrs: Vec::new(),
            raw: raw_attrs(&bytes(&m)).unwrap(),
        };
        let got = parse_dest(&reply, false).unwrap();
        assert_eq!((got.addr, got.spec), (addr, d));
    }

    #[test]
    fn garbage_replies_are_rejected_not_panicked_on() {
        for junk in [&[][..], &[1, 2, 3][..], &[8, 0, 1, 0x80, 0xff, 0xff, 0xff, 0xff][..]] {
            let reply = IpvsMessage {
                cmd: 1,
                attrs: Vec::new(),
                raw: raw_attrs(junk).unwrap_or_default(),
            };
            assert!(parse_service(&reply).is_none());
            assert!(parse_dest(&reply, false).is_none());
        }
    }
}
