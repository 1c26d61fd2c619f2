//! The book's udp_remote.py client: send a request, wait for the reply,
//! and if none comes, send again, waiting twice as long each time.
//!
//! It uses a *connected* UDP socket. `connect()` on UDP sends nothing; it
//! records the server's address, so `send()` needs no address and the
//! kernel drops any datagram that does not come from that address. Without
//! it (the "promiscuous" client, `--promiscuous`), anyone who guesses our
//! port can answer in the server's place, and we would believe them.

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use common::endpoint::{Endpoint, family_name};
use common::log;
use common::narrate;
use socket2::{Domain, Protocol, Socket, Type};

use crate::backoff;
use crate::datagram::{self, MAX_PAYLOAD};
use crate::loops;

#[derive(clap::Args)]
pub struct ClientArgs {
    #[command(flatten)]
    endpoint: Endpoint<7002>,
    /// The request to send (at most 65507 bytes).
    #[arg(default_value = "This is another message", value_parser = request)]
    message: String,
    /// First wait for a reply, in seconds; it doubles after each timeout.
    #[arg(long, default_value = "0.1", value_parser = common::args::seconds)]
    initial_timeout: Duration,
    /// Give up once the next wait would be longer than this, in seconds
    /// (at least --initial-timeout).
    #[arg(long, default_value = "2", value_parser = common::args::seconds)]
    max_timeout: Duration,
    /// Use an unconnected socket and accept a reply from anyone (unsafe:
    /// shows why the connected socket is the default).
    #[arg(long)]
    promiscuous: bool,
}

impl ClientArgs {
    /// What clap cannot check flag by flag: the waits must leave one try.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_timeout < self.initial_timeout {
            return Err(format!(
                "--max-timeout ({} s) must be at least --initial-timeout ({} s)",
                self.max_timeout.as_secs_f64(),
                self.initial_timeout.as_secs_f64()
            ));
        }
        Ok(())
    }
}

/// A request that fits one datagram and that the server will answer.
fn request(text: &str) -> Result<String, String> {
    if text.len() > MAX_PAYLOAD {
        return Err(format!(
            "{} bytes do not fit in one datagram (at most {MAX_PAYLOAD})",
            text.len()
        ));
    }
    if loops::is_reply(text.as_bytes()) {
        return Err("that is a reply, and the server never answers a reply \
                    (it could be another server: an endless loop)"
            .into());
    }
    Ok(text.to_string())
}

pub fn run(args: &ClientArgs) -> Result<()> {
    let server = args.endpoint.resolve()?[0];
    let socket = Socket::new(
        Domain::for_address(server),
        Type::DGRAM,
        Some(Protocol::UDP),
    )
    .with_context(|| format!("creating a UDP socket for {server}"))?;
    narrate!("socket({}, SOCK_DGRAM)", family_name(&server));
    if !args.promiscuous {
        // The kernel picks our address and port here (port 0: any free
        // one, as for any client), records the server's, and sends nothing.
        socket
            .connect(&server.into())
            .with_context(|| format!("connecting the UDP socket to {server}"))?;
        narrate!("connect({server}): no packet sent, just a filter and a default address");
        let local = socket.local_addr().context("reading our address")?;
        let local = local.as_socket().map_or("?".into(), |a| a.to_string());
        narrate!("getsockname() -> {local}: the address and port the kernel picked for us");
    }
    let socket = UdpSocket::from(socket);
    let call = if args.promiscuous {
        "sendto()"
    } else {
        "send()"
    };

    let mut waits = backoff::schedule(args.initial_timeout, args.max_timeout).peekable();
    let mut buf = vec![0u8; MAX_PAYLOAD + 1];
    let (mut tries, mut unsent) = (0, 0);
    while let Some(wait) = waits.next() {
        tries += 1;
        match send(&socket, args, server) {
            Ok(sent) => narrate!("{call} -> {sent} bytes (try {tries})"),
            // Refused on this host before it left (EPERM: a firewall rule;
            // ENOBUFS: a full queue): as good as lost on the way, so it is
            // one lost try. A reply to an earlier try may still come.
            Err(e) if is_transient(&e) => {
                unsent += 1;
                narrate!("{call} -> {e}");
                log!("try {tries} was not sent: {e}; counting it as lost");
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Err(refused(e, server)),
            Err(e) => return Err(e).with_context(|| format!("sending to {server}")),
        }
        socket
            .set_read_timeout(Some(wait))
            .context("setting the read timeout")?;
        narrate!("setsockopt(SO_RCVTIMEO, {wait:?})");
        match datagram::recv_from(&socket, &mut buf) {
            Ok(reply) => {
                narrate!("recv() -> {} bytes from {}", reply.full_len, reply.from);
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
                // Escaped: a reply is whatever bytes the server (or, with
                // --promiscuous, anyone) chose, and a terminal obeys some.
                return common::out!("{}", common::escape::text(&buf[..reply.len]));
            }
            // Our timeout fired (WouldBlock on Unix, TimedOut on Windows):
            // the request or its reply was lost, or the server is slow.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                narrate!("recv() -> nothing within {wait:?}");
                let next = if waits.peek().is_some() {
                    "sending again"
                } else {
                    "giving up"
                };
                log!("no reply within {wait:?} (try {tries}); {next}");
            }
            // On a connected socket Linux delivers the ICMP "port
            // unreachable" that answered our request as ECONNREFUSED.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => return Err(refused(e, server)),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context(format!("waiting for a reply from {server}")),
        }
    }
    let why = match unsent {
        0 => "the server may be down, or every datagram was lost".to_string(),
        n if n == tries => "none of them left this host: every send was refused here \
                            (EPERM: a firewall rule; ENOBUFS: a full queue)"
            .to_string(),
        n => format!(
            "{n} of them never left this host; the server may be down, or the rest were lost"
        ),
    };
    Err(anyhow!(
        "no reply from {server} after {tries} tries (waits doubling from {} s up to {} s); {why}",
        args.initial_timeout.as_secs_f64(),
        args.max_timeout.as_secs_f64()
    ))
}

/// One request: `send()` on the connected socket, `sendto()` without.
fn send(socket: &UdpSocket, args: &ClientArgs, server: SocketAddr) -> io::Result<usize> {
    if args.promiscuous {
        socket.send_to(args.message.as_bytes(), server)
    } else {
        socket.send(args.message.as_bytes())
    }
}

/// A send error that loses this one datagram, not the conversation.
fn is_transient(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM | libc::ENOBUFS))
        || matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted)
}

fn refused(e: io::Error, server: SocketAddr) -> anyhow::Error {
    anyhow::Error::new(e).context(format!("no UDP server at {server}: connection refused"))
}
