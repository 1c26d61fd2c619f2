//! TCP's reliability, seen from outside: for each connection, what each side
//! sent and acknowledged, so the capture can say what TCP did.
//!
//! - Relative sequence numbers, as tcpdump and Wireshark show them: each
//!   side picks a random initial sequence number (ISN) in its SYN; we print
//!   `seq - ISN`, so the SYN is `seq 0` and the first data byte is `seq 1`.
//! - A retransmission is a segment whose sequence range was seen before
//!   from that side: those bytes (or that SYN or FIN) went out already. Its
//!   bytes are counted once. A segment that fills a hole is *not* one: on
//!   a busy link (a veth pair, several CPUs) the capture may see a later
//!   segment before an earlier one, and that is reordering, not loss. So
//!   each side keeps the ranges it has seen, not just the highest number.
//! - A duplicate ACK (Wireshark's rule): an ACK without data, SYN, FIN or
//!   RST that repeats the previous ACK number and the same non-zero window.
//!   Three in a row make the sender retransmit at once (fast retransmit).
//! - A zero window: the receiver's buffer is full; the sender must stop.
//!   The framing lesson's deadlock, on the wire.
//!
//! Sequence numbers wrap at 2^32, so every comparison here is "serial
//! number arithmetic": `a` is before `b` when `a - b`, as a signed 32-bit
//! number, is negative; the ranges seen are kept on an unwrapped 64-bit
//! axis for that reason.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
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
    /// The sequence ranges sent so far (relative, unwrapped).
    seen: Ranges,
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
    index: HashMap<(SocketAddr, SocketAddr), usize, BuildHasherDefault<QuickHash>>,
    pub connections: Vec<Connection>,
    pub untracked: u64,
    /// The connection of the previous segment: a stream is a run of
    /// segments of one connection, and comparing two addresses costs less
    /// than hashing them.
    last: Option<((SocketAddr, SocketAddr), usize)>,
}

/// A fast hash for the connection table (FxHash's multiply-rotate). The
/// default, SipHash, resists an attacker choosing keys that collide; here a
/// flood of crafted ports could only slow us down, and the table is capped
/// at MAX_CONNECTIONS, while the hash runs for every packet.
#[derive(Default)]
pub struct QuickHash(u64);

impl Hasher for QuickHash {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Sequence ranges, as sorted, disjoint, half-open intervals on an
/// unwrapped axis: usually one, `[0, highest)`; more while there are holes.
#[derive(Debug, Default, Clone)]
struct Ranges(Vec<(u64, u64)>);

impl Ranges {
    /// At most this many: a peer cannot grow our memory with holes. Past
    /// it, the two lowest ranges merge (the hole between counts as seen).
    const MAX: usize = 64;

    /// A relative sequence number on the unwrapped axis, taken as the
    /// nearest to the highest seen (within 2^31 either way).
    fn unwrap(&self, seq: u32) -> u64 {
        let near = self.0.last().map_or(0, |r| r.1);
        let diff = i64::from(seq.wrapping_sub(near as u32) as i32);
        (near as i64 + diff).max(0) as u64
    }

    /// How many numbers of `[start, end)` were seen before.
    fn covered(&self, start: u64, end: u64) -> u64 {
        (self.0.iter())
            .map(|&(a, b)| b.min(end).saturating_sub(a.max(start)))
            .sum()
    }

