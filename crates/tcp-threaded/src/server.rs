//! The accept loop and the three ways to hand a client to a thread.
//!
//! ```text
//!   accept() ──> --max-connections check ──> single: serve it right here
//!                                         ├─> thread: a new thread per client
//!                                         └─> pool:   queue ──> N workers
//! ```
//!
//! Stopping (Ctrl-C / SIGTERM): the accept loop is woken by a self-connect
//! and stops accepting; every open connection is shut down for reading, so
//! idle clients get EOF at once while requests already read still get
//! their reply; after a grace period anything left (a client that does not
//! read our reply) is shut down completely; then every thread is joined.

use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use anyhow::{Context, Result};
use common::endpoint::{Endpoint, announce, listen_tcp};
use common::log;
use common::narrate;
use common::stop::Stop;

use crate::connection::{self, Limits};
use crate::pool::ThreadPool;
use crate::registry::{Registry, Slot};

/// A connection thread copies lines between a socket and a buffer; 128 KiB
/// of stack is plenty. The 2 MiB default would reserve 2 GB for 1000 clients.
const STACK_SIZE: usize = 128 * 1024;
/// How long in-flight requests get to finish after a stop (the contract
/// allows 2 s in all).
const GRACE: Duration = Duration::from_millis(1500);

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
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    workers: u32,
    /// Connections open at once, queued ones included; past it a new
    /// client is accepted and closed at once, so it sees EOF, not a hang.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Drop a client that is silent, or sends one line, or leaves our
    /// reply unread, for longer than this.
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,
    /// Longest request line in bytes (newline excluded); longer closes the connection.
    #[arg(long, default_value_t = 64 * 1024)]
    max_line: usize,
    /// Simulated work per request, in milliseconds.
    #[arg(long, default_value_t = 0)]
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
    let registry = Arc::new(Registry::default());
    {
        // Idle clients are blocked in read(); shutting down the read side
        // wakes them with EOF the moment a stop arrives.
        let registry = Arc::clone(&registry);
        stop.on_stop(move || registry.shutdown_all(Shutdown::Read));
    }
    let limits = Limits {
        max_line: args.max_line,
        idle: Duration::from_secs(args.idle_timeout),
        delay: Duration::from_millis(args.delay_ms),
    };
    let totals = Arc::new(Totals::default());
    let pool = match args.mode {
        Mode::Pool => Some(ThreadPool::new(args.workers as usize, STACK_SIZE)?),
        Mode::Single | Mode::Thread => None,
    };
    announce(local)?;
    log!("serving in {:?} mode", args.mode);

    let mut threads: Vec<JoinHandle<()>> = Vec::new();
    // stop.incoming(): accept() until a stop; EMFILE backs off, ECONNABORTED
    // is skipped (see common/src/stop.rs).
    for conn in stop.incoming(&listener) {
        let (stream, peer) = conn?;
        let Some((stream, slot)) = registry.admit(stream, args.max_connections as usize) else {
            // Dropping the stream closes it: the client reads EOF now
            // instead of waiting in the backlog for a slot that may never come.
            totals.refused.fetch_add(1, Ordering::Relaxed);
            log!(
                "{peer}: refused: {} connections open (--max-connections)",
                args.max_connections
            );
            continue;
        };
        totals.connections.fetch_add(1, Ordering::Relaxed);
        let job = {
            let totals = Arc::clone(&totals);
            move || handle(&stream, slot, peer, limits, &totals)
        };
        match (args.mode, &pool) {
            (Mode::Pool, Some(pool)) => pool.execute(job)?,
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

    // Stopping. Reads were shut down when the signal came; give requests
    // in flight a moment, then cut off whatever is still open.
    if !registry.wait_empty(GRACE) {
        log!(
            "closing {} connections still open after {GRACE:?}",
            registry.len()
        );
        registry.shutdown_all(Shutdown::Both);
    }
    drop(pool); // joins every worker
    for thread in threads {
        let _ = thread.join();
    }
    log!(
        "stopped: served {} connections, {} requests; refused {}",
        totals.connections.load(Ordering::Relaxed),
        totals.requests.load(Ordering::Relaxed),
        totals.refused.load(Ordering::Relaxed),
    );
    Ok(())
}

/// Runs one connection to its end and logs how it ended.
fn handle(stream: &TcpStream, slot: Slot, peer: SocketAddr, limits: Limits, totals: &Totals) {
    narrate!(
        "serving {peer} on {}",
        thread::current().name().unwrap_or("the accept thread")
    );
    match connection::serve(stream, peer, limits) {
        Ok(requests) => {
            totals.requests.fetch_add(requests, Ordering::Relaxed);
            log!("{peer}: {requests} requests, closed");
        }
        // An over-long line, a reset, an idle or vanished client: this
        // connection ends, logged; every other one carries on.
        Err(e) => log!("{peer}: connection ended: {e:#}"),
    }
    // Unregister before the last Arc<TcpStream> closes the socket.
    drop(slot);
}
