//! The book's srv_async.py with mio: one thread serves every client, as no socket call blocks
//! (it sleeps in poll()). `cargo run -p event-loop --example event-loop-bare -- server|client`
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Result, Write};
const ZEN: [(&str, &str); 3] = [
    ("Beautiful is better than?", "Ugly."),
    ("Explicit is better than?", "Implicit."),
    ("Simple is better than?", "Complex."),
];
const BOTH: Interest = Interest::READABLE.add(Interest::WRITABLE);

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect(); // ROLE [--port N] [Q?...]
    let (port, rest) = match args.get(1).map(String::as_str) {
        Some("--port") => (args[2].parse().expect("--port N"), &args[3..]),
        _ => (7004, args.get(1..).unwrap_or_default()),
    };
    match args.first().map(String::as_str) {
        Some("server") => server(port),
        Some("client") if rest.is_empty() => client(port, &ZEN.map(|(q, _)| q.to_string())),
        Some("client") => client(port, rest),
        _ => panic!("usage: event-loop-bare server|client [--port N] [QUESTION?...]"),
    }
}

fn server(port: u16) -> Result<()> {
    let mut listener = TcpListener::bind(([127, 0, 0, 1], port).into())?; // nonblocking
    println!("listening on {}", listener.local_addr()?);
    let (mut poll, mut events, mut buf) = (Poll::new()?, Events::with_capacity(128), [0; 4096]);
    poll.registry()
        .register(&mut listener, Token(0), Interest::READABLE)?;
    let (mut conns, mut next) = (HashMap::new(), 1); // token -> (socket, received, to send)
    loop {
        poll.poll(&mut events, None)?; // sleep until some socket is ready
        for event in &events {
            if event.token() == Token(0) {
                while let Ok((mut sock, _)) = listener.accept() {
                    poll.registry().register(&mut sock, Token(next), BOTH)?; // edge-triggered: once
                    conns.insert(Token(next), (sock, Vec::new(), Vec::<u8>::new()));
                    next += 1; // accept until WouldBlock: one event stands for all waiting
                }
            }
            let Some((sock, received, to_send)) = conns.get_mut(&event.token()) else {
                continue;
            };
            let closed = loop {
                match sock.read(&mut buf) {
                    Ok(n) if n > 0 => received.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break false, // all read
                    _ => break true, // EOF or an error: the client is gone
                }
            };
            while let Some(end) = received.iter().position(|&b| b == b'?') {
                let question: Vec<u8> = received.drain(..=end).collect();
                let zen = ZEN.iter().find(|(q, _)| q.as_bytes() == question);
                to_send.extend(zen.map_or("Error: unknown aphorism.", |(_, a)| a).bytes());
            }
            if !to_send.is_empty() {
                let n = sock.write(to_send).unwrap_or(0); // the rest: next WRITABLE
                to_send.drain(..n);
            }
            if closed {
                conns.remove(&event.token()); // dropping the socket closes it
            }
        }
    }
}

fn client(port: u16, questions: &[String]) -> Result<()> {
    let mut sock = BufReader::new(std::net::TcpStream::connect(("127.0.0.1", port))?); // blocking
    for question in questions {
        sock.get_mut().write_all(question.as_bytes())?;
        let mut answer = Vec::new();
        sock.read_until(b'.', &mut answer)?; // the book's recv_until(sock, b'.')
        println!("{question} {}", String::from_utf8_lossy(&answer));
    }
    Ok(())
}
