//! The sending side: frame each message with the chosen strategy, send
//! them, say "no more" the way the strategy says it, then learn what we can
//! about their fate. Without an acknowledgement that is little:
//!
//! - `write()` returned: our kernel has the bytes. Nothing more.
//! - The server reset the connection (RST): it refused a message or
//!   failed. How many it printed before that, we cannot tell.
//! - The server closed cleanly (EOF) after our last byte: it read every
//!   byte and refused none. That it printed them is its promise, not ours
//!   to check. (`eof`: its server closes its side at the start, so its
//!   EOF tells us nothing at all.)
//!
//! `--ack` on both sides asks the server to answer `ack N` once it printed
//! N messages: then the client knows. Every failure after connecting
//! resets the connection, so the server never takes a half-sent
//! conversation for a complete one.

use std::io::{self, BufRead, BufReader, BufWriter, ErrorKind, IsTerminal, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use common::args::seconds;
use common::endpoint::{Endpoint, connect_tcp};
use common::{log, narrate, out};
use framing::codec::{self, Strategy};
use framing::escape::{count, escape, quote};

use crate::options::FramingArgs;

/// How much of a message an error line quotes.
const QUOTED: usize = 40;

/// What `fixed` sends when given no message: the book's tcp_sixteen.py.
const HI: &[u8] = b"Hi there, server";

#[derive(clap::Args)]
pub struct ClientArgs {
    #[command(flatten)]
    pub endpoint: Endpoint<7003>,
    #[command(flatten)]
    pub framing: FramingArgs,
    /// Messages to send; with none, each line of stdin is one message, sent
    /// as it is read (`eof`: stdin as it is; `fixed` sends one record: the
    /// first message, or `Hi there, server`).
    messages: Vec<String>,
    /// Give up when the server does not take, answer or close within this
    /// many seconds.
    #[arg(long, default_value = "10", value_name = "SECS", value_parser = seconds)]
    timeout: Duration,
}

pub fn run(args: &ClientArgs) -> Result<()> {
    let framing = &args.framing;
    let mut messages: Vec<&[u8]> = args.messages.iter().map(|m| m.as_bytes()).collect();
    if framing.strategy == Strategy::Fixed && messages.is_empty() {
        messages.push(HI);
    }
    // Check every message of the command line before connecting: one that
    // cannot be sent should fail here, not after the others were sent.
    if framing.strategy == Strategy::Fixed && messages.len() > 1 {
        bail!("`fixed` sends one record; got {} messages", messages.len());
    }
    for (i, message) in messages.iter().enumerate() {
        check(framing, &format!("message {}", i + 1), message)?;
    }
    if framing.strategy == Strategy::Eof {
        let total = messages.iter().map(|m| m.len()).sum::<usize>();
        check_size(framing, "the messages together", total)?;
    }
    if messages.is_empty() && io::stdin().is_terminal() {
        log!("reading messages from stdin, one per line; Ctrl-D ends them");
    }

    let stream = connect_tcp(&args.endpoint.host, args.endpoint.port, args.timeout)?;
    stream
        .set_read_timeout(Some(args.timeout))
        .context("setting the read timeout")?;
    stream
        .set_write_timeout(Some(args.timeout))
        .context("setting the write timeout")?;
    let result = talk(&stream, framing, &messages);
    if result.is_err() {
        abort(&stream);
    }
    result
}

/// Sends every message, ends the conversation, and waits for the verdict.
fn talk(stream: &TcpStream, framing: &FramingArgs, messages: &[&[u8]]) -> Result<()> {
    // Frames go into a BufWriter: many small frames leave in a few large
    // write() calls instead of two per frame (header, body).
    let mut writer = BufWriter::with_capacity(64 * 1024, stream);
    let sent = if messages.is_empty() {
        send_stdin(&mut writer, framing)?
    } else {
        for (i, message) in messages.iter().enumerate() {
            send(&mut writer, framing, &format!("message {}", i + 1), message)?;
        }
        // eof: the whole stream is one message, however many we wrote.
        match framing.strategy {
            Strategy::Eof => 1,
            _ => messages.len(),
        }
    };
    if framing.strategy == Strategy::Length {
        codec::length::write_end(&mut writer).context("sending the zero-length end frame")?;
    }
    writer
        .flush()
        .map_err(|e| refused_while_sending(e, "the last messages"))?;
    drop(writer);
    narrate!("{} handed to the kernel", count(sent as u64, "message"));

    // Everything is sent: half-close, then hear what the server says.
    match stream.shutdown(Shutdown::Write) {
        Ok(()) => narrate!("shutdown(Write)"),
        // ENOTCONN: the server's reset is here already (a clean close by
        // the server would still let us half-close). A read reports it.
        Err(e) if e.kind() == ErrorKind::NotConnected => {
            let reset = (&*stream).read(&mut [0u8; 1]).err();
            let reset = reset.unwrap_or_else(|| ErrorKind::ConnectionReset.into());
            return Err(verdict_error(reset, sent));
        }
        Err(e) => return Err(refused_while_sending(e, "the end of the conversation")),
    }
    if framing.strategy == Strategy::Fixed {
        return read_farewell(stream, framing.size as usize);
    }
    if framing.ack {
        read_ack(stream, framing, sent)
    } else {
        wait_for_close(stream, framing.strategy, sent)
    }
}

/// Refuses a message the framing cannot carry (the writer says so) or the
/// server's limit would refuse (if it runs with the same limit as ours).
fn check(framing: &FramingArgs, what: &str, message: &[u8]) -> Result<()> {
    check_size(framing, what, message.len())?;
    // The writers refuse what their framing cannot carry before writing
    // anything, so a sink that throws the bytes away is enough to ask.
    framing.write(&mut io::sink(), message).with_context(|| {
        format!(
            "{what} {} cannot be sent with --strategy {}",
            quote(message, QUOTED),
            framing.strategy.name()
        )
    })
}

/// Refuses `len` bytes if the server's limit would (with our limit).
fn check_size(framing: &FramingArgs, what: &str, len: usize) -> Result<()> {
    let limit = match framing.strategy {
        Strategy::Delimiter => Some((framing.max_len, "--max-len")),
        Strategy::Length | Strategy::Netstring | Strategy::Eof => {
            Some((framing.max_frame, "--max-frame"))
        }
        Strategy::Fixed => None, // the writer checks --size
    };
    if let Some((max, flag)) = limit
        && len > max
    {
        bail!(
            "{what} ({len} bytes) is over {flag} ({max} bytes): a server with that limit \
             would refuse it (if yours allows more, pass the same {flag} here)"
        );
    }
    Ok(())
}

/// Frames and sends one message (into the BufWriter, which sends when full).
fn send(writer: &mut impl Write, framing: &FramingArgs, what: &str, message: &[u8]) -> Result<()> {
    framing
        .write(writer, message)
        .map_err(|e| refused_while_sending(e, &format!("{what} {}", quote(message, QUOTED))))
}

/// Sends each line of stdin as one message, as it is read, so `yes |
/// framing client` streams: memory holds one line (at most the limit).
/// `eof`: stdin is copied as it is, newlines included.
fn send_stdin(writer: &mut BufWriter<&TcpStream>, framing: &FramingArgs) -> Result<usize> {
    let mut stdin = BufReader::with_capacity(64 * 1024, io::stdin());
    if framing.strategy == Strategy::Eof {
        let max = framing.max_frame as u64;
        let copied = io::copy(&mut (&mut stdin).take(max.saturating_add(1)), writer)
            .map_err(|e| refused_while_sending(e, "stdin"))?;
        if copied > max {
            bail!(
                "stdin is over --max-frame ({max} bytes): a server with that limit would refuse it"
            );
        }
        return Ok(1);
    }
    let max = match framing.strategy {
        Strategy::Delimiter => framing.max_len,
        _ => framing.max_frame,
    };
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        // About to wait for stdin: send what is framed so far, so a line
        // typed (or trickled in by a pipe) goes out now, not 64 KiB later.
        if !stdin.buffer().contains(&b'\n') {
            writer
                .flush()
                .map_err(|e| refused_while_sending(e, "the messages from stdin"))?;
        }
        line.clear();
        // At most the limit, the newline and one byte more: enough to tell
        // a line over the limit without holding the rest of it.
        let cap = (max as u64).saturating_add(2);
        let n = (&mut stdin)
            .take(cap)
            .read_until(b'\n', &mut line)
            .context("reading stdin")?;
        if n == 0 {
            return Ok(number);
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        number += 1;
        let what = format!("line {number} of stdin");
        check(framing, &what, &line)?;
        send(writer, framing, &what, &line)?;
    }
}

/// A failed send, explained: a reset or broken pipe means the server
/// closed on us, having refused this message or an earlier one.
fn refused_while_sending(e: io::Error, what: &str) -> anyhow::Error {
    match e.kind() {
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::NotConnected => {
            anyhow::Error::new(e).context(format!(
                "the server closed the connection while we sent {what}: it refused that \
                 or an earlier message (over its --max-len/--max-frame? on another \
                 --strategy?) or failed; its log says which"
            ))
        }
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            anyhow!("sending {what}: the server took nothing for --timeout")
        }
        _ => anyhow::Error::new(e).context(format!("sending {what}")),
    }
}

