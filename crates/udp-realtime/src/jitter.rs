//! The jitter buffer: the receiver's idea, as a pure state machine. No
//! socket and no clock in here: the caller says what arrived and when
//! ([`JitterBuffer::arrive`]) and what time it is ([`JitterBuffer::tick`]),
//! and the buffer hands out one frame per 20 ms slot. So it can be tested
//! with any pattern of loss, duplication, reordering and delay, and a
//! test can replay an hour of network in a millisecond.
//!
//! The timeline, with `--playout-ms 60` and `--redundancy 1`:
//!
//! ```text
//! time (ms)   0         40        80        120       160       200
//! sent        0    1    2    3    4    5    6      one datagram every 20 ms
//! arrived      0     1       3 2        5     6       4
//! slot                        0    1    2    3    4    5    6
//! played from                 P    P    P    P    R    P    P
//! ```
//!
//! Slot 0 plays 60 ms after the first datagram arrived, and then one slot
//! every 20 ms on our own clock, whatever the network does. 3 overtook 2
//! (reordered), but both came before their slots. 4 came at 160 ms, after
//! its slot (144 ms): late, thrown away; but 5 carried a copy of 4, so
//! slot 4 played the copy (R) instead of a gap.
//!
//! At each slot's deadline the buffer plays the primary frame if it came
//! in time, else a redundant copy (a later datagram carried it), else a
//! concealed frame (the last one, faded). A datagram that comes after its
//! slot was played is *late*: it is counted and thrown away, because the
//! moment it was for has passed. That is why retransmission cannot help
//! live audio: a resent frame arrives a round trip later, after its slot.
//!
//! Every slot from the first sequence number heard to the newest one is
//! counted exactly once, as `primary`, `redundant` or `concealed`. Slots
//! played after the newest sequence number heard (a gap in the stream, or
//! its end) are held back, uncounted: if a later datagram shows the stream
//! went on, they are counted as concealed then; if the stream has ended,
//! they never were part of it.
//!
//! Bounded: the buffer holds the slots from the playout point up to 1000
//! frames (20 s) ahead, in a ring allocated once; a sequence number more
//! than 1000 frames from the playout point, either way, is invalid and
//! ignored. So a forged jump of 2^31 allocates nothing and moves nothing.

use std::time::Duration;

use crate::audio::{self, COPY_BYTES, FRAME_MS, Frame, SILENCE};
use crate::wire::Datagram;

/// How far from the playout point, in frames, a sequence number may be.
pub const WINDOW: i64 = 1000;
/// Frames held: the playout point and the WINDOW frames after it.
const SLOTS: usize = 1024;
/// Sequence numbers remembered (to tell duplicates): WINDOW back, WINDOW ahead.
const HEARD: usize = 2048;

/// How a slot was filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// The frame itself came in time.
    Primary,
    /// The frame was lost (or late), but a later datagram's copy came in time.
    Redundant,
    /// Neither came in time: the last frame, faded, or silence.
    Concealed,
}

/// One slot's audio, handed to the caller's sink in sequence order. (The
/// receiver only writes `pcm` to its WAV file; the tests read the rest.)
#[derive(Debug)]
#[cfg_attr(not(test), expect(dead_code, reason = "seq and how are for the tests"))]
pub struct Played<'a> {
    pub seq: u32,
    pub how: How,
    pub pcm: &'a Frame,
}

/// The counters of the final report. `primary + redundant + concealed ==
/// frames` (slots); `late`, `duplicate`, `reordered` and `invalid` count
/// datagrams. A reordered datagram may also be late.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub frames: u64,
    pub primary: u64,
    pub redundant: u64,
    pub concealed: u64,
    pub late: u64,
    pub duplicate: u64,
    pub reordered: u64,
    pub invalid: u64,
}

/// What became of one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arrival {
    /// Before its slot: it will play (`reordered`: a newer one came first).
    InTime { reordered: bool },
    /// After its slot was played: counted, thrown away.
    Late { reordered: bool },
    /// Its sequence number came before.
    Duplicate,
    /// More than [`WINDOW`] frames from the playout point: ignored.
    OutOfWindow,
}

/// One slot of the ring: the frame with sequence number `ext` (see
/// [`Stream`]), if it came.
#[derive(Clone)]
struct Slot {
    ext: i64,
    primary: Option<Frame>,
    copy: Option<[u8; COPY_BYTES]>,
}

/// The stream's clock, set by its first datagram.
struct Stream {
    /// When the first datagram arrived.
    first_arrival: Duration,
    /// Its sequence number. Sequence numbers wrap at 2^32; inside the
    /// buffer each is "unwrapped" to `ext`, its distance from the first
    /// (RFC 3550 does the same), so comparisons never see the wrap.
    first_seq: u32,
    /// The playout point: the next slot to play.
    next: i64,
    /// The newest sequence number heard.
    newest: i64,
}

