//! Lesson: framing. TCP delivers a stream of bytes, not messages: it
//! splits and joins your writes as it likes, and `recv` returns whatever
//! has arrived. So the receiver must be told where each message ends. Five
//! ways to do it, each a small codec in `codec/`, plus the TCP deadlock
//! that bites peers who write without reading.
//!
//! Try it in two terminals:
//!
//! ```text
//! terminal 1$ cargo run -p framing -- server --strategy length
//! listening on 127.0.0.1:7003
//! terminal 2$ cargo run -p framing -- client --strategy length hello "two words"
//! terminal 1 prints:
//! message: hello
//! message: two words
//! ```
//!
//! The deadlock: `cargo run -p framing -- upper-server`, then
//! `cargo run -p framing -- deadlock-client --bytes 64000000` (stalls, is
//! detected, explained), and the same with `--fix` (completes).
//! This file only parses arguments.

mod client;
mod deadlock;
mod options;
mod server;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Five framing strategies over TCP, and the TCP deadlock.
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
    /// Print every message clients send, decoded with --strategy.
    Server(server::ServerArgs),
    /// Send messages framed with --strategy.
    Client(client::ClientArgs),
    /// Read 1024-byte chunks and send them back upper-cased, until EOF.
    UpperServer(deadlock::UpperServerArgs),
    /// Send --bytes without reading, then read: watch it deadlock (or --fix it).
    DeadlockClient(deadlock::DeadlockClientArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    common::trace::set_enabled(cli.trace);
    match cli.command {
        // A client's hints name the server it needed: the same strategy
        // and options, or upper-server for the deadlock.
        Command::Client(args) => {
            let server = args.framing.server_command(args.endpoint.port);
            let result = client::run(&args);
            common::report::exit_code_with(&server, result, |e| client::hint(e, &server))
        }
        Command::DeadlockClient(args) => {
            let server = deadlock::server_command(&args);
            common::report::exit_code(&server, deadlock::deadlock_client(&args))
        }
        Command::Server(args) => {
            common::report::exit_code("cargo run -p framing -- server", server::run(&args))
        }
        Command::UpperServer(args) => common::report::exit_code(
            "cargo run -p framing -- upper-server",
            deadlock::upper_server(&args),
        ),
    }
}
