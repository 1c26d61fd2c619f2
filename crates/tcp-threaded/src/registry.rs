//! Every open connection, queued or being served, so that the server can
//! (1) refuse connections past `--max-connections`, and (2) stop: a worker
//! blocked in `read()` on an idle client never looks at a stop flag, so on
//! shutdown the server reaches into each socket and shuts it down, which
//! wakes the blocked `read()` at once.
//!
//! Connections are shared as `Arc<TcpStream>`: the serving thread reads and
//! writes through `&TcpStream`, the registry keeps a second handle to call
//! `shutdown` on. No file descriptor is duplicated, so a thousand clients
//! still cost a thousand descriptors.

use std::collections::HashMap;
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

#[derive(Default)]
pub struct Registry {
    open: Mutex<Open>,
    emptied: Condvar,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    streams: HashMap<u64, Arc<TcpStream>>,
}

/// Proof that a connection is registered; dropping it unregisters.
pub struct Slot {
    registry: Arc<Registry>,
    id: u64,
}

impl Registry {
    /// Registers `stream` unless `limit` connections are open already.
    pub fn admit(
        self: &Arc<Self>,
        stream: TcpStream,
        limit: usize,
    ) -> Option<(Arc<TcpStream>, Slot)> {
        let mut open = self.lock();
        if open.streams.len() >= limit {
            return None;
        }
        let id = open.next_id;
        open.next_id += 1;
        let stream = Arc::new(stream);
        open.streams.insert(id, Arc::clone(&stream));
        Some((
            stream,
            Slot {
                registry: Arc::clone(self),
                id,
            },
        ))
    }

    /// Connections open now, queued ones included.
    pub fn len(&self) -> usize {
        self.lock().streams.len()
    }

    /// Shuts down `how` on every open connection. `Shutdown::Read` makes
    /// each blocked or future `read()` return 0 (EOF) while replies can
    /// still be written: in-flight requests finish, idle clients are let
    /// go. `Shutdown::Both` also fails any write stuck on a client that
    /// does not read.
    pub fn shutdown_all(&self, how: Shutdown) {
        for stream in self.lock().streams.values() {
            // NotConnected: the peer already left; nothing to wake.
            let _ = stream.shutdown(how);
        }
    }

    /// Waits until no connection is open, or `timeout`; true if emptied.
    pub fn wait_empty(&self, timeout: Duration) -> bool {
        let open = self.lock();
        let (open, _) = self
            .emptied
            .wait_timeout_while(open, timeout, |open| !open.streams.is_empty())
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        open.streams.is_empty()
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // A panic while holding this lock leaves a consistent map behind.
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.registry.lock();
        open.streams.remove(&self.id);
        if open.streams.is_empty() {
            self.registry.emptied.notify_all();
        }
    }
}
