//! Peeling a captured frame into its layers, the way the textbook draws a
//! packet: a link-layer header (Ethernet, or Linux's "cooked" header),
//! inside it a network-layer header (IPv4 or IPv6), inside that a transport
//! header (TCP, UDP or ICMP), and what is left is the application's bytes.
//!
//! The parsing is etherparse's `LaxSlicedPacket`: "lax" because it keeps
//! what it could decode when a packet is cut short or broken, and reports
//! where it stopped. A capture sees every kind of broken packet, so nothing
//! here may panic or trust a length field: the payload we report is always
//! a slice of the bytes we were given (the fuzz target and a property test
//! check exactly that).

use std::net::{IpAddr, SocketAddr};

use etherparse::{EtherType, LaxNetSlice, LaxSlicedPacket, LinkSlice, TransportSlice};

/// How a frame starts: the pcap "link type" of the capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkType {
    /// An Ethernet header (pcap's LINKTYPE_ETHERNET, 1); `lo` uses it too,
    /// with all-zero addresses.
    Ethernet,
    /// Linux's 16-byte "cooked" header (LINKTYPE_LINUX_SLL, 113), what
    /// `tcpdump -i any` writes: which way the packet went and its protocol,
    /// since the interfaces' own headers differ.
    LinuxSll,
    /// No link header at all: the frame is an IP packet (LINKTYPE_RAW, 101).
    RawIp,
}

/// One frame, decoded as far as its bytes allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<'a> {
    pub link: Link,
    pub net: Net,
    pub transport: Transport,
    /// The application's bytes: what is left inside the innermost header we
    /// decoded. Always a slice of the frame, never longer than what it holds.
    pub payload: &'a [u8],
    /// What stopped the decoding, or what is missing ("truncated: ...").
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    Ethernet {
        src: [u8; 6],
        dst: [u8; 6],
        ether_type: u16,
    },
    Cooked {
        /// Which way: 0 to us, 1 broadcast, 2 multicast, 3 to another host,
        /// 4 sent by us (the `sll_pkttype` of `packet(7)`).
        packet_type: u16,
        ha_type: u16,
        protocol: u16,
    },
    Raw,
    /// The frame was too short for its link header.
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Net {
    Ip(Ip),
    Arp,
    /// Another EtherType (the number), not decoded here.
    Other(u16),
    None,
}

/// The network-layer fields a textbook shows for IPv4 and IPv6.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ip {
    pub version: u8,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// TTL (IPv4) or hop limit (IPv6): routers decrement it.
    pub ttl: u8,
    /// The transport protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6),
    /// after any IPv6 extension headers.
    pub protocol: u8,
    pub header_len: usize,
    /// The packet's length as its header claims it (header included).
    pub total_len: usize,
    /// IPv4 only: identification, don't fragment, more fragments.
    pub id: u16,
    pub dont_fragment: bool,
    pub more_fragments: bool,
    /// In bytes; non-zero for every fragment but the first.
    pub fragment_offset: u32,
    /// The packet is a fragment: its transport header may be elsewhere.
    pub fragment: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    Tcp(Tcp),
    Udp(Udp),
    Icmp(Icmp),
    /// Another IP protocol (the number), not decoded here.
    Other(u8),
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tcp {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: Flags,
    /// The raw window field; with window scaling the real window is this
    /// times 2^wscale (the scale was agreed in the SYNs' options).
    pub window: u16,
    pub header_len: usize,
    pub urgent: u16,
    /// The options' bytes (at most 40), kept raw: naming them costs
    /// allocations, and only `--layers` shows them ([`Tcp::option_names`]).
    pub options: TcpOptions,
}

/// A TCP header's option bytes, copied (no allocation, no lifetime).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpOptions {
    bytes: [u8; 40],
    len: u8,
}

