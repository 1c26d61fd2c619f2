//! A client connection that cannot pin a server. [`Guarded`] is `Read` and
//! `Write` on a `TcpStream`, so a server loop written for a plain stream
//! (`read`, then `write_all`) runs on it unchanged; underneath, every wait
//! is cut into 100 ms slices, and between slices it ends on a stop, after
//! `idle` without progress, or at the connection's deadline. Every real
//! `recv`/`send` syscall is narrated by `--trace`.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::narrate;
use crate::stop::Stop;

/// How long one blocked `recv` or `send` waits before looking at the stop
/// and the clocks again: a stop is seen within this slice. (Waiting in
/// `poll()` on the stop as well would see it at once, but costs a syscall
/// per read: 10% of a 64-byte round trip on loopback.)
const SLICE: Duration = Duration::from_millis(100);

/// A timeout slice passed or a signal came: not an error, look again.
fn is_retry(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
    )
}

/// The limits a guarded connection lives under.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// No byte read (or written) for this long ends the connection.
    pub idle: Duration,
    /// The whole connection ends this long after it began, however busy.
    pub lifetime: Duration,
}

/// A `TcpStream` whose every wait is bounded; see the module docs.
pub struct Guarded {
    stream: TcpStream,
    stop: Stop,
    limits: Limits,
    deadline: Instant,
}

impl Guarded {
    /// Guards `stream` from now on.
    pub fn new(stream: TcpStream, stop: &Stop, limits: Limits) -> io::Result<Self> {
        stream.set_read_timeout(Some(SLICE))?;
        stream.set_write_timeout(Some(SLICE))?;
        // A lifetime too long for the clock is no limit at all.
        let deadline = Instant::now().checked_add(limits.lifetime);
        let deadline =
            deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400 * 365));
        Ok(Guarded {
            stream,
            stop: stop.clone(),
            limits,
            deadline,
        })
    }

    /// The stream itself, for `peer_addr`, socket options and the like.
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }

    /// `shutdown(how)`; a peer that is already gone is not an error here.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self.stream.shutdown(how) {
            Err(e) if e.kind() == ErrorKind::NotConnected => Ok(()),
            other => other.inspect(|()| narrate!("shutdown({how:?})")),
        }
    }

    /// Ends our side without losing what we sent: `shutdown(Write)` (our
    /// FIN goes after the last byte), then waits until the peer's kernel
    /// has acknowledged every byte, within the same limits as a read (the
    /// stop, idle, the connection's deadline). Returns how many bytes are
    /// still unacknowledged: 0 when the peer has them all.
    ///
    /// Why wait: closing a socket while bytes from the peer lie unread
    /// makes the kernel reset the connection at once and throw away what
    /// it has not delivered yet. A server that stops in the middle of a
    /// client's pipelined burst would count answers that the client never
    /// gets: those still queued for a client that reads slowly, or lost
    /// once on a lossy link and waiting to be sent again.
    pub fn finish(&self) -> io::Result<usize> {
        self.shutdown(Shutdown::Write)?;
        let since = Instant::now();
        // Bounded by time_left: the stop, idle, the connection's deadline.
        let mut looks = 0u64;
        loop {
            looks += 1;
            let unacked = unacknowledged(&self.stream)?;
            let gone = self.stream.take_error()?.is_some(); // a reset: nothing more will be acknowledged
            if unacked == 0 || gone || self.time_left(since).is_err() {
                let times = if looks == 1 {
                    String::new()
                } else {
                    format!(" (the last of {looks} calls)")
                };
                narrate!("ioctl(SIOCOUTQ) -> {unacked} bytes not yet acknowledged{times}");
                return Ok(unacked);
            }
            // The kernel says nothing when the count changes: look again
            // soon (each look is one cheap ioctl), or at once on a stop.
            self.stop.wait_timeout(Duration::from_millis(10));
        }
    }

    /// How long this call may still wait, or why it must not.
    fn time_left(&self, since: Instant) -> io::Result<Duration> {
        if self.stop.is_stopped() {
            return Err(io::Error::other("the server is stopping"));
        }
        let now = Instant::now();
        let lifetime = self.deadline.saturating_duration_since(now);
        if lifetime.is_zero() {
            let secs = self.limits.lifetime.as_secs_f64();
            return Err(io::Error::new(
                ErrorKind::TimedOut,
                format!("open for {secs} s (--max-connection-secs)"),
            ));
        }
        let idle = self.limits.idle.saturating_sub(now - since);
        if idle.is_zero() {
            let secs = self.limits.idle.as_secs_f64();
            return Err(io::Error::new(
                ErrorKind::TimedOut,
                format!("no progress for {secs} s (--idle-timeout)"),
            ));
        }
        Ok(idle.min(lifetime))
    }
}

/// Bytes we wrote that the peer has not acknowledged yet (Linux's
/// SIOCOUTQ: sent and unacknowledged, plus not yet sent).
#[cfg(target_os = "linux")]
fn unacknowledged(stream: &TcpStream) -> io::Result<usize> {
    use std::os::fd::AsRawFd;
    let mut bytes: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ) on a TCP socket writes one int.
    if unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut bytes) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(usize::try_from(bytes).unwrap_or(0))
}

/// Elsewhere: no such count; do not wait.
#[cfg(not(target_os = "linux"))]
fn unacknowledged(_stream: &TcpStream) -> io::Result<usize> {
    Ok(0)
}

impl Read for Guarded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let since = Instant::now();
        loop {
            self.time_left(since)?;
            match (&self.stream).read(buf) {
                Ok(0) => {
                    narrate!("recv() -> 0 bytes (EOF: the peer is done sending)");
                    return Ok(0);
                }
                Ok(n) => {
                    narrate!("recv() -> {n} bytes");
                    return Ok(n);
                }
                // Nothing arrived for SLICE (Unix says WouldBlock, Windows
                // TimedOut), or a signal: look at the stop and the clocks.
                Err(e) if is_retry(&e) => {}
                // ECONNRESET and friends: the peer is gone.
                Err(e) => return Err(e),
            }
        }
    }
}

impl Write for Guarded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let since = Instant::now();
        loop {
            self.time_left(since)?;
            match (&self.stream).write(buf) {
                Ok(n) => {
                    narrate!("send() -> {n} bytes");
                    return Ok(n);
                }
                // The send buffer stayed full for SLICE (the peer reads
                // slowly or not at all; Unix says WouldBlock), or a signal:
                // look at the stop and the clocks, then try again.
                Err(e) if is_retry(&e) => {}
                // EPIPE / ECONNRESET: the peer closed while we wrote.
                Err(e) => return Err(e),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // a socket has no user-space buffer to flush
    }
}
