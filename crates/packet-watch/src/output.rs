//! The three ways a packet is printed: one line in tcpdump's notation, one
//! JSON object (for scripts), or the packet peeled layer by layer.
//!
//! Lines are collected in a buffer, handed in batches of 64 KiB (and
//! whenever the capture waits for the next packet) to a thread that writes
//! them to stdout ([`crate::writer`]): a write per line would cost a system
//! call each, and a capture that falls behind loses packets in the kernel.
//! For the same reason a line is built as bytes, by hand, with no
//! allocation: `write!` and a `String` per line were most of the CPU time
//! a packet cost (a profile with callgrind).

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use common::stop::Stop;

use crate::decode::{Flags, Icmp, Link, Net, Packet, Transport};
use crate::track::Seen;
use crate::writer::Handoff;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Layers,
}

/// Lines are handed to the writer thread in batches of this size.
const BATCH: usize = 64 * 1024;

/// Where packets go: stdout, in batches, written by a thread of its own
/// ([`crate::writer`]).
pub struct Printer {
    out: Handoff,
    format: Format,
    /// `src > dst ` of the last two address pairs, as text: a connection's
    /// packets go both ways, and writing eight numbers for each packet cost
    /// more than all the rest of its line.
    ends: Ends,
}

/// Everything known about one packet, for printing.
pub struct Shown<'a> {
    /// 1 for the first packet printed.
    pub number: u64,
    pub time: SystemTime,
    pub packet: &'a Packet<'a>,
    /// What the TCP tracker said (TCP only).
    pub seen: Option<Seen>,
    pub captured: usize,
    pub wire_len: usize,
}

impl Printer {
    /// A printer to stdout; waiting for a stdout that is not read ends at
    /// `stop`.
    pub fn new(format: Format, stop: Option<Stop>) -> Result<Printer> {
        Ok(Printer {
            out: Handoff::spawn("stdout", std::io::stdout(), BATCH, stop)
                .context("starting the thread that writes to stdout")?,
            format,
            ends: Ends::default(),
        })
    }

    /// A line of our own (`capturing on lo`), handed over at once.
    pub fn line(&mut self, text: &str) -> Result<()> {
        let buf = self.out.buffer();
        buf.extend_from_slice(text.as_bytes());
        buf.push(b'\n');
        self.flush()
    }

    pub fn packet(&mut self, shown: &Shown) -> Result<()> {
        let buf = self.out.buffer();
        match self.format {
            Format::Text => write_text(buf, shown, &mut self.ends),
            Format::Json => write_json(buf, shown),
            Format::Layers => buf.extend_from_slice(layers(shown).as_bytes()),
        }
        buf.push(b'\n');
        self.out.commit().context("writing to stdout")
    }

    /// Hands over what is buffered (the writer thread writes it at once).
    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().context("writing to stdout")
    }

    /// Waits up to `patience` (`None`: as long as it takes) until every
    /// line is written: before the summary, so that it comes last.
    pub fn close(&mut self, patience: Option<Duration>) -> Result<()> {
        self.out.close(patience).context("writing to stdout")
    }
}

/// The protocol's name, as in the JSON `proto` key.
fn proto(packet: &Packet) -> std::borrow::Cow<'static, str> {
    match (&packet.net, &packet.transport) {
        (_, Transport::Tcp(_)) => "TCP".into(),
        (_, Transport::Udp(_)) => "UDP".into(),
        (_, Transport::Icmp(icmp)) => if icmp.v6 { "ICMPv6" } else { "ICMP" }.into(),
        // Reassembly is the receiver's job: a fragment is shown as one.
        (Net::Ip(ip), _) if ip.fragment => format!("IPv{} fragment", ip.version).into(),
        (Net::Ip(ip), Transport::Other(n)) => format!("IPv{} protocol {n}", ip.version).into(),
        (Net::Ip(ip), Transport::None) => format!("IPv{}", ip.version).into(),
        (Net::Arp, _) => "ARP".into(),
        (Net::Other(t), _) => format!("EtherType {t:#06x}").into(),
        (Net::None, _) => "unknown".into(),
    }
}

