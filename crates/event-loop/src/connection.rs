//! One client of the loop: a nonblocking socket and what a blocking server
//! would have kept on a thread's stack, written down instead, because the
//! loop must leave this client whenever it would have to wait:
//!
//! - `input`: bytes read but not answered yet (half a request, or requests
//!   held back while the client does not read its answers);
//! - `output`: answers the kernel has not taken yet, at most
//!   [`OUTPUT_LIMIT`] bytes (plus one answer);
//! - what the last events said the socket can do (`can_read`, `can_write`).
//!
//! [`Connection::drive`] does everything that can be done *now* without
//! waiting: read until the socket is drained (or its turn's read budget is
//! spent), answer every complete request, send all the answers with one
//! write. [`Connection::wanted`]
//! then says which readiness to wait for: READABLE while there is room for
//! more answers, WRITABLE only while answers wait to be sent. A client that
//! sends but never reads fills `output`; the loop then stops reading it
//! (backpressure), its requests wait in the kernel's buffers, and our
//! memory stays bounded.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::narrate;
use mio::Interest;
use mio::net::TcpStream;

use crate::protocol::Protocol;

/// Unsent answers a client may leave us holding before we stop reading it.
pub const OUTPUT_LIMIT: usize = 64 * 1024;
/// One `read()` takes up to this much: many pipelined requests at once.
pub const READ_SIZE: usize = 64 * 1024;
/// Reads one turn may make (1 MiB) before the loop moves on: a client that
/// sends as fast as we can answer must not keep the loop to itself.
pub const READ_BUDGET: usize = 16;

/// The loop's own buffers. A connection borrows them for the length of one
/// [`Connection::drive`] and keeps a copy of what is left over only when
/// something is (half a request, answers the client has not taken): an idle
/// connection owns no buffer at all, so ten thousand of them cost little.
pub struct Scratch {
    read: Box<[u8]>,
    out: Vec<u8>,
}

impl Scratch {
    pub fn new() -> Scratch {
        Scratch {
            read: vec![0; READ_SIZE].into_boxed_slice(),
            out: Vec::with_capacity(2 * OUTPUT_LIMIT),
        }
    }
}

/// What the protocol and the flags say about every connection.
#[derive(Clone, Copy)]
pub struct Settings {
    pub protocol: Protocol,
    pub max_line: usize,
    pub idle: Duration,
}

/// What one event reported about the socket (nothing new: another turn).
#[derive(Clone, Copy, Default)]
pub struct Ready {
    pub readable: bool,
    pub writable: bool,
    /// The peer has sent FIN (EPOLLRDHUP): read on to the end.
    pub read_closed: bool,
}

/// After [`Connection::drive`]: keep the connection, or close it (the
/// client has closed its side, and every answer has been sent).
#[derive(Debug, PartialEq, Eq)]
pub enum Status {
    Open,
    Done,
}

pub struct Connection {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    /// Tells this connection from a later one that reuses its token.
    pub serial: u64,
    /// The interest registered with the poller right now.
    pub registered: Interest,
    /// When a request was last answered or an answer last sent.
    pub last_progress: Instant,
    pub requests: u64,
    /// Waiting in the loop's queue for another turn.
    pub queued: bool,
    input: Vec<u8>,
    /// How much of `input` has been searched for a terminator in vain, so
    /// the next search starts after it.
    searched: usize,
    output: Vec<u8>,
    /// How much of `output` the kernel has taken.
    sent: usize,
    can_read: bool,
    can_write: bool,
    peer_closing: bool,
    read_closed: bool,
    stopping: bool,
}

impl Connection {
    /// A connection just accepted and registered for READABLE.
    pub fn new(stream: TcpStream, peer: SocketAddr, serial: u64, now: Instant) -> Connection {
        Connection {
            stream,
            peer,
            serial,
            registered: Interest::READABLE,
            last_progress: now,
            requests: 0,
            queued: false,
            input: Vec::new(),
            searched: 0,
            output: Vec::new(),
            sent: 0,
            // Registration reports data that is already waiting, so there
            // is no need to try a read before the first event.
            can_read: false,
            // A new socket's send buffer is empty.
            can_write: true,
            peer_closing: false,
            read_closed: false,
            stopping: false,
        }
    }

    /// Does all that can be done without waiting, after an event.
    pub fn drive(
        &mut self,
        ready: Ready,
        scratch: &mut Scratch,
        settings: &Settings,
        now: Instant,
    ) -> Result<Status> {
        self.can_read |= ready.readable;
        self.can_write |= ready.writable;
        self.peer_closing |= ready.read_closed;
        let lent = self.output.is_empty();
        if lent {
            std::mem::swap(&mut self.output, &mut scratch.out);
        }
        let result = self.work(&mut scratch.read, settings, now);
        if lent {
            self.give_back(&mut scratch.out);
        } else if self.pending() == 0 {
            self.output = Vec::new();
            self.sent = 0;
        }
        result
    }

