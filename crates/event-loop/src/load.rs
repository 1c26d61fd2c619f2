//! The load generator, the same as tcp-threaded's (copied, so each lesson
//! stands alone): C connections, each on its own thread, each sending R
//! lines of S bytes one after another and checking every echo byte for
//! byte. One summary line on stdout; exit 1 if any request failed.
//!
//! One request at a time per connection (no pipelining) is deliberate: it
//! measures what a server does for clients that wait for each answer.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use common::endpoint::{Endpoint, connect_tcp};

/// What to send.
pub struct Load {
    pub connections: u32,
    pub requests: u32,
    pub size: u32,
    pub timeout: Duration,
}

/// What one connection's thread saw.
struct Outcome {
    latencies_us: Vec<u64>,
    failed: u64,
    first_error: Option<anyhow::Error>,
}

pub fn run(endpoint: &Endpoint<7004>, load: &Load) -> Result<()> {
    let timeout = load.timeout;
    // Every thread connects first, then all start sending together, so the
    // measurement is of serving, not of connecting one by one.
    let start_line = Arc::new(Barrier::new(load.connections as usize + 1));
    let mut threads = Vec::with_capacity(load.connections as usize);
    for id in 0..load.connections {
        let (host, port) = (endpoint.host.clone(), endpoint.port);
        let start_line = Arc::clone(&start_line);
        let (requests, size) = (load.requests, load.size as usize);
        let thread = thread::Builder::new()
            .name(format!("load-{id}"))
            // Small stacks: a thousand connections are a thousand threads.
            .stack_size(128 * 1024)
            .spawn(move || {
                let stream = connect_tcp(&host, port, timeout);
                start_line.wait();
                match stream {
                    Ok(stream) => exchange(&stream, id, requests, size, timeout),
                    Err(e) => Outcome {
                        latencies_us: Vec::new(),
                        failed: u64::from(requests),
                        first_error: Some(e),
                    },
                }
            });
        match thread {
            Ok(thread) => threads.push(thread),
            // The threads started so far wait at the barrier, which would
            // never fill: give up loudly (the process exit ends them).
            Err(e) => return Err(anyhow!(e).context(format!("starting load thread {id}"))),
        }
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
    common::out!(
        "connections={} requests={} errors={failed} seconds={seconds:.3} rps={:.0} p50_us={} p99_us={}",
        load.connections,
        latencies.len(),
        latencies.len() as f64 / seconds,
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
    )?;
    match first_error {
        Some(e) if failed > 0 => {
            Err(e.context(format!("{failed} requests failed; the first failure")))
        }
        _ => Ok(()),
    }
}

/// Sends `requests` requests on `stream`, one at a time, timing each.
fn exchange(stream: &TcpStream, id: u32, requests: u32, size: usize, timeout: Duration) -> Outcome {
    let mut outcome = Outcome {
        // Reserve for the usual run only: --requests is not a promise of
        // memory (it grows as the answers really come).
        latencies_us: Vec::with_capacity(requests.min(1 << 16) as usize),
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
        match round_trip(stream, &request, &mut reply) {
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

/// One request and its reply, which must be the same bytes.
fn round_trip(mut stream: &TcpStream, request: &[u8], reply: &mut [u8]) -> Result<()> {
    stream.write_all(request).context("sending a request")?;
    // read_exact: the reply may arrive in pieces; a single read() could
    // return the first piece only.
    stream.read_exact(reply).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => anyhow!("the server closed the connection"),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            anyhow!("no reply within --timeout: is the server speaking --protocol echo?")
        }
        _ => anyhow::Error::new(e),
    })?;
    if reply != request {
        bail!("the reply differs from the request");
    }
    Ok(())
}

/// A request that names its connection and number, so a reply delivered
/// to the wrong connection or out of order fails the check. Padded with
/// letters to `size` bytes; the last byte is the newline.
fn request_bytes(id: u32, n: u32, size: usize) -> Vec<u8> {
    let mut request: Vec<u8> = format!("conn {id} request {n} ").into_bytes();
    request.resize(size.max(request.len()), b'x');
    request.truncate(size - 1);
    request.push(b'\n');
    request
}

/// The p-th percentile of sorted samples (nearest rank); 0 with no samples.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
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
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let samples: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&samples, 50.0), 50);
        assert_eq!(percentile(&samples, 99.0), 99);
        assert_eq!(percentile(&[], 50.0), 0);
    }
}
