//! Serving one client: read `\n`-terminated lines, echo each one back
//! after `--delay-ms` of pretend work. The same code runs in every mode;
//! only who calls it (the accept loop, a new thread, a pool worker) changes.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use common::narrate;

/// What a client may cost us.
#[derive(Clone, Copy)]
pub struct Limits {
    /// Longest line accepted, newline excluded.
    pub max_line: usize,
    /// How long a client may stay silent, or take to send one line, or
    /// leave our replies unread.
    pub idle: Duration,
    /// Simulated work per request.
    pub delay: Duration,
}

/// 8 KiB per connection: enough to pick up many pipelined requests with one
/// `read()`, small enough that 1000 idle clients cost 8 MB, not 64.
const READ_BUFFER: usize = 8 * 1024;

/// Serves `stream` until the client closes; returns how many requests it
/// answered. Any error ends this connection only; the caller logs it.
pub fn serve(stream: &TcpStream, peer: SocketAddr, limits: Limits) -> Result<u64> {
    // Replies are small and someone is waiting for each: no Nagle delay.
    stream.set_nodelay(true).context("setting TCP_NODELAY")?;
    // The timeouts are the defence against idle and slow clients: without
    // them one silent client holds this thread (and in pool mode, one of
    // only --workers threads) forever.
    stream
        .set_read_timeout(Some(limits.idle))
        .context("setting the read timeout")?;
    stream
        .set_write_timeout(Some(limits.idle))
        .context("setting the write timeout")?;

    let mut reader = BufReader::with_capacity(READ_BUFFER, stream);
    let mut line = Vec::new();
    let mut replies = Vec::new();
    let mut requests = 0;
    while read_line(&mut reader, &mut line, limits)? {
        thread::sleep(limits.delay);
        replies.extend_from_slice(&line);
        line.clear();
        requests += 1;
        // A client that pipelines sends many requests at once. Answer them
        // with one write when the next request is already here, instead of
        // one small write (one syscall, maybe one packet) per line.
        if !reader.buffer().contains(&b'\n') {
            send_all(stream, &replies)?;
            replies.clear();
        }
    }
    narrate!("recv() -> 0 bytes (EOF from {peer})");
    narrate!("shutdown(Write)");
    match stream.shutdown(Shutdown::Write) {
        // The client is already fully gone; everything was answered.
        Err(e) if e.kind() == ErrorKind::NotConnected => {}
        other => other.context("shutting down the write side")?,
    }
    Ok(requests)
}

/// Reads one line, newline included, into `line`. Returns false on a clean
/// EOF between lines; a line cut short by EOF is an error, never a request.
fn read_line(reader: &mut impl BufRead, line: &mut Vec<u8>, limits: Limits) -> Result<bool> {
    let mut first_byte_at = None;
    loop {
        let available = match reader.fill_buf() {
            Ok(bytes) => bytes,
            // A signal interrupted read(): try again.
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // Our read timeout fired (WouldBlock on Unix, TimedOut on Windows).
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                let secs = limits.idle.as_secs_f64();
                if line.is_empty() {
                    bail!("idle for {secs} s (--idle-timeout)");
                }
                bail!(
                    "no progress for {secs} s with {} bytes of a line pending",
                    line.len()
                );
            }
            // ConnectionReset and the like: the client vanished.
            Err(e) => return Err(e).context("reading a request"),
        };
        if available.is_empty() {
            if line.is_empty() {
                return Ok(false);
            }
            bail!(
                "client closed in the middle of a line ({} bytes, no newline)",
                line.len()
            );
        }
        narrate!("recv() -> {} bytes", available.len());
        let (chunk, complete) = match available.iter().position(|&b| b == b'\n') {
            Some(end) => (&available[..=end], true),
            None => (available, false),
        };
        if line.len() + chunk.len() - usize::from(complete) > limits.max_line {
            bail!("line longer than {} bytes (--max-line)", limits.max_line);
        }
        line.extend_from_slice(chunk);
        let used = chunk.len();
        reader.consume(used);
        if complete {
            return Ok(true);
        }
        // Slowloris: a client trickling one byte just inside every read
        // timeout would otherwise hold this connection forever.
        let started = *first_byte_at.get_or_insert_with(Instant::now);
        if started.elapsed() > limits.idle {
            bail!(
                "a line took over {} s to arrive (--idle-timeout)",
                limits.idle.as_secs_f64()
            );
        }
    }
}

