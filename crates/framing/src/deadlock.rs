//! The TCP deadlock (the book's tcp_deadlock.py). The upper-server reads
//! 1024-byte chunks and writes each back upper-cased. A client that sends
//! everything before reading anything works for small inputs; past what
//! the socket buffers on both sides can hold, it stops forever:
//!
//! ```text
//!  client send buf ─▶ server recv buf   server: blocked in send(), so it
//!  client recv buf ◀─ server send buf   no longer reads; client: blocked in
//!  (all four full)                       send(), so it never gets to read.
//! ```
//!
//! Our client notices that nothing moved for `--stall-secs`, explains, and
//! exits 1. `--fix` reads on a second thread while the main thread writes.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use common::args::seconds;
use common::endpoint::{Endpoint, announce, connect_tcp, listen_tcp};
use common::guard::{Guarded, Limits};
use common::stop::Stop;
use common::{log, narrate};

/// The book's text, sent over and over.
const PHRASE: &[u8] = b"capitalize this!";

#[derive(clap::Args)]
pub struct UpperServerArgs {
    #[command(flatten)]
    endpoint: Endpoint<7003>,
    /// Drop a client that makes no progress (reading or writing) for this long.
    #[arg(long, default_value = "30", value_name = "SECS", value_parser = seconds)]
    idle_timeout: Duration,
    /// Close any connection after this long, however busy: a client that
    /// trickles a byte a second is never idle, yet holds this one-at-a-time
    /// server (and everyone waiting behind it) for as long as it likes.
    #[arg(long, default_value = "120", value_name = "SECS", value_parser = seconds)]
    max_connection_secs: Duration,
}

#[derive(clap::Args)]
pub struct DeadlockClientArgs {
    #[command(flatten)]
    endpoint: Endpoint<7003>,
    /// How many bytes of `capitalize this!` to send.
    #[arg(long, default_value_t = 16_000_000)]
    bytes: u64,
    /// Read the replies on a second thread while sending: no deadlock.
    #[arg(long)]
    fix: bool,
    /// Call it a deadlock when nothing moves for this many seconds.
    #[arg(long, default_value = "2", value_name = "SECS", value_parser = seconds)]
    stall_secs: Duration,
}

pub fn upper_server(args: &UpperServerArgs) -> Result<()> {
    let stop = Stop::from_signals()?;
    let listener = listen_tcp(args.endpoint.resolve()?[0], 128)?;
    let local = listener
        .local_addr()
        .context("reading the listener's address")?;
    announce(local)?;
    let limits = Limits {
        idle: args.idle_timeout,
        lifetime: args.max_connection_secs,
    };
    let mut clients = 0u64;
    for conn in stop.incoming(&listener) {
        let (stream, peer) = conn?;
        clients += 1;
        let upper_cased = Guarded::new(stream, &stop, limits)
            .context("setting a write timeout")
            .and_then(upper_case_until_eof);
        match upper_cased {
            Ok(bytes) => log!("{peer}: upper-cased {bytes} bytes, closed"),
            // Typically: the deadlocked client gave up and closed while we
            // were blocked writing to it (broken pipe / reset).
            Err(e) => log!("{peer}: connection ended: {e:#}"),
        }
    }
    log!(
        "stopped: served {}",
        framing::escape::count(clients, "client")
    );
    Ok(())
}

/// Reads 1024-byte chunks and writes each back upper-cased, like the book.
/// The socket is guarded (common/src/guard.rs): each read and write ends on
/// a stop, an idle client or the connection's deadline, so neither a
/// client that streams without end nor one that never reads can hold it.
fn upper_case_until_eof(mut socket: Guarded) -> Result<u64> {
    let mut chunk = [0u8; 1024];
    let mut total = 0u64;
    loop {
        let n = socket.read(&mut chunk).context("reading")?;
        if n == 0 {
            break;
        }
        chunk[..n].make_ascii_uppercase();
        socket
            .write_all(&chunk[..n])
            .with_context(|| format!("writing back, after {total} bytes"))?;
        total += n as u64;
    }
    socket.shutdown(Shutdown::Write).context("half-closing")?;
    Ok(total)
}

/// The command that starts the server a deadlock-client needs.
pub fn server_command(args: &DeadlockClientArgs) -> String {
    match args.endpoint.port {
        7003 => "cargo run -p framing -- upper-server".to_string(),
        port => format!("cargo run -p framing -- upper-server --port {port}"),
    }
}

