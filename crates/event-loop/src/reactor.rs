//! The event loop: one thread, one poller (epoll), every socket nonblocking.
//!
//! ```text
//!   loop {
//!       epoll_wait(until the next deadline)   the only place this thread sleeps
//!       for each ready token:
//!           LISTENER  accept() until WouldBlock, register each new client
//!           WAKER     Ctrl-C / SIGTERM: stop accepting, finish, leave
//!           client    connection.drive(), then reregister only if its
//!                     interest changed
//!       drive again the clients whose turn ended with more to read
//!       close connections whose idle deadline passed
//!   }
//! ```
//!
//! A blocking server keeps each client's state on a thread's stack and lets
//! the kernel switch threads when one would wait. Here the kernel only says
//! *which sockets are ready* and this thread does the switching: a token
//! (an index into `conns`) names each connection in the poller, and the
//! state lives in its [`Connection`]. That is all an async runtime is: tokio
//! runs this loop for you, and an `async fn` is a state machine like
//! `Connection`, written by the compiler.

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::stop::Stop;
use common::{log, narrate};
use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use crate::connection::{Connection, Ready, Scratch, Settings, Status};
use crate::deadlines::Deadlines;
use common::stop::{is_exhaustion, is_one_client};

/// The listener's token; clients get 0, 1, 2, ... (their index in `conns`).
const LISTENER: Token = Token(usize::MAX - 1);
/// The token of the Waker that a stop signal pokes.
const WAKER: Token = Token(usize::MAX);
/// Events taken from the kernel per `epoll_wait`.
const EVENTS: usize = 1024;
/// How long accepting pauses when descriptors run out.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// How long answers already read get to be sent after a stop (the contract
/// allows 2 s in all).
const GRACE: Duration = Duration::from_millis(1500);

/// What every loop of the server shares: the flags, and counters.
#[derive(Clone, Copy)]
pub struct Config {
    pub settings: Settings,
    pub max_connections: usize,
}

/// Counters shared by all the loops (`--loops N`); touched once per
/// connection, never per request.
#[derive(Default)]
pub struct Totals {
    /// Connections open now, in every loop: `--max-connections` counts these.
    pub open: AtomicUsize,
    pub connections: AtomicU64,
    pub requests: AtomicU64,
    pub refused: AtomicU64,
}

pub struct Reactor {
    poll: Poll,
    /// None once stopping.
    listener: Option<TcpListener>,
    local: SocketAddr,
    /// Set while accepting pauses (out of descriptors): the listener is
    /// deregistered until then, so its readiness cannot spin the loop.
    accept_paused_until: Option<Instant>,
    conns: Slab<Connection>,
    deadlines: Deadlines,
    scratch: Scratch,
    config: Config,
    totals: Arc<Totals>,
    serial: u64,
    /// Set once a stop arrives: leave by then, whatever is still open.
    leave_by: Option<Instant>,
    /// Connections whose turn ended with bytes still to read (they used
    /// their read budget), to drive again in the next round.
    queued: Vec<(usize, u64)>,
    _waker: Arc<Waker>,
}

impl Reactor {
    /// A poller with `listener` and a waker registered; a stop wakes it.
    pub fn new(
        mut listener: TcpListener,
        config: Config,
        totals: Arc<Totals>,
        stop: &Stop,
    ) -> Result<Reactor> {
        let local = listener
            .local_addr()
            .context("reading the listener's address")?;
        let poll = Poll::new().context("creating the poller (epoll_create1)")?;
        narrate!("epoll_create1() -> a poller");
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .context("registering the listener with the poller")?;
        narrate!("epoll_ctl(ADD, listener {local}, READABLE)");
        // Ctrl-C arrives on another thread (the signal handler's); the loop
        // sleeps in epoll_wait. A Waker is an eventfd in the same poller:
        // writing to it makes epoll_wait return with the WAKER token.
        // The loop keeps one handle: closing the eventfd would take it out
        // of the poller, and the wake-up with it.
        let waker =
            Arc::new(Waker::new(poll.registry(), WAKER).context("creating the waker (eventfd)")?);
        let wake = Arc::clone(&waker);
        stop.on_stop(move || {
            let _ = wake.wake();
        });
        Ok(Reactor {
            poll,
            listener: Some(listener),
            local,
            accept_paused_until: None,
            conns: Slab::default(),
            deadlines: Deadlines::default(),
            scratch: Scratch::new(),
            config,
            totals,
            serial: 0,
            leave_by: None,
            queued: Vec::new(),
            _waker: waker,
        })
    }

