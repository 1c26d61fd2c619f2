//! A response, written by hand: the status line, the header fields, an
//! empty line, the body.
//!
//! ```text
//! HTTP/1.1 200 OK\r\n                       status line: version, code, reason
//! Date: Tue, 25 Nov 2026 08:28:00 GMT\r\n   fields: Name: value
//! Content-Type: text/html; charset=utf-8\r\n
//! Content-Length: 1024\r\n                  how the client finds the body's end
//! \r\n                                      the empty line ends the head
//! <!doctype html>...                        exactly 1024 bytes of body
//! ```
//!
//! Every response carries a Content-Length (the server knows each size
//! in advance), so the connection can carry the next request after it.

use std::fs::File;
use std::io::{Read, Write};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use http_basics::date::http_date;

/// A body small enough to go out with its head in one `send`.
const ONE_WRITE: u64 = 64 * 1024;

pub enum Payload {
    Static(&'static [u8]),
    Bytes(Vec<u8>),
    /// An open file and the length announced for it.
    File(File, u64),
}

impl Payload {
    pub fn len(&self) -> u64 {
        match self {
            Payload::Static(b) => b.len() as u64,
            Payload::Bytes(b) => b.len() as u64,
            Payload::File(_, len) => *len,
        }
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Payload,
}

impl Reply {
    pub fn new(status: u16, content_type: &str, body: Payload) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type", content_type.to_string())],
            body,
        }
    }

    /// An error page: the status and why, as plain text.
    pub fn error(status: u16, why: &str) -> Reply {
        let text = format!("{status} {}: {why}\n", reason(status));
        let mut reply = Reply::new(
            status,
            "text/plain; charset=utf-8",
            Payload::Bytes(text.into_bytes()),
        );
        // Never let a browser guess HTML in text we wrote about a request.
        reply.header("X-Content-Type-Options", "nosniff");
        reply
    }

    pub fn header(&mut self, name: &'static str, value: impl Into<String>) -> &mut Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Writes the response to `out`. `head_only` for HEAD (the same head,
    /// no body); `keep_alive` decides the Connection field; `minor` is the
    /// request's HTTP version (a 1.0 client must be told keep-alive).
    /// Returns the bytes of body sent.
    pub fn send(
        self,
        out: &mut impl Write,
        head_only: bool,
        keep_alive: bool,
        minor: u8,
    ) -> Result<u64> {
        let len = self.body.len();
        let mut wire = Vec::with_capacity(256 + len.min(ONE_WRITE) as usize);
        write!(wire, "HTTP/1.1 {} {}\r\n", self.status, reason(self.status))?;
        write!(
            wire,
            "Date: {}\r\nServer: http-basics\r\n",
            http_date(SystemTime::now())
        )?;
        for (name, value) in &self.headers {
            write!(wire, "{name}: {value}\r\n")?;
        }
        write!(wire, "Content-Length: {len}\r\n")?;
        if !keep_alive {
            wire.extend_from_slice(b"Connection: close\r\n");
        } else if minor == 0 {
            wire.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        wire.extend_from_slice(b"\r\n");
        if head_only {
            out.write_all(&wire).context("sending the response head")?;
            return Ok(0);
        }
        match self.body {
            Payload::Static(bytes) => wire.extend_from_slice(bytes),
            Payload::Bytes(bytes) => wire.extend_from_slice(&bytes),
            Payload::File(file, len) if len <= ONE_WRITE => {
                let start = wire.len();
                file.take(len)
                    .read_to_end(&mut wire)
                    .context("reading the file")?;
                if (wire.len() - start) as u64 != len {
                    bail!("the file shrank while being sent");
                }
            }
            Payload::File(file, len) => {
                out.write_all(&wire).context("sending the response head")?;
                return send_file(out, file, len);
            }
        }
        out.write_all(&wire).context("sending the response")?;
        Ok(len)
    }
}

/// Streams a large file in 64 KiB pieces: memory stays flat however big
/// the file, and a file that shrinks mid-way ends the connection (the
/// Content-Length already promised more).
fn send_file(out: &mut impl Write, file: File, len: u64) -> Result<u64> {
    let mut piece = vec![0u8; ONE_WRITE as usize];
    let mut file = file.take(len);
    let mut sent = 0;
    while sent < len {
        let n = file.read(&mut piece).context("reading the file")?;
        if n == 0 {
            bail!("the file shrank while being sent ({sent} of {len} bytes)");
        }
        out.write_all(&piece[..n]).context("sending the file")?;
        sent += n as u64;
    }
    Ok(sent)
}

/// The reason phrase for each status the server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        301 => "Moved Permanently",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}
