//! Fixed-size records: every message is exactly `size` bytes, so the
//! receiver just reads that many. Short messages are padded with spaces;
//! longer ones cannot be sent. The book's tcp_sixteen.py (16 bytes).

use std::io::{self, BufRead, Write};

use super::{at_eof, read_exact_or_truncated};

/// Reads one record, or `None` at a clean EOF before it.
pub fn read(reader: &mut impl BufRead, size: usize) -> io::Result<Option<Vec<u8>>> {
    if at_eof(reader)? {
        return Ok(None);
    }
    let mut record = vec![0; size];
    read_exact_or_truncated(reader, &mut record, "a fixed-size record")?;
    Ok(Some(record))
}

/// Pads `message` with spaces to `size` bytes, or refuses it if longer.
pub fn pad(message: &[u8], size: usize) -> io::Result<Vec<u8>> {
    if message.len() > size {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "a {}-byte message does not fit a {size}-byte record (--size)",
                message.len()
            ),
        ));
    }
    let mut record = message.to_vec();
    record.resize(size, b' ');
    Ok(record)
}

/// Writes `message` as one record of `size` bytes.
pub fn write(writer: &mut impl Write, message: &[u8], size: usize) -> io::Result<()> {
    writer.write_all(&pad(message, size)?)
}
