//! Timeouts below the codecs. The codecs call plain `read`/`write`; the
//! server wraps its socket in [`Patient`], which sets a short socket
//! timeout and, each time it fires, checks two things before trying
//! again: has Ctrl-C been pressed, and has the peer been silent (or not
//! reading) for too long? So the codecs stay simple, a frame may arrive
//! in pieces over several seconds, and no peer can pin the server forever.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::stop::Stop;

/// How often a blocked read or write wakes up to look around.
const POLL: Duration = Duration::from_millis(100);

pub struct Patient<'a> {
    stream: &'a TcpStream,
    stop: &'a Stop,
    idle: Duration,
    /// When the whole connection must end, however busy: a peer trickling
    /// a byte a second always makes "progress", so `idle` alone never
    /// frees a one-client-at-a-time server from it.
    deadline: Instant,
}

impl<'a> Patient<'a> {
    pub fn new(
        stream: &'a TcpStream,
        stop: &'a Stop,
        idle: Duration,
        deadline: Instant,
    ) -> io::Result<Self> {
        stream.set_read_timeout(Some(POLL))?;
        stream.set_write_timeout(Some(POLL))?;
        Ok(Patient {
            stream,
            stop,
            idle,
            deadline,
        })
    }

    /// Runs `op` until it succeeds or fails for real, retrying when the
    /// socket timeout fires (WouldBlock on Unix, TimedOut on Windows).
    fn retry<T>(
        &mut self,
        doing: &str,
        mut op: impl FnMut(&TcpStream) -> io::Result<T>,
    ) -> io::Result<T> {
        let started = Instant::now();
        loop {
            if Instant::now() >= self.deadline {
                return Err(io::Error::new(
                    ErrorKind::TimedOut,
                    "connection open too long (--max-connection-secs); others are waiting",
                ));
            }
            match op(self.stream) {
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    if self.stop.is_stopped() {
                        // Not Interrupted: read_exact would quietly retry that.
                        return Err(io::Error::other("server stopping"));
                    }
                    if started.elapsed() >= self.idle {
                        let secs = self.idle.as_secs_f64();
                        return Err(io::Error::new(
                            ErrorKind::TimedOut,
                            format!("no progress {doing} for {secs} s (--idle-timeout)"),
                        ));
                    }
                }
                // EINTR: a signal arrived; the call did nothing, try again.
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                other => return other,
            }
        }
    }
}

impl Read for Patient<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.retry("reading", |mut stream| stream.read(buf))
    }
}

impl Write for Patient<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.retry("writing", |mut stream| stream.write(buf))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // a TcpStream has no user-space buffer to flush
    }
}