/// `fixed`: the server answers with one record, after printing ours; print it.
fn read_farewell(stream: &TcpStream, size: usize) -> Result<()> {
    let mut reader = BufReader::new(stream);
    match codec::fixed::read(&mut reader, size) {
        Ok(Some(record)) => out!("reply: {}", escape(&record)),
        Ok(None) => bail!(
            "the server closed without replying: is it running --strategy fixed with --size {size}?"
        ),
        Err(e) => Err(verdict_error(e, 1)),
    }
}

/// `--ack`: reads the server's `ack N`, framed like our messages.
fn read_ack(stream: &TcpStream, framing: &FramingArgs, sent: usize) -> Result<()> {
    let mut reader = BufReader::new(stream);
    // An ack is a few bytes: 64 is plenty, and bounds what we read.
    let reply = match framing.strategy {
        Strategy::Eof => {
            codec::eof::read(&mut reader, 64).map(|r| Some(r).filter(|r| !r.is_empty()))
        }
        Strategy::Delimiter => codec::delimiter::read(&mut reader, &framing.delimiter.bytes, 64),
        Strategy::Length => codec::length::read(&mut reader, 64),
        Strategy::Netstring => codec::netstring::read(&mut reader, 64),
        // fixed's acknowledgement is the book's farewell record.
        Strategy::Fixed => return read_farewell(stream, framing.size as usize),
    };
    let reply = match reply {
        Ok(Some(reply)) => reply,
        Ok(None) => bail!(
            "the server closed without acknowledging our {}: does it run with --ack?",
            count(sent as u64, "message")
        ),
        Err(e) if matches!(e.kind(), ErrorKind::InvalidData | ErrorKind::UnexpectedEof) => {
            return Err(e).context(format!(
                "the server's reply is not an acknowledgement in `{}` framing: is it on \
                 another --strategy?",
                framing.strategy.name()
            ));
        }
        Err(e) => return Err(verdict_error(e, sent)),
    };
    let expected = format!("ack {sent}");
    if reply == expected.as_bytes() {
        narrate!(
            "the server printed all we sent: {}",
            count(sent as u64, "message")
        );
        // Then nothing more: the server closes (eof's reader saw it already).
        if !reader.buffer().is_empty() {
            bail!("the server sent more than its acknowledgement");
        }
        if framing.strategy != Strategy::Eof {
            wait_for_close(stream, framing.strategy, sent)?;
        }
        return out!("reply: {expected}");
    }
    match std::str::from_utf8(&reply)
        .ok()
        .and_then(|r| r.strip_prefix("ack "))
    {
        Some(n) => bail!("the server acknowledged {n} of the {sent} messages we sent"),
        None => bail!(
            "the server's reply {} is not an acknowledgement",
            quote(&reply, QUOTED)
        ),
    }
}

