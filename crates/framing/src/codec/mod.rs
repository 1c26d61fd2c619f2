//! Five ways to mark where a message ends in a TCP byte stream. Each
//! strategy is one small module with the same two functions:
//!
//! - `read(reader, ...)` reads one message from a buffered reader and
//!   returns `Ok(None)` when the conversation ended cleanly between
//!   messages. EOF in the middle of a message is an `UnexpectedEof`
//!   error, never a short message. A size over the limit is refused
//!   (`InvalidData`) before anything is allocated for it.
//! - `write(writer, message, ...)` writes one message.
//!
//! The codecs know nothing about sockets: they work on any `BufRead` and
//! `Write`, which is what lets the tests feed them random small chunks.

pub mod delimiter;
pub mod eof;
pub mod fixed;
pub mod length;
pub mod netstring;

use std::io::{self, Read};

/// The five strategies, as `--strategy` spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Strategy {
    /// The whole stream is one message; the sender closes to end it.
    Eof,
    /// Every message is exactly --size bytes.
    Fixed,
    /// Messages end with --delimiter.
    Delimiter,
    /// A 4-byte big-endian length, then the message; length 0 ends.
    Length,
    /// djb's netstrings: `LEN:BYTES,`.
    Netstring,
}

impl Strategy {
    /// The name `--strategy` takes.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::Eof => "eof",
            Strategy::Fixed => "fixed",
            Strategy::Delimiter => "delimiter",
            Strategy::Length => "length",
            Strategy::Netstring => "netstring",
        }
    }
}

/// An `InvalidData` error: the peer sent something the format forbids.
pub fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// An `UnexpectedEof` error: the stream ended inside a message.
pub fn truncated(what: &str, got: usize, wanted: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("the stream ended inside {what}: {got} of {wanted} bytes"),
    )
}

/// `read_exact` that reports how far it got when the stream ends early.
pub fn read_exact_or_truncated(
    reader: &mut impl io::Read,
    buf: &mut [u8],
    what: &str,
) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => return Err(truncated(what, filled, buf.len())),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads a body of `length` bytes, which the peer announced. The buffer
/// starts small and grows with the bytes that actually arrive: a header is
/// a claim, not a promise, and `vec![0; length]` would let a 12-byte header
/// make us allocate gigabytes before a single byte of the body is here.
pub fn read_body(reader: &mut impl io::Read, length: usize, what: &str) -> io::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(length.min(FIRST_ALLOCATION));
    // read_to_end doubles the buffer only when it is full, so it holds at
    // most twice what arrived; take() stops it at the frame's end.
    reader.by_ref().take(length as u64).read_to_end(&mut body)?;
    if body.len() < length {
        return Err(truncated(what, body.len(), length));
    }
    Ok(body)
}

/// The most [`read_body`] allocates before any of the body arrived.
pub const FIRST_ALLOCATION: usize = 4096;

/// True if no byte is left: a clean place for the conversation to end.
pub fn at_eof(reader: &mut impl io::BufRead) -> io::Result<bool> {
    loop {
        match reader.fill_buf() {
            Ok(buf) => return Ok(buf.is_empty()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests;
