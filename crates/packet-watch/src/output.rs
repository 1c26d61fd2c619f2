//! The three ways a packet is printed: one line in tcpdump's notation, one
//! JSON object (for scripts), or the packet peeled layer by layer.
//!
//! Lines are buffered and flushed whenever the capture waits for the next
//! packet: a flush per packet would cost a write syscall each, and a
//! capture that falls behind loses packets in the kernel.

use std::fmt::Write as _;
use std::io::{BufWriter, Stdout, Write};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};

use crate::decode::{Flags, Icmp, Link, Net, Packet, Transport};
use crate::track::Seen;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Layers,
}

/// Where packets go: stdout, buffered.
pub struct Printer {
    out: BufWriter<Stdout>,
    format: Format,
    /// Reused for every text line.
    line: String,
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
    pub fn new(format: Format) -> Printer {
        Printer {
            out: BufWriter::with_capacity(64 * 1024, std::io::stdout()),
            format,
            line: String::with_capacity(256),
        }
    }

    /// A line of our own (`capturing on lo`), flushed at once.
    pub fn line(&mut self, text: &str) -> Result<()> {
        writeln!(self.out, "{text}").context("writing to stdout")?;
        self.flush()
    }

    pub fn packet(&mut self, shown: &Shown) -> Result<()> {
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        match self.format {
            Format::Text => write_text(&mut line, shown),
            Format::Json => line.push_str(&json_line(shown)),
            Format::Layers => line.push_str(&layers(shown)),
        }
        line.push('\n');
        let result = self.out.write_all(line.as_bytes());
        self.line = line;
        result.context("writing to stdout")
    }

    pub fn flush(&mut self) -> Result<()> {
        self.out.flush().context("writing to stdout")
    }
}

/// `src` and `dst` as addresses with ports (`127.0.0.1:7000`, `[::1]:7000`)
/// when the packet has ports, as bare addresses otherwise.
fn ends(packet: &Packet) -> Option<(String, String)> {
    if let Some((src, dst)) = packet.endpoints() {
        return Some((src.to_string(), dst.to_string()));
    }
    match &packet.net {
        Net::Ip(ip) => Some((ip.src.to_string(), ip.dst.to_string())),
        _ => None,
    }
}

/// The protocol's name, as in the JSON `proto` key.
fn proto(packet: &Packet) -> String {
    match (&packet.net, &packet.transport) {
        (_, Transport::Tcp(_)) => "TCP".into(),
        (_, Transport::Udp(_)) => "UDP".into(),
        (_, Transport::Icmp(icmp)) => if icmp.v6 { "ICMPv6" } else { "ICMP" }.into(),
        // Reassembly is the receiver's job: a fragment is shown as one.
        (Net::Ip(ip), _) if ip.fragment => format!("IPv{} fragment", ip.version),
        (Net::Ip(ip), Transport::Other(n)) => format!("IPv{} protocol {n}", ip.version),
        (Net::Ip(ip), Transport::None) => format!("IPv{}", ip.version),
        (Net::Arp, _) => "ARP".into(),
        (Net::Other(t), _) => format!("EtherType {t:#06x}"),
        (Net::None, _) => "unknown".into(),
    }
}

/// One line in tcpdump's notation:
/// `127.0.0.1:51234 > 127.0.0.1:7000 TCP [S] seq 0 win 65495 len 0`.
pub fn text_line(shown: &Shown) -> String {
    let mut line = String::new();
    write_text(&mut line, shown);
    line
}

