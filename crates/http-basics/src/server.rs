//! The accept loop and the worker pool, as in tcp-threaded:
//!
//! ```text
//!   accept() ──> --max-connections check ──> 503, close   (too many)
//!                                         └─> queue ──> N workers, each
//!                                             serving one connection,
//!                                             request after request
//! ```
//!
//! A keep-alive connection holds its worker while it is idle between
//! requests. So an idle connection gives its worker up when another
//! connection is queued (see patient.rs): without that, `--workers` idle
//! browsers would lock everyone else out. A busy one, never idle, does
//! the same once it has had its turn: its next response says
//! `Connection: close` (`Patient::turn_over`).
//!
//! Stopping (Ctrl-C / SIGTERM): the accept loop ends; idle connections
//! close at once; a request in progress gets 1.5 s to finish; then every
//! worker is joined. Within 2 s in all, whatever the clients do.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use common::endpoint::{Endpoint, announce, listen_tcp};
use common::stop::Stop;
use common::{log, narrate};

use crate::connection::{self, Settings};
use crate::files::Root;
use crate::pool::ThreadPool;

/// A worker reads heads into a heap buffer; 256 KiB of stack is plenty
/// (the 2 MiB default would reserve 2 GB of address space for 1000).
const STACK_SIZE: usize = 256 * 1024;

#[derive(clap::Args)]
pub struct ServerArgs {
    #[command(flatten)]
    endpoint: Endpoint<7006>,
    /// Serve the files under DIR (default: a small built-in site with a form).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Worker threads; each serves one connection at a time.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    workers: u32,
    /// Connections open at once, queued ones included; past it a new one
    /// gets 503 and is closed.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,
    /// Largest request body in bytes; more is 413.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(0..=1 << 30))]
    max_body: u64,
    /// Largest request head in bytes; more is 431.
    #[arg(long, default_value_t = 16 * 1024, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(64..=1 << 20))]
    max_header: u64,
    /// A request head must arrive whole within this many seconds (else
    /// 408), and so must its body; an idle keep-alive connection is closed
    /// after it.
    #[arg(long, default_value = "30", value_name = "SECS", value_parser = common::args::seconds)]
    idle_timeout: Duration,
    /// No log line per request (errors are still logged).
    #[arg(long)]
    quiet: bool,
}

pub fn run(args: &ServerArgs) -> Result<()> {
    let stop = Stop::from_signals()?;
    let root = match &args.root {
        None => Root::BuiltIn,
        Some(dir) => Root::dir(dir)
            .with_context(|| format!("opening --root {} as a directory", dir.display()))?,
    };
    let addr = args.endpoint.resolve()?[0];
    let listener = listen_tcp(addr, 1024)?;
    let local = listener
        .local_addr()
        .context("reading the listener's address")?;
    let settings = Arc::new(Settings {
        root,
        max_body: args.max_body as usize,
        max_header: args.max_header as usize,
        idle: args.idle_timeout,
        quiet: args.quiet,
    });
    let pool = ThreadPool::new(args.workers as usize, STACK_SIZE)?;
    let open = Arc::new(AtomicUsize::new(0));
    let queued = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicU64::new(0));
    announce(local)?;
    match &settings.root {
        Root::BuiltIn => log!("serving the built-in site; open http://{local}/ in a browser"),
        Root::Dir(dir, _) => log!(
            "serving {}; open http://{local}/ in a browser",
            dir.display()
        ),
    }

    let mut connections = 0u64;
    let mut refused = 0u64;
    for conn in stop.incoming(&listener) {
        let (stream, peer) = conn?;
        if open.load(Ordering::Relaxed) >= args.max_connections as usize {
            refused += 1;
            log!(
                "{peer}: 503: {} connections open (--max-connections)",
                args.max_connections
            );
            turn_away(stream);
            continue;
        }
        connections += 1;
        let slot = Slot::take(&open);
        queued.fetch_add(1, Ordering::Relaxed);
        let job = {
            let (settings, stop, queued, served) = (
                settings.clone(),
                stop.clone(),
                queued.clone(),
                served.clone(),
            );
            move || {
                queued.fetch_sub(1, Ordering::Relaxed);
                handle(stream, peer, &settings, &stop, queued, &served);
                drop(slot);
            }
        };
        pool.execute(job)?;
    }
    drop(pool); // joins every worker: each ends within the grace
    log!(
        "stopped: {connections} connections, {} requests; {refused} turned away",
        served.load(Ordering::Relaxed)
    );
    Ok(())
}

/// One connection on a worker, to its end, logged.
fn handle(
    stream: TcpStream,
    peer: SocketAddr,
    settings: &Settings,
    stop: &Stop,
    queued: Arc<AtomicUsize>,
    served: &AtomicU64,
) {
    if stop.is_stopped() {
        return; // queued when the stop came: closed unserved
    }
    narrate!(
        "serving {peer} on {}",
        std::thread::current().name().unwrap_or("a worker")
    );
    match connection::serve(stream, peer, settings, stop, queued) {
        Ok(ended) => {
            served.fetch_add(ended.requests, Ordering::Relaxed);
            if !settings.quiet {
                let s = if ended.requests == 1 { "" } else { "s" };
                log!("{peer}: {} request{s}; {}", ended.requests, ended.how);
            }
        }
        // A reset, a client gone mid-request, a stop mid-request: this
        // connection ends, logged; every other one carries on.
        Err(e) => log!("{peer}: connection ended: {e:#}"),
    }
}

/// Counts an open connection until dropped.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(open: &Arc<AtomicUsize>) -> Slot {
        open.fetch_add(1, Ordering::Relaxed);
        Slot(Arc::clone(open))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Too many connections: say so with 503 instead of a silent close. The
/// accept thread must never block on one client, so the socket is
/// nonblocking: what the client sent so far is read (so closing does not
/// reset the connection under our answer), the answer written if it fits.
fn turn_away(mut stream: TcpStream) {
    const WHY: &str = "503 Service Unavailable: too many connections; try again soon\n";
    let busy = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
         Retry-After: 1\r\nConnection: close\r\n\r\n{WHY}",
        WHY.len()
    );
    if stream.set_nonblocking(true).is_ok() {
        let mut scratch = [0u8; 4096];
        let _ = stream.read(&mut scratch);
        let _ = stream.write(busy.as_bytes());
        let _ = stream.shutdown(Shutdown::Write);
    }
}