/// One line in tcpdump's notation:
/// `127.0.0.1:51234 > 127.0.0.1:7000 TCP [S] seq 0 win 65495 len 0`.
pub fn text_line(shown: &Shown) -> String {
    let mut line = Vec::new();
    write_text(&mut line, shown, &mut Ends::default());
    // Only ASCII and the `problem` text (a String) went in.
    String::from_utf8_lossy(&line).into_owned()
}

/// The text of the last two address pairs seen, `src > dst `.
#[derive(Default)]
struct Ends {
    pairs: [Option<(SocketAddr, SocketAddr)>; 2],
    text: [Vec<u8>; 2],
    /// The entry to replace next.
    older: usize,
}

impl Ends {
    fn push(&mut self, line: &mut Vec<u8>, pair: (SocketAddr, SocketAddr)) {
        let at = match self.pairs.iter().position(|p| *p == Some(pair)) {
            Some(at) => at,
            None => {
                let at = self.older;
                self.older = 1 - at;
                let text = &mut self.text[at];
                text.clear();
                push_addr(text, pair.0);
                text.extend_from_slice(b" > ");
                push_addr(text, pair.1);
                text.push(b' ');
                self.pairs[at] = Some(pair);
                at
            }
        };
        line.extend_from_slice(&self.text[at]);
    }
}

/// [`text_line`], appended to `line`, without allocating for the common
/// packets.
fn write_text(line: &mut Vec<u8>, shown: &Shown, ends: &mut Ends) {
    let packet = shown.packet;
    if let Some(pair) = packet.endpoints() {
        ends.push(line, pair);
    } else if let Net::Ip(ip) = &packet.net {
        let _ = write!(Bytes(line), "{} > {} ", ip.src, ip.dst);
    }
    match &packet.transport {
        Transport::Tcp(tcp) => {
            line.extend_from_slice(b"TCP [");
            push_flags(line, tcp.flags);
            // Relative numbers when the connection is tracked, raw otherwise.
            let (seq, ack) = shown.seen.map_or((tcp.seq, tcp.ack), |s| (s.seq, s.ack));
            line.extend_from_slice(b"] seq ");
            push_u64(line, u64::from(seq));
            if tcp.flags.has(Flags::ACK) {
                line.extend_from_slice(b" ack ");
                push_u64(line, u64::from(ack));
            }
            line.extend_from_slice(b" win ");
            push_u64(line, u64::from(tcp.window));
            line.extend_from_slice(b" len ");
            push_u64(line, packet.payload.len() as u64);
            if let Some(seen) = shown.seen {
                if seen.retransmission {
                    line.extend_from_slice(b" (retransmission)");
                }
                if seen.duplicate_ack {
                    line.extend_from_slice(b" (duplicate ACK)");
                }
            }
        }
        Transport::Udp(_) => {
            line.extend_from_slice(b"UDP len ");
            push_u64(line, packet.payload.len() as u64);
        }
        Transport::Icmp(icmp) => {
            let _ = write!(Bytes(line), "{} {}", proto(packet), icmp_words(icmp));
        }
        _ => {
            let _ = write!(
                Bytes(line),
                "{} len {}",
                proto(packet),
                packet.payload.len()
            );
        }
    }
    if let Some(problem) = &packet.problem {
        let _ = write!(Bytes(line), " [{problem}]");
    }
}

/// `write!` into a byte buffer, for the rare parts of a line (IPv6
/// addresses, ICMP, problems): `fmt::Write`, which cannot fail.
struct Bytes<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// "00" to "99", for writing two digits at a time.
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
                            2021222324252627282930313233343536373839\
                            4041424344454647484950515253545556575859\
                            6061626364656667686970717273747576777879\
                            8081828384858687888990919293949596979899";