impl TcpOptions {
    pub fn new(raw: &[u8]) -> TcpOptions {
        let mut bytes = [0u8; 40];
        let len = raw.len().min(40);
        bytes[..len].copy_from_slice(&raw[..len]);
        TcpOptions {
            bytes,
            len: len as u8,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl Default for TcpOptions {
    fn default() -> Self {
        TcpOptions::new(&[])
    }
}

impl Tcp {
    /// The options as tcpdump names them: `mss 65495`, `sackOK`,
    /// `TS val 1 ecr 0`, `nop`, `wscale 7`.
    pub fn option_names(&self) -> Vec<String> {
        tcp_options(self.options.as_bytes())
    }
}

/// TCP's flag bits, in the header's order (FIN is bit 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags(pub u8);

impl Flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;

    pub fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// tcpdump's letters: `S`, `S.`, `.`, `P.`, `F.`, `R`, `R.` (`.` is ACK),
    /// in tcpdump's order; `none` for no flag at all.
    pub fn letters(self) -> String {
        let table = [
            (Self::FIN, 'F'),
            (Self::SYN, 'S'),
            (Self::RST, 'R'),
            (Self::PSH, 'P'),
            (Self::ACK, '.'),
            (Self::URG, 'U'),
            (Self::ECE, 'E'),
            (Self::CWR, 'W'),
        ];
        let s: String = table
            .iter()
            .filter(|(bit, _)| self.has(*bit))
            .map(|(_, c)| c)
            .collect();
        if s.is_empty() { "none".into() } else { s }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Udp {
    pub src_port: u16,
    pub dst_port: u16,
    /// The UDP length field (header included), as claimed.
    pub length: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Icmp {
    pub v6: bool,
    pub kind: u8,
    pub code: u8,
    /// Bytes 5 to 8 of the header: an echo's id and sequence, or the next
    /// hop's MTU in "fragmentation needed" / "packet too big".
    pub rest: [u8; 4],
    /// For an error (unreachable, time exceeded): the start of the packet
    /// it is about, which every ICMP error quotes.
    pub quoted: Option<Quoted>,
}

/// The packet an ICMP error quotes: enough to tell which socket it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quoted {
    pub proto: &'static str,
    pub src: SocketAddr,
    pub dst: SocketAddr,
}

impl Icmp {
    /// What the message means, in words (`port unreachable`, `echo request`).
    pub fn meaning(&self) -> String {
        let (kind, code) = (self.kind, self.code);
        let mtu = u16::from_be_bytes([self.rest[2], self.rest[3]]);
        let mtu6 = u32::from_be_bytes(self.rest);
        let s = match (self.v6, kind, code) {
            (false, 0, _) | (true, 129, _) => "echo reply",
            (false, 8, _) | (true, 128, _) => "echo request",
            (false, 3, 0) => "net unreachable",
            (false, 3, 1) | (true, 1, 3) => "host unreachable",
            (false, 3, 2) => "protocol unreachable",
            (false, 3, 3) | (true, 1, 4) => "port unreachable",
            (false, 3, 4) => return format!("fragmentation needed, next-hop MTU {mtu}"),
            (false, 3, 13) | (true, 1, 1) => "administratively prohibited",
            (false, 3, _) | (true, 1, _) => "destination unreachable",
            (true, 2, _) => return format!("packet too big, MTU {mtu6}"),
            (false, 11, _) | (true, 3, _) => "time exceeded",
            (false, 12, _) | (true, 4, _) => "parameter problem",
            (true, 133, _) => "router solicitation",
            (true, 134, _) => "router advertisement",
            (true, 135, _) => "neighbor solicitation",
            (true, 136, _) => "neighbor advertisement",
            _ => return format!("type {kind} code {code}"),
        };
        s.to_string()
    }

    /// Is this an error message (which quotes the packet it is about)?
    fn is_error(v6: bool, kind: u8) -> bool {
        if v6 {
            (1..=4).contains(&kind)
        } else {
            matches!(kind, 3 | 4 | 5 | 11 | 12)
        }
    }
}

/// Decodes one frame. Never panics, whatever the bytes.
pub fn decode(link_type: LinkType, frame: &[u8]) -> Packet<'_> {
    let mut packet = Packet {
        link: Link::Missing,
        net: Net::None,
        transport: Transport::None,
        payload: &[],
        problem: None,
    };
    let sliced = match link_type {
        LinkType::Ethernet => match LaxSlicedPacket::from_ethernet(frame) {
            Ok(sliced) => sliced,
            Err(e) => {
                packet.problem = Some(format!("malformed: {e}"));
                return packet;
            }
        },
        LinkType::LinuxSll => {
            // The cooked header, by hand: 16 bytes, all big-endian.
            // packet type (2), ARPHRD type (2), address length (2),
            // address (8, zero padded), protocol (2: an EtherType).
            let Some((header, rest)) = frame.split_first_chunk::<16>() else {
                packet.problem = Some(format!(
                    "malformed: a Linux cooked header is 16 bytes, the frame has {}",
                    frame.len()
                ));
                return packet;
            };
            let be = |at: usize| u16::from_be_bytes([header[at], header[at + 1]]);
            let protocol = be(14);
            packet.link = Link::Cooked {
                packet_type: be(0),
                ha_type: be(2),
                protocol,
            };
            LaxSlicedPacket::from_ether_type(EtherType(protocol), rest)
        }
        LinkType::RawIp => {
            packet.link = Link::Raw;
            match LaxSlicedPacket::from_ip(frame) {
                Ok(sliced) => sliced,
                Err(e) => {
                    packet.problem = Some(format!("malformed: {e}"));
                    packet.payload = frame;
                    return packet;
                }
            }
        }
    };
    fill(&mut packet, &sliced, frame);
    packet
}

/// Copies what etherparse found into our [`Packet`].
fn fill<'a>(packet: &mut Packet<'a>, sliced: &LaxSlicedPacket<'a>, frame: &'a [u8]) {
    if let Some(LinkSlice::Ethernet2(eth)) = &sliced.link {
        packet.link = Link::Ethernet {
            src: eth.source(),
            dst: eth.destination(),
            ether_type: eth.ether_type().0,
        };
    }
    // What the link layer carries (inside any VLAN tags), for when nothing
    // inside is decoded.
    let mut ether_type = match packet.link {
        Link::Cooked { protocol, .. } => Some(protocol),
        _ => None,
    };
    if let Some(inner) = sliced.ether_payload() {
        packet.payload = inner.payload;
        ether_type = Some(inner.ether_type.0);
    }
    match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => {
            let h = v4.header();
            let ip_payload = v4.payload();
            packet.net = Net::Ip(Ip {
                version: 4,
                src: IpAddr::V4(h.source_addr()),
                dst: IpAddr::V4(h.destination_addr()),
                ttl: h.ttl(),
                protocol: ip_payload.ip_number.0,
                header_len: h.slice().len(),
                total_len: usize::from(h.total_len()),
                id: h.identification(),
                dont_fragment: h.dont_fragment(),
                more_fragments: h.more_fragments(),
                fragment_offset: u32::from(h.fragments_offset().value()) * 8,
                fragment: ip_payload.fragmented,
            });
            packet.payload = ip_payload.payload;
            if ip_payload.incomplete {
                packet.problem = Some(format!(
                    "truncated: the IPv4 header says {} bytes, {} captured",
                    h.total_len(),
                    h.slice().len() + ip_payload.payload.len()
                ));
            }
        }
        Some(LaxNetSlice::Ipv6(v6)) => {
            let h = v6.header();
            let ip_payload = v6.payload();
            // Extension headers sit between the fixed header and the payload.
            let header_len = h.slice().len() + v6.extensions().slice().len();
            packet.net = Net::Ip(Ip {
                version: 6,
                src: IpAddr::V6(h.source_addr()),
                dst: IpAddr::V6(h.destination_addr()),
                ttl: h.hop_limit(),
                protocol: ip_payload.ip_number.0,
                header_len,
                total_len: 40 + usize::from(h.payload_length()),
                id: 0,
                dont_fragment: false,
                more_fragments: false,
                fragment_offset: 0,
                fragment: ip_payload.fragmented,
            });
            packet.payload = ip_payload.payload;
            if ip_payload.incomplete {
                packet.problem = Some(format!(
                    "truncated: the IPv6 header says {} bytes, {} captured",
                    40 + usize::from(h.payload_length()),
                    header_len + ip_payload.payload.len()
                ));
            }
        }
        Some(LaxNetSlice::Arp(_)) => packet.net = Net::Arp,
        None => {
            if let Some(t) = ether_type {
                packet.net = Net::Other(t);
            }
        }
    }
    match &sliced.transport {
        Some(TransportSlice::Tcp(tcp)) => {
            packet.transport = Transport::Tcp(Tcp {
                src_port: tcp.source_port(),
                dst_port: tcp.destination_port(),
                seq: tcp.sequence_number(),
                ack: tcp.acknowledgment_number(),
                flags: Flags(tcp.header_slice().get(13).copied().unwrap_or(0)),
                window: tcp.window_size(),
                header_len: tcp.header_slice().len(),
                urgent: tcp.urgent_pointer(),
                options: TcpOptions::new(tcp.options()),
            });
            packet.payload = tcp.payload();
        }
        Some(TransportSlice::Udp(udp)) => {
            packet.transport = Transport::Udp(Udp {
                src_port: udp.source_port(),
                dst_port: udp.destination_port(),
                length: udp.length(),
            });
            packet.payload = udp.payload();
        }
        Some(TransportSlice::Icmpv4(icmp)) => {
            let quoted = Icmp::is_error(false, icmp.type_u8()).then(|| quoted(icmp.payload()));
            packet.transport = Transport::Icmp(Icmp {
                v6: false,
                kind: icmp.type_u8(),
                code: icmp.code_u8(),
                rest: icmp.bytes5to8(),
                quoted: quoted.flatten(),
            });
            packet.payload = icmp.payload();
        }
        Some(TransportSlice::Icmpv6(icmp)) => {
            let quoted = Icmp::is_error(true, icmp.type_u8()).then(|| quoted(icmp.payload()));
            packet.transport = Transport::Icmp(Icmp {
                v6: true,
                kind: icmp.type_u8(),
                code: icmp.code_u8(),
                rest: icmp.bytes5to8(),
                quoted: quoted.flatten(),
            });
            packet.payload = icmp.payload();
        }
        Some(TransportSlice::Igmp(_)) => packet.transport = Transport::Other(2),
        None => {
            if let Net::Ip(ip) = &packet.net
                && !(ip.fragment && ip.fragment_offset > 0)
                && !matches!(ip.protocol, 1 | 6 | 17 | 58)
            {
                packet.transport = Transport::Other(ip.protocol);
            }
        }
    }
    if let Some((error, _layer)) = &sliced.stop_err {
        // The first problem is the one to show: a truncated IP packet
        // usually also has a TCP header cut short.
        packet
            .problem
            .get_or_insert_with(|| format!("malformed: {error}"));
    }
    // A guarantee, not a hope: the payload we report lies inside the frame.
    debug_assert!(packet.payload.len() <= frame.len());
}

/// The TCP options as tcpdump prints them.
fn tcp_options(bytes: &[u8]) -> Vec<String> {
    use etherparse::TcpOptionElement::*;
    let mut out = Vec::new();
    for option in etherparse::TcpOptionsIterator::from_slice(bytes) {
        out.push(match option {
            Ok(Noop) => "nop".into(),
            Ok(MaximumSegmentSize(mss)) => format!("mss {mss}"),
            Ok(WindowScale(shift)) => format!("wscale {shift}"),
            Ok(SelectiveAcknowledgementPermitted) => "sackOK".into(),
            Ok(SelectiveAcknowledgement(first, rest)) => {
                let blocks: Vec<String> = std::iter::once(Some(first))
                    .chain(rest)
                    .flatten()
                    .map(|(l, r)| format!("{{{l}:{r}}}"))
                    .collect();
                format!("sack {}", blocks.join(""))
            }
            Ok(Timestamp(val, ecr)) => format!("TS val {val} ecr {ecr}"),
            Err(e) => {
                out.push(format!("bad option: {e}"));
                break;
            }
        });
    }
    out
}

/// The ports of the packet an ICMP error quotes (its IP header and at
/// least the first 8 bytes of its transport header, so the ports are there).
fn quoted(bytes: &[u8]) -> Option<Quoted> {
    let inner = LaxSlicedPacket::from_ip(bytes).ok()?;
    let (src, dst) = match &inner.net {
        Some(LaxNetSlice::Ipv4(v4)) => (
            IpAddr::V4(v4.header().source_addr()),
            IpAddr::V4(v4.header().destination_addr()),
        ),
        Some(LaxNetSlice::Ipv6(v6)) => (
            IpAddr::V6(v6.header().source_addr()),
            IpAddr::V6(v6.header().destination_addr()),
        ),
        _ => return None,
    };
    let ip_payload = inner.net.as_ref()?.ip_payload_ref()?.payload;
    // The ports are the first 4 bytes of TCP and UDP alike; read them
    // directly, since a quote may cut a TCP header short.
    let ports = ip_payload.get(..4)?;
    let proto = match inner.net.as_ref()?.ip_payload_ref()?.ip_number.0 {
        6 => "TCP",
        17 => "UDP",
        _ => return None,
    };
    let sport = u16::from_be_bytes([ports[0], ports[1]]);
    let dport = u16::from_be_bytes([ports[2], ports[3]]);
    Some(Quoted {
        proto,
        src: SocketAddr::new(src, sport),
        dst: SocketAddr::new(dst, dport),
    })
}

impl Packet<'_> {
    /// The transport endpoints, when there are ports.
    pub fn endpoints(&self) -> Option<(SocketAddr, SocketAddr)> {
        let Net::Ip(ip) = &self.net else { return None };
        let (sport, dport) = match &self.transport {
            Transport::Tcp(t) => (t.src_port, t.dst_port),
            Transport::Udp(u) => (u.src_port, u.dst_port),
            _ => return None,
        };
        Some((
            SocketAddr::new(ip.src, sport),
            SocketAddr::new(ip.dst, dport),
        ))
    }
}

