//! Graceful stop. Ctrl-C (SIGINT) and SIGTERM set a flag, but a thread
//! blocked in `accept()` or `recv_from()` never looks at a flag. So a server
//! never blocks on a socket alone: it waits in `poll()` on its socket *and*
//! on a pipe that the stop writes one byte into (the "self-pipe trick").
//! That byte is never read, so every wait, now or later, sees it at once.
//! No packet is involved: a stop wakes a server even on a host whose
//! loopback drops every packet.
//!
//! - [`Stop::incoming`]: `accept()` until a stop; the accept loop of every
//!   TCP server in the lessons.
//! - [`Stop::wait_readable`]: wait for one socket (a UDP socket, a client
//!   stream), a stop, or a timeout.
//! - [`Stop::on_stop`]: run a closure once on stop (close connections, wake
//!   an event loop).

use std::io::{self, ErrorKind, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::{log, narrate};

type Waker = Box<dyn FnOnce() + Send>;

/// The process's [`Stop::from_signals`] handle, once there is one.
static SIGNALLED: OnceLock<Stop> = OnceLock::new();

/// The stop that SIGINT and SIGTERM trigger in this process, if any.
pub(crate) fn signalled() -> Option<&'static Stop> {
    SIGNALLED.get()
}

/// A cloneable handle: every thread that must notice a stop holds one.
#[derive(Clone)]
pub struct Stop {
    inner: Arc<Inner>,
}

struct Inner {
    /// Fast path for [`Stop::is_stopped`]; `state` is the truth.
    flag: AtomicBool,
    state: Mutex<State>,
    changed: Condvar,
    /// The self-pipe: a byte goes into `wake_tx` on stop; `wake_rx` stays
    /// readable from then on.
    wake_tx: UnixStream,
    wake_rx: UnixStream,
}

#[derive(Default)]
struct State {
    stopped: bool,
    wakers: Vec<Waker>,
}

/// What [`Stop::wait_readable`] saw first.
#[derive(Debug, PartialEq, Eq)]
pub enum Wait {
    /// The socket has data, a connection, EOF or an error: read it now.
    Ready,
    /// A stop was asked for.
    Stopped,
    /// The timeout passed with nothing to read.
    TimedOut,
}

impl Stop {
    /// A handle stopped only by [`Stop::trigger`] (tests use this).
    pub fn new() -> Result<Self> {
        let (wake_tx, wake_rx) = UnixStream::pair().context("creating the stop pipe")?;
        wake_tx
            .set_nonblocking(true)
            .context("making the stop pipe nonblocking")?;
        let state = Mutex::new(State::default());
        let flag = AtomicBool::new(false);
        Ok(Stop {
            inner: Arc::new(Inner {
                flag,
                state,
                changed: Condvar::new(),
                wake_tx,
                wake_rx,
            }),
        })
    }

    /// A handle that SIGINT and SIGTERM trigger. A second signal exits at
    /// once (code 130), as shells expect. Call once per process.
    pub fn from_signals() -> Result<Self> {
        let stop = Self::new()?;
        let handle = stop.clone();
        // ctrlc runs this on its own thread, not inside the signal handler.
        // It logs nothing: a line from this thread would land at a random
        // place among the server's own lines (and a stderr pipe nobody reads
        // must never hold up a stop). The server says it stopped, in order.
        ctrlc::set_handler(move || {
            if handle.is_stopped() {
                std::process::exit(130);
            }
            handle.trigger();
        })
        .context("installing the SIGINT/SIGTERM handler")?;
        // So that `out!` can give up on a full stdout when the stop comes.
        let _ = SIGNALLED.set(stop.clone());
        Ok(stop)
    }

    /// The stop pipe's reading end: readable from the stop on.
    pub(crate) fn wake_fd(&self) -> RawFd {
        self.inner.wake_rx.as_raw_fd()
    }

    /// Whether a stop was asked for; cheap enough to call on every pass.
    pub fn is_stopped(&self) -> bool {
        self.inner.flag.load(Ordering::SeqCst)
    }

    /// Asks every holder to stop. The first call wakes every waiter and runs
    /// the wakers; later calls do nothing.
    pub fn trigger(&self) {
        let wakers = {
            let mut state = lock(&self.inner.state);
            if state.stopped {
                return;
            }
            state.stopped = true;
            std::mem::take(&mut state.wakers)
        };
        self.inner.flag.store(true, Ordering::SeqCst);
        // Nonblocking, and one byte is enough: the pipe is readable from now on.
        let _ = (&self.inner.wake_tx).write(&[1]);
        self.inner.changed.notify_all();
        for wake in wakers {
            wake();
        }
    }

    /// Runs `wake` once on stop, or at once if the stop already happened.
    /// Registration and the stop are ordered by one lock: none is missed.
    pub fn on_stop(&self, wake: impl FnOnce() + Send + 'static) {
        let mut state = lock(&self.inner.state);
        if state.stopped {
            drop(state);
            wake();
        } else {
            state.wakers.push(Box::new(wake));
        }
    }

    /// Sleeps for `duration` unless a stop comes first; returns whether it did.
    pub fn wait_timeout(&self, duration: Duration) -> bool {
        let state = lock(&self.inner.state);
        let (state, _) = self
            .inner
            .changed
            .wait_timeout_while(state, duration, |state| !state.stopped)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.stopped
    }

