//! djb's netstrings: the length in ASCII decimal, a colon, the bytes, a
//! comma: `5:hello,`. Readable in a packet capture, and the trailing comma
//! catches a sender and receiver that disagree about the length.

use std::io::{self, BufRead, Write};

use super::{at_eof, invalid, read_body, read_exact_or_truncated, truncated};

/// Reads one netstring, or `None` at a clean EOF before it. The length is
/// checked against `max_frame` as its digits arrive, and the body's buffer
/// grows with the bytes that really arrive, never with the number claimed.
pub fn read(reader: &mut impl BufRead, max_frame: usize) -> io::Result<Option<Vec<u8>>> {
    if at_eof(reader)? {
        return Ok(None);
    }
    let mut length: usize = 0;
    let mut digits = 0;
    loop {
        let mut byte = [0u8; 1];
        // One byte at a time, but from the buffer: no system call per byte.
        if reader.read(&mut byte)? == 0 {
            return Err(truncated("a netstring length", digits, digits + 1));
        }
        match byte[0] {
            b'0'..=b'9' => {
                // "05:" would let two senders spell one length two ways.
                if digits == 1 && length == 0 {
                    return Err(invalid("netstring length has a leading zero".into()));
                }
                // Checked: 20 nines must be refused, not wrap to a small number.
                length = length
                    .checked_mul(10)
                    .and_then(|l| l.checked_add(usize::from(byte[0] - b'0')))
                    .filter(|&l| l <= max_frame)
                    .ok_or_else(|| {
                        invalid(format!(
                            "netstring length is over the {max_frame}-byte limit (--max-frame)"
                        ))
                    })?;
                digits += 1;
            }
            b':' if digits > 0 => break,
            other => {
                return Err(invalid(format!(
                    "expected a digit or ':' in a netstring length, got {:?}",
                    other as char
                )));
            }
        }
    }
    let message = read_body(reader, length, "a netstring")?;
    let mut comma = [0u8; 1];
    read_exact_or_truncated(reader, &mut comma, "a netstring's closing comma")?;
    if comma[0] != b',' {
        return Err(invalid(format!(
            "netstring ends with {:?}, not ','",
            comma[0] as char
        )));
    }
    Ok(Some(message))
}

/// Writes `LEN:BYTES,`.
pub fn write(writer: &mut impl Write, message: &[u8]) -> io::Result<()> {
    write!(writer, "{}:", message.len())?;
    writer.write_all(message)?;
    writer.write_all(b",")
}
