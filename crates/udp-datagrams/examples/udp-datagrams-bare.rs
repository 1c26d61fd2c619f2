//! udp-datagrams, bare: the book's udp_remote.py in Rust, std only. The
//! server answers every datagram with its length; the client sends one
//! request on a connected socket and, while no reply comes, sends it again,
//! waiting twice as long each time (0.1 s, 0.2 s, ... up to 2 s).
//!
//!   terminal 1$ cargo run -p udp-datagrams --example udp-datagrams-bare -- server
//!   terminal 2$ cargo run -p udp-datagrams --example udp-datagrams-bare -- client hi there
//!   Your data was 8 bytes long
//!
//! The full lesson (src/) speaks the same protocol; its README says what it
//! adds (a stop, limits, and refusing to answer a reply: see "Loop DoS").
use std::io::{self, ErrorKind, Write};
use std::net::UdpSocket;
use std::time::Duration;

const MAX_BYTES: usize = 65535; // the largest datagram we accept

fn main() -> io::Result<()> {
    // Usage: server | client [MESSAGE...], each with an optional --port N.
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut port = 7002;
    if let Some(at) = args.iter().position(|arg| arg == "--port") {
        let value = args.get(at + 1).and_then(|p| p.parse().ok());
        port = value.ok_or_else(|| io::Error::other("--port takes a number"))?;
        args.drain(at..at + 2);
    }
    match args.first().map(String::as_str) {
        Some("server") => server(port),
        Some("client") if args.len() > 1 => client(port, &args[1..].join(" ")),
        Some("client") => client(port, "This is another message"),
        _ => Err(io::Error::other(
            "usage: server | client [MESSAGE...] [--port N]",
        )),
    }
}

fn server(port: u16) -> io::Result<()> {
    let socket = UdpSocket::bind(("127.0.0.1", port))?;
    writeln!(io::stdout(), "listening on {}", socket.local_addr()?)?;
    let mut data = vec![0u8; MAX_BYTES];
    loop {
        // One recv_from, one whole datagram, and who sent it.
        let (len, address) = socket.recv_from(&mut data)?;
        let text = format!("Your data was {len} bytes long");
        // The reply goes to whatever address the datagram claims.
        socket.send_to(text.as_bytes(), address)?;
    }
}

fn client(port: u16, message: &str) -> io::Result<()> {
    // Port 0: the kernel picks ours. connect() sends nothing: it sets the
    // default destination and makes the kernel drop datagrams from others.
    let socket = UdpSocket::bind("127.0.0.1:0")?;
    socket.connect(("127.0.0.1", port))?;
    let mut delay = Duration::from_millis(100);
    let mut data = vec![0u8; MAX_BYTES];
    loop {
        socket.send(message.as_bytes())?;
        socket.set_read_timeout(Some(delay))?;
        match socket.recv(&mut data) {
            Ok(len) => {
                let reply = String::from_utf8_lossy(&data[..len]);
                return writeln!(io::stdout(), "{reply}");
            }
            // No reply in time (WouldBlock on Unix): lost either way, or slow.
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                delay *= 2; // wait even longer for the next request
                if delay > Duration::from_secs(2) {
                    return Err(io::Error::other("I think the server is down"));
                }
            }
            Err(e) => return Err(e), // e.g. ConnectionRefused: nobody there
        }
    }
}
