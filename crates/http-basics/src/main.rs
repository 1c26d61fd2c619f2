//! Lesson: HTTP/1.1 by hand. A request is a few lines of text and an
//! empty line, then maybe a body; so is a response. Written and read over
//! a plain TcpStream, with httparse for the heads and the body's framing
//! (Content-Length, chunked, or the close) decoded by hand.
//!
//! Try it in two terminals:
//!
//! ```text
//! terminal 1$ cargo run -p http-basics -- server
//! listening on 127.0.0.1:7006
//! terminal 2$ cargo run -p http-basics -- get --trace http://127.0.0.1:7006/hello.txt
//! terminal 2$ cargo run -p http-basics -- post http://127.0.0.1:7006/echo --form name=Ada
//! ```
//!
//! Or open http://127.0.0.1:7006/ in a browser and send the form.
//! This file only parses arguments; the lesson is in the other modules.

mod client;
mod connection;
mod echo;
mod files;
mod patient;
mod pool;
mod reply;
mod server;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// HTTP/1.1 GET and POST by hand: a client and a server.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Narrate every socket call, and show the bytes of each request and response head.
    #[arg(long, global = true)]
    trace: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve files (GET, HEAD) and POST /echo.
    Server(server::ServerArgs),
    /// GET each URL and print its body.
    Get(client::GetArgs),
    /// POST a form, text or JSON to a URL and print the response's body.
    Post(client::PostArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    common::trace::set_enabled(cli.trace);
    let result = match cli.command {
        Command::Server(args) => server::run(&args),
        Command::Get(args) => client::get(&args),
        Command::Post(args) => client::post(&args),
    };
    common::report::exit_code("cargo run -p http-basics -- server", result)
}
