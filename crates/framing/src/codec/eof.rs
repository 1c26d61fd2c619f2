//! End of stream as the frame: the sender writes its one message and
//! closes (or half-closes). Simplest of all, and one message per
//! connection. The book's streamer.py.

use std::io::{self, BufRead, Read, Write};

use super::invalid;

/// Reads everything up to EOF, refusing more than `max_len` bytes.
pub fn read(reader: &mut impl BufRead, max_len: usize) -> io::Result<Vec<u8>> {
    let mut message = Vec::new();
    // take(max_len + 1): one byte past the limit is enough to know the
    // limit was crossed, without reading (or storing) the rest. Saturating:
    // with the largest limit, + 1 must not wrap to 0 and read nothing.
    let past_the_limit = (max_len as u64).saturating_add(1);
    reader.take(past_the_limit).read_to_end(&mut message)?;
    if message.len() > max_len {
        return Err(invalid(format!(
            "message longer than {max_len} bytes (--max-frame)"
        )));
    }
    Ok(message)
}

/// Writes the message; the caller then closes or half-closes the stream.
pub fn write(writer: &mut impl Write, message: &[u8]) -> io::Result<()> {
    writer.write_all(message)
}
