//! A length prefix: 4 bytes, big-endian (network order, Python's
//! `struct.pack('!I', n)`), then exactly that many bytes. A zero length
//! ends the conversation, so an empty message cannot be sent. Any other
//! bytes can be carried, and the receiver knows each message's size before
//! reading it. The book's blocks.py.

use std::io::{self, BufRead, Write};

use super::{at_eof, invalid, read_body, read_exact_or_truncated};

/// Reads one message, or `None` for the zero-length terminator (or a clean
/// EOF before a header). A length over `max_frame` is refused before
/// anything is read or allocated for it: the peer chooses that number.
pub fn read(reader: &mut impl BufRead, max_frame: usize) -> io::Result<Option<Vec<u8>>> {
    if at_eof(reader)? {
        return Ok(None);
    }
    let mut header = [0u8; 4];
    read_exact_or_truncated(reader, &mut header, "a 4-byte length header")?;
    let length = u32::from_be_bytes(header) as usize;
    if length == 0 {
        return Ok(None);
    }
    if length > max_frame {
        return Err(invalid(format!(
            "frame length {length} is over the {max_frame}-byte limit (--max-frame)"
        )));
    }
    read_body(reader, length, "a length-prefixed frame").map(Some)
}

/// Writes the 4-byte length and the message. Refuses what this framing
/// cannot carry: an empty message (its zero length is the end marker, so
/// the reader would stop there and never see the messages after it) and
/// one of 4 GiB or more.
pub fn write(writer: &mut impl Write, message: &[u8]) -> io::Result<()> {
    if message.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an empty message cannot be sent: its zero length is the end marker",
        ));
    }
    let length = u32::try_from(message.len()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "a frame is at most 4 GiB - 1 bytes",
        )
    })?;
    writer.write_all(&length.to_be_bytes())?;
    writer.write_all(message)
}

/// Writes the zero-length frame that says "no more messages".
pub fn write_end(writer: &mut impl Write) -> io::Result<()> {
    writer.write_all(&0u32.to_be_bytes())
}
