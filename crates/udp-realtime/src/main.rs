//! Lesson: a live audio stream over UDP, the article's case for UDP.
//!
//! If a piece of a phone call is lost, sending it again helps nobody: by
//! the time it arrives, its moment has passed. So a live stream numbers
//! its datagrams, plays each one at a fixed delay after it was sent (a
//! jitter buffer absorbs the network's uneven timing), plays something
//! else when a frame is missing, and sends a rough copy of the previous
//! frames in each datagram so a lost one can usually be replaced. The
//! same stream over TCP never loses a byte, and plays late instead.
//!
//! Try it in two terminals:
//!
//! ```text
//! terminal 1$ cargo run -p udp-realtime -- receive --wav played.wav
//! listening on 127.0.0.1:7005
//! terminal 2$ cargo run -p udp-realtime -- send --seconds 5
//! sent 250 frames (5.00 s of audio) in 5.00 s
//! terminal 1:  (2 s after the last datagram)
//! frames=250 primary=250 redundant=0 concealed=0 late=0 duplicate=0 reordered=0 invalid=0
//! terminal 1$ aplay played.wav
//! ```
//!
//! Add `--trace` to either side to see every socket call as it happens.
//! This file only parses arguments; `jitter.rs` holds the idea.

mod audio;
mod jitter;
mod receive;
mod send;
mod source;
mod wire;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A live audio stream over UDP (or TCP): sequence numbers, a jitter buffer, redundancy.
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
    /// Stream 20 ms frames of audio, paced in real time.
    Send(send::SendArgs),
    /// Play the stream through a jitter buffer and report what happened to every frame.
    Receive(receive::ReceiveArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    common::trace::set_enabled(cli.trace);
    // The receiver a refused sender should start: the one for its transport.
    let mut receiver = "cargo run -p udp-realtime -- receive";
    let result = match cli.command {
        Command::Send(args) => {
            if args.tcp {
                receiver = "cargo run -p udp-realtime -- receive --tcp";
            }
            send::run(&args)
        }
        Command::Receive(args) => receive::run(&args),
    };
    common::report::exit_code(receiver, result)
}
