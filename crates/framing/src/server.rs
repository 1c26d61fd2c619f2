//! The receiving side: accept clients one after another and print every
//! message they send, decoded with the chosen strategy, as
//! `message: TEXT`. A bad frame ends that client's connection with a
//! logged reason; the next client is served as usual.

use std::cell::RefCell;
use std::io::{BufReader, BufWriter, ErrorKind, Read, StdoutLock, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::endpoint::{Endpoint, announce, listen_tcp};
use common::log;
use common::narrate;
use common::stop::Stop;
use framing::codec::{self, Strategy};
use framing::escape::escape;

use crate::options::FramingArgs;
use crate::patient::Patient;

/// The book's tcp_sixteen.py server answers every record with this.
pub const FAREWELL: &[u8] = b"Farewell, client";

/// 64 KiB: one read() brings in thousands of small frames, which the
/// codecs then take from memory. Unbuffered, a 16-byte length frame costs
/// two read() calls (header, body); buffered, a small fraction of one.
const READ_BUFFER: usize = 64 * 1024;

#[derive(clap::Args)]
pub struct ServerArgs {
    #[command(flatten)]
    endpoint: Endpoint<7003>,
    #[command(flatten)]
    framing: FramingArgs,
    /// Drop a client that makes no progress for this long.
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,
    /// Close any connection after this long, however busy: a client that
    /// trickles a byte a second is never idle, yet holds this one-at-a-time
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
    announce(local)?;
    let idle = Duration::from_secs(args.idle_timeout);
    let max_connection = Duration::from_secs(args.max_connection_secs);
    let (mut clients, mut messages) = (0u64, 0u64);
    for conn in stop.incoming(&listener) {
        let (stream, peer) = conn?;
        clients += 1;
        let deadline = Instant::now() + max_connection;
        match serve(&stream, &args.framing, idle, deadline, &stop) {
            Ok(count) => {
                messages += count;
                log!("{peer}: {count} messages, closed");
            }
            // A bad frame, an oversized length, EOF inside a frame, a reset:
            // this client is done; the server goes on to the next one.
            Err(e) => log!("{peer}: connection ended: {e:#}"),
        }
    }
    log!("stopped: served {clients} clients, {messages} messages");
    Ok(())
}

/// Decodes and prints every message of one client; returns how many.
fn serve(
    stream: &TcpStream,
    framing: &FramingArgs,
    idle: Duration,
    deadline: Instant,
    stop: &Stop,
) -> Result<u64> {
    // Decoded messages go to stdout through our own buffer, so a burst of
    // small frames costs one write(), not one per message (stdout alone
    // writes at every newline). That buffer is flushed just before each
    // read() from the socket, the moment we might block: no printed
    // message ever waits for the client's next bytes.
    let out = RefCell::new(BufWriter::new(std::io::stdout().lock()));
    let socket = FlushFirst {
        socket: Patient::new(stream, stop, idle, deadline)?,
        out: &out,
    };
    let mut reader = BufReader::with_capacity(READ_BUFFER, socket);
    let mut count = 0u64;
    let mut print = |message: &[u8]| -> Result<()> {
        count += 1;
        writeln!(out.borrow_mut(), "message: {}", escape(message)).context("writing to stdout")
    };
    match framing.strategy {
        Strategy::Eof => {
            // Nothing to say to this client: close our direction at once,
            // so it knows not to wait for a reply. Then read until its EOF.
            narrate!("shutdown(Write)");
            stream.shutdown(Shutdown::Write).context("half-closing")?;
            let message =
                codec::eof::read(&mut reader, framing.max_frame).context("reading to EOF")?;
            narrate!("recv() -> 0 bytes (EOF)");
            print(&message)?;
        }
        Strategy::Fixed => {
            let size = framing.size as usize;
            let Some(record) = codec::fixed::read(&mut reader, size).context("reading a record")?
            else {
                anyhow::bail!("closed before sending a record");
            };
            print(&record)?;
            let mut farewell = FAREWELL.to_vec();
            farewell.resize(size, b' ');
            let mut writer = Patient::new(stream, stop, idle, deadline)?;
            codec::fixed::write(&mut writer, &farewell, size)
                .context("sending the farewell record")?;
            narrate!("sendall({size} bytes)");
        }
        Strategy::Delimiter => {
            while let Some(message) =
                codec::delimiter::read(&mut reader, &framing.delimiter.0, framing.max_len)
                    .context("reading a delimited message")?
            {
                print(&message)?;
            }
        }
        Strategy::Length => {
            while let Some(message) = codec::length::read(&mut reader, framing.max_frame)
                .context("reading a length-prefixed frame")?
            {
                print(&message)?;
            }
        }
        Strategy::Netstring => {
            while let Some(message) = codec::netstring::read(&mut reader, framing.max_frame)
                .context("reading a netstring")?
            {
                print(&message)?;
            }
        }
    }
    // The conversation ended cleanly: close our side, so the client's
    // final read sees EOF and knows every message was taken.
    narrate!("shutdown(Write); close()");
    match stream.shutdown(Shutdown::Write) {
        Err(e) if e.kind() == ErrorKind::NotConnected => {}
        other => other.context("closing")?,
    }
    out.borrow_mut().flush().context("flushing stdout")?;
    Ok(count)
}

/// The socket reader, which first flushes the printed messages: see
/// `serve`. (`read` is only called when the `BufReader` above it has run
/// out of bytes, so this is once per 64 KiB, not once per message.)
struct FlushFirst<'a> {
    socket: Patient<'a>,
    out: &'a RefCell<BufWriter<StdoutLock<'static>>>,
}

impl Read for FlushFirst<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.out.borrow_mut().flush()?;
        self.socket.read(buf)
    }
}
