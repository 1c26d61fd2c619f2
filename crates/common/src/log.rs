//! Where a lesson writes: diagnostics to stderr with [`log!`](crate::log!),
//! its output to stdout with [`out!`](crate::out!).
//!
//! `println!` and `eprintln!` panic when their pipe is closed (`server 2>&1 |
//! head -1`): a server would die at its next log line, a worker thread with
//! it, a signal handler before it could stop anything. So the two sides get
//! different rules. A log line that cannot be written is dropped (and
//! counted): losing a diagnostic must never cost a connection. A line of
//! output that cannot be written is an error the caller must handle: when
//! nobody reads what a lesson shows, carrying on would be lying to its peers.
//!
//! A log line also never waits long. A stderr that nobody reads (a pipe to
//! a paused `less`, a supervisor that never drains it, a terminal stopped
//! with Ctrl-S) fills up, and a plain `write` to it then blocks for ever: the
//! server would stall at its next log line, and the Ctrl-C handler at its
//! own, so the stop would never come. So a line waits at most [`PATIENCE`]
//! for room; then it is dropped, and later lines do not wait at all until
//! one gets through again.
//!
//! A line of output waits for room as long as it takes (a slow reader is
//! backpressure, and what a lesson shows must not be lost), but not long
//! past a stop: a server whose stdout stays full for [`PATIENCE`] after
//! Ctrl-C or SIGTERM (the reader paused or stuck) gets an error instead of
//! sitting in `write`.

use std::fmt::Arguments;
use std::fs::{File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

/// How long one log line may wait for room on stderr. A reader that is
/// merely slow makes room well within it; a stop must still come within 2 s.
pub const PATIENCE: Duration = Duration::from_millis(500);

static DROPPED: AtomicU64 = AtomicU64::new(0);
/// The last line found stderr full: the next one does not wait.
static STUCK: AtomicBool = AtomicBool::new(false);

/// `log!("{peer}: connected")`: one line on stderr; never fails, never panics,
/// never waits more than [`PATIENCE`](crate::log::PATIENCE).
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => {
        $crate::log::stderr_line(format_args!($($arg)*))
    };
}

/// `out!("{echo}")?`: one line on stdout; `Err` ("writing to stdout: Broken
/// pipe") when nobody reads it any more.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::log::stdout_line(format_args!($($arg)*))
    };
}

/// The function behind [`log!`](crate::log!). The line is formatted first and
/// written under stderr's lock, so lines from threads never interleave.
pub fn stderr_line(args: Arguments) {
    let line = format!("{args}\n");
    let _serialised = io::stderr().lock();
    let patience = if STUCK.load(Ordering::Relaxed) {
        Duration::ZERO
    } else {
        PATIENCE
    };
    let written = Sink::stderr().write_within(line.as_bytes(), patience);
    STUCK.store(!written, Ordering::Relaxed);
    if !written {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// The function behind [`out!`](crate::out!).
pub fn stdout_line(args: Arguments) -> Result<()> {
    let line = format!("{args}\n");
    let mut stdout = io::stdout().lock();
    // Whatever the lesson printed through io::stdout goes out first.
    stdout.flush().context("writing to stdout")?;
    Sink::stdout()
        .write_unless_stopped(line.as_bytes())
        .context("writing to stdout")
}

/// How many log lines could not be written (stderr closed, failing or full).
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// stderr or stdout, written without ever blocking beyond a bound.
pub struct Sink {
    /// A nonblocking description of the pipe or terminal, our own; `None`:
    /// write to `fd` itself (a file, or no /proc to reopen it through).
    own: Option<File>,
    fd: RawFd,
}

impl Sink {
    /// The process's sink for stderr, opened on first use.
    fn stderr() -> &'static Sink {
        static SINK: OnceLock<Sink> = OnceLock::new();
        SINK.get_or_init(|| Sink::for_fd(io::stderr().as_fd()))
    }

    /// The process's sink for stdout, opened on first use.
    fn stdout() -> &'static Sink {
        static SINK: OnceLock<Sink> = OnceLock::new();
        SINK.get_or_init(|| Sink::for_fd(io::stdout().as_fd()))
    }

    /// Writes all of `bytes`, waiting for room as long as it takes, unless a
    /// stop (of [`Stop::from_signals`](crate::stop::Stop::from_signals))
    /// comes while it is full.
    pub fn write_unless_stopped(&self, bytes: &[u8]) -> io::Result<()> {
        let fd = self.own.as_ref().map_or(self.fd, |own| own.as_raw_fd());
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.own.is_none() {
                room_unless_stopped(fd)?;
            }
            // SAFETY: write(2) from a live buffer, at most its length.
            let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
            if n >= 0 {
                rest = &rest[n as usize..];
                continue;
            }
            let error = io::Error::last_os_error();
            match error.kind() {
                ErrorKind::Interrupted => {}
                ErrorKind::WouldBlock => room_unless_stopped(fd)?,
                _ => return Err(error), // EPIPE: nobody reads it any more
            }
        }
        Ok(())
    }

    /// A sink for `fd`. Setting O_NONBLOCK on `fd` itself would change it for
    /// everyone who shares it (the shell's terminal, the other end of `2>&1`),
    /// so a pipe or terminal is opened again through /proc, which gives a
    /// description of our own with its own flags. A regular file never
    /// blocks for long, so it is written as it is.
    /// `fd` must stay open as long as the sink is used (stderr does).
    pub fn for_fd(fd: BorrowedFd) -> Sink {
        let kind = fd
            .try_clone_to_owned()
            .and_then(|dup| File::from(dup).metadata())
            .map(|meta| meta.file_type());
        let reopen = kind.is_ok_and(|t| t.is_fifo() || t.is_char_device());
        let own = reopen
            .then(|| {
                OpenOptions::new()
                    .write(true)
                    .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
                    .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
                    .ok()
            })
            .flatten();
        Sink {
            own,
            fd: fd.as_raw_fd(),
        }
    }

    /// Writes all of `bytes`, waiting at most `patience` for room; `false`
    /// if it could not (full for that long, closed, or failing).
    pub fn write_within(&self, bytes: &[u8], patience: Duration) -> bool {
        let deadline = Instant::now() + patience;
        let fd = self.own.as_ref().map_or(self.fd, |own| own.as_raw_fd());
        let mut rest = bytes;
        while !rest.is_empty() {
            // Without a nonblocking description of our own, wait for room
            // first: a short line then goes out without blocking.
            if self.own.is_none() && !writable_by(fd, deadline) {
                return false;
            }
            // SAFETY: write(2) from a live buffer, at most its length.
            let n = unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) };
            if n >= 0 {
                rest = &rest[n as usize..];
                continue;
            }
            match io::Error::last_os_error().kind() {
                ErrorKind::Interrupted => {}
                // Full: wait for the reader to make room, up to the deadline.
                ErrorKind::WouldBlock if writable_by(fd, deadline) => {}
                // Full for too long, or closed (EPIPE), or failing: drop it.
                _ => return false,
            }
        }
        true
    }
}

