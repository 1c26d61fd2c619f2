//! Where a body ends: HTTP/1.1's three framings, decoded by hand.
//!
//! ```text
//! Content-Length: 5        the next 5 bytes are the body   (framing: length)
//!
//! Transfer-Encoding: chunked
//!   1f4;ext=1\r\n          a chunk: its size in hex, optional extensions,
//!   <500 bytes>\r\n        then that many bytes and CRLF     (framing: length,
//!   0\r\n                  the last chunk has size 0           again and again)
//!   Trailer: value\r\n     optional trailer fields
//!   \r\n                   an empty line ends the body
//!
//! neither (a response)     the body ends when the server closes (framing: eof)
//! ```
//!
//! Every size a peer states is checked against the caller's `max` before
//! a byte of it is read or allocated: a `Content-Length` of 10 GB, or a
//! chunk size of `ffffffffffffffffff`, is refused, not believed.

use std::io::{self, Read};

use common::narrate;

use crate::wire::Wire;

/// How a message's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body at all (a GET request, a HEAD response, a 204 or 304).
    Empty,
    /// `Content-Length: N`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// A response with neither: the body is everything until the close.
    Close,
}

/// Longest chunk-size line (size, extensions) or trailer line.
pub const MAX_LINE: usize = 4096;
/// Longest trailer section, all lines together, and most trailer fields.
pub const MAX_TRAILERS: usize = 16 * 1024;
pub const MAX_TRAILER_FIELDS: usize = 64;