/// A number in decimal, without the formatting machinery: this runs for
/// every packet, several times; `write!` and then a `char` at a time were
/// each the largest cost of a packet in a profile.
fn push_u64(line: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        at -= 2;
        digits[at..at + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        at -= 1;
        digits[at] = b'0' + n as u8;
    }
    line.extend_from_slice(&digits[at..]);
}

/// An address and port as Rust's `SocketAddr` displays it; IPv4 by hand
/// (the common case), IPv6 through `Display` (it has compression rules).
fn push_addr(line: &mut Vec<u8>, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(v4) => {
            let [a, b, c, d] = v4.ip().octets();
            push_u64(line, u64::from(a));
            line.push(b'.');
            push_u64(line, u64::from(b));
            line.push(b'.');
            push_u64(line, u64::from(c));
            line.push(b'.');
            push_u64(line, u64::from(d));
            line.push(b':');
            push_u64(line, u64::from(v4.port()));
        }
        SocketAddr::V6(_) => {
            let _ = write!(Bytes(line), "{addr}");
        }
    }
}

/// tcpdump's flag letters, without a String of their own.
fn push_flags(line: &mut Vec<u8>, flags: Flags) {
    let before = line.len();
    for (bit, c) in [
        (Flags::FIN, b'F'),
        (Flags::SYN, b'S'),
        (Flags::RST, b'R'),
        (Flags::PSH, b'P'),
        (Flags::ACK, b'.'),
        (Flags::URG, b'U'),
        (Flags::ECE, b'E'),
        (Flags::CWR, b'W'),
    ] {
        if flags.has(bit) {
            line.push(c);
        }
    }
    if line.len() == before {
        line.extend_from_slice(b"none");
    }
}

/// An ICMP message in words; an error names the packet it is about, which
/// is how the kernel knows which socket gets ECONNREFUSED.
fn icmp_words(icmp: &Icmp) -> String {
    let mut words = icmp.meaning();
    if matches!((icmp.v6, icmp.kind), (false, 0 | 8) | (true, 128 | 129)) {
        let id = u16::from_be_bytes([icmp.rest[0], icmp.rest[1]]);
        let seq = u16::from_be_bytes([icmp.rest[2], icmp.rest[3]]);
        let _ = write!(words, " id {id} seq {seq}");
    }
    if let Some(q) = &icmp.quoted {
        let _ = write!(words, " for {} {} > {}", q.proto, q.src, q.dst);
    }
    words
}

/// Seconds since the epoch, to the microsecond.
fn epoch_seconds(time: SystemTime) -> String {
    let mut s = Vec::new();
    push_epoch_seconds(&mut s, time);
    String::from_utf8_lossy(&s).into_owned()
}

/// [`epoch_seconds`], appended: `1733462400.012345`.
fn push_epoch_seconds(line: &mut Vec<u8>, time: SystemTime) {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    push_u64(line, since.as_secs());
    line.push(b'.');
    let micros = since.subsec_micros();
    let mut digits = [0u8; 6];
    for (i, d) in digits.iter_mut().enumerate() {
        *d = b'0' + (micros / 10u32.pow(5 - i as u32) % 10) as u8;
    }
    line.extend_from_slice(&digits);
}

/// One JSON object with exactly DESIGN.md's keys; `null` where a key does
/// not apply (no ports, not TCP).
pub fn json_line(shown: &Shown) -> String {
    let mut line = Vec::new();
    write_json(&mut line, shown);
    String::from_utf8_lossy(&line).into_owned()
}

