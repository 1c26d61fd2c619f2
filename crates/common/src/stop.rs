//! Graceful stop. Ctrl-C (SIGINT) and SIGTERM set a flag; but a thread
//! blocked in `accept()` or `recv_from()` never looks at a flag, so stopping
//! also runs "wakers" that poke those threads (a self-connect for `accept`).
//! Loops that block in `read()` set a read timeout and poll [`Stop::is_stopped`].

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::endpoint::dialable;
use crate::narrate;

type Waker = Box<dyn Fn() + Send>;

/// A cloneable handle: every thread that must notice a stop holds one.
/// `Stop::default()` is stopped only by [`Stop::trigger`] (tests use that).
#[derive(Clone, Default)]
pub struct Stop {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    stopped: Mutex<bool>,
    changed: Condvar,
    wakers: Mutex<Vec<Waker>>,
}

impl Stop {
    /// A handle that SIGINT and SIGTERM trigger. A second signal while the
    /// first is still being handled exits at once (code 130), as shells expect.
    /// Call once per process: there is only one signal handler.
    pub fn from_signals() -> Result<Self> {
        let stop = Self::default();
        let handle = stop.clone();
        ctrlc::set_handler(move || {
            if handle.is_stopped() {
                eprintln!("second signal: exiting now");
                std::process::exit(130);
            }
            eprintln!("signal received: stopping");
            handle.trigger();
        })
        .context("installing the SIGINT/SIGTERM handler")?;
        Ok(stop)
    }

    /// Whether a stop was asked for; cheap enough to call after every read.
    pub fn is_stopped(&self) -> bool {
        *lock(&self.inner.stopped)
    }

    /// Asks every holder to stop, then runs the wakers. Idempotent.
    pub fn trigger(&self) {
        *lock(&self.inner.stopped) = true;
        self.inner.changed.notify_all();
        for wake in lock(&self.inner.wakers).iter() {
            wake();
        }
    }

    /// Registers `wake`, run once on stop (at once if already stopped).
    pub fn on_stop(&self, wake: impl Fn() + Send + 'static) {
        if self.is_stopped() {
            wake();
        }
        lock(&self.inner.wakers).push(Box::new(wake));
    }

    /// Wakes a thread blocked in `accept()` on the listener at `local` by
    /// connecting to it: the accept returns, the loop sees the flag and ends.
    /// (Shutting the listener down would be Linux-only; this works anywhere.)
    pub fn wake_accept_on_stop(&self, local: SocketAddr) {
        self.on_stop(move || {
            let target = dialable(local);
            narrate!("connect({target}) to wake accept()");
            if let Err(e) = TcpStream::connect_timeout(&target, Duration::from_secs(1)) {
                eprintln!("could not wake the accept loop at {target}: {e}");
            }
        });
    }

    /// The next client from `listener`, or `None` once a stop is asked for
    /// (see [`Stop::wake_accept_on_stop`]). An error that concerns one client
    /// is logged and skipped; running out of descriptors backs off.
    pub fn accept(&self, listener: &TcpListener) -> Option<(TcpStream, SocketAddr)> {
        while !self.is_stopped() {
            match listener.accept() {
                // The connection that woke us may be our own stop poke.
                Ok(_) if self.is_stopped() => return None,
                Ok((stream, peer)) => {
                    narrate!("accept() -> {peer}");
                    return Some((stream, peer));
                }
                // A signal interrupted accept(): call it again.
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // The client gave up between its SYN and our accept (ECONNABORTED).
                Err(e) if e.kind() == ErrorKind::ConnectionAborted => eprintln!("accept: {e}"),
                // EMFILE/ENFILE (out of descriptors) and the like: the client
                // stays queued, so retrying at once would spin at 100% CPU.
                Err(e) => {
                    eprintln!("accept failed: {e}; retrying in 100 ms");
                    self.wait_timeout(Duration::from_millis(100));
                }
            }
        }
        None
    }

    /// Sleeps for `duration` unless a stop comes first; returns whether it did.
    pub fn wait_timeout(&self, duration: Duration) -> bool {
        let guard = lock(&self.inner.stopped);
        let (guard, _) = self
            .inner
            .changed
            .wait_timeout_while(guard, duration, |stopped| !*stopped)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *guard
    }
}

/// A poisoned mutex only means another thread panicked mid-update of a bool
/// or a list of closures: the data is still usable, so keep going.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
