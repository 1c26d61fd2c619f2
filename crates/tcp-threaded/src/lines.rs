//! Requests are lines: the bytes up to and including a `\n`. TCP hands us
//! bytes in whatever pieces it likes, so one read may hold half a line or
//! ten; this reader puts lines back together from a buffer (`BufReader`),
//! the way the book's `makefile().readline()` does, with two limits a real
//! peer can otherwise abuse: a line longer than `max_line` (it would make
//! us buffer without end) and a line that trickles in too slowly.
//!
//! The reader never waits itself: whatever it reads from (a [`Guarded`]
//! stream in the server) decides how long a read may block.
//!
//! [`Guarded`]: common::guard::Guarded

use std::io::{BufRead, BufReader, ErrorKind, Read};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// 8 KiB per connection: enough to pick up many pipelined requests with
/// one `read()`, small enough that 1000 idle clients cost 8 MB, not 64.
const READ_BUFFER: usize = 8 * 1024;

pub struct Lines<R> {
    reader: BufReader<R>,
    max_line: usize,
    /// How long one line may take from its first byte to its newline.
    patience: Duration,
}

impl<R: Read> Lines<R> {
    pub fn new(inner: R, max_line: usize, patience: Duration) -> Self {
        Lines {
            reader: BufReader::with_capacity(READ_BUFFER, inner),
            max_line,
            patience,
        }
    }

    /// Appends the next line, newline included, to `buf`, as
    /// `BufRead::read_until` does; `false` at a clean EOF between lines.
    /// A line cut short by EOF is an error, never a request. (The caller
    /// owns the buffer, so it decides when a long line's memory goes.)
    pub fn read_line(&mut self, buf: &mut Vec<u8>) -> Result<bool> {
        let mut len = 0; // of this line, in `buf` so far
        let mut first_byte_at = None;
        loop {
            // fill_buf() reads from the socket only when the buffer is
            // empty; otherwise it hands back what an earlier read brought.
            let available = match self.reader.fill_buf() {
                Ok(bytes) => bytes,
                // A signal interrupted the read: try again.
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                // A reset, a timeout, a stop: the stream says which.
                Err(e) => return Err(e).context("reading a request"),
            };
            if available.is_empty() {
                if len == 0 {
                    return Ok(false);
                }
                bail!("client closed in the middle of a line ({len} bytes, no newline)");
            }
            let (chunk, complete) = match available.iter().position(|&b| b == b'\n') {
                Some(end) => (&available[..=end], true),
                None => (available, false),
            };
            // Checked before copying: the buffer grows with what arrived,
            // and never past the limit.
            if len + chunk.len() - usize::from(complete) > self.max_line {
                bail!("line longer than {} bytes (--max-line)", self.max_line);
            }
            buf.extend_from_slice(chunk);
            len += chunk.len();
            let used = chunk.len();
            self.reader.consume(used);
            if complete {
                return Ok(true);
            }
            // Slowloris: a client sending one byte just inside every idle
            // timeout would otherwise hold this connection for as long as
            // --max-connection-secs allows. Checked when a piece arrives,
            // so such a line is cut within twice the idle timeout.
            let started = *first_byte_at.get_or_insert_with(Instant::now);
            if started.elapsed() > self.patience {
                bail!(
                    "a line took over {} s to arrive (--idle-timeout)",
                    self.patience.as_secs_f64()
                );
            }
        }
    }

    /// Whether the next line is buffered whole and within the limit, so
    /// reading it needs no `read()` and cannot fail: answers may then wait
    /// for it, to go out in one write, and are never lost with a line
    /// that fails.
    pub fn has_line(&self) -> bool {
        let buffered = self.reader.buffer();
        buffered
            .iter()
            .position(|&b| b == b'\n')
            .is_some_and(|end| end <= self.max_line)
    }

    /// The stream underneath, to write replies on.
    pub fn get_mut(&mut self) -> &mut R {
        self.reader.get_mut()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;
    use test_support::Chunky;

    use proptest::prelude::*;

    use super::Lines;

    const MAX_LINE: usize = 64;

    /// Reads every line of `data`, handed out in chunks of `sizes` (as TCP
    /// may cut it); the error that ended it, if any.
    fn lines(data: Vec<u8>, sizes: Vec<usize>) -> (Vec<Vec<u8>>, Option<String>) {
        let mut reader = Lines::new(Chunky::new(data, sizes), MAX_LINE, Duration::from_secs(30));
        let mut lines = Vec::new();
        loop {
            let mut line = Vec::new();
            match reader.read_line(&mut line) {
                Ok(true) => lines.push(line),
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

    #[test]
    fn has_line_says_whether_a_whole_line_is_buffered() {
        // One read brings "a\nb\nc": two whole lines and part of a third.
        let mut reader = Lines::new(
            Chunky::new(b"a\nb\nc\n".to_vec(), vec![5, 1]),
            MAX_LINE,
            Duration::from_secs(30),
        );
        let mut buf = Vec::new();
        assert!(!reader.has_line(), "nothing read yet");
        assert!(reader.read_line(&mut buf).unwrap());
        assert_eq!(buf, b"a\n");
        assert!(reader.has_line(), "b\\n is buffered");
        // Appended, as read_until does: pipelined answers collect in one buffer.
        assert!(reader.read_line(&mut buf).unwrap());
        assert_eq!(buf, b"a\nb\n");
        assert!(!reader.has_line(), "only `c` is buffered");
        assert!(reader.read_line(&mut buf).unwrap());
        assert_eq!(buf, b"a\nb\nc\n");
        assert!(!reader.read_line(&mut buf).unwrap(), "EOF");
        // A buffered line over the limit is no line to wait for: it fails.
        let mut reader = Lines::new(
            Chunky::new([&b"ok\n"[..], &[b'x'; 65], b"\n"].concat(), vec![100]),
            MAX_LINE,
            Duration::from_secs(30),
        );
        assert!(reader.read_line(&mut buf).unwrap());
        assert!(!reader.has_line(), "the next line is over --max-line");
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
                prop_assert!(line.len() <= MAX_LINE + 1);
                prop_assert_eq!(line.last(), Some(&b'\n'));
            }
        }
    }
}
