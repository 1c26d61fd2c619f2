//! Lesson: watch the packets the other lessons send, layer by layer.
//!
//! An AF_PACKET socket receives a copy of every frame an interface sends or
//! receives; a BPF program in the kernel keeps only the ports we ask for;
//! etherparse peels each frame into its layers; and following each TCP
//! connection shows its handshake, its acknowledgements, its windows and
//! its retransmissions: TCP's reliability, on the wire.
//!
//! Try it in three terminals (capturing needs root or CAP_NET_RAW):
//!
//! ```text
//! terminal 1$ cargo build -p packet-watch && sudo target/debug/packet-watch --port 7000
//! capturing on lo
//! terminal 2$ cargo run -p tcp-echo -- server
//! terminal 3$ cargo run -p tcp-echo -- client hello world
//! terminal 1:
//! 127.0.0.1:51234 > 127.0.0.1:7000 TCP [S] seq 0 win 65495 len 0
//! 127.0.0.1:7000 > 127.0.0.1:51234 TCP [S.] seq 0 ack 1 win 65483 len 0
//! ...
//! ```
//!
//! This file only parses arguments; `watch.rs` runs the loop, and lib.rs
//! lists the modules in reading order.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use packet_watch::{bpf, capture::NotPermitted, watch};

/// Capture packets (AF_PACKET + a kernel BPF filter), peel the layers, and
/// follow each TCP connection.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Narrate every socket call on stderr.
    #[arg(long)]
    trace: bool,
    #[command(flatten)]
    options: watch::Options,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.options.ports.len() > bpf::MAX_PORTS {
        Cli::command()
            .error(
                clap::error::ErrorKind::TooManyValues,
                format!("at most {} --port values", bpf::MAX_PORTS),
            )
            .exit();
    }
    common::trace::set_enabled(cli.trace);
    let result = watch::run(&cli.options);
    common::report::exit_code_with("", result, |error| {
        error.downcast_ref::<NotPermitted>().map(|_| {
            "capturing needs root (or the CAP_NET_RAW capability): run it with sudo, \
             e.g. `cargo build -p packet-watch && sudo target/debug/packet-watch --port 7000`"
                .to_string()
        })
    })
}