/// See the module documentation.
pub struct JitterBuffer {
    playout: Duration,
    stream: Option<Stream>,
    slots: Box<[Slot]>,
    heard: Box<[i64]>,
    counters: Counters,
    /// The last frame played from a primary or a copy, for concealment.
    last_good: Frame,
    /// Slots concealed in a row up to the playout point.
    run: u64,
    longest_gap: u64,
    /// The latest time we were told; time never goes back in here.
    now: Duration,
}

/// Marks an empty entry of `heard` and `slots` (no `ext` is this low).
const NOTHING: i64 = i64::MIN;

impl JitterBuffer {
    /// A buffer that plays each frame `playout` after the first datagram's
    /// arrival plus its place in the stream.
    pub fn new(playout: Duration) -> Self {
        let empty = Slot {
            ext: NOTHING,
            primary: None,
            copy: None,
        };
        JitterBuffer {
            playout,
            stream: None,
            slots: vec![empty; SLOTS].into_boxed_slice(),
            heard: vec![NOTHING; HEARD].into_boxed_slice(),
            counters: Counters::default(),
            last_good: SILENCE,
            run: 0,
            longest_gap: 0,
            now: Duration::ZERO,
        }
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Counts a datagram the caller rejected (no magic, a stranger's...).
    pub fn count_invalid(&mut self) {
        self.counters.invalid += 1;
    }

    /// The longest run of concealed slots counted so far.
    pub fn longest_gap(&self) -> u64 {
        self.longest_gap
    }

    /// The bytes the buffer holds: fixed when it is made, whatever arrives.
    #[cfg(test)]
    pub fn memory(&self) -> usize {
        std::mem::size_of_val(&*self.slots) + std::mem::size_of_val(&*self.heard)
    }

    /// Whether every slot up to the newest sequence number heard has been
    /// played (true before the first datagram too).
    pub fn played_all_heard(&self) -> bool {
        self.stream.as_ref().is_none_or(|s| s.next > s.newest)
    }

    /// When the next slot plays (`None` before the first datagram).
    pub fn next_deadline(&self) -> Option<Duration> {
        let stream = self.stream.as_ref()?;
        Some(self.deadline(stream, stream.next))
    }

    fn deadline(&self, stream: &Stream, ext: i64) -> Duration {
        let offset = Duration::from_millis(FRAME_MS.saturating_mul(ext.max(0) as u64));
        // Saturating: no time a caller passes can overflow the clock.
        stream
            .first_arrival
            .saturating_add(self.playout)
            .saturating_add(offset)
    }

    /// Plays every slot whose time has come by `now`, handing each
    /// counted frame to `sink` in sequence order.
    pub fn tick(&mut self, now: Duration, sink: &mut dyn FnMut(Played<'_>)) {
        self.now = self.now.max(now);
        let Some(stream) = self.stream.as_ref() else {
            return;
        };
        // The newest slot due: (now - first deadline) / 20 ms.
        let Some(since) = self.now.checked_sub(self.deadline(stream, 0)) else {
            return;
        };
        let due = (since.as_millis() / u128::from(FRAME_MS)).min(i64::MAX as u128 / 2) as i64;
        let (mut next, newest) = (stream.next, stream.newest);
        // Slots up to the newest sequence number heard: decide and count.
        while next <= due && next <= newest {
            self.play(next, sink);
            next += 1;
        }
        // Slots past it are concealed, but not counted yet (see the module
        // docs); skipping them costs nothing, however long the silence.
        if next <= due {
            self.run = self.run.saturating_add((due - next + 1) as u64);
            next = due + 1;
        }
        if let Some(stream) = self.stream.as_mut() {
            stream.next = next;
        }
    }

    /// Decides slot `ext` (at most the newest heard) and counts it.
    fn play(&mut self, ext: i64, sink: &mut dyn FnMut(Played<'_>)) {
        let slot = &mut self.slots[index(ext, SLOTS)];
        let (mut primary, mut copy) = (None, None);
        if slot.ext == ext {
            primary = slot.primary.take();
            copy = slot.copy.take();
        }
        let (how, frame) = if let Some(frame) = primary {
            (How::Primary, frame)
        } else if let Some(mulaw) = copy {
            (How::Redundant, audio::from_low_quality(&mulaw))
        } else {
            (How::Concealed, audio::conceal(&self.last_good, self.run))
        };
        if how == How::Concealed {
            self.run += 1;
        } else {
            self.last_good = frame;
            self.run = 0;
        }
        self.count(ext, how, &frame, self.run, sink);
    }

    /// Counts slot `ext`, the end of a run of `run` concealed slots (0 if
    /// it was not concealed), and hands its frame to the sink.
    fn count(
        &mut self,
        ext: i64,
        how: How,
        pcm: &Frame,
        run: u64,
        sink: &mut dyn FnMut(Played<'_>),
    ) {
        let c = &mut self.counters;
        c.frames += 1;
        match how {
            How::Primary => c.primary += 1,
            How::Redundant => c.redundant += 1,
            How::Concealed => c.concealed += 1,
        }
        self.longest_gap = self.longest_gap.max(run);
        let seq = self.seq(ext);
        sink(Played { seq, how, pcm });
    }

    /// The wire's sequence number of `ext`.
    fn seq(&self, ext: i64) -> u32 {
        let first = self.stream.as_ref().map_or(0, |s| s.first_seq);
        first.wrapping_add(ext as u32)
    }

    /// A datagram of the stream arrived at `now`. Slots due by then are
    /// played first, so "late" means exactly "after its slot".
    pub fn arrive(
        &mut self,
        now: Duration,
        datagram: &Datagram<'_>,
        sink: &mut dyn FnMut(Played<'_>),
    ) -> Arrival {
        self.tick(now, sink);
        let Some(stream) = self.stream.as_ref() else {
            // The first datagram starts the stream and its clock.
            self.stream = Some(Stream {
                first_arrival: self.now,
                first_seq: datagram.seq,
                next: 0,
                newest: 0,
            });
            self.keep(0, datagram);
            return Arrival::InTime { reordered: false };
        };
        // Unwrap: the distance from the playout point, -2^31..2^31.
        let next_seq = stream.first_seq.wrapping_add(stream.next as u32);
        let ext = stream.next + i64::from(datagram.seq.wrapping_sub(next_seq) as i32);
        let (next, newest) = (stream.next, stream.newest);
        if (ext - next).abs() > WINDOW {
            self.counters.invalid += 1;
            return Arrival::OutOfWindow;
        }
        let heard = &mut self.heard[index(ext, HEARD)];
        if *heard == ext {
            self.counters.duplicate += 1;
            return Arrival::Duplicate;
        }
        *heard = ext;
        let reordered = ext < newest;
        if reordered {
            self.counters.reordered += 1;
        }
        if ext > newest {
            self.extend_to(ext, sink);
        }
        if ext < next {
            self.counters.late += 1;
            return Arrival::Late { reordered };
        }
        self.keep(ext, datagram);
        Arrival::InTime { reordered }
    }

    /// The stream reaches `ext`: the slots already played past the old
    /// newest (concealed, held back) up to `ext` are part of it after all.
    fn extend_to(&mut self, ext: i64, sink: &mut dyn FnMut(Played<'_>)) {
        let Some(stream) = self.stream.as_mut() else {
            return;
        };
        let (old, next) = (stream.newest, stream.next);
        stream.newest = ext;
        let held = (next - 1 - old).max(0) as u64;
        let confirmed = (ext.min(next - 1) - old).max(0);
        // The held slots are the end of the current concealed run; the
        // first of them was this far into it.
        let before = self.run.saturating_sub(held);
        for step in 1..=confirmed {
            let run = before + step as u64;
            let frame = audio::conceal(&self.last_good, run - 1);
            self.count(old + step, How::Concealed, &frame, run, sink);
        }
    }

    /// Stores the frame and the copies of a datagram whose slot is ahead.
    fn keep(&mut self, ext: i64, datagram: &Datagram<'_>) {
        let next = self.stream.as_ref().map_or(0, |s| s.next);
        self.heard[index(ext, HEARD)] = ext;
        self.slot(ext).primary = Some(audio::from_bytes(datagram.pcm));
        for copy in datagram.copies() {
            let at = ext - i64::from(copy.distance);
            // A copy of a frame already played, or from before the stream
            // began, is no use.
            if at >= next {
                let slot = self.slot(at);
                if slot.primary.is_none() && slot.copy.is_none() {
                    slot.copy = Some(*copy.mulaw);
                }
            }
        }
    }

    /// The ring entry for `ext`, emptied if it still holds an older frame.
    fn slot(&mut self, ext: i64) -> &mut Slot {
        let slot = &mut self.slots[index(ext, SLOTS)];
        if slot.ext != ext {
            *slot = Slot {
                ext,
                primary: None,
                copy: None,
            };
        }
        slot
    }
}

fn index(ext: i64, len: usize) -> usize {
    ext.rem_euclid(len as i64) as usize
}

#[cfg(test)]
#[path = "jitter_tests.rs"]
mod tests;
