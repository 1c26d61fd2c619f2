//! The book's udp_remote.py server: answer every datagram, to whoever sent
//! it, with `Your data was N bytes long`. No connections, no accept: one
//! socket receives from everybody, and each datagram carries its sender's
//! address, which is where the reply goes.
//!
//! "Every datagram" has two exceptions the book does not have: a datagram
//! that a server may have sent ([`crate::loops`]) and one from a sender
//! over its budget ([`crate::budget`]) get no answer, so no forged
//! datagram can start an endless loop between this server and another.

use std::io::ErrorKind;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use common::endpoint::{Endpoint, announce, bind_udp};
use common::log;
use common::narrate;
use common::stop::Stop;

use crate::datagram;
use crate::loops::{self, Guard, Refusals, Throttle};
use crate::loss::{self, Loss};

#[derive(clap::Args)]
pub struct ServerArgs {
    #[command(flatten)]
    endpoint: Endpoint<7002>,
    /// Drop this fraction of requests at random (0.0 to 1.0), to watch
    /// clients retry.
    #[arg(long, default_value = "0", value_parser = loss::parse_rate)]
    drop_rate: f64,
    /// Seed for --drop-rate, so a run can be repeated exactly (default:
    /// from the clock; the server logs the seed it used).
    #[arg(long)]
    seed: Option<u64>,
    /// Receive buffer in bytes (32 to 65536); a longer datagram is reported
    /// as truncated. At least 32, so a reply (at most 30 bytes) is always
    /// seen whole and recognised.
    #[arg(long, default_value_t = 65_536, value_parser = clap::value_parser!(u32).range(i64::from(loops::MIN_BUFFER)..=65_536))]
    buffer: u32,
    /// Replies a second to any one sender (address and port), in bursts of
    /// up to this many (1 to 100000); past it, its datagrams get no answer.
    /// A client needs a few; a loop with another responder needs them all.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    rate_limit: u32,
}

pub fn run(args: &ServerArgs) -> Result<()> {
    let stop = Stop::from_signals()?;
    let addr = args.endpoint.resolve()?[0];
    let socket = bind_udp(addr)?;
    let local = socket
        .local_addr()
        .context("reading the socket's address")?;
    announce(local)?;
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let mut loss = Loss::new(args.drop_rate, seed);
    if args.drop_rate > 0.0 {
        log!(
            "dropping {}% of requests (--seed {seed})",
            args.drop_rate * 100.0
        );
    }
    let mut guard = Guard::new(local, args.rate_limit);
    let mut refusals = Refusals::default();
    let mut send_errors = Throttle::default();

    // One fixed buffer for every datagram: whatever peers send, the
    // server's memory does not grow.
    let mut buf = vec![0u8; args.buffer as usize];
    let (mut received, mut replied, mut unsent, mut dropped) = (0u64, 0u64, 0u64, 0u64);
    while !stop.is_stopped() {
        let datagram = match datagram::recv_or_stop(&stop, &socket, &mut buf) {
            Ok(Some(datagram)) => datagram,
            Ok(None) => break, // stopping
            // A signal interrupted recvfrom(): look at the flag, try again.
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            // Linux reports an ICMP error from an earlier send on the next
            // call (e.g. a client that left: port unreachable). It concerns
            // that one client, not this server.
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                log!("an earlier reply bounced: {e}");
                continue;
            }
            Err(e) => return Err(e).context(format!("receiving on {local}")),
        };
        received += 1;
        let from = datagram.from;
        narrate!("recvfrom() -> {} bytes from {from}", datagram.full_len);
        if datagram.truncated() {
            log!(
                "{from}: datagram of {} bytes truncated to the {}-byte buffer (--buffer)",
                datagram.full_len,
                datagram.len
            );
        }
        if loss.drop_next() {
            dropped += 1;
            log!("dropping datagram from {from}");
            continue;
        }
        // Could the sender be a server? Then answering could start a loop.
        let now = Instant::now();
        if let Err(why) = guard.check(from, &buf[..datagram.len], now) {
            refusals.note(from, why, now);
            continue;
        }
        // The real length, even if the buffer could not hold it all.
        let reply = loops::reply_text(datagram.full_len);
        match socket.send_to(reply.as_bytes(), from) {
            Ok(sent) => {
                narrate!("sendto({from}) -> {sent} bytes");
                replied += 1;
            }
            // One unreachable client must not stop the server. A forged
            // source may well be unreachable (ENETUNREACH): a flood of
            // them gets one log line a second, not one each.
            Err(e) => {
                unsent += 1;
                send_errors.log(now, format_args!("{from}: cannot reply: {e}"));
            }
        }
    }
    let unsent = match unsent {
        0 => String::new(),
        n => format!(", could not send {n}"),
    };
    log!(
        "stopped: received {received} datagrams, replied to {replied}{unsent}, dropped {dropped}, \
         refused {refusals}"
    );
    Ok(())
}
