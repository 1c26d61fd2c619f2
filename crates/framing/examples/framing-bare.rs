//! Framing, bare: the book's blocks.py in Rust, std only. TCP delivers a
//! stream of bytes, not messages, so each message goes out as a 4-byte
//! big-endian length and then exactly that many bytes; a zero length says
//! "no more". Of the five strategies, this is the one tcp_sixteen.py and
//! blocks.py point to: any bytes, any size, and the receiver always knows
//! how much to read next. The full lesson: `--strategy length`.
//!
//! Terminal 1: cargo run -p framing --example framing-bare -- server
//! Terminal 2: cargo run -p framing --example framing-bare -- client hello "two words"

use std::io::{Error, Read, Result, Write};
use std::net::{Shutdown, TcpListener, TcpStream};

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut port = 7003;
    if let Some(i) = args.iter().position(|a| a == "--port") {
        port = match args.get(i + 1).map(|p| p.parse()) {
            Some(Ok(port)) => port,
            _ => usage(),
        };
        args.drain(i..i + 2);
    }
    match args.first().map(String::as_str) {
        Some("server") => server(TcpListener::bind(("127.0.0.1", port))?),
        Some("client") => client(TcpStream::connect(("127.0.0.1", port))?, &args[1..]),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: framing-bare server|client [--port N] [MESSAGE...]");
    std::process::exit(2)
}

fn server(listener: TcpListener) -> Result<()> {
    println!("listening on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let mut stream = stream?;
        // One conversation: blocks until the zero-length one.
        loop {
            // read_exact is the book's recvall: recv() may return fewer
            // bytes than asked, so it loops until it has them all.
            let mut header = [0u8; 4];
            stream.read_exact(&mut header)?;
            let length = u32::from_be_bytes(header) as usize;
            if length == 0 {
                break;
            }
            // Bare: trusts the peer's number. The lesson checks it against
            // --max-frame first and grows the buffer as bytes arrive.
            let mut message = vec![0; length];
            stream.read_exact(&mut message)?;
            println!("message: {}", String::from_utf8_lossy(&message));
        }
        // A clean close after the end marker: the client's read sees EOF.
        stream.shutdown(Shutdown::Write)?;
    }
    Ok(())
}

fn client(mut stream: TcpStream, messages: &[String]) -> Result<()> {
    for message in messages {
        if message.is_empty() {
            return Err(Error::other("an empty message is the end marker"));
        }
        stream.write_all(&(message.len() as u32).to_be_bytes())?;
        stream.write_all(message.as_bytes())?;
    }
    stream.write_all(&0u32.to_be_bytes())?; // no more messages
    stream.shutdown(Shutdown::Write)?;
    // Wait for the server's close: EOF means it read every block. (What it
    // did with them, only a reply could say: see "--ack" in the README.)
    stream.read_to_end(&mut Vec::new())?;
    Ok(())
}
