//! What the sender sends: a generated melody (the opening of Beethoven's
//! "Ode to Joy", public domain and known to every ear, so a gap, a rough
//! copy or a late frame is easy to hear), or a WAV file.

use std::f64::consts::TAU;
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::audio::{FRAME_SAMPLES, Frame, RATE, SILENCE};

/// The tune: (semitones from A4, length in beats). A beat is 0.4 s.
#[rustfmt::skip]
const ODE_TO_JOY: &[(i32, f64)] = &[
    // E E F G | G F E D | C C D E | E. D D
    (-5, 1.0), (-5, 1.0), (-4, 1.0), (-2, 1.0),
    (-2, 1.0), (-4, 1.0), (-5, 1.0), (-7, 1.0),
    (-9, 1.0), (-9, 1.0), (-7, 1.0), (-5, 1.0),
    (-5, 1.5), (-7, 0.5), (-7, 2.0),
    // E E F G | G F E D | C C D E | D. C C
    (-5, 1.0), (-5, 1.0), (-4, 1.0), (-2, 1.0),
    (-2, 1.0), (-4, 1.0), (-5, 1.0), (-7, 1.0),
    (-9, 1.0), (-9, 1.0), (-7, 1.0), (-5, 1.0),
    (-7, 1.5), (-9, 0.5), (-9, 2.0),
];
const BEAT_SECS: f64 = 0.4;

/// The audio to send, frame by frame.
pub enum Source {
    /// The melody, `frames` long (it starts again when it ends).
    Melody { frames: u64 },
    /// A WAV file, converted to 16 kHz mono 16-bit.
    Samples(Vec<i16>),
}

impl Source {
    /// `seconds` of the melody.
    pub fn melody(seconds: f64) -> Self {
        let frames = (seconds * f64::from(RATE) / FRAME_SAMPLES as f64).ceil() as u64;
        Source::Melody {
            frames: frames.max(1),
        }
    }

    /// How many 20 ms frames there are.
    pub fn frames(&self) -> u64 {
        match self {
            Source::Melody { frames } => *frames,
            Source::Samples(samples) => samples.len().div_ceil(FRAME_SAMPLES) as u64,
        }
    }

    /// Frame `index` (the last one of a file is padded with silence).
    pub fn frame(&self, index: u64) -> Frame {
        let mut frame = SILENCE;
        let first = index * FRAME_SAMPLES as u64;
        match self {
            Source::Melody { .. } => {
                for (n, sample) in frame.iter_mut().enumerate() {
                    *sample = melody_sample(first + n as u64);
                }
            }
            Source::Samples(samples) => {
                let start = (first as usize).min(samples.len());
                let end = (start + FRAME_SAMPLES).min(samples.len());
                frame[..end - start].copy_from_slice(&samples[start..end]);
            }
        }
        frame
    }
}

/// Sample `n` of the melody: a note with a soft start (15 ms) and end
/// (40 ms), decaying like a plucked string, with two quiet overtones so
/// it sounds like an instrument rather than a test tone.
fn melody_sample(n: u64) -> i16 {
    let beats: f64 = ODE_TO_JOY.iter().map(|note| note.1).sum();
    let t = (n as f64 / f64::from(RATE)) % (beats * BEAT_SECS);
    let mut start = 0.0;
    for &(semitones, length) in ODE_TO_JOY {
        let duration = length * BEAT_SECS;
        if t < start + duration {
            // One octave above the written notes: E5 is 659 Hz.
            let hz = 880.0 * 2f64.powf(f64::from(semitones) / 12.0);
            let x = t - start;
            let envelope =
                (x / 0.015).min(1.0) * ((duration - x) / 0.04).min(1.0) * (-2.5 * x).exp();
            let phase = TAU * hz * x;
            let tone = phase.sin() + 0.3 * (2.0 * phase).sin() + 0.1 * (3.0 * phase).sin();
            return (9000.0 * envelope * tone) as i16;
        }
        start += duration;
    }
    0
}

/// The longest file `--input` takes: an hour (115 MB of samples in memory).
const MAX_INPUT_SECS: u64 = 3600;

/// Reads a WAV file and converts it to what the stream carries: 16 kHz,
/// mono, 16-bit. Channels are averaged; other sample sizes are scaled to
/// 16 bits; another rate is resampled by linear interpolation (good
/// enough for speech and for this lesson, not for a studio).
///
/// One sample at a time, straight into the result: memory is the 16 kHz
/// samples and nothing more, whatever the file's rate, channels or format
/// (a float per sample of the file, kept whole, was 4 GB for an hour of
/// 48 kHz stereo).
pub fn read_wav(path: &Path) -> Result<Source> {
    let mut reader =
        hound::WavReader::open(path).with_context(|| format!("reading {}", path.display()))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    if channels == 0 || spec.sample_rate == 0 {
        bail!(
            "{}: a WAV file with {channels} channels at {} Hz",
            path.display(),
            spec.sample_rate
        );
    }
    // Refuse a huge file before reading it, by what its header says, and
    // never read more than that much either way.
    let frames = u64::from(reader.duration());
    if frames > MAX_INPUT_SECS * u64::from(spec.sample_rate) {
        bail!(
            "{}: {} s of audio; --input takes at most {MAX_INPUT_SECS} s (cut it first, e.g. with ffmpeg -t)",
            path.display(),
            frames / u64::from(spec.sample_rate)
        );
    }
    let limit = (frames as usize).saturating_mul(channels);
    let what = || format!("reading the samples of {}", path.display());
    // Every sample as a float in -1..1, whatever its format.
    let samples: Box<dyn Iterator<Item = hound::Result<f64>>> = match spec.sample_format {
        hound::SampleFormat::Float => Box::new(
            reader
                .samples::<f32>()
                .take(limit)
                .map(|s| s.map(f64::from)),
        ),
        hound::SampleFormat::Int => {
            let scale = 2f64.powi(i32::from(spec.bits_per_sample) - 1);
            Box::new(
                (reader.samples::<i32>().take(limit)).map(move |s| s.map(|s| f64::from(s) / scale)),
            )
        }
    };
    let mut out = Resampler::new(spec.sample_rate, RATE);
    let (mut sum, mut summed) = (0.0, 0);
    for sample in samples {
        sum += sample.with_context(what)?;
        summed += 1;
        // A frame of the file: one sample per channel, averaged to mono.
        if summed == channels {
            out.push(sum / channels as f64);
            (sum, summed) = (0.0, 0);
        }
    }
    let samples = out.finish();
    if samples.is_empty() {
        bail!("{}: no samples", path.display());
    }
    Ok(Source::Samples(samples))
}

