//! The line-echo load generator two lessons share (tcp-threaded's client,
//! and event-loop's client in load mode), so `make bench` and a learner
//! put the same work on every design: C connections, each on its own
//! thread, each sending R lines of S bytes one after another and checking
//! every reply byte for byte. One summary line on stdout; an error (exit 1)
//! if any request failed.
//!
//! One request at a time per connection (no pipelining) is deliberate: it
//! measures what a server does for clients that wait for each answer.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::endpoint::connect_tcp;
use crate::percentile::percentile;

/// Every latency is kept (8 bytes each) for exact percentiles: this many
/// in all, connections times requests, is 80 MB at most.
pub const MAX_TOTAL_REQUESTS: u64 = 10_000_000;
/// Each connection holds a request and a reply of `size` bytes.
pub const MAX_TOTAL_BYTES: u64 = 256 * 1024 * 1024;

/// What to send, and how long to wait for any connect or reply.
pub struct Load {
    pub connections: u32,
    pub requests: u32,
    /// Bytes per request, newline included (at least 1).
    pub size: u32,
    pub timeout: Duration,
    /// The command that starts a server this load fits, named when no reply
    /// comes (the likeliest cause: a server speaking another protocol).
    pub echo_server: &'static str,
}

impl Load {
    /// The limits no single flag can check: what the flags cost together.
    /// A lesson calls this before any socket is made and turns an `Err`
    /// into a usage error (exit 2).
    pub fn check(&self) -> Result<(), String> {
        let connections = u64::from(self.connections);
        let requests = connections * u64::from(self.requests);
        if requests > MAX_TOTAL_REQUESTS {
            return Err(format!(
                "--connections {} x --requests {} is {requests} requests; at most \
                 {MAX_TOTAL_REQUESTS} in all (the client keeps every latency)",
                self.connections, self.requests
            ));
        }
        let bytes = connections * u64::from(self.size);
        if bytes > MAX_TOTAL_BYTES {
            return Err(format!(
                "--connections {} x --size {} is {} MiB of requests in flight; at most {} MiB",
                self.connections,
                self.size,
                bytes >> 20,
                MAX_TOTAL_BYTES >> 20
            ));
        }
        Ok(())
    }
}

/// What one connection's thread saw.
struct Outcome {
    latencies_us: Vec<u64>,
    failed: u64,
    first_error: Option<anyhow::Error>,
}

