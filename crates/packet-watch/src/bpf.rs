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
