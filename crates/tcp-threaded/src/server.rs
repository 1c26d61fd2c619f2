//! The accept loop and the three ways to hand a client to a thread.
//!
//! ```text
//!   accept() ──> --max-connections check ──> single: serve it right here
//!                                         ├─> thread: a new thread per client
//!                                         └─> pool:   queue ──> N workers
//! ```
//!
//! Stopping (Ctrl-C / SIGTERM) has two phases. First the accept loop ends
//! and every connection finishes the request in hand, answers it, and
//! closes (a client that pipelined a burst gets no further answers).
//! Second, GRACE after the signal, the cutoff: every wait still going on
//! (an idle client's read, a write to a client that does not read, a long
//! `--delay-ms`) ends at once. Then every thread is joined, the summary
//! printed, and the process exits 0, well within the 2 s a stop allows.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::{Context, Result};
use common::args::seconds;
use common::endpoint::{Endpoint, announce, listen_tcp};
use common::guard;
use common::stop::Stop;
use common::{log, narrate};

use crate::connection::{self, Ended, Setup};
use crate::plural::plural;
use crate::pool::ThreadPool;
use crate::slots::{Slot, Slots};

/// A connection thread copies lines between a socket and a buffer; 128 KiB
/// of stack is plenty. The 2 MiB default would reserve 2 GB for 1000 clients.
const STACK_SIZE: usize = 128 * 1024;
/// How long after a stop requests in hand may take to be answered before
/// every connection is cut off (the contract allows 2 s in all).
const GRACE: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// One client at a time, served by the accept loop itself.
    Single,
    /// A new thread for every client.
    Thread,
    /// A fixed pool of --workers threads taking clients from a queue.
    Pool,
}

#[derive(clap::Args)]
pub struct ServerArgs {
    #[command(flatten)]
    endpoint: Endpoint<7001>,
    /// How clients are handed to threads.
    #[arg(long, value_enum, default_value_t = Mode::Pool)]
    mode: Mode,
    /// Worker threads in pool mode (each serves one connection at a time).
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=4096))]
    workers: u32,
    /// Connections open at once, queued ones included; past it a new
    /// client is accepted and reset at once, so it knows, and does not hang.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_connections: u32,
    /// Drop a client that sends nothing, or leaves our replies unread, for
    /// this long, or takes longer than this to send one line.
    #[arg(long, default_value = "30", value_name = "SECS", value_parser = seconds)]
    idle_timeout: Duration,
    /// Close any connection after this long, however busy: a client that
    /// sends a line every few seconds is never idle, yet holds a worker
    /// (and in pool mode makes newcomers queue) for as long as it likes.
    #[arg(long, default_value = "120", value_name = "SECS", value_parser = seconds)]
    max_connection_secs: Duration,
    /// Longest request line in bytes (newline excluded); longer closes the
    /// connection. Each connection may buffer this much.
    #[arg(long, default_value_t = 64 * 1024, value_parser = clap::value_parser!(u32).range(1..=16 * 1024 * 1024))]
    max_line: u32,
    /// Simulated work per request, in milliseconds (at most a minute).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    delay_ms: u64,
}

/// Counts for the summary line, shared by every serving thread.
#[derive(Default)]
struct Totals {
    connections: AtomicU64,
    requests: AtomicU64,
    refused: AtomicU64,
}

