//! Timeouts below the protocol. The server reads requests with plain
//! `read` calls (through [`crate::wire::Wire`]); underneath, [`Patient`]
//! cuts every wait into 100 ms slices (a socket timeout, so no extra
//! syscall per read) and between slices looks at the clocks and the stop:
//!
//! - a **deadline** for the whole request head (then its body): a client
//!   sending a byte a second never waits long enough for an idle timeout
//!   to fire, but it cannot beat a deadline (slowloris);
//! - **between requests** (keep-alive, no byte of the next one yet), a
//!   stop ends the connection at once; and while other connections wait
//!   for a worker, a client stalled before its head is complete (idle
//!   kept-alive, new and silent, or half a head) gets a [`TURN`], not a
//!   whole `--idle-timeout`: a worker someone else needs is not held by a
//!   client that sends nothing;
//! - **in the middle of a request**, a stop leaves it [`GRACE`] to finish;
//! - a **write** that makes no progress for `idle` gives up (a client that
//!   never reads its response);
//! - a **busy** kept-alive connection is told to close with its next
//!   response once it has had its turn while another waits for a worker
//!   ([`Patient::turn_over`]).
//!
//! Each real `recv`/`send` syscall is narrated by `--trace`.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::narrate;
use common::stop::Stop;

/// How long a blocked read or write waits before it looks around.
const SLICE: Duration = Duration::from_millis(100);
/// What a request in progress gets to finish after a stop (the contract:
/// every server ends within 2 s).
pub const GRACE: Duration = Duration::from_millis(1500);
/// How long a connection keeps its worker, at least, before it gives the
/// worker up to a connection waiting for one (see [`Patient::turn_over`]).
pub const TURN: Duration = Duration::from_millis(100);

pub struct Patient {
    stream: TcpStream,
    stop: Stop,
    /// Connections accepted and waiting for a worker.
    queued: Arc<AtomicUsize>,
    /// No write may wait longer than this without progress.
    idle: Duration,
    /// Reads end at this instant, with `why` as the reason.
    deadline: Instant,
    why: &'static str,
    /// True until the first byte of the next request arrives.
    between: bool,
    /// True while a request head is being read (its first byte or more).
    head: bool,
    /// When the last byte arrived (or the worker took the connection).
    last_byte: Instant,
    /// Set once a stop is seen mid-request: the end of its grace.
    stopping_at: Option<Instant>,
    /// When this connection got its worker.
    since: Instant,
}

/// The error a read returns when the connection should end quietly: a
/// stop, or a waiting queue, with no request in progress.
pub fn is_quiet_end(e: &io::Error) -> bool {
    e.kind() == ErrorKind::Other && e.to_string().starts_with("quiet: ")
}

impl Patient {
    pub fn new(
        stream: TcpStream,
        stop: &Stop,
        queued: Arc<AtomicUsize>,
        idle: Duration,
    ) -> io::Result<Self> {
        stream.set_read_timeout(Some(SLICE))?;
        stream.set_write_timeout(Some(SLICE))?;
        Ok(Patient {
            stream,
            stop: stop.clone(),
            queued,
            idle,
            deadline: Instant::now() + idle,
            why: "",
            between: true,
            head: true,
            last_byte: Instant::now(),
            stopping_at: None,
            since: Instant::now(),
        })
    }

    /// Waiting for the next request: its head must be complete by
    /// `deadline`; until its first byte the wait gives way to a stop, and
    /// while another connection waits for a worker, the wait for a client
    /// that has stalled lasts only a [`TURN`] (see `read`).
    pub fn expect_request(&mut self, deadline: Instant) {
        self.between = true;
        self.head = true;
        self.deadline = deadline;
        self.why = "the request head did not arrive in time (--idle-timeout)";
    }

    /// Reading a body, or draining before a close: reads end at `deadline`.
    pub fn read_until(&mut self, deadline: Instant, why: &'static str) {
        self.between = false;
        self.head = false;
        self.deadline = deadline;
        self.why = why;
    }

    /// Whether this connection has had its turn ([`TURN`]) while another
    /// waits for a worker. A busy kept-alive client is never idle long
    /// enough to give way between requests, so without this it would keep
    /// its worker for as long as it likes, and with `--workers` such
    /// clients every newcomer would wait for ever. The server then says
    /// `Connection: close` in its next response: the client opens a new
    /// connection and queues behind the others, and no request is lost
    /// (closing between requests instead could cut one already on its way).
    pub fn turn_over(&self) -> bool {
        self.queued.load(Ordering::Relaxed) > 0 && self.since.elapsed() >= TURN
    }

    /// `shutdown(how)`; a peer that is already gone is not an error here.
    pub fn shutdown(&self, how: Shutdown) {
        if self.stream.shutdown(how).is_ok() {
            narrate!("shutdown({how:?})");
        }
    }

    /// Whether to stop waiting now, and why.
    fn check(&mut self, deadline: Instant, why: &'static str) -> io::Result<()> {
        let now = Instant::now();
        if self.stop.is_stopped() {
            if self.between {
                return Err(io::Error::other("quiet: the server is stopping"));
            }
            let end = *self.stopping_at.get_or_insert(now + GRACE);
            if now >= end {
                return Err(io::Error::other(
                    "the server stopped before the request was done",
                ));
            }
        }
        if now >= deadline {
            return Err(io::Error::new(ErrorKind::TimedOut, why));
        }
        Ok(())
    }
}

/// A slice passed with nothing to do (Unix says WouldBlock), or a signal.
fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

impl Read for Patient {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            self.check(self.deadline, self.why)?;
            match (&self.stream).read(buf) {
                Ok(0) => {
                    narrate!("recv() -> 0 bytes (EOF: the client is done sending)");
                    return Ok(0);
                }
                Ok(n) => {
                    narrate!("recv() -> {n} bytes");
                    self.between = false;
                    self.last_byte = Instant::now();
                    return Ok(n);
                }
                // A slice passed with nothing to read. While another
                // connection waits for a worker, a worker does not wait a
                // whole --idle-timeout for a client that has stalled before
                // its head is complete: a kept-alive or new connection with
                // no byte yet closes quietly, a half-sent head gets 408.
                // Without this, `--workers` silent connections (or
                // slowloris heads) lock every newcomer out for that long.
                Err(e) if is_retry(&e) => {
                    let stalled = self.last_byte.elapsed() >= TURN;
                    if self.head && stalled && self.queued.load(Ordering::Relaxed) > 0 {
                        if self.between {
                            return Err(io::Error::other(
                                "quiet: idle, and a new connection is waiting for a worker",
                            ));
                        }
                        return Err(io::Error::new(
                            ErrorKind::TimedOut,
                            "the request head stalled while another connection waited for a worker",
                        ));
                    }
                }
                // ECONNRESET and the like: the client is gone.
                Err(e) => return Err(e),
            }
        }
    }
}

impl Write for Patient {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let deadline = Instant::now() + self.idle;
        loop {
            self.check(
                deadline,
                "the client read nothing of the response (--idle-timeout)",
            )?;
            match (&self.stream).write(buf) {
                Ok(n) => {
                    narrate!("send() -> {n} bytes");
                    return Ok(n);
                }
                // The send buffer stayed full for a slice: the client reads
                // slowly or not at all. Look at the clocks, then try again.
                Err(e) if is_retry(&e) => {}
                // EPIPE / ECONNRESET: the client closed while we wrote.
                Err(e) => return Err(e),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // a socket has no user-space buffer to flush
    }
}
