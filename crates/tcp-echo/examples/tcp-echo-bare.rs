//! tcp-echo, bare: the idea alone, as the book's tcp_sixteen.py shows it.
//! The server echoes every byte until the client half-closes; the client
//! sends each message and reads back exactly as many bytes. No timeouts, no
//! Ctrl-C, no limits: `src/` adds those (the README's "Reading order").
//!
//! ```text
//! terminal 1$ cargo run -p tcp-echo --example tcp-echo-bare -- server
//! terminal 2$ cargo run -p tcp-echo --example tcp-echo-bare -- client hello world
//! ```

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};

fn main() -> io::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut port = 7000;
    if let Some(i) = args.iter().position(|a| a == "--port") {
        let value = args.get(i + 1).and_then(|p| p.parse().ok());
        port = value.ok_or_else(|| io::Error::other("--port takes a port number"))?;
        args.drain(i..i + 2);
    }
    match args.first().map(String::as_str) {
        Some("server") => server(port),
        Some("client") => client(port, &args[1..]),
        _ => Err(io::Error::other(
            "usage: server|client [--port N] [MESSAGE...]",
        )),
    }
}

fn server(port: u16) -> io::Result<()> {
    // socket(), bind(), listen(): TcpListener::bind makes all three calls.
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        // accept() waits for the next client; we serve one at a time.
        let (mut stream, peer) = listener.accept()?;
        eprintln!("{peer}: connected");
        let mut buf = [0u8; 64 * 1024];
        loop {
            // recv(): whatever has arrived, not one "message"; 0 means EOF,
            // the client called shutdown(Write) and will send no more.
            let n = stream.read(&mut buf)?;
            if n == 0 {
                break;
            }
            // write_all is the book's sendall(): write() may take only part.
            stream.write_all(&buf[..n])?;
        }
        // Our half-close: the client's last read sees EOF after the echo.
        stream.shutdown(Shutdown::Write)?;
        eprintln!("{peer}: closed");
    }
}

fn client(port: u16, messages: &[String]) -> io::Result<()> {
    // socket() and connect(); the kernel picks our port (an ephemeral one).
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    for message in messages {
        stream.write_all(message.as_bytes())?;
        // TCP is a byte stream: the echo may come back in pieces, so read
        // exactly as many bytes as we sent (the book's recvall()). Writing
        // first, then reading, is safe only because one argument is small
        // (at most 128 KiB); the full client reads on a second thread.
        let mut echo = vec![0u8; message.len()];
        stream.read_exact(&mut echo)?;
        println!("{}", String::from_utf8_lossy(&echo));
    }
    // "I am done sending": the server sees EOF, and closes its side too.
    stream.shutdown(Shutdown::Write)?;
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest)?; // returns at the server's FIN
    Ok(())
}
