//! The load generator's flags: C connections, each on its own thread, each
//! sending R requests of S bytes one after another and checking every reply
//! byte for byte (`common::load`, which event-loop's client shares, so both
//! lessons are measured with the same work). One summary line on stdout;
//! exit 1 if any request failed.
//!
//! One request at a time per connection (no pipelining) is deliberate: it
//! measures what a server does for clients that wait for each answer, which
//! is what makes `--mode single` slow and the other modes fast.

use std::time::Duration;

use anyhow::Result;
use common::args::seconds;
use common::endpoint::Endpoint;
use common::load::{Load, MAX_TOTAL_REQUESTS};

#[derive(clap::Args)]
pub struct ClientArgs {
    #[command(flatten)]
    endpoint: Endpoint<7001>,
    /// Connections opened at once, one thread each.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=4096))]
    connections: u32,
    /// Requests sent on each connection, one after another.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=MAX_TOTAL_REQUESTS as i64))]
    requests: u32,
    /// Bytes per request, newline included (at least 1).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=16_777_216))]
    size: u32,
    /// Give up on a reply (or a connect) after this many seconds.
    #[arg(long, default_value = "10", value_name = "SECS", value_parser = seconds)]
    timeout: Duration,
}

impl ClientArgs {
    fn load(&self) -> Load {
        Load {
            connections: self.connections,
            requests: self.requests,
            size: self.size,
            timeout: self.timeout,
            echo_server: "cargo run -p tcp-threaded -- server",
        }
    }

    /// The limits no single flag can check: what the flags cost together.
    pub fn check(&self) -> Result<(), String> {
        self.load().check()
    }
}

pub fn run(args: &ClientArgs) -> Result<()> {
    common::load::run(&args.endpoint.host, args.endpoint.port, &args.load())
}