/// [`json_line`], appended to `line`. Every string in it is an address, a
/// protocol's name or flag letters, none of which needs escaping.
fn write_json(line: &mut Vec<u8>, shown: &Shown) {
    let packet = shown.packet;
    line.extend_from_slice(b"{\"time\":");
    push_epoch_seconds(line, shown.time);
    let quoted_addr = |line: &mut Vec<u8>, addr: SocketAddr| {
        line.push(b'"');
        push_addr(line, addr);
        line.push(b'"');
    };
    if let Some((src, dst)) = packet.endpoints() {
        line.extend_from_slice(b",\"src\":");
        quoted_addr(line, src);
        line.extend_from_slice(b",\"dst\":");
        quoted_addr(line, dst);
    } else if let Net::Ip(ip) = &packet.net {
        let _ = write!(
            Bytes(line),
            ",\"src\":\"{}\",\"dst\":\"{}\"",
            ip.src,
            ip.dst
        );
    } else {
        line.extend_from_slice(b",\"src\":null,\"dst\":null");
    }
    line.extend_from_slice(b",\"proto\":\"");
    line.extend_from_slice(proto(packet).as_bytes());
    line.push(b'"');
    match &packet.transport {
        Transport::Tcp(tcp) => {
            let (seq, ack) = shown.seen.map_or((tcp.seq, tcp.ack), |s| (s.seq, s.ack));
            line.extend_from_slice(b",\"flags\":\"");
            push_flags(line, tcp.flags);
            line.extend_from_slice(b"\",\"seq\":");
            push_u64(line, u64::from(seq));
            line.extend_from_slice(b",\"ack\":");
            if tcp.flags.has(Flags::ACK) {
                push_u64(line, u64::from(ack));
            } else {
                line.extend_from_slice(b"null");
            }
            line.extend_from_slice(b",\"win\":");
            push_u64(line, u64::from(tcp.window));
        }
        _ => line.extend_from_slice(b",\"flags\":null,\"seq\":null,\"ack\":null,\"win\":null"),
    }
    line.extend_from_slice(b",\"len\":");
    push_u64(line, packet.payload.len() as u64);
    let retransmission = matches!(packet.transport, Transport::Tcp(_))
        && shown.seen.is_some_and(|s| s.retransmission);
    line.extend_from_slice(if retransmission {
        b",\"retransmission\":true}"
    } else {
        b",\"retransmission\":false}"
    });
}

fn mac(bytes: &[u8; 6]) -> String {
    let parts: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    parts.join(":")
}

