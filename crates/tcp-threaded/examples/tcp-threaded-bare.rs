//! tcp-threaded, bare: the idea alone. A blocking server serves one client
//! per thread, so a slow or idle client no longer holds up everyone else.
//! The protocol: each `\n`-terminated line comes back as it is. No
//! timeouts, no limits, no Ctrl-C handling: `src/` adds those (the
//! README's "Reading order").
//!
//! ```text
//! terminal 1$ cargo run -p tcp-threaded --example tcp-threaded-bare -- server
//! terminal 2$ cargo run -p tcp-threaded --example tcp-threaded-bare -- client hello world
//! ```

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::thread;

fn main() -> io::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut port = 7001;
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
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let (stream, peer) = listener.accept()?;
        // The whole lesson in one call: the accept loop goes straight back
        // to accept() while a new thread serves this client.
        thread::spawn(move || match serve(stream) {
            Ok(lines) => eprintln!("{peer}: closed; lines echoed: {lines}"),
            Err(e) => eprintln!("{peer}: {e}"),
        });
    }
}

fn serve(stream: TcpStream) -> io::Result<u64> {
    // A buffered reader finds the line ends; TCP itself knows no lines.
    let mut reader = BufReader::new(&stream);
    let mut writer = &stream;
    let mut line = Vec::new();
    let mut lines = 0;
    // read_until returns 0 at EOF: the client has shut down its side.
    while reader.read_until(b'\n', &mut line)? > 0 {
        writer.write_all(&line)?; // the book's sendall()
        line.clear();
        lines += 1;
    }
    Ok(lines)
}

fn client(port: u16, messages: &[String]) -> io::Result<()> {
    let stream = TcpStream::connect(("127.0.0.1", port))?;
    let mut reader = BufReader::new(&stream);
    let mut writer = &stream;
    for message in messages {
        // One request, then wait for its reply: one line back per line sent.
        writer.write_all(format!("{message}\n").as_bytes())?;
        let mut reply = String::new();
        reader.read_line(&mut reply)?;
        print!("{reply}");
    }
    // "I am done sending": the server's read sees EOF and its thread ends.
    stream.shutdown(Shutdown::Write)
}
