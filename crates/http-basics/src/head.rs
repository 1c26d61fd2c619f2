//! Reading a message head: bytes up to the empty line that ends it.
//!
//! A head is framed by a delimiter, `\r\n\r\n`, like the framing lesson's
//! `delimiter` strategy: read, try to parse, and if the parser says
//! "partial", read more. httparse does the parsing (request line or status
//! line, then `Name: value` lines); this loop does the reading, and caps
//! it: a head that has not ended within `cap` bytes is refused, never
//! buffered without end.

use std::io::{self, ErrorKind, Read};

use crate::wire::Wire;

/// Why no head was read.
#[derive(Debug)]
pub enum HeadError {
    /// `cap` bytes arrived without the empty line that ends a head.
    TooLarge,
    /// httparse found a byte that has no place there.
    Malformed(httparse::Error),
    /// The peer closed in the middle of a head.
    Truncated,
    /// The connection failed or timed out; `partial` says whether some of a
    /// head had arrived (a slow head) or none (an idle connection).
    Io { error: io::Error, partial: bool },
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeadError::TooLarge => write!(f, "head too large"),
            HeadError::Malformed(e) => write!(f, "malformed head: {e}"),
            HeadError::Truncated => write!(f, "connection closed in the middle of a head"),
            HeadError::Io { error, .. } => write!(f, "{error}"),
        }
    }
}

impl std::error::Error for HeadError {}

/// The outcome of one parse attempt: httparse's `Status` carrying what
/// the caller extracted and the head's length in bytes.
pub type Parsed<T> = Result<httparse::Status<(T, usize)>, httparse::Error>;

/// Reads until `parse` finds a complete head in the buffered bytes, and
/// returns what it extracted with the head's length (the head itself stays
/// in the buffer, for the caller to show and then consume). `Ok(None)`: the
/// peer closed cleanly before sending any byte of a head.
pub fn read_head<R: Read, T>(
    wire: &mut Wire<R>,
    cap: usize,
    mut parse: impl FnMut(&[u8]) -> Parsed<T>,
) -> Result<Option<(T, usize)>, HeadError> {
    // Bytes already looked at: parse again only when a newline arrives,
    // since a head can only end at one. (A client sending a byte per packet
    // would otherwise cost a full parse per byte.)
    let mut scanned = 0;
    loop {
        let data = wire.buffer();
        if data[scanned.min(data.len())..].contains(&b'\n') {
            match parse(data).map_err(HeadError::Malformed)? {
                httparse::Status::Complete(done) => return Ok(Some(done)),
                httparse::Status::Partial => {}
            }
        }
        scanned = data.len();
        let partial = !data.is_empty();
        match wire.fill(cap) {
            Ok(0) if partial => return Err(HeadError::Truncated),
            Ok(0) => return Ok(None),
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::OutOfMemory => return Err(HeadError::TooLarge),
            Err(error) => return Err(HeadError::Io { error, partial }),
        }
    }
}

/// Every value of the field `name` (case-insensitive), in order.
pub fn values<'a>(
    fields: &'a [(String, Vec<u8>)],
    name: &'a str,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    fields
        .iter()
        .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_slice())
}

/// The comma-separated list items of every `name` field, trimmed and
/// lower-cased: `Connection: keep-alive, Upgrade` is `["keep-alive", "upgrade"]`.
pub fn tokens(fields: &[(String, Vec<u8>)], name: &str) -> Vec<String> {
    values(fields, name)
        .flat_map(|v| v.split(|&b| b == b','))
        .map(|t| String::from_utf8_lossy(t.trim_ascii()).to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_response(data: &[u8]) -> Parsed<u16> {
        let mut headers = [httparse::EMPTY_HEADER; 8];
        let mut response = httparse::Response::new(&mut headers);
        Ok(match response.parse(data)? {
            httparse::Status::Complete(n) => {
                httparse::Status::Complete((response.code.unwrap(), n))
            }
            httparse::Status::Partial => httparse::Status::Partial,
        })
    }

    /// Hands out the data one byte per read, like the slowest network.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_head_split_into_single_bytes_is_found_and_its_body_left_in_the_buffer() {
        let message = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
        let mut wire = Wire::new(Trickle(message));
        let (code, len) = read_head(&mut wire, 1024, parse_response).unwrap().unwrap();
        assert_eq!((code, len), (200, message.len() - 2));
    }

    #[test]
    fn a_head_longer_than_the_cap_is_refused() {
        let mut message = b"HTTP/1.1 200 OK\r\nX: ".to_vec();
        message.extend(std::iter::repeat_n(b'a', 5000));
        let mut wire = Wire::new(&message[..]);
        assert!(matches!(
            read_head(&mut wire, 1024, parse_response),
            Err(HeadError::TooLarge)
        ));
    }

    #[test]
    fn eof_before_a_head_is_none_and_in_the_middle_is_truncated() {
        let mut wire = Wire::new(&b""[..]);
        assert!(read_head(&mut wire, 64, parse_response).unwrap().is_none());
        let mut wire = Wire::new(&b"HTTP/1.1 200 OK\r\n"[..]);
        assert!(matches!(
            read_head(&mut wire, 64, parse_response),
            Err(HeadError::Truncated)
        ));
    }
}