pub fn deadlock_client(args: &DeadlockClientArgs) -> Result<()> {
    let stall = args.stall_secs;
    let stream = connect_tcp(&args.endpoint.host, args.endpoint.port, stall)?;
    // These timeouts are the deadlock detector: a send() or recv() that
    // makes no progress at all for `stall` fails instead of blocking forever.
    stream
        .set_write_timeout(Some(stall))
        .context("setting the write timeout")?;
    stream
        .set_read_timeout(Some(stall))
        .context("setting the read timeout")?;
    let total = args.bytes;
    let received = if args.fix {
        // The fix: a second thread reads while this one writes, so the
        // server's replies always have somewhere to go.
        thread::scope(|scope| {
            let reader = scope.spawn(|| read_upper_cased(&stream, total));
            let sent = send_phrase(&stream, total);
            let received = reader
                .join()
                .map_err(|_| anyhow!("the reader thread panicked"))?;
            sent.map_err(|e| explain(e, args, received.as_ref().copied().unwrap_or(0)))?;
            received
        })?
    } else {
        // The book's mistake, on purpose: send everything, then read.
        send_phrase(&stream, total).map_err(|e| explain(e, args, 0))?;
        read_upper_cased(&stream, total)?
    };
    common::out!("sent {total} bytes, received {received} bytes back, all upper-cased")
}

/// Sends `total` bytes of PHRASE, then half-closes. On a stall, the error
/// says how many bytes got out.
fn send_phrase(mut stream: &TcpStream, total: u64) -> Result<(), Stalled> {
    let block: Vec<u8> = PHRASE.iter().copied().cycle().take(64 * 1024).collect();
    let mut sent = 0u64;
    while sent < total {
        // Keep the phrase aligned: start each write where the last one ended.
        let start = (sent % PHRASE.len() as u64) as usize;
        let len = ((total - sent) as usize).min(block.len() - PHRASE.len());
        match stream.write(&block[start..start + len]) {
            Ok(n) => sent += n as u64,
            // The write timeout fired: not a single byte moved for --stall-secs.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(Stalled { sent, error: None });
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Stalled {
                    sent,
                    error: Some(e),
                });
            }
        }
    }
    narrate!("sent {sent} bytes; shutdown(Write)");
    stream.shutdown(Shutdown::Write).map_err(|e| Stalled {
        sent,
        error: Some(e),
    })
}

/// Reads the reply to EOF, checking it is PHRASE upper-cased.
fn read_upper_cased(mut stream: &TcpStream, total: u64) -> Result<u64> {
    let upper = PHRASE.to_ascii_uppercase();
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = 0u64;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                bail!("no reply for the stall time after receiving {received} of {total} bytes")
            }
            Err(e) => return Err(e).context("reading the reply"),
        };
        for (i, &byte) in buf[..n].iter().enumerate() {
            if byte != upper[((received + i as u64) % PHRASE.len() as u64) as usize] {
                bail!(
                    "byte {} of the reply is not the upper-cased phrase",
                    received + i as u64
                );
            }
        }
        received += n as u64;
    }
    if received != total {
        bail!("the server closed after {received} of {total} bytes");
    }
    Ok(received)
}

/// A send that stopped: how far it got, and the error if not a stall.
struct Stalled {
    sent: u64,
    error: Option<io::Error>,
}

/// Turns a stalled send into the lesson: what happened and why.
fn explain(stalled: Stalled, args: &DeadlockClientArgs, received: u64) -> anyhow::Error {
    let Stalled { sent, error } = stalled;
    if let Some(error) = error {
        return anyhow::Error::new(error)
            .context(format!("sending, after {sent} of {} bytes", args.bytes));
    }
    anyhow!(
        "deadlock: no progress for {} s; sent {sent} of {} bytes, received {received}. \
         The server writes back everything it reads, but this client is not reading, so \
         our receive buffer and the server's send buffer filled up; the server blocked in \
         send() and stopped reading, so its receive buffer and our send buffer filled up \
         too. Both sides now wait in send() for the other to read. Run with --fix to read \
         while sending",
        args.stall_secs.as_secs_f64(),
        args.bytes,
    )
}
