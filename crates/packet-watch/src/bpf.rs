//! The port filter, as a classic BPF program the kernel runs on every packet
//! before it queues it on our socket (what tcpdump attaches for `port N`).
//!
//! A classic BPF program is a list of tiny instructions for a virtual
//! machine with one accumulator `A` and one index register `X`: load a byte,
//! halfword or word of the packet into `A`, compare it with a constant and
//! jump forward, and finally `ret` how many bytes of the packet to keep (0:
//! drop it). Jumps only go forward, so every program ends; the kernel checks
//! that before it accepts one. Packets the program drops never reach us, so
//! a busy host costs the capture no copies and no wake-ups.
//!
//! The program for `--port 7000` on an Ethernet-framed interface (`lo`
//! frames packets as Ethernet with zero addresses), as `--dump-filter` and
//! `tcpdump -d 'port 7000'` print it (the README compares the two):
//!
//! ```text
//! ldh [12]                  the EtherType: what the network layer is
//! jeq #0x86dd ...           IPv6: the next header byte [20] must be TCP
//!                           or UDP, the ports are at [54] and [56];
//!                           a Fragment header (44): only the first
//!                           fragment has ports, 8 bytes further on
//! jeq #0x800 ...            IPv4: protocol byte [23] TCP or UDP, not a
//!                           later fragment (offset bits of [20] zero),
//! ldxb 4*([14]&0xf)         X = the IPv4 header's length (it has options),
//! ldh [x + 14], [x + 16]    then the source and destination ports
//! ret #262144               keep up to 256 KiB of the packet
//! ret #0                    drop it
//! ```
//!
//! On `lo` every packet passes a packet socket twice, once leaving
//! (PACKET_OUTGOING) and once arriving. Our program starts with two more
//! instructions that drop the outgoing copy in the kernel, using a BPF
//! "ancillary" load: not a packet byte but the packet's type, which the
//! kernel supplies at the magic offset `SKF_AD_OFF + SKF_AD_PKTTYPE`.

use std::collections::HashMap;
use std::fmt::Write as _;

/// One instruction, laid out exactly as the kernel's `struct sock_filter`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

// Instruction classes and modes from <linux/filter.h>, the subset we use.
pub const LD: u16 = 0x00;
pub const LDX: u16 = 0x01;
pub const JMP: u16 = 0x05;
pub const RET: u16 = 0x06;
pub const W: u16 = 0x00; // load a 32-bit word
pub const H: u16 = 0x08; // a 16-bit halfword
pub const B: u16 = 0x10; // a byte
pub const ABS: u16 = 0x20; // at a fixed offset: ld [k]
pub const IND: u16 = 0x40; // at X + k: ld [x + k]
pub const MSH: u16 = 0xa0; // X = 4 * (byte [k] & 0xf): an IPv4 header length
pub const JEQ: u16 = 0x10;
pub const JSET: u16 = 0x40; // jump if A & k != 0
pub const K: u16 = 0x00; // compare with the constant k

/// Ancillary data: loads at offsets from `SKF_AD_OFF` read facts about the
/// packet the kernel knows, not packet bytes (`linux/filter.h`).
pub const SKF_AD_OFF: u32 = (-0x1000i32) as u32;
pub const SKF_AD_PKTTYPE: u32 = 4;
/// `sll_pkttype` of a packet this host sends (`linux/if_packet.h`).
pub const PACKET_OUTGOING: u32 = 4;

/// How many bytes of an accepted packet to keep, as tcpdump's default.
pub const SNAPLEN: u32 = 262_144;

/// At most this many `--port`s: the jumps of a classic BPF program are one
/// byte, so a program over 255 instructions might not be able to reach its
/// last `ret`. 16 ports make about 90 instructions.
pub const MAX_PORTS: usize = 16;

// Offsets in an Ethernet frame (14-byte header, then the IP header).
const ETHERTYPE: u32 = 12;
const NET: u32 = 14;