/// Linear interpolation from `from` Hz to `to` Hz, one input sample at a
/// time: output sample i is at position i x from / to of the input, between
/// the input samples on either side of it.
struct Resampler {
    from: u32,
    to: u32,
    /// Input samples seen, and the last one.
    count: u64,
    last: f64,
    out: Vec<i16>,
}

impl Resampler {
    fn new(from: u32, to: u32) -> Resampler {
        Resampler {
            from,
            to,
            count: 0,
            last: 0.0,
            out: Vec::new(),
        }
    }

    /// Where output sample `i` lies in the input.
    fn position(&self, i: usize) -> f64 {
        i as f64 * f64::from(self.from) / f64::from(self.to)
    }

    fn push(&mut self, sample: f64) {
        if self.from == self.to {
            self.out.push(to_i16(sample));
            return;
        }
        // Input `count` arrived: every output before it can be made now.
        let (left, right) = (self.last, sample);
        let k = self.count as f64;
        if self.count > 0 {
            loop {
                let at = self.position(self.out.len());
                if at >= k {
                    break;
                }
                let frac = at - (k - 1.0);
                self.out.push(to_i16(left * (1.0 - frac) + right * frac));
            }
        }
        self.count += 1;
        self.last = sample;
    }

    /// The samples: the input's length x to / from of them (the last ones
    /// hold the last input sample).
    fn finish(mut self) -> Vec<i16> {
        if self.from != self.to {
            let len = (self.count * u64::from(self.to) / u64::from(self.from)) as usize;
            self.out.truncate(len);
            let last = to_i16(self.last);
            self.out.resize(len, last);
        }
        self.out
    }
}

fn to_i16(sample: f64) -> i16 {
    (sample * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The conversion as it was written first, on whole vectors: the
    /// reference for the one-sample-at-a-time [`Resampler`].
    fn resample_whole(input: &[f64], from: u32, to: u32) -> Vec<i16> {
        let resampled: Vec<f64> = if from == to || input.is_empty() {
            input.to_vec()
        } else {
            let len = (input.len() as u64 * u64::from(to) / u64::from(from)) as usize;
            (0..len)
                .map(|i| {
                    let at = i as f64 * f64::from(from) / f64::from(to);
                    let left = (at.floor() as usize).min(input.len() - 1);
                    let right = (left + 1).min(input.len() - 1);
                    let frac = at - left as f64;
                    input[left] * (1.0 - frac) + input[right] * frac
                })
                .collect()
        };
        resampled.iter().map(|&s| to_i16(s)).collect()
    }

    proptest! {
        #[test]
        fn resampling_one_sample_at_a_time_is_resampling_the_whole(
            input in proptest::collection::vec(-1.0f64..1.0, 0..400),
            from in prop_oneof![Just(8000u32), Just(16_000), Just(44_100), Just(48_000), 1u32..200_000],
        ) {
            let mut r = Resampler::new(from, RATE);
            for &s in &input {
                r.push(s);
            }
            prop_assert_eq!(r.finish(), resample_whole(&input, from, RATE));
        }
    }

    #[test]
    fn the_melody_is_audible_bounded_and_the_right_length() {
        let source = Source::melody(1.0);
        assert_eq!(source.frames(), 50);
        let peak = (0..50)
            .flat_map(|i| source.frame(i))
            .map(i16::unsigned_abs)
            .max()
            .unwrap();
        assert!(peak > 4000 && peak < 32_000, "peak {peak}");
        assert_eq!(Source::melody(0.001).frames(), 1);
    }

    #[test]
    fn a_stereo_44k_wav_becomes_16k_mono() {
        let dir = std::env::temp_dir().join(format!("udp-realtime-src-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("stereo.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut writer = hound::WavWriter::create(&path, spec).unwrap();
        for _ in 0..44_100 {
            writer.write_sample(1000i16).unwrap();
            writer.write_sample(3000i16).unwrap();
        }
        writer.finalize().unwrap();
        let source = read_wav(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(source.frames(), 50);
        assert_eq!(source.frame(10)[5], 2000);
    }

    #[test]
    fn not_a_wav_file_is_a_clear_error() {
        let path = std::env::temp_dir().join(format!("udp-realtime-notwav-{}", std::process::id()));
        std::fs::write(&path, b"hello, not a wav").unwrap();
        let error = read_wav(&path).err().unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(format!("{error:#}").starts_with("reading /"), "{error:#}");
    }
}
