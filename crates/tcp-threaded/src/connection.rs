//! Serving one client: read `\n`-terminated lines, echo each one back
//! after `--delay-ms` of pretend work. The same code runs in every mode;
//! only who calls it (the accept loop, a new thread, a pool worker) changes.
//!
//! The loop in [`serve`] is the bare example's (`examples/tcp-threaded-bare.rs`):
//! read a line, answer it. The hardening lives underneath: the stream is a
//! [`Guarded`] one, so every wait ends on idle, on the connection's deadline
//! or when the server cuts connections off; the line reader ([`Lines`])
//! bounds a line's length and the time it may take to arrive.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use common::guard::{self, Guarded};
use common::stop::Stop;

use crate::lines::Lines;

/// Pipelined answers that are ready at once go out in one write, up to
/// this many bytes: one syscall (and often one packet) for a whole burst,
/// yet no client waits behind an unbounded batch.
const BATCH: usize = 64 * 1024;
/// After a write, a buffer grown past this (by a long line, or a batch) is
/// given back: one long line must not cost its connection that memory for
/// the rest of its life.
const KEEP: usize = 8 * 1024;

/// What every connection is served with.
pub struct Setup {
    /// Longest request line, newline excluded.
    pub max_line: usize,
    /// Simulated work per request.
    pub delay: Duration,
    /// Idle timeout and connection lifetime, enforced by the guard.
    pub limits: guard::Limits,
    /// A stop (Ctrl-C, SIGTERM): take no new request, answer the one in hand.
    pub stop: Stop,
    /// A stop's second phase: every wait ends now, answered or not.
    pub cutoff: Stop,
}

/// Why a connection ended without an error.
pub enum Ended {
    /// The client half-closed; every request was answered.
    ByClient,
    /// The server is stopping; requests already read were answered.
    Stopping,
}

/// Serves `stream` until the client closes or the server stops, counting
/// in `answered` the requests whose answers were written. An error ends
/// this connection only.
pub fn serve(stream: TcpStream, setup: &Setup, answered: &mut u64) -> Result<Ended> {
    if setup.stop.is_stopped() {
        // Queued before the stop, picked up after it: never started.
        return Ok(Ended::Stopping);
    }
    // Replies are small and someone is waiting for each: no Nagle delay.
    stream.set_nodelay(true).context("setting TCP_NODELAY")?;
    let stream = Guarded::new(stream, &setup.cutoff, setup.limits)
        .context("setting the socket's timeouts")?;
    let mut lines = Lines::new(stream, setup.max_line, setup.limits.idle);
    // An echo's answer is its request: each line is read straight into the
    // buffer its answer goes out from, as the bare file's read_until does.
    // One copy of a line, never two; `pending` counts the lines in it.
    let (mut replies, mut pending) = (Vec::new(), 0);

    while lines.read_line(&mut replies)? {
        if !setup.delay.is_zero() && setup.cutoff.wait_timeout(setup.delay) {
            bail!("cut off during a request's work (the server is stopping)");
        }
        pending += 1;
        // With no work to wait for, the next request may already be
        // buffered (a client that pipelines): answer it in the same write.
        // Otherwise this answer goes out now; nobody waits for the last one.
        let more_now = setup.delay.is_zero() && lines.has_line() && replies.len() < BATCH;
        let stopping = setup.stop.is_stopped();
        if !more_now || stopping {
            // write_all is the book's sendall(): write() may take part only.
            let stream = lines.get_mut();
            stream.write_all(&replies).context("writing replies")?;
            replies.clear();
            replies.shrink_to(KEEP);
            *answered += std::mem::take(&mut pending);
        }
        if stopping {
            // A stop ends a burst of pipelined requests here. The answers
            // may still sit in the kernel (a client that reads slowly, a
            // lossy link): until the cutoff, let the client have them all
            // before we close, or a reset would throw them away.
            let stream = lines.get_mut();
            let undelivered = stream.finish().context("delivering the last answers")?;
            if undelivered > 0 {
                bail!(
                    "the server is stopping: {undelivered} bytes of answers not delivered by the cutoff"
                );
            }
            return Ok(Ended::Stopping);
        }
    }
    // EOF: the client is done. Our half-close tells it we are done too.
    let stream = lines.get_mut();
    stream
        .shutdown(Shutdown::Write)
        .context("shutting down the write side")?;
    Ok(Ended::ByClient)
}
