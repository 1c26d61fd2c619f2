//! The audio itself: 20 ms frames of 16 kHz, 16-bit mono PCM (what a
//! phone call or a voice chat carries), and the low-quality copy of a frame
//! that rides along in the next datagrams for redundancy: the same 20 ms at
//! 8 kHz, each sample squeezed into one byte with G.711 mu-law, as the
//! telephone network has done since the 1970s. 640 bytes become 160.

/// Samples per second.
pub const RATE: u32 = 16_000;
/// One frame is 20 ms: 320 samples at 16 kHz.
pub const FRAME_SAMPLES: usize = 320;
/// How long one frame plays, in milliseconds.
pub const FRAME_MS: u64 = 20;
/// A frame on the wire: 320 samples of 16 bits, little-endian as in a WAV file.
pub const PCM_BYTES: usize = 2 * FRAME_SAMPLES;
/// A low-quality copy on the wire: 160 samples at 8 kHz, one mu-law byte each.
pub const COPY_BYTES: usize = FRAME_SAMPLES / 2;

/// One frame of samples.
pub type Frame = [i16; FRAME_SAMPLES];

/// A frame of silence.
pub const SILENCE: Frame = [0; FRAME_SAMPLES];

/// The frame as it goes on the wire: each sample little-endian.
pub fn to_bytes(frame: &Frame) -> [u8; PCM_BYTES] {
    let mut bytes = [0u8; PCM_BYTES];
    for (pair, sample) in bytes.chunks_exact_mut(2).zip(frame) {
        pair.copy_from_slice(&sample.to_le_bytes());
    }
    bytes
}

/// The frame from its wire bytes.
pub fn from_bytes(bytes: &[u8; PCM_BYTES]) -> Frame {
    let mut frame = SILENCE;
    for (sample, pair) in frame.iter_mut().zip(bytes.chunks_exact(2)) {
        *sample = i16::from_le_bytes([pair[0], pair[1]]);
    }
    frame
}

/// The low-quality copy of a frame: each pair of samples averaged,
/// `(a + b) >> 1` (half the rate, 8 kHz, and a crude low-pass filter on
/// the way), then each sample compressed to one byte with mu-law.
pub fn low_quality(frame: &Frame) -> [u8; COPY_BYTES] {
    let mut copy = [0u8; COPY_BYTES];
    for (byte, pair) in copy.iter_mut().zip(frame.chunks_exact(2)) {
        let average = (i32::from(pair[0]) + i32::from(pair[1])) >> 1;
        *byte = mulaw_encode(average as i16);
    }
    copy
}

/// A playable frame from a low-quality copy: each byte expanded back to a
/// sample, and the rate doubled by putting the average of two neighbours
/// between them (linear interpolation; the last sample is repeated).
pub fn from_low_quality(copy: &[u8; COPY_BYTES]) -> Frame {
    let mut frame = SILENCE;
    for i in 0..COPY_BYTES {
        let here = mulaw_decode(copy[i]);
        let next = if i + 1 < COPY_BYTES {
            mulaw_decode(copy[i + 1])
        } else {
            here
        };
        frame[2 * i] = here;
        frame[2 * i + 1] = ((i32::from(here) + i32::from(next)) >> 1) as i16;
    }
    frame
}

/// G.711 mu-law: loud samples lose precision, quiet ones keep it, as the
/// ear hears. The magnitude (plus a bias of 132, clipped at 32635) is
/// written as a 3-bit exponent (the position of its top bit, from 7) and
/// the 4 bits below that top bit; the byte is inverted, sign bit first.
pub fn mulaw_encode(sample: i16) -> u8 {
    const BIAS: i32 = 0x84;
    const CLIP: i32 = 32_635;
    let value = i32::from(sample);
    let sign: u8 = if value < 0 { 0x80 } else { 0 };
    let magnitude = value.abs().min(CLIP) + BIAS;
    // magnitude is 132..=32767: its top bit is bit 7 to bit 14.
    let exponent = (31 - magnitude.leading_zeros()) - 7;
    let mantissa = (magnitude >> (exponent + 3)) & 0x0F;
    !(sign | (exponent as u8) << 4 | mantissa as u8)
}

