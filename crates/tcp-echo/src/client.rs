//! The echo client. It writes on one thread and reads on another, even for
//! a single short message. Why: if it wrote everything before reading, a
//! large enough message would fill the server's send buffer and our receive
//! buffer, the server would block writing its echo, stop reading, and both
//! sides would wait for each other forever (the framing lesson shows this
//! TCP deadlock). Reading while writing can never deadlock.

use std::io::{self, BufRead, ErrorKind, IsTerminal, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use common::args::seconds;
use common::endpoint::{Endpoint, connect_tcp};
use common::{log, narrate};

use crate::traced::Traced;

#[derive(clap::Args)]
pub struct ClientArgs {
    #[command(flatten)]
    endpoint: Endpoint<7000>,
    /// Messages to send, each echoed on its own line; with none, stdin is
    /// sent line by line.
    messages: Vec<String>,
    /// Instead of messages, stream N bytes of a known pattern and verify
    /// every echoed byte; prints the throughput. It shows why the client
    /// writes on one thread and reads on another: N far beyond the socket
    /// buffers never deadlocks.
    #[arg(long, value_name = "N", conflicts_with = "messages")]
    bytes: Option<u64>,
    /// Give up when the server sends nothing for this many seconds.
    #[arg(long, default_value = "10", value_name = "SECS", value_parser = seconds)]
    timeout: Duration,
}

pub fn run(args: &ClientArgs) -> Result<()> {
    let (host, port) = (&args.endpoint.host, args.endpoint.port);
    // One descriptor, shared by the writer and the reader thread.
    let stream = Arc::new(connect_tcp(host, port, args.timeout)?);
    let result = talk(&stream, args);
    // The last holder closes it. A writer still waiting for a line on stdin
    // holds it until the process exits (and the kernel closes it), so the
    // close() is narrated only when it happens here.
    if let Ok(stream) = Arc::try_unwrap(stream) {
        drop(stream);
        narrate!("close()");
    }
    result
}

fn talk(stream: &Arc<TcpStream>, args: &ClientArgs) -> Result<()> {
    // Small messages go out at once instead of waiting for the previous ACK.
    stream.set_nodelay(true).context("setting TCP_NODELAY")?;
    narrate!("setsockopt(TCP_NODELAY, 1)");
    // A server that accepts but never answers (or never reads) must not
    // hang us forever: every recv and send gives up after --timeout.
    stream
        .set_read_timeout(Some(args.timeout))
        .context("setting a read timeout")?;
    narrate!("setsockopt(SO_RCVTIMEO, {:?})", args.timeout);
    stream
        .set_write_timeout(Some(args.timeout))
        .context("setting a write timeout")?;
    narrate!("setsockopt(SO_SNDTIMEO, {:?})", args.timeout);

    match args.bytes {
        Some(n) => stream_bytes(stream, n),
        None if args.messages.is_empty() => {
            // Someone at a terminal would otherwise see nothing happen.
            if io::stdin().is_terminal() {
                log!("connected; type lines to send, Ctrl-D to finish");
            }
            // Each stdin line, newline included, is one message; a line
            // longer than PIECE goes in pieces of PIECE, so memory stays
            // bounded whatever stdin holds (`cat /dev/zero`). Lines are read
            // on the writer thread, so typing and echoing interleave.
            echo_messages(stream, |send| {
                const PIECE: u64 = 64 * 1024;
                let mut stdin = io::stdin().lock();
                let mut ended_line = true;
                loop {
                    let mut piece = Vec::new();
                    let n = (&mut stdin)
                        .take(PIECE)
                        .read_until(b'\n', &mut piece)
                        .context("reading stdin")?;
                    if n == 0 {
                        break; // end of input
                    }
                    ended_line = piece.last() == Some(&b'\n');
                    send(piece, false)?;
                }
                // Input that ended mid-line: end the output's line too.
                if ended_line {
                    Ok(())
                } else {
                    send(Vec::new(), true)
                }
            })
        }
        None => {
            let messages: Vec<Vec<u8>> = args
                .messages
                .iter()
                .map(|m| m.clone().into_bytes())
                .collect();
            echo_messages(stream, move |send| {
                messages.into_iter().try_for_each(|message| {
                    // Each message's echo on its own line.
                    let newline = message.last() != Some(&b'\n');
                    send(message, newline)
                })
            })
        }
    }
}

/// What the writer tells the reader about each message it sent.
struct Sent {
    /// Read back exactly this many bytes...
    len: usize,
    /// ...then print a newline after them.
    newline: bool,
}

/// How many messages the writer may be ahead of the reader. Without a
/// bound, the notes would pile up as fast as the socket buffers take the
/// bytes: one-byte lines (`yes "" | client`) filled tens of megabytes of
/// receive buffers, and a note per byte. With it, a writer that is this far
/// ahead waits; the reader never waits for the writer, so this cannot
/// deadlock: every message it is told about has already been sent.
const AHEAD: usize = 1024;

/// Sends each message that `produce` hands over on a writer thread, tells
/// the reader its length through a channel, and prints each echo as it
/// arrives. `produce` calls its argument once per message, with whether
/// the echo needs a newline printed after it.
fn echo_messages<P>(stream: &Arc<TcpStream>, produce: P) -> Result<()>
where
    P: FnOnce(&mut dyn FnMut(Vec<u8>, bool) -> Result<()>) -> Result<()> + Send + 'static,
{
    let (sent_tx, sent_rx): (SyncSender<Sent>, Receiver<Sent>) = sync_channel(AHEAD);
    let sending = {
        let stream = Arc::clone(stream);
        thread::spawn(move || -> Result<()> {
            let stream = &*stream;
            let mut writer = Traced(stream);
            let sent = produce(&mut |message, newline| {
                // write_all is the sendall loop: write() may take only part.
                writer
                    .write_all(&message)
                    .map_err(describe_write_error)
                    .context("sending a message")?;
                let len = message.len();
                sent_tx
                    .send(Sent { len, newline })
                    .map_err(|_| anyhow!("the reader thread ended"))
            })
            .and_then(|()| half_close(stream));
            if sent.is_err() {
                // Unblock the reader: it would wait for echoes never sent.
                let _ = stream.shutdown(Shutdown::Both);
            }
            sent
        })
    };
    let reading = print_echoes(stream, sent_rx);
    if reading.is_err() {
        // Unblock a writer stuck on a peer that stopped reading (its write
        // fails now) or on a full channel (print_echoes dropped its end).
        let _ = stream.shutdown(Shutdown::Both);
        // A writer waiting for the next line on stdin cannot be woken: do
        // not wait for it, or a vanished server would be reported only
        // after one more line (a person at a terminal would see nothing).
        if !sending.is_finished() {
            return reading;
        }
    }
    let sent = sending
        .join()
        .map_err(|_| anyhow!("the writer thread panicked"))?;
    reading.and(sent)
}

/// Half-close: "no more data from me". The server echoes what is left,
/// sees EOF, and closes; we keep reading until then.
fn half_close(stream: &TcpStream) -> Result<()> {
    stream
        .shutdown(Shutdown::Write)
        .context("half-closing the connection")?;
    narrate!("shutdown(Write)");
    Ok(())
}

/// Reads back exactly as many bytes as each message had, prints them, then
/// expects the server's EOF.
fn print_echoes(stream: &TcpStream, expected: Receiver<Sent>) -> Result<()> {
    let mut reader = Traced(stream);
    let mut out = io::stdout().lock();
    let mut echo = Vec::new();
    for Sent { len, newline } in expected {
        echo.resize(len, 0);
        // read_exact is recvall: TCP may deliver the echo in several pieces,
        // and a single read() would return just the first one.
        reader
            .read_exact(&mut echo)
            .map_err(describe_read_error)
            .context("reading an echo")?;
        out.write_all(&echo).context("writing to stdout")?;
        if newline {
            out.write_all(b"\n").context("writing to stdout")?;
        }
        out.flush().context("writing to stdout")?;
    }
    // Everything came back; now only the server's EOF may follow. A small
    // buffer: a server that sends more than it was sent is wrong, however
    // much it sends, and we need not hold any of it.
    let mut extra = [0u8; 64];
    loop {
        match reader.read(&mut extra) {
            Ok(0) => return Ok(()),
            Ok(n) => bail!("the server sent {n} bytes more than we sent"),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(describe_read_error(e)).context("waiting for the server to close");
            }
        }
    }
}