/// Whether `inner` lies within `outer` (same memory): the decoder's promise
/// that a payload is never more than the frame holds.
pub fn is_within(inner: &[u8], outer: &[u8]) -> bool {
    let (start, end) = (
        outer.as_ptr() as usize,
        outer.as_ptr() as usize + outer.len(),
    );
    let (a, b) = (
        inner.as_ptr() as usize,
        inner.as_ptr() as usize + inner.len(),
    );
    inner.is_empty() || (start <= a && b <= end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;
    use proptest::prelude::*;

    fn tcp_frame(payload: &[u8]) -> Vec<u8> {
        let builder = PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .tcp(51234, 7000, 1000, 65495)
            .syn()
            .options(&[
                etherparse::TcpOptionElement::MaximumSegmentSize(65495),
                etherparse::TcpOptionElement::SelectiveAcknowledgementPermitted,
            ])
            .unwrap();
        let mut frame = Vec::new();
        builder.write(&mut frame, payload).unwrap();
        frame
    }

    #[test]
    fn a_tcp_syn_is_peeled_into_its_layers() {
        let frame = tcp_frame(b"GET /");
        let p = decode(LinkType::Ethernet, &frame);
        assert!(matches!(
            p.link,
            Link::Ethernet {
                ether_type: 0x0800,
                ..
            }
        ));
        let Net::Ip(ip) = &p.net else { panic!("{p:?}") };
        assert_eq!(
            (ip.version, ip.ttl, ip.protocol, ip.header_len),
            (4, 64, 6, 20)
        );
        let Transport::Tcp(tcp) = &p.transport else {
            panic!("{p:?}")
        };
        assert_eq!((tcp.src_port, tcp.dst_port, tcp.seq), (51234, 7000, 1000));
        assert_eq!(tcp.flags.letters(), "S");
        assert_eq!(
            tcp.option_names()[..2],
            ["mss 65495".to_string(), "sackOK".into()]
        );
        assert_eq!(p.payload, b"GET /");
        assert_eq!(p.problem, None);
    }

    #[test]
    fn a_cut_packet_says_so_and_keeps_what_it_has() {
        let frame = tcp_frame(b"0123456789");
        let cut = &frame[..frame.len() - 4];
        let p = decode(LinkType::Ethernet, cut);
        assert_eq!(p.payload, b"012345");
        let problem = p.problem.unwrap();
        assert!(
            problem.starts_with("truncated: the IPv4 header says"),
            "{problem}"
        );
        // Cut inside the TCP header: no TCP fields, a problem, no panic.
        let p = decode(LinkType::Ethernet, &frame[..14 + 20 + 10]);
        assert!(matches!(p.transport, Transport::None));
        assert!(p.problem.is_some());
    }

    #[test]
    fn an_icmp_port_unreachable_names_the_datagram_it_is_about() {
        let mut udp = Vec::new();
        PacketBuilder::ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .udp(41234, 7002)
            .write(&mut udp, b"hello")
            .unwrap();
        let mut frame = Vec::new();
        PacketBuilder::ethernet2([0; 6], [0; 6])
            .ipv4([127, 0, 0, 1], [127, 0, 0, 1], 64)
            .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::Port,
            ))
            .write(&mut frame, &udp)
            .unwrap();
        let p = decode(LinkType::Ethernet, &frame);
        let Transport::Icmp(icmp) = &p.transport else {
            panic!("{p:?}")
        };
        assert_eq!(icmp.meaning(), "port unreachable");
        let q = icmp.quoted.as_ref().unwrap();
        assert_eq!((q.proto, q.src.port(), q.dst.port()), ("UDP", 41234, 7002));
    }

    #[test]
    fn a_linux_cooked_frame_is_decoded() {
        let mut ip = Vec::new();
        PacketBuilder::ipv6([0; 16], [0; 16], 64)
            .udp(5353, 7002)
            .write(&mut ip, b"x")
            .unwrap();
        let mut frame = vec![0, 4, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x86, 0xdd];
        frame.extend(ip);
        let p = decode(LinkType::LinuxSll, &frame);
        assert!(matches!(
            p.link,
            Link::Cooked {
                packet_type: 4,
                protocol: 0x86dd,
                ..
            }
        ));
        assert_eq!(p.endpoints().unwrap().1.to_string(), "[::]:7002");
        assert_eq!(p.payload, b"x");
    }

    #[test]
    fn tcpdump_flag_letters() {
        let f = |bits| Flags(bits).letters();
        assert_eq!(f(Flags::SYN | Flags::ACK), "S.");
        assert_eq!(f(Flags::FIN | Flags::PSH | Flags::ACK), "FP.");
        assert_eq!(f(Flags::RST), "R");
        assert_eq!(f(0), "none");
    }

    fn link() -> impl Strategy<Value = LinkType> {
        prop_oneof![
            Just(LinkType::Ethernet),
            Just(LinkType::LinuxSll),
            Just(LinkType::RawIp)
        ]
    }

    proptest! {
        /// Arbitrary bytes: no panic, and the payload is inside the frame.
        #[test]
        fn arbitrary_bytes_never_panic_nor_overclaim(
            link in link(),
            bytes in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let p = decode(link, &bytes);
            prop_assert!(is_within(p.payload, &bytes));
        }

        /// Real headers with lying lengths and cut ends: the same promise,
        /// on frames that get past the first checks.
        #[test]
        fn real_frames_cut_and_lied_about(
            payload in proptest::collection::vec(any::<u8>(), 0..64),
            cut in 0usize..120,
            total_len in any::<u16>(),
            data_offset in any::<u8>(),
        ) {
            let mut frame = tcp_frame(&payload);
            frame[16..18].copy_from_slice(&total_len.to_be_bytes());
            frame[14 + 20 + 12] = data_offset;
            frame.truncate(frame.len().saturating_sub(cut));
            let p = decode(LinkType::Ethernet, &frame);
            prop_assert!(is_within(p.payload, &frame));
            // TCP's data comes after at least 14 + 20 + 20 header bytes;
            // when TCP could not be decoded the problem says why.
            if let Transport::Tcp(tcp) = &p.transport {
                prop_assert!(p.payload.len() + 14 + 20 + tcp.header_len <= frame.len());
            } else {
                prop_assert!(p.problem.is_some());
            }
        }
    }
}
