//! TCP's reliability, seen from outside: for each connection, what each side
//! sent and acknowledged, so the capture can say what TCP did.
//!
//! - Relative sequence numbers, as tcpdump and Wireshark show them: each
//!   side picks a random initial sequence number (ISN) in its SYN; we print
//!   `seq - ISN`, so the SYN is `seq 0` and the first data byte is `seq 1`.
//! - A retransmission is a segment whose sequence range starts below the
//!   highest sequence number already seen from that side: those bytes (or
//!   that SYN or FIN) went out before. Its bytes are counted once.
//! - A duplicate ACK (Wireshark's rule): an ACK without data, SYN, FIN or
//!   RST that repeats the previous ACK number and the same non-zero window.
//!   Three in a row make the sender retransmit at once (fast retransmit).
//! - A zero window: the receiver's buffer is full; the sender must stop.
//!   The framing lesson's deadlock, on the wire.
//!
//! Sequence numbers wrap at 2^32, so every comparison here is "serial
//! number arithmetic": `a` is before `b` when `a - b`, as a signed 32-bit
//! number, is negative.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::decode::{Flags, Tcp};

/// At most this many connections are tracked: a SYN flood of random ports
/// must not grow our memory without bound. Later ones are printed, not tracked.
pub const MAX_CONNECTIONS: usize = 10_000;

/// What the tracker says about one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// Sequence number relative to this side's ISN.
    pub seq: u32,
    /// Acknowledgement number relative to the other side's ISN.
    pub ack: u32,
    pub retransmission: bool,
    pub duplicate_ack: bool,
}

/// One direction of a connection: what one side sent.
#[derive(Debug, Default, Clone)]
pub struct Side {
    pub addr: Option<SocketAddr>,
    /// The ISN (from its SYN), or, when the capture began mid-connection,
    /// one less than the first sequence number seen.
    base: Option<u32>,
    /// One past the highest relative sequence number sent so far.
    highest: Option<u32>,
    last_ack: Option<(u32, u16)>,
    pub bytes: u64,
    pub retransmissions: u64,
    pub duplicate_acks: u64,
    pub zero_windows: u64,
}

/// One connection, both directions.
#[derive(Debug, Clone)]
pub struct Connection {
    /// `sides[0]` sent the first packet we saw (the SYN, usually).
    pub sides: [Side; 2],
    syn_time: Option<Duration>,
    /// SYN to SYN-ACK, as seen by the capture.
    pub handshake: Option<Duration>,
}

/// Every connection seen, in the order first seen.
#[derive(Default)]
pub struct Tracker {
    index: HashMap<(SocketAddr, SocketAddr), usize>,
    pub connections: Vec<Connection>,
    pub untracked: u64,
}

fn before(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

impl Tracker {
    /// Takes one TCP segment from `src` to `dst`, seen at `time` (since any
    /// fixed point: only differences are used), with `payload_len` bytes of
    /// data. Returns `None` if the connection table is full.
    pub fn segment(
        &mut self,
        time: Duration,
        src: SocketAddr,
        dst: SocketAddr,
        tcp: &Tcp,
        payload_len: usize,
    ) -> Option<Seen> {
        let key = if src <= dst { (src, dst) } else { (dst, src) };
        let at = match self.index.get(&key) {
            Some(&at) => at,
            None if self.connections.len() >= MAX_CONNECTIONS => {
                self.untracked += 1;
                return None;
            }
            None => {
                self.index.insert(key, self.connections.len());
                let mut first = Side::default();
                first.addr = Some(src);
                let mut second = Side::default();
                second.addr = Some(dst);
                self.connections.push(Connection {
                    sides: [first, second],
                    syn_time: None,
                    handshake: None,
                });
                self.connections.len() - 1
            }
        };
        let conn = &mut self.connections[at];
        let me = usize::from(conn.sides[0].addr != Some(src));
        let flags = tcp.flags;
        let (syn, fin, rst, ack) = (
            flags.has(Flags::SYN),
            flags.has(Flags::FIN),
            flags.has(Flags::RST),
            flags.has(Flags::ACK),
        );

        // The handshake's round trip: from the (last) SYN to the first SYN-ACK.
        if syn && !ack {
            conn.syn_time = Some(time);
        } else if syn && ack && conn.handshake.is_none() {
            conn.handshake = conn.syn_time.map(|t| time.saturating_sub(t));
        }

        // Our side's ISN: from the SYN, else from the first segment seen
        // (one less, so that its first data byte is seq 1 as usual).
        let side = &mut conn.sides[me];
        let base = *side.base.get_or_insert(if syn {
            tcp.seq
        } else {
            tcp.seq.wrapping_sub(1)
        });
        let seq = tcp.seq.wrapping_sub(base);
        // A SYN and a FIN each take one sequence number, like a byte.
        let len = payload_len as u32 + u32::from(syn) + u32::from(fin);
        let end = seq.wrapping_add(len);
        let mut retransmission = false;
        if len > 0 {
            match side.highest {
                Some(highest) if before(seq, highest) => {
                    retransmission = true;
                    side.retransmissions += 1;
                    // Count only the bytes beyond what was seen (usually none).
                    let data_start = seq.wrapping_add(u32::from(syn));
                    let data_end = data_start.wrapping_add(payload_len as u32);
                    if before(highest, data_end) {
                        let from = if before(data_start, highest) {
                            highest
                        } else {
                            data_start
                        };
                        side.bytes += u64::from(data_end.wrapping_sub(from));
                    }
                }
                _ => side.bytes += payload_len as u64,
            }
            if side.highest.is_none_or(|h| before(h, end)) {
                side.highest = Some(end);
            }
        } else if side.highest.is_none() {
            side.highest = Some(seq);
        }

        // Zero windows and duplicate ACKs are about what this side receives.
        if tcp.window == 0 && !(syn || fin || rst) {
            side.zero_windows += 1;
        }
        let mut duplicate_ack = false;
        if ack && payload_len == 0 && !(syn || fin || rst) {
            if side.last_ack == Some((tcp.ack, tcp.window)) && tcp.window != 0 {
                duplicate_ack = true;
                side.duplicate_acks += 1;
            }
        }
        if ack && !rst {
            side.last_ack = Some((tcp.ack, tcp.window));
        }

        // The ACK number counts the other side's bytes: relative to its ISN.
        let other = &mut conn.sides[1 - me];
        let rel_ack = if ack {
            let other_base = *other.base.get_or_insert(tcp.ack.wrapping_sub(1));
            tcp.ack.wrapping_sub(other_base)
        } else {
            0
        };
        Some(Seen {
            seq,
            ack: rel_ack,
            retransmission,
            duplicate_ack,
        })
    }
}