    fn insert(&mut self, start: u64, end: u64) {
        // The common case: the next segment in order extends the last range.
        if let Some(last) = self.0.last_mut()
            && start >= last.0
            && start <= last.1
        {
            last.1 = last.1.max(end);
            return;
        }
        self.0.push((start, end));
        self.0.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.0.len());
        for &(a, b) in &self.0 {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        if merged.len() > Self::MAX {
            let second = merged.remove(1);
            merged[0].1 = second.1;
        }
        self.0 = merged;
    }
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
        let cached = self.last.filter(|(k, _)| *k == key).map(|(_, at)| at);
        let at = match cached.or_else(|| self.index.get(&key).copied()) {
            Some(at) => at,
            None if self.connections.len() >= MAX_CONNECTIONS => {
                self.untracked += 1;
                return None;
            }
            None => {
                self.index.insert(key, self.connections.len());
                let first = Side {
                    addr: Some(src),
                    ..Side::default()
                };
                let second = Side {
                    addr: Some(dst),
                    ..Side::default()
                };
                self.connections.push(Connection {
                    sides: [first, second],
                    syn_time: None,
                    handshake: None,
                });
                self.connections.len() - 1
            }
        };
        self.last = Some((key, at));
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
        let mut retransmission = false;
        if len > 0 {
            let start = side.seen.unwrap(seq);
            let end = start + u64::from(len);
            if side.seen.covered(start, end) > 0 {
                retransmission = true;
                side.retransmissions += 1;
            }
            // Count only the payload bytes not seen before.
            let data = start + u64::from(syn);
            let data_end = data + payload_len as u64;
            side.bytes += (data_end - data) - side.seen.covered(data, data_end);
            side.seen.insert(start, end);
        }

