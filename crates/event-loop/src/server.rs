//! The server's setup: flags, listeners, one [`Reactor`] per `--loops`,
//! the stop signal, the summary line. The loop itself is in reactor.rs.
//!
//! `--loops N` (N > 1) binds N listeners to the same port with SO_REUSEPORT
//! and runs one loop on each, one thread each: the kernel hashes every new
//! connection to one listener, so the loops share nothing but counters.
//! That is how nginx runs a worker per core.

use std::sync::atomic::Ordering;
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use common::endpoint::{Endpoint, announce};
use common::log;
use common::stop::Stop;

use crate::connection::Settings;
use crate::listener::{Share, listen, raise_descriptor_limit};
use crate::protocol::Protocol;
use crate::reactor::{Config, Reactor, Totals};

#[derive(clap::Args)]
pub struct ServerArgs {
    #[command(flatten)]
    endpoint: Endpoint<7004>,
    /// What to answer: the book's zen questions, or tcp-threaded's line echo.
    #[arg(long, value_enum, default_value_t = Protocol::Zen)]
    protocol: Protocol,
    /// Event loops, one thread and one SO_REUSEPORT listener each.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    loops: u32,
    /// Connections open at once (all loops together); past it a new client
    /// is accepted and closed at once, so it sees EOF, not a hang.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    max_connections: u32,
    /// Close a client that has made no progress (no request answered, no
    /// answer taken) for this long: silent, trickling, or not reading.
    #[arg(long, default_value = "30", value_name = "SECS", value_parser = common::args::seconds)]
    idle_timeout: Duration,
    /// Longest request in bytes (its `?` or newline excluded); a longer one
    /// closes the connection.
    #[arg(long, default_value_t = 64 * 1024, value_name = "BYTES", value_parser = clap::value_parser!(u32).range(1..=16 * 1024 * 1024))]
    max_line: u32,
}

pub fn run(args: &ServerArgs) -> Result<()> {
    let stop = Stop::from_signals()?;
    let addr = args.endpoint.resolve()?[0];
    let loops = args.loops as usize;
    // A descriptor per client, and a few for listeners, pollers and stdio.
    let wanted = u64::from(args.max_connections) + 16 + 4 * loops as u64;
    raise_descriptor_limit(wanted, args.max_connections);

    let first = listen(addr, if loops > 1 { Share::Open } else { Share::Alone })?;
    // With --port 0 the first listener picks the port; the others join it.
    let local = first
        .local_addr()
        .context("reading the listener's address")?;
    let mut listeners = vec![first];
    for _ in 1..loops {
        listeners.push(listen(local, Share::Join)?);
    }
    let config = Config {
        settings: Settings {
            protocol: args.protocol,
            max_line: args.max_line as usize,
            idle: args.idle_timeout,
        },
        max_connections: args.max_connections as usize,
    };
    let totals = Arc::new(Totals::default());
    let mut reactors = listeners
        .into_iter()
        .map(|listener| Reactor::new(listener, config, Arc::clone(&totals), &stop))
        .collect::<Result<Vec<_>>>()?;
    // Loop 0 runs on this thread; --loops 1 is a one-thread server.
    let first = reactors.remove(0);
    let mut threads = Vec::new();
    let mut started = Ok(());
    let (running, thread_started) = mpsc::channel();
    for (n, reactor) in reactors.into_iter().enumerate() {
        let (stop, running) = (stop.clone(), running.clone());
        let thread = thread::Builder::new()
            .name(format!("loop-{}", n + 1))
            .spawn(move || {
                let _ = running.send(());
                reactor.run_until_stop(&stop)
            });
        match thread {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                started = Err(anyhow!(e).context("starting an event loop thread"));
                break;
            }
        }
    }
    // Every loop thread is running (its listener registered since
    // Reactor::new, so no connection waits for it): now scripts may connect.
    for _ in &threads {
        let _ = thread_started.recv();
    }
    let started = started.and_then(|()| announce(local));
    match &started {
        Ok(()) => log!(
            "answering the {} protocol with {loops} event loop{}",
            protocol_name(args.protocol),
            if loops == 1 { "" } else { "s, one thread each" }
        ),
        Err(_) => stop.trigger(), // the loops already running stop; we say why
    }
    let mut result = started.and(first.run_until_stop(&stop));
    for thread in threads {
        let ended = thread
            .join()
            .unwrap_or_else(|_| Err(anyhow!("an event loop panicked")));
        result = result.and(ended);
    }
    log!(
        "stopped: served {} connections, {} requests; refused {}",
        totals.connections.load(Ordering::Relaxed),
        totals.requests.load(Ordering::Relaxed),
        totals.refused.load(Ordering::Relaxed),
    );
    result
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Zen => "zen",
        Protocol::Echo => "echo",
    }
}
