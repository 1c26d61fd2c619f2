//! The echo client. It writes on one thread and reads on another, even for
//! a single short message. Why: if it wrote everything before reading, a
//! large enough message would fill the server's send buffer and our receive
//! buffer, the server would block writing its echo, stop reading, and both
//! sides would wait for each other forever (the framing lesson shows this
//! TCP deadlock). Reading while writing can never deadlock.

use std::io::{self, BufRead, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use common::endpoint::{Endpoint, connect_tcp};
use common::narrate;

#[derive(clap::Args)]
pub struct ClientArgs {
    #[command(flatten)]
    endpoint: Endpoint<7000>,
    /// Messages to send, each echoed on its own line; with none, stdin is
    /// sent line by line.
    messages: Vec<String>,
    /// Instead of messages, stream N bytes of a known pattern and verify
    /// every echoed byte; prints the throughput.
    #[arg(long, value_name = "N", conflicts_with = "messages")]
    bytes: Option<u64>,
    /// Give up when the server sends nothing for this many seconds.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    timeout: u64,
}

pub fn run(args: &ClientArgs) -> Result<()> {
    let timeout = Duration::from_secs(args.timeout);
    let (host, port) = (&args.endpoint.host, args.endpoint.port);
    let stream = connect_tcp(host, port, timeout)?;
    // Small messages go out at once instead of waiting for the previous ACK.
    stream.set_nodelay(true).context("setting TCP_NODELAY")?;
    // A server that accepts but never answers must not hang us forever.
    stream
        .set_read_timeout(Some(timeout))
        .context("setting a read timeout")?;
    stream
        .set_write_timeout(Some(timeout))
        .context("setting a write timeout")?;
    let local = stream.local_addr().context("reading our local address")?;
    let peer = stream.peer_addr().context("reading the server's address")?;
    narrate!("connected {local} -> {peer}");

    match args.bytes {
        Some(n) => stream_bytes(stream, n),
        None if args.messages.is_empty() => {
            // Each stdin line, newline included, is one message. Lines are read
            // on the writer thread, so typing and echoing interleave.
            echo_messages(stream, |send| {
                let mut stdin = io::stdin().lock();
                loop {
                    let mut line = Vec::new();
                    if stdin
                        .read_until(b'\n', &mut line)
                        .context("reading stdin")?
                        == 0
                    {
                        return Ok(()); // end of input
                    }
                    send(line)?;
                }
            })
        }
        None => {
            let messages: Vec<Vec<u8>> = args
                .messages
                .iter()
                .map(|m| m.clone().into_bytes())
                .collect();
            echo_messages(stream, move |send| messages.into_iter().try_for_each(send))
        }
    }
}

/// Sends each message that `produce` hands over on a writer thread, tells
/// the reader its length through a channel, and prints each echo as it
/// arrives. `produce` calls its argument once per message.
fn echo_messages<P>(stream: TcpStream, produce: P) -> Result<()>
where
    P: FnOnce(&mut dyn FnMut(Vec<u8>) -> Result<()>) -> Result<()> + Send,
{
    let mut writer = stream
        .try_clone()
        .context("cloning the socket for the writer thread")?;
    let (lengths, expected): (Sender<usize>, Receiver<usize>) = channel();
    thread::scope(|scope| {
        let sending = scope.spawn(move || -> Result<()> {
            produce(&mut |message| {
                // write_all is the sendall loop: write() may take only part.
                writer.write_all(&message).context("sending a message")?;
                narrate!("sendall({} bytes)", message.len());
                lengths
                    .send(message.len())
                    .map_err(|_| anyhow!("the reader thread ended"))
            })?;
            // Half-close: "no more data from me". The server echoes what is
            // left, sees EOF, and closes; we keep reading until then.
            narrate!("shutdown(Write)");
            writer
                .shutdown(Shutdown::Write)
                .context("half-closing the connection")
        });
        let reading = print_echoes(&stream, expected);
        if reading.is_err() {
            // Unblock a writer stuck on a peer that stopped reading.
            let _ = stream.shutdown(Shutdown::Both);
        }
        let sent = sending
            .join()
            .map_err(|_| anyhow!("the writer thread panicked"))?;
        reading.and(sent)
    })
}

/// Reads back exactly as many bytes as each message had, prints them, then
/// expects the server's EOF.
fn print_echoes(mut stream: &TcpStream, expected: Receiver<usize>) -> Result<()> {
    let mut out = io::stdout().lock();
    let mut echo = Vec::new();
    for length in expected {
        echo.resize(length, 0);
        // read_exact is recvall: TCP may deliver the echo in several pieces,
        // and a single read() would return just the first one.
        stream
            .read_exact(&mut echo)
            .map_err(describe_read_error)
            .context("reading an echo")?;
        narrate!("recv() -> {length} bytes (read_exact)");
        out.write_all(&echo).context("writing to stdout")?;
        if echo.last() != Some(&b'\n') {
            out.write_all(b"\n").context("writing to stdout")?;
        }
        out.flush().context("flushing stdout")?;
    }
    let mut extra = Vec::new();
    stream
        .read_to_end(&mut extra)
        .map_err(describe_read_error)
        .context("waiting for the server to close")?;
    narrate!("recv() -> 0 bytes (EOF: server closed)");
    if !extra.is_empty() {
        bail!("the server sent {} bytes more than we sent", extra.len());
    }
    narrate!("close()");
    Ok(())
}

/// Streams `total` bytes of a repeating 251-byte pattern on a writer thread
/// while this thread reads the echo back and checks every byte. 251 is prime,
/// so a lost, doubled or reordered chunk never lines up with the pattern.
fn stream_bytes(stream: TcpStream, total: u64) -> Result<()> {
    const CHUNK: usize = 64 * 1024;
    let pattern: Vec<u8> = (0..CHUNK + 251).map(|i| (i % 251) as u8).collect();
    let pattern_at = |offset: u64, len: usize| {
        let start = (offset % 251) as usize;
        &pattern[start..start + len]
    };
    let mut writer = stream
        .try_clone()
        .context("cloning the socket for the writer thread")?;
    let started = Instant::now();
    thread::scope(|scope| {
        let sending = scope.spawn(|| -> Result<()> {
            let mut sent = 0u64;
            while sent < total {
                let len = CHUNK.min((total - sent) as usize);
                writer
                    .write_all(pattern_at(sent, len))
                    .context("sending the stream")?;
                sent += len as u64;
            }
            narrate!("sent {sent} bytes; shutdown(Write)");
            writer
                .shutdown(Shutdown::Write)
                .context("half-closing the connection")
        });
        let received = verify_echo(&stream, total, |offset, len| pattern_at(offset, len));
        if received.is_err() {
            let _ = stream.shutdown(Shutdown::Both);
        }
        let sent = sending
            .join()
            .map_err(|_| anyhow!("the writer thread panicked"))?;
        let received = received?;
        sent?;
        let seconds = started.elapsed().as_secs_f64();
        common::out!(
            "echoed {received} bytes in {seconds:.3} s ({:.1} MB/s), every byte verified",
            received as f64 / seconds / 1e6
        )
    })
}

/// Reads until EOF, comparing each byte with what was sent at that offset.
fn verify_echo<'p>(
    mut stream: &TcpStream,
    total: u64,
    expected: impl Fn(u64, usize) -> &'p [u8],
) -> Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut received = 0u64;
    loop {
        let n = match stream.read(&mut buf) {
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
