//! The sending side: frame each message with the chosen strategy, send
//! them all, say "no more" the way the strategy says it, and wait for the
//! server to close, which tells us it took every message.

use std::io::{self, BufRead, BufWriter, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use common::endpoint::{Endpoint, connect_tcp};
use common::narrate;
use framing::codec::{self, Strategy};
use framing::escape::escape;

use crate::options::FramingArgs;

#[derive(clap::Args)]
pub struct ClientArgs {
    #[command(flatten)]
    endpoint: Endpoint<7003>,
    #[command(flatten)]
    framing: FramingArgs,
    /// Messages to send; with none, each line of stdin is one message
    /// (`fixed` sends one record: the first message, or `Hi there, server`).
    messages: Vec<String>,
    /// Give up when the server does not answer or close within this many seconds.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    timeout: u64,
}

pub fn run(args: &ClientArgs) -> Result<()> {
    let messages = messages(args)?;
    let framing = &args.framing;
    // Check every message before connecting: a message that cannot be
    // framed should fail here, not after half the others were sent.
    if framing.strategy == Strategy::Fixed && messages.len() > 1 {
        bail!("`fixed` sends one record; got {} messages", messages.len());
    }
    let timeout = Duration::from_secs(args.timeout);
    let stream = connect_tcp(&args.endpoint.host, args.endpoint.port, timeout)?;
    stream
        .set_read_timeout(Some(timeout))
        .context("setting the read timeout")?;
    stream
        .set_write_timeout(Some(timeout))
        .context("setting the write timeout")?;

    // Frames go into a BufWriter: many small frames leave in a few large
    // write() calls instead of two per frame (header, body).
    let mut writer = BufWriter::with_capacity(64 * 1024, &stream);
    for message in &messages {
        let sent = match framing.strategy {
            Strategy::Eof => codec::eof::write(&mut writer, message),
            Strategy::Fixed => codec::fixed::write(&mut writer, message, framing.size as usize),
            Strategy::Delimiter => {
                codec::delimiter::write(&mut writer, message, &framing.delimiter.0)
            }
            Strategy::Length => codec::length::write(&mut writer, message),
            Strategy::Netstring => codec::netstring::write(&mut writer, message),
        };
        sent.with_context(|| format!("sending {:?}", escape(message)))?;
    }
    if framing.strategy == Strategy::Length {
        codec::length::write_end(&mut writer).context("sending the zero-length end frame")?;
    }
    writer.flush().context("sending the messages")?;
    drop(writer);
    narrate!("sent {} messages", messages.len());

    if framing.strategy == Strategy::Fixed {
        return read_farewell(&stream, framing.size as usize);
    }
    // Everything is sent: half-close, then wait for the server's EOF.
    narrate!("shutdown(Write)");
    stream
        .shutdown(Shutdown::Write)
        .context("half-closing the connection")?;
    wait_for_close(&stream)
}

/// The messages from the command line, or else from stdin, one per line.
fn messages(args: &ClientArgs) -> Result<Vec<Vec<u8>>> {
    if !args.messages.is_empty() {
        return Ok(args
            .messages
            .iter()
            .map(|m| m.clone().into_bytes())
            .collect());
    }
    if args.framing.strategy == Strategy::Fixed {
        return Ok(vec![b"Hi there, server".to_vec()]);
    }
    let mut lines = Vec::new();
    for line in io::stdin().lock().split(b'\n') {
        lines.push(line.context("reading stdin")?);
    }
    Ok(lines)
}

/// `fixed`: the server answers with one record; print it.
fn read_farewell(stream: &TcpStream, size: usize) -> Result<()> {
    let mut reader = io::BufReader::new(stream);
    let Some(record) = codec::fixed::read(&mut reader, size).context("reading the reply record")?
    else {
        bail!("the server closed without replying");
    };
    let mut out = io::stdout().lock();
    writeln!(out, "reply: {}", escape(&record)).context("writing to stdout")?;
    Ok(())
}

/// Reads until the server closes; it should send nothing meanwhile.
fn wait_for_close(mut stream: &TcpStream) -> Result<()> {
    let mut extra = Vec::new();
    match stream.read_to_end(&mut extra) {
        Ok(_) if extra.is_empty() => {
            narrate!("recv() -> 0 bytes (EOF: the server took every message)");
            Ok(())
        }
        Ok(n) => bail!("the server sent {n} unexpected bytes"),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            bail!("the server did not close the connection within --timeout")
        }
        // A reset here usually means the server refused a frame (too long?)
        // and closed while our bytes were still unread: see its log.
        Err(e) => {
            Err(e).context("waiting for the server to close (did it refuse a frame? see its log)")
        }
    }
}
