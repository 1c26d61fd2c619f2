//! One datagram of the stream, byte by byte (all integers big-endian,
//! network byte order, except the samples, which are little-endian as in
//! a WAV file):
//!
//! ```text
//!  0      4          8          12  13
//! +------+----------+----------+---+----------------------------+----------------+
//! | SLRT | sequence | media    | K | K redundant copies, each:  | primary frame: |
//! |magic | u32      | timestamp|u8 | u8 distance back,          | 640 bytes,     |
//! |      |          | u32      |   | u16 length (160),          | 320 x i16 LE,  |
//! |      |          | (samples)|   | 160 bytes of 8 kHz mu-law  | 16 kHz mono    |
//! +------+----------+----------+---+----------------------------+----------------+
//! ```
//!
//! The sequence number counts datagrams (one per 20 ms frame) so the
//! receiver can tell loss, duplicates and reordering apart; the media
//! timestamp counts samples (320 per frame), as RTP's does. A copy at
//! distance d is the frame of sequence number `sequence - d`, which went
//! out d datagrams earlier (RFC 2198's redundant audio): if that datagram
//! was lost, this one brings a rougher version of it.
//!
//! Sizes: 653 bytes with K = 0, 816 with K = 1, 979 with K = 2.

use std::fmt;

use crate::audio::{COPY_BYTES, Frame, PCM_BYTES};

pub const MAGIC: &[u8; 4] = b"SLRT";
/// Magic, sequence number, media timestamp, K.
pub const HEADER: usize = 13;
/// Distance byte and length.
const COPY_HEADER: usize = 3;
/// The most redundant copies a datagram may carry.
pub const MAX_REDUNDANCY: usize = 2;
/// The smallest valid datagram (K = 0) and the largest (K = 2).
pub const MIN_DATAGRAM: usize = HEADER + PCM_BYTES;
pub const MAX_DATAGRAM: usize = HEADER + MAX_REDUNDANCY * (COPY_HEADER + COPY_BYTES) + PCM_BYTES;

/// A redundant copy: the frame `distance` sequence numbers back, 8 kHz mu-law.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copy<'a> {
    pub distance: u8,
    pub mulaw: &'a [u8; COPY_BYTES],
}

/// A datagram, read in place: it borrows the receive buffer, nothing is copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'a> {
    pub seq: u32,
    pub timestamp: u32,
    pub copies: [Option<Copy<'a>>; MAX_REDUNDANCY],
    pub pcm: &'a [u8; PCM_BYTES],
}

impl<'a> Datagram<'a> {
    /// The redundant copies it carries.
    pub fn copies(&self) -> impl Iterator<Item = Copy<'a>> + '_ {
        self.copies.iter().flatten().copied()
    }
}

/// Why a datagram is not one of ours. Such a datagram is counted as
/// `invalid` and ignored; nothing in it is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    NoMagic,
    TooShort(usize),
    TooLong(usize),
    Redundancy(u8),
    Distance0,
    CopyLength(u16),
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::NoMagic => write!(f, "does not start with the magic \"SLRT\""),
            Invalid::TooShort(n) => write!(f, "{n} bytes is too short for its header and frame"),
            Invalid::TooLong(n) => write!(f, "{n} bytes is more than its header and frame"),
            Invalid::Redundancy(k) => {
                write!(f, "claims {k} redundant copies (at most {MAX_REDUNDANCY})")
            }
            Invalid::Distance0 => write!(f, "has a redundant copy at distance 0"),
            Invalid::CopyLength(n) => write!(
                f,
                "has a redundant copy of {n} bytes (20 ms of 8 kHz mu-law is {COPY_BYTES})"
            ),
        }
    }
}

