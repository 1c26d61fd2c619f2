//! The jitter buffer without sockets: exact cases first, then property
//! tests that throw random loss, duplication, reordering and delay at it
//! and compare every slot with an oracle that knows the whole schedule.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::audio::{FRAME_SAMPLES, PCM_BYTES, low_quality};
use crate::wire;

const PLAYOUT: Duration = Duration::from_millis(60);

/// The frame the sender sends as `seq`: every sample says which it is.
fn frame(seq: u32) -> Frame {
    [(seq % 30_000) as i16 + 1000; FRAME_SAMPLES]
}

/// Datagram `seq` with copies of the `k` frames before it, as bytes.
fn bytes(seq: u32, k: usize) -> Vec<u8> {
    let copies: Vec<_> = (1..=k as u32)
        .map(|d| (d as u8, low_quality(&frame(seq.wrapping_sub(d)))))
        .collect();
    let mut out = Vec::new();
    wire::encode(seq, &copies, &frame(seq), &mut out);
    out
}

/// What the sink saw: (sequence number, how, first sample).
#[derive(Default)]
struct Heard(Vec<(u32, How, i16)>);

impl Heard {
    fn sink(&mut self) -> impl FnMut(Played<'_>) + '_ {
        |played: Played<'_>| self.0.push((played.seq, played.how, played.pcm[0]))
    }
    fn hows(&self) -> Vec<How> {
        self.0.iter().map(|h| h.1).collect()
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn arrive(jb: &mut JitterBuffer, heard: &mut Heard, at: u64, seq: u32, k: usize) -> Arrival {
    let data = bytes(seq, k);
    let datagram = wire::parse(&data).unwrap();
    jb.arrive(ms(at), &datagram, &mut heard.sink())
}

use How::{Concealed as C, Primary as P, Redundant as R};

#[test]
fn no_loss_plays_every_frame_from_the_primary_on_time() {
    let mut jb = JitterBuffer::new(PLAYOUT);
    let mut heard = Heard::default();
    for seq in 0..10 {
        assert_eq!(
            arrive(&mut jb, &mut heard, 1000 + 20 * u64::from(seq), seq, 1),
            Arrival::InTime { reordered: false }
        );
    }
    // Slot 0 is due at 1060, slot 9 at 1240.
    assert_eq!(jb.next_deadline(), Some(ms(1000 + 60 + 20 * 7)));
    jb.tick(ms(1239), &mut heard.sink());
    assert_eq!(heard.0.len(), 9);
    jb.tick(ms(1240), &mut heard.sink());
    assert_eq!(heard.0.len(), 10);
    let seqs: Vec<u32> = heard.0.iter().map(|h| h.0).collect();
    assert_eq!(seqs, (0..10).collect::<Vec<_>>());
    assert!(heard.0.iter().all(|h| h.2 == frame(h.0)[0]));
    assert_eq!(heard.hows(), vec![P; 10]);
    let c = jb.counters();
    assert_eq!(
        (c.frames, c.primary, c.late, c.duplicate, c.reordered),
        (10, 10, 0, 0, 0)
    );
}

#[test]
fn a_lost_frame_plays_from_the_next_datagrams_copy() {
    let mut jb = JitterBuffer::new(PLAYOUT);
    let mut heard = Heard::default();
    for seq in [0, 1, 3, 4] {
        arrive(&mut jb, &mut heard, 20 * u64::from(seq), seq, 1);
    }
    jb.tick(ms(10_000), &mut heard.sink());
    assert_eq!(heard.hows(), vec![P, P, R, P, P]);
    // The copy is 8 kHz mu-law of frame 2: close, not equal.
    let copy = heard.0[2].2;
    assert!(
        (i32::from(copy) - i32::from(frame(2)[0])).abs() < 40,
        "{copy}"
    );
    let c = jb.counters();
    assert_eq!(
        (c.frames, c.primary, c.redundant, c.concealed),
        (5, 4, 1, 0)
    );
}

#[test]
fn without_a_copy_the_gap_is_concealed_fading_to_silence() {
    let mut jb = JitterBuffer::new(PLAYOUT);
    let mut heard = Heard::default();
    for seq in [0, 1, 5] {
        arrive(&mut jb, &mut heard, 20 * u64::from(seq), seq, 0);
    }
    jb.tick(ms(10_000), &mut heard.sink());
    assert_eq!(heard.hows(), vec![P, P, C, C, C, P]);
    // The last frame (1), faded from full volume, then half, then silence.
    assert_eq!(heard.0[2].2, frame(1)[0]);
    assert!(heard.0[3].2 <= frame(1)[0] / 2 + 1);
    assert_eq!(heard.0[4].2, 0);
    assert_eq!(jb.longest_gap(), 3);
}

#[test]
fn a_frame_after_its_slot_is_late_and_does_not_play() {
    let mut jb = JitterBuffer::new(PLAYOUT);
    let mut heard = Heard::default();
    arrive(&mut jb, &mut heard, 0, 0, 0);
    arrive(&mut jb, &mut heard, 20, 1, 0);
    arrive(&mut jb, &mut heard, 60, 3, 0);
    // Slot 2 is due at 60 + 40 = 100: arriving at 100 is too late.
    assert_eq!(
        arrive(&mut jb, &mut heard, 100, 2, 0),
        Arrival::Late { reordered: true }
    );
    jb.tick(ms(10_000), &mut heard.sink());
    assert_eq!(heard.hows(), vec![P, P, C, P]);
    let c = jb.counters();
    assert_eq!((c.late, c.reordered, c.concealed), (1, 1, 1));
}

#[test]
fn reordered_in_time_plays_and_duplicates_are_counted_once() {
    let mut jb = JitterBuffer::new(PLAYOUT);
    let mut heard = Heard::default();
    arrive(&mut jb, &mut heard, 0, 0, 0);
    assert_eq!(
        arrive(&mut jb, &mut heard, 40, 2, 0),
        Arrival::InTime { reordered: false }
    );
    assert_eq!(
        arrive(&mut jb, &mut heard, 41, 1, 0),
        Arrival::InTime { reordered: true }
    );
    assert_eq!(arrive(&mut jb, &mut heard, 42, 1, 0), Arrival::Duplicate);
    assert_eq!(arrive(&mut jb, &mut heard, 43, 0, 0), Arrival::Duplicate);
    jb.tick(ms(10_000), &mut heard.sink());
    // A duplicate after its slot is still a duplicate, not late.
    assert_eq!(
        arrive(&mut jb, &mut heard, 10_001, 2, 0),
        Arrival::Duplicate
    );
    assert_eq!(heard.hows(), vec![P, P, P]);
    let c = jb.counters();
    assert_eq!((c.duplicate, c.reordered, c.late), (3, 1, 0));
}

#[test]
fn sequence_numbers_wrap_around_2_to_the_32() {
    let mut jb = JitterBuffer::new(PLAYOUT);
    let mut heard = Heard::default();
    let first = u32::MAX - 2;
    for i in 0..6u32 {
        let seq = first.wrapping_add(i);
        arrive(&mut jb, &mut heard, 20 * u64::from(i), seq, 2);
    }
    jb.tick(ms(10_000), &mut heard.sink());
    let seqs: Vec<u32> = heard.0.iter().map(|h| h.0).collect();
    assert_eq!(seqs, vec![u32::MAX - 2, u32::MAX - 1, u32::MAX, 0, 1, 2]);
    assert_eq!(heard.hows(), vec![P; 6]);
}

#[test]
fn a_forged_jump_is_invalid_and_the_stream_plays_on() {
    let mut jb = JitterBuffer::new(PLAYOUT);
    let mut heard = Heard::default();
    let memory = jb.memory();
    arrive(&mut jb, &mut heard, 0, 0, 0);
    for (at, forged) in [
        (1, 1u32 << 31),
        (2, 1001),
        (3, u32::MAX - 1000),
        (4, u32::MAX),
    ] {
        let got = arrive(&mut jb, &mut heard, at, forged, 2);
        // 1001 ahead and 1001 behind are out; u32::MAX is 1 behind: late.
        let want = if forged == u32::MAX {
            Arrival::Late { reordered: true }
        } else {
            Arrival::OutOfWindow
        };
        assert_eq!(got, want, "{forged}");
    }
    for seq in 1..5 {
        arrive(&mut jb, &mut heard, 20 * u64::from(seq), seq, 0);
    }
    jb.tick(ms(10_000), &mut heard.sink());
    assert_eq!(heard.hows(), vec![P; 5]);
    let c = jb.counters();
    assert_eq!((c.invalid, c.frames), (3, 5));
    assert_eq!(jb.memory(), memory);
}

#[test]
fn the_edge_of_the_window_is_1000_frames() {
    let mut jb = JitterBuffer::new(PLAYOUT);
    let mut heard = Heard::default();
    arrive(&mut jb, &mut heard, 0, 0, 0);
    assert_eq!(
        arrive(&mut jb, &mut heard, 1, 1000, 0),
        Arrival::InTime { reordered: false }
    );
    assert_eq!(
        arrive(&mut jb, &mut heard, 2, 1001, 0),
        Arrival::OutOfWindow
    );
    assert_eq!(
        arrive(&mut jb, &mut heard, 3, 0u32.wrapping_sub(1000), 0),
        Arrival::Late { reordered: true }
    );
    assert_eq!(
        arrive(&mut jb, &mut heard, 4, 0u32.wrapping_sub(1001), 0),
        Arrival::OutOfWindow
    );
}

#[test]
fn slots_past_the_newest_frame_wait_to_be_counted() {
    let mut jb = JitterBuffer::new(PLAYOUT);
    let mut heard = Heard::default();
    arrive(&mut jb, &mut heard, 0, 0, 0);
    arrive(&mut jb, &mut heard, 20, 1, 0);
    // Silence for a second: slots 2.. play (concealed) but are not counted:
    // the stream may have ended.
    jb.tick(ms(1000), &mut heard.sink());
    assert_eq!(jb.counters().frames, 2);
    assert!(jb.played_all_heard());
    // Frame 50 comes (late: its slot was at 1060? no, 60 + 1000 = 1060 > 1040).
    assert_eq!(
        arrive(&mut jb, &mut heard, 1040, 50, 0),
        Arrival::InTime { reordered: false }
    );
    // Slots 2..=48 were played by 1040 (slot 49 is due at 1040 too): all
    // concealed and now counted; 49 and 50 follow.
    assert!(!jb.played_all_heard());
    jb.tick(ms(5000), &mut heard.sink());
    let c = jb.counters();
    assert_eq!((c.frames, c.primary, c.concealed), (51, 3, 48));
    assert_eq!(jb.longest_gap(), 48);
    let seqs: Vec<u32> = heard.0.iter().map(|h| h.0).collect();
    assert_eq!(seqs, (0..=50).collect::<Vec<_>>());
    // The held slots fade like any others: full, half, then silence.
    assert_eq!(heard.0[2].2, frame(1)[0]);
    assert_eq!(heard.0[4].2, 0);
    // And once the stream is over, the slots after it are never counted.
    jb.tick(ms(100_000_000), &mut heard.sink());
    assert_eq!(jb.counters().frames, 51);
}

#[test]
fn time_going_backwards_is_taken_as_no_time_passing() {
    let mut jb = JitterBuffer::new(PLAYOUT);
    let mut heard = Heard::default();
    arrive(&mut jb, &mut heard, 500, 0, 0);
    arrive(&mut jb, &mut heard, 100, 1, 0);
    jb.tick(ms(0), &mut heard.sink());
    jb.tick(ms(700), &mut heard.sink());
    assert_eq!(heard.hows(), vec![P, P]);
}

// --- property tests ---------------------------------------------------------

/// One datagram's fate on the network: how many copies arrive (0: lost),
/// each after its own delay.
#[derive(Debug, Clone)]
struct Fate {
    delays: Vec<u64>,
}

fn fates() -> impl Strategy<Value = (u32, usize, u64, Vec<Fate>)> {
    let fate =
        (0u32..100, proptest::collection::vec(0u64..250, 1..4)).prop_map(|(roll, delays)| {
            // 15% lost, 10% duplicated (or more), the rest once.
            match roll {
                0..15 => Fate { delays: vec![] },
                15..25 => Fate { delays },
                _ => Fate {
                    delays: delays[..1].to_vec(),
                },
            }
        });
    (
        any::<u32>(),
        0usize..=2,
        1u64..200,
        proptest::collection::vec(fate, 1..200),
    )
}

/// The whole schedule: (arrival ms, index in the stream), sorted by time.
fn schedule(fates: &[Fate]) -> Vec<(u64, u32)> {
    let mut events: Vec<(u64, u32)> = fates
        .iter()
        .enumerate()
        .flat_map(|(i, fate)| {
            fate.delays
                .iter()
                .map(move |d| (20 * i as u64 + d, i as u32))
        })
        .collect();
    events.sort_by_key(|e| e.0);
    events
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every slot from the first frame heard to the newest is accounted
    /// exactly once, in order, and exactly as an oracle that sees the
    /// whole schedule says; the counters add up; memory never grows.
    #[test]
    fn every_slot_is_accounted_once_as_the_oracle_says((first, k, playout, fates) in fates()) {
        let events = schedule(&fates);
        prop_assume!(!events.is_empty());
        let mut jb = JitterBuffer::new(Duration::from_millis(playout));
        let memory = jb.memory();
        let mut heard = Heard::default();
        for &(at, i) in &events {
            arrive(&mut jb, &mut heard, at, first.wrapping_add(i), k);
            prop_assert_eq!(jb.memory(), memory);
        }
        let end = events.last().unwrap().0 + 10_000;
        jb.tick(ms(end), &mut heard.sink());

        // The oracle: slot e (of index i0 + e) plays at t0 + playout + 20e.
        let (t0, i0) = events[0];
        let deadline = |i: u32| t0 + playout + 20 * u64::from(i - i0);
        let mut first_arrival = vec![None; fates.len()];
        let (mut late, mut duplicate, mut reordered, mut newest) = (0, 0, 0, i0);
        for &(at, i) in &events {
            if first_arrival[i as usize].is_some() {
                duplicate += 1;
                continue;
            }
            first_arrival[i as usize] = Some(at);
            if i < newest { reordered += 1; }
            newest = newest.max(i);
            if i < i0 || at >= deadline(i) { late += 1; }
        }
        let in_time = |i: u32, slot: u32| first_arrival[i as usize].is_some_and(|at| at < deadline(slot));
        let want: Vec<How> = (i0..=newest).map(|slot| {
            if in_time(slot, slot) {
                P
            } else if (1..=k as u32).any(|d| (slot + d) <= newest && in_time(slot + d, slot)) {
                R
            } else {
                C
            }
        }).collect();

        prop_assert_eq!(heard.hows(), want.clone());
        let seqs: Vec<u32> = heard.0.iter().map(|h| h.0).collect();
        let want_seqs: Vec<u32> = (i0..=newest).map(|i| first.wrapping_add(i)).collect();
        prop_assert_eq!(seqs, want_seqs);
        for &(seq, how, sample) in &heard.0 {
            if how == P { prop_assert_eq!(sample, frame(seq)[0]); }
        }
        let c = jb.counters();
        let count = |h: How| want.iter().filter(|w| **w == h).count() as u64;
        prop_assert_eq!(c.frames, want.len() as u64);
        prop_assert_eq!(c.primary + c.redundant + c.concealed, c.frames);
        prop_assert_eq!((c.primary, c.redundant, c.concealed), (count(P), count(R), count(C)));
        prop_assert_eq!((c.late, c.duplicate, c.reordered, c.invalid), (late, duplicate, reordered, 0));
        let longest = want.split(|h| *h != C).map(<[How]>::len).max().unwrap_or(0) as u64;
        prop_assert_eq!(jb.longest_gap(), longest);
    }

    /// Anything at all (any sequence number, copies at any distance, time
    /// jumping about): no panic, slots in order and each counted once,
    /// counters that add up, and memory that does not grow.
    #[test]
    fn hostile_arrivals_never_break_it(
        arrivals in proptest::collection::vec((any::<u32>(), 0u64..100_000, proptest::collection::vec(any::<u8>(), 0..3)), 1..300),
        near in proptest::collection::vec(0u32..40, 0..300),
    ) {
        let mut jb = JitterBuffer::new(PLAYOUT);
        let memory = jb.memory();
        let mut played: Vec<u32> = Vec::new();
        let mut last_pcm = [0u8; PCM_BYTES];
        let mut datagrams = 0u64;
        let seqs = arrivals.iter().map(|a| a.0).chain(near.iter().copied());
        for (n, (seq, (_, at, distances))) in seqs.zip(arrivals.iter().cycle()).enumerate() {
            let copies: Vec<_> = distances.iter().map(|d| ((*d).max(1), [*d; COPY_BYTES])).collect();
            let mut data = Vec::new();
            last_pcm[0] = n as u8;
            wire::encode(seq, &copies, &audio::from_bytes(&last_pcm), &mut data);
            let datagram = wire::parse(&data).unwrap();
            jb.arrive(ms(*at), &datagram, &mut |p: Played<'_>| played.push(p.seq));
            datagrams += 1;
            prop_assert_eq!(jb.memory(), memory);
        }
        jb.tick(ms(u64::MAX / 2), &mut |p: Played<'_>| played.push(p.seq));
        jb.tick(Duration::MAX, &mut |p: Played<'_>| played.push(p.seq));
        let _ = jb.next_deadline();
        let c = jb.counters();
        prop_assert_eq!(c.primary + c.redundant + c.concealed, c.frames);
        prop_assert_eq!(c.frames, played.len() as u64);
        prop_assert!(played.windows(2).all(|w| w[1] == w[0].wrapping_add(1)));
        // Each datagram is exactly one of: in time, late, duplicate, invalid.
        prop_assert!(c.late + c.duplicate + c.invalid <= datagrams);
        prop_assert!(c.primary <= datagrams);
    }
}
