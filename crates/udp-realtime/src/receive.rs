//! The receiver: datagrams in, one frame out every 20 ms. The jitter
//! buffer (`jitter.rs`) holds the idea; this file feeds it from a socket
//! and a clock, and checks what a socket cannot: that a datagram is one
//! of ours (the magic, the sizes) and comes from the stream's sender.
//!
//! The loop waits in `poll()` for the socket, the next slot's deadline or
//! a stop (Ctrl-C), whichever comes first, so the 20 ms clock keeps
//! ticking whether datagrams come or not.

use std::fs::File;
use std::io::{BufWriter, ErrorKind, Read};
use std::mem::MaybeUninit;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::endpoint::{Endpoint, announce, bind_udp, listen_tcp};
use common::stop::{Stop, Wait};
use common::{log, narrate, out};
use socket2::SockRef;

use crate::audio::{FRAME_MS, RATE};
use crate::jitter::{Arrival, JitterBuffer, Played};
use crate::wire::{self, Invalid};

#[derive(clap::Args)]
pub struct ReceiveArgs {
    #[command(flatten)]
    endpoint: Endpoint<7005>,
    /// How long a frame waits in the jitter buffer before it must play,
    /// in milliseconds: more absorbs more jitter, and delays the sound.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    playout_ms: u64,
    /// Write what was played, every slot, to this WAV file (16 kHz mono).
    #[arg(long)]
    wav: Option<PathBuf>,
    /// Receive the stream over TCP (one connection; each datagram after
    /// its length, a u32).
    #[arg(long)]
    tcp: bool,
}

/// UDP: the stream has ended when nothing came from its sender for this long.
const UDP_END: Duration = Duration::from_secs(2);
/// TCP: after EOF, at most this long to play what is buffered.
const TCP_DRAIN: Duration = Duration::from_secs(2);
/// TCP: a sender silent this long (no byte at all) is given up on.
const TCP_IDLE: Duration = Duration::from_secs(30);
/// Invalid datagrams logged one by one; after that only counted.
const LOGGED_INVALID: u64 = 5;
/// Datagrams read in one go before the clock is looked at again, so a
/// flood cannot stop the playout.
const BATCH: usize = 64;

pub fn run(args: &ReceiveArgs) -> Result<()> {
    let stop = Stop::from_signals()?;
    let addr = args.endpoint.resolve()?[0];
    let playout = Duration::from_millis(args.playout_ms);
    if args.tcp {
        receive_tcp(&stop, addr, playout, args.wav.as_deref())
    } else {
        receive_udp(&stop, addr, playout, args.wav.as_deref())
    }
}

fn receive_udp(stop: &Stop, addr: SocketAddr, playout: Duration, wav: Option<&Path>) -> Result<()> {
    let socket = bind_udp(addr)?;
    socket
        .set_nonblocking(true)
        .context("making the socket nonblocking")?;
    let local = socket
        .local_addr()
        .context("reading the socket's address")?;
    let mut player = Player::new(playout, wav, "UDP")?;
    announce(local)?;
    // One buffer for every datagram, larger than any valid one: whatever
    // peers send, memory does not grow. MSG_TRUNC reports a longer one.
    let mut buf = vec![0u8; 2048];
    loop {
        player.tick()?;
        let now = player.now();
        let end = player.last_heard.map(|t| t + UDP_END);
        if end.is_some_and(|end| now >= end) {
            break;
        }
        match stop.wait_readable(&socket, player.timeout(end))? {
            Wait::Stopped => break,
            Wait::TimedOut => continue,
            Wait::Ready => {}
        }
        for _ in 0..BATCH {
            match recv_from(&socket, &mut buf) {
                Ok((len, from)) => {
                    narrate!("recvfrom() -> {len} bytes from {from}");
                    player.datagram(&buf[..len.min(buf.len())], len, from);
                }
                // Nothing more queued: back to the clock.
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // A signal: look at the stop, then go on.
                Err(e) if e.kind() == ErrorKind::Interrupted => break,
                // Linux may report an ICMP error for this socket here; we
                // never send, so it is nobody's problem: read on.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e).with_context(|| format!("receiving on {local}")),
            }
        }
    }
    player.finish()
}