/// Streams `total` bytes of a repeating 251-byte pattern on a writer thread
/// while this thread reads the echo back and checks every byte. 251 is prime,
/// so a lost, doubled or reordered chunk never lines up with the pattern.
fn stream_bytes(stream: &TcpStream, total: u64) -> Result<()> {
    const CHUNK: usize = 64 * 1024;
    let pattern: Vec<u8> = (0..CHUNK + 251).map(|i| (i % 251) as u8).collect();
    let pattern_at = |offset: u64, len: usize| {
        let start = (offset % 251) as usize;
        &pattern[start..start + len]
    };
    let started = Instant::now();
    thread::scope(|scope| {
        let sending = scope.spawn(|| -> Result<()> {
            let mut writer = Traced(stream);
            let mut sent = 0u64;
            while sent < total {
                let len = CHUNK.min((total - sent) as usize);
                if let Err(e) = writer.write_all(pattern_at(sent, len)) {
                    let _ = stream.shutdown(Shutdown::Both);
                    return Err(describe_write_error(e)).context("sending the stream");
                }
                sent += len as u64;
            }
            half_close(stream)
        });
        let received = verify_echo(stream, total, |offset, len| pattern_at(offset, len));
        if received.is_err() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let sent = sending
            .join()
            .map_err(|_| anyhow!("the writer thread panicked"))?;
        let received = received?;
        sent?;
        // At least a nanosecond: `--bytes 0` must not divide by zero.
        let seconds = started.elapsed().as_secs_f64().max(1e-9);
        common::out!(
            "echoed {received} bytes in {seconds:.3} s ({:.1} MB/s), every byte verified",
            received as f64 / seconds / 1e6
        )
    })
}