    /// `poll()` on `socket` and the stop pipe: returns when the socket is
    /// readable, a stop is asked for, or `timeout` (`None`: no limit) passes.
    pub fn wait_readable(&self, socket: &impl AsFd, timeout: Option<Duration>) -> io::Result<Wait> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let mut fds = [self.inner.wake_rx.as_raw_fd(), socket.as_fd().as_raw_fd()].map(|fd| {
                libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                }
            });
            // Round up, so a wait of 0.3 ms is not a busy loop of 0 ms polls.
            let ms = deadline.map_or(-1, |d| {
                let left = d.saturating_duration_since(Instant::now());
                left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32
            });
            // SAFETY: `fds` is a valid array of two pollfd for the whole call.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
            if n < 0 {
                match io::Error::last_os_error() {
                    // A signal arrived mid-wait: wait again for what is left.
                    e if e.kind() == ErrorKind::Interrupted => continue,
                    e => return Err(e),
                }
            }
            // Stop wins a tie: a stopping server takes no new work.
            if fds[0].revents != 0 {
                return Ok(Wait::Stopped);
            }
            // POLLIN, or POLLERR/POLLHUP: the next read reports what happened.
            if fds[1].revents != 0 {
                return Ok(Wait::Ready);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Wait::TimedOut);
            }
        }
    }

    /// The connections arriving on `listener`, until a stop:
    /// `for conn in stop.incoming(&listener) { let (stream, peer) = conn?; }`.
    pub fn incoming<'a>(&'a self, listener: &'a TcpListener) -> Incoming<'a> {
        Incoming {
            stop: self,
            listener,
            ready: false,
            done: false,
        }
    }
}

/// The iterator behind [`Stop::incoming`]. It ends (`None`) on stop, and
/// yields `Err` once, then ends, on an error that no retry would mend.
pub struct Incoming<'a> {
    stop: &'a Stop,
    listener: &'a TcpListener,
    ready: bool,
    done: bool,
}

impl Iterator for Incoming<'_> {
    type Item = Result<(TcpStream, SocketAddr)>;

    fn next(&mut self) -> Option<Self::Item> {
        let result = self.accept_next();
        self.done = !matches!(result, Some(Ok(_)));
        result
    }
}

impl Incoming<'_> {
    fn accept_next(&mut self) -> Option<Result<(TcpStream, SocketAddr)>> {
        if self.done {
            return None;
        }
        let failed = |e: io::Error| {
            let on = self
                .listener
                .local_addr()
                .map_or("the listener".into(), |a| a.to_string());
            Some(Err(e).with_context(|| format!("accepting connections on {on}")))
        };
        if !self.ready {
            // poll() may call a connection ready that is gone by the time we
            // accept it; a nonblocking listener then says WouldBlock, not hang.
            if let Err(e) = self.listener.set_nonblocking(true) {
                return failed(e);
            }
            self.ready = true;
        }
        loop {
            match self.stop.wait_readable(self.listener, None) {
                Ok(Wait::Ready) => {}
                Ok(_) => return None,
                Err(e) => return failed(e),
            }
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    narrate!("accept() -> {peer}");
                    // The client gets an ordinary blocking socket.
                    if let Err(e) = stream.set_nonblocking(false) {
                        log!("{peer}: dropped: cannot make its socket blocking: {e}");
                        continue;
                    }
                    return Some(Ok((stream, peer)));
                }
                // Gone between poll() and accept(), or a signal: wait again.
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
                // Out of descriptors or memory: the client stays queued, so
                // retrying at once would spin at 100% CPU. Pause, then retry.
                Err(e) if is_exhaustion(&e) => {
                    log!("accept: {e}; pausing new connections for 100 ms");
                    if self.stop.wait_timeout(Duration::from_millis(100)) {
                        return None;
                    }
                }
                // The client gave up between its SYN and our accept
                // (ECONNABORTED), or Linux passes on a network error that
                // concerns that one connection (accept(2), "Error handling").
                Err(e) if is_one_client(&e) => log!("accept: {e} (one client lost; serving on)"),
                // Anything else (EBADF, EINVAL: no longer listening) would fail
                // forever: end the server with the reason.
                Err(e) => return failed(e),
            }
        }
    }
}

/// Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM): the
/// client stays queued in the backlog, so accepting again at once would
/// fail again, forever. Back off, then try again.
pub fn is_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// An `accept()` error about one client only: it gave up between its SYN
/// and our accept (ECONNABORTED), or Linux passes on a network error of
/// that one connection (accept(2), "Error handling"). Serve on.
pub fn is_one_client(e: &io::Error) -> bool {
    use libc::*;
    matches!(
        e.raw_os_error(),
        Some(
            ECONNABORTED
                | EPROTO
                | ENOPROTOOPT
                | EHOSTDOWN
                | ENONET
                | EHOSTUNREACH
                | EOPNOTSUPP
                | ENETDOWN
                | ENETUNREACH
                | EPERM
        )
    )
}

/// A poisoned mutex only means another thread panicked mid-update of a bool
/// or a list of closures: the data is still usable, so keep going.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
