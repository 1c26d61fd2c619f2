//! The book's client.py: connect, ask the three aphorisms in a random
//! order, print each question with its answer, close. An answer ends with
//! `.`, so the client reads until it has one (the book's `recv_until`).
//!
//! With `--connections`, `--requests` or `--size` it is tcp-threaded's load
//! generator instead (`common::load`), speaking the echo protocol.

use std::io::{ErrorKind, Read, Write};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use common::endpoint::{Endpoint, connect_tcp};
use common::{narrate, out};

use common::load::Load;

use crate::zen;

/// The longest answer we wait for: the book's are at most 24 bytes.
const MAX_ANSWER: usize = 1024;

#[derive(clap::Args)]
pub struct ClientArgs {
    #[command(flatten)]
    pub endpoint: Endpoint<7004>,
    /// Questions to ask, each ending with `?` (default: the three
    /// aphorisms, in a random order).
    #[arg(value_parser = zen::question, conflicts_with_all = ["connections", "requests", "size"])]
    questions: Vec<String>,
    /// Load mode: open this many connections at once, one thread each,
    /// speaking the echo protocol (start the server with --protocol echo).
    /// At most 10 000: each thread costs a few memory mappings, and past
    /// vm.max_map_count (65 530) a new thread aborts the process.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    connections: Option<u32>,
    /// Load mode: requests per connection, one after another (default 100).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    requests: Option<u32>,
    /// Load mode: bytes per request, newline included (default 64).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=16_777_216))]
    size: Option<u32>,
    /// Give up on a connect or an answer after this many seconds.
    #[arg(long, default_value = "10", value_name = "SECS", value_parser = common::args::seconds)]
    timeout: Duration,
}

impl ClientArgs {
    /// Whether this run is the load generator (which needs an echo server).
    pub fn is_load(&self) -> bool {
        self.connections.is_some() || self.requests.is_some() || self.size.is_some()
    }

    fn load(&self) -> Load {
        Load {
            connections: self.connections.unwrap_or(8),
            requests: self.requests.unwrap_or(100),
            size: self.size.unwrap_or(64),
            timeout: self.timeout,
            echo_server: "cargo run -p event-loop -- server --protocol echo",
        }
    }

    /// The limits no single flag can check (load mode): what the flags
    /// cost together, say 10 000 connections of 16 MiB requests.
    pub fn check(&self) -> Result<(), String> {
        if self.is_load() {
            self.load().check()
        } else {
            Ok(())
        }
    }
}

pub fn run(args: &ClientArgs) -> Result<()> {
    if args.is_load() {
        return common::load::run(&args.endpoint.host, args.endpoint.port, &args.load());
    }
    let questions: Vec<&str> = if args.questions.is_empty() {
        zen::shuffled()
    } else {
        args.questions.iter().map(String::as_str).collect()
    };
    let (host, port) = (&args.endpoint.host, args.endpoint.port);
    let mut stream = connect_tcp(host, port, args.timeout)?;
    stream
        .set_read_timeout(Some(args.timeout))
        .and_then(|()| stream.set_write_timeout(Some(args.timeout)))
        .context("setting socket timeouts")?;
    for question in questions {
        stream
            .write_all(question.as_bytes())
            .with_context(|| format!("sending {question:?}"))?;
        narrate!("sendall({} bytes)", question.len());
        let answer = recv_until(&mut stream, b'.', args.timeout)
            .with_context(|| format!("waiting for the answer to {question:?}"))?;
        out!("{question} {answer}")?;
    }
    Ok(())
}

/// Reads until the data received ends with `suffix` (the book's
/// `zen_utils.recv_until`), at most [`MAX_ANSWER`] bytes.
fn recv_until(stream: &mut impl Read, suffix: u8, timeout: Duration) -> Result<String> {
    let mut answer = Vec::new();
    let mut buf = [0u8; 256];
    while answer.last() != Some(&suffix) {
        let n = match stream.read(&mut buf) {
            Ok(0) => bail!(
                "the server closed the connection after {} bytes of an answer",
                answer.len()
            ),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(anyhow!(
                    "no answer within {} s: is the server speaking --protocol zen?",
                    timeout.as_secs_f64()
                ));
            }
            Err(e) => return Err(e.into()),
        };
        narrate!("recv() -> {n} bytes");
        answer.extend_from_slice(&buf[..n]);
        if answer.len() > MAX_ANSWER {
            bail!("an answer longer than {MAX_ANSWER} bytes without a `.`");
        }
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}