/// Reads a datagram. Every length is checked against the bytes that
/// really arrived before anything is read, so no value a peer sends can
/// make us read past the end or allocate.
pub fn parse(bytes: &[u8]) -> Result<Datagram<'_>, Invalid> {
    if !bytes.starts_with(MAGIC) {
        return Err(Invalid::NoMagic);
    }
    if bytes.len() < MIN_DATAGRAM {
        return Err(Invalid::TooShort(bytes.len()));
    }
    let u32_at =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let seq = u32_at(4);
    let timestamp = u32_at(8);
    let k = bytes[12];
    if usize::from(k) > MAX_REDUNDANCY {
        return Err(Invalid::Redundancy(k));
    }
    let mut copies = [None; MAX_REDUNDANCY];
    let mut at = HEADER;
    for copy in copies.iter_mut().take(usize::from(k)) {
        // At least this copy's header, its bytes and the frame must follow.
        let Some(head) = bytes.get(at..at + COPY_HEADER) else {
            return Err(Invalid::TooShort(bytes.len()));
        };
        let distance = head[0];
        let length = u16::from_be_bytes([head[1], head[2]]);
        if distance == 0 {
            return Err(Invalid::Distance0);
        }
        if usize::from(length) != COPY_BYTES {
            return Err(Invalid::CopyLength(length));
        }
        at += COPY_HEADER;
        let Some(Ok(mulaw)) = bytes
            .get(at..at + COPY_BYTES)
            .map(<&[u8; COPY_BYTES]>::try_from)
        else {
            return Err(Invalid::TooShort(bytes.len()));
        };
        *copy = Some(Copy { distance, mulaw });
        at += COPY_BYTES;
    }
    // The primary frame is the rest, and exactly 640 bytes.
    let rest = &bytes[at.min(bytes.len())..];
    match <&[u8; PCM_BYTES]>::try_from(rest) {
        Ok(pcm) => Ok(Datagram {
            seq,
            timestamp,
            copies,
            pcm,
        }),
        Err(_) if rest.len() < PCM_BYTES => Err(Invalid::TooShort(bytes.len())),
        Err(_) => Err(Invalid::TooLong(bytes.len())),
    }
}