/// The filter for `ports` (empty: every packet). `drop_outgoing` drops the
/// outgoing copy of each packet, for `lo`, where every packet would
/// otherwise be seen twice.
pub fn program(ports: &[u16], drop_outgoing: bool) -> Vec<Insn> {
    let mut ports = ports.to_vec();
    ports.sort_unstable();
    ports.dedup();
    let ports = &ports[..];
    let mut a = Asm::default();
    if drop_outgoing {
        a.op(LD | H | ABS, SKF_AD_OFF + SKF_AD_PKTTYPE);
        a.jump(JEQ, PACKET_OUTGOING, "drop", "next");
    }
    if ports.is_empty() {
        a.label("accept");
        a.op(RET | K, SNAPLEN);
        a.label("drop");
        a.op(RET | K, 0);
        return a.finish();
    }
    a.op(LD | H | ABS, ETHERTYPE);
    a.jump(JEQ, 0x86dd, "next", "ipv4");

    // IPv6: a fixed 40-byte header; its next-header byte is at NET + 6.
    a.op(LD | B | ABS, NET + 6);
    a.jump(JEQ, 6, "ipv6 ports", "next"); // TCP
    a.jump(JEQ, 17, "ipv6 ports", "next"); // UDP
    a.jump(JEQ, 44, "next", "drop"); // a Fragment header
    a.op(LD | H | ABS, NET + 40 + 2); // its offset and flags
    a.jump(JSET, 0xfff8, "drop", "next"); // a later fragment: no ports in it
    a.op(LD | B | ABS, NET + 40); // the header after the Fragment header
    a.jump(JEQ, 6, "ipv6 fragment ports", "next");
    a.jump(JEQ, 17, "ipv6 fragment ports", "drop");
    a.label("ipv6 fragment ports");
    ports_at(&mut a, ports, LD | H | ABS, NET + 48);
    a.label("ipv6 ports");
    ports_at(&mut a, ports, LD | H | ABS, NET + 40);

    // IPv4: a header of 20 to 60 bytes; the protocol byte is at NET + 9.
    a.label("ipv4");
    a.jump(JEQ, 0x800, "next", "drop");
    a.op(LD | B | ABS, NET + 9);
    a.jump(JEQ, 6, "ipv4 ports", "next");
    a.jump(JEQ, 17, "ipv4 ports", "drop");
    a.label("ipv4 ports");
    a.op(LD | H | ABS, NET + 6); // flags and fragment offset
    a.jump(JSET, 0x1fff, "drop", "next"); // a later fragment: no ports in it
    a.op(LDX | B | MSH, NET); // X = the IPv4 header's length
    ports_at(&mut a, ports, LD | H | IND, NET);

    a.label("accept");
    a.op(RET | K, SNAPLEN);
    a.label("drop");
    a.op(RET | K, 0);
    a.finish()
}

/// Source port at `at`, destination port at `at + 2`: accept if either is
/// one of ours, else drop.
fn ports_at(a: &mut Asm, ports: &[u16], load: u16, at: u32) {
    for (offset, last) in [(at, "next"), (at + 2, "drop")] {
        a.op(load, offset);
        for (i, &port) in ports.iter().enumerate() {
            let miss = if i + 1 == ports.len() { last } else { "next" };
            a.jump(JEQ, u32::from(port), "accept", miss);
        }
    }
}

/// A tiny assembler: instructions with jumps to named labels, resolved to
/// the relative offsets the kernel wants when the program is finished.
#[derive(Default)]
struct Asm {
    insns: Vec<(Insn, &'static str, &'static str)>,
    labels: HashMap<&'static str, usize>,
}

impl Asm {
    fn op(&mut self, code: u16, k: u32) {
        let insn = Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        };
        self.insns.push((insn, "", ""));
    }

    fn jump(&mut self, op: u16, k: u32, yes: &'static str, no: &'static str) {
        let insn = Insn {
            code: JMP | op | K,
            jt: 0,
            jf: 0,
            k,
        };
        self.insns.push((insn, yes, no));
    }

    fn label(&mut self, name: &'static str) {
        self.labels.insert(name, self.insns.len());
    }

    fn finish(self) -> Vec<Insn> {
        let target = |at: usize, name: &str| -> u8 {
            let to = if name == "next" {
                at + 1
            } else {
                self.labels[name]
            };
            // Forward only, at most 255 ahead: MAX_PORTS keeps us well inside.
            u8::try_from(to - at - 1).expect("BPF jump within 255 instructions")
        };
        (self.insns.iter().enumerate())
            .map(|(at, &(mut insn, yes, no))| {
                if !yes.is_empty() {
                    insn.jt = target(at, yes);
                    insn.jf = target(at, no);
                }
                insn
            })
            .collect()
    }
}