    /// The readiness to wait for next; see the module docs.
    pub fn wanted(&self) -> Interest {
        let read = !self.read_closed && !self.stopping && self.has_room();
        if self.pending() == 0 {
            Interest::READABLE
        } else if read {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::WRITABLE
        }
    }

    /// The server is stopping: read no more. True if nothing is left to
    /// send, so the connection can close now.
    pub fn stop(&mut self) -> bool {
        self.stopping = true;
        self.pending() == 0
    }

    /// Whether its turn ended with bytes still to read: it used up its
    /// read budget, and no event will say so again (edge-triggered).
    pub fn has_more_to_read(&self) -> bool {
        self.can_read && !self.read_closed && !self.stopping && self.has_room()
    }

    /// Bytes of a request that never got its terminator.
    pub fn unfinished(&self) -> usize {
        self.input.len()
    }

    /// Why an idle connection is closed, in its log line.
    pub fn idle_reason(&self, settings: &Settings) -> String {
        let secs = settings.idle.as_secs_f64();
        if self.pending() > 0 {
            format!(
                "{} bytes of answers unread for {secs} s (--idle-timeout)",
                self.pending()
            )
        } else if !self.input.is_empty() {
            format!(
                "no complete {} for {secs} s, {} bytes of one pending (--idle-timeout)",
                settings.protocol.noun(),
                self.input.len()
            )
        } else {
            format!("idle for {secs} s (--idle-timeout)")
        }
    }

    fn pending(&self) -> usize {
        self.output.len() - self.sent
    }

    fn has_room(&self) -> bool {
        self.pending() < OUTPUT_LIMIT
    }

