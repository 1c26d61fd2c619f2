//! The bytes a connection has received but nobody has used yet.
//!
//! TCP hands us whatever has arrived: a `recv` may hold half a request
//! head, or a whole head and the start of its body, or two pipelined
//! requests. So HTTP, like every framed protocol, reads into a buffer and
//! takes from its front only what it has recognised; the rest waits for the
//! next parse. `std::io::BufReader` cannot do this (it reads more only once
//! its buffer is empty, and a head split across reads must be parsed from
//! one piece), hence this small buffer that grows on demand, up to a cap.

use std::io::{self, ErrorKind, Read};

/// A read buffer over `inner`: [`Wire::fill`] appends what the next `read`
/// returns, [`Wire::buffer`] shows what is unused, [`Wire::consume`] drops
/// it from the front.
pub struct Wire<R> {
    inner: R,
    buf: Vec<u8>,
    /// `buf[start..]` is unused data.
    start: usize,
}

/// How much one `read` asks for: 16 KiB takes a typical head with its
/// body, or many pipelined requests, in one syscall.
const READ_SIZE: usize = 16 * 1024;

impl<R: Read> Wire<R> {
    pub fn new(inner: R) -> Self {
        Wire {
            inner,
            buf: Vec::new(),
            start: 0,
        }
    }

    /// The data received and not yet consumed.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Drops the first `n` unused bytes (at most all of them).
    pub fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.buf.len());
        if self.start == self.buf.len() {
            // Empty: start over at the front, keeping the allocation.
            self.buf.clear();
            self.start = 0;
        }
    }

    /// One `read` from the connection, appended to the unused data; returns
    /// how many bytes arrived (0: the peer closed its side). Never holds
    /// more than `cap` unused bytes: a caller still waiting for the end of
    /// a head at `cap` gets an error of kind `OutOfMemory`, so it answers
    /// "too large" instead of growing without end.
    pub fn fill(&mut self, cap: usize) -> io::Result<usize> {
        let unused = self.buf.len() - self.start;
        if unused >= cap {
            return Err(io::Error::new(ErrorKind::OutOfMemory, "read buffer full"));
        }
        if self.start > 0 {
            // Move the unused tail to the front before growing.
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let want = READ_SIZE.min(cap - unused);
        let end = self.buf.len();
        self.buf.resize(end + want, 0);
        let result = loop {
            match self.inner.read(&mut self.buf[end..]) {
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        self.buf.truncate(end + *result.as_ref().unwrap_or(&0));
        result
    }

    /// Takes up to `max` bytes: from the buffer if it holds any, else with
    /// one `read` straight into `out` (a large body then skips the copy).
    /// Returns 0 only at EOF.
    pub fn read_some(&mut self, out: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        let held = self.buffer();
        if !held.is_empty() {
            let n = held.len().min(max);
            out.extend_from_slice(&held[..n]);
            self.consume(n);
            return Ok(n);
        }
        let end = out.len();
        let want = max.min(READ_SIZE * 4);
        out.resize(end + want, 0);
        let result = loop {
            match self.inner.read(&mut out[end..]) {
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                other => break other,
            }
        };
        out.truncate(end + *result.as_ref().unwrap_or(&0));
        result
    }

    /// The connection underneath, to write replies on.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }
}
