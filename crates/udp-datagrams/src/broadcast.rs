//! Broadcast: one datagram to every host on a subnet. The sender must ask
//! for it with `SO_BROADCAST` (without it the kernel answers EACCES,
//! "Permission denied": a guard against broadcasting by accident). On
//! loopback, 127.255.255.255 reaches every socket bound to the port on
//! 0.0.0.0, so the demo works on one machine.

use std::io::ErrorKind;
use std::net::UdpSocket;

use anyhow::{Context, Result};
use common::endpoint::{Endpoint, announce, bind_udp, parse_host};
use common::log;
use common::narrate;
use common::stop::Stop;
use socket2::SockRef;

use crate::datagram::{self, MAX_PAYLOAD};

/// What the book's udp_broadcast.py sends.
pub const PAYLOAD: &[u8] = b"Broadcast datagram!";

#[derive(clap::Args)]
pub struct SendArgs {
    /// The broadcast address (127.255.255.255 reaches loopback listeners).
    #[arg(long, default_value = "127.255.255.255", value_parser = parse_host)]
    host: String,
    #[arg(long, default_value_t = 7002)]
    port: u16,
}

#[derive(clap::Args)]
pub struct ListenArgs {
    /// Address to listen on. The default is every interface, because a
    /// socket bound to 127.0.0.1 never sees a broadcast to 127.255.255.255.
    #[arg(long, default_value = "0.0.0.0", value_parser = parse_host)]
    host: String,
    #[arg(long, default_value_t = 7002)]
    port: u16,
    /// Exit after this many datagrams, at least 1 (default: until Ctrl-C).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    count: Option<u64>,
}

pub fn send(args: &SendArgs) -> Result<()> {
    let target = Endpoint::<7002> {
        host: args.host.clone(),
        port: args.port,
    }
    .resolve()?[0];
    let socket = UdpSocket::bind("0.0.0.0:0").context("creating a UDP socket")?;
    narrate!("socket(AF_INET, SOCK_DGRAM)");
    narrate!("bind(0.0.0.0:0)");
    socket.set_broadcast(true).context("setting SO_BROADCAST")?;
    narrate!("setsockopt(SO_BROADCAST, 1)");
    let sent = socket
        .send_to(PAYLOAD, target)
        .with_context(|| format!("broadcasting to {target}"))?;
    narrate!("sendto({target}) -> {sent} bytes");
    common::out!("sent {:?} to {target}", String::from_utf8_lossy(PAYLOAD))
}

pub fn listen(args: &ListenArgs) -> Result<()> {
    let stop = Stop::from_signals()?;
    let addr = Endpoint::<7002> {
        host: args.host.clone(),
        port: args.port,
    }
    .resolve()?[0];
    let socket = bind_udp(addr)?;
    // SO_BROADCAST also lets this socket receive broadcasts on systems that
    // require it for that; Linux delivers them either way.
    SockRef::from(&socket)
        .set_broadcast(true)
        .context("setting SO_BROADCAST")?;
    let local = socket
        .local_addr()
        .context("reading the socket's address")?;
    announce(local)?;
    let mut buf = vec![0u8; MAX_PAYLOAD + 1];
    let mut seen = 0u64;
    while !stop.is_stopped() && args.count.is_none_or(|count| seen < count) {
        let datagram = match datagram::recv_or_stop(&stop, &socket, &mut buf) {
            Ok(Some(datagram)) => datagram,
            Ok(None) => break, // stopping
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context(format!("receiving on {local}")),
        };
        seen += 1;
        narrate!(
            "recvfrom() -> {} bytes from {}",
            datagram.full_len,
            datagram.from
        );
        // Anyone can send us anything: escaped, a datagram is one line and
        // cannot drive the terminal (ESC sequences, a forged second line).
        let text = common::escape::text(&buf[..datagram.len]);
        common::out!("{}: {text}", datagram.from)?;
    }
    log!("stopped: received {seen} datagrams");
    Ok(())
}