    /// Runs the loop until a stop has been handled; a fatal error stops
    /// the other loops too.
    pub fn run_until_stop(self, stop: &Stop) -> Result<()> {
        let result = self.run();
        if result.is_err() {
            stop.trigger();
        }
        result
    }

    fn run(mut self) -> Result<()> {
        let mut events = Events::with_capacity(EVENTS);
        loop {
            // With connections queued for another turn, only look for events.
            let timeout = match self.queued.is_empty() {
                true => self.timeout(Instant::now()),
                false => Some(Duration::ZERO),
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                // A signal interrupted epoll_wait: wait again.
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e).context("waiting for events (epoll_wait)"),
            }
            // One clock reading per wake-up serves every event in it.
            let now = Instant::now();
            if common::trace::enabled() {
                let n = events.iter().count();
                narrate!("epoll_wait() -> {n} event{}", if n == 1 { "" } else { "s" });
            }
            let queued = std::mem::take(&mut self.queued);
            for event in events.iter() {
                match event.token() {
                    WAKER => self.begin_stop(now),
                    LISTENER => self.accept_all(now)?,
                    Token(key) => self.ready(key, event, now),
                }
            }
            self.again(queued, now);
            if self.accept_paused_until.is_some_and(|until| until <= now) {
                self.resume_accepting(now)?;
            }
            self.expire(now);
            if let Some(leave_by) = self.leave_by {
                if self.conns.is_empty() {
                    return Ok(());
                }
                if now >= leave_by {
                    log!(
                        "closing {} connections still open after {GRACE:?}",
                        self.conns.len()
                    );
                    for key in self.conns.keys() {
                        self.close(key, Some("the server stopped".into()));
                    }
                    return Ok(());
                }
            }
        }
    }

    /// How long epoll_wait may sleep: until the first deadline, the end of
    /// an accept pause or of the stop's grace; forever if none.
    fn timeout(&self, now: Instant) -> Option<Duration> {
        [
            self.deadlines.next(),
            self.accept_paused_until,
            self.leave_by,
        ]
        .into_iter()
        .flatten()
        .min()
        .map(|at| at.saturating_duration_since(now))
    }

    /// Accepts every connection waiting: with edge-triggered readiness,
    /// the listener is reported once for all of them.
    fn accept_all(&mut self, now: Instant) -> Result<()> {
        loop {
            let Some(listener) = &self.listener else {
                return Ok(());
            };
            if self.accept_paused_until.is_some() {
                return Ok(());
            }
            match listener.accept() {
                Ok((stream, peer)) => {
                    narrate!("accept() -> {peer}");
                    self.admit(stream, peer, now);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    narrate!("accept() -> WouldBlock (no more connections waiting)");
                    return Ok(());
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // Out of descriptors: the connection stays queued, and the
                // listener stays readable. Retrying now would spin at 100%
                // CPU, so stop watching the listener for a moment.
                Err(e) if is_exhaustion(&e) => {
                    log!("accept: {e}; pausing new connections for {ACCEPT_PAUSE:?}");
                    if let Some(listener) = &mut self.listener {
                        self.poll
                            .registry()
                            .deregister(listener)
                            .context("deregistering the listener")?;
                        narrate!("epoll_ctl(DEL, listener {})", self.local);
                    }
                    self.accept_paused_until = Some(now + ACCEPT_PAUSE);
                    return Ok(());
                }
                Err(e) if is_one_client(&e) => log!("accept: {e} (one client lost; serving on)"),
                // EBADF, EINVAL: no longer a listener. Nothing will mend it.
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("accepting connections on {}", self.local));
                }
            }
        }
    }

    /// The pause is over: watch the listener again and accept what waits.
    fn resume_accepting(&mut self, now: Instant) -> Result<()> {
        self.accept_paused_until = None;
        if let Some(listener) = &mut self.listener {
            self.poll
                .registry()
                .register(listener, LISTENER, Interest::READABLE)
                .context("registering the listener again")?;
            narrate!("epoll_ctl(ADD, listener {}, READABLE)", self.local);
        }
        self.accept_all(now)
    }

    /// Takes on a new client, or closes it at once past --max-connections.
    fn admit(&mut self, mut stream: TcpStream, peer: SocketAddr, now: Instant) {
        let max = self.config.max_connections;
        if self.totals.open.fetch_add(1, Ordering::Relaxed) >= max {
            self.totals.open.fetch_sub(1, Ordering::Relaxed);
            self.totals.refused.fetch_add(1, Ordering::Relaxed);
            // Dropping the stream closes it: the client reads EOF now
            // instead of waiting for a slot that may never come.
            log!("{peer}: refused: {max} connections open (--max-connections)");
            return;
        }
        let key = self.conns.vacant_key();
        // Answers are small and a client waits for each: no Nagle delay.
        let registered = stream.set_nodelay(true).and_then(|()| {
            self.poll
                .registry()
                .register(&mut stream, Token(key), Interest::READABLE)
        });
        if let Err(e) = registered {
            self.totals.open.fetch_sub(1, Ordering::Relaxed);
            log!("{peer}: dropped: cannot set it up: {e}");
            return;
        }
        narrate!("epoll_ctl(ADD, {peer} as token {key}, READABLE)");
        self.serial += 1;
        self.conns
            .insert(Connection::new(stream, peer, self.serial, now));
        self.deadlines
            .push(now + self.config.settings.idle, key, self.serial);
        self.totals.connections.fetch_add(1, Ordering::Relaxed);
    }

    /// A client's socket is ready: do what can be done, then wait for what
    /// it needs next (and tell the poller only if that changed).
    fn ready(&mut self, key: usize, event: &Event, now: Instant) {
        let ready = Ready {
            readable: event.is_readable() || event.is_read_closed() || event.is_error(),
            writable: event.is_writable() || event.is_error(),
            read_closed: event.is_read_closed(),
        };
        self.drive(key, ready, now);
    }

    /// Connections that used their whole read budget in the last round get
    /// another turn, after every connection that was ready had its own.
    fn again(&mut self, queued: Vec<(usize, u64)>, now: Instant) {
        for (key, serial) in queued {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.serial == serial {
                conn.queued = false;
                self.drive(key, Ready::default(), now);
            }
        }
    }

    fn drive(&mut self, key: usize, ready: Ready, now: Instant) {
        // A token whose connection closed earlier in this batch.
        let Some(conn) = self.conns.get_mut(key) else {
            return;
        };
        let ending = match conn.drive(ready, &mut self.scratch, &self.config.settings, now) {
            Ok(Status::Open) => {
                // It stopped reading only because its turn was over: no
                // event will come for the rest (edge-triggered), so it
                // goes in the queue for the next round.
                if conn.has_more_to_read() && !conn.queued {
                    conn.queued = true;
                    self.queued.push((key, conn.serial));
                }
                let wanted = conn.wanted();
                if wanted == conn.registered {
                    return; // the usual case: no epoll_ctl at all
                }
                match self
                    .poll
                    .registry()
                    .reregister(&mut conn.stream, Token(key), wanted)
                {
                    Ok(()) => {
                        narrate!("epoll_ctl(MOD, token {key}, {})", interest_name(wanted));
                        conn.registered = wanted;
                        return;
                    }
                    Err(e) => Some(format!("cannot change its interest: {e}")),
                }
            }
            Ok(Status::Done) => None,
            // An over-long request, a reset, a vanished client: this
            // connection ends, logged; every other one carries on.
            Err(e) => Some(format!("{e:#}")),
        };
        self.close(key, ending);
    }

    /// Closes every connection whose idle deadline has passed.
    fn expire(&mut self, now: Instant) {
        let idle = self.config.settings.idle;
        while let Some((key, serial)) = self.deadlines.pop_due(now) {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.serial != serial {
                continue; // a reminder for a connection closed since
            }
            let due = conn.last_progress + idle;
            if due <= now {
                let why = conn.idle_reason(&self.config.settings);
                self.close(key, Some(why));
            } else {
                self.deadlines.push(due, key, serial);
            }
        }
    }

    /// Ctrl-C or SIGTERM: stop accepting, close idle connections now, let
    /// the others send what they owe within the grace period.
    fn begin_stop(&mut self, now: Instant) {
        if self.leave_by.is_some() {
            return;
        }
        self.leave_by = Some(now + GRACE);
        self.accept_paused_until = None;
        // Closing the listener resets connections still in its backlog.
        if self.listener.take().is_some() {
            narrate!("close(listener {})", self.local);
        }
        for key in self.conns.keys() {
            let Some(conn) = self.conns.get_mut(key) else {
                continue;
            };
            if conn.stop() {
                self.close(key, None);
                continue;
            }
            let wanted = conn.wanted();
            if wanted != conn.registered
                && self
                    .poll
                    .registry()
                    .reregister(&mut conn.stream, Token(key), wanted)
                    .is_ok()
            {
                conn.registered = wanted;
            }
        }
    }

    /// Closes connection `key`, logging why (`None`: the client finished).
    fn close(&mut self, key: usize, why: Option<String>) {
        let Some(conn) = self.conns.remove(key) else {
            return;
        };
        self.totals.open.fetch_sub(1, Ordering::Relaxed);
        self.totals
            .requests
            .fetch_add(conn.requests, Ordering::Relaxed);
        let peer = conn.peer;
        match why {
            Some(why) => log!("{peer}: connection ended: {why}"),
            None if conn.unfinished() > 0 => log!(
                "{peer}: connection ended: {}",
                self.config.settings.protocol.cut_short(conn.unfinished())
            ),
            None => log!("{peer}: {} requests, closed", conn.requests),
        }
        // Closing the socket also removes it from the poller.
        drop(conn);
        narrate!("close(token {key})");
        // Reminders of closed connections pile up under a flood of short
        // ones: sweep them out once they outnumber the live ones.
        if self.deadlines.len() > 2 * self.conns.len() + 1024 {
            let conns = &self.conns;
            self.deadlines
                .sweep(|key, serial| conns.get(key).is_some_and(|c| c.serial == serial));
        }
    }
}