/// `recvfrom(fd, buf, MSG_TRUNC)`: the datagram's real length, even when
/// it was longer than `buf` (the rest is lost; we count it as invalid).
fn recv_from(socket: &UdpSocket, buf: &mut [u8]) -> std::io::Result<(usize, SocketAddr)> {
    // SAFETY: viewing initialised bytes as MaybeUninit<u8> is always sound;
    // recvfrom only writes bytes into the buffer, never uninitialised ones.
    let uninit = unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) };
    let (len, from) = SockRef::from(socket).recv_from_with_flags(uninit, libc::MSG_TRUNC)?;
    let from = from.as_socket().ok_or_else(|| {
        std::io::Error::new(ErrorKind::InvalidData, "a datagram from a non-IP address")
    })?;
    Ok((len, from))
}

fn receive_tcp(stop: &Stop, addr: SocketAddr, playout: Duration, wav: Option<&Path>) -> Result<()> {
    let listener = listen_tcp(addr, 1)?;
    let local = listener
        .local_addr()
        .context("reading the listener's address")?;
    let mut player = Player::new(playout, wav, "TCP")?;
    announce(local)?;
    // One stream, one connection: the first that comes.
    let Some(conn) = stop.incoming(&listener).next() else {
        return player.finish(); // stopped before anyone connected
    };
    let (stream, peer) = conn?;
    // Closing the listener: a second sender is refused, not queued.
    drop(listener);
    log!("{peer}: connected");
    stream
        .set_nonblocking(true)
        .context("making the stream nonblocking")?;
    let mut frames = Framer::default();
    let mut last_byte = player.now();
    let mut eof: Option<Duration> = None;
    loop {
        player.tick()?;
        let now = player.now();
        if let Some(at) = eof {
            // After EOF: play out what is buffered, then end.
            if player.jitter.played_all_heard() || now >= at + TCP_DRAIN {
                break;
            }
        } else if now >= last_byte + TCP_IDLE {
            log!(
                "{peer}: nothing for {} s; ending the stream",
                TCP_IDLE.as_secs()
            );
            break;
        }
        let end = Some(eof.map_or(last_byte + TCP_IDLE, |at| at + TCP_DRAIN));
        if eof.is_some() {
            // Nothing more to read: only the clock (and a stop) to wait for.
            if stop.wait_timeout(player.timeout(end).unwrap_or_default()) {
                break;
            }
            continue;
        }
        match stop.wait_readable(&stream, player.timeout(end))? {
            Wait::Stopped => break,
            Wait::TimedOut => continue,
            Wait::Ready => {}
        }
        match frames.read_from(&stream) {
            Ok(0) => {
                narrate!("recv() -> 0 bytes (EOF: the sender is done)");
                eof = Some(player.now());
            }
            Ok(n) => {
                narrate!("recv() -> {n} bytes");
                last_byte = player.now();
                if let Err(e) =
                    frames.each(|datagram| player.datagram(datagram, datagram.len(), peer))
                {
                    log!("{peer}: {e}; closing the connection");
                    eof = Some(player.now());
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            // ECONNRESET and the like: the sender is gone; play what we have.
            Err(e) => {
                log!("{peer}: {e}; the stream ends here");
                eof = Some(player.now());
            }
        }
    }
    player.finish()
}

/// Length-prefixed datagrams out of a byte stream: a u32 length, then that
/// many bytes. The buffer is fixed, and a length longer than any valid
/// datagram ends the connection before anything is read into it.
struct Framer {
    buf: Box<[u8; 4096]>,
    len: usize,
}

impl Default for Framer {
    fn default() -> Self {
        Framer {
            buf: Box::new([0; 4096]),
            len: 0,
        }
    }
}

impl Framer {
    /// One `recv()` into the free end of the buffer.
    fn read_from(&mut self, mut stream: impl Read) -> std::io::Result<usize> {
        let n = stream.read(&mut self.buf[self.len..])?;
        self.len += n;
        Ok(n)
    }

    /// Hands each complete datagram to `each`, keeps the incomplete rest.
    fn each(&mut self, mut each: impl FnMut(&[u8])) -> Result<(), String> {
        let mut at = 0;
        let result = loop {
            let Some(head) = self.buf[..self.len].get(at..at + 4) else {
                break Ok(());
            };
            let length = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
            if length > wire::MAX_DATAGRAM {
                break Err(format!(
                    "a frame of {length} bytes, more than any datagram ({} at most)",
                    wire::MAX_DATAGRAM
                ));
            }
            let Some(datagram) = self.buf[..self.len].get(at + 4..at + 4 + length) else {
                break Ok(());
            };
            each(datagram);
            at += 4 + length;
        };
        self.buf.copy_within(at..self.len, 0);
        self.len -= at;
        result
    }
}

/// The jitter buffer on a real clock, writing what it plays.
struct Player {
    jitter: JitterBuffer,
    wav: Option<Wav>,
    transport: &'static str,
    /// The clock the jitter buffer's times are measured on.
    clock: Instant,
    /// The stream's sender: whoever sent the first valid datagram.
    sender: Option<SocketAddr>,
    last_heard: Option<Duration>,
    datagrams: u64,
    stranger_seen: bool,
}

impl Player {
    fn new(playout: Duration, wav: Option<&Path>, transport: &'static str) -> Result<Self> {
        Ok(Player {
            jitter: JitterBuffer::new(playout),
            wav: wav.map(Wav::create).transpose()?,
            transport,
            clock: Instant::now(),
            sender: None,
            last_heard: None,
            datagrams: 0,
            stranger_seen: false,
        })
    }

    fn now(&self) -> Duration {
        self.clock.elapsed()
    }

    /// How long to wait: until the next slot plays or `end`, whichever is
    /// first (`None`: no limit, before the first datagram).
    fn timeout(&self, end: Option<Duration>) -> Option<Duration> {
        let wake = match (self.jitter.next_deadline(), end) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        wake.map(|at| at.saturating_sub(self.now()))
    }

    /// Plays every slot that is due.
    fn tick(&mut self) -> Result<()> {
        let now = self.now();
        let Player { jitter, wav, .. } = self;
        jitter.tick(now, &mut |played| write(wav, &played));
        self.check_wav()
    }

    /// One datagram of `len` bytes (`bytes` holds what fitted) from `from`.
    fn datagram(&mut self, bytes: &[u8], len: usize, from: SocketAddr) {
        self.datagrams += 1;
        let now = self.now();
        if len > bytes.len() {
            return self.invalid(from, &Invalid::TooLong(len));
        }
        if let Some(sender) = self.sender.filter(|s| *s != from) {
            // Said once even past the logged few: a second stream is news.
            if !self.stranger_seen {
                self.stranger_seen = true;
                log!(
                    "datagrams from {from}: not from the stream's sender, {sender}; counted as invalid"
                );
            }
            return self.invalid(from, &format!("not from the stream's sender, {sender}"));
        }
        let datagram = match wire::parse(bytes) {
            Ok(datagram) => datagram,
            Err(why) => return self.invalid(from, &why),
        };
        if self.sender.is_none() {
            log!("stream from {from} over {}", self.transport);
            self.sender = Some(from);
        }
        let Player { jitter, wav, .. } = self;
        match jitter.arrive(now, &datagram, &mut |played| write(wav, &played)) {
            Arrival::OutOfWindow => {
                // Counted by the buffer; it does not keep the stream alive.
                self.log_invalid(
                    from,
                    &format!(
                        "sequence number {} is more than 1000 frames from the playout point",
                        datagram.seq
                    ),
                );
            }
            _ => self.last_heard = Some(now),
        }
    }

    fn invalid(&mut self, from: SocketAddr, why: &dyn std::fmt::Display) {
        self.jitter.count_invalid();
        self.log_invalid(from, why);
    }

    fn log_invalid(&self, from: SocketAddr, why: &dyn std::fmt::Display) {
        let count = self.jitter.counters().invalid;
        if count <= LOGGED_INVALID {
            log!("invalid datagram from {from}: {why}; ignored");
        }
        if count == LOGGED_INVALID {
            log!("(further invalid datagrams are counted, not logged)");
        }
    }

    fn check_wav(&mut self) -> Result<()> {
        match self.wav.as_mut().and_then(|w| w.error.take()) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The summary on stderr, the counters on stdout, the WAV closed.
    fn finish(mut self) -> Result<()> {
        self.check_wav()?;
        let c = self.jitter.counters();
        let secs = |frames: u64| frames as f64 * FRAME_MS as f64 / 1000.0;
        match self.sender {
            None => log!(
                "no stream arrived ({} datagrams, none of them valid)",
                self.datagrams
            ),
            Some(sender) => {
                log!(
                    "stream from {sender} over {}: {} datagrams, {} frames played ({:.2} s)",
                    self.transport,
                    self.datagrams,
                    c.frames,
                    secs(c.frames)
                );
                let percent = |n: u64| 100.0 * n as f64 / c.frames.max(1) as f64;
                log!(
                    "{:.1}% of frames missed their slot (lost or late): {:.1}% played from a copy, {:.1}% concealed",
                    percent(c.redundant + c.concealed),
                    percent(c.redundant),
                    percent(c.concealed)
                );
                let gap = self.jitter.longest_gap();
                log!(
                    "longest gap: {gap} frames ({} ms) concealed in a row",
                    gap * FRAME_MS
                );
            }
        }
        if let Some(wav) = self.wav.take() {
            let path = wav.path.clone();
            let frames = wav.frames;
            wav.writer
                .finalize()
                .with_context(|| format!("finishing {}", path.display()))?;
            log!(
                "wrote {frames} frames ({:.2} s) to {}",
                secs(frames),
                path.display()
            );
        }
        out!(
            "frames={} primary={} redundant={} concealed={} late={} duplicate={} reordered={} invalid={}",
            c.frames,
            c.primary,
            c.redundant,
            c.concealed,
            c.late,
            c.duplicate,
            c.reordered,
            c.invalid
        )
    }
}

/// The `--wav` file: every slot played, in order.
struct Wav {
    writer: hound::WavWriter<BufWriter<File>>,
    path: PathBuf,
    frames: u64,
    /// A failed write, reported by the loop (the sink cannot return it).
    error: Option<anyhow::Error>,
}

impl Wav {
    fn create(path: &Path) -> Result<Wav> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(path, spec)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(Wav {
            writer,
            path: path.to_path_buf(),
            frames: 0,
            error: None,
        })
    }
}

/// The sink of the jitter buffer: each played frame into the WAV file.
fn write(wav: &mut Option<Wav>, played: &Played<'_>) {
    let Some(wav) = wav.as_mut().filter(|w| w.error.is_none()) else {
        return;
    };
    // hound buffers its writes (a BufWriter): a call per sample is cheap.
    let written: hound::Result<()> = played
        .pcm
        .iter()
        .try_for_each(|sample| wav.writer.write_sample(*sample));
    match written {
        Ok(()) => wav.frames += 1,
        Err(e) => {
            wav.error =
                Some(anyhow::Error::new(e).context(format!("writing {}", wav.path.display())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::SILENCE;
    use proptest::prelude::*;
    use test_support::Chunky;

    fn framed(seqs: &[u32], k: usize) -> (Vec<Vec<u8>>, Vec<u8>) {
        let mut datagrams = Vec::new();
        let mut stream = Vec::new();
        for &seq in seqs {
            let copies: Vec<_> = (1..=k as u8).map(|d| (d, [d; 160])).collect();
            let mut datagram = Vec::new();
            wire::encode(seq, &copies, &SILENCE, &mut datagram);
            stream.extend((datagram.len() as u32).to_be_bytes());
            stream.extend(&datagram);
            datagrams.push(datagram);
        }
        (datagrams, stream)
    }

    proptest! {
        /// However TCP cuts the stream, every datagram comes out whole, in order.
        #[test]
        fn the_framer_finds_every_datagram_in_any_chunking(
            seqs in proptest::collection::vec(any::<u32>(), 0..20),
            k in 0usize..=2,
            sizes in proptest::collection::vec(1usize..2000, 1..10),
        ) {
            let (datagrams, stream) = framed(&seqs, k);
            let mut source = Chunky::new(stream, sizes);
            let mut framer = Framer::default();
            let mut got = Vec::new();
            while framer.read_from(&mut source).unwrap() > 0 {
                framer.each(|d| got.push(d.to_vec())).unwrap();
            }
            prop_assert_eq!(got, datagrams);
            prop_assert_eq!(framer.len, 0);
        }
    }

    #[test]
    fn a_length_longer_than_any_datagram_ends_the_connection_unread() {
        let (_, mut stream) = framed(&[1], 0);
        stream.extend(980u32.to_be_bytes());
        stream.extend([0; 100]);
        let mut framer = Framer::default();
        framer
            .read_from(&mut Chunky::new(stream, vec![4096]))
            .unwrap();
        let mut got = 0;
        let error = framer.each(|_| got += 1).unwrap_err();
        assert_eq!(got, 1);
        assert_eq!(
            error,
            "a frame of 980 bytes, more than any datagram (979 at most)"
        );
    }
}