/// The packet peeled into its layers, outermost first, with the names the
/// textbooks use and the fields each header really has.
pub fn layers(shown: &Shown) -> String {
    let packet = shown.packet;
    let mut s = String::new();
    let _ = write!(s, "packet {}: {} bytes", shown.number, shown.captured);
    if shown.wire_len > shown.captured {
        let _ = write!(s, " of {} on the wire", shown.wire_len);
    }
    let _ = write!(s, ", at {}", epoch_seconds(shown.time));
    match &packet.link {
        Link::Ethernet {
            src,
            dst,
            ether_type,
        } => {
            let _ = write!(
                s,
                "\n  link layer (2), Ethernet: {} > {}, EtherType {ether_type:#06x} ({}), header 14 bytes",
                mac(src),
                mac(dst),
                ether_name(*ether_type)
            );
        }
        Link::Cooked {
            packet_type,
            ha_type,
            protocol,
        } => {
            let way = match packet_type {
                0 => "to us",
                1 => "broadcast",
                2 => "multicast",
                3 => "to another host",
                4 => "sent by us",
                _ => "unknown direction",
            };
            let _ = write!(
                s,
                "\n  link layer (2), Linux cooked: {way}, ARPHRD {ha_type}, protocol {protocol:#06x} ({}), header 16 bytes",
                ether_name(*protocol)
            );
        }
        Link::Raw => s.push_str("\n  link layer (2): none in this capture (raw IP)"),
        Link::Missing => s.push_str("\n  link layer (2): missing"),
    }
    match &packet.net {
        Net::Ip(ip) => {
            let _ = write!(
                s,
                "\n  network layer (3), IPv{}: {} > {}, {} {}, protocol {} ({}), header {} bytes, total length {}",
                ip.version,
                ip.src,
                ip.dst,
                if ip.version == 4 { "TTL" } else { "hop limit" },
                ip.ttl,
                ip.protocol,
                ip_proto_name(ip.protocol),
                ip.header_len,
                ip.total_len
            );
            if ip.version == 4 {
                let _ = write!(s, ", id {:#06x}", ip.id);
                if ip.dont_fragment {
                    s.push_str(", DF");
                }
                if ip.more_fragments {
                    s.push_str(", MF");
                }
            }
            if ip.fragment {
                let _ = write!(s, ", fragment at offset {}", ip.fragment_offset);
            }
        }
        Net::Arp => {
            s.push_str("\n  network layer (3): ARP (finds the link address of an IP address)")
        }
        Net::Other(t) => {
            let _ = write!(s, "\n  network layer (3): EtherType {t:#06x}, not decoded");
        }
        Net::None => {}
    }
    match &packet.transport {
        Transport::Tcp(tcp) => {
            let (seq, ack) = shown.seen.map_or((tcp.seq, tcp.ack), |x| (x.seq, x.ack));
            let _ = write!(
                s,
                "\n  transport layer (4), TCP: port {} > {}, seq {seq} (raw {}), ack {} (raw {}), flags [{}], window {}, header {} bytes",
                tcp.src_port,
                tcp.dst_port,
                tcp.seq,
                if tcp.flags.has(Flags::ACK) {
                    ack.to_string()
                } else {
                    "-".into()
                },
                tcp.ack,
                tcp.flags.letters(),
                tcp.window,
                tcp.header_len
            );
            let options = tcp.option_names();
            if !options.is_empty() {
                let _ = write!(s, ", options [{}]", options.join(","));
            }
            if let Some(seen) = shown.seen
                && seen.retransmission
            {
                s.push_str(", a retransmission");
            }
        }
        Transport::Udp(udp) => {
            let _ = write!(
                s,
                "\n  transport layer (4), UDP: port {} > {}, length {} (header 8 bytes)",
                udp.src_port, udp.dst_port, udp.length
            );
        }
        Transport::Icmp(icmp) => {
            let _ = write!(
                s,
                "\n  network layer (3), ICMP{}: type {} code {}: {}",
                if icmp.v6 { "v6" } else { "" },
                icmp.kind,
                icmp.code,
                icmp_words(icmp)
            );
        }
        Transport::Other(n) => {
            let _ = write!(s, "\n  transport layer (4): protocol {n}, not decoded");
        }
        Transport::None => {}
    }
    let what = match packet.transport {
        Transport::Icmp(_) => "  (the packet the message is about)",
        _ => "",
    };
    let _ = write!(
        s,
        "\n  application layer (7): {} bytes{}",
        packet.payload.len(),
        what
    );
    if !packet.payload.is_empty() {
        let _ = write!(s, " \"{}\"", preview(packet.payload, 64));
    }
    if let Some(problem) = &packet.problem {
        let _ = write!(s, "\n  [{problem}]");
    }
    s
}

/// The first `max` bytes, with anything unprintable escaped (`\r`, `\n`,
/// `\x00`): a payload is a peer's bytes and must not drive our terminal.
pub fn preview(bytes: &[u8], max: usize) -> String {
    let mut s = String::new();
    for &b in bytes.iter().take(max) {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            0x20..=0x7e => s.push(b as char),
            _ => {
                let _ = write!(s, "\\x{b:02x}");
            }
        }
    }
    if bytes.len() > max {
        s.push_str("...");
    }
    s
}

fn ether_name(t: u16) -> &'static str {
    match t {
        0x0800 => "IPv4",
        0x86dd => "IPv6",
        0x0806 => "ARP",
        0x8100 => "VLAN",
        _ => "other",
    }
}