pub fn run(args: &ServerArgs) -> Result<()> {
    let stop = Stop::from_signals()?;
    let addr = args.endpoint.resolve()?[0];
    // A deep backlog: under a burst of connects the kernel queues them
    // while we accept; the kernel caps it at net.core.somaxconn anyway.
    let listener = listen_tcp(addr, 1024)?;
    let local = listener
        .local_addr()
        .context("reading the listener's address")?;
    let slots = Slots::new(args.max_connections as usize);
    let cutoff = Stop::new()?;
    cut_off_after_grace(&stop, &cutoff, &slots);
    let setup = Arc::new(Setup {
        max_line: args.max_line as usize,
        delay: Duration::from_millis(args.delay_ms),
        limits: guard::Limits {
            idle: args.idle_timeout,
            lifetime: args.max_connection_secs,
        },
        stop: stop.clone(),
        cutoff,
    });
    let totals = Arc::new(Totals::default());
    let pool = match args.mode {
        Mode::Pool => Some(ThreadPool::new(args.workers as usize, STACK_SIZE)?),
        Mode::Single | Mode::Thread => None,
    };
    announce(local)?;
    log!("serving in {:?} mode", args.mode);

    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    let mut failure = None;
    // stop.incoming(): accept() until a stop; EMFILE backs off, ECONNABORTED
    // is skipped (see common/src/stop.rs).
    for conn in stop.incoming(&listener) {
        let (stream, peer) = match conn {
            Ok(conn) => conn,
            // The listener failed for good. Stop as a signal would, so the
            // open connections end (within GRACE) before the error is told.
            Err(e) => {
                failure = Some(e);
                stop.trigger();
                break;
            }
        };
        let Some(slot) = slots.take() else {
            refuse(stream, peer, args.max_connections);
            totals.refused.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        totals.connections.fetch_add(1, Ordering::Relaxed);
        let job = {
            let (setup, totals) = (Arc::clone(&setup), Arc::clone(&totals));
            move || handle(stream, slot, peer, &setup, &totals)
        };
        match (args.mode, &pool) {
            (Mode::Pool, Some(pool)) => {
                if let Err(e) = pool.execute(job) {
                    failure = Some(e);
                    stop.trigger();
                    break;
                }
            }
            (Mode::Thread, _) => {
                // Forget threads that have finished, so the list stays short.
                threads.retain(|t| !t.is_finished());
                let spawned = thread::Builder::new()
                    .name(format!("conn-{peer}"))
                    .stack_size(STACK_SIZE)
                    .spawn(job);
                match spawned {
                    Ok(thread) => threads.push(thread),
                    // Out of threads or memory: this client is dropped (the
                    // closure owned its stream), the server goes on.
                    Err(e) => log!("{peer}: cannot start a thread: {e}"),
                }
            }
            _ => job(),
        }
    }

    // Stopping: connections end at their next request, or at the cutoff.
    drop(pool); // joins every worker
    for thread in threads {
        let _ = thread.join();
    }
    log!(
        "stopped: served {}, {}; refused {}",
        plural(totals.connections.load(Ordering::Relaxed), "connection"),
        plural(totals.requests.load(Ordering::Relaxed), "request"),
        totals.refused.load(Ordering::Relaxed),
    );
    failure.map_or(Ok(()), Err)
}

/// A stop's second phase: GRACE after it, `cutoff` ends every wait of every
/// connection, so no client (idle, not reading, or mid-request) can hold
/// the stop up. A timer thread, started by the stop itself.
fn cut_off_after_grace(stop: &Stop, cutoff: &Stop, slots: &Arc<Slots>) {
    let (cutoff, slots) = (cutoff.clone(), Arc::clone(slots));
    stop.on_stop(move || {
        let timer = cutoff.clone();
        let spawned = thread::Builder::new().name("cutoff".into()).spawn(move || {
            timer.wait_timeout(GRACE);
            let open = slots.open();
            if open > 0 {
                log!(
                    "cutting off {} still open {GRACE:?} after the stop",
                    plural(open as u64, "connection")
                );
            }
            timer.trigger();
        });
        if spawned.is_err() {
            // No thread for a timer: cut off at once rather than never.
            cutoff.trigger();
        }
    });
}

/// Past --max-connections: accept, then close with a reset (SO_LINGER 0).
/// A plain close would send FIN, and a client reads that EOF as "the server
/// answered everything and hung up", or, if its request had arrived, gets a
/// reset anyway; a reset always says "refused", and leaves no TIME_WAIT
/// socket on the server for every connection refused in a flood.
fn refuse(stream: TcpStream, peer: SocketAddr, limit: u32) {
    match socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO)) {
        Ok(()) => narrate!("setsockopt(SO_LINGER, 0)"),
        Err(e) => log!("{peer}: cannot set SO_LINGER; it gets a FIN: {e}"),
    }
    drop(stream);
    narrate!("close() -> RST to {peer}");
    log!(
        "{peer}: refused: {} open (--max-connections)",
        plural(u64::from(limit), "connection")
    );
}

/// Runs one connection to its end and logs how it ended.
fn handle(stream: TcpStream, slot: Slot, peer: SocketAddr, setup: &Setup, totals: &Totals) {
    narrate!(
        "serving {peer} on {}",
        thread::current().name().unwrap_or("the accept thread")
    );
    let mut answered = 0;
    let ended = connection::serve(stream, setup, &mut answered);
    // serve() owned the stream: it is closed by now, whatever happened.
    narrate!("close()");
    drop(slot);
    totals.requests.fetch_add(answered, Ordering::Relaxed);
    let requests = plural(answered, "request");
    match ended {
        Ok(Ended::ByClient) => log!("{peer}: {requests}, closed"),
        Ok(Ended::Stopping) => log!("{peer}: {requests}, closed: the server is stopping"),
        // An over-long line, a reset, an idle or vanished client: this
        // connection ends, logged; every other one carries on.
        Err(e) => log!("{peer}: {requests}, connection ended: {e:#}"),
    }
}
