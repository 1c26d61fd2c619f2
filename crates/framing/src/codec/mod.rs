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

use std::io;

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