fn interest_name(interest: Interest) -> &'static str {
    match (interest.is_readable(), interest.is_writable()) {
        (true, true) => "READABLE|WRITABLE",
        (false, true) => "WRITABLE",
        _ => "READABLE",
    }
}

/// Connections by token: a vector of slots and a list of free ones, so a
/// token is an index and looking one up costs nothing.
struct Slab<T> {
    slots: Vec<Option<T>>,
    free: Vec<usize>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// The key the next [`Slab::insert`] will use.
    fn vacant_key(&self) -> usize {
        self.free.last().copied().unwrap_or(self.slots.len())
    }

    fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        match self.free.pop() {
            Some(key) => {
                self.slots[key] = Some(value);
                key
            }
            None => {
                self.slots.push(Some(value));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, key: usize) -> Option<T> {
        let value = self.slots.get_mut(key)?.take()?;
        self.free.push(key);
        self.len -= 1;
        Some(value)
    }

    fn get(&self, key: usize) -> Option<&T> {
        self.slots.get(key)?.as_ref()
    }

    fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        self.slots.get_mut(key)?.as_mut()
    }

    fn keys(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&k| self.slots[k].is_some())
            .collect()
    }

    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::sync::Arc;
    use std::time::Duration;

    use common::stop::Stop;

    use super::{Config, Reactor, Totals};
    use crate::connection::Settings;
    use crate::protocol::Protocol;

    /// A burst far bigger than one turn's read budget, then silence: the
    /// rest of it is read only because the loop queues the connection for
    /// another turn (edge-triggered: no event will come for it).
    #[test]
    fn a_connection_that_used_its_budget_gets_another_turn_without_an_event() {
        // A big receive buffer (accepted sockets inherit it), so the whole
        // burst can wait in the kernel before the loop reads any of it.
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(16 << 20).unwrap();
        socket
            .bind(
                &"127.0.0.1:0"
                    .parse::<std::net::SocketAddr>()
                    .unwrap()
                    .into(),
            )
            .unwrap();
        socket.listen(16).unwrap();
        socket.set_nonblocking(true).unwrap();
        let listener: std::net::TcpListener = socket.into();
        let addr = listener.local_addr().unwrap();
        let config = Config {
            settings: Settings {
                protocol: Protocol::Echo,
                max_line: 4096,
                idle: Duration::from_secs(30),
            },
            max_connections: 10,
        };
        let stop = Stop::new().unwrap();
        let reactor = Reactor::new(
            mio::net::TcpListener::from_std(listener),
            config,
            Arc::new(Totals::default()),
            &stop,
        )
        .unwrap();
        let loop_stop = stop.clone();
        let serving = std::thread::spawn(move || reactor.run_until_stop(&loop_stop));

        let burst = [b"z".repeat(1023), b"\n".to_vec()]
            .concat()
            .repeat(8 * 1024);
        let client = std::net::TcpStream::connect(addr).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let writer = {
            let (mut client, burst) = (client.try_clone().unwrap(), burst.clone());
            std::thread::spawn(move || client.write_all(&burst).unwrap())
        };
        let mut echoed = vec![0u8; burst.len()];
        let result = (&client).read_exact(&mut echoed);
        stop.trigger();
        writer.join().unwrap();
        serving.join().unwrap().unwrap();
        result.expect("the whole 8 MiB burst echoed");
        assert!(echoed == burst, "the echo differs from the burst");
    }
}