#[derive(Debug)]
pub enum BodyError {
    /// The body (as stated, or as received so far) exceeds `limit` bytes.
    TooLarge { limit: usize },
    /// Framing that breaks the rules: no hex digits, a bare LF, no CRLF
    /// after a chunk's data, an over-long line.
    Malformed(String),
    /// The peer closed before the body was complete.
    Truncated,
    /// The connection failed or timed out.
    Io(io::Error),
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::TooLarge { limit } => write!(f, "body larger than {limit} bytes"),
            BodyError::Malformed(why) => write!(f, "malformed body: {why}"),
            BodyError::Truncated => write!(f, "connection closed before the end of the body"),
            BodyError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BodyError {}

fn malformed(why: impl Into<String>) -> BodyError {
    BodyError::Malformed(why.into())
}

/// Reads one body framed as `framing` into `out`, at most `max` bytes.
/// Returns the number of trailer fields (chunked only; 0 otherwise).
pub fn read_body<R: Read>(
    wire: &mut Wire<R>,
    framing: Framing,
    max: usize,
    out: &mut Vec<u8>,
) -> Result<usize, BodyError> {
    match framing {
        Framing::Empty => Ok(0),
        Framing::Length(len) => {
            // Checked before reading or reserving anything.
            let len = usize::try_from(len)
                .ok()
                .filter(|&n| n <= max)
                .ok_or(BodyError::TooLarge { limit: max })?;
            read_exact(wire, len, out)?;
            Ok(0)
        }
        Framing::Chunked => read_chunked(wire, max, out),
        Framing::Close => {
            loop {
                // One byte more than allowed tells "exactly max" from "more".
                let room = (max - out.len()).saturating_add(1);
                match wire.read_some(out, room).map_err(BodyError::Io)? {
                    0 => return Ok(0),
                    _ if out.len() > max => {
                        out.truncate(max);
                        return Err(BodyError::TooLarge { limit: max });
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Appends exactly `len` bytes to `out`, growing it as they arrive (never
/// reserving `len` up front: that number came from the peer).
fn read_exact<R: Read>(wire: &mut Wire<R>, len: usize, out: &mut Vec<u8>) -> Result<(), BodyError> {
    let mut left = len;
    while left > 0 {
        match wire.read_some(out, left).map_err(BodyError::Io)? {
            0 => return Err(BodyError::Truncated),
            n => left -= n,
        }
    }
    Ok(())
}

/// The chunked decoder (RFC 9112, section 7.1).
fn read_chunked<R: Read>(
    wire: &mut Wire<R>,
    max: usize,
    out: &mut Vec<u8>,
) -> Result<usize, BodyError> {
    let start = out.len();
    loop {
        let line = read_line(wire, MAX_LINE)?;
        let size = chunk_size(&line)?;
        narrate!(
            "chunk: size line \"{}\" = {size} bytes",
            line.escape_ascii()
        );
        if size == 0 {
            return read_trailers(wire);
        }
        let received = out.len() - start;
        let size = usize::try_from(size)
            .ok()
            .filter(|&n| n <= max - received)
            .ok_or(BodyError::TooLarge { limit: max })?;
        read_exact(wire, size, out)?;
        // The chunk's data must be followed by CRLF and nothing else: a
        // decoder that skips ahead to the next CRLF would read a different
        // body than a stricter one on the same path (request smuggling).
        if !read_line(wire, MAX_LINE)?.is_empty() {
            return Err(malformed(format!(
                "a chunk of {size} bytes is not followed by CRLF"
            )));
        }
    }
}

/// `1*HEXDIG [BWS ; extensions]`: the size, with overflow checked; the
/// extensions (`;name=value`) are allowed and ignored, as the RFC says.
pub fn chunk_size(line: &[u8]) -> Result<u64, BodyError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(malformed(format!(
            "chunk size \"{}\" does not start with a hex digit",
            line.escape_ascii()
        )));
    }
    let mut size: u64 = 0;
    for &b in &line[..digits] {
        let digit = char::from(b).to_digit(16).unwrap_or(0);
        // More than 16 significant hex digits does not fit in 64 bits:
        // larger than any limit, so "too large", never a wrapped number.
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(digit)))
            .ok_or(BodyError::TooLarge { limit: usize::MAX })?;
    }
    let rest = &line[digits..];
    let rest = &rest[rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count()..];
    if !rest.is_empty() && rest[0] != b';' {
        return Err(malformed(format!(
            "unexpected \"{}\" after the chunk size",
            rest.escape_ascii()
        )));
    }
    if rest.iter().any(|&b| b.is_ascii_control() && b != b'\t') {
        return Err(malformed("a control character in a chunk extension"));
    }
    Ok(size)
}

/// The trailer section after the last chunk: `Name: value` lines, then an
/// empty line. Returns how many fields it held (they are not used).
fn read_trailers<R: Read>(wire: &mut Wire<R>) -> Result<usize, BodyError> {
    let (mut fields, mut bytes) = (0, 0);
    loop {
        let line = read_line(wire, MAX_LINE)?;
        if line.is_empty() {
            return Ok(fields);
        }
        fields += 1;
        bytes += line.len() + 2;
        if fields > MAX_TRAILER_FIELDS || bytes > MAX_TRAILERS {
            return Err(malformed("trailer section too large"));
        }
        let name_len = line.iter().position(|&b| b == b':').unwrap_or(0);
        let name_ok = name_len > 0 && line[..name_len].iter().all(|&b| is_token(b));
        if !name_ok || line.iter().any(|&b| b.is_ascii_control() && b != b'\t') {
            return Err(malformed(format!(
                "trailer line \"{}\" is not `Name: value`",
                line.escape_ascii()
            )));
        }
        narrate!("chunk: trailer field \"{}\"", line.escape_ascii());
    }
}

/// A `tchar` of RFC 9110: the characters a header name may use.
pub fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// One line ending in CRLF, without it, at most `cap` bytes. A bare LF is
/// refused: lenient line endings are how two parsers come to disagree.
fn read_line<R: Read>(wire: &mut Wire<R>, cap: usize) -> Result<Vec<u8>, BodyError> {
    let mut scanned = 0;
    loop {
        let data = wire.buffer();
        if let Some(i) = data[scanned..].iter().position(|&b| b == b'\n') {
            let end = scanned + i;
            if end == 0 || data[end - 1] != b'\r' {
                return Err(malformed("a line ends in a bare LF, not CRLF"));
            }
            let line = data[..end - 1].to_vec();
            wire.consume(end + 1);
            return Ok(line);
        }
        scanned = data.len();
        if scanned > cap {
            return Err(malformed(format!("a line longer than {cap} bytes")));
        }
        match wire.fill(cap + 2) {
            Ok(0) => return Err(BodyError::Truncated),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::OutOfMemory => {
                return Err(malformed(format!("a line longer than {cap} bytes")));
            }
            Err(e) => return Err(BodyError::Io(e)),
        }
    }
}

/// Encodes `body` as chunks of the given sizes (the last one repeats), with
/// the terminating zero chunk: what a server streaming a body sends.
pub fn encode_chunked(body: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 32);
    let mut rest = body;
    let mut i = 0;
    while !rest.is_empty() {
        let size = sizes.get(i).or(sizes.last()).copied().unwrap_or(rest.len());
        let size = size.clamp(1, rest.len());
        out.extend_from_slice(format!("{size:x}\r\n").as_bytes());
        out.extend_from_slice(&rest[..size]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[size..];
        i += 1;
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[cfg(test)]
mod tests;
