//! The echo server: accept one client, echo its bytes until it half-closes,
//! close, accept the next. One client at a time, on purpose: while one
//! client is connected, the next waits in the kernel's accept queue.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use common::endpoint::{Endpoint, announce, listen_tcp};
use common::narrate;
use common::stop::Stop;

/// How often a blocked read or write wakes up to check for Ctrl-C.
const POLL: Duration = Duration::from_millis(100);

#[derive(clap::Args)]
pub struct ServerArgs {
    #[command(flatten)]
    endpoint: Endpoint<7000>,
    /// Drop a client that sends nothing (or reads nothing) for this long;
    /// a one-client-at-a-time server is otherwise frozen by one idle client.
    #[arg(long, default_value_t = 30, value_name = "SECS")]
    idle_timeout: u64,
    /// Close any connection after this long, however busy: a client that
    /// trickles a byte a second is never idle, yet holds a one-at-a-time
    /// server (and everyone waiting behind it) for as long as it likes.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    max_connection_secs: u64,
}

pub fn run(args: &ServerArgs) -> Result<()> {
    let stop = Stop::from_signals()?;
    let addr = args.endpoint.resolve()?[0];
    let listener = listen_tcp(addr, 128)?;
    let local = listener
        .local_addr()
        .context("reading the listener's address")?;
    // accept() ignores our stop flag; a self-connect on stop wakes it.
    stop.wake_accept_on_stop(local);
    announce(local)?;
    let idle = Duration::from_secs(args.idle_timeout);
    let max_connection = Duration::from_secs(args.max_connection_secs);

    let (mut clients, mut bytes) = (0u64, 0u64);
    // stop.accept() is accept() that returns None once Ctrl-C is pressed;
    // how it handles each accept error is explained in common/src/stop.rs.
    while let Some((stream, peer)) = stop.accept(&listener) {
        eprintln!("{peer}: connected");
        clients += 1;
        match serve(stream, peer, idle, max_connection, &stop) {
            Ok(echoed) => {
                bytes += echoed;
                eprintln!("{peer}: echoed {echoed} bytes, closed");
            }
            // A reset, a vanished or stuck client ends its connection only;
            // the server logs why and goes back to accept().
            Err(e) => eprintln!("{peer}: connection ended: {e:#}"),
        }
    }
    eprintln!("stopped: served {clients} clients, echoed {bytes} bytes");
    Ok(())
}

/// Echoes until the client half-closes, then closes our side too; returns
/// how many bytes it echoed.
fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    idle: Duration,
    max_connection: Duration,
    stop: &Stop,
) -> Result<u64> {
    // Each echo is a small write the client is waiting for. Nagle's algorithm
    // would hold a small write back until the previous one is ACKed, and with
    // the client's delayed ACKs that costs up to 40 ms per round trip.
    stream.set_nodelay(true).context("setting TCP_NODELAY")?;
    // Timeouts turn "blocked forever" into "wake up and check": every POLL we
    // look at the stop flag and at how long the client has been silent.
    stream
        .set_read_timeout(Some(POLL))
        .context("setting a read timeout")?;
    stream
        .set_write_timeout(Some(POLL))
        .context("setting a write timeout")?;

    // 64 KiB: big enough to move a bulk stream in few syscalls, small enough
    // for the stack. The read size does not have to match the client's writes:
    // TCP is a byte stream and may split or join them as it likes.
    let mut buf = [0u8; 64 * 1024];
    let mut echoed = 0u64;
    let started = Instant::now();
    let mut last_activity = started;
    loop {
        if started.elapsed() >= max_connection {
            bail!(
                "open for {} s (--max-connection-secs); others are waiting",
                max_connection.as_secs()
            );
        }
        match stream.read(&mut buf) {
            // 0 bytes means EOF: the client called shutdown(Write) or close().
            Ok(0) => {
                narrate!("recv() -> 0 bytes (EOF: {peer} is done sending)");
                break;
            }
            Ok(n) => {
                narrate!("recv() -> {n} bytes");
                send_all(&mut stream, &buf[..n], idle, stop)?;
                echoed += n as u64;
                last_activity = Instant::now();
            }
            // Our read timeout fired (Unix says WouldBlock, Windows TimedOut):
            // nothing arrived in POLL. Time to check the flag and the clock.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if stop.is_stopped() {
                    bail!("server stopping");
                }
                if last_activity.elapsed() >= idle {
                    bail!("idle for {} s (--idle-timeout)", idle.as_secs());
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // ConnectionReset and friends: the client vanished mid-stream.
            Err(e) => return Err(e).context("reading from the client"),
        }
    }
    // Half-close our side: the client's read sees EOF after the last echo.
    narrate!("shutdown(Write)");
    match stream.shutdown(Shutdown::Write) {
        // The client may already be fully gone; its data was all echoed.
        Err(e) if e.kind() == ErrorKind::NotConnected => {}
        other => other.context("shutting down the write side")?,
    }
    narrate!("close()");
    Ok(echoed)
}

/// Beej's `sendall`: `write` may take fewer bytes than offered (the socket's
/// send buffer is full because the client reads slowly), so loop until all
/// are sent. The write timeout lets us notice Ctrl-C, and a client that has
/// read nothing for `idle` is dropped instead of pinning the server forever.
fn send_all(stream: &mut TcpStream, mut data: &[u8], idle: Duration, stop: &Stop) -> Result<()> {
    let mut last_progress = Instant::now();
    while !data.is_empty() {
        match stream.write(data) {
            Ok(0) => bail!("the client stopped accepting data"),
            Ok(n) => {
                narrate!("send() -> {n} bytes");
                data = &data[n..];
                last_progress = Instant::now();
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if stop.is_stopped() {
                    bail!("server stopping with {} bytes unsent", data.len());
                }
                if last_progress.elapsed() >= idle {
                    bail!(
                        "client read nothing for {} s (--idle-timeout)",
                        idle.as_secs()
                    );
                }
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // BrokenPipe / ConnectionReset: the client closed while we wrote.
            Err(e) => return Err(e).context("writing to the client"),
        }
    }
    Ok(())
}
