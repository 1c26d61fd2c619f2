//! Lesson: one thread serving thousands of clients, the book's srv_async.
//!
//! Every socket is nonblocking and registered with one poller (epoll,
//! through mio, the crate tokio is built on). The thread sleeps only in
//! `epoll_wait`, which returns the tokens of the sockets that are ready;
//! each connection's progress lives in a small state machine, not on a
//! thread's stack. `examples/event-loop-bare.rs` is the idea alone.
//!
//! Try it in two terminals:
//!
//! ```text
//! terminal 1$ cargo run -p event-loop -- server
//! listening on 127.0.0.1:7004
//! terminal 2$ cargo run -p event-loop -- client
//! Simple is better than? Complex.
//! Beautiful is better than? Ugly.
//! Explicit is better than? Implicit.
//! ```
//!
//! Then `server --protocol echo` and `client --connections 1000 --requests
//! 100`: a thousand clients at once, on one thread.
//! This file only parses arguments; the lesson is in the other modules.

mod client;
mod connection;
mod deadlines;
mod listener;
mod protocol;
mod reactor;
mod server;
mod zen;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// One thread, nonblocking sockets, readiness: the book's zen server (and a
/// line echo), its client, and a load generator.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Narrate every socket call on stderr.
    #[arg(long, global = true)]
    trace: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every client from one event loop (or --loops N).
    Server(server::ServerArgs),
    /// Ask the zen questions; with --connections/--requests, a load generator.
    Client(client::ClientArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Client(args) = &cli.command
        && let Err(message) = args.check()
    {
        // A usage error like clap's own: exit 2, before any socket is made.
        Cli::command()
            .error(clap::error::ErrorKind::ValueValidation, message)
            .exit();
    }
    common::trace::set_enabled(cli.trace);
    let (result, server) = match &cli.command {
        Command::Server(args) => (server::run(args), "cargo run -p event-loop -- server"),
        Command::Client(args) if args.is_load() => (
            client::run(args),
            "cargo run -p event-loop -- server --protocol echo",
        ),
        Command::Client(args) => (client::run(args), "cargo run -p event-loop -- server"),
    };
    common::report::exit_code(server, result)
}