/// The program as `tcpdump -d` prints one: `(003) jeq #0x6 jt 6 jf 4`,
/// jump targets as absolute instruction numbers.
pub fn disassemble(program: &[Insn]) -> String {
    let mut text = String::new();
    for (at, insn) in program.iter().enumerate() {
        let size = match insn.code & 0x18 {
            W => "",
            H => "h",
            _ => "b",
        };
        let k = insn.k;
        let place = if k >= SKF_AD_OFF {
            match k - SKF_AD_OFF {
                SKF_AD_PKTTYPE => "[type]".to_string(),
                other => format!("[ancillary {other}]"),
            }
        } else {
            format!("[{k}]")
        };
        let (op, arg) = match insn.code {
            c if c == LD | H | ABS || c == LD | B | ABS || c == LD | W | ABS => {
                (format!("ld{size}"), place)
            }
            c if c == LD | H | IND || c == LD | B | IND || c == LD | W | IND => {
                (format!("ld{size}"), format!("[x + {k}]"))
            }
            c if c == LDX | B | MSH => ("ldxb".into(), format!("4*([{k}]&0xf)")),
            c if c == JMP | JEQ | K => ("jeq".into(), format!("#{k:#x}")),
            c if c == JMP | JSET | K => ("jset".into(), format!("#{k:#x}")),
            c if c == RET | K => ("ret".into(), format!("#{k}")),
            c => (format!("op {c:#x}"), format!("#{k:#x}")),
        };
        if insn.code & 0x07 == JMP {
            let (jt, jf) = (at + 1 + usize::from(insn.jt), at + 1 + usize::from(insn.jf));
            let _ = write!(text, "({at:03}) {op:<8} {arg:<16} jt {jt}\tjf {jf}");
        } else {
            let _ = write!(text, "({at:03}) {op:<8} {arg}");
        }
        text.push('\n');
    }
    text
}