/// Reads until EOF, comparing each byte with what was sent at that offset.
fn verify_echo<'p>(
    stream: &TcpStream,
    total: u64,
    expected: impl Fn(u64, usize) -> &'p [u8],
) -> Result<u64> {
    let mut reader = Traced(stream);
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(describe_read_error(e)).context("reading the echo"),
        };
        if received + n as u64 > total {
            bail!("the server sent more than the {total} bytes we sent");
        }
        if buf[..n] != *expected(received, n) {
            let bad = buf[..n]
                .iter()
                .zip(expected(received, n))
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            bail!(
                "echo differs from what we sent at byte {}",
                received + bad as u64
            );
        }
        received += n as u64;
    }
    if received != total {
        bail!("the server closed after echoing {received} of {total} bytes");
    }
    Ok(received)
}

/// A read timeout surfaces as WouldBlock on Unix, which reads like a bug;
/// say what it means instead.
fn describe_read_error(e: io::Error) -> io::Error {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => io::Error::new(
            ErrorKind::TimedOut,
            "the server sent nothing before --timeout",
        ),
        ErrorKind::UnexpectedEof => io::Error::new(
            ErrorKind::UnexpectedEof,
            "the server closed before echoing everything",
        ),
        _ => e,
    }
}

/// The same for a write: the send buffer stayed full for --timeout.
fn describe_write_error(e: io::Error) -> io::Error {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => io::Error::new(
            ErrorKind::TimedOut,
            "the server took nothing before --timeout (it is not reading)",
        ),
        _ => e,
    }
}
