//! Lesson: UDP datagrams (the book's udp_remote.py and friends).
//!
//! UDP keeps message boundaries (one send, one datagram, one recv) and
//! multiplexes by port, and that is all: loss, duplication and reordering
//! are the application's problem. The client shows the classic answer,
//! retries with exponential backoff on a connected socket; `big` shows the
//! size limit of a datagram; `broadcast-*` show one-to-many delivery.
//!
//! Try it in two terminals:
//!
//! ```text
//! terminal 1$ cargo run -p udp-datagrams -- server --drop-rate 0.5 --seed 12
//! listening on 127.0.0.1:7002
//! dropping 50% of requests (--seed 12)
//! terminal 2$ cargo run -p udp-datagrams -- client
//! no reply within 100ms (try 1); sending again
//! Your data was 23 bytes long
//! ```
//!
//! This file only parses arguments.

mod backoff;
mod big;
mod broadcast;
mod budget;
mod client;
mod datagram;
mod loops;
mod loss;
mod server;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// UDP request/reply with loss and retries, MTU and don't-fragment, broadcast.
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
    /// Reply `Your data was N bytes long` to every datagram.
    Server(server::ServerArgs),
    /// Send a request, retrying with exponential backoff; print the reply.
    Client(client::ClientArgs),
    /// Send one datagram of --size bytes with don't-fragment set.
    Big(big::BigArgs),
    /// Send `Broadcast datagram!` to a broadcast address.
    BroadcastSend(broadcast::SendArgs),
    /// Print every datagram that arrives, broadcasts included.
    BroadcastListen(broadcast::ListenArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // What clap cannot check one flag at a time is still a usage error (exit 2).
    if let Command::Client(args) = &cli.command
        && let Err(message) = args.validate()
    {
        Cli::command()
            .error(clap::error::ErrorKind::ArgumentConflict, message)
            .exit();
    }
    common::trace::set_enabled(cli.trace);
    let result = match cli.command {
        Command::Server(args) => server::run(&args),
        Command::Client(args) => client::run(&args),
        Command::Big(args) => big::run(&args),
        Command::BroadcastSend(args) => broadcast::send(&args),
        Command::BroadcastListen(args) => broadcast::listen(&args),
    };
    common::report::exit_code("cargo run -p udp-datagrams -- server", result)
}
