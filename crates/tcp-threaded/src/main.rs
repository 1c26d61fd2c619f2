//! Lesson: serving many TCP clients with blocking sockets.
//!
//! The same line-echo server three ways: `--mode single` serves one client
//! at a time (like tcp-echo), `--mode thread` spawns a thread per client,
//! and `--mode pool` (the default) hands clients to a fixed set of worker
//! threads through a queue. The client is a load generator that shows the
//! difference in numbers.
//!
//! Try it in two terminals:
//!
//! ```text
//! terminal 1$ cargo run -p tcp-threaded -- server --mode single --delay-ms 20
//! listening on 127.0.0.1:7001
//! terminal 2$ cargo run -p tcp-threaded -- client --connections 8 --requests 20
//! connections=8 requests=160 errors=0 seconds=3.3 rps=48 p50_us=20200 p99_us=..
//! ```
//!
//! Then restart the server with `--mode thread` or `--mode pool` and run
//! the same client: eight clients are now served at once. The idea alone,
//! without the hardening, is `examples/tcp-threaded-bare.rs`.
//! This file only parses arguments; the lesson is in the other modules.

mod client;
mod connection;
mod lines;
mod plural;
mod pool;
mod server;
mod slots;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// A line-echo server (single, thread-per-connection, or pool) and a load generator.
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
    /// Echo each `\n`-terminated line, after --delay-ms of simulated work.
    Server(server::ServerArgs),
    /// Load generator: C connections, R requests each, every reply verified.
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
    let result = match cli.command {
        Command::Server(args) => server::run(&args),
        Command::Client(args) => client::run(&args),
    };
    common::report::exit_code("cargo run -p tcp-threaded -- server", result)
}