/// Runs `program` on `frame` as the kernel would (the subset of classic BPF
/// that [`program`] emits): how many bytes it keeps, 0 for a drop. The
/// tests use it to check the program on packets without any privilege.
pub fn run(program: &[Insn], frame: &[u8], packet_type: u32) -> u32 {
    let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
    let load = |at: u32, size: usize| -> Option<u32> {
        if at >= SKF_AD_OFF {
            return (at - SKF_AD_OFF == SKF_AD_PKTTYPE).then_some(packet_type);
        }
        let at = at as usize;
        let bytes = frame.get(at..at.checked_add(size)?)?;
        Some(bytes.iter().fold(0, |acc, &b| acc << 8 | u32::from(b)))
    };
    while let Some(insn) = program.get(pc) {
        pc += 1;
        let size = match insn.code & 0x18 {
            W => 4,
            H => 2,
            _ => 1,
        };
        // A load past the end of the packet ends the program: drop, as the kernel does.
        match insn.code & 0x07 {
            LD if insn.code & 0xe0 == ABS => match load(insn.k, size) {
                Some(v) => a = v,
                None => return 0,
            },
            LD if insn.code & 0xe0 == IND => match load(x.wrapping_add(insn.k), size) {
                Some(v) => a = v,
                None => return 0,
            },
            LDX => match load(insn.k, 1) {
                Some(v) => x = 4 * (v & 0xf),
                None => return 0,
            },
            JMP => {
                let taken = if insn.code & 0xf0 == JSET {
                    a & insn.k != 0
                } else {
                    a == insn.k
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            RET => return insn.k,
            _ => return 0,
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A frame built by hand, so every field the filter looks at is ours to set.
    #[derive(Debug, Clone)]
    struct Spec {
        v6: bool,
        proto: u8,
        sport: u16,
        dport: u16,
        /// IPv4: 32-bit words of options (0..=10).
        options: usize,
        /// In 8-byte units; non-zero: a later fragment.
        fragment_offset: u16,
        /// IPv6: put a Fragment header in front of the transport header.
        fragment_header: bool,
    }

    fn frame(s: &Spec) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        let mut transport = Vec::new();
        transport.extend(s.sport.to_be_bytes());
        transport.extend(s.dport.to_be_bytes());
        transport.resize(if s.proto == 6 { 20 } else { 8 }, 0);
        if s.proto == 6 {
            transport[12] = 5 << 4;
        }
        transport.extend(b"hello");
        if s.v6 {
            f.extend(0x86ddu16.to_be_bytes());
            let mut ip = vec![0x60, 0, 0, 0];
            let mut ext = Vec::new();
            let next = if s.fragment_header {
                ext.push(s.proto);
                ext.push(0);
                ext.extend((s.fragment_offset << 3 | 1).to_be_bytes());
                ext.extend([0, 0, 0, 1]);
                44
            } else {
                s.proto
            };
            ip.extend(((ext.len() + transport.len()) as u16).to_be_bytes());
            ip.push(next);
            ip.push(64);
            ip.extend([0u8; 15]);
            ip.push(1); // ::1
            ip.extend([0u8; 15]);
            ip.push(1);
            f.extend(ip);
            f.extend(ext);
        } else {
            f.extend(0x0800u16.to_be_bytes());
            let ihl = 5 + s.options;
            let total = ihl * 4 + transport.len();
            let mut ip = vec![0x40 | ihl as u8, 0];
            ip.extend((total as u16).to_be_bytes());
            ip.extend([0, 1]);
            ip.extend(s.fragment_offset.to_be_bytes());
            ip.extend([64, s.proto, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1]);
            ip.extend(std::iter::repeat_n(1u8, s.options * 4)); // NOP options
            f.extend(ip);
        }
        f.extend(transport);
        f
    }

    /// What `port P` means: TCP or UDP, ports visible, one of them ours.
    fn wanted(s: &Spec, ports: &[u16]) -> bool {
        let later_fragment = s.fragment_offset != 0 && (!s.v6 || s.fragment_header);
        matches!(s.proto, 6 | 17)
            && !later_fragment
            && (ports.contains(&s.sport) || ports.contains(&s.dport))
    }

    fn spec() -> impl Strategy<Value = Spec> {
        (
            any::<bool>(),
            prop_oneof![Just(6u8), Just(17u8), Just(1u8), Just(58u8), any::<u8>()],
            prop_oneof![Just(7000u16), any::<u16>()],
            prop_oneof![Just(7000u16), Just(7001u16), any::<u16>()],
            0usize..=10,
            prop_oneof![Just(0u16), 1u16..0x1fff],
            any::<bool>(),
        )
            .prop_map(
                |(v6, proto, sport, dport, options, fragment_offset, fh)| Spec {
                    v6,
                    proto,
                    sport,
                    dport,
                    options,
                    fragment_offset,
                    fragment_header: v6 && fh,
                },
            )
    }

    proptest! {
        /// The program keeps exactly the packets `port N` describes, on
        /// IPv4 with any header length and IPv6 with or without a Fragment
        /// header, and drops later fragments (they carry no ports).
        #[test]
        fn filter_keeps_exactly_our_ports(s in spec(), extra in any::<u16>(), lo in any::<bool>()) {
            let ports = [7000, extra];
            let program = program(&ports, lo);
            let kept = run(&program, &frame(&s), 0) != 0;
            prop_assert_eq!(kept, wanted(&s, &ports), "{:?}", s);
        }

        /// On lo the outgoing copy is dropped whatever it holds.
        #[test]
        fn outgoing_copies_are_dropped_on_lo(s in spec()) {
            let program = program(&[s.sport], true);
            prop_assert_eq!(run(&program, &frame(&s), PACKET_OUTGOING), 0);
        }

        /// No byte string makes the program misbehave: it ends, and a
        /// truncated packet is dropped, not read past its end.
        #[test]
        fn arbitrary_frames_end_in_a_ret(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let verdict = run(&program(&[7000], true), &bytes, 0);
            prop_assert!(verdict == 0 || verdict == SNAPLEN);
        }
    }

    #[test]
    fn every_jump_is_forward_and_in_range_with_the_most_ports() {
        let ports: Vec<u16> = (1..=MAX_PORTS as u16).collect();
        let program = program(&ports, true);
        for (at, insn) in program.iter().enumerate() {
            if insn.code & 0x07 == JMP {
                assert!(at + 1 + usize::from(insn.jt.max(insn.jf)) < program.len());
            }
        }
        assert_eq!(program.last().map(|i| i.code), Some(RET | K));
    }

    #[test]
    fn no_ports_keeps_everything_but_the_lo_copy() {
        let program = program(&[], true);
        assert_eq!(run(&program, b"anything", 0), SNAPLEN);
        assert_eq!(run(&program, b"anything", PACKET_OUTGOING), 0);
    }

    /// The IPv4 half reads like tcpdump's own program for `port 7000`.
    #[test]
    fn disassembly_matches_tcpdump_notation() {
        let text = disassemble(&program(&[7000], false));
        assert!(text.starts_with("(000) ldh      [12]\n(001) jeq      #0x86dd          jt 2\tjf "));
        for line in [
            "ldxb     4*([14]&0xf)",
            "ldh      [x + 14]",
            "jset     #0x1fff",
            "ret      #262144",
            "ret      #0",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
