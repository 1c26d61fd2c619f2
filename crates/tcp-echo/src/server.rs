//! The echo server: accept one client, echo its bytes until it half-closes,
//! close, accept the next. One client at a time, on purpose: while one
//! client is connected, the next waits in the kernel's accept queue.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result};
use common::args::seconds;
use common::endpoint::{Endpoint, announce, listen_tcp};
use common::guard::{Guarded, Limits};
use common::stop::Stop;
use common::{log, narrate};

#[derive(clap::Args)]
pub struct ServerArgs {
    #[command(flatten)]
    endpoint: Endpoint<7000>,
    /// Drop a client that sends nothing (or reads nothing) for this long;
    /// a one-client-at-a-time server is otherwise frozen by one idle client.
    #[arg(long, default_value = "30", value_name = "SECS", value_parser = seconds)]
    idle_timeout: Duration,
    /// Close any connection after this long, however busy: a client that
    /// trickles a byte a second is never idle, yet holds a one-at-a-time
    /// server (and everyone waiting behind it) for as long as it likes.
    #[arg(long, default_value = "120", value_name = "SECS", value_parser = seconds)]
    max_connection_secs: Duration,
}

pub fn run(args: &ServerArgs) -> Result<()> {
    let stop = Stop::from_signals()?;
    let addr = args.endpoint.resolve()?[0];
    let listener = listen_tcp(addr, 128)?;
    let local = listener
        .local_addr()
        .context("reading the listener's address")?;
    announce(local)?;
    let limits = Limits {
        idle: args.idle_timeout,
        lifetime: args.max_connection_secs,
    };

    let (mut clients, mut bytes) = (0u64, 0u64);
    // stop.incoming() is accept() in a loop that ends once Ctrl-C is pressed;
    // how it handles each accept error is explained in common/src/stop.rs.
    for conn in stop.incoming(&listener) {
        let (stream, peer) = conn?;
        log!("{peer}: connected");
        clients += 1;
        let mut echoed = 0;
        let served = serve(stream, limits, &stop, &mut echoed);
        // serve() owned the stream; it is closed now, whatever happened.
        narrate!("close()");
        // Counted however the connection ended: the summary tells the truth.
        bytes += echoed;
        match served {
            Ok(()) => log!("{peer}: echoed {echoed} bytes, closed"),
            // A reset, a vanished or stuck client ends its connection only;
            // the server logs why and goes back to accept().
            Err(e) => log!("{peer}: connection ended after echoing {echoed} bytes: {e:#}"),
        }
    }
    let plural = if clients == 1 { "" } else { "s" };
    log!("stopped: served {clients} client{plural}, echoed {bytes} bytes");
    Ok(())
}

/// Echoes until the client half-closes, then closes our side too, counting
/// the bytes in `echoed` (an error may end the loop half-way). This is the
/// bare loop of `examples/tcp-echo-bare.rs`, run on a [`Guarded`] stream:
/// the guard, not this loop, ends a connection that is idle, too long, or
/// outlived a stop.
fn serve(stream: TcpStream, limits: Limits, stop: &Stop, echoed: &mut u64) -> Result<()> {
    // Each echo is a small write the client is waiting for. Nagle's algorithm
    // would hold a small write back until the previous one is ACKed, and with
    // the client's delayed ACKs that costs up to 40 ms per round trip.
    stream.set_nodelay(true).context("setting TCP_NODELAY")?;
    let mut stream = Guarded::new(stream, stop, limits).context("setting the socket's timeouts")?;

    // 64 KiB: big enough to move a bulk stream in few syscalls, small enough
    // for the stack. The read size does not have to match the client's writes:
    // TCP is a byte stream and may split or join them as it likes.
    let mut buf = [0u8; 64 * 1024];
    loop {
        // 0 bytes means EOF: the client called shutdown(Write) or close().
        let n = stream.read(&mut buf).context("reading from the client")?;
        if n == 0 {
            break;
        }
        // write_all is the book's `sendall()`: write may take fewer bytes than
        // offered (the send buffer is full because the client reads slowly),
        // so it loops until every byte is sent.
        stream
            .write_all(&buf[..n])
            .context("writing to the client")?;
        *echoed += n as u64;
    }
    // Half-close our side: the client's read sees EOF after the last echo.
    stream
        .shutdown(Shutdown::Write)
        .context("shutting down the write side")
}