/// Writes a datagram into `out` (cleared first): the sender's side.
/// `copies` are (distance, 160 bytes of mu-law), at most [`MAX_REDUNDANCY`].
pub fn encode(seq: u32, copies: &[(u8, [u8; COPY_BYTES])], frame: &Frame, out: &mut Vec<u8>) {
    debug_assert!(copies.len() <= MAX_REDUNDANCY);
    out.clear();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&seq.to_be_bytes());
    // The media timestamp: where this frame starts, in samples.
    let timestamp = seq.wrapping_mul(crate::audio::FRAME_SAMPLES as u32);
    out.extend_from_slice(&timestamp.to_be_bytes());
    out.push(copies.len() as u8);
    for (distance, mulaw) in copies {
        out.push(*distance);
        out.extend_from_slice(&(COPY_BYTES as u16).to_be_bytes());
        out.extend_from_slice(mulaw);
    }
    out.extend_from_slice(&crate::audio::to_bytes(frame));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::SILENCE;
    use proptest::prelude::*;

    fn sample(seq: u32, k: usize) -> Vec<u8> {
        let mut frame = SILENCE;
        frame[0] = 7;
        frame[319] = -7;
        let copies: Vec<_> = (1..=k as u8).map(|d| (d, [d; COPY_BYTES])).collect();
        let mut out = Vec::new();
        encode(seq, &copies, &frame, &mut out);
        out
    }

    #[test]
    fn sizes_are_as_documented() {
        assert_eq!(sample(1, 0).len(), 653);
        assert_eq!(sample(1, 1).len(), 816);
        assert_eq!(sample(1, 2).len(), 979);
        assert_eq!(MAX_DATAGRAM, 979);
    }

    #[test]
    fn the_layout_byte_by_byte() {
        let bytes = sample(0x0102_0304, 1);
        assert_eq!(&bytes[..4], b"SLRT");
        assert_eq!(&bytes[4..8], &[1, 2, 3, 4]);
        // 0x01020304 x 320, wrapped to 32 bits.
        assert_eq!(
            &bytes[8..12],
            &0x0102_0304u32.wrapping_mul(320).to_be_bytes()
        );
        assert_eq!(bytes[12], 1);
        assert_eq!(&bytes[13..16], &[1, 0, 160]);
        assert_eq!(&bytes[16..176], &[1; 160]);
        assert_eq!(&bytes[176..178], &[7, 0]);
        assert_eq!(&bytes[814..816], &[0xF9, 0xFF]);
    }

    #[test]
    fn parse_reads_what_encode_wrote() {
        let bytes = sample(42, 2);
        let datagram = parse(&bytes).unwrap();
        assert_eq!(datagram.seq, 42);
        assert_eq!(datagram.timestamp, 42 * 320);
        let copies: Vec<_> = datagram.copies().collect();
        assert_eq!(copies.len(), 2);
        assert_eq!(copies[1].distance, 2);
        assert_eq!(copies[1].mulaw, &[2; COPY_BYTES]);
        assert_eq!(&datagram.pcm[..2], &[7, 0]);
    }

    #[test]
    fn broken_datagrams_say_why() {
        let good = sample(1, 1);
        assert_eq!(parse(b"").unwrap_err(), Invalid::NoMagic);
        assert_eq!(parse(b"SLR").unwrap_err(), Invalid::NoMagic);
        assert_eq!(parse(b"XLRT").unwrap_err(), Invalid::NoMagic);
        assert_eq!(parse(&good[..652]).unwrap_err(), Invalid::TooShort(652));
        assert_eq!(parse(&good[..815]).unwrap_err(), Invalid::TooShort(815));
        let mut long = good.clone();
        long.push(0);
        assert_eq!(parse(&long).unwrap_err(), Invalid::TooLong(817));
        let mut k3 = sample(1, 2);
        k3[12] = 3;
        assert_eq!(parse(&k3).unwrap_err(), Invalid::Redundancy(3));
        let mut d0 = good.clone();
        d0[13] = 0;
        assert_eq!(parse(&d0).unwrap_err(), Invalid::Distance0);
        let mut length = good.clone();
        length[15] = 80;
        assert_eq!(parse(&length).unwrap_err(), Invalid::CopyLength(80));
        // K = 1 but only the bytes of K = 0: the copy eats the frame.
        let mut short = sample(1, 0);
        short[12] = 1;
        short[13..16].copy_from_slice(&[1, 0, 160]);
        assert_eq!(parse(&short).unwrap_err(), Invalid::TooShort(653));
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_only_accepts_exact_sizes(
            bytes in proptest::collection::vec(any::<u8>(), 0..1000),
            magic in any::<bool>(),
        ) {
            let mut bytes = bytes;
            if magic && bytes.len() >= 4 {
                bytes[..4].copy_from_slice(MAGIC);
            }
            if let Ok(datagram) = parse(&bytes) {
                let k = datagram.copies().count();
                prop_assert_eq!(bytes.len(), MIN_DATAGRAM + k * (COPY_HEADER + COPY_BYTES));
            }
        }

        #[test]
        fn every_encoded_datagram_parses_back(seq in any::<u32>(), k in 0usize..=2, fill in any::<i16>()) {
            let frame = [fill; crate::audio::FRAME_SAMPLES];
            let copies: Vec<_> = (1..=k as u8).map(|d| (d, [d; COPY_BYTES])).collect();
            let mut out = Vec::new();
            encode(seq, &copies, &frame, &mut out);
            let datagram = parse(&out).unwrap();
            prop_assert_eq!(datagram.seq, seq);
            prop_assert_eq!(datagram.copies().count(), k);
            prop_assert_eq!(crate::audio::from_bytes(datagram.pcm), frame);
        }
    }
}