/// The sample a mu-law byte stands for (the middle of its step).
pub fn mulaw_decode(byte: u8) -> i16 {
    const BIAS: i32 = 0x84;
    let byte = !byte;
    let exponent = i32::from((byte >> 4) & 0x07);
    let mantissa = i32::from(byte & 0x0F);
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    if byte & 0x80 != 0 {
        -magnitude as i16
    } else {
        magnitude as i16
    }
}

/// What plays when a frame is missing and no copy of it came either:
/// the last frame heard, faded out over two frames (`run` 0: from full
/// volume to half, `run` 1: from half to nothing), then silence. A repeat
/// hides a short gap; a long one becomes quiet instead of a stuck loop.
pub fn conceal(last: &Frame, run: u64) -> Frame {
    if run >= 2 {
        return SILENCE;
    }
    let total = 2 * FRAME_SAMPLES as i64;
    let mut frame = SILENCE;
    for (n, (out, sample)) in frame.iter_mut().zip(last).enumerate() {
        let left = total - (run as i64 * FRAME_SAMPLES as i64 + n as i64);
        *out = (i64::from(*sample) * left / total) as i16;
    }
    frame
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mulaw_matches_g711_reference_values() {
        // From the G.711 tables: silence is 0xFF, full scale 0x80/0x00.
        assert_eq!(mulaw_encode(0), 0xFF);
        assert_eq!(mulaw_encode(i16::MAX), 0x80);
        assert_eq!(mulaw_encode(i16::MIN), 0x00);
        assert_eq!(mulaw_encode(-1), 0x7F);
        assert_eq!(mulaw_decode(0xFF), 0);
        assert_eq!(mulaw_decode(0x80), 32_124);
        assert_eq!(mulaw_decode(0x00), -32_124);
        assert_eq!(mulaw_encode(1000), 0xCE);
        assert_eq!(mulaw_decode(0xCE), 988);
    }

    #[test]
    fn mulaw_round_trip_error_is_small_relative_to_the_sample() {
        for sample in (i16::MIN..=i16::MAX).step_by(7) {
            let back = i32::from(mulaw_decode(mulaw_encode(sample)));
            let error = (back - i32::from(sample)).abs();
            // A step is 1/16 of its segment, and the decoder answers its
            // middle: at most about 3% off (and 644 past the clip, 32635).
            let bound = if sample.unsigned_abs() > 32_635 {
                644.0
            } else {
                16.0 + f64::from(sample).abs() * 0.035
            };
            assert!(f64::from(error) <= bound, "{sample} -> {back}");
        }
    }

    #[test]
    fn pcm_bytes_are_little_endian_and_round_trip() {
        let mut frame = SILENCE;
        frame[0] = 0x0102;
        frame[1] = -2;
        let bytes = to_bytes(&frame);
        assert_eq!(&bytes[..4], &[0x02, 0x01, 0xFE, 0xFF]);
        assert_eq!(from_bytes(&bytes), frame);
    }

    #[test]
    fn a_low_quality_copy_sounds_like_the_frame() {
        // A 440 Hz tone survives 8 kHz mu-law closely.
        let mut frame = SILENCE;
        for (n, s) in frame.iter_mut().enumerate() {
            *s = (8000.0 * (n as f64 * 440.0 * std::f64::consts::TAU / 16000.0).sin()) as i16;
        }
        let back = from_low_quality(&low_quality(&frame));
        let worst = frame
            .iter()
            .zip(&back)
            .map(|(a, b)| (i32::from(*a) - i32::from(*b)).abs())
            .max()
            .unwrap();
        assert!(worst < 800, "worst error {worst}");
    }

    #[test]
    fn concealment_fades_then_is_silent() {
        let last = [1000i16; FRAME_SAMPLES];
        let first = conceal(&last, 0);
        let second = conceal(&last, 1);
        assert_eq!(first[0], 1000);
        assert!(first[319] > 490 && first[319] < 510, "{}", first[319]);
        assert!(second[0] <= 500 && second[319] < 10);
        assert!(first.windows(2).all(|w| w[0] >= w[1]));
        assert_eq!(conceal(&last, 2), SILENCE);
        assert_eq!(conceal(&last, u64::MAX), SILENCE);
    }
}