/// Without `--ack`: reads until the server closes; it should send nothing.
fn wait_for_close(mut stream: &TcpStream, strategy: Strategy, sent: usize) -> Result<()> {
    let mut extra = [0u8; 64];
    match stream.read(&mut extra) {
        Ok(0) if strategy == Strategy::Eof => {
            narrate!(
                "recv() -> 0 bytes (EOF: an eof server closes its side at the start, so this \
                 says nothing about our bytes; only --ack would)"
            );
            Ok(())
        }
        Ok(0) => {
            narrate!(
                "recv() -> 0 bytes (EOF: the server read all we sent ({}) and refused \
                 none; that it printed them, only --ack would confirm)",
                count(sent as u64, "message")
            );
            Ok(())
        }
        Ok(mut n) => {
            // What it sent may come in pieces: take what follows until it
            // closes (at most what fits here), so the error quotes the same
            // bytes whatever the kernel's reads.
            while n < extra.len() {
                match stream.read(&mut extra[n..]) {
                    Ok(0) | Err(_) => break,
                    Ok(more) => n += more,
                }
            }
            bail!(
                "the server sent {} we did not ask for: does it run with --ack? Then pass \
                 --ack here too",
                quote(&extra[..n], QUOTED)
            )
        }
        Err(e) => Err(verdict_error(e, sent)),
    }
}

/// An error while waiting for the server's verdict on `sent` messages.
fn verdict_error(e: io::Error, sent: usize) -> anyhow::Error {
    let sent = count(sent as u64, "message");
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            anyhow!("we sent {sent}; the server did not answer or close within --timeout")
        }
        ErrorKind::ConnectionReset => anyhow::Error::new(e).context(format!(
            "the server reset the connection after we sent {sent}: it refused one (over \
             its --max-len/--max-frame? on another --strategy?) or failed; how many it \
             printed first, only --ack would tell"
        )),
        _ => anyhow::Error::new(e).context(format!("waiting for the server's verdict on {sent}")),
    }
}

/// A next step after a failed run, for the errors only this client knows.
pub fn hint(error: &anyhow::Error, server: &str) -> Option<String> {
    let io = error.chain().find_map(|e| e.downcast_ref::<io::Error>())?;
    match io.kind() {
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::NotConnected => {
            Some(format!(
                "the server's log says what it refused. To take these messages it must run \
                 as `{server}`, with --max-len/--max-frame at least ours"
            ))
        }
        _ => None,
    }
}

/// Ends the connection with a reset (RST): the server must not take a
/// conversation we gave up on half-way for a complete one, which a clean
/// close (FIN) at a frame boundary would look like.
fn abort(stream: &TcpStream) {
    match socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO)) {
        Ok(()) => narrate!("setsockopt(SO_LINGER, 0); close() -> RST"),
        Err(e) => log!("resetting the connection: {e}"),
    }
}
