//! Lesson: a blocking TCP echo server and its client.
//!
//! The smallest real TCP program: `socket`/`bind`/`listen`/`accept` on one
//! side, `socket`/`connect` on the other, bytes both ways, and a half-close
//! (`shutdown(Write)`) to say "I am done sending". The server serves one
//! client at a time, which is the limitation the tcp-threaded lesson lifts.
//!
//! Try it in two terminals:
//!
//! ```text
//! terminal 1$ cargo run -p tcp-echo -- server
//! listening on 127.0.0.1:7000
//! terminal 2$ cargo run -p tcp-echo -- client hello world
//! hello
//! world
//! terminal 2$ cargo run -p tcp-echo -- client --bytes 2000000
//! ```
//!
//! Add `--trace` to either side to see every socket call as it happens.
//! This file only parses arguments; `server.rs` and `client.rs` hold the lesson.

mod client;
mod server;
mod traced;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A blocking, single-threaded TCP echo server and its client.
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
    /// Echo every byte back to one client at a time.
    Server(server::ServerArgs),
    /// Send messages (or stdin lines, or --bytes N) and print the echoes.
    Client(client::ClientArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    common::trace::set_enabled(cli.trace);
    let result = match cli.command {
        Command::Server(args) => server::run(&args),
        Command::Client(args) => client::run(&args),
    };
    common::report::exit_code("cargo run -p tcp-echo -- server", result)
}
