//! A delimiter ends each message, `\n` by default: how most text protocols
//! (SMTP, HTTP headers, Redis) frame. The catch: a message must not
//! contain the delimiter. This codec refuses such a message; a protocol
//! that must carry arbitrary bytes escapes them instead (e.g. `\` + byte)
//! or, better, uses a length prefix.

use std::io::{self, BufRead, Write};

use super::{invalid, truncated};

/// Reads one message, delimiter removed, or `None` at a clean EOF. A
/// message over `max_len` bytes is refused once that many have arrived.
pub fn read(
    reader: &mut impl BufRead,
    delimiter: &[u8],
    max_len: usize,
) -> io::Result<Option<Vec<u8>>> {
    let Some((&last, _)) = delimiter.split_last() else {
        return Err(invalid("the delimiter is empty".into()));
    };
    let mut message = Vec::new();
    loop {
        // Scan what is already buffered: one read() fills the buffer with
        // many messages, and finding each costs no system call.
        let (used, found) = {
            let buf = match reader.fill_buf() {
                Ok(buf) => buf,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                if message.is_empty() {
                    return Ok(None);
                }
                return Err(truncated(
                    "a delimited message",
                    message.len(),
                    message.len() + delimiter.len(),
                ));
            }
            match buf.iter().position(|&b| b == last) {
                Some(i) => {
                    message.extend_from_slice(&buf[..=i]);
                    (i + 1, message.ends_with(delimiter))
                }
                None => {
                    message.extend_from_slice(buf);
                    (buf.len(), false)
                }
            }
        };
        reader.consume(used);
        let body = message.len() - if found { delimiter.len() } else { 0 };
        // While unfinished, `body` may still hold the delimiter's first
        // bytes; allow for them before calling the message too long.
        let allowance = if found { 0 } else { delimiter.len() - 1 };
        if body > max_len.saturating_add(allowance) {
            return Err(invalid(format!(
                "message longer than {max_len} bytes (--max-len)"
            )));
        }
        if found {
            message.truncate(body);
            return Ok(Some(message));
        }
    }
}

/// Writes `message` and the delimiter; refuses a message the reader would
/// cut short: one containing the delimiter, or (for a multi-byte one)
/// ending in bytes that run into it, like `--END-` before `--END--`.
pub fn write(writer: &mut impl Write, message: &[u8], delimiter: &[u8]) -> io::Result<()> {
    if !is_sendable(message, delimiter) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the message contains the delimiter",
        ));
    }
    writer.write_all(message)?;
    writer.write_all(delimiter)
}

/// True if the first delimiter in `message` + `delimiter` is the final one.
pub fn is_sendable(message: &[u8], delimiter: &[u8]) -> bool {
    let framed = [message, delimiter].concat();
    framed.windows(delimiter.len()).position(|w| w == delimiter) == Some(message.len())
}

/// Parses `--delimiter`: text with the escapes `\n`, `\r`, `\t`, `\0`,
/// `\\` and `\xNN`, so a shell can pass any byte sequence.
pub fn parse(text: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut utf8 = [0; 4];
            bytes.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            continue;
        }
        bytes.push(match chars.next() {
            Some('n') => b'\n',
            Some('r') => b'\r',
            Some('t') => b'\t',
            Some('0') => 0,
            Some('\\') => b'\\',
            Some('x') => {
                // Exactly two hex digits: from_str_radix alone would also
                // take `+1`, and take(2) alone a lone `1` at the end.
                let hex: String = chars.by_ref().take(2).collect();
                if hex.len() != 2 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(format!(
                        "bad escape \\x{hex}: want two hex digits, as in \\x0a"
                    ));
                }
                u8::from_str_radix(&hex, 16).map_err(|e| e.to_string())?
            }
            other => {
                return Err(format!(
                    "unknown escape \\{}",
                    other.map(String::from).unwrap_or_default()
                ));
            }
        });
    }
    if bytes.is_empty() {
        return Err("the delimiter must not be empty".into());
    }
    Ok(bytes)
}
