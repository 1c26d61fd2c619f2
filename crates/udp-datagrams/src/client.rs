//! The book's udp_remote.py client: send a request, wait for the reply,
//! and if none comes, send again, waiting twice as long each time.
//!
//! It uses a *connected* UDP socket. `connect()` on UDP sends nothing; it
//! records the server's address, so `send()` needs no address and the
//! kernel drops any datagram that does not come from that address. Without
//! it (the "promiscuous" client, `--promiscuous`), anyone who guesses our
//! port can answer in the server's place, and we would believe them.

use std::io::ErrorKind;
use std::net::UdpSocket;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use common::endpoint::{Endpoint, family_name};
use common::log;
use common::narrate;

use crate::backoff;
use crate::datagram::{self, MAX_PAYLOAD};

#[derive(clap::Args)]
pub struct ClientArgs {
    #[command(flatten)]
    endpoint: Endpoint<7002>,
    /// The request to send.
    #[arg(default_value = "This is another message")]
    message: String,
    /// First wait for a reply, in seconds; it doubles after each timeout.
    #[arg(long, default_value_t = 0.1, value_parser = positive_seconds)]
    initial_timeout: f64,
    /// Give up once the next wait would be longer than this, in seconds.
    #[arg(long, default_value_t = 2.0, value_parser = positive_seconds)]
    max_timeout: f64,
    /// Use an unconnected socket and accept a reply from anyone (unsafe:
    /// shows why the connected socket is the default).
    #[arg(long)]
    promiscuous: bool,
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs.is_finite() => Ok(secs),
        _ => Err(format!("{text:?} is not a positive number of seconds")),
    }
}

pub fn run(args: &ClientArgs) -> Result<()> {
    let server = args.endpoint.resolve()?[0];
    // Port 0: the kernel picks our source port, as for any client.
    let any = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    narrate!("socket({}, SOCK_DGRAM)", family_name(&server));
    let socket = UdpSocket::bind(any).context("creating a UDP socket")?;
    if !args.promiscuous {
        socket
            .connect(server)
            .with_context(|| format!("connecting the UDP socket to {server}"))?;
        narrate!("connect({server}): no packet sent, just a filter and a default address");
    }
    let local = socket.local_addr().context("reading our address")?;
    narrate!("our address is {local}");

    let mut waits = backoff::schedule(
        Duration::from_secs_f64(args.initial_timeout),
        Duration::from_secs_f64(args.max_timeout),
    )
    .peekable();
    let mut buf = vec![0u8; MAX_PAYLOAD + 1];
    let mut tries = 0;
    while let Some(wait) = waits.next() {
        tries += 1;
        let sent = if args.promiscuous {
            socket.send_to(args.message.as_bytes(), server)
        } else {
            socket.send(args.message.as_bytes())
        };
        sent.with_context(|| format!("sending to {server}"))?;
        narrate!(
            "send({} bytes) try {tries}, waiting {wait:?}",
            args.message.len()
        );
        socket
            .set_read_timeout(Some(wait))
            .context("setting the read timeout")?;
        match datagram::recv_from(&socket, &mut buf) {
            Ok(reply) => {
                if args.promiscuous && reply.from != server {
                    log!(
                        "warning: the reply came from {}, not from {server}; we cannot tell",
                        reply.from
                    );
                }
                if reply.truncated() {
                    bail!(
                        "the reply ({} bytes) was truncated to {}",
                        reply.full_len,
                        reply.len
                    );
                }
                narrate!("recv() -> {} bytes from {}", reply.len, reply.from);
                let text = String::from_utf8_lossy(&buf[..reply.len]);
                let mut out = std::io::stdout().lock();
                return writeln_flush(&mut out, &text);
            }
            // Our timeout fired (WouldBlock on Unix, TimedOut on Windows):
            // the request or its reply was lost, or the server is slow.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                let next = if waits.peek().is_some() {
                    "sending again"
                } else {
                    "giving up"
                };
                log!("no reply within {wait:?} (try {tries}); {next}");
            }
            // On a connected socket Linux delivers the ICMP "port
            // unreachable" that answered our request as ECONNREFUSED.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                return Err(anyhow::Error::new(e)
                    .context(format!("no UDP server at {server}: connection refused")));
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context(format!("waiting for a reply from {server}")),
        }
    }
    Err(anyhow!(
        "no reply from {server} after {tries} tries (waits doubling from {} s up to {} s); \
         the server may be down, or every datagram was lost",
        args.initial_timeout,
        args.max_timeout
    ))
}

fn writeln_flush(out: &mut impl std::io::Write, text: &str) -> Result<()> {
    writeln!(out, "{text}").context("writing to stdout")?;
    out.flush().context("flushing stdout")
}