    /// The idea, in order: answer what is already here, read until the
    /// socket is drained (or there is no room for answers, or the turn's
    /// budget is spent), send everything with one write; again while a
    /// write made room for more.
    fn work(&mut self, buf: &mut [u8], settings: &Settings, now: Instant) -> Result<Status> {
        let mut budget = READ_BUDGET;
        loop {
            if !self.input.is_empty() {
                self.answer_input(settings, now)?;
            }
            while budget > 0 && self.has_more_to_read() {
                budget -= 1;
                match (&self.stream).read(buf) {
                    Ok(0) => {
                        narrate!("recv() -> 0 bytes (EOF: the client is done sending)");
                        self.read_closed = true;
                    }
                    Ok(n) => {
                        narrate!("recv() -> {n} bytes");
                        // A read that did not fill the buffer emptied the
                        // socket; the kernel reports the next arrival as a
                        // new event (edge-triggered), so the read that would
                        // only say WouldBlock is skipped, as tokio does.
                        // Unless the peer has closed: no event will come
                        // for the FIN behind this data, so read on to it.
                        if n < buf.len() && !self.peer_closing {
                            self.can_read = false;
                        }
                        self.take(&buf[..n], settings, now)?;
                    }
                    // Drained: wait for the next READABLE event.
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        narrate!("recv() -> WouldBlock (nothing more to read)");
                        self.can_read = false;
                    }
                    // A signal arrived mid-call: just try again.
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    // ECONNRESET and friends: the client is gone.
                    Err(e) => return Err(e).context("reading a request"),
                }
            }
            let wrote = if self.pending() > 0 && self.can_write {
                self.flush(now)?
            } else {
                0
            };
            let more = !self.input.is_empty() || (budget > 0 && self.can_read && !self.read_closed);
            if wrote == 0 || !more || !self.has_room() || self.stopping {
                break;
            }
        }
        if (self.read_closed || self.stopping) && self.pending() == 0 {
            return Ok(Status::Done);
        }
        Ok(Status::Open)
    }

    /// Answers the requests in freshly read `data`; keeps the rest.
    fn take(&mut self, data: &[u8], settings: &Settings, now: Instant) -> Result<()> {
        if self.input.is_empty() {
            // The usual case: whole requests, answered straight from the
            // loop's read buffer, nothing copied.
            let used = self.answer(data, 0, settings, now)?;
            if used < data.len() {
                self.input.extend_from_slice(&data[used..]);
            }
            Ok(())
        } else {
            self.input.extend_from_slice(data);
            self.answer_input(settings, now)
        }
    }

    fn answer_input(&mut self, settings: &Settings, now: Instant) -> Result<()> {
        let mut input = std::mem::take(&mut self.input);
        let used = self.answer(&input, self.searched, settings, now)?;
        input.drain(..used);
        // Keep no buffer once it is empty: idle connections own nothing.
        if !input.is_empty() {
            self.input = input;
        }
        Ok(())
    }

    /// Answers the complete requests at the start of `data`, of which the
    /// first `searched` bytes are known to hold no terminator.
    fn answer(
        &mut self,
        data: &[u8],
        searched: usize,
        settings: &Settings,
        now: Instant,
    ) -> Result<usize> {
        let limit = self.sent + OUTPUT_LIMIT;
        let (used, answered) =
            settings
                .protocol
                .answer(data, searched, &mut self.output, limit, settings.max_line)?;
        // What is left holds no terminator, unless answering stopped
        // because the output buffer was full: then nobody looked at it.
        self.searched = if self.output.len() < limit {
            data.len() - used
        } else {
            0
        };
        if answered > 0 {
            self.requests += answered;
            self.last_progress = now;
        }
        Ok(used)
    }

    /// Writes pending answers until they are all sent or the kernel's send
    /// buffer is full. Returns the bytes written.
    fn flush(&mut self, now: Instant) -> Result<usize> {
        let mut wrote = 0;
        while self.sent < self.output.len() {
            match (&self.stream).write(&self.output[self.sent..]) {
                Ok(n) => {
                    narrate!("send() -> {n} bytes");
                    self.sent += n;
                    wrote += n;
                    // A short write filled the send buffer: like a short
                    // read, it saves the write that would say WouldBlock;
                    // WRITABLE is reported when the client makes room.
                    if self.sent < self.output.len() {
                        self.can_write = false;
                        break;
                    }
                }
                // The client is not reading (its window is full): keep the
                // rest and wait for WRITABLE.
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    narrate!("send() -> WouldBlock (the client is not reading)");
                    self.can_write = false;
                    break;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // EPIPE / ECONNRESET: the client left while we wrote.
                Err(e) => return Err(e).context("sending an answer"),
            }
        }
        if self.sent == self.output.len() {
            self.output.clear();
            self.sent = 0;
        }
        if wrote > 0 {
            self.last_progress = now;
        }
        Ok(wrote)
    }

    /// Returns the loop's output buffer, keeping a copy of unsent answers.
    fn give_back(&mut self, spare: &mut Vec<u8>) {
        // `spare` holds the connection's own (empty) buffer: swap back.
        std::mem::swap(&mut self.output, spare);
        if self.sent < spare.len() {
            self.output.extend_from_slice(&spare[self.sent..]);
        }
        self.sent = 0;
        spare.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::io::{ErrorKind, Write};
    use std::time::{Duration, Instant};

    use socket2::SockRef;

    use super::*;

    /// A connection whose client has queued far more than one turn's budget.
    #[test]
    fn one_turn_reads_at_most_its_budget_and_says_there_is_more() {
        const BUFFERS: usize = 4 << 20;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        // Big kernel buffers both ways (accepted sockets inherit the
        // listener's), so megabytes can wait before the server reads.
        SockRef::from(&listener)
            .set_recv_buffer_size(BUFFERS)
            .unwrap();
        SockRef::from(&listener)
            .set_send_buffer_size(BUFFERS)
            .unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        SockRef::from(&client)
            .set_send_buffer_size(BUFFERS)
            .unwrap();
        SockRef::from(&client)
            .set_recv_buffer_size(BUFFERS)
            .unwrap();
        let (server, peer) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        client.set_nonblocking(true).unwrap();
        let question = b"Beautiful is better than?".repeat(4096);
        let mut sent = 0;
        let started = Instant::now();
        while sent < 3 << 20 && started.elapsed() < Duration::from_secs(10) {
            match client.write(&question) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        // Twice what one turn may read (16 reads of 64 KiB: 1 MiB).
        assert!(sent >= 2 << 20, "only {sent} bytes fit in the buffers");
        let mut conn = Connection::new(TcpStream::from_std(server), peer, 1, Instant::now());
        let settings = Settings {
            protocol: Protocol::Zen,
            max_line: 1024,
            idle: Duration::from_secs(30),
        };
        let ready = Ready {
            readable: true,
            ..Ready::default()
        };
        let status = conn.drive(ready, &mut Scratch::new(), &settings, Instant::now());
        assert_eq!(status.unwrap(), Status::Open);
        let budget = ((1 << 20) / 25) as u64;
        assert!(
            conn.requests <= budget + 1,
            "one turn answered {} questions; the budget is about {budget}",
            conn.requests
        );
        assert!(conn.requests > 0);
        assert!(conn.has_more_to_read(), "no more to read after one turn?");
    }
}