/// [`text_line`] into `line`, without allocating for the common packets:
/// a capture that falls behind loses packets, and allocations add up.
fn write_text(line: &mut String, shown: &Shown) {
    let packet = shown.packet;
    if let Some((src, dst)) = packet.endpoints() {
        push_addr(line, src);
        line.push_str(" > ");
        push_addr(line, dst);
        line.push(' ');
    } else if let Net::Ip(ip) = &packet.net {
        let _ = write!(line, "{} > {} ", ip.src, ip.dst);
    }
    match &packet.transport {
        Transport::Tcp(tcp) => {
            line.push_str("TCP [");
            push_flags(line, tcp.flags);
            // Relative numbers when the connection is tracked, raw otherwise.
            let (seq, ack) = shown.seen.map_or((tcp.seq, tcp.ack), |s| (s.seq, s.ack));
            line.push_str("] seq ");
            push_u64(line, u64::from(seq));
            if tcp.flags.has(Flags::ACK) {
                line.push_str(" ack ");
                push_u64(line, u64::from(ack));
            }
            line.push_str(" win ");
            push_u64(line, u64::from(tcp.window));
            line.push_str(" len ");
            push_u64(line, packet.payload.len() as u64);
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
            line.push_str("UDP len ");
            push_u64(line, packet.payload.len() as u64);
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
}

/// A number in decimal, without the formatting machinery: this runs for
/// every packet, several times, and `write!` was a third of the CPU time.
fn push_u64(line: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        line.push(char::from(d));
    }
}

/// An address and port as Rust's `SocketAddr` displays it; IPv4 by hand
/// (the common case), IPv6 through `Display` (it has compression rules).
fn push_addr(line: &mut String, addr: SocketAddr) {
    match addr {
        SocketAddr::V4(v4) => {
            for (i, octet) in v4.ip().octets().into_iter().enumerate() {
                if i > 0 {
                    line.push('.');
                }
                push_u64(line, u64::from(octet));
            }
            line.push(':');
            push_u64(line, u64::from(v4.port()));
        }
        SocketAddr::V6(_) => {
            let _ = write!(line, "{addr}");
        }
    }
}

/// tcpdump's flag letters, without a String of their own.
fn push_flags(line: &mut String, flags: Flags) {
    let before = line.len();
    for (bit, c) in [
        (Flags::FIN, 'F'),
        (Flags::SYN, 'S'),
        (Flags::RST, 'R'),
        (Flags::PSH, 'P'),
        (Flags::ACK, '.'),
        (Flags::URG, 'U'),
        (Flags::ECE, 'E'),
        (Flags::CWR, 'W'),
    ] {
        if flags.has(bit) {
            line.push(c);
        }
    }
    if line.len() == before {
        line.push_str("none");
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
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:06}", since.as_secs(), since.subsec_micros())
}

/// One JSON object with exactly DESIGN.md's keys; `null` where a key does
/// not apply (no ports, not TCP).
pub fn json_line(shown: &Shown) -> String {
    let packet = shown.packet;
    let string = |s: &str| serde_json::Value::from(s).to_string();
    let (src, dst) = ends(packet).map_or(("null".into(), "null".into()), |(s, d)| {
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
            let retransmission = seen.is_some_and(|s| s.retransmission);
            (
                string(&tcp.flags.letters()),
                seq.to_string(),
                ack,
                tcp.window.to_string(),
                retransmission,
            )
        }
        _ => (null(), null(), null(), null(), false),
    };
    format!(
        "{{\"time\":{},\"src\":{src},\"dst\":{dst},\"proto\":{},\"flags\":{flags},\
         \"seq\":{seq},\"ack\":{ack},\"win\":{win},\"len\":{},\"retransmission\":{retransmission}}}",
        epoch_seconds(shown.time),
        string(&proto(packet)),
        packet.payload.len(),
    )
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
    use proptest::prelude::*;

    proptest! {
        /// The hand-written formatting prints what `Display` prints.
        #[test]
        fn numbers_and_addresses_print_as_display_does(n in any::<u64>(), addr in any::<SocketAddr>()) {
            let mut line = String::new();
            push_u64(&mut line, n);
            prop_assert_eq!(&line, &n.to_string());
            line.clear();
            push_addr(&mut line, addr);
            prop_assert_eq!(line, addr.to_string());
        }
    }
}