/// Runs the load against `host`:`port` and prints the summary line.
pub fn run(host: &str, port: u16, load: &Load) -> Result<()> {
    let timeout = load.timeout;
    // Every thread connects first, then all start sending together, so the
    // measurement is of serving, not of connecting one by one.
    let start_line = Arc::new(Barrier::new(load.connections as usize + 1));
    let mut threads = Vec::with_capacity(load.connections as usize);
    for id in 0..load.connections {
        let host = host.to_string();
        let start_line = Arc::clone(&start_line);
        let (requests, size, echo_server) = (load.requests, load.size as usize, load.echo_server);
        let thread = thread::Builder::new()
            .name(format!("load-{id}"))
            // Small stacks: a thousand connections are a thousand threads.
            .stack_size(128 * 1024)
            .spawn(move || {
                let stream = connect_tcp(&host, port, timeout);
                start_line.wait();
                match stream {
                    Ok(stream) => exchange(&stream, id, requests, size, timeout, echo_server),
                    Err(e) => Outcome {
                        latencies_us: Vec::new(),
                        failed: u64::from(requests),
                        first_error: Some(e),
                    },
                }
            })
            // The threads started so far wait at the barrier, which would
            // never fill: give up loudly (the process exit ends them).
            .with_context(|| format!("starting load thread {id}"))?;
        threads.push(thread);
    }
    start_line.wait();
    let started = Instant::now();
    let mut latencies = Vec::new();
    let (mut failed, mut first_error) = (0u64, None);
    for thread in threads {
        let outcome = thread
            .join()
            .map_err(|_| anyhow!("a load thread panicked"))?;
        latencies.extend(outcome.latencies_us);
        failed += outcome.failed;
        first_error = first_error.or(outcome.first_error);
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    crate::out!(
        "connections={} requests={} errors={failed} seconds={seconds:.3} rps={:.0} p50_us={} p99_us={}",
        load.connections,
        latencies.len(),
        latencies.len() as f64 / seconds,
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
    )?;
    match first_error {
        Some(e) if failed > 0 => {
            let noun = if failed == 1 { "request" } else { "requests" };
            Err(e.context(format!("{failed} {noun} failed; the first failure")))
        }
        _ => Ok(()),
    }
}

/// Sends `requests` requests on `stream`, one at a time, timing each.
fn exchange(
    stream: &TcpStream,
    id: u32,
    requests: u32,
    size: usize,
    timeout: Duration,
    echo_server: &str,
) -> Outcome {
    let mut outcome = Outcome {
        // Grows with the requests really made, not with what --requests asks.
        latencies_us: Vec::new(),
        failed: 0,
        first_error: None,
    };
    let prepared = stream
        .set_nodelay(true)
        .and_then(|()| stream.set_read_timeout(Some(timeout)))
        .and_then(|()| stream.set_write_timeout(Some(timeout)));
    if let Err(e) = prepared {
        outcome.failed = u64::from(requests);
        outcome.first_error = Some(anyhow::Error::new(e).context("setting socket options"));
        return outcome;
    }
    let mut reply = vec![0u8; size];
    for n in 0..requests {
        let request = request_bytes(id, n, size);
        let sent = Instant::now();
        match round_trip(stream, &request, &mut reply, timeout, echo_server) {
            Ok(()) => outcome.latencies_us.push(sent.elapsed().as_micros() as u64),
            Err(e) => {
                // After a failure the stream is out of step with the server
                // (or closed): the rest of this connection's requests fail too.
                outcome.failed = u64::from(requests - n);
                outcome.first_error = Some(e.context(format!("connection {id}, request {n}")));
                break;
            }
        }
    }
    outcome
}

/// One request and its reply, which must be the same bytes, all of the
/// reply within `timeout`.
fn round_trip(
    mut stream: &TcpStream,
    request: &[u8],
    reply: &mut [u8],
    timeout: Duration,
    echo_server: &str,
) -> Result<()> {
    stream.write_all(request).context("sending a request")?;
    // The socket's read timeout (set to `timeout` once) bounds each read;
    // the deadline bounds the whole reply, which may come in pieces: a
    // server trickling it a byte a second must not pass under --timeout 1.
    let deadline = Instant::now() + timeout;
    let mut got = 0;
    let mut shortened = false;
    while got < reply.len() {
        match stream.read(&mut reply[got..]) {
            Ok(0) => bail!("the server closed the connection"),
            Ok(n) => got += n,
            // A signal interrupted the read: read again.
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                bail!(
                    "no whole reply within --timeout ({got} of {} bytes): is it an echo server, \
                     as `{echo_server}` starts?",
                    reply.len()
                )
            }
            Err(e) => return Err(e.into()),
        }
        if got < reply.len() {
            // Part of the reply: the next read may wait only what is left.
            // (The common case, a reply in one read, costs no extra call.)
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "no whole reply within --timeout ({got} of {} bytes)",
                    reply.len()
                );
            }
            stream
                .set_read_timeout(Some(left))
                .context("setting SO_RCVTIMEO")?;
            shortened = true;
        }
    }
    if shortened {
        stream
            .set_read_timeout(Some(timeout))
            .context("setting SO_RCVTIMEO")?;
    }
    if reply != request {
        bail!("the reply differs from the request");
    }
    Ok(())
}

/// A request that names its connection and number, so a reply delivered
/// to the wrong connection or out of order fails the check, when `size`
/// leaves room for the name (`conn 12 request 345 `: some 20 bytes; a
/// shorter request is cut, and then alike on every connection). Padded
/// with letters to `size` bytes; the last byte is the newline.
fn request_bytes(id: u32, n: u32, size: usize) -> Vec<u8> {
    let mut request: Vec<u8> = format!("conn {id} request {n} ").into_bytes();
    request.resize(size.max(request.len()), b'x');
    request.truncate(size - 1);
    request.push(b'\n');
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_the_asked_size_and_end_in_a_newline() {
        for size in [1, 2, 10, 64, 1000] {
            let request = request_bytes(3, 7, size);
            assert_eq!(request.len(), size);
            assert_eq!(request.last(), Some(&b'\n'));
            assert_eq!(request.iter().filter(|&&b| b == b'\n').count(), 1);
        }
        assert!(request_bytes(3, 7, 64).starts_with(b"conn 3 request 7 x"));
    }

    #[test]
    fn what_the_flags_cost_together_is_checked() {
        let load = |connections, requests, size| Load {
            connections,
            requests,
            size,
            timeout: Duration::from_secs(1),
            echo_server: "",
        };
        assert!(load(8, 100, 64).check().is_ok());
        assert!(load(1000, 10_000, 64).check().is_ok());
        assert!(load(1001, 10_000, 64).check().is_err());
        assert!(load(16, 1, 16 << 20).check().is_ok());
        assert!(load(17, 1, 16 << 20).check().is_err());
    }
}
