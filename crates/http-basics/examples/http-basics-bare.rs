//! http-basics, bare: HTTP/1.1 GET by hand. A request is a request line,
//! header lines and an empty line; so is a response, then its body, whose
//! end the Content-Length gives. No timeouts, limits, keep-alive, chunks or
//! files: `src/` adds those (the README's "Reading order").
//! Run `cargo run -p http-basics --example http-basics-bare -- server`, and
//! in a second terminal the same with `-- client / /missing`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

fn main() -> io::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut port = 7006;
    if let Some(i) = args.iter().position(|a| a == "--port") {
        let value = args.get(i + 1).and_then(|p| p.parse().ok());
        port = value.ok_or_else(|| io::Error::other("--port takes a port number"))?;
        args.drain(i..i + 2);
    }
    match args.first().map(String::as_str) {
        Some("server") => server(port),
        Some("client") => client(port, &args[1..]),
        _ => Err(io::Error::other("usage: server|client [PATH]...")),
    }
}

/// Reads header lines up to the empty line; returns the Content-Length.
fn read_fields(reader: &mut impl BufRead) -> io::Result<Option<usize>> {
    let mut length = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? <= 2 {
            return Ok(length); // "\r\n" (or EOF): the head is over
        }
        let (name, value) = line.split_once(':').unwrap_or((&line, ""));
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok();
        }
    }
}

fn server(port: u16) -> io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    println!("listening on {}", listener.local_addr()?);
    for stream in listener.incoming() {
        let mut reader = BufReader::new(stream?);
        let mut request_line = String::new(); // "GET /path HTTP/1.1\r\n"
        reader.read_line(&mut request_line)?;
        read_fields(&mut reader)?; // a GET has no body: the head is all
        let (status, body) = match request_line.split(' ').nth(1) {
            Some("/") => ("200 OK", "Hello from the bare server.\n"),
            _ => ("404 Not Found", "Nothing here.\n"),
        };
        let length = body.len();
        let head = format!("HTTP/1.1 {status}\r\nContent-Length: {length}\r\n");
        write!(reader.get_mut(), "{head}Connection: close\r\n\r\n{body}")?; // then close
    }
    Ok(())
}

fn client(port: u16, paths: &[String]) -> io::Result<()> {
    for path in paths {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
        stream.write_all(request.as_bytes())?;
        let mut reader = BufReader::new(stream);
        let mut status_line = String::new(); // "HTTP/1.1 200 OK\r\n"
        reader.read_line(&mut status_line)?;
        eprintln!("{path}: {}", status_line.trim_end());
        // The body's end: Content-Length bytes, or without one, the close.
        let mut body = Vec::new();
        match read_fields(&mut reader)? {
            Some(length) => reader.take(length as u64).read_to_end(&mut body)?,
            None => reader.read_to_end(&mut body)?,
        };
        io::stdout().write_all(&body)?;
    }
    Ok(())
}