fn ip_proto_name(n: u8) -> &'static str {
    match n {
        1 => "ICMP",
        2 => "IGMP",
        6 => "TCP",
        17 => "UDP",
        58 => "ICMPv6",
        132 => "SCTP",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{self, LinkType};
    use crate::track::Tracker;
    use proptest::prelude::*;

    /// The line as `format!` wrote it before the hand-written formatting:
    /// the reference the fast path must match byte for byte.
    fn text_reference(shown: &Shown) -> String {
        let packet = shown.packet;
        let mut line = String::new();
        if let Some((src, dst)) = packet.endpoints() {
            let _ = write!(line, "{src} > {dst} ");
        } else if let Net::Ip(ip) = &packet.net {
            let _ = write!(line, "{} > {} ", ip.src, ip.dst);
        }
        match &packet.transport {
            Transport::Tcp(tcp) => {
                let (seq, ack) = shown.seen.map_or((tcp.seq, tcp.ack), |s| (s.seq, s.ack));
                let _ = write!(line, "TCP [{}] seq {seq}", tcp.flags.letters());
                if tcp.flags.has(Flags::ACK) {
                    let _ = write!(line, " ack {ack}");
                }
                let _ = write!(line, " win {} len {}", tcp.window, packet.payload.len());
                if let Some(seen) = shown.seen {
                    if seen.retransmission {
                        line.push_str(" (retransmission)");
                    }
                    if seen.duplicate_ack {
                        line.push_str(" (duplicate ACK)");
                    }
                }
            }
            Transport::Udp(_) => {
                let _ = write!(line, "UDP len {}", packet.payload.len());
            }
            Transport::Icmp(icmp) => {
                let _ = write!(line, "{} {}", proto(packet), icmp_words(icmp));
            }
            _ => {
                let _ = write!(line, "{} len {}", proto(packet), packet.payload.len());
            }
        }
        if let Some(problem) = &packet.problem {
            let _ = write!(line, " [{problem}]");
        }
        line
    }

    /// The JSON object as serde_json and `format!` wrote it before.
    fn json_reference(shown: &Shown) -> String {
        let packet = shown.packet;
        let string = |s: &str| serde_json::Value::from(s).to_string();
        let ends = packet
            .endpoints()
            .map(|(s, d)| (s.to_string(), d.to_string()))
            .or(match &packet.net {
                Net::Ip(ip) => Some((ip.src.to_string(), ip.dst.to_string())),
                _ => None,
            });
        let (src, dst) = ends.map_or(("null".into(), "null".into()), |(s, d)| {
            (string(&s), string(&d))
        });
        let null = || "null".to_string();
        let (flags, seq, ack, win, retransmission) = match (&packet.transport, shown.seen) {
            (Transport::Tcp(tcp), seen) => {
                let (seq, ack) = seen.map_or((tcp.seq, tcp.ack), |s| (s.seq, s.ack));
                let ack = if tcp.flags.has(Flags::ACK) {
                    ack.to_string()
                } else {
                    null()
                };
                (
                    string(&tcp.flags.letters()),
                    seq.to_string(),
                    ack,
                    tcp.window.to_string(),
                    seen.is_some_and(|s| s.retransmission),
                )
            }
            _ => (null(), null(), null(), null(), false),
        };
        let since = shown.time.duration_since(UNIX_EPOCH).unwrap_or_default();
        format!(
            "{{\"time\":{}.{:06},\"src\":{src},\"dst\":{dst},\"proto\":{},\"flags\":{flags},\
             \"seq\":{seq},\"ack\":{ack},\"win\":{win},\"len\":{},\"retransmission\":{retransmission}}}",
            since.as_secs(),
            since.subsec_micros(),
            string(&proto(packet)),
            packet.payload.len(),
        )
    }

    /// A real frame (IPv4 or IPv6, TCP or UDP) with random fields, then
    /// random bytes over a random part of it: every kind of line.
    fn frame() -> impl Strategy<Value = (LinkType, Vec<u8>)> {
        (
            any::<bool>(),
            any::<bool>(),
            any::<(u16, u16, u32, u32, u16, u8)>(),
            proptest::collection::vec(any::<u8>(), 0..40),
            any::<[u8; 16]>(),
            proptest::option::of((0usize..120, proptest::collection::vec(any::<u8>(), 1..8))),
            0u8..3,
        )
            .prop_map(
                |(v6, tcp, (sp, dp, seq, ack, win, flags), payload, addr, damage, link)| {
                    use etherparse::PacketBuilder;
                    let ip = if v6 {
                        PacketBuilder::ethernet2([1; 6], [2; 6]).ipv6(addr, [0; 16], 64)
                    } else {
                        let v4 = [addr[0], addr[1], addr[2], addr[3]];
                        PacketBuilder::ethernet2([1; 6], [2; 6]).ipv4(v4, [127, 0, 0, 1], 64)
                    };
                    let mut bytes = Vec::new();
                    if tcp {
                        let mut b = ip.tcp(sp, dp, seq, win);
                        if flags & 1 != 0 {
                            b = b.syn();
                        }
                        if flags & 2 != 0 {
                            b = b.ack(ack);
                        }
                        if flags & 4 != 0 {
                            b = b.fin();
                        }
                        if flags & 8 != 0 {
                            b = b.rst();
                        }
                        b.write(&mut bytes, &payload).unwrap();
                    } else {
                        ip.udp(sp, dp).write(&mut bytes, &payload).unwrap();
                    }
                    if let Some((at, junk)) = damage {
                        let at = at.min(bytes.len());
                        bytes.truncate(at + junk.len().min(bytes.len() - at));
                        for (b, j) in bytes[at..].iter_mut().zip(junk) {
                            *b = j;
                        }
                    }
                    let link = match link {
                        0 => LinkType::Ethernet,
                        1 => LinkType::LinuxSll,
                        _ => LinkType::RawIp,
                    };
                    (link, bytes)
                },
            )
    }

    proptest! {
        /// The hand-written formatting prints what `Display` prints.
        #[test]
        fn numbers_and_addresses_print_as_display_does(n in any::<u64>(), addr in any::<SocketAddr>()) {
            let mut line = Vec::new();
            push_u64(&mut line, n);
            prop_assert_eq!(String::from_utf8(line.clone()).unwrap(), n.to_string());
            line.clear();
            push_addr(&mut line, addr);
            prop_assert_eq!(String::from_utf8(line).unwrap(), addr.to_string());
        }

        /// Every line and object, byte for byte as `format!` and serde_json
        /// wrote them, for real frames (tracked, with relative numbers),
        /// damaged ones and arbitrary bytes.
        #[test]
        fn lines_are_what_format_wrote(
            (link, bytes) in frame(),
            noise in proptest::collection::vec(any::<u8>(), 0..80),
            micros in any::<u64>(),
        ) {
            let time = UNIX_EPOCH + std::time::Duration::from_micros(micros >> 12);
            let mut tracker = Tracker::default();
            // The printer's cache of address pairs, across packets: filled,
            // hit, and replaced.
            let mut ends = Ends::default();
            for data in [&bytes[..], &noise[..], &bytes[..], &noise[..]] {
                let packet = decode::decode(link, data);
                let seen = match (&packet.transport, packet.endpoints()) {
                    (Transport::Tcp(tcp), Some((src, dst))) => {
                        tracker.segment(Default::default(), src, dst, tcp, packet.payload.len())
                    }
                    _ => None,
                };
                let shown = Shown { number: 1, time, packet: &packet, seen, captured: data.len(), wire_len: data.len() };
                prop_assert_eq!(text_line(&shown), text_reference(&shown));
                let mut cached = Vec::new();
                write_text(&mut cached, &shown, &mut ends);
                prop_assert_eq!(String::from_utf8_lossy(&cached), text_reference(&shown));
                let json = json_line(&shown);
                prop_assert_eq!(&json, &json_reference(&shown));
                prop_assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok());
            }
        }
    }
}