        // Zero windows and duplicate ACKs are about what this side receives.
        if tcp.window == 0 && !(syn || fin || rst) {
            side.zero_windows += 1;
        }
        let mut duplicate_ack = false;
        if ack
            && payload_len == 0
            && !(syn || fin || rst)
            && side.last_ack == Some((tcp.ack, tcp.window))
            && tcp.window != 0
        {
            duplicate_ack = true;
            side.duplicate_acks += 1;
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

#[cfg(test)]
mod tests {
    use super::*;

    const C: &str = "127.0.0.1:51234";
    const S: &str = "127.0.0.1:7000";

    fn seg(flags: u8, seq: u32, ack: u32, window: u16) -> Tcp {
        Tcp {
            src_port: 0,
            dst_port: 0,
            seq,
            ack,
            flags: Flags(flags),
            window,
            header_len: 20,
            urgent: 0,
            options: Default::default(),
        }
    }

    /// Feeds segments (from, flags, seq, ack, window, len) 1 ms apart.
    fn feed(t: &mut Tracker, segments: &[(&str, u8, u32, u32, u16, usize)]) -> Vec<Seen> {
        let mut ms = 0;
        segments
            .iter()
            .map(|&(from, flags, seq, ack, win, len)| {
                let (src, dst) = if from == C { (C, S) } else { (S, C) };
                ms += 1;
                t.segment(
                    Duration::from_millis(ms),
                    src.parse().unwrap(),
                    dst.parse().unwrap(),
                    &seg(flags, seq, ack, win),
                    len,
                )
                .unwrap()
            })
            .collect()
    }

    const SYN: u8 = Flags::SYN;
    const SA: u8 = Flags::SYN | Flags::ACK;
    const A: u8 = Flags::ACK;
    const PA: u8 = Flags::PSH | Flags::ACK;
    const FA: u8 = Flags::FIN | Flags::ACK;

    #[test]
    fn a_whole_connection_with_a_wrapping_isn() {
        // The client's ISN is 5 below 2^32: its sequence numbers wrap.
        let isn = u32::MAX - 4;
        let mut t = Tracker::default();
        let seen = feed(
            &mut t,
            &[
                (C, SYN, isn, 0, 65495, 0),
                (S, SA, 7000, isn.wrapping_add(1), 65483, 0),
                (C, A, isn.wrapping_add(1), 7001, 512, 0),
                (C, PA, isn.wrapping_add(1), 7001, 512, 10),
                (S, A, 7001, isn.wrapping_add(11), 512, 0),
                (C, FA, isn.wrapping_add(11), 7001, 512, 0),
                (S, FA, 7001, isn.wrapping_add(12), 512, 0),
            ],
        );
        let rel: Vec<(u32, u32)> = seen.iter().map(|s| (s.seq, s.ack)).collect();
        assert_eq!(
            rel,
            [(0, 0), (0, 1), (1, 1), (1, 1), (1, 11), (11, 1), (1, 12)]
        );
        assert!(seen.iter().all(|s| !s.retransmission && !s.duplicate_ack));
        let conn = &t.connections[0];
        assert_eq!(conn.handshake, Some(Duration::from_millis(1)));
        assert_eq!((conn.sides[0].bytes, conn.sides[1].bytes), (10, 0));
    }

    #[test]
    fn retransmissions_duplicate_acks_and_zero_windows() {
        let mut t = Tracker::default();
        let seen = feed(
            &mut t,
            &[
                (C, SYN, 100, 0, 65495, 0),
                (C, SYN, 100, 0, 65495, 0), // the SYN again
                (S, SA, 500, 101, 65483, 0),
                (C, PA, 101, 501, 512, 100),
                (C, PA, 201, 501, 512, 100), // lost on the way
                (C, PA, 301, 501, 512, 100),
                (S, A, 501, 201, 512, 0),
                (S, A, 501, 201, 512, 0),    // duplicate
                (S, A, 501, 201, 512, 0),    // duplicate
                (C, PA, 201, 501, 512, 100), // retransmitted
                (C, PA, 351, 501, 512, 100), // half old, half new
                (S, A, 501, 351, 0, 0),      // the window is full
                (S, A, 501, 351, 0, 0),      // not a duplicate: window 0
            ],
        );
        let marks: Vec<(bool, bool)> = seen
            .iter()
            .map(|s| (s.retransmission, s.duplicate_ack))
            .collect();
        assert_eq!(
            marks,
            [
                (false, false),
                (true, false),
                (false, false),
                (false, false),
                (false, false),
                (false, false),
                (false, false),
                (false, true),
                (false, true),
                (true, false),
                (true, false),
                (false, false),
                (false, false),
            ]
        );
        let [c, s] = &t.connections[0].sides;
        assert_eq!(c.retransmissions, 3);
        assert_eq!(c.bytes, 350, "each byte once: 101..451");
        assert_eq!(s.duplicate_acks, 2);
        assert_eq!(s.zero_windows, 2);
        // From the last SYN to the SYN-ACK.
        assert_eq!(t.connections[0].handshake, Some(Duration::from_millis(1)));
    }

    #[test]
    fn a_reordered_segment_is_not_a_retransmission() {
        let mut t = Tracker::default();
        let seen = feed(
            &mut t,
            &[
                (C, SYN, 100, 0, 65495, 0),
                (C, PA, 201, 0, 512, 100), // seen before the one it follows
                (C, PA, 101, 0, 512, 100), // fills the hole: new bytes
                (C, PA, 101, 0, 512, 100), // now it is sent again
            ],
        );
        let marks: Vec<bool> = seen.iter().map(|s| s.retransmission).collect();
        assert_eq!(marks, [false, false, false, true]);
        assert_eq!(t.connections[0].sides[0].bytes, 200);
    }

    #[test]
    fn holes_cannot_grow_memory_without_bound() {
        let mut ranges = Ranges::default();
        for i in 0..10_000u64 {
            ranges.insert(i * 10, i * 10 + 5); // a hole after each
        }
        assert!(ranges.0.len() <= Ranges::MAX);
        assert_eq!(ranges.covered(99_990, 99_995), 5);
    }

    #[test]
    fn a_connection_seen_mid_stream_starts_at_seq_1() {
        let mut t = Tracker::default();
        let seen = feed(
            &mut t,
            &[(C, PA, 9000, 4000, 512, 10), (S, A, 4000, 9010, 512, 0)],
        );
        assert_eq!((seen[0].seq, seen[0].ack), (1, 1));
        assert_eq!((seen[1].seq, seen[1].ack), (1, 11));
    }
}