/// `poll()` for room to write on `fd`, for as long as it takes until the
/// process's stop; from then on for [`PATIENCE`] more at most. A reader
/// that is merely slow (the stop found its pipe full for a moment) makes
/// room within it, so a stopped server still prints its last lines; one
/// that is paused or gone does not, and the stop is not held up.
fn room_unless_stopped(fd: RawFd) -> io::Result<()> {
    static STOP_SEEN: OnceLock<Instant> = OnceLock::new();
    let stop = crate::stop::signalled().map_or(-1, |stop| stop.wake_fd());
    loop {
        let deadline = STOP_SEEN.get().map(|seen| *seen + PATIENCE);
        // poll() ignores an entry whose fd is negative: once the stop is
        // seen (or if there is none), only the room is waited for.
        let stop = if deadline.is_some() { -1 } else { stop };
        let mut fds =
            [(fd, libc::POLLOUT), (stop, libc::POLLIN)].map(|(fd, events)| libc::pollfd {
                fd,
                events,
                revents: 0,
            });
        let ms = deadline.map_or(-1, |deadline| {
            let left = deadline.saturating_duration_since(Instant::now());
            left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
        });
        // SAFETY: two valid pollfd for the whole call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
        if ready < 0 {
            match io::Error::last_os_error() {
                e if e.kind() == ErrorKind::Interrupted => continue,
                e => return Err(e),
            }
        }
        // Room, or an error (POLLERR, POLLHUP) that the write will report.
        if fds[0].revents != 0 {
            return Ok(());
        }
        if fds[1].revents != 0 {
            STOP_SEEN.get_or_init(Instant::now);
            continue;
        }
        if ready == 0 {
            return Err(io::Error::other(
                "still full after a stop was asked for: nobody reads it",
            ));
        }
    }
}

/// `poll()` for room to write on `fd`, until `deadline`.
fn writable_by(fd: RawFd, deadline: Instant) -> bool {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ms = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        let mut pollfd = libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid pollfd for the whole call.
        match unsafe { libc::poll(&mut pollfd, 1, ms) } {
            1.. => return pollfd.revents & libc::POLLOUT != 0,
            0 => return false,
            _ if io::Error::last_os_error().kind() == ErrorKind::Interrupted => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn a_full_pipe_costs_a_bounded_wait_and_the_original_stays_blocking() {
        let (mut reader, writer) = io::pipe().unwrap();
        let sink = Sink::for_fd(writer.as_fd());
        assert!(sink.own.is_some(), "a pipe gets a description of its own");
        let line = [b'x'; 1000];
        // Fill the pipe (64 KiB by default).
        let mut written = 0;
        while sink.write_within(&line, Duration::ZERO) {
            written += line.len();
            assert!(written < 16 << 20, "the pipe never filled");
        }
        let started = Instant::now();
        assert!(!sink.write_within(&line, Duration::from_millis(100)));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(90), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        // The shared description (the terminal, in real life) is untouched.
        // SAFETY: F_GETFL on a descriptor we own.
        let flags = unsafe { libc::fcntl(writer.as_raw_fd(), libc::F_GETFL) };
        assert_eq!(flags & libc::O_NONBLOCK, 0);
        // Once there is room again, lines get through.
        let mut buf = vec![0u8; written + line.len()];
        let n = reader.read(&mut buf).unwrap();
        assert!(n > 0);
        assert!(sink.write_within(b"again\n", Duration::ZERO));
    }

    #[test]
    fn a_closed_pipe_drops_the_line_at_once() {
        let (reader, writer) = io::pipe().unwrap();
        drop(reader);
        let sink = Sink::for_fd(writer.as_fd());
        let started = Instant::now();
        assert!(!sink.write_within(b"lost\n", PATIENCE));
        assert!(started.elapsed() < PATIENCE);
    }
}
