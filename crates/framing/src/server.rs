//! The receiving side: accept clients one after another and print every
//! message they send, decoded with the chosen strategy, as
//! `message: TEXT`. `converse` is the whole idea: a codec's `read` in a
//! loop. Underneath it, the socket is a `Guarded` stream (common/src/
//! guard.rs): every wait there ends on Ctrl-C, an idle client or the
//! connection's deadline, so the loop here needs no timeouts of its own.
//!
//! A bad frame ends that client's connection with a logged reason and a
//! reset, so its sender learns it was refused; the next client is served
//! as usual. If our own stdout fails, printing is this server's whole job:
//! it stops with that error instead of telling clients all is well.

use std::io::{self, BufReader, BufWriter, Stdout, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use common::args::seconds;
use common::endpoint::{Endpoint, announce, listen_tcp};
use common::guard::{Guarded, Limits};
use common::stop::Stop;
use common::{log, narrate, out};
use framing::codec::{self, Strategy};
use framing::escape::{count, escape};

use crate::options::FramingArgs;

/// The book's tcp_sixteen.py server answers every record with this.
pub const FAREWELL: &[u8] = b"Farewell, client";

/// 64 KiB: one recv() brings in thousands of small frames, which the
/// codecs then take from memory. Unbuffered, a 16-byte length frame costs
/// two recv() calls (header, body); buffered, a small fraction of one.
const READ_BUFFER: usize = 64 * 1024;

#[derive(clap::Args)]
pub struct ServerArgs {
    #[command(flatten)]
    endpoint: Endpoint<7003>,
    #[command(flatten)]
    framing: FramingArgs,
    /// Drop a client that makes no progress for this long.
    #[arg(long, default_value = "30", value_name = "SECS", value_parser = seconds)]
    idle_timeout: Duration,
    /// Close any connection after this long, however busy: a client that
    /// trickles a byte a second is never idle, yet holds this one-at-a-time
    /// server (and everyone waiting behind it) for as long as it likes.
    #[arg(long, default_value = "120", value_name = "SECS", value_parser = seconds)]
    max_connection_secs: Duration,
    /// For `make bench` only: collect the printed lines in a 64 KiB buffer,
    /// written when it fills and when a client leaves (a few write() calls
    /// per 20 000 small frames instead of one each). Messages may then
    /// show up late, so the lesson does not do it by default.
    #[arg(long)]
    batch_output: bool,
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
    let mut output = Output::new(args.batch_output);
    let mut clients = 0u64;
    for conn in stop.incoming(&listener) {
        let (stream, peer) = conn?;
        clients += 1;
        let before = output.printed;
        match serve(stream, &args.framing, limits, &stop, &mut output) {
            Ok(printed) => log!("{peer}: {}, closed", count(printed, "message")),
            // Our stdout is closed or failing: nobody sees what we print,
            // and carrying on would tell the next clients all is well. Not
            // the client's fault, so no "connection ended" line blaming it.
            Err(e) if output.failed => return Err(e),
            // A bad frame, an oversized length, EOF inside a frame, a reset,
            // a stop: this client is done; the server goes on to the next.
            // The log says how far it got: its client cannot know.
            Err(e) => match output.printed - before {
                0 => log!("{peer}: connection ended: {e:#}"),
                n => log!(
                    "{peer}: connection ended after {}: {e:#}",
                    count(n, "message")
                ),
            },
        }
    }
    output.flush()?;
    log!(
        "stopped: served {}, {}",
        count(clients, "client"),
        count(output.printed, "message")
    );
    Ok(())
}

/// One client, start to end; returns how many messages it sent.
fn serve(
    stream: TcpStream,
    framing: &FramingArgs,
    limits: Limits,
    stop: &Stop,
    output: &mut Output,
) -> Result<u64> {
    let socket = Guarded::new(stream, stop, limits).context("setting a write timeout")?;
    let mut conn = BufReader::with_capacity(READ_BUFFER, socket);
    let result = converse(&mut conn, framing, output);
    if result.is_err() {
        abort(conn.get_ref().get_ref());
    } else {
        narrate!("close()");
    }
    result
}

/// The conversation with one client, as the book's servers have it. The
/// codecs read from `conn`, a 64 KiB buffer over the guarded socket.
fn converse(
    conn: &mut BufReader<Guarded>,
    framing: &FramingArgs,
    output: &mut Output,
) -> Result<u64> {
    let mut printed = 0u64;
    match framing.strategy {
        Strategy::Eof => {
            // Nothing to say to this client: close our direction at once,
            // so it knows not to wait for a reply (unless it wants an ack).
            if !framing.ack {
                conn.get_ref()
                    .shutdown(Shutdown::Write)
                    .context("half-closing")?;
            }
            let message = codec::eof::read(conn, framing.max_frame).context("reading to EOF")?;
            output.print(&message)?;
            printed += 1;
        }
        Strategy::Fixed => {
            let size = framing.size as usize;
            let Some(record) = codec::fixed::read(conn, size).context("reading a record")? else {
                bail!("closed before sending a record");
            };
            output.print(&record)?;
            printed += 1;
            output.flush()?;
            // The book's reply, sent once the record is printed: for this
            // strategy it is the acknowledgement.
            let mut farewell = FAREWELL.to_vec();
            farewell.resize(size, b' ');
            codec::fixed::write(conn.get_mut(), &farewell, size)
                .context("sending the farewell record")?;
        }
        Strategy::Delimiter => {
            let delimiter = &framing.delimiter.bytes;
            while let Some(message) = codec::delimiter::read(conn, delimiter, framing.max_len)
                .context("reading a delimited message")?
            {
                output.print(&message)?;
                printed += 1;
                narrate_buffered(conn);
            }
        }
        Strategy::Length => {
            while let Some(message) = codec::length::read(conn, framing.max_frame)
                .context("reading a length-prefixed frame")?
            {
                output.print(&message)?;
                printed += 1;
                narrate_buffered(conn);
            }
        }
        Strategy::Netstring => {
            while let Some(message) =
                codec::netstring::read(conn, framing.max_frame).context("reading a netstring")?
            {
                output.print(&message)?;
                printed += 1;
                narrate_buffered(conn);
            }
        }
    }
    output.flush()?;
    // --ack: every message is printed; say so, in the client's framing.
    if framing.ack && framing.strategy != Strategy::Fixed {
        let ack = format!("ack {printed}");
        framing
            .write(conn.get_mut(), ack.as_bytes())
            .context("sending the acknowledgement")?;
    }
    // The conversation ended cleanly: close our side, so the client's
    // final read sees EOF (a FIN), not the reset of a refusal.
    if framing.ack || framing.strategy != Strategy::Eof {
        conn.get_ref()
            .shutdown(Shutdown::Write)
            .context("half-closing")?;
    }
    Ok(printed)
}

/// `--trace`: bytes the next message can be taken from without a recv().
fn narrate_buffered(conn: &BufReader<Guarded>) {
    let left = conn.buffer().len();
    if left > 0 {
        narrate!("buffered: {left} bytes (no recv() needed for them)");
    }
}

/// Ends a refused connection with a reset (RST), not a clean close (FIN).
/// Its bytes were already in our buffer, so a plain close would send a
/// FIN, and the client, reading that EOF, would believe every message was
/// taken. SO_LINGER with a zero timeout makes close() send RST instead.
fn abort(stream: &TcpStream) {
    match socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO)) {
        Ok(()) => narrate!("setsockopt(SO_LINGER, 0); close() -> RST"),
        // The connection is already gone (the client reset it first).
        Err(e) => log!("resetting the connection: {e}"),
    }
}

/// Where decoded messages go: stdout, the lesson's output.
struct Output {
    /// `--batch-output` (for `make bench`): lines wait here.
    batch: Option<BufWriter<Stdout>>,
    /// Set once a write to stdout failed: the server must stop.
    failed: bool,
    /// Messages printed since the server started.
    printed: u64,
}

impl Output {
    fn new(batch: bool) -> Self {
        let batch = batch.then(|| BufWriter::with_capacity(64 * 1024, io::stdout()));
        Output {
            batch,
            failed: false,
            printed: 0,
        }
    }

    /// One `message: TEXT` line, control characters escaped.
    fn print(&mut self, message: &[u8]) -> Result<()> {
        let result = match &mut self.batch {
            None => out!("message: {}", escape(message)),
            Some(lines) => {
                writeln!(lines, "message: {}", escape(message)).context("writing to stdout")
            }
        };
        self.failed |= result.is_err();
        self.printed += u64::from(result.is_ok());
        result
    }

    /// Writes out what `--batch-output` holds back.
    fn flush(&mut self) -> Result<()> {
        let Some(lines) = &mut self.batch else {
            return Ok(());
        };
        let result = lines.flush().context("writing to stdout");
        self.failed |= result.is_err();
        result
    }
}