/// Beej's `sendall`, via `write_all`: write() may take only part of the
/// data when the client reads slowly. The write timeout bounds how long a
/// client that stopped reading can keep us here.
fn send_all(mut stream: &TcpStream, data: &[u8]) -> Result<()> {
    match stream.write_all(data) {
        Ok(()) => {
            narrate!("sendall({} bytes)", data.len());
            Ok(())
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            bail!("the client read none of our reply for the idle timeout")
        }
        // BrokenPipe / ConnectionReset: the client left while we wrote.
        Err(e) => Err(e).context("writing a reply"),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{self, BufReader, Read};
    use std::time::Duration;

    use proptest::prelude::*;

    use super::{Limits, read_line};

    const LIMITS: Limits = Limits {
        max_line: 64,
        idle: Duration::from_secs(30),
        delay: Duration::ZERO,
    };

    /// Hands out its bytes in the given chunk sizes, like a TCP stream.
    struct Chunky(Vec<u8>, Vec<usize>, usize);

    impl Read for Chunky {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let size = self.1[self.2 % self.1.len()]
                .max(1)
                .min(buf.len())
                .min(self.0.len());
            self.2 += 1;
            buf[..size].copy_from_slice(&self.0[..size]);
            self.0.drain(..size);
            Ok(size)
        }
    }

    /// Reads every line of `data`; the error that ended it, if any.
    fn lines(data: Vec<u8>, sizes: Vec<usize>) -> (Vec<Vec<u8>>, Option<String>) {
        let mut reader = BufReader::with_capacity(16, Chunky(data, sizes, 0));
        let (mut lines, mut line) = (Vec::new(), Vec::new());
        loop {
            match read_line(&mut reader, &mut line, LIMITS) {
                Ok(true) => lines.push(std::mem::take(&mut line)),
                Ok(false) => return (lines, None),
                Err(e) => return (lines, Some(e.to_string())),
            }
        }
    }

    #[test]
    fn a_line_cut_by_eof_or_over_the_limit_is_an_error() {
        let (got, error) = lines(b"one\ntwo".to_vec(), vec![3]);
        assert_eq!(got, [b"one\n".to_vec()]);
        assert_eq!(
            error.unwrap(),
            "client closed in the middle of a line (3 bytes, no newline)"
        );
        let (got, error) = lines([vec![b'x'; 65], b"\n".to_vec()].concat(), vec![7]);
        assert!(got.is_empty());
        assert_eq!(error.unwrap(), "line longer than 64 bytes (--max-line)");
        let (got, error) = lines([vec![b'x'; 64], b"\n".to_vec()].concat(), vec![7]);
        assert_eq!(got.len(), 1, "exactly --max-line bytes is allowed");
        assert!(error.is_none());
    }

    proptest! {
        // 256 cases by default; `make fuzz` raises PROPTEST_CASES.
        #![proptest_config(ProptestConfig::default())]

        /// Any lines, split anyhow by the stream, come back exactly.
        #[test]
        fn lines_round_trip_through_any_chunking(
            sent in prop::collection::vec(prop::collection::vec(any::<u8>().prop_map(|b| if b == b'\n' { b'x' } else { b }), 0..64), 0..20),
            sizes in prop::collection::vec(1usize..9, 1..10),
        ) {
            let wire: Vec<u8> = sent.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect();
            let (got, error) = lines(wire, sizes);
            prop_assert!(error.is_none());
            let expected: Vec<Vec<u8>> = sent.iter().map(|l| [l.as_slice(), b"\n"].concat()).collect();
            prop_assert_eq!(got, expected);
        }

        /// Arbitrary bytes never panic the line reader, and no line it
        /// returns is over the limit.
        #[test]
        fn arbitrary_bytes_never_exceed_the_limit(
            data in prop::collection::vec(any::<u8>(), 0..1000),
            sizes in prop::collection::vec(1usize..40, 1..10),
        ) {
            let (got, _) = lines(data, sizes);
            for line in got {
                prop_assert!(line.len() <= LIMITS.max_line + 1);
                prop_assert_eq!(line.last(), Some(&b'\n'));
            }
        }
    }
}
